package s3

import (
	"net/url"
	"testing"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

func TestContinuationToken(t *testing.T) {
	for _, marker := range []string{"a", "photos/2024/", "日本/キー", "a b+c/=&?", string(make([]byte, 0)) + "x\x00y"} {
		t.Run(marker, func(t *testing.T) {
			tok := encodeToken(marker)
			if tok == marker {
				t.Fatalf("token is not opaque: %q", tok)
			}
			if url.QueryEscape(tok) != tok {
				t.Fatalf("token %q needs escaping in a query", tok)
			}
			got, err := decodeToken(tok)
			if err != nil || got != marker {
				t.Fatalf("decodeToken = %q, %v; want %q", got, err, marker)
			}
		})
	}
	for _, bad := range []string{"!!!", "a=", "%%", encodeToken("\xff\xfe")} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := decodeToken(bad); err == nil {
				t.Fatalf("decodeToken(%q) accepted", bad)
			}
		})
	}
}

func TestURLEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a b.txt", "a+b.txt"},
		{"a+b.txt", "a%2Bb.txt"},
		{"100%.csv", "100%25.csv"},
		{"한글/x.txt", "%ED%95%9C%EA%B8%80/x.txt"},
		{"run books/x.txt", "run+books/x.txt"},
		{"A-Z_a.z~0/9", "A-Z_a.z~0/9"},
		{"\x01\n", "%01%0A"},
		{"a=b&c?d#e", "a%3Db%26c%3Fd%23e"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := urlEncode(tt.in)
			if got != tt.want {
				t.Fatalf("urlEncode(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Clients decode with form unescaping (botocore's unquote_plus, Go's QueryUnescape).
			back, err := url.QueryUnescape(got)
			if err != nil || back != tt.in {
				t.Fatalf("QueryUnescape(%q) = %q, %v", got, back, err)
			}
		})
	}
}

func TestNextMarker(t *testing.T) {
	tests := []struct {
		name string
		resp *metadatav1.ListObjectsResponse
		want string
	}{
		{"given", &metadatav1.ListObjectsResponse{NextMarker: "m"}, "m"},
		{"last key", &metadatav1.ListObjectsResponse{Objects: []*metadatav1.ObjectVersion{{Key: "a"}, {Key: "c"}}}, "c"},
		{"prefix after key", &metadatav1.ListObjectsResponse{Objects: []*metadatav1.ObjectVersion{{Key: "a"}}, CommonPrefixes: []string{"b/"}}, "b/"},
		{"key after prefix", &metadatav1.ListObjectsResponse{Objects: []*metadatav1.ObjectVersion{{Key: "c"}}, CommonPrefixes: []string{"b/"}}, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextMarker(tt.resp); got != tt.want {
				t.Fatalf("nextMarker = %q, want %q", got, tt.want)
			}
		})
	}
}
