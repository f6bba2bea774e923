package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

var bucketSeq atomic.Int64

// newBucket creates a bucket with a unique name for one test.
func newBucket(t *testing.T, c *s3.Client) string {
	t.Helper()
	name := fmt.Sprintf("e2e-%s-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), bucketSeq.Add(1))
	if len(name) > 63 {
		name = fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	}
	name = strings.Trim(name, "-")
	if _, err := c.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return c
}

// s3Client returns an aws-sdk-go-v2 client for endpoint with the root key.
// secret overrides the secret key when not empty.
func s3Client(endpoint, accessKey, secret string, opts ...func(*s3.Options)) *s3.Client {
	ak, sk := cluster.Credentials()
	if accessKey != "" {
		ak = accessKey
	}
	if secret != "" {
		sk = secret
	}
	return s3.New(s3.Options{
		Region:       cluster.Region(),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:   &http.Client{Timeout: 10 * time.Minute},
	}, opts...)
}

func rootClient() *s3.Client { return s3Client(cluster.Endpoint(), "", "") }

// payload returns n deterministic pseudo-random bytes for seed.
func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7})
	_, _ = r.Read(b)
	return b
}

// streamOf returns a reader of n deterministic bytes, without holding them.
func streamOf(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 9}), n)
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func put(t *testing.T, c *s3.Client, bucket, key string, body []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s/%s (%d bytes): %v", bucket, key, len(body), err)
	}
	return out
}

func get(t *testing.T, c *s3.Client, bucket, key string, rng string) ([]byte, error) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if rng != "" {
		in.Range = &rng
	}
	out, err := c.GetObject(ctx(t), in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// apiCode returns the S3 error code and HTTP status of err.
func apiCode(err error) (string, int) {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s (%d), got success", code, status)
	}
	gotCode, gotStatus := apiCode(err)
	if gotCode != code || gotStatus != status {
		t.Fatalf("want %s (%d), got %s (%d): %v", code, status, gotCode, gotStatus, err)
	}
}

// signedRequest builds a raw request signed with the root key and an
// UNSIGNED-PAYLOAD body hash, for streams the SDK will not send over HTTP.
func signedRequest(t *testing.T, method, url string, body io.Reader, size int64) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	ak, sk := cluster.Credentials()
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk},
		req, "UNSIGNED-PAYLOAD", "s3", cluster.Region(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}
