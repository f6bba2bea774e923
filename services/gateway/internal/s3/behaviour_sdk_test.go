package s3_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// TestMalformedRangesServeWholeObject: whitespace inside the range spec
// makes the Range header malformed, so it is ignored (200, whole object);
// on an empty object a suffix range is ignored too, while ranges that
// start at a byte are unsatisfiable.
func TestMalformedRangesServeWholeObject(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "rng")
	data := randBytes(100, 3)
	e.put(t, "rng", "obj", data)
	e.put(t, "rng", "empty", nil)
	for _, rng := range []string{"bytes= -1", "bytes=0 -1", "bytes=0--1", "bytes=--1"} {
		req := e.signedRequest(t, "GET", "/rng/obj", nil, http.Header{"Range": {rng}}, "")
		resp, body := do(t, req)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("Content-Range") != "" {
			t.Fatalf("%q: status %d, %d bytes, Content-Range %q", rng, resp.StatusCode, len(body), resp.Header.Get("Content-Range"))
		}
	}
	got, out, err := e.get(t, "rng", "obj", "bytes=00-01")
	if err != nil || !bytes.Equal(got, data[:2]) || aws.ToString(out.ContentRange) != "bytes 0-1/100" {
		t.Fatalf("leading zeros: %v %q", err, aws.ToString(out.ContentRange))
	}
	for _, rng := range []string{"bytes=-1", "bytes= -1", "bytes=0 -1"} {
		req := e.signedRequest(t, "GET", "/rng/empty", nil, http.Header{"Range": {rng}}, "")
		if resp, body := do(t, req); resp.StatusCode != 200 || len(body) != 0 {
			t.Fatalf("empty object %q: status %d, %d bytes", rng, resp.StatusCode, len(body))
		}
	}
	for _, rng := range []string{"bytes=-0", "bytes=0-0", "bytes=00-01"} {
		req := e.signedRequest(t, "GET", "/rng/empty", nil, http.Header{"Range": {rng}}, "")
		resp, body := do(t, req)
		checkXMLError(t, resp, body, 416, "InvalidRange")
	}
}

// TestEmptyContentMD5: a Content-MD5 header that is present but empty is
// InvalidDigest, not "no digest".
func TestEmptyContentMD5(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "md5")
	req := e.signedRequest(t, "PUT", "/md5/obj", []byte("dummy data"), http.Header{"Content-Md5": {""}}, "")
	resp, body := do(t, req)
	if xe := checkXMLError(t, resp, body, 400, "InvalidDigest"); xe.Message != "The Content-MD5 you specified was invalid." {
		t.Fatalf("message %q", xe.Message)
	}
	if _, _, err := e.get(t, "md5", "obj", ""); apiCode(err) != "NoSuchKey" {
		t.Fatalf("object after a refused put: %v", err)
	}
}

// TestStorageClassHeader: every S3 storage class is accepted (Anvil keeps
// one), an unknown one is InvalidStorageClass on every write.
func TestStorageClassHeader(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "sclass")
	ctx := ctxT(t)
	e.put(t, "sclass", "src", []byte("x"))
	if _, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sclass"), Key: aws.String("std"), Body: strings.NewReader("x"), StorageClass: types.StorageClassStandard}); err != nil {
		t.Fatalf("STANDARD: %v", err)
	}
	if _, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sclass"), Key: aws.String("ia"), Body: strings.NewReader("x"), StorageClass: types.StorageClassStandardIa}); err != nil {
		t.Fatalf("STANDARD_IA: %v", err)
	}
	bad := types.StorageClass("INVALID_STORAGE_CLASS")
	_, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sclass"), Key: aws.String("bad"), Body: strings.NewReader("x"), StorageClass: bad})
	wantAPIError(t, err, "InvalidStorageClass", 400)
	_, err = e.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("sclass"), Key: aws.String("bad"), StorageClass: bad})
	wantAPIError(t, err, "InvalidStorageClass", 400)
	_, err = e.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sclass"), Key: aws.String("bad"), CopySource: aws.String("sclass/src"), StorageClass: bad})
	wantAPIError(t, err, "InvalidStorageClass", 400)
}

// TestCopyMetadataSizeCheckedWithCopyDirective: the request's metadata is
// size-checked even when the COPY directive ignores it.
func TestCopyMetadataSizeCheckedWithCopyDirective(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "cpmeta")
	e.put(t, "cpmeta", "src", []byte("data"))
	_, err := e.client.CopyObject(ctxT(t), &awss3.CopyObjectInput{
		Bucket: aws.String("cpmeta"), Key: aws.String("dst"), CopySource: aws.String("cpmeta/src"),
		Metadata: map[string]string{strings.Repeat("s", 2048): "value"},
	})
	wantAPIError(t, err, "MetadataTooLarge", 400)
	if got, want := apiMessage(err), "Your metadata headers exceed the maximum allowed metadata size"; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
}

// TestPartNumberCheckedBeforeLookup: an invalid partNumber is
// InvalidArgument even for a key (or bucket) that does not exist.
func TestPartNumberCheckedBeforeLookup(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "pnum")
	for _, target := range []string{"/pnum/missing?partNumber=-3", "/nobucket/missing?partNumber=0"} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := do(t, e.signedRequest(t, method, target, nil, nil, ""))
			if method == "HEAD" {
				if resp.StatusCode != 400 {
					t.Fatalf("HEAD %s: status %d", target, resp.StatusCode)
				}
				continue
			}
			checkXMLError(t, resp, body, 400, "InvalidArgument")
		}
	}
}

// TestGetObjectAttributesMissingBucket: NoSuchBucket comes before the
// check of x-amz-object-attributes.
func TestGetObjectAttributesMissingBucket(t *testing.T) {
	e := newTestEnv(t)
	resp, body := do(t, e.signedRequest(t, "GET", "/nobucket/k?attributes", nil, nil, ""))
	checkXMLError(t, resp, body, 404, "NoSuchBucket")
}

// TestMultipartMissingBucket: upload operations on a missing bucket are
// NoSuchBucket, whatever the upload id.
func TestMultipartMissingBucket(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	_, err := e.client.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), UploadId: aws.String("x"), PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantAPIError(t, err, "NoSuchBucket", 404)
	_, err = e.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), UploadId: aws.String("x")})
	wantAPIError(t, err, "NoSuchBucket", 404)
	_, err = e.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String("nobucket"), Key: aws.String("k"), UploadId: aws.String("x"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"x"`)}}},
	})
	wantAPIError(t, err, "NoSuchBucket", 404)
}

// TestCompletePartWithoutETag: a listed part without an ETag (or without a
// part number) is MalformedXML.
func TestCompletePartWithoutETag(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "mpu")
	id := e.createMP(t, e.client, "mpu", "k", nil)
	part := e.uploadPart(t, e.client, "mpu", "k", id, 1, []byte("data"), nil)
	for _, body := range []string{
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`,
		fmt.Sprintf(`<CompleteMultipartUpload><Part><ETag>%s</ETag></Part></CompleteMultipartUpload>`, aws.ToString(part.ETag)),
	} {
		resp, out := do(t, e.signedRequest(t, "POST", "/mpu/k?uploadId="+id, []byte(body), nil, ""))
		checkXMLError(t, resp, out, 400, "MalformedXML")
	}
}

// TestAbortIfMatchInitiatedTime: the upload is aborted only when it was
// initiated at the stated time (a future time is ignored); a missing upload
// is 204 with the header.
func TestAbortIfMatchInitiatedTime(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "abrt")
	ctx := ctxT(t)
	initiated := func(id string) time.Time {
		t.Helper()
		out, err := e.client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("abrt")})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Uploads {
			if aws.ToString(u.UploadId) == id {
				return aws.ToTime(u.Initiated)
			}
		}
		t.Fatalf("upload %s not listed", id)
		return time.Time{}
	}
	abort := func(id string, at time.Time) error {
		_, err := e.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("abrt"), Key: aws.String("k"), UploadId: aws.String(id), IfMatchInitiatedTime: aws.Time(at)})
		return err
	}
	id := e.createMP(t, e.client, "abrt", "k", nil)
	at := initiated(id)
	wantAPIError(t, abort(id, at.AddDate(-1, 0, 1)), "PreconditionFailed", 412)
	if err := abort(id, at); err != nil {
		t.Fatalf("matching time: %v", err)
	}
	if len(e.meta.Uploads()) != 0 {
		t.Fatalf("uploads left: %v", e.meta.Uploads())
	}
	if err := abort(id, at); err != nil {
		t.Fatalf("aborting a gone upload with the header: %v", err)
	}
	id = e.createMP(t, e.client, "abrt", "k", nil)
	if err := abort(id, time.Now().AddDate(1, 0, 0)); err != nil {
		t.Fatalf("future time: %v", err)
	}
	if len(e.meta.Uploads()) != 0 {
		t.Fatalf("uploads left: %v", e.meta.Uploads())
	}
}

// TestWebsiteRedirectLocation: x-amz-website-redirect-location is validated
// (http://, https:// or /), stored per version by PutObject,
// CreateMultipartUpload and CopyObject, returned on GET and HEAD, and never
// copied from a copy's source.
func TestWebsiteRedirectLocation(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "web")
	ctx := ctxT(t)
	head := func(key string) string {
		t.Helper()
		out, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("web"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		return aws.ToString(out.WebsiteRedirectLocation)
	}
	if _, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("web"), Key: aws.String("src"), Body: strings.NewReader("x"), WebsiteRedirectLocation: aws.String("/target")}); err != nil {
		t.Fatal(err)
	}
	if got := head("src"); got != "/target" {
		t.Fatalf("HEAD redirect %q", got)
	}
	if _, out, err := e.get(t, "web", "src", ""); err != nil || aws.ToString(out.WebsiteRedirectLocation) != "/target" {
		t.Fatalf("GET redirect: %v", err)
	}

	// COPY directive: not copied from the source; the request's value is set.
	if _, err := e.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("web"), Key: aws.String("plain"), CopySource: aws.String("web/src")}); err != nil {
		t.Fatal(err)
	}
	if got := head("plain"); got != "" {
		t.Fatalf("copied redirect %q", got)
	}
	if _, err := e.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("web"), Key: aws.String("set"), CopySource: aws.String("web/src"), WebsiteRedirectLocation: aws.String("https://example.com/a")}); err != nil {
		t.Fatal(err)
	}
	if got := head("set"); got != "https://example.com/a" {
		t.Fatalf("copy with redirect %q", got)
	}
	// Changing only the redirect is a legal copy onto itself.
	if _, err := e.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("web"), Key: aws.String("src"), CopySource: aws.String("web/src"), WebsiteRedirectLocation: aws.String("http://example.com/b")}); err != nil {
		t.Fatal(err)
	}
	if got := head("src"); got != "http://example.com/b" {
		t.Fatalf("self copy redirect %q", got)
	}

	id := e.createMP(t, e.client, "web", "mp", func(in *awss3.CreateMultipartUploadInput) { in.WebsiteRedirectLocation = aws.String("/mp-target") })
	part := e.uploadPart(t, e.client, "web", "mp", id, 1, []byte("data"), nil)
	if _, err := e.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String("web"), Key: aws.String("mp"), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := head("mp"); got != "/mp-target" {
		t.Fatalf("multipart redirect %q", got)
	}

	for _, bad := range []string{"ftp://example.com", "example.com"} {
		_, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("web"), Key: aws.String("bad"), Body: strings.NewReader("x"), WebsiteRedirectLocation: aws.String(bad)})
		wantAPIError(t, err, "InvalidRedirectLocation", 400)
		_, err = e.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("web"), Key: aws.String("bad"), CopySource: aws.String("web/src"), WebsiteRedirectLocation: aws.String(bad)})
		wantAPIError(t, err, "InvalidRedirectLocation", 400)
		_, err = e.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("web"), Key: aws.String("bad"), WebsiteRedirectLocation: aws.String(bad)})
		wantAPIError(t, err, "InvalidRedirectLocation", 400)
	}
}

// TestListBucketsPaging: max-buckets pages by name with a continuation
// token, prefix and bucket-region filter, and bad max-buckets values are
// InvalidArgument.
func TestListBucketsPaging(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	names := []string{"alpha", "beta-1", "beta-2", "beta-3", "gamma"}
	for _, n := range names {
		e.createBucket(t, n)
	}
	bucketNames := func(out *awss3.ListBucketsOutput) []string {
		var got []string
		for _, b := range out.Buckets {
			got = append(got, aws.ToString(b.Name))
		}
		return got
	}
	var got []string
	var token *string
	pages := 0
	for {
		out, err := e.client.ListBuckets(ctx, &awss3.ListBucketsInput{MaxBuckets: aws.Int32(2), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Buckets) > 2 || out.Prefix != nil {
			t.Fatalf("page %d: %v prefix %v", pages, bucketNames(out), out.Prefix)
		}
		got = append(got, bucketNames(out)...)
		if out.ContinuationToken == nil {
			break
		}
		token = out.ContinuationToken
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%d pages: %v", pages, got)
	}

	out, err := e.client.ListBuckets(ctx, &awss3.ListBucketsInput{Prefix: aws.String("beta-"), MaxBuckets: aws.Int32(2)})
	if err != nil || strings.Join(bucketNames(out), ",") != "beta-1,beta-2" || aws.ToString(out.Prefix) != "beta-" || aws.ToString(out.ContinuationToken) != "beta-2" {
		t.Fatalf("prefix page: %v %v", bucketNames(out), err)
	}
	out, err = e.client.ListBuckets(ctx, &awss3.ListBucketsInput{Prefix: aws.String("beta-"), ContinuationToken: out.ContinuationToken})
	if err != nil || strings.Join(bucketNames(out), ",") != "beta-3" || out.ContinuationToken != nil {
		t.Fatalf("prefix second page: %v %v", bucketNames(out), err)
	}
	out, err = e.client.ListBuckets(ctx, &awss3.ListBucketsInput{BucketRegion: aws.String("eu-west-1")})
	if err != nil || len(out.Buckets) != 0 {
		t.Fatalf("other region: %v %v", bucketNames(out), err)
	}
	out, err = e.client.ListBuckets(ctx, &awss3.ListBucketsInput{BucketRegion: aws.String(testRegion)})
	if err != nil || len(out.Buckets) != len(names) {
		t.Fatalf("own region: %v %v", bucketNames(out), err)
	}
	for _, n := range []int32{-3, 0, 10001} {
		_, err := e.client.ListBuckets(ctx, &awss3.ListBucketsInput{MaxBuckets: aws.Int32(n)})
		wantAPIError(t, err, "InvalidArgument", 400)
	}
}

// TestCORSExposeHeaderAndMaxAge: ExposeHeader names must be HTTP tokens
// like AllowedHeader names; a negative MaxAgeSeconds is kept, as S3 keeps
// it.
func TestCORSExposeHeaderAndMaxAge(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "corsx")
	ctx := ctxT(t)
	put := func(rule types.CORSRule) error {
		rule.AllowedOrigins, rule.AllowedMethods = []string{"http://origin.com"}, []string{"GET"}
		_, err := e.client.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String("corsx"), CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{rule}}})
		return err
	}
	for _, bad := range []string{"X-Custom:Header", "X(Custom)", `X"Quote"`, "invalid header"} {
		wantAPIError(t, put(types.CORSRule{ExposeHeaders: []string{"ETag", bad}}), "InvalidRequest", 400)
	}
	if err := put(types.CORSRule{ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(-100)}); err != nil {
		t.Fatalf("negative max age: %v", err)
	}
	out, err := e.client.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("corsx")})
	if err != nil || len(out.CORSRules) != 1 || aws.ToInt32(out.CORSRules[0].MaxAgeSeconds) != -100 {
		t.Fatalf("stored rules %+v %v", out, err)
	}
}

// TestCompleteRetried: completing an upload again with the same part list
// answers the same object (a retry after a lost response), concurrent
// completes all succeed with one object, and another part list is
// NoSuchUpload.
func TestCompleteRetried(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "recomp")
	ctx := ctxT(t)
	id := e.createMP(t, e.client, "recomp", "k", nil)
	p1 := e.uploadPart(t, e.client, "recomp", "k", id, 1, randBytes(5<<20, 1), nil)
	p2 := e.uploadPart(t, e.client, "recomp", "k", id, 2, []byte("tail"), nil)
	complete := func(parts ...types.CompletedPart) (*awss3.CompleteMultipartUploadOutput, error) {
		return e.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
			Bucket: aws.String("recomp"), Key: aws.String("k"), UploadId: aws.String(id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	both := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p1.ETag}, {PartNumber: aws.Int32(2), ETag: p2.ETag}}

	const n = 4
	etags := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			out, err := complete(both...)
			if err != nil {
				errs <- err
				return
			}
			etags <- aws.ToString(out.ETag)
		}()
	}
	var first string
	for range n {
		select {
		case err := <-errs:
			t.Fatalf("concurrent complete: %v", err)
		case etag := <-etags:
			if first == "" {
				first = etag
			}
			if etag != first || !strings.HasSuffix(etag, `-2"`) {
				t.Fatalf("ETags %s and %s", first, etag)
			}
		}
	}
	out, err := complete(both...)
	if err != nil || aws.ToString(out.ETag) != first {
		t.Fatalf("retried complete: %v %v", out, err)
	}
	_, err = complete(both[0])
	wantAPIError(t, err, "NoSuchUpload", 404)
	head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("recomp"), Key: aws.String("k")})
	if err != nil || aws.ToString(head.ETag) != first || aws.ToInt64(head.ContentLength) != 5<<20+4 {
		t.Fatalf("object after completes: %v %v", head, err)
	}
}

// TestMalformedMarkersAndVersionIDs: an upload-id-marker or copy-source
// versionId that cannot be an id is InvalidArgument with S3's wording.
func TestMalformedMarkersAndVersionIDs(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "marks")
	ctx := ctxT(t)
	e.put(t, "marks", "src", []byte("x"))
	_, err := e.client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("marks"), KeyMarker: aws.String("k"), UploadIdMarker: aws.String("invalid_uploadId_marker")})
	wantAPIError(t, err, "InvalidArgument", 400)
	if msg := apiMessage(err); msg != "Invalid uploadId marker" {
		t.Fatalf("message %q", msg)
	}
	_, err = e.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("marks"), Key: aws.String("dst"), CopySource: aws.String("marks/src?versionId=invalid_versionId")})
	wantAPIError(t, err, "InvalidArgument", 400)
	if msg := apiMessage(err); msg != "Invalid version id specified" {
		t.Fatalf("message %q", msg)
	}
	id := e.createMP(t, e.client, "marks", "mp", nil)
	_, err = e.client.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("marks"), Key: aws.String("mp"), UploadId: aws.String(id), PartNumber: aws.Int32(1), CopySource: aws.String("marks/src?versionId=invalid_versionId")})
	wantAPIError(t, err, "InvalidArgument", 400)
}

// apiMessage is the message of an S3 error answer.
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// TestDeleteObjectIfMatch: If-Match on DELETE deletes only the object with
// that ETag; 412 otherwise, and the object stays.
func TestDeleteObjectIfMatch(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "cdel")
	ctx := ctxT(t)
	put := e.put(t, "cdel", "k", []byte("dummy"))
	for _, bad := range []string{"incorrect_etag", `"incorrect_etag"`} {
		_, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("cdel"), Key: aws.String("k"), IfMatch: aws.String(bad)})
		wantAPIError(t, err, "PreconditionFailed", 412)
	}
	if e.meta.Object("cdel", "k") == nil {
		t.Fatal("object deleted despite a failed If-Match")
	}
	if _, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("cdel"), Key: aws.String("k"), IfMatch: aws.String(strings.Trim(aws.ToString(put.ETag), `"`))}); err != nil {
		t.Fatalf("matching (unquoted) ETag: %v", err)
	}
	if e.meta.Object("cdel", "k") != nil {
		t.Fatal("object still there")
	}
}
