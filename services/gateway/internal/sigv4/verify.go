// Package sigv4 authenticates S3 requests signed with AWS Signature Version 4:
// the Authorization header, presigned query strings, and aws-chunked bodies
// with per-chunk signatures and trailing checksums.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Credentials looks up the secret for an access key id; ok=false => InvalidAccessKeyId.
type Credentials func(accessKeyID string) (secret string, ok bool)

// Verifier authenticates requests. The zero Service means "s3", a zero
// MaxSkew means 15 minutes, a nil Now means time.Now and an empty Region
// accepts any region in the credential scope.
type Verifier struct {
	Credentials Credentials
	Region      string           // requests scoped to another region fail AuthorizationHeaderMalformed
	Service     string           // "s3"
	Now         func() time.Time // injected clock
	MaxSkew     time.Duration    // 15 min like AWS => RequestTimeTooSkewed
}

// Result is what Verify learned about an authenticated request.
type Result struct {
	AccessKeyID string
	Anonymous   bool // no auth at all (the gateway decides whether that is allowed)
	// Body yields the decoded payload and verifies it as it is read: a plain
	// signed payload returns *Error XAmzContentSHA256Mismatch instead of
	// io.EOF when the hash differs; an aws-chunked body is de-framed, every
	// chunk signature is checked before that chunk's bytes are returned, the
	// decoded length is checked, trailers are parsed and trailing checksums
	// (x-amz-checksum-*) are verified (BadDigest) before io.EOF. Callers must
	// treat anything but io.EOF as a failed upload. Close closes the request
	// body.
	Body io.ReadCloser
	// DecodedLength is the payload length (x-amz-decoded-content-length for
	// aws-chunked, else Content-Length; -1 when unknown).
	DecodedLength int64
	// Trailers holds trailing headers (e.g. "x-amz-checksum-crc32") once Body
	// reached io.EOF; nil before that or when there are none.
	Trailers func() http.Header
	// Chunked is set for an aws-chunked (streaming) payload, which AWS
	// accepts only for object data.
	Chunked bool
}

const (
	algorithm       = "AWS4-HMAC-SHA256"
	algorithmECDSA  = "AWS4-ECDSA-P256-SHA256"
	terminator      = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
	scopeDateLayout = "20060102"

	// maxPresignExpiry is the longest lifetime AWS allows a presigned URL.
	maxPresignExpiry = 7 * 24 * time.Hour

	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingECDSA           = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	streamingECDSATrailer    = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"

	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	// Query parameters of a presigned request.
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
)

// auth is the parsed authentication information of a request.
type auth struct {
	presigned     bool
	accessKeyID   string
	scopeDate     string // YYYYMMDD from the credential
	region        string
	service       string
	terminal      string
	signedHeaders []string
	signedRaw     string // the SignedHeaders list as sent
	signature     []byte
	amzDate       string // the request timestamp as it enters the string to sign
	expires       time.Duration
}

func (a *auth) scope() string {
	return a.scopeDate + "/" + a.region + "/" + a.service + "/" + a.terminal
}

// Verify authenticates r from its Authorization header or its presigned
// query parameters. It checks the clock skew (or the presigned expiry), the
// credential scope, that host and every x-amz-* header present are signed,
// and the signature in constant time. It does not read the body: Result.Body
// verifies the payload as it is read.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	params, ok := parseQuery(rawQuery(r))
	if !ok {
		return nil, newError(CodeInvalidArgument, "The query string is not properly encoded.")
	}
	authz := r.Header.Values("Authorization")
	presigned := hasParam(params, qAlgorithm) || hasParam(params, qCredential) || hasParam(params, qSignature)
	switch {
	case len(authz) > 0 && presigned:
		return nil, newError(CodeInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case len(authz) > 1:
		return nil, newError(CodeInvalidArgument, "Only one Authorization header is allowed.")
	case len(authz) == 0 && !presigned:
		if hasParam(params, "AWSAccessKeyId") && hasParam(params, "Signature") {
			return nil, errUnsupportedV2()
		}
		return v.anonymous(r)
	}

	var a *auth
	var err error
	if presigned {
		a, err = parsePresigned(params)
	} else {
		a, err = parseAuthorization(authz[0])
	}
	if err != nil {
		return nil, err
	}
	hdrs := lowerHeaders(r.Header)
	if err := v.checkScope(a, a.malformed); err != nil {
		return nil, err
	}
	if err := v.checkTime(a, hdrs); err != nil {
		return nil, err
	}
	if err := checkSignedHeaders(a, hdrs); err != nil {
		return nil, err
	}
	payload, err := payloadHash(a.presigned, hdrs)
	if err != nil {
		return nil, err
	}
	secret, known := "", false
	if v.Credentials != nil {
		secret, known = v.Credentials(a.accessKeyID)
	}
	if !known {
		return nil, errUnknownKey(a.accessKeyID)
	}
	// Every key here is a permanent one: a session token cannot belong to it.
	if len(hdrs["x-amz-security-token"]) > 0 || hasParam(params, "X-Amz-Security-Token") {
		return nil, newError(CodeInvalidToken, msgInvalidToken)
	}

	path, ok := canonicalURI(requestPath(r))
	if !ok {
		return nil, newError(CodeInvalidArgument, "The request path is not properly encoded.")
	}
	skip := ""
	if a.presigned {
		skip = qSignature
	}
	canonical := strings.Join([]string{
		r.Method,
		path,
		canonicalQuery(params, skip),
		canonicalHeaders(r, hdrs, a.signedHeaders),
		a.signedRaw,
		payload,
	}, "\n")
	key := signingKey(secret, a.scopeDate, a.region, a.service)
	sts := algorithm + "\n" + a.amzDate + "\n" + a.scope() + "\n" + hashHex([]byte(canonical))
	if !hmac.Equal(hmacSHA256(key, sts), a.signature) {
		return nil, errSignatureDetails(a.accessKeyID, sts, canonical, hex.EncodeToString(a.signature))
	}

	res := &Result{AccessKeyID: a.accessKeyID}
	if err := attachBody(res, r, hdrs, payload, &streamSigner{key: key, amzDate: a.amzDate, scope: a.scope(), seed: a.signature}); err != nil {
		return nil, err
	}
	return res, nil
}

func rawQuery(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.RawQuery
}

func hasParam(params []queryParam, key string) bool {
	for _, p := range params {
		if p.key == key {
			return true
		}
	}
	return false
}

func errUnsupportedV2() *Error {
	return newError(CodeInvalidRequest, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
}

// anonymous builds the result of a request without credentials. Its body is
// still checked where that needs no key (a declared sha256, trailing
// checksums); signed streaming is impossible without a signature.
func (v *Verifier) anonymous(r *http.Request) (*Result, error) {
	hdrs := lowerHeaders(r.Header)
	payload := unsignedPayload
	if vs := hdrs["x-amz-content-sha256"]; len(vs) > 0 {
		payload = vs[0]
		// Nothing signed it, so a value that is no keyword and no sha256 is
		// not refused: attachBody holds the body to it, which fails.
		if err := checkPayloadValue(payload); err != nil && !isArgumentError(err) {
			return nil, err
		}
	}
	if payload == streamingSigned || payload == streamingSignedTrailer {
		return nil, newError(CodeInvalidRequest, "Anonymous requests don't support this x-amz-content-sha256 value. Please use UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER.")
	}
	res := &Result{Anonymous: true}
	if err := attachBody(res, r, hdrs, payload, nil); err != nil {
		return nil, err
	}
	return res, nil
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>".
// The credential scope's values are checked later, by checkScope.
func parseAuthorization(h string) (*auth, error) {
	h = strings.TrimSpace(h)
	alg, rest, ok := strings.Cut(h, " ")
	if !ok {
		return nil, newError(CodeInvalidArgument, "Authorization header is invalid -- one and only one ' ' (space) required.").
			With("ArgumentName", "Authorization").With("ArgumentValue", truncate(h))
	}
	switch alg {
	case algorithm:
	case "AWS":
		return nil, errUnsupportedV2()
	case algorithmECDSA:
		return nil, newError(CodeNotImplemented, "Signature Version 4A is not supported.")
	default:
		return nil, newError(CodeInvalidArgument, "Unsupported Authorization Type").
			With("ArgumentName", "Authorization").With("ArgumentValue", truncate(alg))
	}
	var parts []string
	for part := range strings.SplitSeq(rest, ",") {
		if part = strings.Trim(part, " \t"); part != "" {
			parts = append(parts, part)
		}
	}
	if len(parts) != 3 {
		return nil, errMalformed(false, "", "the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	vals := map[string]string{}
	for _, part := range parts {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, errMalformed(false, "", "the authorization component \""+truncate(part)+"\" is malformed.")
		}
		vals[strings.TrimSpace(k)] = val
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if _, ok := vals[k]; !ok {
			return nil, errMalformed(false, "", "missing "+k+".")
		}
	}
	a := &auth{}
	if err := a.parseCredential(vals["Credential"]); err != nil {
		return nil, err
	}
	if err := a.parseSignedHeaders(vals["SignedHeaders"]); err != nil {
		return nil, err
	}
	if err := a.parseSignature(vals["Signature"]); err != nil {
		return nil, err
	}
	return a, nil
}

// parsePresigned reads the X-Amz-* query parameters of a presigned request.
func parsePresigned(params []queryParam) (*auth, error) {
	vals := map[string]string{}
	for _, p := range params {
		switch p.key {
		case qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature:
			if _, dup := vals[p.key]; dup {
				return nil, newError(CodeAuthorizationQueryParametersError, "The query parameter "+p.key+" is repeated.")
			}
			vals[p.key] = p.value
		}
	}
	for _, k := range []string{qAlgorithm, qCredential, qSignature, qDate, qSignedHeaders, qExpires} {
		if _, ok := vals[k]; !ok {
			return nil, newError(CodeAuthorizationQueryParametersError,
				"Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	switch vals[qAlgorithm] {
	case algorithm:
	case algorithmECDSA:
		// SigV4A is not implemented; a presigned URL says so in the
		// algorithm parameter's error, as a 400.
		return nil, newError(CodeAuthorizationQueryParametersError, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	default:
		return nil, newError(CodeAuthorizationQueryParametersError, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256\"")
	}
	a := &auth{presigned: true}
	if err := a.parseCredential(vals[qCredential]); err != nil {
		return nil, err
	}
	if err := a.parseSignedHeaders(vals[qSignedHeaders]); err != nil {
		return nil, err
	}
	if err := a.parseSignature(vals[qSignature]); err != nil {
		return nil, err
	}
	d := vals[qDate]
	if _, err := time.Parse(amzDateLayout, d); err != nil || len(d) != len(amzDateLayout) {
		return nil, newError(CodeAuthorizationQueryParametersError, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	a.amzDate = d
	exp := vals[qExpires]
	n, err := strconv.ParseInt(exp, 10, 64)
	switch {
	case err != nil || exp == "" || exp[0] == '+':
		return nil, newError(CodeAuthorizationQueryParametersError, "X-Amz-Expires should be a number")
	case n < 0:
		return nil, newError(CodeAuthorizationQueryParametersError, "X-Amz-Expires must be non-negative")
	case n > int64(maxPresignExpiry/time.Second):
		return nil, newError(CodeAuthorizationQueryParametersError, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	a.expires = time.Duration(n) * time.Second
	return a, nil
}

// parseCredential splits "AKID/YYYYMMDD/REGION/SERVICE/aws4_request";
// checkScope judges the values.
func (a *auth) parseCredential(cred string) error {
	if !a.splitCredential(cred) {
		return a.malformed(msgCredentialShape)
	}
	return nil
}

const msgCredentialShape = "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."

// splitCredential fills the scope fields from a credential; false when it
// does not have the five parts.
func (a *auth) splitCredential(cred string) bool {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return false
	}
	a.accessKeyID, a.scopeDate, a.region, a.service, a.terminal = parts[0], parts[1], parts[2], parts[3], parts[4]
	return true
}

// malformed reports a bad credential in the wording AWS uses for the header
// or the query form.
func (a *auth) malformed(detail string) *Error {
	return errMalformed(a.presigned, qCredential, detail)
}

// maxSignedHeaders bounds the work spent on a hostile SignedHeaders list.
const maxSignedHeaders = 256

func (a *auth) parseSignedHeaders(s string) error {
	malformed := func(detail string) *Error { return errMalformed(a.presigned, qSignedHeaders, detail) }
	if s == "" {
		return malformed("SignedHeaders is empty.")
	}
	names := strings.Split(s, ";")
	if len(names) > maxSignedHeaders {
		return malformed("too many SignedHeaders.")
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || !validHeaderName(n) || seen[n] {
			return malformed("SignedHeaders \"" + truncate(s) + "\" is not a list of distinct lower-case header names.")
		}
		seen[n] = true
	}
	a.signedHeaders, a.signedRaw = names, s
	return nil
}

// validHeaderName accepts lower-case HTTP token characters.
func validHeaderName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func (a *auth) parseSignature(s string) error {
	malformed := func(detail string) *Error { return errMalformed(a.presigned, qSignature, detail) }
	sig, err := hex.DecodeString(s)
	if err != nil || len(sig) != sha256.Size {
		return malformed("the Signature must be 64 hexadecimal characters.")
	}
	a.signature = sig
	return nil
}

// truncate keeps echoed client input short in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return "s3"
	}
	return v.Service
}

// checkScope checks the credential scope in AWS's order: terminal,
// service, region, then the date's format. wrap words the problem for the
// form the credential came in.
func (v *Verifier) checkScope(a *auth, wrap func(detail string) *Error) error {
	if a.terminal != terminator {
		return wrap("incorrect terminal \"" + truncate(a.terminal) + "\". This endpoint uses \"aws4_request\".")
	}
	if a.service != v.service() {
		return wrap("incorrect service \"" + truncate(a.service) + "\". This endpoint belongs to \"" + v.service() + "\".")
	}
	if v.Region != "" && a.region != v.Region {
		return wrap("the region \""+truncate(a.region)+"\" is wrong; expecting \""+v.Region+"\"").With("Region", v.Region)
	}
	if _, err := time.Parse(scopeDateLayout, a.scopeDate); err != nil || len(a.scopeDate) != len(scopeDateLayout) {
		return wrap("incorrect date format \"" + truncate(a.scopeDate) + "\". This date in the credential must be in the format \"yyyyMMdd\".")
	}
	return nil
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return 15 * time.Minute
	}
	return v.MaxSkew
}

// checkTime establishes the request time and checks it against the clock:
// skew for header auth, validity window for presigned URLs.
func (v *Verifier) checkTime(a *auth, hdrs map[string][]string) error {
	now := v.now()
	if a.presigned {
		t, _ := time.Parse(amzDateLayout, a.amzDate) // validated by parsePresigned
		if a.scopeDate != a.amzDate[:8] {
			return newError(CodeAuthorizationQueryParametersError,
				"Invalid credential date \""+a.scopeDate+"\". This date is not the same as X-Amz-Date: \""+a.amzDate[:8]+"\".")
		}
		if t.Sub(now) > v.maxSkew() {
			return newError(CodeAccessDenied, msgNotYetValid)
		}
		if expiry := t.Add(a.expires); now.After(expiry) {
			return newError(CodeAccessDenied, msgExpired).
				With("X-Amz-Expires", strconv.FormatInt(int64(a.expires/time.Second), 10)).
				With("Expires", expiry.UTC().Format(time.RFC3339)).
				With("ServerTime", now.UTC().Format(time.RFC3339))
		}
		return nil
	}
	var t time.Time
	if vs := hdrs["x-amz-date"]; len(vs) > 0 {
		d := strings.TrimSpace(vs[0])
		pt, err := time.Parse(amzDateLayout, d)
		if err != nil || len(d) != len(amzDateLayout) {
			return newError(CodeAccessDenied, msgBadDate)
		}
		t, a.amzDate = pt, d
	} else if vs := hdrs["date"]; len(vs) > 0 {
		pt, err := http.ParseTime(vs[0])
		if err != nil {
			return newError(CodeAccessDenied, msgBadDate)
		}
		t, a.amzDate = pt.UTC(), pt.UTC().Format(amzDateLayout)
	} else {
		return newError(CodeAccessDenied, msgBadDate)
	}
	if a.scopeDate != a.amzDate[:8] {
		return errMalformed(false, "", "Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if d := t.Sub(now); d > v.maxSkew() || -d > v.maxSkew() {
		return newError(CodeRequestTimeTooSkewed, msgSkewed)
	}
	return nil
}

// checkSignedHeaders enforces what AWS requires to be signed: host, every
// x-amz-* header the request carries, and the date header the timestamp came
// from. A presigned URL's payload hash header needs no signature of its own:
// its value is the canonical request's last line.
func checkSignedHeaders(a *auth, hdrs map[string][]string) error {
	signed := make(map[string]bool, len(a.signedHeaders))
	for _, n := range a.signedHeaders {
		signed[n] = true
	}
	var missing []string
	if !signed["host"] {
		missing = append(missing, "host")
	}
	for name := range hdrs {
		if !strings.HasPrefix(name, "x-amz-") || signed[name] {
			continue
		}
		if a.presigned && name == "x-amz-content-sha256" {
			continue
		}
		missing = append(missing, name)
	}
	if !a.presigned && len(hdrs["x-amz-date"]) == 0 && !signed["date"] {
		missing = append(missing, "date")
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return newError(CodeAccessDenied, msgUnsignedHeaders).With("HeadersNotSigned", strings.Join(missing, ", "))
}

// payloadHash returns the canonical request's payload line.
func payloadHash(presigned bool, hdrs map[string][]string) (string, error) {
	vs := hdrs["x-amz-content-sha256"]
	if len(vs) == 0 {
		if presigned {
			return unsignedPayload, nil
		}
		return "", newError(CodeInvalidRequest, "Missing required header for this request: x-amz-content-sha256.")
	}
	if len(vs) > 1 {
		return "", newError(CodeInvalidArgument, "The x-amz-content-sha256 header is repeated.")
	}
	if err := checkPayloadValue(vs[0]); err != nil {
		return "", err
	}
	return vs[0], nil
}

// isArgumentError reports whether err is checkPayloadValue's InvalidArgument.
func isArgumentError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeInvalidArgument
}

func checkPayloadValue(p string) error {
	switch p {
	case unsignedPayload, streamingUnsignedTrailer, streamingSigned, streamingSignedTrailer:
		return nil
	case streamingECDSA, streamingECDSATrailer:
		return newError(CodeNotImplemented, "Signature Version 4A streaming payloads are not supported.")
	}
	if b, err := hex.DecodeString(p); err == nil && len(b) == sha256.Size {
		return nil
	}
	return newError(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.").
		With("ArgumentName", "x-amz-content-sha256").With("ArgumentValue", truncate(p))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}
