package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// PostForm holds the authentication fields of a browser POST Object form
// (SigV4): the base64 policy document and its signature.
type PostForm struct {
	Algorithm  string // x-amz-algorithm
	Credential string // x-amz-credential
	Date       string // x-amz-date
	Policy     string // policy, base64 as sent
	Signature  string // x-amz-signature, hex
}

// VerifyPost checks a POST form's signature: HMAC-SHA256 of the base64
// policy under the credential scope's signing key. It returns the access
// key id and the form's date. Expiry is the policy's business (its
// expiration field), so no clock skew applies.
func (v *Verifier) VerifyPost(f PostForm) (string, time.Time, error) {
	switch f.Algorithm {
	case algorithm:
	case algorithmECDSA:
		return "", time.Time{}, newError(CodeNotImplemented, "Signature Version 4A is not supported.")
	default:
		return "", time.Time{}, newError(CodeInvalidArgument, "POST form field x-amz-algorithm must be \"AWS4-HMAC-SHA256\".")
	}
	a, err := v.postScope(f.Credential)
	if err != nil {
		return "", time.Time{}, err
	}
	t, perr := time.Parse(amzDateLayout, f.Date)
	if perr != nil || len(f.Date) != len(amzDateLayout) {
		return "", time.Time{}, newError(CodeInvalidArgument, "POST form field x-amz-date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	if f.Date[:8] != a.scopeDate {
		return "", time.Time{}, newError(CodeInvalidArgument, "POST form field x-amz-date does not match the date of x-amz-credential.")
	}
	sig, derr := hex.DecodeString(f.Signature)
	if derr != nil || len(sig) != 32 {
		return "", time.Time{}, errSignature()
	}
	secret, known := "", false
	if v.Credentials != nil {
		secret, known = v.Credentials(a.accessKeyID)
	}
	if !known {
		return "", time.Time{}, newError(CodeInvalidAccessKeyID, msgUnknownKey)
	}
	key := signingKey(secret, a.scopeDate, a.region, a.service)
	if !hmac.Equal(hmacSHA256(key, f.Policy), sig) {
		return "", time.Time{}, errSignature()
	}
	return a.accessKeyID, t, nil
}

// postScope parses a form's x-amz-credential and checks its scope; POST
// forms report these problems as InvalidArgument, in AWS's words.
func (v *Verifier) postScope(cred string) (*auth, error) {
	bad := func(msg string) error { return newError(CodeInvalidArgument, msg) }
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return nil, bad("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	if _, err := time.Parse(scopeDateLayout, parts[1]); err != nil || len(parts[1]) != len(scopeDateLayout) {
		return nil, bad(fmt.Sprintf("incorrect date format %q. This date in the credential must be in the format \"yyyyMMdd\".", truncate(parts[1])))
	}
	a := &auth{accessKeyID: parts[0], scopeDate: parts[1], region: parts[2], service: parts[3], terminal: parts[4]}
	switch {
	case a.terminal != terminator:
		return nil, bad(fmt.Sprintf("incorrect terminal %q. This endpoint uses \"aws4_request\".", truncate(a.terminal)))
	case a.service != v.service():
		return nil, bad(fmt.Sprintf("incorrect service %q. This endpoint belongs to %q.", truncate(a.service), v.service()))
	case v.Region != "" && a.region != v.Region:
		return nil, bad(fmt.Sprintf("the region %q is wrong; expecting %q", truncate(a.region), v.Region))
	}
	return a, nil
}
