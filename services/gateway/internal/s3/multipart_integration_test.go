package s3_test

// Multipart uploads, checksums, copies, conditional writes and object
// attributes, driven by aws-sdk-go-v2 against the real handler over the
// in-memory fakes.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/anvil-store/anvil/services/gateway/internal/s3"
	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// testMinPart keeps multipart tests small: the handler's minimum size of
// every part but the last.
const testMinPart = 64 << 10

func newMultipartEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvConfig(t, io.Discard, func(c *s3.Config) { c.MinPartSize = testMinPart })
}

// plainClient sends no checksum unless an operation requires one, so tests
// control every checksum header.
func (e *testEnv) plainClient() *awss3.Client {
	return awss3.New(e.client.Options(), func(o *awss3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

func (e *testEnv) createMP(t *testing.T, c *awss3.Client, bucket, key string, mod func(*awss3.CreateMultipartUploadInput)) string {
	t.Helper()
	in := &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if mod != nil {
		mod(in)
	}
	out, err := c.CreateMultipartUpload(ctxT(t), in)
	if err != nil {
		t.Fatalf("create multipart upload %s/%s: %v", bucket, key, err)
	}
	if aws.ToString(out.UploadId) == "" {
		t.Fatal("empty upload id")
	}
	return aws.ToString(out.UploadId)
}

func (e *testEnv) uploadPart(t *testing.T, c *awss3.Client, bucket, key, id string, n int32, data []byte, mod func(*awss3.UploadPartInput)) *awss3.UploadPartOutput {
	t.Helper()
	out, err := e.tryUploadPart(t, c, bucket, key, id, n, data, mod)
	if err != nil {
		t.Fatalf("upload part %d: %v", n, err)
	}
	return out
}

func (e *testEnv) tryUploadPart(t *testing.T, c *awss3.Client, bucket, key, id string, n int32, data []byte, mod func(*awss3.UploadPartInput)) (*awss3.UploadPartOutput, error) {
	t.Helper()
	in := &awss3.UploadPartInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(n), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	}
	if mod != nil {
		mod(in)
	}
	return c.UploadPart(ctxT(t), in)
}

func completeInput(bucket, key, id string, parts ...types.CompletedPart) *awss3.CompleteMultipartUploadInput {
	return &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
}

func part(n int32, etag string) types.CompletedPart {
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
}

// multipartETag is S3's ETag of an object made of parts.
func multipartETag(parts ...[]byte) string {
	var cat []byte
	for _, p := range parts {
		s := md5.Sum(p)
		cat = append(cat, s[:]...)
	}
	s := md5.Sum(cat)
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(s[:]), len(parts))
}

// refHash is an independent implementation of each checksum algorithm.
func refHash(algo string) hash.Hash {
	switch algo {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "CRC64NVME":
		return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	panic("unknown algorithm " + algo)
}

func refSum(algo string, data []byte) string {
	h := refHash(algo)
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func refComposite(algo string, parts ...[]byte) string {
	h := refHash(algo)
	for _, p := range parts {
		r := refHash(algo)
		r.Write(p)
		h.Write(r.Sum(nil))
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

func TestMultipartUpload(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "mpu")
	c := e.plainClient()
	ctx := ctxT(t)
	p1, p2, p3 := randBytes(testMinPart+100, 11), randBytes(testMinPart, 12), randBytes(1234, 13)
	all := slices.Concat(p1, p2, p3)
	id := e.createMP(t, c, "mpu", "big/object", func(in *awss3.CreateMultipartUploadInput) {
		in.ContentType = aws.String("text/csv")
		in.Metadata = map[string]string{"origin": "test"}
		in.Tagging = aws.String("team=data")
	})
	unlisted := e.uploadPart(t, c, "mpu", "big/object", id, 4, []byte("not listed"), nil)
	r1 := e.uploadPart(t, c, "mpu", "big/object", id, 1, []byte("replaced below"), nil)
	r1 = e.uploadPart(t, c, "mpu", "big/object", id, 1, p1, nil)
	r2 := e.uploadPart(t, c, "mpu", "big/object", id, 2, p2, nil)
	r3 := e.uploadPart(t, c, "mpu", "big/object", id, 3, p3, nil)
	if aws.ToString(r1.ETag) != `"`+md5Hex(p1)+`"` {
		t.Fatalf("part etag %s", aws.ToString(r1.ETag))
	}

	t.Run("list parts", func(t *testing.T) {
		var got []int32
		marker := ""
		for range 5 {
			out, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), UploadId: aws.String(id),
				MaxParts: aws.Int32(3), PartNumberMarker: aws.String(marker)})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range out.Parts {
				got = append(got, aws.ToInt32(p.PartNumber))
				if aws.ToInt32(p.PartNumber) == 1 && (aws.ToInt64(p.Size) != int64(len(p1)) || aws.ToString(p.ETag) != aws.ToString(r1.ETag) || p.LastModified == nil) {
					t.Fatalf("part 1: %+v", p)
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			marker = aws.ToString(out.NextPartNumberMarker)
		}
		if !slices.Equal(got, []int32{1, 2, 3, 4}) {
			t.Fatalf("parts %v", got)
		}
	})
	t.Run("list uploads", func(t *testing.T) {
		out, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
		if err != nil || len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].UploadId) != id || aws.ToString(out.Uploads[0].Key) != "big/object" {
			t.Fatalf("uploads %+v %v", out, err)
		}
	})
	if e.meta.Object("mpu", "big/object") != nil {
		t.Fatal("object visible before Complete")
	}

	out, err := c.CompleteMultipartUpload(ctx, completeInput("mpu", "big/object", id,
		part(1, aws.ToString(r1.ETag)), part(2, aws.ToString(r2.ETag)), part(3, aws.ToString(r3.ETag))))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != multipartETag(p1, p2, p3) || aws.ToString(out.Key) != "big/object" || aws.ToString(out.Bucket) != "mpu" {
		t.Fatalf("complete: etag %s key %s", aws.ToString(out.ETag), aws.ToString(out.Key))
	}
	if out.ChecksumType != types.ChecksumTypeFullObject || aws.ToString(out.ChecksumCRC64NVME) != refSum("CRC64NVME", all) {
		t.Fatalf("default checksum %s %q, want FULL_OBJECT %q", out.ChecksumType, aws.ToString(out.ChecksumCRC64NVME), refSum("CRC64NVME", all))
	}
	if len(e.meta.Uploads()) != 0 {
		t.Fatal("upload still listed after Complete")
	}
	garbage := e.meta.Garbage()
	if len(garbage) != 2 || unlisted.ETag == nil {
		t.Fatalf("garbage %v: want the replaced part 1 and the unlisted part 4", garbage)
	}

	t.Run("get", func(t *testing.T) {
		got, gout, err := e.get(t, "mpu", "big/object", "")
		if err != nil || !bytes.Equal(got, all) {
			t.Fatalf("get: %v", err)
		}
		if aws.ToString(gout.ETag) != multipartETag(p1, p2, p3) || aws.ToString(gout.ContentType) != "text/csv" || gout.Metadata["origin"] != "test" {
			t.Fatalf("headers: %s %s %v", aws.ToString(gout.ETag), aws.ToString(gout.ContentType), gout.Metadata)
		}
		if aws.ToInt32(gout.TagCount) != 1 {
			t.Fatalf("tag count %d", aws.ToInt32(gout.TagCount))
		}
	})
	t.Run("range across parts", func(t *testing.T) {
		from, to := len(p1)-10, len(p1)+len(p2)+5
		got, _, err := e.get(t, "mpu", "big/object", fmt.Sprintf("bytes=%d-%d", from, to))
		if err != nil || !bytes.Equal(got, all[from:to+1]) {
			t.Fatalf("range: %v", err)
		}
	})
	t.Run("part number", func(t *testing.T) {
		gout, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), PartNumber: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(gout.Body)
		_ = gout.Body.Close()
		wantRange := fmt.Sprintf("bytes %d-%d/%d", len(p1), len(p1)+len(p2)-1, len(all))
		if !bytes.Equal(got, p2) || aws.ToString(gout.ContentRange) != wantRange || aws.ToInt32(gout.PartsCount) != 3 {
			t.Fatalf("part 2: %d bytes, range %q, parts %d", len(got), aws.ToString(gout.ContentRange), aws.ToInt32(gout.PartsCount))
		}
		hout, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), PartNumber: aws.Int32(3)})
		if err != nil || aws.ToInt64(hout.ContentLength) != int64(len(p3)) || aws.ToInt32(hout.PartsCount) != 3 {
			t.Fatalf("head part 3: %+v %v", hout, err)
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), PartNumber: aws.Int32(4)})
		wantAPIError(t, err, "InvalidPartNumber", 416)
		if got, want := apiMessage(err), "The requested partnumber is not satisfiable."; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), PartNumber: aws.Int32(10001)})
		wantAPIError(t, err, "InvalidArgument", 400)
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-1")})
		wantAPIError(t, err, "InvalidRequest", 400)

		e.put(t, "mpu", "single", []byte("just one part"))
		gout, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("single"), PartNumber: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(gout.Body)
		_ = gout.Body.Close()
		if string(got) != "just one part" || gout.PartsCount != nil {
			t.Fatalf("single-part object part 1: %q parts %v", got, gout.PartsCount)
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("single"), PartNumber: aws.Int32(2)})
		wantAPIError(t, err, "InvalidPartNumber", 416)
	})
	t.Run("checksum mode", func(t *testing.T) {
		// The SDK validates the CRC64NVME against the body it reads.
		gout, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(gout.Body)
		_ = gout.Body.Close()
		if err != nil || !bytes.Equal(got, all) || aws.ToString(gout.ChecksumCRC64NVME) != refSum("CRC64NVME", all) || gout.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("checksum mode: %v %q %s", err, aws.ToString(gout.ChecksumCRC64NVME), gout.ChecksumType)
		}
		// As on AWS, a full-object checksum of several parts describes no
		// single part: a partNumber read carries none.
		hout, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"),
			PartNumber: aws.Int32(2), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil || hout.ChecksumCRC64NVME != nil || hout.ChecksumType != "" {
			t.Fatalf("part read of a full-object checksum: %v %q %s", err, aws.ToString(hout.ChecksumCRC64NVME), hout.ChecksumType)
		}
		resp, _ := do(t, e.signedRequest(t, "GET", "/mp/big/object", nil, http.Header{"Range": {"bytes=0-9"}, "X-Amz-Checksum-Mode": {"ENABLED"}}, ""))
		if resp.Header.Get("x-amz-checksum-crc64nvme") != "" {
			t.Fatal("a ranged read carries the whole object's checksum")
		}
	})
	t.Run("upload is gone", func(t *testing.T) {
		_, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/object"), UploadId: aws.String(id)})
		wantAPIError(t, err, "NoSuchUpload", 404)
		_, err = c.CompleteMultipartUpload(ctx, completeInput("mpu", "big/object", id, part(1, aws.ToString(r1.ETag))))
		wantAPIError(t, err, "NoSuchUpload", 404)
	})
	if e.shards.Open() != 0 {
		t.Fatalf("%d shard uploads left open", e.shards.Open())
	}
}

func TestMultipartErrors(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "mperr")
	c := e.plainClient()
	ctx := ctxT(t)
	id := e.createMP(t, c, "mperr", "k", nil)
	big, small := randBytes(testMinPart, 21), randBytes(100, 22)
	r1 := e.uploadPart(t, c, "mperr", "k", id, 1, small, nil)
	r2 := e.uploadPart(t, c, "mperr", "k", id, 2, big, nil)
	r3 := e.uploadPart(t, c, "mperr", "k", id, 3, small, nil)
	e1, e2, e3 := aws.ToString(r1.ETag), aws.ToString(r2.ETag), aws.ToString(r3.ETag)

	t.Run("part numbers", func(t *testing.T) {
		for _, n := range []int32{0, -1, 10001} {
			_, err := e.tryUploadPart(t, c, "mperr", "k", id, n, small, nil)
			wantAPIError(t, err, "InvalidArgument", 400)
		}
		resp, body := do(t, e.signedRequest(t, "PUT", "/mperr/k?partNumber=abc&uploadId="+id, small, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
		resp, body = do(t, e.signedRequest(t, "PUT", "/mperr/k?partNumber=1", small, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
	})
	t.Run("no such upload", func(t *testing.T) {
		_, err := e.tryUploadPart(t, c, "mperr", "k", "nope", 1, small, nil)
		wantAPIError(t, err, "NoSuchUpload", 404)
		_, err = e.tryUploadPart(t, c, "mperr", "other-key", id, 1, small, nil)
		wantAPIError(t, err, "NoSuchUpload", 404)
		_, err = e.tryUploadPart(t, c, "nobucket", "k", id, 1, small, nil)
		wantAPIError(t, err, "NoSuchBucket", 404)
		_, err = c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("mperr"), Key: aws.String("k"), UploadId: aws.String("nope")})
		wantAPIError(t, err, "NoSuchUpload", 404)
		_, err = c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
	tests := []struct {
		name   string
		parts  []types.CompletedPart
		code   string
		status int
	}{
		{"wrong etag", []types.CompletedPart{part(1, e1), part(2, `"0123"`)}, "InvalidPart", 400},
		{"missing part", []types.CompletedPart{part(2, e2), part(5, e1)}, "InvalidPart", 400},
		{"out of order", []types.CompletedPart{part(2, e2), part(1, e1)}, "InvalidPartOrder", 400},
		{"duplicate", []types.CompletedPart{part(2, e2), part(2, e2)}, "InvalidPartOrder", 400},
		{"too small", []types.CompletedPart{part(1, e1), part(2, e2)}, "EntityTooSmall", 400},
		{"no parts", nil, "MalformedXML", 400},
		{"part number zero", []types.CompletedPart{part(0, e1)}, "InvalidArgument", 400},
		{"two checksums", []types.CompletedPart{{PartNumber: aws.Int32(2), ETag: aws.String(e2),
			ChecksumCRC32: aws.String("AAAAAA=="), ChecksumSHA1: aws.String("Kq5sNclPz7QV2+lfQIuc6R7oRu0=")}}, "InvalidArgument", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CompleteMultipartUpload(ctx, completeInput("mperr", "k", id, tt.parts...))
			wantAPIError(t, err, tt.code, tt.status)
			if tt.code == "EntityTooSmall" && apiMessage(err) != "Your proposed upload is smaller than the minimum allowed size" {
				t.Fatalf("message = %q", apiMessage(err))
			}
		})
	}
	t.Run("malformed xml", func(t *testing.T) {
		for _, body := range []string{"<CompleteMultipartUpload><Part>", "<Other/>", "", "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>"} {
			resp, rb := do(t, e.signedRequest(t, "POST", "/mperr/k?uploadId="+id, []byte(body), nil, ""))
			checkXMLError(t, resp, rb, 400, "MalformedXML")
		}
	})
	t.Run("mp object size", func(t *testing.T) {
		in := completeInput("mperr", "k", id, part(2, e2), part(3, e3))
		in.MpuObjectSize = aws.Int64(5)
		_, err := c.CompleteMultipartUpload(ctx, in)
		wantAPIError(t, err, "InvalidRequest", 400)
	})
	if e.meta.Object("mperr", "k") != nil || len(e.meta.Uploads()) != 1 {
		t.Fatal("a failed Complete changed state")
	}
	t.Run("entity too large", func(t *testing.T) {
		// Refused from the declared length before the body is read.
		req := e.signedRequest(t, "PUT", "/mperr/k?partNumber=1&uploadId="+id, nil, nil, "UNSIGNED-PAYLOAD")
		req.ContentLength = s3.MaxPartSize + 1
		req.Body = io.NopCloser(io.LimitReader(neverRead{t}, 0))
		req.Header.Set("Expect", "100-continue")
		resp, body := doExpectContinue(t, req)
		checkXMLError(t, resp, body, 400, "EntityTooLarge")
	})
	t.Run("valid complete still works", func(t *testing.T) {
		out, err := c.CompleteMultipartUpload(ctx, completeInput("mperr", "k", id, part(2, e2), part(3, e3)))
		if err != nil || aws.ToString(out.ETag) != multipartETag(big, small) {
			t.Fatalf("complete: %v", err)
		}
	})
}

// neverRead is a body that fails the test when read.
type neverRead struct{ t *testing.T }

func (n neverRead) Read([]byte) (int, error) {
	n.t.Error("the request body was read")
	return 0, io.EOF
}

func TestAbortAndListUploads(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "ups")
	c := e.plainClient()
	ctx := ctxT(t)
	var ids []string
	for _, k := range []string{"a/1", "a/2", "a/2", "b/1", "c"} {
		ids = append(ids, e.createMP(t, c, "ups", k, nil))
	}
	e.uploadPart(t, c, "ups", "c", ids[4], 1, []byte("data"), nil)

	t.Run("pages", func(t *testing.T) {
		var got []string
		km, um := "", ""
		for range 10 {
			out, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("ups"), MaxUploads: aws.Int32(2),
				KeyMarker: aws.String(km), UploadIdMarker: aws.String(um)})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range out.Uploads {
				got = append(got, aws.ToString(u.Key)+"="+aws.ToString(u.UploadId))
				if u.Initiated == nil || aws.ToString(u.Owner.ID) == "" {
					t.Fatalf("upload entry %+v", u)
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			km, um = aws.ToString(out.NextKeyMarker), aws.ToString(out.NextUploadIdMarker)
		}
		want := []string{"a/1=" + ids[0], "a/2=" + ids[1], "a/2=" + ids[2], "b/1=" + ids[3], "c=" + ids[4]}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("prefix and delimiter", func(t *testing.T) {
		out, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Delimiter: aws.String("/")})
		if err != nil || len(out.CommonPrefixes) != 2 || len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) != "c" {
			t.Fatalf("delimiter: %+v %v", out, err)
		}
		out, err = c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Prefix: aws.String("a/")})
		if err != nil || len(out.Uploads) != 3 || aws.ToString(out.Prefix) != "a/" {
			t.Fatalf("prefix: %+v %v", out, err)
		}
		resp, body := do(t, e.signedRequest(t, "GET", "/ups?uploads&max-uploads=-1", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
		_, err = c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("nobucket")})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
	// minio-go's testListMultipartUpload lists with the upload's own key as
	// prefix and as key-marker; AWS answers as below (the entry keeps its
	// Initiator, Owner and StorageClass; a key-marker alone is exclusive).
	t.Run("key as prefix and as key-marker", func(t *testing.T) {
		out, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Prefix: aws.String("b/1"), Delimiter: aws.String("/")})
		if err != nil || len(out.Uploads) != 1 || len(out.CommonPrefixes) != 0 || aws.ToString(out.Uploads[0].UploadId) != ids[3] {
			t.Fatalf("key as prefix: %+v %v", out, err)
		}
		u := out.Uploads[0]
		if aws.ToString(u.Initiator.ID) == "" || aws.ToString(u.Owner.ID) == "" || u.StorageClass != types.StorageClassStandard {
			t.Fatalf("upload entry %+v", u)
		}
		out, err = c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("ups"), Prefix: aws.String("b/1"), Delimiter: aws.String("/"), KeyMarker: aws.String("b/1")})
		if err != nil || len(out.Uploads) != 0 || aws.ToString(out.KeyMarker) != "b/1" {
			t.Fatalf("key as key-marker: %+v %v", out, err)
		}
	})
	t.Run("abort", func(t *testing.T) {
		before := len(e.meta.Garbage())
		if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("ups"), Key: aws.String("c"), UploadId: aws.String(ids[4])}); err != nil {
			t.Fatal(err)
		}
		if len(e.meta.Garbage()) != before+1 {
			t.Fatal("an aborted upload's part is not garbage")
		}
		_, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("ups"), Key: aws.String("c"), UploadId: aws.String(ids[4])})
		wantAPIError(t, err, "NoSuchUpload", 404)
		_, err = e.tryUploadPart(t, c, "ups", "c", ids[4], 2, []byte("x"), nil)
		wantAPIError(t, err, "NoSuchUpload", 404)
	})
}

func TestMultipartChecksums(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "sums")
	c := e.plainClient()
	ctx := ctxT(t)
	p1, p2 := randBytes(testMinPart+7, 31), randBytes(999, 32)
	all := slices.Concat(p1, p2)
	tests := []struct {
		algo types.ChecksumAlgorithm
		typ  types.ChecksumType
		want string
	}{
		{types.ChecksumAlgorithmCrc32, types.ChecksumTypeComposite, refComposite("CRC32", p1, p2)},
		{types.ChecksumAlgorithmCrc32c, types.ChecksumTypeComposite, refComposite("CRC32C", p1, p2)},
		{types.ChecksumAlgorithmSha1, types.ChecksumTypeComposite, refComposite("SHA1", p1, p2)},
		{types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite, refComposite("SHA256", p1, p2)},
		{types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject, refSum("CRC32", all)},
		{types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject, refSum("CRC32C", all)},
		{types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeFullObject, refSum("CRC64NVME", all)},
	}
	for _, tt := range tests {
		t.Run(string(tt.algo)+"/"+string(tt.typ), func(t *testing.T) {
			key := "obj-" + string(tt.algo) + "-" + string(tt.typ)
			id := e.createMP(t, c, "sums", key, func(in *awss3.CreateMultipartUploadInput) {
				in.ChecksumAlgorithm, in.ChecksumType = tt.algo, tt.typ
			})
			var parts []types.CompletedPart
			for i, data := range [][]byte{p1, p2} {
				n := int32(i + 1)
				out := e.uploadPart(t, c, "sums", key, id, n, data, func(in *awss3.UploadPartInput) { in.ChecksumAlgorithm = tt.algo })
				sum := partSumOf(out, string(tt.algo))
				if sum != refSum(string(tt.algo), data) {
					t.Fatalf("part %d checksum %q, want %q", n, sum, refSum(string(tt.algo), data))
				}
				parts = append(parts, withPartSum(part(n, aws.ToString(out.ETag)), string(tt.algo), sum))
			}
			in := completeInput("sums", key, id, parts...)
			out, err := c.CompleteMultipartUpload(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got := completeSumOf(out, string(tt.algo)); got != tt.want || out.ChecksumType != tt.typ {
				t.Fatalf("final %q (%s), want %q (%s)", got, out.ChecksumType, tt.want, tt.typ)
			}
			hout, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil || headSumOf(hout, string(tt.algo)) != tt.want || hout.ChecksumType != tt.typ {
				t.Fatalf("head: %v %q %s", err, headSumOf(hout, string(tt.algo)), hout.ChecksumType)
			}
		})
	}

	t.Run("verify final checksum", func(t *testing.T) {
		id := e.createMP(t, c, "sums", "final", func(in *awss3.CreateMultipartUploadInput) {
			in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject
		})
		o1 := e.uploadPart(t, c, "sums", "final", id, 1, p1, func(in *awss3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
		o2 := e.uploadPart(t, c, "sums", "final", id, 2, p2, func(in *awss3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
		parts := []types.CompletedPart{part(1, aws.ToString(o1.ETag)), part(2, aws.ToString(o2.ETag))}
		bad := completeInput("sums", "final", id, parts...)
		bad.ChecksumCRC32 = aws.String(refSum("CRC32", p1))
		_, err := c.CompleteMultipartUpload(ctx, bad)
		wantAPIError(t, err, "BadDigest", 400)
		bad.ChecksumCRC32 = aws.String("not base64!")
		_, err = c.CompleteMultipartUpload(ctx, bad)
		wantAPIError(t, err, "InvalidRequest", 400)
		bad.ChecksumCRC32 = nil
		bad.ChecksumType = types.ChecksumTypeComposite
		_, err = c.CompleteMultipartUpload(ctx, bad)
		wantAPIError(t, err, "InvalidRequest", 400)
		wrongPart := completeInput("sums", "final", id, withPartSum(parts[0], "CRC32", refSum("CRC32", p2)), parts[1])
		_, err = c.CompleteMultipartUpload(ctx, wrongPart)
		wantAPIError(t, err, "InvalidPart", 400)
		otherAlgo := completeInput("sums", "final", id, withPartSum(parts[0], "SHA256", refSum("SHA256", p1)), parts[1])
		_, err = c.CompleteMultipartUpload(ctx, otherAlgo)
		wantAPIError(t, err, "BadDigest", 400)

		good := completeInput("sums", "final", id, parts...)
		good.ChecksumCRC32 = aws.String(refSum("CRC32", all))
		out, err := c.CompleteMultipartUpload(ctx, good)
		if err != nil || aws.ToString(out.ChecksumCRC32) != refSum("CRC32", all) {
			t.Fatalf("complete with the right checksum: %v", err)
		}
	})
	t.Run("composite needs part checksums", func(t *testing.T) {
		id := e.createMP(t, c, "sums", "comp", func(in *awss3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha1 })
		_, err := e.tryUploadPart(t, c, "sums", "comp", id, 1, p1, nil)
		wantAPIError(t, err, "InvalidRequest", 400)
		_, err = e.tryUploadPart(t, c, "sums", "comp", id, 1, p1, func(in *awss3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
		wantAPIError(t, err, "InvalidRequest", 400)
		o1 := e.uploadPart(t, c, "sums", "comp", id, 1, p1, func(in *awss3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha1 })
		_, err = c.CompleteMultipartUpload(ctx, completeInput("sums", "comp", id, part(1, aws.ToString(o1.ETag))))
		wantAPIError(t, err, "InvalidRequest", 400)
		final := completeInput("sums", "comp", id, withPartSum(part(1, aws.ToString(o1.ETag)), "SHA1", refSum("SHA1", p1)))
		final.ChecksumSHA1 = aws.String(refComposite("SHA1", p1))
		if _, err := c.CompleteMultipartUpload(ctx, final); err != nil {
			t.Fatalf("complete with the composite value: %v", err)
		}
	})
	t.Run("part checksum mismatch stores nothing", func(t *testing.T) {
		id := e.createMP(t, c, "sums", "bad-part", func(in *awss3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256 })
		stored := e.shards.Count()
		_, err := e.tryUploadPart(t, c, "sums", "bad-part", id, 1, p1, func(in *awss3.UploadPartInput) {
			in.ChecksumSHA256 = aws.String(refSum("SHA256", p2))
		})
		wantAPIError(t, err, "BadDigest", 400)
		parts, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("sums"), Key: aws.String("bad-part"), UploadId: aws.String(id)})
		if err != nil || len(parts.Parts) != 0 || e.shards.Count() != stored || e.shards.Open() != 0 {
			t.Fatalf("a rejected part left state: %v", err)
		}
	})
	t.Run("create errors", func(t *testing.T) {
		for _, mod := range []func(*awss3.CreateMultipartUploadInput){
			func(in *awss3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = "MD4" },
			func(in *awss3.CreateMultipartUploadInput) { in.ChecksumType = types.ChecksumTypeComposite },
			func(in *awss3.CreateMultipartUploadInput) {
				in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmSha256, types.ChecksumTypeFullObject
			},
			func(in *awss3.CreateMultipartUploadInput) {
				in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeComposite
			},
		} {
			in := &awss3.CreateMultipartUploadInput{Bucket: aws.String("sums"), Key: aws.String("x")}
			mod(in)
			_, err := c.CreateMultipartUpload(ctx, in)
			wantAPIError(t, err, "InvalidRequest", 400)
		}
	})
}

func partSumOf(o *awss3.UploadPartOutput, algo string) string {
	return pick(algo, o.ChecksumCRC32, o.ChecksumCRC32C, o.ChecksumCRC64NVME, o.ChecksumSHA1, o.ChecksumSHA256)
}

func completeSumOf(o *awss3.CompleteMultipartUploadOutput, algo string) string {
	return pick(algo, o.ChecksumCRC32, o.ChecksumCRC32C, o.ChecksumCRC64NVME, o.ChecksumSHA1, o.ChecksumSHA256)
}

func headSumOf(o *awss3.HeadObjectOutput, algo string) string {
	if o == nil {
		return ""
	}
	return pick(algo, o.ChecksumCRC32, o.ChecksumCRC32C, o.ChecksumCRC64NVME, o.ChecksumSHA1, o.ChecksumSHA256)
}

func pick(algo string, crc32, crc32c, crc64, sha1, sha256 *string) string {
	switch algo {
	case "CRC32":
		return aws.ToString(crc32)
	case "CRC32C":
		return aws.ToString(crc32c)
	case "CRC64NVME":
		return aws.ToString(crc64)
	case "SHA1":
		return aws.ToString(sha1)
	case "SHA256":
		return aws.ToString(sha256)
	}
	return ""
}

func withPartSum(p types.CompletedPart, algo, sum string) types.CompletedPart {
	switch algo {
	case "CRC32":
		p.ChecksumCRC32 = aws.String(sum)
	case "CRC32C":
		p.ChecksumCRC32C = aws.String(sum)
	case "CRC64NVME":
		p.ChecksumCRC64NVME = aws.String(sum)
	case "SHA1":
		p.ChecksumSHA1 = aws.String(sum)
	case "SHA256":
		p.ChecksumSHA256 = aws.String(sum)
	}
	return p
}

func TestPutChecksums(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "put-sums")
	c := e.plainClient()
	ctx := ctxT(t)
	data := randBytes(3*int(testParams.StripeSize())+17, 41)

	t.Run("default CRC64NVME", func(t *testing.T) {
		out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("put-sums"), Key: aws.String("default"), Body: bytes.NewReader(data)})
		if err != nil || aws.ToString(out.ChecksumCRC64NVME) != refSum("CRC64NVME", data) || out.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("put: %v %q", err, aws.ToString(out.ChecksumCRC64NVME))
		}
		hout, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("put-sums"), Key: aws.String("default")})
		if err != nil || hout.ChecksumCRC64NVME != nil {
			t.Fatalf("checksums without x-amz-checksum-mode: %v", err)
		}
	})
	for _, algo := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
		types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		t.Run(string(algo), func(t *testing.T) {
			key := "sum-" + string(algo)
			// The default client computes and sends the checksum itself.
			if _, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("put-sums"), Key: aws.String(key),
				Body: bytes.NewReader(data), ChecksumAlgorithm: algo}); err != nil {
				t.Fatal(err)
			}
			gout, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("put-sums"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(gout.Body) // the SDK validates the checksum here
			_ = gout.Body.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %v", err)
			}
			if pick(string(algo), gout.ChecksumCRC32, gout.ChecksumCRC32C, gout.ChecksumCRC64NVME, gout.ChecksumSHA1, gout.ChecksumSHA256) != refSum(string(algo), data) {
				t.Fatalf("stored checksum differs")
			}
			// A wrong value in the header is refused.
			hdr := http.Header{http.CanonicalHeaderKey("x-amz-checksum-" + strings.ToLower(string(algo))): {refSum(string(algo), []byte("other"))}}
			resp, body := do(t, e.signedRequest(t, "PUT", "/put-sums/"+key+"-bad", data, hdr, ""))
			checkXMLError(t, resp, body, 400, "BadDigest")
		})
	}
	t.Run("header errors", func(t *testing.T) {
		tests := []struct {
			name string
			hdr  http.Header
		}{
			{"two algorithms", http.Header{"X-Amz-Checksum-Crc32": {refSum("CRC32", data)}, "X-Amz-Checksum-Sha1": {refSum("SHA1", data)}}},
			{"invalid value", http.Header{"X-Amz-Checksum-Crc32": {"!!"}}},
			{"wrong length", http.Header{"X-Amz-Checksum-Sha256": {refSum("CRC32", data)}}},
			{"unknown algorithm", http.Header{"X-Amz-Checksum-Md5": {"AAAA"}}},
			{"sdk algorithm mismatch", http.Header{"X-Amz-Checksum-Crc32": {refSum("CRC32", data)}, "X-Amz-Sdk-Checksum-Algorithm": {"SHA1"}}},
			{"sdk algorithm unknown", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"MD4"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := do(t, e.signedRequest(t, "PUT", "/put-sums/hdr", data, tt.hdr, ""))
				checkXMLError(t, resp, body, 400, "InvalidRequest")
			})
		}
	})
	t.Run("trailer", func(t *testing.T) {
		resp, body := do(t, e.trailerRequest(t, "/put-sums/trailed", data, "x-amz-checksum-crc32c", refSum("CRC32C", data)))
		if resp.StatusCode != 200 || resp.Header.Get("x-amz-checksum-crc32c") != refSum("CRC32C", data) {
			t.Fatalf("trailer put: %d %s", resp.StatusCode, body)
		}
		if v := e.meta.Object("put-sums", "trailed"); v.GetChecksums()["CRC32C"] != refSum("CRC32C", data) {
			t.Fatalf("stored checksums %v", v.GetChecksums())
		}
		resp, body = do(t, e.trailerRequest(t, "/put-sums/trailed-bad", data, "x-amz-checksum-crc32c", refSum("CRC32C", []byte("x"))))
		checkXMLError(t, resp, body, 400, "BadDigest")
		if e.meta.Object("put-sums", "trailed-bad") != nil {
			t.Fatal("a body with a wrong trailing checksum was stored")
		}
	})
	if e.meta.Object("put-sums", "hdr") != nil || e.shards.Open() != 0 {
		t.Fatal("a rejected PUT left state behind")
	}
}

// trailerRequest builds an aws-chunked PUT with an unsigned payload and a
// trailing checksum.
func (e *testEnv) trailerRequest(t *testing.T, target string, data []byte, trailer, value string) *http.Request {
	t.Helper()
	var body bytes.Buffer
	for off := 0; off < len(data); off += 8192 {
		chunk := data[off:min(off+8192, len(data))]
		fmt.Fprintf(&body, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	fmt.Fprintf(&body, "0\r\n%s:%s\r\n\r\n", trailer, value)
	hdr := http.Header{
		"Content-Encoding":             {"aws-chunked"},
		"X-Amz-Decoded-Content-Length": {strconv.Itoa(len(data))},
		"X-Amz-Trailer":                {trailer},
	}
	return e.signedRequest(t, "PUT", target, body.Bytes(), hdr, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
}

func TestConditionalWrites(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "cond")
	c := e.plainClient()
	ctx := ctxT(t)
	first := e.put(t, "cond", "k", []byte("one"))
	etag := aws.ToString(first.ETag)
	put := func(key, ifMatch, ifNoneMatch string) error {
		in := &awss3.PutObjectInput{Bucket: aws.String("cond"), Key: aws.String(key), Body: strings.NewReader("two")}
		if ifMatch != "" {
			in.IfMatch = aws.String(ifMatch)
		}
		if ifNoneMatch != "" {
			in.IfNoneMatch = aws.String(ifNoneMatch)
		}
		_, err := c.PutObject(ctx, in)
		return err
	}
	tests := []struct {
		name, key, ifMatch, ifNoneMatch string
		code                            string
		status                          int
	}{
		{"if-none-match on existing", "k", "", "*", "PreconditionFailed", 412},
		{"if-match wrong etag", "k", `"0000"`, "", "PreconditionFailed", 412},
		{"if-match missing key", "missing", etag, "", "NoSuchKey", 404},
		{"if-none-match etag", "k", "", etag, "NotImplemented", 501},
		{"both", "k", etag, "*", "NotImplemented", 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, put(tt.key, tt.ifMatch, tt.ifNoneMatch), tt.code, tt.status)
		})
	}
	if got, _, _ := e.get(t, "cond", "k", ""); string(got) != "one" {
		t.Fatalf("failed conditional writes changed the object: %q", got)
	}
	t.Run("if-none-match on new key", func(t *testing.T) {
		if err := put("new", "", "*"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("if-match right etag", func(t *testing.T) {
		if err := put("k", strings.Trim(etag, `"`), ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("race is decided by the commit", func(t *testing.T) {
		// The gateway's early check passes; a write in between makes the
		// metadata commit refuse the precondition.
		id := e.createMP(t, c, "cond", "raced", nil)
		o := e.uploadPart(t, c, "cond", "raced", id, 1, []byte("part"), nil)
		in := completeInput("cond", "raced", id, part(1, aws.ToString(o.ETag)))
		in.IfNoneMatch = aws.String("*")
		if _, err := c.CompleteMultipartUpload(ctx, in); err != nil {
			t.Fatal(err)
		}
		id = e.createMP(t, c, "cond", "raced", nil)
		o = e.uploadPart(t, c, "cond", "raced", id, 1, []byte("part"), nil)
		in = completeInput("cond", "raced", id, part(1, aws.ToString(o.ETag)))
		in.IfNoneMatch = aws.String("*")
		_, err := c.CompleteMultipartUpload(ctx, in)
		wantAPIError(t, err, "PreconditionFailed", 412)
		if len(e.meta.Uploads()) != 1 {
			t.Fatal("a failed conditional Complete removed its upload")
		}
		in.IfNoneMatch, in.IfMatch = nil, aws.String(multipartETag([]byte("part")))
		if _, err := c.CompleteMultipartUpload(ctx, in); err != nil {
			t.Fatalf("complete with if-match: %v", err)
		}
	})
}

// doExpectContinue sends req with Expect: 100-continue honoured by the
// client: the body goes out only after the server's 100 Continue.
func doExpectContinue(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	tr := &http.Transport{ExpectContinueTimeout: 30 * 1e9}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// recordingBody notes whether it was read.
type recordingBody struct {
	r    io.Reader
	read bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	b.read = true
	return b.r.Read(p)
}

func (b *recordingBody) Close() error { return nil }

func TestExpectContinue(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "cont")
	e.put(t, "cont", "exists", []byte("x"))
	data := randBytes(50000, 51)
	tests := []struct {
		name     string
		target   string
		hdr      http.Header
		status   int
		sendBody bool
	}{
		{"accepted", "/cont/new", nil, 200, true},
		{"no such bucket", "/nobucket/k", nil, 404, false},
		{"precondition", "/cont/exists", http.Header{"If-None-Match": {"*"}}, 412, false},
		{"bad checksum header", "/cont/k2", http.Header{"X-Amz-Checksum-Crc32": {"?"}}, 400, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := e.signedRequest(t, "PUT", tt.target, data, tt.hdr, "UNSIGNED-PAYLOAD")
			body := &recordingBody{r: bytes.NewReader(data)}
			req.Body = body
			req.Header.Set("Expect", "100-continue")
			resp, rb := doExpectContinue(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, rb)
			}
			if body.read != tt.sendBody {
				t.Fatalf("body sent = %v, want %v", body.read, tt.sendBody)
			}
		})
	}
	if got, _, err := e.get(t, "cont", "new", ""); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object written after 100-continue: %v", err)
	}
}

func TestUploadPartCopy(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "src")
	e.createBucket(t, "dst")
	c := e.plainClient()
	ctx := ctxT(t)
	src := randBytes(3*testMinPart+5, 61)
	srcETag := aws.ToString(e.put(t, "src", "data", src).ETag)
	id := e.createMP(t, c, "dst", "copied", nil)
	copyPart := func(n int32, rng string, mod func(*awss3.UploadPartCopyInput)) (*awss3.UploadPartCopyOutput, error) {
		in := &awss3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("copied"), UploadId: aws.String(id),
			PartNumber: aws.Int32(n), CopySource: aws.String("src/data")}
		if rng != "" {
			in.CopySourceRange = aws.String(rng)
		}
		if mod != nil {
			mod(in)
		}
		return c.UploadPartCopy(ctx, in)
	}
	o1, err := copyPart(1, fmt.Sprintf("bytes=0-%d", 2*testMinPart-1), nil)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := copyPart(2, fmt.Sprintf("bytes=%d-%d", 2*testMinPart, len(src)-1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(o1.CopyPartResult.ETag) != `"`+md5Hex(src[:2*testMinPart])+`"` || o1.CopyPartResult.LastModified == nil {
		t.Fatalf("copy part result %+v", o1.CopyPartResult)
	}
	if o1.CopyPartResult.ChecksumCRC64NVME != nil {
		t.Fatal("a default upload's copied part shows the internal checksum")
	}
	out, err := c.CompleteMultipartUpload(ctx, completeInput("dst", "copied", id,
		part(1, aws.ToString(o1.CopyPartResult.ETag)), part(2, aws.ToString(o2.CopyPartResult.ETag))))
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := e.get(t, "dst", "copied", ""); err != nil || !bytes.Equal(got, src) {
		t.Fatalf("copied object: %v", err)
	}
	if aws.ToString(out.ChecksumCRC64NVME) != refSum("CRC64NVME", src) {
		t.Fatal("copied parts' CRCs do not combine to the object's")
	}

	id = e.createMP(t, c, "dst", "copied", nil)
	tests := []struct {
		name   string
		rng    string
		mod    func(*awss3.UploadPartCopyInput)
		code   string
		status int
	}{
		{"range syntax", "bytes=5-", nil, "InvalidArgument", 400},
		{"range reversed", "bytes=9-5", nil, "InvalidArgument", 400},
		{"range unit", "byte=0-5", nil, "InvalidArgument", 400},
		{"range past end", fmt.Sprintf("bytes=0-%d", len(src)), nil, "InvalidArgument", 400},
		{"missing source key", "", func(in *awss3.UploadPartCopyInput) { in.CopySource = aws.String("src/nope") }, "NoSuchKey", 404},
		{"missing source bucket", "", func(in *awss3.UploadPartCopyInput) { in.CopySource = aws.String("nope-bucket/data") }, "NoSuchBucket", 404},
		{"invalid source", "", func(in *awss3.UploadPartCopyInput) { in.CopySource = aws.String("src") }, "InvalidArgument", 400},
		{"no such upload", "", func(in *awss3.UploadPartCopyInput) { in.UploadId = aws.String("nope") }, "NoSuchUpload", 404},
		{"if-match", "", func(in *awss3.UploadPartCopyInput) { in.CopySourceIfMatch = aws.String(`"abc"`) }, "PreconditionFailed", 412},
		{"if-none-match", "", func(in *awss3.UploadPartCopyInput) { in.CopySourceIfNoneMatch = aws.String(srcETag) }, "PreconditionFailed", 412},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := copyPart(3, tt.rng, tt.mod)
			wantAPIError(t, err, tt.code, tt.status)
		})
	}
	parts, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("dst"), Key: aws.String("copied"), UploadId: aws.String(id)})
	if err != nil || len(parts.Parts) != 0 {
		t.Fatalf("failed part copies recorded parts: %v", err)
	}
	t.Run("checksum of the upload's algorithm", func(t *testing.T) {
		id := e.createMP(t, c, "dst", "summed", func(in *awss3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256 })
		out, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("summed"), UploadId: aws.String(id),
			PartNumber: aws.Int32(1), CopySource: aws.String("/src/data"), CopySourceRange: aws.String("bytes=10-99")})
		if err != nil || aws.ToString(out.CopyPartResult.ChecksumSHA256) != refSum("SHA256", src[10:100]) {
			t.Fatalf("copy part checksum: %v", err)
		}
	})
}

func TestCopyObject(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "csrc")
	e.createBucket(t, "cdst")
	c := e.plainClient()
	ctx := ctxT(t)
	data := randBytes(5*int(testParams.StripeSize())+3, 71)
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("csrc"), Key: aws.String("a b/src.txt"), Body: bytes.NewReader(data),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"color": "red"}, Tagging: aws.String("k=v"),
		ChecksumSHA1: aws.String(refSum("SHA1", data))}); err != nil {
		t.Fatal(err)
	}
	srcETag := `"` + md5Hex(data) + `"`

	t.Run("cross bucket, metadata copied", func(t *testing.T) {
		out, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("cdst"), Key: aws.String("copy"), CopySource: aws.String("csrc/a%20b/src.txt")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.CopyObjectResult.ETag) != srcETag || out.CopyObjectResult.LastModified == nil ||
			aws.ToString(out.CopyObjectResult.ChecksumSHA1) != refSum("SHA1", data) {
			t.Fatalf("copy result %+v", out.CopyObjectResult)
		}
		got, gout, err := e.get(t, "cdst", "copy", "")
		if err != nil || !bytes.Equal(got, data) || aws.ToString(gout.ContentType) != "text/plain" || gout.Metadata["color"] != "red" || aws.ToInt32(gout.TagCount) != 1 {
			t.Fatalf("copy: %v %s %v", err, aws.ToString(gout.ContentType), gout.Metadata)
		}
		if e.meta.Object("cdst", "copy").GetSegments()[0].GetDataId() == e.meta.Object("csrc", "a b/src.txt").GetSegments()[0].GetDataId() {
			t.Fatal("the copy shares the source's shards")
		}
	})
	t.Run("replace metadata and tags, new checksum", func(t *testing.T) {
		out, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("cdst"), Key: aws.String("replaced"), CopySource: aws.String("/csrc/a%20b/src.txt"),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("application/json"), Metadata: map[string]string{"shape": "round"},
			TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("a=1&b=2"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		if err != nil || aws.ToString(out.CopyObjectResult.ChecksumCRC32C) != refSum("CRC32C", data) {
			t.Fatalf("copy: %v", err)
		}
		v := e.meta.Object("cdst", "replaced")
		if v.GetContentType() != "application/json" || v.GetUserMetadata()["shape"] != "round" || v.GetUserMetadata()["color"] != "" || len(v.GetTags()) != 2 {
			t.Fatalf("replaced: %v %v %v", v.GetContentType(), v.GetUserMetadata(), v.GetTags())
		}
	})
	t.Run("multipart source", func(t *testing.T) {
		id := e.createMP(t, c, "csrc", "mpu", nil)
		p1, p2 := randBytes(testMinPart, 72), randBytes(10, 73)
		o1 := e.uploadPart(t, c, "csrc", "mpu", id, 1, p1, nil)
		o2 := e.uploadPart(t, c, "csrc", "mpu", id, 2, p2, nil)
		if _, err := c.CompleteMultipartUpload(ctx, completeInput("csrc", "mpu", id, part(1, aws.ToString(o1.ETag)), part(2, aws.ToString(o2.ETag)))); err != nil {
			t.Fatal(err)
		}
		out, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("cdst"), Key: aws.String("flat"), CopySource: aws.String("csrc/mpu")})
		if err != nil || aws.ToString(out.CopyObjectResult.ETag) != `"`+md5Hex(slices.Concat(p1, p2))+`"` {
			t.Fatalf("copy of a multipart object: %v", err)
		}
		if got, _, err := e.get(t, "cdst", "flat", ""); err != nil || !bytes.Equal(got, slices.Concat(p1, p2)) {
			t.Fatalf("flat copy: %v", err)
		}
	})
	t.Run("empty source", func(t *testing.T) {
		e.put(t, "csrc", "empty", nil)
		if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("cdst"), Key: aws.String("empty"), CopySource: aws.String("csrc/empty")}); err != nil {
			t.Fatal(err)
		}
		if got, _, err := e.get(t, "cdst", "empty", ""); err != nil || len(got) != 0 {
			t.Fatalf("empty copy: %v", err)
		}
	})
	t.Run("to itself", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("csrc"), Key: aws.String("a b/src.txt"), CopySource: aws.String("csrc/a%20b/src.txt")})
		wantAPIError(t, err, "InvalidRequest", 400)
		if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("csrc"), Key: aws.String("a b/src.txt"), CopySource: aws.String("csrc/a%20b/src.txt"),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"new": "yes"}}); err != nil {
			t.Fatalf("copy to itself with new metadata: %v", err)
		}
		if v := e.meta.Object("csrc", "a b/src.txt"); v.GetUserMetadata()["new"] != "yes" {
			t.Fatalf("metadata %v", v.GetUserMetadata())
		}
	})
	tests := []struct {
		name   string
		mod    func(*awss3.CopyObjectInput)
		code   string
		status int
	}{
		{"missing source bucket", func(in *awss3.CopyObjectInput) { in.CopySource = aws.String("nope-bucket/x") }, "NoSuchBucket", 404},
		{"missing source key", func(in *awss3.CopyObjectInput) { in.CopySource = aws.String("csrc/nope") }, "NoSuchKey", 404},
		{"missing destination bucket", func(in *awss3.CopyObjectInput) { in.Bucket = aws.String("nope-dst") }, "NoSuchBucket", 404},
		{"bad encoding", func(in *awss3.CopyObjectInput) { in.CopySource = aws.String("csrc/%ZZ") }, "InvalidArgument", 400},
		{"no key", func(in *awss3.CopyObjectInput) { in.CopySource = aws.String("csrc/") }, "InvalidArgument", 400},
		{"bad bucket", func(in *awss3.CopyObjectInput) { in.CopySource = aws.String("192.168.1.1/x") }, "InvalidArgument", 400},
		{"bad directive", func(in *awss3.CopyObjectInput) { in.MetadataDirective = "MOVE" }, "InvalidArgument", 400},
		{"bad tagging directive", func(in *awss3.CopyObjectInput) { in.TaggingDirective = "MOVE" }, "InvalidArgument", 400},
		{"if-match", func(in *awss3.CopyObjectInput) { in.CopySourceIfMatch = aws.String(`"nope"`) }, "PreconditionFailed", 412},
		{"if-none-match", func(in *awss3.CopyObjectInput) { in.CopySourceIfNoneMatch = aws.String(srcETag) }, "PreconditionFailed", 412},
		{"destination exists", func(in *awss3.CopyObjectInput) { in.Key, in.IfNoneMatch = aws.String("copy"), aws.String("*") }, "PreconditionFailed", 412},
		{"bad checksum algorithm", func(in *awss3.CopyObjectInput) { in.ChecksumAlgorithm = "MD4" }, "InvalidRequest", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &awss3.CopyObjectInput{Bucket: aws.String("cdst"), Key: aws.String("failed"), CopySource: aws.String("csrc/a%20b/src.txt")}
			tt.mod(in)
			_, err := c.CopyObject(ctx, in)
			wantAPIError(t, err, tt.code, tt.status)
		})
	}
	if e.meta.Object("cdst", "failed") != nil {
		t.Fatal("a failed copy created its destination")
	}
	t.Run("source unavailable", func(t *testing.T) {
		seg := e.meta.Object("csrc", "mpu").GetSegments()[0]
		for _, id := range seg.GetNodeIds()[:3] {
			e.nodes.Remove(id)
		}
		_, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("cdst"), Key: aws.String("unavailable"), CopySource: aws.String("csrc/mpu")})
		if httpStatus(err) != 503 && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("copy with its source unreadable: %v", err)
		}
		if e.shards.Open() != 0 {
			t.Fatal("a failed copy left shard uploads open")
		}
	})
}

func TestGetObjectAttributes(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "attrs")
	c := e.plainClient()
	ctx := ctxT(t)
	data := randBytes(4567, 81)
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("attrs"), Key: aws.String("one"), Body: bytes.NewReader(data),
		ChecksumSHA256: aws.String(refSum("SHA256", data))}); err != nil {
		t.Fatal(err)
	}
	attrs := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts,
		types.ObjectAttributesStorageClass, types.ObjectAttributesObjectSize}
	out, err := c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("one"), ObjectAttributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != md5Hex(data) || aws.ToInt64(out.ObjectSize) != int64(len(data)) || out.StorageClass != types.StorageClassStandard ||
		out.Checksum == nil || aws.ToString(out.Checksum.ChecksumSHA256) != refSum("SHA256", data) || out.ObjectParts != nil || out.LastModified == nil {
		t.Fatalf("attributes %+v", out)
	}
	out, err = c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("one"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	if err != nil || out.Checksum != nil || out.ETag != nil || aws.ToInt64(out.ObjectSize) != int64(len(data)) {
		t.Fatalf("only the size: %+v %v", out, err)
	}

	id := e.createMP(t, c, "attrs", "mpu", func(in *awss3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
	var parts []types.CompletedPart
	var datas [][]byte
	for n := int32(1); n <= 3; n++ {
		d := randBytes(testMinPart, uint64(90+n))
		datas = append(datas, d)
		o := e.uploadPart(t, c, "attrs", "mpu", id, n, d, func(in *awss3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
		parts = append(parts, withPartSum(part(n, aws.ToString(o.ETag)), "CRC32", refSum("CRC32", d)))
	}
	if _, err := c.CompleteMultipartUpload(ctx, completeInput("attrs", "mpu", id, parts...)); err != nil {
		t.Fatal(err)
	}
	out, err = c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("mpu"), ObjectAttributes: attrs,
		MaxParts: aws.Int32(2), PartNumberMarker: aws.String("1")})
	if err != nil {
		t.Fatal(err)
	}
	op := out.ObjectParts
	if op == nil || aws.ToInt32(op.TotalPartsCount) != 3 || len(op.Parts) != 2 || aws.ToInt32(op.Parts[0].PartNumber) != 2 ||
		aws.ToString(op.Parts[0].ChecksumCRC32) != refSum("CRC32", datas[1]) || aws.ToInt64(op.Parts[1].Size) != testMinPart || aws.ToBool(op.IsTruncated) {
		t.Fatalf("object parts %+v", op)
	}
	if out.Checksum == nil || aws.ToString(out.Checksum.ChecksumCRC32) != strings.TrimSuffix(refComposite("CRC32", datas...), "-3") || out.Checksum.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("composite checksum %+v", out.Checksum)
	}

	t.Run("errors", func(t *testing.T) {
		resp, body := do(t, e.signedRequest(t, "GET", "/attrs/one?attributes", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidRequest")
		resp, body = do(t, e.signedRequest(t, "GET", "/attrs/one?attributes", nil, http.Header{"X-Amz-Object-Attributes": {"ETag,Colour"}}, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
		_, err := c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("nope"), ObjectAttributes: attrs})
		wantAPIError(t, err, "NoSuchKey", 404)
		_, err = c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("nobucket"), Key: aws.String("nope"), ObjectAttributes: attrs})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
}

func TestMultipartDefaultClient(t *testing.T) {
	// The SDK's default client adds its own checksums to every part.
	e := newMultipartEnv(t)
	e.createBucket(t, "sdk")
	ctx := ctxT(t)
	p1 := randBytes(testMinPart, 101)
	id := e.createMP(t, e.client, "sdk", "k", nil)
	o1 := e.uploadPart(t, e.client, "sdk", "k", id, 1, p1, nil)
	o2 := e.uploadPart(t, e.client, "sdk", "k", id, 2, nil, nil) // an empty last part
	parts := []types.CompletedPart{
		{PartNumber: aws.Int32(1), ETag: o1.ETag, ChecksumCRC32: o1.ChecksumCRC32, ChecksumCRC32C: o1.ChecksumCRC32C, ChecksumCRC64NVME: o1.ChecksumCRC64NVME},
		{PartNumber: aws.Int32(2), ETag: o2.ETag, ChecksumCRC32: o2.ChecksumCRC32, ChecksumCRC32C: o2.ChecksumCRC32C, ChecksumCRC64NVME: o2.ChecksumCRC64NVME},
	}
	out, err := e.client.CompleteMultipartUpload(ctx, completeInput("sdk", "k", id, parts...))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != multipartETag(p1, nil) {
		t.Fatalf("etag %s", aws.ToString(out.ETag))
	}
	gout, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sdk"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(gout.Body)
	_ = gout.Body.Close()
	if err != nil || !bytes.Equal(got, p1) || aws.ToString(gout.ChecksumCRC64NVME) != refSum("CRC64NVME", p1) {
		t.Fatalf("get: %v, %d bytes, crc64nvme %q", err, len(got), aws.ToString(gout.ChecksumCRC64NVME))
	}
	_, err = e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sdk"), Key: aws.String("k"), PartNumber: aws.Int32(2)})
	if err != nil {
		t.Fatalf("empty part: %v", err)
	}
}

func TestVersionedCopyAndComplete(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "vers")
	c := e.plainClient()
	ctx := ctxT(t)
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String("vers"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v1, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("vers"), Key: aws.String("k"), Body: strings.NewReader("first")})
	if err != nil || aws.ToString(v1.VersionId) == "" {
		t.Fatalf("put: %v", err)
	}
	e.put(t, "vers", "k", []byte("second"))
	// Copying an older version over the current one restores it.
	out, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("vers"), Key: aws.String("k"),
		CopySource: aws.String("vers/k?versionId=" + aws.ToString(v1.VersionId))})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CopySourceVersionId) != aws.ToString(v1.VersionId) || aws.ToString(out.VersionId) == "" || aws.ToString(out.VersionId) == aws.ToString(v1.VersionId) {
		t.Fatalf("copy version ids: source %q new %q", aws.ToString(out.CopySourceVersionId), aws.ToString(out.VersionId))
	}
	if got, _, _ := e.get(t, "vers", "k", ""); string(got) != "first" {
		t.Fatalf("restored %q", got)
	}
	id := e.createMP(t, c, "vers", "k", nil)
	o := e.uploadPart(t, c, "vers", "k", id, 1, []byte("third"), nil)
	cout, err := c.CompleteMultipartUpload(ctx, completeInput("vers", "k", id, part(1, aws.ToString(o.ETag))))
	if err != nil || aws.ToString(cout.VersionId) == "" {
		t.Fatalf("complete in a versioned bucket: %v, version %q", err, aws.ToString(cout.VersionId))
	}
	if len(e.meta.Versions("vers", "k")) != 4 {
		t.Fatalf("%d versions, want 4", len(e.meta.Versions("vers", "k")))
	}
}
