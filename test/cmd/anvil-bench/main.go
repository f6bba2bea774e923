// Command anvil-bench measures PUT and GET throughput against a running
// Anvil cluster: MiB/s for 16 MiB objects and ops/s for 4 KiB objects.
//
//	make run            # in one terminal
//	make bench          # in another
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	envFile := flag.String("env", ".anvil/dev/env", "file of `export K=V` lines written by anvil dev")
	largeCount := flag.Int("large-count", 32, "number of 16 MiB objects")
	smallCount := flag.Int("small-count", 2000, "number of 4 KiB objects")
	concurrency := flag.Int("concurrency", 8, "requests in flight")
	flag.Parse()
	if err := run(*envFile, *largeCount, *smallCount, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "anvil-bench:", err)
		os.Exit(1)
	}
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s (is `make run` up?): %w", path, err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

func run(envFile string, largeCount, smallCount, concurrency int) error {
	env, err := readEnv(envFile)
	if err != nil {
		return err
	}
	os.Unsetenv("AWS_CA_BUNDLE")
	client := s3.New(s3.Options{
		Region:                     env["AWS_REGION"],
		BaseEndpoint:               aws.String(env["AWS_ENDPOINT_URL"]),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		HTTPClient:                 &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2}},
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	ctx := context.Background()
	bucket := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	fmt.Printf("anvil-bench: endpoint %s, concurrency %d, %d cores\n", env["AWS_ENDPOINT_URL"], concurrency, numCPU())

	for _, tc := range []struct {
		name  string
		size  int
		count int
	}{{"16MiB", 16 << 20, largeCount}, {"4KiB", 4 << 10, smallCount}} {
		body := make([]byte, tc.size)
		rand.NewChaCha8([32]byte{1}).Read(body)
		putDur, err := parallel(tc.count, concurrency, func(i int) error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(fmt.Sprintf("%s/%d", tc.name, i)), Body: bytes.NewReader(body)})
			return err
		})
		if err != nil {
			return fmt.Errorf("put %s: %w", tc.name, err)
		}
		getDur, err := parallel(tc.count, concurrency, func(i int) error {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(fmt.Sprintf("%s/%d", tc.name, i))})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			n, err := io.Copy(io.Discard, out.Body)
			if err == nil && n != int64(tc.size) {
				err = fmt.Errorf("short body: %d bytes", n)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("get %s: %w", tc.name, err)
		}
		mib := float64(tc.size*tc.count) / (1 << 20)
		fmt.Printf("%-6s x%-5d PUT %8.1f MiB/s %9.1f ops/s | GET %8.1f MiB/s %9.1f ops/s\n", tc.name, tc.count,
			mib/putDur.Seconds(), float64(tc.count)/putDur.Seconds(), mib/getDur.Seconds(), float64(tc.count)/getDur.Seconds())
		for i := range tc.count {
			_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(fmt.Sprintf("%s/%d", tc.name, i))})
		}
	}
	_, _ = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
	return nil
}

// parallel runs fn(0..n-1) with c in flight and returns the elapsed time.
func parallel(n, c int, fn func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

func numCPU() int { return runtime.NumCPU() }
