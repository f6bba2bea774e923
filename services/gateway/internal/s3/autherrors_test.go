package s3_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
)

// authErrorBody is an error body with the extra elements AWS adds to
// authentication errors.
type authErrorBody struct {
	Code                        string
	Message                     string
	AWSAccessKeyId              string
	ArgumentName                string
	ArgumentValue               string
	ClientComputedContentSHA256 string
	S3ComputedContentSHA256     string
	SignatureProvided           string
	StringToSign                string
	HeadersNotSigned            string
	Region                      string
	Resource                    string
	RequestID                   string `xml:"RequestId"`
}

func authError(t *testing.T, req *http.Request, status int, code string) authErrorBody {
	t.Helper()
	resp, body := do(t, req)
	checkXMLError(t, resp, body, status, code)
	var b authErrorBody
	if err := xml.Unmarshal(body, &b); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	// The extra elements sit between Message and Resource, as in AWS.
	if i, j := strings.Index(string(body), "</Message>"), strings.Index(string(body), "<Resource>"); i < 0 || j < i {
		t.Fatalf("element order in %s", body)
	}
	return b
}

func TestAuthErrorBodiesCarryAWSElements(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "authbody")

	t.Run("unknown access key", func(t *testing.T) {
		req := e.signedRequest(t, http.MethodGet, "/authbody", nil, nil, "")
		req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "Credential="+testKey, "Credential=NOSUCHKEY", 1))
		b := authError(t, req, http.StatusForbidden, "InvalidAccessKeyId")
		if b.AWSAccessKeyId != "NOSUCHKEY" {
			t.Fatalf("AWSAccessKeyId = %q", b.AWSAccessKeyId)
		}
	})
	t.Run("payload hash mismatch", func(t *testing.T) {
		const claimed = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b854"
		req := e.signedRequest(t, http.MethodPut, "/authbody/k", nil, nil, claimed)
		b := authError(t, req, http.StatusBadRequest, "XAmzContentSHA256Mismatch")
		if b.ClientComputedContentSHA256 != claimed || b.S3ComputedContentSHA256 != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
			t.Fatalf("hashes %q / %q", b.ClientComputedContentSHA256, b.S3ComputedContentSHA256)
		}
	})
	t.Run("authorization header without a space", func(t *testing.T) {
		req := e.signedRequest(t, http.MethodGet, "/authbody", nil, nil, "")
		req.Header.Set("Authorization", "invalid_header")
		b := authError(t, req, http.StatusBadRequest, "InvalidArgument")
		if b.ArgumentName != "Authorization" || b.ArgumentValue != "invalid_header" ||
			b.Message != "Authorization header is invalid -- one and only one ' ' (space) required." {
			t.Fatalf("body %+v", b)
		}
	})
	t.Run("wrong signature", func(t *testing.T) {
		req := e.signedRequest(t, http.MethodGet, "/authbody", nil, nil, "")
		authz := req.Header.Get("Authorization")
		bad := strings.Repeat("0", 64)
		req.Header.Set("Authorization", authz[:strings.LastIndex(authz, "=")+1]+bad)
		b := authError(t, req, http.StatusForbidden, "SignatureDoesNotMatch")
		if b.AWSAccessKeyId != testKey || b.SignatureProvided != bad || !strings.HasPrefix(b.StringToSign, "AWS4-HMAC-SHA256\n") {
			t.Fatalf("body %+v", b)
		}
		if strings.Contains(b.StringToSign, testSecret) {
			t.Fatal("the secret leaked into the error body")
		}
	})
	t.Run("unsigned x-amz headers", func(t *testing.T) {
		req := e.signedRequest(t, http.MethodPut, "/authbody/k", nil, nil, "")
		req.Header.Set("X-Amz-Tagging", "a=b")
		req.Header.Set("X-Amz-Copy-Source", "authbody/x")
		b := authError(t, req, http.StatusForbidden, "AccessDenied")
		if b.HeadersNotSigned != "x-amz-copy-source, x-amz-tagging" || b.Message != "There were headers present in the request which were not signed" {
			t.Fatalf("body %+v", b)
		}
	})
	t.Run("session token with a permanent key", func(t *testing.T) {
		req := e.signedRequest(t, http.MethodGet, "/authbody", nil, http.Header{"X-Amz-Security-Token": {"tok"}}, "")
		authError(t, req, http.StatusBadRequest, "InvalidToken")
	})
}

func TestStreamingPayloadOnlyForObjectData(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "chunkedcfg")
	body := []byte("5\r\nabcde\r\n0\r\n\r\n")
	hdr := http.Header{"X-Amz-Decoded-Content-Length": {"5"}, "Content-Encoding": {"aws-chunked"}}
	for _, q := range []string{"tagging", "cors", "versioning"} {
		req := e.signedRequest(t, http.MethodPut, "/chunkedcfg?"+q, body, hdr.Clone(), "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
		b := authError(t, req, http.StatusBadRequest, "InvalidRequest")
		if b.Message != "The value of x-amz-content-sha256 header is invalid." {
			t.Fatalf("%s: message %q", q, b.Message)
		}
	}
	// The same body is object data for PutObject.
	req := e.signedRequest(t, http.MethodPut, "/chunkedcfg/obj", body, hdr.Clone(), "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	if resp, b := do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %d %s", resp.StatusCode, b)
	}
	if got, _, err := e.get(t, "chunkedcfg", "obj", ""); err != nil || string(got) != "abcde" {
		t.Fatalf("get: %q %v", got, err)
	}
}
