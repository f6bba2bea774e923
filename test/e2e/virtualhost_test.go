package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Virtual-host style: the bucket in the Host header (bucket.localhost:port),
// as SDKs send it by default. The dev cluster serves the domain "localhost".
func TestVirtualHostStyle(t *testing.T) {
	u, _ := url.Parse(cluster.Endpoint())
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, u.Host) // every bucket.localhost resolves here
	}}
	c := s3Client("http://localhost:"+u.Port(), "", "", func(o *s3.Options) {
		o.UsePathStyle = false
		o.HTTPClient = &http.Client{Transport: transport}
	})
	bucket := newBucket(t, c)
	body := payload(3, stripe+11)
	put(t, c, bucket, "vh/key", body)
	got, err := get(t, c, bucket, "vh/key", "")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("virtual-host GET: %v", err)
	}
	// The same object through path style.
	got, err = get(t, rootClient(), bucket, "vh/key", "")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("path-style GET of a virtual-host PUT: %v", err)
	}
	out, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "vh/key" {
		t.Fatalf("virtual-host list: %v %v", err, out)
	}
}
