package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is one S3 error response: the code clients switch on, the HTTP
// status and a message for humans.
type Error struct {
	Code       string
	Message    string
	HTTPStatus int
	// Fields are the extra elements AWS adds to this error's XML body, in
	// order (AWSAccessKeyId, ArgumentName, Condition, ...). Never a secret.
	Fields []ErrorField
	// Allow, for a 405, is the Allow header: the methods the resource takes.
	Allow string
}

// ErrorField is one extra element of an error body: <Name>Value</Name>.
// It is sigv4's type so authentication errors pass theirs through as is.
type ErrorField = sigv4.Field

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// With returns e with the element <name>value</name> added to its body.
func (e *Error) With(name, value string) *Error {
	e.Fields = append(e.Fields, ErrorField{Name: name, Value: value})
	return e
}

// S3 error codes the gateway returns. Every code here has a row in
// errorTable; TestErrorTableComplete keeps the two in step.
const (
	ErrAccessDenied                       = "AccessDenied"
	ErrAuthorizationHeaderMalformed       = "AuthorizationHeaderMalformed"
	ErrAuthorizationQueryParametersError  = "AuthorizationQueryParametersError"
	ErrBadDigest                          = "BadDigest"
	ErrBucketAlreadyOwnedByYou            = "BucketAlreadyOwnedByYou"
	ErrBucketNotEmpty                     = "BucketNotEmpty"
	ErrConditionalRequestConflict         = "ConditionalRequestConflict"
	ErrEntityTooLarge                     = "EntityTooLarge"
	ErrIllegalLocationConstraintException = "IllegalLocationConstraintException"
	ErrIncompleteBody                     = "IncompleteBody"
	ErrInternalError                      = "InternalError"
	ErrInvalidAccessKeyID                 = "InvalidAccessKeyId"
	ErrInvalidArgument                    = "InvalidArgument"
	ErrInvalidBucketName                  = "InvalidBucketName"
	ErrInvalidDigest                      = "InvalidDigest"
	ErrInvalidLocationConstraint          = "InvalidLocationConstraint"
	ErrInvalidPart                        = "InvalidPart"
	ErrInvalidPartNumber                  = "InvalidPartNumber"
	ErrInvalidPartOrder                   = "InvalidPartOrder"
	ErrInvalidRange                       = "InvalidRange"
	ErrInvalidRequest                     = "InvalidRequest"
	ErrInvalidURI                         = "InvalidURI"
	ErrMalformedTrailerError              = "MalformedTrailerError"
	ErrKeyTooLongError                    = "KeyTooLongError"
	ErrMalformedXML                       = "MalformedXML"
	ErrMetadataTooLarge                   = "MetadataTooLarge"
	ErrMethodNotAllowed                   = "MethodNotAllowed"
	ErrMissingContentLength               = "MissingContentLength"
	ErrNoSuchBucket                       = "NoSuchBucket"
	ErrNoSuchKey                          = "NoSuchKey"
	ErrNoSuchUpload                       = "NoSuchUpload"
	ErrNoSuchVersion                      = "NoSuchVersion"
	ErrNotImplemented                     = "NotImplemented"
	ErrNotModified                        = "NotModified"
	ErrPreconditionFailed                 = "PreconditionFailed"
	ErrRequestTimeTooSkewed               = "RequestTimeTooSkewed"
	ErrServiceUnavailable                 = "ServiceUnavailable"
	ErrSignatureDoesNotMatch              = "SignatureDoesNotMatch"
	ErrXAmzContentSHA256Mismatch          = "XAmzContentSHA256Mismatch"

	// Bucket configuration, tagging, CORS and POST Object errors.
	ErrAccessForbidden                                = "AccessForbidden"
	ErrBadRequest                                     = "BadRequest"
	ErrEntityTooSmall                                 = "EntityTooSmall"
	ErrIncorrectNumberOfFilesInPostRequest            = "IncorrectNumberOfFilesInPostRequest"
	ErrInvalidPolicyDocument                          = "InvalidPolicyDocument"
	ErrInvalidTag                                     = "InvalidTag"
	ErrMalformedPOSTRequest                           = "MalformedPOSTRequest"
	ErrNoSuchBucketPolicy                             = "NoSuchBucketPolicy"
	ErrNoSuchCORSConfiguration                        = "NoSuchCORSConfiguration"
	ErrNoSuchLifecycleConfiguration                   = "NoSuchLifecycleConfiguration"
	ErrNoSuchPublicAccessBlockConfiguration           = "NoSuchPublicAccessBlockConfiguration"
	ErrNoSuchTagSet                                   = "NoSuchTagSet"
	ErrNoSuchWebsiteConfiguration                     = "NoSuchWebsiteConfiguration"
	ErrObjectLockConfigurationNotFoundError           = "ObjectLockConfigurationNotFoundError"
	ErrOwnershipControlsNotFoundError                 = "OwnershipControlsNotFoundError"
	ErrReplicationConfigurationNotFoundError          = "ReplicationConfigurationNotFoundError"
	ErrServerSideEncryptionConfigurationNotFoundError = "ServerSideEncryptionConfigurationNotFoundError"

	// Object header validation (storage class, website redirect).
	ErrInvalidStorageClass     = "InvalidStorageClass"
	ErrInvalidRedirectLocation = "InvalidRedirectLocation"

	// Bucket access: ACLs, ownership controls, bucket policies, website.
	ErrAccessControlListNotSupported       = "AccessControlListNotSupported"
	ErrInvalidBucketAclWithObjectOwnership = "InvalidBucketAclWithObjectOwnership"
	ErrMalformedACLError                   = "MalformedACLError"
	ErrMalformedPolicy                     = "MalformedPolicy"
	ErrMaxMessageLengthExceeded            = "MaxMessageLengthExceeded"
	ErrMissingSecurityHeader               = "MissingSecurityHeader"
	ErrUnexpectedContent                   = "UnexpectedContent"
	ErrUnresolvableGrantByEmailAddress     = "UnresolvableGrantByEmailAddress"

	// SigV4 authentication and POST Object errors.
	ErrInvalidToken          = "InvalidToken"
	ErrInvalidChunkSizeError = "InvalidChunkSizeError"

	// Object lock errors.
	ErrInvalidBucketState            = "InvalidBucketState"
	ErrMissingRequestBodyError       = "MissingRequestBodyError"
	ErrNoSuchObjectLockConfiguration = "NoSuchObjectLockConfiguration"

	// Request limits.
	ErrRequestHeaderSectionTooLarge = "RequestHeaderSectionTooLarge"
)

// errorTable is the single table of S3 errors: code, HTTP status, default
// message (wording follows AWS's error reference).
var errorTable = map[string]Error{
	ErrAccessDenied:                       {HTTPStatus: http.StatusForbidden, Message: "Access Denied"},
	ErrAuthorizationHeaderMalformed:       {HTTPStatus: http.StatusBadRequest, Message: "The authorization header you provided is invalid."},
	ErrAuthorizationQueryParametersError:  {HTTPStatus: http.StatusBadRequest, Message: "Error parsing the X-Amz-Credential parameter."},
	ErrBadDigest:                          {HTTPStatus: http.StatusBadRequest, Message: "The Content-MD5 you specified did not match what we received."},
	ErrBucketAlreadyOwnedByYou:            {HTTPStatus: http.StatusConflict, Message: "Your previous request to create the named bucket succeeded and you already own it."},
	ErrBucketNotEmpty:                     {HTTPStatus: http.StatusConflict, Message: "The bucket you tried to delete is not empty."},
	ErrConditionalRequestConflict:         {HTTPStatus: http.StatusConflict, Message: "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part."},
	ErrEntityTooLarge:                     {HTTPStatus: http.StatusBadRequest, Message: "Your proposed upload exceeds the maximum allowed object size."},
	ErrIllegalLocationConstraintException: {HTTPStatus: http.StatusBadRequest, Message: "The location constraint is incompatible for the region specific endpoint this request was sent to."},
	ErrIncompleteBody:                     {HTTPStatus: http.StatusBadRequest, Message: "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	ErrInternalError:                      {HTTPStatus: http.StatusInternalServerError, Message: "We encountered an internal error. Please try again."},
	ErrInvalidAccessKeyID:                 {HTTPStatus: http.StatusForbidden, Message: "The AWS access key ID you provided does not exist in our records."},
	ErrInvalidArgument:                    {HTTPStatus: http.StatusBadRequest, Message: "Invalid Argument"},
	ErrInvalidBucketName:                  {HTTPStatus: http.StatusBadRequest, Message: "The specified bucket is not valid."},
	ErrInvalidDigest:                      {HTTPStatus: http.StatusBadRequest, Message: "The Content-MD5 you specified was invalid."},
	ErrInvalidLocationConstraint:          {HTTPStatus: http.StatusBadRequest, Message: "The specified location constraint is not valid."},
	ErrInvalidPart:                        {HTTPStatus: http.StatusBadRequest, Message: "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."},
	ErrInvalidPartNumber:                  {HTTPStatus: http.StatusRequestedRangeNotSatisfiable, Message: "The requested partnumber is not satisfiable."},
	ErrInvalidPartOrder:                   {HTTPStatus: http.StatusBadRequest, Message: "The list of parts was not in ascending order. Parts must be ordered by part number."},
	ErrInvalidRange:                       {HTTPStatus: http.StatusRequestedRangeNotSatisfiable, Message: "The requested range is not satisfiable"},
	ErrInvalidRequest:                     {HTTPStatus: http.StatusBadRequest, Message: "Invalid Request"},
	ErrInvalidURI:                         {HTTPStatus: http.StatusBadRequest, Message: "Couldn't parse the specified URI."},
	ErrKeyTooLongError:                    {HTTPStatus: http.StatusBadRequest, Message: "Your key is too long"},
	ErrMalformedTrailerError:              {HTTPStatus: http.StatusBadRequest, Message: "The request contained trailing data that was not well-formed or did not conform to our published schema."},
	ErrMalformedXML:                       {HTTPStatus: http.StatusBadRequest, Message: "The XML you provided was not well-formed or did not validate against our published schema."},
	ErrMetadataTooLarge:                   {HTTPStatus: http.StatusBadRequest, Message: "Your metadata headers exceed the maximum allowed metadata size"},
	ErrMethodNotAllowed:                   {HTTPStatus: http.StatusMethodNotAllowed, Message: "The specified method is not allowed against this resource."},
	ErrMissingContentLength:               {HTTPStatus: http.StatusLengthRequired, Message: "You must provide the Content-Length HTTP header."},
	ErrNoSuchBucket:                       {HTTPStatus: http.StatusNotFound, Message: "The specified bucket does not exist."},
	ErrNoSuchKey:                          {HTTPStatus: http.StatusNotFound, Message: "The specified key does not exist."},
	ErrNoSuchUpload:                       {HTTPStatus: http.StatusNotFound, Message: "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	ErrNoSuchVersion:                      {HTTPStatus: http.StatusNotFound, Message: "The specified version does not exist."},
	ErrNotImplemented:                     {HTTPStatus: http.StatusNotImplemented, Message: "A header or query you provided implies functionality that is not implemented."},
	ErrNotModified:                        {HTTPStatus: http.StatusNotModified, Message: "Not Modified"},
	ErrPreconditionFailed:                 {HTTPStatus: http.StatusPreconditionFailed, Message: "At least one of the pre-conditions you specified did not hold"},
	ErrRequestTimeTooSkewed:               {HTTPStatus: http.StatusForbidden, Message: "The difference between the request time and the server's time is too large."},
	ErrServiceUnavailable:                 {HTTPStatus: http.StatusServiceUnavailable, Message: "Service is unable to handle request."},
	ErrSignatureDoesNotMatch:              {HTTPStatus: http.StatusForbidden, Message: "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	ErrXAmzContentSHA256Mismatch:          {HTTPStatus: http.StatusBadRequest, Message: "The provided 'x-amz-content-sha256' header does not match what was computed."},

	ErrAccessForbidden:                                {HTTPStatus: http.StatusForbidden, Message: "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."},
	ErrBadRequest:                                     {HTTPStatus: http.StatusBadRequest, Message: "Bad Request"},
	ErrEntityTooSmall:                                 {HTTPStatus: http.StatusBadRequest, Message: "Your proposed upload is smaller than the minimum allowed size"},
	ErrIncorrectNumberOfFilesInPostRequest:            {HTTPStatus: http.StatusBadRequest, Message: "POST requires exactly one file upload per request."},
	ErrInvalidPolicyDocument:                          {HTTPStatus: http.StatusBadRequest, Message: "The content of the form does not meet the conditions specified in the policy document."},
	ErrInvalidTag:                                     {HTTPStatus: http.StatusBadRequest, Message: "The tag provided was not a valid tag."},
	ErrMalformedPOSTRequest:                           {HTTPStatus: http.StatusBadRequest, Message: "The body of your POST request is not well-formed multipart/form-data."},
	ErrNoSuchBucketPolicy:                             {HTTPStatus: http.StatusNotFound, Message: "The bucket policy does not exist"},
	ErrNoSuchCORSConfiguration:                        {HTTPStatus: http.StatusNotFound, Message: "The CORS configuration does not exist"},
	ErrNoSuchLifecycleConfiguration:                   {HTTPStatus: http.StatusNotFound, Message: "The lifecycle configuration does not exist"},
	ErrNoSuchPublicAccessBlockConfiguration:           {HTTPStatus: http.StatusNotFound, Message: "The public access block configuration was not found"},
	ErrNoSuchTagSet:                                   {HTTPStatus: http.StatusNotFound, Message: "The TagSet does not exist"},
	ErrNoSuchWebsiteConfiguration:                     {HTTPStatus: http.StatusNotFound, Message: "The specified bucket does not have a website configuration"},
	ErrObjectLockConfigurationNotFoundError:           {HTTPStatus: http.StatusNotFound, Message: "Object Lock configuration does not exist for this bucket"},
	ErrOwnershipControlsNotFoundError:                 {HTTPStatus: http.StatusNotFound, Message: "The bucket ownership controls were not found"},
	ErrReplicationConfigurationNotFoundError:          {HTTPStatus: http.StatusNotFound, Message: "The replication configuration was not found"},
	ErrServerSideEncryptionConfigurationNotFoundError: {HTTPStatus: http.StatusNotFound, Message: "The server side encryption configuration was not found"},

	// Object header validation (storage class, website redirect).
	ErrInvalidStorageClass:     {HTTPStatus: http.StatusBadRequest, Message: "The storage class you specified is not valid"},
	ErrInvalidRedirectLocation: {HTTPStatus: http.StatusBadRequest, Message: "The website redirect location must have a prefix of 'http://' or 'https://' or '/'."},

	// Bucket access: ACLs, ownership controls, bucket policies, website.
	ErrAccessControlListNotSupported:       {HTTPStatus: http.StatusBadRequest, Message: "The bucket does not allow ACLs"},
	ErrInvalidBucketAclWithObjectOwnership: {HTTPStatus: http.StatusBadRequest, Message: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"},
	ErrMalformedACLError:                   {HTTPStatus: http.StatusBadRequest, Message: "The XML you provided was not well-formed or did not validate against our published schema."},
	ErrMalformedPolicy:                     {HTTPStatus: http.StatusBadRequest, Message: "Policies must be valid JSON and the first byte must be '{'"},
	ErrMaxMessageLengthExceeded:            {HTTPStatus: http.StatusBadRequest, Message: "Your request was too big."},
	ErrMissingSecurityHeader:               {HTTPStatus: http.StatusBadRequest, Message: "Your request was missing a required header."},
	ErrUnexpectedContent:                   {HTTPStatus: http.StatusBadRequest, Message: "This request does not support content."},
	ErrUnresolvableGrantByEmailAddress:     {HTTPStatus: http.StatusBadRequest, Message: "The email address you provided does not match any account on record."},

	// SigV4 authentication and POST Object errors.
	ErrInvalidToken:          {HTTPStatus: http.StatusBadRequest, Message: "The provided token is malformed or otherwise invalid."},
	ErrInvalidChunkSizeError: {HTTPStatus: http.StatusBadRequest, Message: "Only the last chunk is allowed to have a size less than 8192 bytes"},

	// Object lock errors.
	ErrInvalidBucketState:            {HTTPStatus: http.StatusConflict, Message: "The request is not valid with the current state of the bucket."},
	ErrMissingRequestBodyError:       {HTTPStatus: http.StatusBadRequest, Message: "Request Body is empty"},
	ErrNoSuchObjectLockConfiguration: {HTTPStatus: http.StatusBadRequest, Message: "The specified object does not have a ObjectLock configuration."},

	// Request limits.
	ErrRequestHeaderSectionTooLarge: {HTTPStatus: http.StatusBadRequest, Message: "Your request header section exceeds the maximum allowed size."},
}

// newError returns the table's error for code, with msg replacing the
// default message when not empty. An unknown code is a programming error and
// becomes InternalError rather than a panic.
func newError(code, msg string) *Error {
	row, ok := errorTable[code]
	if !ok {
		row, code = errorTable[ErrInternalError], ErrInternalError
	}
	if msg == "" {
		msg = row.Message
	}
	return &Error{Code: code, Message: msg, HTTPStatus: row.HTTPStatus}
}

func errorf(code, format string, args ...any) *Error {
	return newError(code, fmt.Sprintf(format, args...))
}

// methodNotAllowed is S3's 405 for method on a resource of resourceType
// (SERVICE, BUCKET, OBJECT, UPLOAD), naming both in the body.
func methodNotAllowed(method, resourceType, allow string) *Error {
	e := newError(ErrMethodNotAllowed, "").With("Method", method).With("ResourceType", resourceType)
	e.Allow = allow
	return e
}

// toS3Error translates any error reaching the HTTP boundary into an S3 error:
// this is the one place where domain errors become S3 codes.
func toS3Error(err error) *Error {
	var s3err *Error
	if errors.As(err, &s3err) {
		return s3err
	}
	var sigErr *sigv4.Error
	if errors.As(err, &sigErr) {
		e := &Error{Code: sigErr.Code, Message: sigErr.Message, HTTPStatus: sigErr.HTTPStatus, Fields: sigErr.Fields}
		if row, ok := errorTable[sigErr.Code]; ok {
			e.HTTPStatus = row.HTTPStatus
			if e.Message == "" {
				e.Message = row.Message
			}
		}
		if e.HTTPStatus == 0 {
			e.HTTPStatus = http.StatusBadRequest
		}
		return e
	}
	var unavail *datapath.UnavailableError
	if errors.As(err, &unavail) {
		return newError(ErrServiceUnavailable, unavail.Message)
	}
	if errors.Is(err, datapath.ErrBadDigest) {
		return newError(ErrBadDigest, "")
	}
	var bodyErr *datapath.BodyError
	if errors.As(err, &bodyErr) {
		if errors.Is(bodyErr.Err, io.ErrUnexpectedEOF) || errors.Is(bodyErr.Err, io.EOF) {
			return newError(ErrIncompleteBody, "")
		}
		if errors.Is(bodyErr.Err, datapath.ErrBodyTooLong) {
			return newError(ErrInvalidRequest, "The request body is longer than its declared length.")
		}
		return newError(ErrIncompleteBody, "The request body could not be read.")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(ErrServiceUnavailable, "The request timed out inside the service.")
	}
	// The status itself, not status.FromError's: that one folds the
	// gateway's wrapping into the message, which clients would then see.
	var grpcErr interface{ GRPCStatus() *status.Status }
	if errors.As(err, &grpcErr) {
		if st := grpcErr.GRPCStatus(); st.Code() != codes.OK && st.Code() != codes.Unknown {
			return fromStatus(st)
		}
	}
	return newError(ErrInternalError, "")
}

// fromStatus maps a metadata service status to an S3 error, reading the
// google.rpc.ErrorInfo reason the metadata service attaches.
func fromStatus(st *status.Status) *Error {
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok {
			continue
		}
		// Accept the reason with or without the enum's REASON_ prefix.
		reason := strings.TrimPrefix(info.GetReason(), "REASON_")
		switch "REASON_" + reason {
		case metadatav1.Reason_REASON_NO_SUCH_BUCKET.String():
			return newError(ErrNoSuchBucket, "")
		case metadatav1.Reason_REASON_NO_SUCH_KEY.String():
			return newError(ErrNoSuchKey, "")
		case metadatav1.Reason_REASON_NO_SUCH_VERSION.String():
			return newError(ErrNoSuchVersion, "")
		case metadatav1.Reason_REASON_BUCKET_ALREADY_EXISTS.String():
			// Single tenant for now: every existing bucket is the caller's.
			return newError(ErrBucketAlreadyOwnedByYou, "")
		case metadatav1.Reason_REASON_BUCKET_NOT_EMPTY.String():
			return newError(ErrBucketNotEmpty, "")
		case metadatav1.Reason_REASON_NO_SUCH_REGION.String():
			return newError(ErrInvalidLocationConstraint, "")
		case metadatav1.Reason_REASON_NO_SUCH_UPLOAD.String():
			return newError(ErrNoSuchUpload, "")
		case metadatav1.Reason_REASON_INVALID_PART.String():
			return newError(ErrInvalidPart, "")
		case metadatav1.Reason_REASON_INVALID_PART_ORDER.String():
			return newError(ErrInvalidPartOrder, "")
		case metadatav1.Reason_REASON_ENTITY_TOO_SMALL.String():
			return newError(ErrEntityTooSmall, "")
		case metadatav1.Reason_REASON_PRECONDITION_FAILED.String():
			return newError(ErrPreconditionFailed, "")
		case metadatav1.Reason_REASON_CONDITIONAL_CONFLICT.String():
			return newError(ErrConditionalRequestConflict, "")
		// Object lock.
		case metadatav1.Reason_REASON_OBJECT_LOCKED.String():
			return newError(ErrAccessDenied, "Access Denied because object protected by object lock.")
		case metadatav1.Reason_REASON_INVALID_BUCKET_STATE.String():
			return newError(ErrInvalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return newError(ErrServiceUnavailable, "")
	case codes.InvalidArgument:
		// Input the gateway passed through unchecked (a version id, a
		// marker) and the metadata service refused: the client's error.
		return newError(ErrInvalidArgument, strings.TrimPrefix(st.Message(), "store: invalid argument: "))
	}
	return newError(ErrInternalError, "")
}
