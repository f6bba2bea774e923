package sigv4

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// wantError checks an error's code, its exact message (AWS's wording) and
// its extra body elements.
func wantError(t *testing.T, err error, code, msg string, fields ...Field) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want *Error %s", err, code)
	}
	if e.Code != code || e.Message != msg {
		t.Fatalf("got %s %q\nwant %s %q", e.Code, e.Message, code, msg)
	}
	for _, want := range fields {
		found := false
		for _, f := range e.Fields {
			if f.Name == want.Name {
				found = true
				if f.Value != want.Value {
					t.Fatalf("<%s> = %q, want %q", f.Name, f.Value, want.Value)
				}
			}
		}
		if !found {
			t.Fatalf("no <%s> element in %+v", want.Name, e.Fields)
		}
	}
	return e
}

var credentialRE = regexp.MustCompile("Credential=[^,]+,")

func TestHeaderAuthMessages(t *testing.T) {
	base := reqSpec{method: http.MethodGet, host: "localhost:9000", path: "/b/k", payload: emptySHA256}
	withAuth := func(t *testing.T, edit func(string) string) *http.Request {
		r := base.signHeader(t, testCreds(), "s3", testRegion, testNow)
		r.Header.Set("Authorization", edit(r.Header.Get("Authorization")))
		return r
	}
	setAuth := func(h string) func(string) string { return func(string) string { return h } }
	setCred := func(c string) func(string) string {
		return func(h string) string { return credentialRE.ReplaceAllString(h, "Credential="+c+",") }
	}
	const sig = "5fb279ae552098ea7c5c807df54cdb159e74939e19449b29831552639ec34b29"
	tests := []struct {
		name   string
		edit   func(string) string
		code   string
		msg    string
		fields []Field
	}{
		{"no space", setAuth("invalid_header"), CodeInvalidArgument,
			"Authorization header is invalid -- one and only one ' ' (space) required.",
			[]Field{{"ArgumentName", "Authorization"}, {"ArgumentValue", "invalid_header"}}},
		{"unknown type", func(h string) string { return strings.Replace(h, "AWS4-HMAC-SHA256", "AWS2-HMAC-SHA1", 1) },
			CodeInvalidArgument, "Unsupported Authorization Type",
			[]Field{{"ArgumentName", "Authorization"}, {"ArgumentValue", "AWS2-HMAC-SHA1"}}},
		{"two components", setAuth("AWS4-HMAC-SHA256 Credential=a/20250912/us-east-1/s3/aws4_request,Signature=" + sig),
			CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.", nil},
		{"component without =", setAuth("AWS4-HMAC-SHA256 Credential=a/20250912/us-east-1/s3/aws4_request,SignedHeaders-Content-Length,Signature=x"),
			CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; the authorization component \"SignedHeaders-Content-Length\" is malformed.", nil},
		{"missing Credential", setAuth("AWS4-HMAC-SHA256 missing_creds=a/20250912/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + sig),
			CodeAuthorizationHeaderMalformed, "The authorization header is malformed; missing Credential.", nil},
		{"missing SignedHeaders", setAuth("AWS4-HMAC-SHA256 Credential=a/20250912/us-east-1/s3/aws4_request,missing=host,Signature=" + sig),
			CodeAuthorizationHeaderMalformed, "The authorization header is malformed; missing SignedHeaders.", nil},
		{"missing Signature", setAuth("AWS4-HMAC-SHA256 Credential=a/20250912/us-east-1/s3/aws4_request,SignedHeaders=host,missing=" + sig),
			CodeAuthorizationHeaderMalformed, "The authorization header is malformed; missing Signature.", nil},
		{"credential shape", setCred("access/32234/us-east-1/s3/extra/things"), CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".", nil},
		// A bad date and a bad terminal: the terminal is reported first.
		{"terminal before date", setCred("access/32234/us-east-1/s3/aws_request"), CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; incorrect terminal \"aws_request\". This endpoint uses \"aws4_request\".", nil},
		{"service before date", setCred("access/32234/us-east-1/ec2/aws4_request"), CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; incorrect service \"ec2\". This endpoint belongs to \"s3\".", nil},
		{"region before date", setCred("access/32234/us-west-1/s3/aws4_request"), CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; the region \"us-west-1\" is wrong; expecting \"us-east-1\"",
			[]Field{{"Region", "us-east-1"}}},
		{"date format", setCred("access/3223423234/us-east-1/s3/aws4_request"), CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; incorrect date format \"3223423234\". This date in the credential must be in the format \"yyyyMMdd\".", nil},
		{"dates differ", setCred(testAKID + "/20250912/us-east-1/s3/aws4_request"), CodeAuthorizationHeaderMalformed,
			"The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.", nil},
		{"unknown key", setCred("nobody/20260314/us-east-1/s3/aws4_request"), CodeInvalidAccessKeyID,
			msgUnknownKey, []Field{{"AWSAccessKeyId", "nobody"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testVerifier(testNow).Verify(withAuth(t, tc.edit))
			wantError(t, err, tc.code, tc.msg, tc.fields...)
		})
	}
}

func TestHeaderAuthElements(t *testing.T) {
	t.Run("signature mismatch shows the string to sign", func(t *testing.T) {
		spec := reqSpec{method: http.MethodGet, host: "localhost:9000", path: "/b/k", payload: emptySHA256}
		r := spec.signHeader(t, aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "wrong"}, "s3", testRegion, testNow)
		_, err := testVerifier(testNow).Verify(r)
		provided := r.Header.Get("Authorization")[strings.LastIndex(r.Header.Get("Authorization"), "=")+1:]
		sts := "AWS4-HMAC-SHA256\n20260314T150926Z\n20260314/us-east-1/s3/aws4_request\n"
		e := wantError(t, err, CodeSignatureDoesNotMatch, msgSignatureMismatch,
			Field{"AWSAccessKeyId", testAKID}, Field{"SignatureProvided", provided})
		got := map[string]string{}
		for _, f := range e.Fields {
			got[f.Name] = f.Value
			if strings.Contains(f.Value, testSecret) || strings.Contains(f.Value, "wrong") {
				t.Fatalf("<%s> carries a secret: %q", f.Name, f.Value)
			}
		}
		if !strings.HasPrefix(got["StringToSign"], sts) || !strings.HasPrefix(got["CanonicalRequest"], "GET\n/b/k\n\n") {
			t.Fatalf("string to sign %q, canonical request %q", got["StringToSign"], got["CanonicalRequest"])
		}
		if !strings.HasPrefix(got["StringToSignBytes"], "41 57 53 34 2d") || len(got["CanonicalRequestBytes"]) != 3*len(got["CanonicalRequest"])-1 {
			t.Fatalf("byte dumps %q / %q", got["StringToSignBytes"], got["CanonicalRequestBytes"])
		}
	})
	t.Run("unsigned x-amz headers are listed in HeadersNotSigned", func(t *testing.T) {
		spec := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", payload: emptySHA256}
		r := spec.signHeader(t, testCreds(), "s3", testRegion, testNow)
		r.Header.Set("X-Amz-Copy-Source", "src/key")
		r.Header.Set("X-Amz-Tagging", "a=b")
		_, err := testVerifier(testNow).Verify(r)
		wantError(t, err, CodeAccessDenied, "There were headers present in the request which were not signed",
			Field{"HeadersNotSigned", "x-amz-copy-source, x-amz-tagging"})
	})
	t.Run("payload hash mismatch names both hashes", func(t *testing.T) {
		const claimed = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b854"
		spec := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", payload: claimed}
		_, err := testVerifier(testNow).Verify(toServer(t, spec.signHeader(t, testCreds(), "s3", testRegion, testNow)))
		wantError(t, err, CodeXAmzContentSHA256Mismatch, msgSHA256Mismatch,
			Field{"ClientComputedContentSHA256", claimed}, Field{"S3ComputedContentSHA256", emptySHA256})
	})
	t.Run("invalid payload hash value", func(t *testing.T) {
		spec := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", payload: "invalid_sha256"}
		_, err := testVerifier(testNow).Verify(spec.signHeader(t, testCreds(), "s3", testRegion, testNow))
		wantError(t, err, CodeInvalidArgument,
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
			Field{"ArgumentName", "x-amz-content-sha256"}, Field{"ArgumentValue", "invalid_sha256"})
	})
	t.Run("a session token with a permanent key", func(t *testing.T) {
		spec := reqSpec{method: http.MethodGet, host: "localhost:9000", path: "/b/k", payload: emptySHA256}
		r := spec.signHeader(t, aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: "tok"}, "s3", testRegion, testNow)
		_, err := testVerifier(testNow).Verify(r)
		wantError(t, err, CodeInvalidToken, msgInvalidToken)
	})
}

func TestPresignedAuthMessages(t *testing.T) {
	base := reqSpec{method: http.MethodDelete, host: "localhost:9000", path: "/b"}
	signed := func(t *testing.T) *http.Request {
		return base.presign(t, testCreds(), testRegion, testNow.Add(-time.Minute), 15*time.Minute)
	}
	// edit changes the URL after signing, as a client tampering with it would.
	edit := func(f func(q url.Values)) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := signed(t)
			q := r.URL.Query()
			f(q)
			r.URL.RawQuery = q.Encode()
			return r
		}
	}
	credPart := func(i int, v string) func(q url.Values) {
		return func(q url.Values) {
			parts := strings.Split(q.Get("X-Amz-Credential"), "/")
			parts[i] = v
			q.Set("X-Amz-Credential", strings.Join(parts, "/"))
		}
	}
	set := func(k, v string) func(q url.Values) { return func(q url.Values) { q.Set(k, v) } }
	const qpe = CodeAuthorizationQueryParametersError
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		code   string
		msg    string
		fields []Field
	}{
		{"unknown algorithm", edit(set("X-Amz-Algorithm", "AWS4-SHA256")), qpe,
			`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"`, nil},
		{"SigV4A", edit(set("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256")), qpe,
			`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`, nil},
		{"credential shape", edit(set("X-Amz-Credential", "access/hello/world")), qpe,
			`Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`, nil},
		{"terminal", edit(credPart(4, "aws5_request")), qpe,
			`Error parsing the X-Amz-Credential parameter; incorrect terminal "aws5_request". This endpoint uses "aws4_request".`, nil},
		{"service", edit(credPart(3, "sns")), qpe,
			`Error parsing the X-Amz-Credential parameter; incorrect service "sns". This endpoint belongs to "s3".`, nil},
		{"region", edit(credPart(2, "us-west-1")), qpe,
			`Error parsing the X-Amz-Credential parameter; the region "us-west-1" is wrong; expecting "us-east-1"`, nil},
		{"date format", edit(credPart(1, "32234Z34")), qpe,
			`Error parsing the X-Amz-Credential parameter; incorrect date format "32234Z34". This date in the credential must be in the format "yyyyMMdd".`, nil},
		{"dates differ", edit(credPart(1, "20060102")), qpe,
			`Invalid credential date "20060102". This date is not the same as X-Amz-Date: "20260314".`, nil},
		{"unknown key", edit(credPart(0, "nobody")), CodeInvalidAccessKeyID, msgUnknownKey,
			[]Field{{"AWSAccessKeyId", "nobody"}}},
		{"expires not a number", edit(set("X-Amz-Expires", "invalid")), qpe, "X-Amz-Expires should be a number", nil},
		{"expires negative", edit(set("X-Amz-Expires", "-3")), qpe, "X-Amz-Expires must be non-negative", nil},
		{"expires too long", edit(set("X-Amz-Expires", "604801")), qpe,
			"X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds", nil},
		{"bad X-Amz-Date", edit(set("X-Amz-Date", "2026")), qpe, `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`, nil},
		{"security token", edit(set("X-Amz-Security-Token", "my_token")), CodeInvalidToken, msgInvalidToken, nil},
		{"expired", func(t *testing.T) *http.Request {
			return base.presign(t, testCreds(), testRegion, testNow.Add(-time.Hour), 15*time.Minute)
		}, CodeAccessDenied, msgExpired, []Field{
			{"X-Amz-Expires", "900"}, {"Expires", "2026-03-14T14:24:26Z"}, {"ServerTime", "2026-03-14T15:09:26Z"},
		}},
		{"unsigned x-amz header", func(t *testing.T) *http.Request {
			r := signed(t)
			r.Header.Set("X-Amz-Tagging", "a=b")
			r.Header.Set("X-Amz-Copy-Source", "b/k")
			return r
		}, CodeAccessDenied, msgUnsignedHeaders, []Field{{"HeadersNotSigned", "x-amz-copy-source, x-amz-tagging"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testVerifier(testNow).Verify(tc.req(t))
			wantError(t, err, tc.code, tc.msg, tc.fields...)
		})
	}
}

func TestStreamingMessages(t *testing.T) {
	put := func(t *testing.T, body, decoded, trailer string) (*Result, error) {
		hdr := http.Header{"Content-Encoding": {"aws-chunked"}}
		if decoded != "" {
			hdr.Set("X-Amz-Decoded-Content-Length", decoded)
		}
		if trailer != "" {
			hdr.Set("X-Amz-Trailer", trailer)
		}
		spec := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", payload: streamingUnsignedTrailer, header: hdr, body: []byte(body)}
		return testVerifier(testNow).Verify(toServer(t, spec.signHeader(t, testCreds(), "s3", testRegion, testNow)))
	}
	readErr := func(t *testing.T, body, decoded, trailer string) error {
		res, err := put(t, body, decoded, trailer)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		_, err = readCounting(res.Body)
		return err
	}
	for _, decoded := range []string{"", "abc", "12x"} {
		_, err := put(t, "5\r\nhello\r\n0\r\n\r\n", decoded, "")
		e := wantError(t, err, CodeMissingContentLength, "You must provide the Content-Length HTTP header.")
		if e.HTTPStatus != http.StatusLengthRequired {
			t.Fatalf("status %d", e.HTTPStatus)
		}
	}
	wantError(t, readErr(t, "A\r\ndummy data0\r\n\r\n", "10", ""), CodeIncompleteBody, "The request body terminated unexpectedly")
	wantError(t, readErr(t, "b\r\nabcdefghijk\r\n0\r\n\r\n", "5", ""), CodeIncompleteBody,
		"You did not provide the number of bytes specified by the Content-Length HTTP header")
	wantError(t, readErr(t, "b\r\nabcdefghijk\r\n0\r\n\r\n", "200", ""), CodeIncompleteBody,
		"You did not provide the number of bytes specified by the Content-Length HTTP header")
	wantError(t, readErr(t, "5\r\nhello\r\n0\r\nx-amz-checksum-crc64nvme:M3eFcAZSQlc=\r\n\r\n", "5", ""), CodeMalformedTrailerError,
		"The request contained trailing data that was not well-formed or did not conform to our published schema.")
	small := "a\r\n0123456789\r\n5\r\nhello\r\n0\r\n\r\n"
	wantError(t, readErr(t, small, "15", ""), CodeInvalidChunkSizeError, "Only the last chunk is allowed to have a size less than 8192 bytes",
		Field{"Chunk", "1"}, Field{"BadChunkSize", "10"})
}
