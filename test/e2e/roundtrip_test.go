package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// stripe is the dev cluster's stripe size: 4 data shards of the default block.
const stripe = 4 * erasure.DefaultBlockSize

func TestRoundTripSizes(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	sizes := []int{0, 1, stripe - 1, stripe, stripe + 1, 3*stripe + 5, 64<<20 + 7}
	for i, size := range sizes {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			body := payload(uint64(i), size)
			key := fmt.Sprintf("sizes/%d", size)
			out := put(t, c, bucket, key, body)
			if want := `"` + md5hex(body) + `"`; aws.ToString(out.ETag) != want {
				t.Fatalf("PUT ETag %s, want %s", aws.ToString(out.ETag), want)
			}
			got, err := get(t, c, bucket, key, "")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("GET returned %d bytes, not the %d written", len(got), len(body))
			}
			head, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(head.ContentLength) != int64(size) || aws.ToString(head.ETag) != aws.ToString(out.ETag) {
				t.Fatalf("HEAD: length %d etag %s", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag))
			}
		})
	}
}

func TestRangeReads(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	size := 3*stripe + 1234
	body := payload(42, size)
	put(t, c, bucket, "ranged", body)
	tests := []struct {
		rng        string
		start, end int // inclusive
	}{
		{"bytes=0-0", 0, 0},
		{fmt.Sprintf("bytes=%d-%d", size-1, size-1), size - 1, size - 1},
		{fmt.Sprintf("bytes=%d-%d", stripe-10, stripe+10), stripe - 10, stripe + 10},
		{fmt.Sprintf("bytes=%d-%d", stripe-1, 2*stripe), stripe - 1, 2 * stripe},
		{fmt.Sprintf("bytes=%d-", 2*stripe+3), 2*stripe + 3, size - 1},
		{"bytes=-100", size - 100, size - 1},
		{fmt.Sprintf("bytes=-%d", size+50), 0, size - 1},
		{fmt.Sprintf("bytes=100-%d", size+1000), 100, size - 1},
		{fmt.Sprintf("bytes=%d-%d", erasure.DefaultBlockSize-1, erasure.DefaultBlockSize), erasure.DefaultBlockSize - 1, erasure.DefaultBlockSize},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("ranged"), Range: &tt.rng})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Body.Close()
			got := new(bytes.Buffer)
			if _, err := got.ReadFrom(out.Body); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), body[tt.start:tt.end+1]) {
				t.Fatalf("range %s: got %d bytes, want bytes %d-%d", tt.rng, got.Len(), tt.start, tt.end)
			}
			wantCR := fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end, size)
			if aws.ToString(out.ContentRange) != wantCR {
				t.Fatalf("Content-Range %q, want %q", aws.ToString(out.ContentRange), wantCR)
			}
		})
	}
	for _, rng := range []string{fmt.Sprintf("bytes=%d-", size), fmt.Sprintf("bytes=%d-%d", size+5, size+10)} {
		t.Run("unsatisfiable "+rng, func(t *testing.T) {
			_, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("ranged"), Range: &rng})
			wantCode(t, err, "InvalidRange", 416)
		})
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := c.PutObject(ctx(t), &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("dir/with space+plus=é.txt"), Body: strings.NewReader("hello"),
		ContentType: aws.String("text/plain; charset=utf-8"), ContentEncoding: aws.String("identity"),
		CacheControl: aws.String("max-age=60"), ContentDisposition: aws.String(`attachment; filename="a.txt"`),
		ContentLanguage: aws.String("en"), Expires: &expires,
		Metadata: map[string]string{"color": "blue", "owner-id": "42"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("dir/with space+plus=é.txt")})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	checks := map[string][2]string{
		"Content-Type":        {aws.ToString(out.ContentType), "text/plain; charset=utf-8"},
		"Content-Encoding":    {aws.ToString(out.ContentEncoding), "identity"},
		"Cache-Control":       {aws.ToString(out.CacheControl), "max-age=60"},
		"Content-Disposition": {aws.ToString(out.ContentDisposition), `attachment; filename="a.txt"`},
		"Content-Language":    {aws.ToString(out.ContentLanguage), "en"},
		"x-amz-meta-color":    {out.Metadata["color"], "blue"},
		"x-amz-meta-owner-id": {out.Metadata["owner-id"], "42"},
	}
	for name, gw := range checks {
		if gw[0] != gw[1] {
			t.Errorf("%s = %q, want %q", name, gw[0], gw[1])
		}
	}
	if out.ExpiresString == nil || !strings.Contains(*out.ExpiresString, "2030") {
		t.Errorf("Expires = %v", out.ExpiresString)
	}
	if out.LastModified == nil || time.Since(*out.LastModified) > time.Hour {
		t.Errorf("Last-Modified = %v", out.LastModified)
	}
}

func TestBuckets(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	if _, err := c.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	loc, err := c.GetBucketLocation(ctx(t), &s3.GetBucketLocationInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if loc.LocationConstraint != "" { // us-east-1 reads as empty, as on AWS
		t.Fatalf("location %q", loc.LocationConstraint)
	}
	list, err := c.ListBuckets(ctx(t), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range list.Buckets {
		found = found || aws.ToString(b.Name) == bucket
	}
	if !found {
		t.Fatalf("ListBuckets does not show %s", bucket)
	}
	put(t, c, bucket, "k", []byte("x"))
	_, err = c.DeleteBucket(ctx(t), &s3.DeleteBucketInput{Bucket: &bucket})
	wantCode(t, err, "BucketNotEmpty", 409)
	if _, err := c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx(t), &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: &bucket})
	if _, status := apiCode(err); status != 404 {
		t.Fatalf("HEAD of a deleted bucket: %v", err)
	}
	_, err = c.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("a deleted bucket's name is free again: %v", err)
	}
}
