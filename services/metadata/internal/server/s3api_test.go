package server

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// TestS3RoundTrip drives the issue-3 RPCs over gRPC: versioning, delete
// markers, version listing, tagging, configs and a multipart upload.
func TestS3RoundTrip(t *testing.T) {
	c := serve(t, prometheus.NewRegistry())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	expectErr := func(t *testing.T, err error, code codes.Code, reason string) {
		t.Helper()
		if status.Code(err) != code || reasonOf(t, err) != reason {
			t.Fatalf("got %v (reason %q), want %v (reason %q)", err, reasonOf(t, err), code, reason)
		}
	}
	seg := func(id string, size int64) *metadatav1.Segment {
		return &metadatav1.Segment{DataId: id, Size: size, DataShards: 1, ParityShards: 1, NodeIds: []string{"a", "b"}, Etag: md5hex(id)}
	}
	if _, err := c.CreateBucket(ctx, &metadatav1.CreateBucketRequest{Name: "s3b", Region: "us-east-1", DataShards: 1, ParityShards: 1}); err != nil {
		t.Fatal(err)
	}

	t.Run("versioning", func(t *testing.T) {
		_, err := c.SetBucketVersioning(ctx, &metadatav1.SetBucketVersioningRequest{Bucket: "s3b", Versioning: metadatav1.Versioning_VERSIONING_UNVERSIONED})
		expectErr(t, err, codes.InvalidArgument, "")
		resp, err := c.SetBucketVersioning(ctx, &metadatav1.SetBucketVersioningRequest{Bucket: "s3b", Versioning: metadatav1.Versioning_VERSIONING_ENABLED})
		if err != nil || resp.GetBucket().GetVersioning() != metadatav1.Versioning_VERSIONING_ENABLED {
			t.Fatalf("%v %v", resp, err)
		}
		got, err := c.GetBucket(ctx, &metadatav1.GetBucketRequest{Name: "s3b"})
		if err != nil || got.GetBucket().GetVersioning() != metadatav1.Versioning_VERSIONING_ENABLED {
			t.Fatalf("%v %v", got, err)
		}
	})

	var v1 *metadatav1.ObjectVersion
	t.Run("commit with tags, checksums, preconditions", func(t *testing.T) {
		resp, err := c.CommitObject(ctx, &metadatav1.CommitObjectRequest{
			Version: &metadatav1.ObjectVersion{
				Bucket: "s3b", Key: "k", Size: 3, Etag: md5hex("v1"), Tags: map[string]string{"a": "b"},
				Checksums: map[string]string{"CRC32": "AAAAAA=="}, Segments: []*metadatav1.Segment{seg("v1", 3)},
			},
			Preconditions: &metadatav1.WritePreconditions{IfNoneMatch: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		v1 = resp.GetVersion()
		if !v1.GetIsLatest() || v1.GetTags()["a"] != "b" || v1.GetChecksumType() != "FULL_OBJECT" {
			t.Fatalf("%v", v1)
		}
		_, err = c.CommitObject(ctx, &metadatav1.CommitObjectRequest{
			Version:       &metadatav1.ObjectVersion{Bucket: "s3b", Key: "k"},
			Preconditions: &metadatav1.WritePreconditions{IfNoneMatch: true},
		})
		expectErr(t, err, codes.FailedPrecondition, "REASON_PRECONDITION_FAILED")
	})

	t.Run("delete marker", func(t *testing.T) {
		del, err := c.DeleteObject(ctx, &metadatav1.DeleteObjectRequest{Bucket: "s3b", Key: "k"})
		if err != nil || !del.GetDeleted() || !del.GetDeleteMarker() || del.GetVersionId() == "" {
			t.Fatalf("%v %v", del, err)
		}
		_, err = c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "s3b", Key: "k"})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_KEY")
		if info := errorInfo(err); info.GetMetadata()[MetadataDeleteMarkerVersionID] != del.GetVersionId() {
			t.Fatalf("error info %v, want marker %s", info, del.GetVersionId())
		}
		got, err := c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "s3b", Key: "k", VersionId: del.GetVersionId()})
		if err != nil || !got.GetVersion().GetDeleteMarker() {
			t.Fatalf("%v %v", got, err)
		}
		list, err := c.ListObjectVersions(ctx, &metadatav1.ListObjectVersionsRequest{Bucket: "s3b", MaxKeys: 1})
		if err != nil || len(list.GetVersions()) != 1 || !list.GetTruncated() || list.GetNextKeyMarker() != "k" || list.GetNextVersionIdMarker() != del.GetVersionId() {
			t.Fatalf("%v %v", list, err)
		}
		list, err = c.ListObjectVersions(ctx, &metadatav1.ListObjectVersionsRequest{Bucket: "s3b", KeyMarker: "k", VersionIdMarker: del.GetVersionId()})
		if err != nil || len(list.GetVersions()) != 1 || list.GetVersions()[0].GetVersionId() != v1.GetVersionId() || list.GetTruncated() {
			t.Fatalf("%v %v", list, err)
		}
		_, err = c.PutObjectTagging(ctx, &metadatav1.PutObjectTaggingRequest{Bucket: "s3b", Key: "k", Tags: map[string]string{"x": "y"}})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_KEY")
		tagged, err := c.PutObjectTagging(ctx, &metadatav1.PutObjectTaggingRequest{Bucket: "s3b", Key: "k", VersionId: v1.GetVersionId(), Tags: map[string]string{"x": "y"}})
		if err != nil || tagged.GetVersionId() != v1.GetVersionId() {
			t.Fatalf("%v %v", tagged, err)
		}
		untagged, err := c.DeleteObjectTagging(ctx, &metadatav1.DeleteObjectTaggingRequest{Bucket: "s3b", Key: "k", VersionId: v1.GetVersionId()})
		if err != nil || untagged.GetVersionId() != v1.GetVersionId() {
			t.Fatalf("%v %v", untagged, err)
		}
	})

	t.Run("object lock", func(t *testing.T) {
		if _, err := c.PutBucketConfig(ctx, &metadatav1.PutBucketConfigRequest{Bucket: "s3b", Kind: "object-lock", Document: []byte("<x/>")}); err != nil {
			t.Fatal(err)
		}
		b, err := c.GetBucket(ctx, &metadatav1.GetBucketRequest{Name: "s3b"})
		if err != nil || !b.GetBucket().GetObjectLockEnabled() {
			t.Fatalf("bucket with object lock: %v %v", b, err)
		}
		_, err = c.SetBucketVersioning(ctx, &metadatav1.SetBucketVersioningRequest{Bucket: "s3b", Versioning: metadatav1.Versioning_VERSIONING_SUSPENDED})
		expectErr(t, err, codes.FailedPrecondition, "REASON_INVALID_BUCKET_STATE")
		until := timestamppb.New(time.Now().Add(time.Hour).Truncate(time.Microsecond))
		resp, err := c.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: &metadatav1.ObjectVersion{
			Bucket: "s3b", Key: "locked", Etag: md5hex("l"), Segments: []*metadatav1.Segment{seg("l", 1)}, Size: 1,
			LockMode: "GOVERNANCE", LockRetainUntil: until,
		}})
		if err != nil || resp.GetVersion().GetLockMode() != "GOVERNANCE" || !resp.GetVersion().GetLockRetainUntil().AsTime().Equal(until.AsTime()) {
			t.Fatalf("commit locked: %v %v", resp, err)
		}
		id := resp.GetVersion().GetVersionId()
		if _, err := c.PutObjectLegalHold(ctx, &metadatav1.PutObjectLegalHoldRequest{Bucket: "s3b", Key: "locked", VersionId: id, On: true}); err != nil {
			t.Fatal(err)
		}
		_, err = c.DeleteObject(ctx, &metadatav1.DeleteObjectRequest{Bucket: "s3b", Key: "locked", VersionId: id, BypassGovernanceRetention: true})
		expectErr(t, err, codes.PermissionDenied, "REASON_OBJECT_LOCKED")
		if _, err := c.PutObjectLegalHold(ctx, &metadatav1.PutObjectLegalHoldRequest{Bucket: "s3b", Key: "locked", VersionId: id}); err != nil {
			t.Fatal(err)
		}
		_, err = c.PutObjectRetention(ctx, &metadatav1.PutObjectRetentionRequest{Bucket: "s3b", Key: "locked", VersionId: id})
		expectErr(t, err, codes.PermissionDenied, "REASON_OBJECT_LOCKED")
		if _, err := c.PutObjectRetention(ctx, &metadatav1.PutObjectRetentionRequest{Bucket: "s3b", Key: "locked", VersionId: id, BypassGovernanceRetention: true}); err != nil {
			t.Fatalf("remove governance with bypass: %v", err)
		}
		if _, err := c.DeleteObject(ctx, &metadatav1.DeleteObjectRequest{Bucket: "s3b", Key: "locked", VersionId: id}); err != nil {
			t.Fatalf("delete unlocked version: %v", err)
		}
	})

	t.Run("configs", func(t *testing.T) {
		_, err := c.GetBucketConfig(ctx, &metadatav1.GetBucketConfigRequest{Bucket: "s3b", Kind: "cors"})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_BUCKET_CONFIG")
		if _, err := c.PutBucketConfig(ctx, &metadatav1.PutBucketConfigRequest{Bucket: "s3b", Kind: "cors", Document: []byte("doc")}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBucketConfig(ctx, &metadatav1.GetBucketConfigRequest{Bucket: "s3b", Kind: "cors"})
		if err != nil || string(got.GetDocument()) != "doc" {
			t.Fatalf("%v %v", got, err)
		}
		if _, err := c.DeleteBucketConfig(ctx, &metadatav1.DeleteBucketConfigRequest{Bucket: "s3b", Kind: "cors"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("multipart", func(t *testing.T) {
		created, err := c.CreateMultipartUpload(ctx, &metadatav1.CreateMultipartUploadRequest{Upload: &metadatav1.MultipartUpload{
			Bucket: "s3b", Key: "mp", ChecksumAlgorithm: "SHA256",
			Template: &metadatav1.ObjectVersion{ContentType: "text/plain", UserMetadata: map[string]string{"m": "1"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		u := created.GetUpload()
		if u.GetUploadId() == "" || u.GetChecksumType() != "COMPOSITE" || u.GetTemplate().GetContentType() != "text/plain" || u.GetInitiated() == nil {
			t.Fatalf("%v", u)
		}
		_, err = c.GetMultipartUpload(ctx, &metadatav1.GetMultipartUploadRequest{Bucket: "s3b", Key: "mp", UploadId: "nope"})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_UPLOAD")
		for n := int32(1); n <= 2; n++ {
			p, err := c.PutPart(ctx, &metadatav1.PutPartRequest{Bucket: "s3b", Key: "mp", UploadId: u.GetUploadId(), PartNumber: n, Segment: seg(fmt.Sprint("p", n), 6<<20)})
			if err != nil || p.GetPart().GetPartNumber() != n || p.GetPart().GetSegment().GetPartNumber() != n {
				t.Fatalf("%v %v", p, err)
			}
		}
		parts, err := c.ListParts(ctx, &metadatav1.ListPartsRequest{Bucket: "s3b", Key: "mp", UploadId: u.GetUploadId(), MaxParts: 1})
		if err != nil || len(parts.GetParts()) != 1 || !parts.GetTruncated() || parts.GetNextPartNumberMarker() != 1 || parts.GetUpload().GetUploadId() != u.GetUploadId() {
			t.Fatalf("%v %v", parts, err)
		}
		uploads, err := c.ListMultipartUploads(ctx, &metadatav1.ListMultipartUploadsRequest{Bucket: "s3b"})
		if err != nil || len(uploads.GetUploads()) != 1 || uploads.GetUploads()[0].GetUploadId() != u.GetUploadId() {
			t.Fatalf("%v %v", uploads, err)
		}
		_, err = c.CompleteMultipartUpload(ctx, &metadatav1.CompleteMultipartUploadRequest{Bucket: "s3b", Key: "mp", UploadId: u.GetUploadId(),
			Parts: []*metadatav1.CompletedPart{{PartNumber: 2, Etag: md5hex("p2")}, {PartNumber: 1, Etag: md5hex("p1")}}})
		expectErr(t, err, codes.InvalidArgument, "REASON_INVALID_PART_ORDER")
		_, err = c.CompleteMultipartUpload(ctx, &metadatav1.CompleteMultipartUploadRequest{Bucket: "s3b", Key: "mp", UploadId: u.GetUploadId(),
			Parts: []*metadatav1.CompletedPart{{PartNumber: 1, Etag: md5hex("p2")}}})
		expectErr(t, err, codes.FailedPrecondition, "REASON_INVALID_PART")
		done, err := c.CompleteMultipartUpload(ctx, &metadatav1.CompleteMultipartUploadRequest{Bucket: "s3b", Key: "mp", UploadId: u.GetUploadId(),
			Parts: []*metadatav1.CompletedPart{{PartNumber: 1, Etag: md5hex("p1")}, {PartNumber: 2, Etag: md5hex("p2")}}})
		if err != nil {
			t.Fatal(err)
		}
		v := done.GetVersion()
		// No part had a SHA256 checksum, so the object has none.
		if v.GetPartsCount() != 2 || len(v.GetSegments()) != 2 || v.GetSize() != 12<<20 || v.GetContentType() != "text/plain" || len(v.GetChecksums()) != 0 {
			t.Fatalf("%v", v)
		}
		_, err = c.AbortMultipartUpload(ctx, &metadatav1.AbortMultipartUploadRequest{Bucket: "s3b", Key: "mp", UploadId: u.GetUploadId()})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_UPLOAD")
	})
}
