package sigv4

import "net/http"

// S3 error codes this package returns. The gateway renders them as S3 XML.
const (
	CodeAccessDenied                      = "AccessDenied"
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	CodeBadDigest                         = "BadDigest"
	CodeIncompleteBody                    = "IncompleteBody"
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	CodeInvalidArgument                   = "InvalidArgument"
	CodeInvalidRequest                    = "InvalidRequest"
	CodeMalformedTrailerError             = "MalformedTrailerError"
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
		CodeInvalidRequest,
		CodeMalformedTrailerError,
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
	default:
		return http.StatusBadRequest
	}
}

const (
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgChunkSignature    = "The chunk signature we calculated does not match the signature you provided."
	msgTrailerSignature  = "The trailer signature we calculated does not match the signature you provided."
	msgIncompleteBody    = "The request body terminated unexpectedly."
	msgUnsignedHeaders   = "There were headers present in the request which were not signed: "
	msgBadDate           = "AWS authentication requires a valid Date or x-amz-date header."
	msgExpired           = "Request has expired."
	msgNotYetValid       = "Request is not valid yet."
	msgSkewed            = "The difference between the request time and the server's time is too large."
	msgUnknownKey        = "The AWS Access Key Id you provided does not exist in our records."
	msgSHA256Mismatch    = "The provided 'x-amz-content-sha256' header does not match what was computed."
)

func errSignature() *Error  { return newError(CodeSignatureDoesNotMatch, msgSignatureMismatch) }
func errIncomplete() *Error { return newError(CodeIncompleteBody, msgIncompleteBody) }
func errChunked(detail string) *Error {
	return newError(CodeInvalidRequest, "Malformed aws-chunked body: "+detail+".")
}
func errTrailer(detail string) *Error {
	return newError(CodeMalformedTrailerError, "The request contained trailing data that was not well-formed: "+detail+".")
}

// errMalformed reports a bad authorization parameter in the wording AWS uses
// for the header form or the query form.
func errMalformed(presigned bool, detail string) *Error {
	if presigned {
		return newError(CodeAuthorizationQueryParametersError, "Error parsing the query-string authentication parameters; "+detail)
	}
	return newError(CodeAuthorizationHeaderMalformed, "The authorization header is malformed; "+detail)
}
