package s3

import (
	"net/http"
	"testing"
)

func TestParseCopySource(t *testing.T) {
	tests := []struct {
		raw                    string
		bucket, key, versionID string
		errMsg                 string
	}{
		{"bucket/key", "bucket", "key", "", ""},
		{"/bucket/dir/key.txt", "bucket", "dir/key.txt", "", ""},
		{"bucket/a%20b%2Bc", "bucket", "a b+c", "", ""},
		{"bucket/a+b", "bucket", "a+b", "", ""},
		{"bucket/%E6%97%A5%E6%9C%AC", "bucket", "日本", "", ""},
		{"bucket/key%3Fq?versionId=3f1e8a52-0c5e-4d7e-9b7a-000000000001", "bucket", "key?q", "3f1e8a52-0c5e-4d7e-9b7a-000000000001", ""},
		{"bucket/key?versionId=v1", "", "", "", "Invalid version id specified"},
		{"bucket/key?versionId=null", "bucket", "key", "null", ""},
		{"bucket/dots/../x", "bucket", "dots/../x", "", ""},
		{"bucket/key?versionId=", "", "", "", "Version id cannot be the empty string"},
		{"bucket/%ZZ", "", "", "", "Invalid copy source encoding"},
		{"100%/foo", "", "", "", "Invalid copy source encoding"},
		{"bucket/%C3%", "", "", "", "Invalid copy source encoding"},
		{"bucket/%ff", "", "", "", "Invalid copy source encoding"},
		{"%", "", "", "", "Invalid copy source encoding"},
		{"192.168.1.1/foo", "", "", "", "Invalid copy source bucket name"},
		{"my-buc@k&()t/obj", "", "", "", "Invalid copy source bucket name"},
		{"Copy-Source", "", "", "", "Invalid copy source bucket name"},
		{"", "", "", "", "Invalid copy source bucket name"},
		{"bucket", "", "", "", "Invalid copy source object key"},
		{"bucket/", "", "", "", "Invalid copy source object key"},
		{"bucket/.", "", "", "", "Invalid copy source object key"},
		{"bucket/..", "", "", "", "Invalid copy source object key"},
		{"bucket/foo/ba/../../../r/baz", "", "", "", "Invalid copy source object key"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			cs, e := parseCopySource(tt.raw)
			if tt.errMsg != "" {
				if e == nil || e.Code != ErrInvalidArgument || e.Message != tt.errMsg {
					t.Fatalf("error %v, want InvalidArgument %q", e, tt.errMsg)
				}
				return
			}
			if e != nil || cs.bucket != tt.bucket || cs.key != tt.key || cs.versionID != tt.versionID {
				t.Fatalf("got %+v %v", cs, e)
			}
		})
	}
}

func TestParseCopyRange(t *testing.T) {
	tests := []struct {
		v           string
		first, last int64
		ok          bool
	}{
		{"bytes=0-0", 0, 0, true},
		{"bytes=100-200", 100, 200, true},
		{"byte=100-200", 0, 0, false},
		{"bytes=invalid-range", 0, 0, false},
		{"bytes=200-100", 0, 0, false},
		{"bytes=-2-300", 0, 0, false},
		{"bytes=aa-12", 0, 0, false},
		{"bytes=12-aa", 0, 0, false},
		{"bytes=5-", 0, 0, false},
		{"bytes=-5", 0, 0, false},
		{"bytes=0-1,3-4", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			first, last, e := parseCopyRange(tt.v)
			if tt.ok != (e == nil) || first != tt.first || last != tt.last {
				t.Fatalf("got %d-%d %v", first, last, e)
			}
		})
	}
}

func TestParseDirective(t *testing.T) {
	for v, want := range map[string]string{"": "COPY", "COPY": "COPY", "REPLACE": "REPLACE", "replace": "", "MOVE": ""} {
		got, e := parseDirective(v, "metadata")
		if got != want || (want == "") != (e != nil) {
			t.Errorf("%q: %q %v", v, got, e)
		}
	}
}

func TestCopyChecksum(t *testing.T) {
	if got := copyChecksum("SHA1", nil); got != "SHA1" {
		t.Fatalf("requested: %s", got)
	}
	if got := copyChecksum("", nil); got != defaultChecksum {
		t.Fatalf("default: %s", got)
	}
	_, e := requestedChecksumAlgorithm(http.Header{"X-Amz-Checksum-Algorithm": {"md4"}})
	if e == nil || e.Code != ErrInvalidRequest {
		t.Fatalf("unknown algorithm: %v", e)
	}
}

func FuzzParseCopySource(f *testing.F) {
	for _, s := range []string{"bucket/key", "/b/k?versionId=1", "%", "bucket/%C3%", "a/../..", "bucket/k?versionId=&x=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cs, e := parseCopySource(raw)
		if e != nil {
			if e.Code != ErrInvalidArgument {
				t.Fatalf("code %s", e.Code)
			}
			return
		}
		if validBucketName(cs.bucket) != nil || validKey(cs.key) != nil {
			t.Fatalf("accepted %+v", cs)
		}
	})
}
