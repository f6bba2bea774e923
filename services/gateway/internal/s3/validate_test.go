package s3

import (
	"net/http"
	"strings"
	"testing"
)

func TestValidBucketName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"my-bucket", true},
		{"my.bucket.name", true},
		{"123", true},
		{"a1-b2.c3", true},
		{strings.Repeat("a", 63), true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"MyBucket", false},
		{"my_bucket", false},
		{"my bucket", false},
		{"-bucket", false},
		{"bucket-", false},
		{".bucket", false},
		{"bucket.", false},
		{"my..bucket", false},
		{"192.168.5.4", false},
		{"1.2.3.4", false},
		{"1.2.3.4.5", true},
		{"1.2.3.a", true},
		{"xn--bucket", false},
		{"sthree-bucket", false},
		{"amzn-s3-demo-bucket", false},
		{"bucket-s3alias", false},
		{"bucket--ol-s3", false},
		{"bucket.mrap", false},
		{"bucket--x-s3", false},
		{"bucket--table-s3", false},
		{"bücket", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validBucketName(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("validBucketName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && (err.Code != ErrInvalidBucketName || err.HTTPStatus != http.StatusBadRequest || err.Message != "The specified bucket is not valid.") {
				t.Fatalf("error = %+v, want InvalidBucketName 400 with AWS's message", err)
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		code string
	}{
		{"simple", "photo.jpg", ""},
		{"nested", "a/b/c", ""},
		{"unicode", "日本語/ключ", ""},
		{"spaces and symbols", "a b+c=d&e~f", ""},
		{"max length", strings.Repeat("k", 1024), ""},
		{"max length multibyte", strings.Repeat("é", 512), ""},
		{"empty", "", ErrInvalidArgument},
		{"too long", strings.Repeat("k", 1025), ErrKeyTooLongError},
		{"too long multibyte", strings.Repeat("é", 513), ErrKeyTooLongError},
		{"invalid utf8", "a\xffb", ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validKey(tt.key)
			got := ""
			if err != nil {
				got = err.Code
			}
			if got != tt.code {
				t.Fatalf("validKey = %v, want %q", err, tt.code)
			}
		})
	}
}

func TestUserMetadata(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   map[string]string
		code   string
	}{
		{"none", http.Header{"Content-Type": {"x"}}, nil, ""},
		{"lower-cased", http.Header{"X-Amz-Meta-Color": {"Blue"}}, map[string]string{"color": "Blue"}, ""},
		{"repeated values", http.Header{"X-Amz-Meta-Tag": {"a", "b"}}, map[string]string{"tag": "a,b"}, ""},
		{"at the limit", http.Header{"X-Amz-Meta-K": {strings.Repeat("v", 2047)}}, map[string]string{"k": strings.Repeat("v", 2047)}, ""},
		{"over the limit", http.Header{"X-Amz-Meta-K": {strings.Repeat("v", 2048)}}, nil, ErrMetadataTooLarge},
		{"over the limit in sum", http.Header{
			"X-Amz-Meta-A": {strings.Repeat("v", 1000)},
			"X-Amz-Meta-B": {strings.Repeat("v", 1000)},
			"X-Amz-Meta-C": {strings.Repeat("v", 100)},
		}, nil, ErrMetadataTooLarge},
		{"empty name", http.Header{"X-Amz-Meta-": {"v"}}, nil, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := userMetadata(tt.header)
			got := ""
			if err != nil {
				got = err.Code
			}
			if got != tt.code {
				t.Fatalf("error = %v, want %q", err, tt.code)
			}
			if tt.code != "" {
				return
			}
			if len(md) != len(tt.want) {
				t.Fatalf("metadata = %v, want %v", md, tt.want)
			}
			for k, v := range tt.want {
				if md[k] != v {
					t.Fatalf("metadata[%q] = %q, want %q", k, md[k], v)
				}
			}
		})
	}
}
