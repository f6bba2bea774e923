package e2e

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A 200 on PUT or DELETE through one gateway is seen at once by another.
func TestReadAfterWriteAcrossGateways(t *testing.T) {
	second, err := cluster.StartGateway(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Kill("gateway-2") })
	gw1, gw2 := rootClient(), s3Client(second, "", "")
	bucket := newBucket(t, gw1)
	for i := range 30 {
		key := fmt.Sprintf("k%d", i%3)
		body := payload(uint64(1000+i), 100+i*997)
		put(t, gw1, bucket, key, body)
		got, err := get(t, gw2, bucket, key, "")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("iteration %d: second gateway does not see the PUT: %v", i, err)
		}
		if i%5 == 4 {
			if _, err := gw1.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
			_, err := get(t, gw2, bucket, key, "")
			wantCode(t, err, "NoSuchKey", 404)
		}
	}
	// The bucket itself is visible through the second gateway at once.
	fresh := newBucket(t, gw1)
	if _, err := gw2.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: &fresh}); err != nil {
		t.Fatal(err)
	}
}
