package sigv4

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// oddKeys are object keys whose encoding tends to go wrong.
var oddKeys = []string{
	"plain.txt",
	"with space.txt",
	"a+b=c&d.txt",
	"ünï©ødé/日本語.txt",
	"tilde~name",
	"odd$chars,;:@!'()*[]{}^`|\"<>#?.txt",
	"percent%25literal%",
	"dir/",
	"double//slash",
	"../dots/./x",
	"-_.~",
}

type reqSpec struct {
	method  string
	host    string // virtual-host style when it starts with the bucket
	path    string // escaped path, from escapeKey
	query   string // raw, already encoded
	body    []byte
	payload string // x-amz-content-sha256; "" leaves the header out
	header  http.Header
}

func escapeKey(bucket, key string, vhost bool) string {
	if vhost {
		return "/" + httpbinding.EscapePath(key, false)
	}
	return "/" + bucket + "/" + httpbinding.EscapePath(key, false)
}

func (s reqSpec) build(t testing.TB) *http.Request {
	t.Helper()
	u := "http://" + s.host + s.path
	if s.query != "" {
		u += "?" + s.query
	}
	var body io.Reader
	if s.body != nil {
		body = bytes.NewReader(s.body)
	}
	req, err := http.NewRequest(s.method, u, body)
	if err != nil {
		t.Fatalf("new request %s: %v", u, err)
	}
	for k, vs := range s.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if s.payload != "" {
		req.Header.Set("X-Amz-Content-Sha256", s.payload)
	}
	return req
}

// signHeader signs with the SDK's SignHTTP and returns the request as the
// server receives it.
func (s reqSpec) signHeader(t testing.TB, creds aws.Credentials, service, region string, at time.Time) *http.Request {
	t.Helper()
	req := s.build(t)
	hash := s.payload
	if hash == "" {
		hash = sha256Hex(s.body)
	}
	if err := sdkSigner().SignHTTP(context.Background(), creds, req, hash, service, region, at); err != nil {
		t.Fatalf("sign: %v", err)
	}
	return req
}

// presign uses the SDK's PresignHTTP; the returned request carries the
// headers the SDK says must be sent with the URL.
func (s reqSpec) presign(t testing.TB, creds aws.Credentials, region string, at time.Time, expires time.Duration) *http.Request {
	t.Helper()
	req := s.build(t)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10))
	req.URL.RawQuery = q.Encode()
	hash := s.payload
	if hash == "" {
		hash = unsignedPayload
	}
	signed, hdr, err := sdkSigner().PresignHTTP(context.Background(), creds, req, hash, "s3", region, at)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	var body io.Reader
	if s.body != nil {
		body = bytes.NewReader(s.body)
	}
	out, err := http.NewRequest(s.method, signed, body)
	if err != nil {
		t.Fatalf("new presigned request %s: %v", signed, err)
	}
	for k, vs := range hdr {
		if strings.EqualFold(k, "host") {
			continue
		}
		out.Header[k] = vs
	}
	return out
}

func mustVerify(t *testing.T, v *Verifier, r *http.Request) *Result {
	t.Helper()
	res, err := v.Verify(r)
	if err != nil {
		t.Fatalf("verify %s %s: %v", r.Method, r.RequestURI, err)
	}
	return res
}

func TestVerifyHeaderSignedBySDK(t *testing.T) {
	queries := []string{
		"",
		"list-type=2&prefix=a%20b&delimiter=%2F",
		"uploads",
		"partNumber=1&uploadId=x%2By%3Dz",
		"prefix=form+space",
		"versionId=v~1&empty=&dup=b&dup=a",
		"tagging&x-id=GetObjectTagging",
	}
	v := testVerifier(testNow)
	for i, key := range oddKeys {
		for _, vhost := range []bool{false, true} {
			host := "localhost:9000"
			if vhost {
				host = "photos.s3.anvil.test:9000"
			}
			for _, tc := range []struct {
				name    string
				method  string
				body    []byte
				payload string
			}{
				{"get", http.MethodGet, nil, emptySHA256},
				{"put-signed", http.MethodPut, []byte("hello, anvil"), sha256Hex([]byte("hello, anvil"))},
				{"put-unsigned", http.MethodPut, []byte("unsigned body"), unsignedPayload},
			} {
				name := tc.name + "/" + key
				if vhost {
					name += "/vhost"
				}
				t.Run(name, func(t *testing.T) {
					spec := reqSpec{
						method:  tc.method,
						host:    host,
						path:    escapeKey("photos", key, vhost),
						query:   queries[i%len(queries)],
						body:    tc.body,
						payload: tc.payload,
						header: http.Header{
							"X-Amz-Meta-Spaced": {"  many   inner    spaces  "},
							"X-Amz-Meta-Multi":  {"one", "two"},
							"Content-Type":      {"text/plain"},
						},
					}
					res := mustVerify(t, v, toServer(t, spec.signHeader(t, testCreds(), "s3", testRegion, testNow.Add(-time.Minute))))
					if res.AccessKeyID != testAKID || res.Anonymous {
						t.Fatalf("result = %+v", res)
					}
					got, err := io.ReadAll(res.Body)
					if err != nil {
						t.Fatalf("read body: %v", err)
					}
					if !bytes.Equal(got, tc.body) {
						t.Fatalf("body = %q, want %q", got, tc.body)
					}
					if res.DecodedLength != int64(len(tc.body)) {
						t.Fatalf("decoded length = %d, want %d", res.DecodedLength, len(tc.body))
					}
					if res.Trailers() != nil {
						t.Fatalf("unexpected trailers %v", res.Trailers())
					}
				})
			}
		}
	}
}

func TestVerifyHeaderRejects(t *testing.T) {
	base := reqSpec{
		method:  http.MethodGet,
		host:    "localhost:9000",
		path:    escapeKey("photos", "ünï code/a+b.txt", false),
		query:   "versionId=v1&prefix=a%20b",
		payload: emptySHA256,
		header:  http.Header{"X-Amz-Meta-Color": {"blue"}},
	}
	sign := func(t *testing.T) *http.Request {
		return base.signHeader(t, testCreds(), "s3", testRegion, testNow)
	}
	tests := []struct {
		name string
		req  func(t *testing.T) *http.Request
		code string
	}{
		{"wrong secret", func(t *testing.T) *http.Request {
			return base.signHeader(t, aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "nope"}, "s3", testRegion, testNow)
		}, CodeSignatureDoesNotMatch},
		{"unknown key", func(t *testing.T) *http.Request {
			return base.signHeader(t, aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: testSecret}, "s3", testRegion, testNow)
		}, CodeInvalidAccessKeyID},
		{"skewed past", func(t *testing.T) *http.Request {
			return base.signHeader(t, testCreds(), "s3", testRegion, testNow.Add(-16*time.Minute))
		}, CodeRequestTimeTooSkewed},
		{"skewed future", func(t *testing.T) *http.Request {
			return base.signHeader(t, testCreds(), "s3", testRegion, testNow.Add(16*time.Minute))
		}, CodeRequestTimeTooSkewed},
		{"wrong region", func(t *testing.T) *http.Request {
			return base.signHeader(t, testCreds(), "s3", "eu-west-1", testNow)
		}, CodeAuthorizationHeaderMalformed},
		{"wrong service", func(t *testing.T) *http.Request {
			return base.signHeader(t, testCreds(), "execute-api", testRegion, testNow)
		}, CodeAuthorizationHeaderMalformed},
		{"tampered path", func(t *testing.T) *http.Request {
			r := sign(t)
			r.URL.Path, r.URL.RawPath = "/photos/other.txt", ""
			return r
		}, CodeSignatureDoesNotMatch},
		{"tampered query", func(t *testing.T) *http.Request {
			r := sign(t)
			r.URL.RawQuery += "&versionId=v2"
			return r
		}, CodeSignatureDoesNotMatch},
		{"tampered method", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Method = http.MethodDelete
			return r
		}, CodeSignatureDoesNotMatch},
		{"tampered host", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Host = "evil:9000"
			return r
		}, CodeSignatureDoesNotMatch},
		{"tampered signed header", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("X-Amz-Meta-Color", "red")
			return r
		}, CodeSignatureDoesNotMatch},
		{"unsigned x-amz header", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("X-Amz-Acl", "public-read")
			return r
		}, CodeAccessDenied},
		{"host not signed", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
			return r
		}, CodeAccessDenied},
		{"missing x-amz-content-sha256", func(t *testing.T) *http.Request {
			s := base
			s.payload = ""
			return s.signHeader(t, testCreds(), "s3", testRegion, testNow)
		}, CodeInvalidRequest},
		{"invalid x-amz-content-sha256", func(t *testing.T) *http.Request {
			s := base
			s.payload = "not-a-hash"
			return s.signHeader(t, testCreds(), "s3", testRegion, testNow)
		}, CodeInvalidArgument},
		{"sigv4a streaming", func(t *testing.T) *http.Request {
			s := base
			s.payload = streamingECDSA
			return s.signHeader(t, testCreds(), "s3", testRegion, testNow)
		}, CodeNotImplemented},
		{"missing date", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Del("X-Amz-Date")
			return r
		}, CodeAccessDenied},
		{"bad date", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("X-Amz-Date", "2026-03-14T15:09:26Z")
			return r
		}, CodeAccessDenied},
		{"credential date differs from x-amz-date", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testNow.Format("20060102"), "20260313", 1))
			return r
		}, CodeAuthorizationHeaderMalformed},
		{"signature v2", func(t *testing.T) *http.Request {
			r := base.build(t)
			r.Header.Set("Authorization", "AWS "+testAKID+":frJIUN8DYpKDtOLCwo//yllqDzg=")
			return r
		}, CodeInvalidRequest},
		{"sigv4a", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
			return r
		}, CodeNotImplemented},
		{"unknown scheme", func(t *testing.T) *http.Request {
			r := base.build(t)
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, CodeInvalidArgument},
		{"malformed credential", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "", 1))
			return r
		}, CodeAuthorizationHeaderMalformed},
		{"wrong terminator", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "/aws5_request", 1))
			return r
		}, CodeAuthorizationHeaderMalformed},
		{"short signature", func(t *testing.T) *http.Request {
			r := sign(t)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-2])
			return r
		}, CodeAuthorizationHeaderMalformed},
		{"two authorization headers", func(t *testing.T) *http.Request {
			r := sign(t)
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}, CodeInvalidArgument},
		{"header and query auth", func(t *testing.T) *http.Request {
			r := sign(t)
			r.URL.RawQuery += "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
			return r
		}, CodeInvalidArgument},
		{"badly escaped query", func(t *testing.T) *http.Request {
			r := sign(t)
			r.URL.RawQuery += "&bad=%zz"
			return r
		}, CodeInvalidArgument},
	}
	v := testVerifier(testNow)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(toServer(t, tc.req(t)))
			if err == nil {
				t.Fatalf("verify succeeded: %+v", res)
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestVerifySkewBoundary(t *testing.T) {
	spec := reqSpec{method: http.MethodGet, host: "localhost:9000", path: "/b/k", payload: emptySHA256}
	for _, d := range []time.Duration{-14 * time.Minute, 14 * time.Minute, 15 * time.Minute} {
		t.Run(d.String(), func(t *testing.T) {
			mustVerify(t, testVerifier(testNow), toServer(t, spec.signHeader(t, testCreds(), "s3", testRegion, testNow.Add(d))))
		})
	}
}

func TestVerifyAnonymous(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		body    []byte
		code    string // on Verify
		readErr string
	}{
		{"no body", "", nil, "", ""},
		{"plain body", "", []byte("abc"), "", ""},
		{"declared hash ok", sha256Hex([]byte("abc")), []byte("abc"), "", ""},
		{"declared hash wrong", sha256Hex([]byte("abd")), []byte("abc"), "", CodeXAmzContentSHA256Mismatch},
		{"signed streaming", streamingSigned, []byte("x"), CodeInvalidRequest, ""},
		// Without a signature a value that is no sha256 is a claim the
		// body cannot meet, not a malformed argument.
		{"not a hash, empty body", "incorrect_hash", nil, CodeXAmzContentSHA256Mismatch, ""},
		{"not a hash, body", "incorrect_hash", []byte("abc"), "", CodeXAmzContentSHA256Mismatch},
		{"sigv4a streaming", streamingECDSA, []byte("x"), CodeNotImplemented, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", payload: tc.payload, body: tc.body}
			res, err := testVerifier(testNow).Verify(toServer(t, s.build(t)))
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !res.Anonymous || res.AccessKeyID != "" {
				t.Fatalf("result = %+v, want anonymous", res)
			}
			got, err := io.ReadAll(res.Body)
			if tc.readErr != "" {
				wantCode(t, err, tc.readErr)
				return
			}
			if err != nil || !bytes.Equal(got, tc.body) {
				t.Fatalf("body = %q, %v", got, err)
			}
		})
	}
}

func TestVerifyPayloadHashMismatch(t *testing.T) {
	t.Run("surfaces on read", func(t *testing.T) {
		s := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", body: []byte("hello world"), payload: sha256Hex([]byte("hello world"))}
		r := s.signHeader(t, testCreds(), "s3", testRegion, testNow)
		r.Body = io.NopCloser(strings.NewReader("hello World"))
		res := mustVerify(t, testVerifier(testNow), toServer(t, r))
		got, err := io.ReadAll(res.Body)
		wantCode(t, err, CodeXAmzContentSHA256Mismatch)
		if len(got) != len("hello World") {
			t.Fatalf("read %d bytes before the error", len(got))
		}
		if _, err := res.Body.Read(make([]byte, 1)); err == nil {
			t.Fatal("error is not sticky")
		}
		wantCode(t, err, CodeXAmzContentSHA256Mismatch)
	})
	t.Run("empty body checked at once", func(t *testing.T) {
		s := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", payload: sha256Hex([]byte("x"))}
		_, err := testVerifier(testNow).Verify(toServer(t, s.signHeader(t, testCreds(), "s3", testRegion, testNow)))
		wantCode(t, err, CodeXAmzContentSHA256Mismatch)
	})
}

func TestVerifyPresignedBySDK(t *testing.T) {
	v := testVerifier(testNow)
	for _, key := range oddKeys {
		for _, tc := range []struct {
			name    string
			method  string
			body    []byte
			payload string
			header  http.Header
		}{
			{"get", http.MethodGet, nil, "", nil},
			{"put", http.MethodPut, []byte("presigned body"), "", http.Header{"X-Amz-Meta-Owner": {"me"}, "Content-Type": {"text/plain"}}},
			{"put-with-hash", http.MethodPut, []byte("hashed"), sha256Hex([]byte("hashed")), nil},
		} {
			t.Run(tc.name+"/"+key, func(t *testing.T) {
				s := reqSpec{method: tc.method, host: "photos.s3.anvil.test", path: escapeKey("photos", key, true),
					query: "response-content-type=text%2Fplain&x=a%20b", body: tc.body, payload: tc.payload, header: tc.header}
				res := mustVerify(t, v, toServer(t, s.presign(t, testCreds(), testRegion, testNow.Add(-time.Hour), 2*time.Hour)))
				got, err := io.ReadAll(res.Body)
				if err != nil || !bytes.Equal(got, tc.body) {
					t.Fatalf("body = %q, %v", got, err)
				}
				if res.AccessKeyID != testAKID {
					t.Fatalf("access key = %q", res.AccessKeyID)
				}
			})
		}
	}
}

func TestVerifyPresignedRejects(t *testing.T) {
	base := reqSpec{method: http.MethodGet, host: "localhost:9000", path: escapeKey("photos", "a b+c.txt", false), query: "versionId=1"}
	ok := func(t *testing.T) *http.Request {
		return base.presign(t, testCreds(), testRegion, testNow.Add(-time.Minute), 15*time.Minute)
	}
	editQuery := func(r *http.Request, f func(q url.Values)) *http.Request {
		q := r.URL.Query()
		f(q)
		r.URL.RawQuery = q.Encode()
		return r
	}
	tests := []struct {
		name string
		req  func(t *testing.T) *http.Request
		code string
	}{
		{"expired", func(t *testing.T) *http.Request {
			return base.presign(t, testCreds(), testRegion, testNow.Add(-time.Hour), 15*time.Minute)
		}, CodeAccessDenied},
		{"not valid yet", func(t *testing.T) *http.Request {
			return base.presign(t, testCreds(), testRegion, testNow.Add(20*time.Minute), 15*time.Minute)
		}, CodeAccessDenied},
		{"expires beyond a week", func(t *testing.T) *http.Request {
			return base.presign(t, testCreds(), testRegion, testNow, 7*24*time.Hour+time.Second)
		}, CodeAuthorizationQueryParametersError},
		{"wrong secret", func(t *testing.T) *http.Request {
			return base.presign(t, aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "x"}, testRegion, testNow, time.Minute)
		}, CodeSignatureDoesNotMatch},
		{"unknown key", func(t *testing.T) *http.Request {
			return base.presign(t, aws.Credentials{AccessKeyID: "nobody", SecretAccessKey: "x"}, testRegion, testNow, time.Minute)
		}, CodeInvalidAccessKeyID},
		{"wrong region", func(t *testing.T) *http.Request {
			return base.presign(t, testCreds(), "ap-south-1", testNow, time.Minute)
		}, CodeAuthorizationQueryParametersError},
		{"tampered expiry", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Set("X-Amz-Expires", "3600") })
		}, CodeSignatureDoesNotMatch},
		{"tampered parameter", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Set("versionId", "2") })
		}, CodeSignatureDoesNotMatch},
		{"extra parameter", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Set("acl", "") })
		}, CodeSignatureDoesNotMatch},
		{"missing date", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Del("X-Amz-Date") })
		}, CodeAuthorizationQueryParametersError},
		{"repeated signature", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Add("X-Amz-Signature", q.Get("X-Amz-Signature")) })
		}, CodeAuthorizationQueryParametersError},
		{"negative expiry", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Set("X-Amz-Expires", "-1") })
		}, CodeAuthorizationQueryParametersError},
		{"non-numeric expiry", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Set("X-Amz-Expires", "1h") })
		}, CodeAuthorizationQueryParametersError},
		{"other algorithm", func(t *testing.T) *http.Request {
			return editQuery(ok(t), func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA512") })
		}, CodeAuthorizationQueryParametersError},
		{"unsigned x-amz header", func(t *testing.T) *http.Request {
			r := ok(t)
			r.Header.Set("X-Amz-Acl", "public-read")
			return r
		}, CodeAccessDenied},
		{"signature v2 query", func(t *testing.T) *http.Request {
			r := base.build(t)
			r.URL.RawQuery = "AWSAccessKeyId=" + testAKID + "&Expires=1&Signature=abc"
			return r
		}, CodeInvalidRequest},
	}
	v := testVerifier(testNow)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(toServer(t, tc.req(t)))
			if err == nil {
				t.Fatalf("verify succeeded: %+v", res)
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestCanonicalURI(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "/", true},
		{"/", "/", true},
		{"/b/a%20b", "/b/a%20b", true},
		{"/b/a b", "/b/a%20b", true},
		{"/b/a+b", "/b/a%2Bb", true},
		{"/b/a%2bb", "/b/a%2Bb", true},
		{"/b/%7Etilde~", "/b/~tilde~", true},
		{"/b/a%2Fb", "/b/a%2Fb", true},
		{"/b/$&=", "/b/%24%26%3D", true},
		{"/b/\xe6\x97\xa5", "/b/%E6%97%A5", true},
		{"/b/%", "", false},
		{"/b/%2", "", false},
		{"/b/%zz", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := canonicalURI(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("canonicalURI(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"", ""},
		{"uploads", "uploads="},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1&a=10", "a=1&a=10&a=2"},
		{"p=a+b&q=a%20b&r=a%2Bb", "p=a%20b&q=a%20b&r=a%2Bb"},
		{"k=~.-_&sl=/&&semi=a;b", "k=~.-_&semi=a%3Bb&sl=%2F"},
		{"X-Amz-Signature=abc&z=1", "z=1"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			params, ok := parseQuery(tc.raw)
			if !ok {
				t.Fatalf("parseQuery(%q) failed", tc.raw)
			}
			if got := canonicalQuery(params, qSignature); got != tc.want {
				t.Fatalf("canonicalQuery(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestErrorStatuses(t *testing.T) {
	for _, code := range Codes() {
		t.Run(code, func(t *testing.T) {
			e := newError(code, "m")
			if e.HTTPStatus < 400 || e.HTTPStatus > 599 {
				t.Fatalf("status %d", e.HTTPStatus)
			}
			if !strings.Contains(e.Error(), code) {
				t.Fatalf("Error() = %q", e.Error())
			}
		})
	}
}

// TestVerifyDateHeader covers clients that send Date instead of X-Amz-Date;
// the canonical request is written out by hand from the SigV4 spec.
func TestVerifyDateHeader(t *testing.T) {
	date := testNow.Format(http.TimeFormat)
	canonical := "GET\n/b/k\n\ndate:" + date + "\nhost:localhost:9000\nx-amz-content-sha256:" + emptySHA256 +
		"\n\ndate;host;x-amz-content-sha256\n" + emptySHA256
	cs := newChunkSigner(testSecret, testNow, testRegion, "")
	sts := "AWS4-HMAC-SHA256\n" + cs.amzDate + "\n" + cs.scope + "\n" + sha256Hex([]byte(canonical))
	authz := "AWS4-HMAC-SHA256 Credential=" + testAKID + "/" + cs.scope + ", SignedHeaders=date;host;x-amz-content-sha256, Signature=" +
		hexMAC(cs.key, sts)
	build := func(date string) *http.Request {
		r := (reqSpec{method: http.MethodGet, host: "localhost:9000", path: "/b/k", payload: emptySHA256}).build(t)
		r.Header.Set("Date", date)
		r.Header.Set("Authorization", authz)
		return toServer(t, r)
	}
	t.Run("valid", func(t *testing.T) {
		mustVerify(t, testVerifier(testNow), build(date))
	})
	t.Run("date changed", func(t *testing.T) {
		_, err := testVerifier(testNow).Verify(build(testNow.Add(time.Second).Format(http.TimeFormat)))
		wantCode(t, err, CodeSignatureDoesNotMatch)
	})
	t.Run("unparseable date", func(t *testing.T) {
		_, err := testVerifier(testNow).Verify(build("yesterday"))
		wantCode(t, err, CodeAccessDenied)
	})
	t.Run("no credentials store", func(t *testing.T) {
		v := testVerifier(testNow)
		v.Credentials = nil
		_, err := v.Verify(build(date))
		wantCode(t, err, CodeInvalidAccessKeyID)
	})
}

func hexMAC(key []byte, s string) string {
	return hex.EncodeToString(hmacSHA256(key, s))
}
