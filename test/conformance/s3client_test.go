package conformance

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rootClient returns an aws-sdk-go-v2 client for the cluster's root key.
func rootClient() *s3.Client {
	ak, sk := cluster.Credentials()
	return s3.New(s3.Options{
		Region:       cluster.Region(),
		BaseEndpoint: aws.String(cluster.Endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:   &http.Client{Timeout: 2 * time.Minute},
	})
}

// removeBuckets empties and deletes every bucket whose name starts with
// prefix: all versions and delete markers (plain listing when versions
// cannot be listed), unfinished multipart uploads, then the bucket. Suites
// that name their buckets with a counter from 1 (versitygw) would otherwise
// collide with the buckets an earlier run left behind. It returns the
// buckets it could not delete.
func removeBuckets(ctx context.Context, c *s3.Client, prefix string) []string {
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return []string{"(list buckets: " + err.Error() + ")"}
	}
	var left []string
	for _, b := range out.Buckets {
		name := aws.ToString(b.Name)
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		emptyBucket(ctx, c, name)
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
			left = append(left, name+" ("+err.Error()+")")
		}
	}
	return left
}

func emptyBucket(ctx context.Context, c *s3.Client, bucket string) {
	bypass := aws.Bool(true)
	del := func(key, version *string) {
		_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: key, VersionId: version, BypassGovernanceRetention: bypass})
	}
	versions := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: &bucket})
	listedVersions := true
	for versions.HasMorePages() {
		page, err := versions.NextPage(ctx)
		if err != nil {
			listedVersions = false
			break
		}
		for _, v := range page.Versions {
			del(v.Key, v.VersionId)
		}
		for _, m := range page.DeleteMarkers {
			del(m.Key, m.VersionId)
		}
	}
	if !listedVersions {
		objects := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
		for objects.HasMorePages() {
			page, err := objects.NextPage(ctx)
			if err != nil {
				break
			}
			for _, o := range page.Contents {
				del(o.Key, nil)
			}
		}
	}
	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err == nil {
		for _, u := range uploads.Uploads {
			_, _ = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
		}
	}
}
