package s3

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHostBucket(t *testing.T) {
	domains := []string{"s3.example.com", "S3.Other.Test."}
	tests := []struct {
		host   string
		bucket string
		ok     bool
	}{
		{"photos.s3.example.com", "photos", true},
		{"photos.s3.example.com:9000", "photos", true},
		{"my.dotted.bucket.s3.example.com", "my.dotted.bucket", true},
		{"PHOTOS.S3.EXAMPLE.COM", "photos", true},
		{"b1.s3.other.test", "b1", true},
		{"s3.example.com", "", false},
		{"s3.example.com:9000", "", false},
		{"example.com", "", false},
		{"xs3.example.com", "", false},
		{"127.0.0.1:9000", "", false},
		{"[::1]:9000", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			b, ok := hostBucket(tt.host, domains)
			if b != tt.bucket || ok != tt.ok {
				t.Fatalf("hostBucket(%q) = %q, %v; want %q, %v", tt.host, b, ok, tt.bucket, tt.ok)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	domains := []string{"s3.example.com"}
	tests := []struct {
		name    string
		method  string
		host    string
		target  string
		header  http.Header
		op      string
		bucket  string
		key     string
		errCode string
	}{
		{"list buckets", "GET", "localhost:9000", "/", nil, OpListBuckets, "", "", ""},
		{"put on root", "PUT", "localhost:9000", "/", nil, OpUnsupported, "", "", ErrMethodNotAllowed},
		{"create bucket", "PUT", "localhost", "/photos", nil, OpCreateBucket, "photos", "", ""},
		{"create bucket trailing slash", "PUT", "localhost", "/photos/", nil, OpCreateBucket, "photos", "", ""},
		{"head bucket", "HEAD", "localhost", "/photos", nil, OpHeadBucket, "photos", "", ""},
		{"delete bucket", "DELETE", "localhost", "/photos", nil, OpDeleteBucket, "photos", "", ""},
		{"location", "GET", "localhost", "/photos?location", nil, OpGetBucketLocation, "photos", "", ""},
		{"list v1", "GET", "localhost", "/photos?prefix=a&delimiter=/", nil, OpListObjects, "photos", "", ""},
		{"list v2", "GET", "localhost", "/photos?list-type=2", nil, OpListObjectsV2, "photos", "", ""},
		{"list v2 with x-id", "GET", "localhost", "/photos?list-type=2&x-id=ListObjectsV2", nil, OpListObjectsV2, "photos", "", ""},
		{"versioning", "GET", "localhost", "/photos?versioning", nil, OpGetBucketVersioning, "photos", "", ""},
		{"put versioning", "PUT", "localhost", "/photos?versioning", nil, OpPutBucketVersioning, "photos", "", ""},
		{"list versions", "GET", "localhost", "/photos?versions&prefix=a", nil, OpListObjectVersions, "photos", "", ""},
		{"bucket tagging", "DELETE", "localhost", "/photos?tagging", nil, OpDeleteBucketTagging, "photos", "", ""},
		{"object tagging", "PUT", "localhost", "/photos/k?tagging&versionId=v1", nil, OpPutObjectTagging, "photos", "k", ""},
		{"bucket cors", "PUT", "localhost", "/photos?cors", nil, OpPutBucketCors, "photos", "", ""},
		{"post object", "POST", "localhost", "/photos", nil, OpPostObject, "photos", "", ""},
		{"post object virtual host", "POST", "photos.s3.example.com", "/", nil, OpPostObject, "photos", "", ""},
		{"bucket policy", "GET", "localhost", "/photos?policy", nil, OpGetBucketPolicy, "photos", "", ""},
		{"put bucket policy", "PUT", "localhost", "/photos?policy", nil, OpPutBucketPolicy, "photos", "", ""},
		{"put lifecycle", "PUT", "localhost", "/photos?lifecycle", nil, OpUnsupported, "photos", "", ErrNotImplemented},
		{"get lifecycle", "GET", "localhost", "/photos?lifecycle", nil, OpGetBucketLifecycle, "photos", "", ""},
		{"object retention", "GET", "localhost", "/photos/k?retention", nil, OpGetObjectRetention, "photos", "k", ""},
		{"object restore", "POST", "localhost", "/photos/k?restore", nil, OpUnsupported, "photos", "k", ErrNotImplemented},
		{"select", "POST", "localhost", "/photos/k?select&select-type=2", nil, OpUnsupported, "photos", "k", ErrNotImplemented},
		{"bucket inventory", "GET", "localhost", "/photos?inventory", nil, OpUnsupported, "photos", "", ErrNotImplemented},
		{"post bucket with subresource", "POST", "localhost", "/photos?lifecycle", nil, OpUnsupported, "photos", "", ErrNotImplemented},
		{"create multipart upload", "POST", "localhost", "/photos/k?uploads", nil, OpCreateMultipartUpload, "photos", "k", ""},
		{"upload part", "PUT", "localhost", "/photos/k?partNumber=2&uploadId=u1", nil, OpUploadPart, "photos", "k", ""},
		{"upload part without upload id", "PUT", "localhost", "/photos/k?partNumber=2", nil, OpUnsupported, "photos", "k", ErrInvalidArgument},
		{"upload part without part number", "PUT", "localhost", "/photos/k?uploadId=u1", nil, OpUnsupported, "photos", "k", ErrMethodNotAllowed},
		{"uploads of a key", "GET", "localhost", "/photos/k?uploads", nil, OpUnsupported, "photos", "k", ErrInvalidRequest},
		{"versions of a key", "GET", "localhost", "/photos/k?versions", nil, OpUnsupported, "photos", "k", ErrInvalidRequest},
		{"copy source on get", "GET", "localhost", "/photos/k", http.Header{"X-Amz-Copy-Source": {"/a/b"}}, OpUnsupported, "photos", "k", ErrInvalidArgument},
		{"copy source on bucket delete", "DELETE", "localhost", "/photos", http.Header{"X-Amz-Copy-Source": {"/a/b"}}, OpUnsupported, "photos", "", ErrInvalidArgument},
		{"copy source on complete", "POST", "localhost", "/photos/k?uploadId=u1", http.Header{"X-Amz-Copy-Source": {"/a/b"}}, OpUnsupported, "photos", "k", ErrInvalidArgument},
		{"post object without query", "POST", "localhost", "/photos/k", nil, OpUnsupported, "photos", "k", ErrMethodNotAllowed},
		{"post root", "POST", "localhost", "/", nil, OpUnsupported, "", "", ErrMethodNotAllowed},
		{"upload part copy", "PUT", "localhost", "/photos/k?partNumber=2&uploadId=u1", http.Header{"X-Amz-Copy-Source": {"/a/b"}}, OpUploadPartCopy, "photos", "k", ""},
		{"complete multipart upload", "POST", "localhost", "/photos/k?uploadId=u1", nil, OpCompleteMultipartUpload, "photos", "k", ""},
		{"abort multipart upload", "DELETE", "localhost", "/photos/k?uploadId=u1", nil, OpAbortMultipartUpload, "photos", "k", ""},
		{"list parts", "GET", "localhost", "/photos/k?uploadId=u1&max-parts=3", nil, OpListParts, "photos", "k", ""},
		{"list multipart uploads", "GET", "localhost", "/photos?uploads&prefix=a", nil, OpListMultipartUploads, "photos", "", ""},
		{"get part", "GET", "localhost", "/photos/k?partNumber=3", nil, OpGetObject, "photos", "k", ""},
		{"head part", "HEAD", "localhost", "/photos/k?partNumber=1&versionId=v", nil, OpHeadObject, "photos", "k", ""},
		{"object attributes", "GET", "localhost", "/photos/k?attributes", nil, OpGetObjectAttributes, "photos", "k", ""},
		{"post object uploads on bucket", "POST", "localhost", "/photos?uploads", nil, OpUnsupported, "photos", "", ErrNotImplemented},
		{"multi delete", "POST", "localhost", "/photos?delete", nil, OpDeleteObjects, "photos", "", ""},
		{"acl on object", "PUT", "localhost", "/photos/k?acl", nil, OpPutObjectACL, "photos", "k", ""},
		{"get bucket acl", "GET", "localhost", "/photos?acl", nil, OpGetBucketACL, "photos", "", ""},
		{"patch", "PATCH", "localhost", "/photos/k", nil, OpUnsupported, "photos", "k", ErrNotImplemented},
		{"options", "OPTIONS", "localhost", "/photos", nil, OpPreflight, "photos", "", ""},
		{"options on object", "OPTIONS", "localhost", "/photos/a/b", nil, OpPreflight, "photos", "a/b", ""},
		{"copy object", "PUT", "localhost", "/photos/k", http.Header{"X-Amz-Copy-Source": {"/a/b"}}, OpCopyObject, "photos", "k", ""},
		{"delete version", "DELETE", "localhost", "/photos/k?versionId=3", nil, OpDeleteObject, "photos", "k", ""},
		{"put object", "PUT", "localhost", "/photos/a/b/c.jpg", nil, OpPutObject, "photos", "a/b/c.jpg", ""},
		{"get object", "GET", "localhost", "/photos/a%20b+c", nil, OpGetObject, "photos", "a b+c", ""},
		{"get object encoded slash", "GET", "localhost", "/photos/a%2Fb", nil, OpGetObject, "photos", "a/b", ""},
		{"key with double slash", "GET", "localhost", "/photos//x//y", nil, OpGetObject, "photos", "/x//y", ""},
		{"key dot dot", "GET", "localhost", "/photos/../x", nil, OpGetObject, "photos", "../x", ""},
		{"head object", "HEAD", "localhost", "/photos/k", nil, OpHeadObject, "photos", "k", ""},
		{"delete object", "DELETE", "localhost", "/photos/k", nil, OpDeleteObject, "photos", "k", ""},
		{"response overrides", "GET", "localhost", "/photos/k?response-content-type=text/plain", nil, OpGetObject, "photos", "k", ""},
		{"virtual host bucket", "PUT", "photos.s3.example.com", "/", nil, OpCreateBucket, "photos", "", ""},
		{"virtual host object", "GET", "photos.s3.example.com:9000", "/a/b", nil, OpGetObject, "photos", "a/b", ""},
		{"virtual host list", "GET", "photos.s3.example.com", "/?list-type=2", nil, OpListObjectsV2, "photos", "", ""},
		{"domain itself is path style", "GET", "s3.example.com", "/photos/k", nil, OpGetObject, "photos", "k", ""},
		{"invalid bucket", "PUT", "localhost", "/Bad_Bucket", nil, OpCreateBucket, "Bad_Bucket", "", ErrInvalidBucketName},
		{"invalid virtual host bucket", "GET", "ab.s3.example.com", "/k", nil, OpGetObject, "ab", "k", ErrInvalidBucketName},
		{"key too long", "GET", "localhost", "/photos/" + strings.Repeat("k", 1025), nil, OpGetObject, "photos", strings.Repeat("k", 1025), ErrKeyTooLongError},
		{"invalid utf8 key", "GET", "localhost", "/photos/%ff", nil, OpGetObject, "photos", "\xff", ErrInvalidArgument},
		{"bad query", "GET", "localhost", "/photos?a=%zz", nil, OpUnsupported, "", "", ErrInvalidURI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://"+tt.host+tt.target, nil)
			r.Host = tt.host
			for k, v := range tt.header {
				r.Header[k] = v
			}
			rt := resolve(r, domains)
			if rt.Op != tt.op || rt.Bucket != tt.bucket || rt.Key != tt.key {
				t.Fatalf("resolve = op %q bucket %q key %q; want %q %q %q", rt.Op, rt.Bucket, rt.Key, tt.op, tt.bucket, tt.key)
			}
			got := ""
			if rt.Err != nil {
				got = rt.Err.Code
			}
			if got != tt.errCode {
				t.Fatalf("error code = %q, want %q (%v)", got, tt.errCode, rt.Err)
			}
		})
	}
}

// FuzzResolve checks that no method, host, path or query makes routing
// panic, and that every refusal is an error from the table.
func FuzzResolve(f *testing.F) {
	seeds := [][3]string{
		{"GET", "localhost", "/"},
		{"PUT", "b.s3.example.com", "/k?acl"},
		{"GET", "localhost", "/bucket/key?list-type=2&prefix=%2F"},
		{"DELETE", "[::1]:80", "//"},
		{"POST", "x", "/a/b?uploads&uploadId=1"},
		{"GET", "s3.example.com.", "/..%2f..?location"},
		{"HEAD", "a..b.s3.example.com", "/%00"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, method, host, target string) {
		r, err := http.NewRequest(http.MethodGet, "http://localhost/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Method, r.Host = method, host
		path, query, _ := strings.Cut(target, "?")
		r.URL.Path, r.URL.RawQuery = path, query
		rt := resolve(r, []string{"s3.example.com"})
		if rt.Err != nil {
			if _, ok := errorTable[rt.Err.Code]; !ok {
				t.Fatalf("error code %q not in the table", rt.Err.Code)
			}
			return
		}
		if rt.Op == OpUnsupported {
			t.Fatalf("unsupported op without an error for %q %q %q", method, host, target)
		}
	})
}
