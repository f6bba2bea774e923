package sigv4

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// S3 error codes this package returns. The gateway renders them as S3 XML.
const (
	CodeAccessDenied                      = "AccessDenied"
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	CodeBadDigest                         = "BadDigest"
	CodeIncompleteBody                    = "IncompleteBody"
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	CodeInvalidArgument                   = "InvalidArgument"
	CodeInvalidChunkSizeError             = "InvalidChunkSizeError"
	CodeInvalidRequest                    = "InvalidRequest"
	CodeInvalidToken                      = "InvalidToken"
	CodeMalformedTrailerError             = "MalformedTrailerError"
	CodeMissingContentLength              = "MissingContentLength"
	CodeNotImplemented                    = "NotImplemented"
	CodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"
	CodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"
	CodeXAmzContentSHA256Mismatch         = "XAmzContentSHA256Mismatch"
)

// Codes lists every code an *Error from this package can carry, so the
// gateway's error table test can check it renders all of them.
func Codes() []string {
	return []string{
		CodeAccessDenied,
		CodeAuthorizationHeaderMalformed,
		CodeAuthorizationQueryParametersError,
		CodeBadDigest,
		CodeIncompleteBody,
		CodeInvalidAccessKeyID,
		CodeInvalidArgument,
		CodeInvalidChunkSizeError,
		CodeInvalidRequest,
		CodeInvalidToken,
		CodeMalformedTrailerError,
		CodeMissingContentLength,
		CodeNotImplemented,
		CodeRequestTimeTooSkewed,
		CodeSignatureDoesNotMatch,
		CodeXAmzContentSHA256Mismatch,
	}
}

// Error is an S3 error the gateway renders as XML.
type Error struct {
	Code       string
	Message    string
	HTTPStatus int
	// Fields are the extra elements AWS adds to this error's XML body
	// (AWSAccessKeyId, ArgumentName, ...), in order. Never a secret.
	Fields []Field
}

// Field is one extra element of an error body: <Name>Value</Name>.
type Field struct{ Name, Value string }

// With returns e with the element <name>value</name> added to its body.
func (e *Error) With(name, value string) *Error {
	e.Fields = append(e.Fields, Field{Name: name, Value: value})
	return e
}

func (e *Error) Error() string {
	return "sigv4: " + e.Code + ": " + e.Message
}

func newError(code, msg string) *Error {
	return &Error{Code: code, Message: msg, HTTPStatus: statusOf(code)}
}

func statusOf(code string) int {
	switch code {
	case CodeAccessDenied, CodeInvalidAccessKeyID, CodeRequestTimeTooSkewed, CodeSignatureDoesNotMatch:
		return http.StatusForbidden
	case CodeNotImplemented:
		return http.StatusNotImplemented
	case CodeMissingContentLength:
		return http.StatusLengthRequired
	default:
		return http.StatusBadRequest
	}
}

const (
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgChunkSignature    = "The chunk signature we calculated does not match the signature you provided."
	msgTrailerSignature  = "The trailer signature we calculated does not match the signature you provided."
	msgIncompleteBody    = "The request body terminated unexpectedly"
	msgLengthMismatch    = "You did not provide the number of bytes specified by the Content-Length HTTP header"
	msgMalformedTrailer  = "The request contained trailing data that was not well-formed or did not conform to our published schema."
	msgChunkSize         = "Only the last chunk is allowed to have a size less than 8192 bytes"
	msgMissingLength     = "You must provide the Content-Length HTTP header."
	msgUnsignedHeaders   = "There were headers present in the request which were not signed"
	msgInvalidToken      = "The provided token is malformed or otherwise invalid."
	msgBadDate           = "AWS authentication requires a valid Date or x-amz-date header."
	msgExpired           = "Request has expired."
	msgNotYetValid       = "Request is not valid yet."
	msgSkewed            = "The difference between the request time and the server's time is too large."
	msgUnknownKey        = "The AWS Access Key Id you provided does not exist in our records."
	msgSHA256Mismatch    = "The provided 'x-amz-content-sha256' header does not match what was computed."
)

func errSignature() *Error { return newError(CodeSignatureDoesNotMatch, msgSignatureMismatch) }

// errSignatureDetails is SignatureDoesNotMatch with what AWS shows the client
// to find its mistake: the string to sign and canonical request the server
// built (request data, no secret) and the signature the client sent.
// A POST form has no canonical request: canonical is empty there.
func errSignatureDetails(accessKeyID, stringToSign, canonical, provided string) *Error {
	e := errSignature().
		With("AWSAccessKeyId", accessKeyID).
		With("StringToSign", stringToSign).
		With("SignatureProvided", provided).
		With("StringToSignBytes", spacedHex(stringToSign))
	if canonical != "" {
		e.With("CanonicalRequest", canonical).With("CanonicalRequestBytes", spacedHex(canonical))
	}
	return e
}

// spacedHex writes s's bytes as AWS does in *Bytes elements: "41 57 53".
func spacedHex(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(hex.EncodeToString([]byte{s[i]}))
	}
	return b.String()
}

// errSHA256Mismatch names both hashes, hex, as AWS does.
func errSHA256Mismatch(client, computed string) *Error {
	return newError(CodeXAmzContentSHA256Mismatch, msgSHA256Mismatch).
		With("ClientComputedContentSHA256", client).With("S3ComputedContentSHA256", computed)
}

func errUnknownKey(accessKeyID string) *Error {
	return newError(CodeInvalidAccessKeyID, msgUnknownKey).With("AWSAccessKeyId", accessKeyID)
}

// errIncomplete answers a body that ends early or whose aws-chunked framing
// is broken: AWS reports both as the body terminating unexpectedly.
func errIncomplete() *Error { return newError(CodeIncompleteBody, msgIncompleteBody) }

// errLengthMismatch answers an aws-chunked body whose chunks do not add up
// to x-amz-decoded-content-length.
func errLengthMismatch() *Error { return newError(CodeIncompleteBody, msgLengthMismatch) }

// errTrailer answers a trailer section that is not what x-amz-trailer
// declared, or not name:value lines.
func errTrailer() *Error { return newError(CodeMalformedTrailerError, msgMalformedTrailer) }

// errChunkSize names the first chunk that was too small without being the
// last one (1-based, as AWS counts).
func errChunkSize(chunk int, size int64) *Error {
	return newError(CodeInvalidChunkSizeError, msgChunkSize).
		With("Chunk", strconv.Itoa(chunk)).With("BadChunkSize", strconv.FormatInt(size, 10))
}

// errMalformed reports a bad authorization parameter in the wording AWS uses
// for the header form or for the query form's param.
func errMalformed(presigned bool, param, detail string) *Error {
	if presigned {
		return newError(CodeAuthorizationQueryParametersError, "Error parsing the "+param+" parameter; "+detail)
	}
	return newError(CodeAuthorizationHeaderMalformed, "The authorization header is malformed; "+detail)
}
