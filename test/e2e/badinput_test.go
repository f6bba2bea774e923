package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestBadInput(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	keep := payload(5, stripe+3)
	put(t, c, bucket, "keep", keep)

	t.Run("wrong secret", func(t *testing.T) {
		ak, _ := cluster.Credentials()
		bad := s3Client(cluster.Endpoint(), ak, "not-the-secret")
		_, err := bad.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("keep"), Body: strings.NewReader("evil")})
		wantCode(t, err, "SignatureDoesNotMatch", 403)
	})
	t.Run("unknown access key", func(t *testing.T) {
		bad := s3Client(cluster.Endpoint(), "AKNOSUCHKEY0000000", "whatever")
		_, err := bad.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("keep")})
		wantCode(t, err, "InvalidAccessKeyId", 403)
	})
	t.Run("bad bucket name", func(t *testing.T) {
		for _, name := range []string{"Bad_Bucket", "ab", "-leading", "192.168.1.1", "a..b"} {
			_, err := c.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(name)})
			wantCode(t, err, "InvalidBucketName", 400)
		}
	})
	t.Run("missing key", func(t *testing.T) {
		_, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("nope")})
		wantCode(t, err, "NoSuchKey", 404)
	})
	t.Run("missing bucket", func(t *testing.T) {
		_, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("no-such-bucket-here"), Key: aws.String("k")})
		wantCode(t, err, "NoSuchBucket", 404)
	})
	t.Run("expired presigned URL", func(t *testing.T) {
		ak, sk := cluster.Credentials()
		req, _ := http.NewRequest(http.MethodGet, cluster.Endpoint()+"/"+bucket+"/keep?X-Amz-Expires=60", nil)
		url, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk},
			req, "UNSIGNED-PAYLOAD", "s3", cluster.Region(), time.Now().Add(-2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !bytes.Contains(body, []byte("<Code>AccessDenied</Code>")) {
			t.Fatalf("expired presigned GET: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("valid presigned URL", func(t *testing.T) {
		p := s3.NewPresignClient(c)
		req, err := p.PresignGetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("keep")}, s3.WithPresignExpires(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, keep) {
			t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
		}
	})
	t.Run("tampered chunk signature stores nothing", func(t *testing.T) {
		body := payload(77, 3*65536+100)
		for _, key := range []string{"keep", "fresh"} {
			resp := sendChunked(t, bucket, key, body, 1)
			if resp.StatusCode != 403 {
				t.Fatalf("tampered chunk for %s: status %d", key, resp.StatusCode)
			}
		}
		_, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("fresh")})
		if _, status := apiCode(err); status != 404 {
			t.Fatalf("a rejected upload left an object: %v", err)
		}
		// An untampered upload with the same framing succeeds.
		if resp := sendChunked(t, bucket, "chunked-ok", body, -1); resp.StatusCode != 200 {
			t.Fatalf("valid chunked upload: status %d", resp.StatusCode)
		}
		got, err := get(t, c, bucket, "chunked-ok", "")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("chunked upload read back: %v", err)
		}
	})
	t.Run("payload hash mismatch stores nothing", func(t *testing.T) {
		ak, sk := cluster.Credentials()
		req, _ := http.NewRequest(http.MethodPut, cluster.Endpoint()+"/"+bucket+"/keep", strings.NewReader("tampered"))
		claimed := sha256.Sum256([]byte("original"))
		h := hex.EncodeToString(claimed[:])
		req.Header.Set("X-Amz-Content-Sha256", h)
		_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, h, "s3", cluster.Region(), time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("sha256 mismatch: status %d", resp.StatusCode)
		}
	})
	// Nothing stored before was affected.
	got, err := get(t, c, bucket, "keep", "")
	if err != nil || !bytes.Equal(got, keep) {
		t.Fatalf("the object stored before the bad requests changed: %v", err)
	}
}

func hmacSHA256(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sendChunked uploads body as a signed aws-chunked stream
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) in 64 KiB chunks, corrupting the
// signature of chunk number tamper (none when negative).
func sendChunked(t *testing.T, bucket, key string, body []byte, tamper int) *http.Response {
	t.Helper()
	const chunkSize = 65536
	ak, sk := cluster.Credentials()
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	day := now.Format("20060102")
	scope := day + "/" + cluster.Region() + "/s3/aws4_request"

	nChunks := (len(body)+chunkSize-1)/chunkSize + 1 // + the final empty chunk
	encodedLen := 0
	for i := 0; i < nChunks; i++ {
		n := min(chunkSize, len(body)-i*chunkSize)
		if n < 0 {
			n = 0
		}
		encodedLen += len(strconv.FormatInt(int64(n), 16)) + len(";chunk-signature=") + 64 + 2 + n + 2
	}
	req, _ := http.NewRequest(http.MethodPut, cluster.Endpoint()+"/"+bucket+"/"+key, nil)
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(body)))
	req.Header.Set("X-Amz-Date", amzDate)
	req.ContentLength = int64(encodedLen)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req,
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "s3", cluster.Region(), now)
	if err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Get("Authorization")
	prev := auth[strings.LastIndex(auth, "Signature=")+len("Signature="):]
	key0 := hmacSHA256([]byte("AWS4"+sk), day)
	key0 = hmacSHA256(key0, cluster.Region())
	key0 = hmacSHA256(key0, "s3")
	signingKey := hmacSHA256(key0, "aws4_request")

	var buf bytes.Buffer
	for i := 0; i < nChunks; i++ {
		lo := min(i*chunkSize, len(body))
		chunk := body[lo:min(lo+chunkSize, len(body))]
		sts := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, prev, sha256hex(nil), sha256hex(chunk)}, "\n")
		sig := hex.EncodeToString(hmacSHA256(signingKey, sts))
		prev = sig
		if i == tamper {
			sig = strings.Repeat("0", 64)
		}
		fmt.Fprintf(&buf, "%x;chunk-signature=%s\r\n", len(chunk), sig)
		buf.Write(chunk)
		buf.WriteString("\r\n")
	}
	if buf.Len() != encodedLen {
		t.Fatalf("encoded length %d, computed %d", buf.Len(), encodedLen)
	}
	req.Body = io.NopCloser(&buf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
