package s3_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
)

// TestRequestHeaderSectionLimit: AWS refuses a request whose header section
// exceeds 8 KiB with 400 RequestHeaderSectionTooLarge; a smaller one is served.
func TestRequestHeaderSectionLimit(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "hdrs")

	big := http.Header{"X-Amz-Custom-Header": {strings.Repeat("d", 8<<10)}}
	resp, body := do(t, e.signedRequest(t, http.MethodPut, "/hdrs/k", []byte("x"), big, ""))
	var got struct {
		Code           string
		Message        string
		MaxSizeAllowed int
	}
	if err := xml.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if resp.StatusCode != http.StatusBadRequest || got.Code != "RequestHeaderSectionTooLarge" || got.MaxSizeAllowed != 8192 ||
		got.Message != "Your request header section exceeds the maximum allowed size." {
		t.Fatalf("8 KiB header: %d %s", resp.StatusCode, body)
	}
	if _, _, err := e.get(t, "hdrs", "k", ""); err == nil {
		t.Fatal("the refused PUT stored the object")
	}

	ok := http.Header{"X-Amz-Custom-Header": {strings.Repeat("d", 6<<10)}}
	resp, body = do(t, e.signedRequest(t, http.MethodPut, "/hdrs/k", []byte("x"), ok, ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("6 KiB header: %d %s", resp.StatusCode, body)
	}
}
