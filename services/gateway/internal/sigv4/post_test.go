package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func postSignature(secret, date, region, policy string) string {
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, "s3")
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, policy))
}

func TestVerifyPost(t *testing.T) {
	const policy = "eyJleHBpcmF0aW9uIjoiMjAzMC0wMS0wMVQwMDowMDowMFoiLCJjb25kaXRpb25zIjpbXX0="
	good := PostForm{
		Algorithm:  "AWS4-HMAC-SHA256",
		Credential: testAKID + "/20260314/" + testRegion + "/s3/aws4_request",
		Date:       "20260314T150926Z",
		Policy:     policy,
		Signature:  postSignature(testSecret, "20260314", testRegion, policy),
	}
	tests := []struct {
		name   string
		mutate func(f *PostForm)
		code   string
	}{
		{"valid", func(*PostForm) {}, ""},
		{"policy changed", func(f *PostForm) { f.Policy += "x" }, CodeSignatureDoesNotMatch},
		{"wrong secret", func(f *PostForm) { f.Signature = postSignature("other", "20260314", testRegion, policy) }, CodeSignatureDoesNotMatch},
		{"signature not hex", func(f *PostForm) { f.Signature = "zz" }, CodeSignatureDoesNotMatch},
		{"unknown key", func(f *PostForm) { f.Credential = "AKIDNOBODY/20260314/us-east-1/s3/aws4_request" }, CodeInvalidAccessKeyID},
		{"wrong region", func(f *PostForm) { f.Credential = testAKID + "/20260314/eu-west-1/s3/aws4_request" }, CodeInvalidArgument},
		{"wrong service", func(f *PostForm) { f.Credential = testAKID + "/20260314/us-east-1/ec2/aws4_request" }, CodeInvalidArgument},
		{"wrong terminal", func(f *PostForm) { f.Credential = testAKID + "/20260314/us-east-1/s3/aws5_request" }, CodeInvalidArgument},
		{"bad credential date", func(f *PostForm) { f.Credential = testAKID + "/2026-03-14/us-east-1/s3/aws4_request" }, CodeInvalidArgument},
		{"malformed credential", func(f *PostForm) { f.Credential = "nonsense" }, CodeInvalidArgument},
		{"date mismatch", func(f *PostForm) { f.Date = "20260315T000000Z" }, CodeInvalidArgument},
		{"bad date", func(f *PostForm) { f.Date = "yesterday" }, CodeInvalidArgument},
		{"sigv2 algorithm", func(f *PostForm) { f.Algorithm = "AWS" }, CodeInvalidArgument},
		{"sigv4a", func(f *PostForm) { f.Algorithm = "AWS4-ECDSA-P256-SHA256" }, CodeNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := good
			tt.mutate(&f)
			id, date, err := testVerifier(testNow).VerifyPost(f)
			code := ""
			var e *Error
			if errors.As(err, &e) {
				code = e.Code
			} else if err != nil {
				t.Fatalf("non-sigv4 error %v", err)
			}
			if code != tt.code {
				t.Fatalf("code %q, want %q (%v)", code, tt.code, err)
			}
			if err == nil && (id != testAKID || date.Format("20060102T150405Z") != f.Date) {
				t.Fatalf("id %q date %v", id, date)
			}
		})
	}
}
