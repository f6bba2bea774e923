package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
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
		return "", time.Time{}, newError(CodeInvalidArgument, "Only AWS4-HMAC-SHA256 is supported").
			With("ArgumentName", "X-Amz-Algorithm").With("ArgumentValue", truncate(f.Algorithm))
	}
	a, err := v.postScope(f.Credential)
	if err != nil {
		return "", time.Time{}, err
	}
	t, perr := time.Parse(amzDateLayout, f.Date)
	if perr != nil || len(f.Date) != len(amzDateLayout) {
		return "", time.Time{}, newError(CodeInvalidArgument, "X-Amz-Date must be formated via ISO8601 Long format").
			With("ArgumentName", "X-Amz-Date").With("ArgumentValue", truncate(f.Date))
	}
	if f.Date[:8] != a.scopeDate {
		return "", time.Time{}, newError(CodeInvalidArgument, "POST form field x-amz-date does not match the date of x-amz-credential.")
	}
	secret, known := "", false
	if v.Credentials != nil {
		secret, known = v.Credentials(a.accessKeyID)
	}
	if !known {
		return "", time.Time{}, errUnknownKey(a.accessKeyID)
	}
	key := signingKey(secret, a.scopeDate, a.region, a.service)
	// The string to sign is the policy itself; there is no canonical request.
	sig, derr := hex.DecodeString(f.Signature)
	if derr != nil || !hmac.Equal(hmacSHA256(key, f.Policy), sig) {
		return "", time.Time{}, errSignatureDetails(a.accessKeyID, f.Policy, "", truncate(f.Signature))
	}
	return a.accessKeyID, t, nil
}

// postScope parses a form's x-amz-credential and checks its scope; POST
// forms report these problems as InvalidArgument naming the field.
func (v *Verifier) postScope(cred string) (*auth, error) {
	bad := func(detail string) *Error {
		return newError(CodeInvalidArgument, detail).With("ArgumentName", "x-amz-credential").With("ArgumentValue", truncate(cred))
	}
	a := &auth{}
	if !a.splitCredential(cred) {
		return nil, bad(msgCredentialShape)
	}
	if err := v.checkScope(a, bad); err != nil {
		return nil, err
	}
	return a, nil
}
