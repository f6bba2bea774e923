package conformance

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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
	var names []string
	for _, b := range out.Buckets {
		if name := aws.ToString(b.Name); strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	// Versions under COMPLIANCE retention can only be waited out; the
	// suites lock them for seconds, so a few rounds a little apart do it.
	var left []string
	for round := 0; round < 4 && len(names) > 0; round++ {
		if round > 0 {
			select {
			case <-ctx.Done():
				return append(left, "("+ctx.Err().Error()+")")
			case <-time.After(10 * time.Second):
			}
		}
		names, left = deleteBuckets(ctx, c, names)
	}
	return left
}

// deleteBuckets empties and deletes each bucket and returns the names it
// could not delete, and why.
func deleteBuckets(ctx context.Context, c *s3.Client, names []string) (remaining, why []string) {
	for _, name := range names {
		emptyBucket(ctx, c, name)
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
			remaining = append(remaining, name)
			why = append(why, name+" ("+err.Error()+")")
		}
	}
	return remaining, why
}

func emptyBucket(ctx context.Context, c *s3.Client, bucket string) {
	bypass := aws.Bool(true)
	del := func(key, version *string) {
		in := &s3.DeleteObjectInput{Bucket: &bucket, Key: key, VersionId: version, BypassGovernanceRetention: bypass}
		if _, err := c.DeleteObject(ctx, in); err == nil || version == nil {
			return
		}
		// A legal hold blocks even a bypassing delete: lift it first.
		_, _ = c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: &bucket, Key: key, VersionId: version,
			LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
		_, _ = c.DeleteObject(ctx, in)
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
