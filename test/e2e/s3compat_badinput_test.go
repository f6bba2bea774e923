package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// rawS3 sends a request the SDK would never build (a malformed body),
// signed with the root key, with a Content-MD5 of the body so that the
// body itself is what the server must judge. It returns the S3 error code
// and the HTTP status.
func rawS3(t *testing.T, method, target string, body []byte) (string, int) {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	sum := md5.Sum(body)
	req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("X-Amz-Content-Sha256", sha256hex(body))
	ak, sk := cluster.Credentials()
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk},
		req, sha256hex(body), "s3", cluster.Region(), time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Code string `xml:"Code"`
	}
	_ = xml.Unmarshal(msg, &e)
	return e.Code, resp.StatusCode
}

func wantRaw(t *testing.T, code string, status int, gotCode string, gotStatus int) {
	t.Helper()
	if gotCode != code || gotStatus != status {
		t.Fatalf("want %s (%d), got %q (%d)", code, status, gotCode, gotStatus)
	}
}

// malformedBodies are XML documents S3 refuses with MalformedXML.
func malformedBodies(root, valid string) map[string]string {
	return map[string]string{
		"truncated":    valid[:len(valid)/2],
		"not XML":      "this is not XML at all",
		"wrong root":   "<Nonsense>" + strings.TrimPrefix(strings.TrimSuffix(valid, "</"+root+">"), "<"+root+">") + "</Nonsense>",
		"binary bytes": "\x00\x01\x02<" + root + ">",
	}
}

// Bad input gets the AWS error code and status, and changes nothing that
// was stored before: an object, an open multipart upload with its part, and
// the bucket's versioning state.
func TestS3CompatBadInput(t *testing.T) {
	c := s3Client(cluster.Endpoint(), "", "", func(o *s3.Options) {
		o.RetryMaxAttempts = 1
	})
	bucket := newBucket(t, c)
	keep := payload(31, 2*stripe+17)
	keepETag := aws.ToString(put(t, c, bucket, "keep", keep).ETag)

	mpuKey := "open-upload"
	mpu, err := c.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &mpuKey})
	if err != nil {
		t.Fatalf("create multipart upload: %v", err)
	}
	uploadID := aws.ToString(mpu.UploadId)
	t.Cleanup(func() {
		_, _ = c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &mpuKey, UploadId: &uploadID})
	})
	part1 := payload(32, 5<<20)
	up, err := c.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &bucket, Key: &mpuKey, UploadId: &uploadID,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
	if err != nil {
		t.Fatalf("upload part 1: %v", err)
	}
	part1ETag := aws.ToString(up.ETag)
	if want := `"` + md5hex(part1) + `"`; part1ETag != want {
		t.Fatalf("part 1 ETag %s, want %s", part1ETag, want)
	}
	objURL := func(key string) string { return cluster.Endpoint() + "/" + bucket + "/" + key }

	t.Run("malformed CompleteMultipartUpload XML", func(t *testing.T) {
		valid := `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + part1ETag + `</ETag></Part></CompleteMultipartUpload>`
		bodies := malformedBodies("CompleteMultipartUpload", valid)
		bodies["empty"] = ""
		bodies["no parts"] = "<CompleteMultipartUpload></CompleteMultipartUpload>"
		bodies["part without number"] = `<CompleteMultipartUpload><Part><ETag>` + part1ETag + `</ETag></Part></CompleteMultipartUpload>`
		for name, body := range bodies {
			t.Run(name, func(t *testing.T) {
				code, status := rawS3(t, http.MethodPost, objURL(mpuKey)+"?uploadId="+url.QueryEscape(uploadID), []byte(body))
				wantRaw(t, "MalformedXML", 400, code, status)
			})
		}
	})
	t.Run("malformed DeleteObjects XML", func(t *testing.T) {
		valid := `<Delete><Object><Key>keep</Key></Object></Delete>`
		for name, body := range malformedBodies("Delete", valid) {
			t.Run(name, func(t *testing.T) {
				code, status := rawS3(t, http.MethodPost, cluster.Endpoint()+"/"+bucket+"?delete", []byte(body))
				wantRaw(t, "MalformedXML", 400, code, status)
			})
		}
	})
	t.Run("malformed PutBucketVersioning XML", func(t *testing.T) {
		valid := `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`
		bodies := malformedBodies("VersioningConfiguration", valid)
		bodies["unknown status"] = `<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>`
		for name, body := range bodies {
			t.Run(name, func(t *testing.T) {
				code, status := rawS3(t, http.MethodPut, cluster.Endpoint()+"/"+bucket+"?versioning", []byte(body))
				wantRaw(t, "MalformedXML", 400, code, status)
			})
		}
		v, err := c.GetBucketVersioning(ctx(t), &s3.GetBucketVersioningInput{Bucket: &bucket})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != "" {
			t.Fatalf("versioning is %q after refused requests, want never enabled", v.Status)
		}
	})
	t.Run("part number out of range", func(t *testing.T) {
		for _, n := range []int32{10001, 0} {
			_, err := c.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &bucket, Key: &mpuKey, UploadId: &uploadID,
				PartNumber: aws.Int32(n), Body: bytes.NewReader([]byte("x"))})
			wantCode(t, err, "InvalidArgument", 400)
		}
	})
	t.Run("wrong part ETag", func(t *testing.T) {
		for name, parts := range map[string][]types.CompletedPart{
			"other ETag":    {{PartNumber: aws.Int32(1), ETag: aws.String(`"` + strings.Repeat("0", 32) + `"`)}},
			"missing part":  {{PartNumber: aws.Int32(1), ETag: &part1ETag}, {PartNumber: aws.Int32(2), ETag: &part1ETag}},
			"ETag of other": {{PartNumber: aws.Int32(1), ETag: &keepETag}},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := c.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &mpuKey,
					UploadId: &uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
				wantCode(t, err, "InvalidPart", 400)
			})
		}
		_, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: &mpuKey})
		wantCode(t, err, "NotFound", 404)
	})
	t.Run("checksum mismatch", func(t *testing.T) {
		other := []byte("not the bytes the checksum was computed over")
		for _, key := range []string{"keep", "fresh-checksum"} {
			_, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(keep[:1000]),
				ChecksumCRC32: aws.String(crc32b64(other))})
			wantCode(t, err, "BadDigest", 400)
			_, err = c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(keep[:1000]),
				ChecksumSHA256: aws.String(sha256b64(other))})
			wantCode(t, err, "BadDigest", 400)
			_, err = c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(keep[:1000]),
				ContentMD5: aws.String(md5b64(other))})
			wantCode(t, err, "BadDigest", 400)
		}
		_, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("fresh-checksum")})
		wantCode(t, err, "NotFound", 404)
		// A part with a wrong checksum is refused and part 1 stays as it was.
		_, err = c.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &bucket, Key: &mpuKey, UploadId: &uploadID,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(other), ChecksumCRC32C: aws.String(crc32b64(part1))})
		wantCode(t, err, "BadDigest", 400)
	})
	t.Run("copy source missing", func(t *testing.T) {
		_, err := c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("keep"),
			CopySource: aws.String(bucket + "/no-such-source")})
		wantCode(t, err, "NoSuchKey", 404)
		_, err = c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy-target"),
			CopySource: aws.String(bucket + "/no-such-source")})
		wantCode(t, err, "NoSuchKey", 404)
		_, err = c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("keep"),
			CopySource: aws.String("no-such-bucket-anywhere/keep")})
		wantCode(t, err, "NoSuchBucket", 404)
		_, err = c.UploadPartCopy(ctx(t), &s3.UploadPartCopyInput{Bucket: &bucket, Key: &mpuKey, UploadId: &uploadID,
			PartNumber: aws.Int32(1), CopySource: aws.String(bucket + "/no-such-source")})
		wantCode(t, err, "NoSuchKey", 404)
		_, err = c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("copy-target")})
		wantCode(t, err, "NotFound", 404)
	})

	// Nothing stored before changed: the object, and the upload with its
	// one part, which still completes.
	got, err := get(t, c, bucket, "keep", "")
	if err != nil || !bytes.Equal(got, keep) {
		t.Fatalf("the object stored before the bad requests changed (%d bytes, %v)", len(got), err)
	}
	parts, err := c.ListParts(ctx(t), &s3.ListPartsInput{Bucket: &bucket, Key: &mpuKey, UploadId: &uploadID})
	if err != nil {
		t.Fatalf("list parts after the bad requests: %v", err)
	}
	if len(parts.Parts) != 1 || aws.ToInt32(parts.Parts[0].PartNumber) != 1 ||
		aws.ToString(parts.Parts[0].ETag) != part1ETag || aws.ToInt64(parts.Parts[0].Size) != int64(len(part1)) {
		t.Fatalf("the upload's parts changed: %+v", parts.Parts)
	}
	done, err := c.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &mpuKey,
		UploadId: &uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: &part1ETag}}}})
	if err != nil {
		t.Fatalf("complete after the bad requests: %v", err)
	}
	if want := multipartETag([]string{md5hex(part1)}); aws.ToString(done.ETag) != want {
		t.Fatalf("complete: ETag %s, want %s", aws.ToString(done.ETag), want)
	}
	got, err = get(t, c, bucket, mpuKey, "")
	if err != nil || !bytes.Equal(got, part1) {
		t.Fatalf("the completed upload reads back wrong (%d bytes, %v)", len(got), err)
	}
}

func crc32b64(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func sha256b64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func md5b64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Malformed ids the gateway passes through to metadata are the client's
// error (400 InvalidArgument), not a 500 an SDK would retry; an expected
// bucket owner that is not the owner is refused before anything changes.
func TestS3CompatIDsAndExpectedOwner(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	put(t, c, bucket, "src", []byte("source"))

	_, err := c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("dst"),
		CopySource: aws.String(bucket + "/src?versionId=not-a-uuid")})
	wantCode(t, err, "InvalidArgument", 400)
	_, err = c.ListMultipartUploads(ctx(t), &s3.ListMultipartUploadsInput{Bucket: &bucket,
		KeyMarker: aws.String("a"), UploadIdMarker: aws.String("not-a-uuid")})
	wantCode(t, err, "InvalidArgument", 400)
	if strings.Contains(err.Error(), "rpc error") || strings.Contains(err.Error(), "store:") {
		t.Fatalf("the S3 error message shows the service's internals: %v", err)
	}

	_, err = c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("src"), ExpectedBucketOwner: aws.String("123456789012")})
	wantCode(t, err, "AccessDenied", 403)
	if got, err := get(t, c, bucket, "src", ""); err != nil || string(got) != "source" {
		t.Fatalf("object after a refused delete: %q, %v", got, err)
	}
	_, err = c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("dst"), CopySource: aws.String(bucket + "/src"),
		ExpectedSourceBucketOwner: aws.String("123456789012")})
	wantCode(t, err, "AccessDenied", 403)
	ak, _ := cluster.Credentials()
	if _, err := c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("dst"), CopySource: aws.String(bucket + "/src"),
		ExpectedBucketOwner: aws.String(ak)}); err != nil {
		t.Fatalf("copy naming the owner by its access key: %v", err)
	}
	_, err = c.DeleteBucket(ctx(t), &s3.DeleteBucketInput{Bucket: &bucket, ExpectedBucketOwner: aws.String("123456789012")})
	wantCode(t, err, "AccessDenied", 403)
	if _, err := c.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("bucket after a refused delete: %v", err)
	}
}
