package server

import (
	"context"
	"errors"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/metadata/internal/store"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error the service
// returns.
const ErrorDomain = "anvil"

// MetadataDeleteMarkerVersionID is the ErrorInfo metadata key of the
// version id of the delete marker behind a NoSuchKey.
const MetadataDeleteMarkerVersionID = "delete_marker_version_id"

// errorMapping is one row of the error table.
type errorMapping struct {
	err    error
	code   codes.Code
	reason metadatav1.Reason // REASON_UNSPECIFIED: no ErrorInfo detail
}

// errorTable is the one place store errors become gRPC statuses. Clients
// (the gateway) decode the google.rpc.ErrorInfo detail, whose reason is the
// Reason enum's name and whose domain is "anvil":
//
//	store error            gRPC code            ErrorInfo reason
//	ErrNoSuchBucket        NotFound             REASON_NO_SUCH_BUCKET
//	ErrNoSuchKey           NotFound             REASON_NO_SUCH_KEY
//	ErrNoSuchVersion       NotFound             REASON_NO_SUCH_VERSION
//	ErrBucketExists        AlreadyExists        REASON_BUCKET_ALREADY_EXISTS
//	ErrBucketNotEmpty      FailedPrecondition   REASON_BUCKET_NOT_EMPTY
//	ErrNoSuchRegion        InvalidArgument      REASON_NO_SUCH_REGION (CreateBucket: region unknown here)
//	ErrRegionNotServed     FailedPrecondition   REASON_NO_SUCH_REGION (bucket's region not served by this process)
//	ErrInvalidArgument     InvalidArgument      none
//	ErrPreconditionFailed  FailedPrecondition   REASON_PRECONDITION_FAILED
//	ErrNoSuchBucketConfig  NotFound             REASON_NO_SUCH_BUCKET_CONFIG
//	ErrNoSuchUpload        NotFound             REASON_NO_SUCH_UPLOAD
//	ErrInvalidPart         FailedPrecondition   REASON_INVALID_PART
//	ErrInvalidPartOrder    InvalidArgument      REASON_INVALID_PART_ORDER
//	ErrEntityTooSmall      FailedPrecondition   REASON_ENTITY_TOO_SMALL
//	ErrNoSuchSegment       NotFound             none (PlacementService: the owner moved on)
//	ErrObjectLocked        PermissionDenied     REASON_OBJECT_LOCKED
//	ErrInvalidBucketState  FailedPrecondition   REASON_INVALID_BUCKET_STATE
//
// A *store.DeleteMarkerError (a NoSuchKey whose version is a delete marker)
// also carries the marker's version id in the ErrorInfo metadata under
// "delete_marker_version_id".
//
// Anything else: context errors keep their codes (Canceled,
// DeadlineExceeded), a database that cannot be reached is Unavailable (safe
// to retry: nothing was sent), the rest is Internal with a generic message.
func errorTable() []errorMapping {
	return []errorMapping{
		{store.ErrNoSuchBucket, codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET},
		{store.ErrNoSuchKey, codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_KEY},
		{store.ErrNoSuchVersion, codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_VERSION},
		{store.ErrBucketExists, codes.AlreadyExists, metadatav1.Reason_REASON_BUCKET_ALREADY_EXISTS},
		{store.ErrBucketNotEmpty, codes.FailedPrecondition, metadatav1.Reason_REASON_BUCKET_NOT_EMPTY},
		{store.ErrNoSuchRegion, codes.InvalidArgument, metadatav1.Reason_REASON_NO_SUCH_REGION},
		{store.ErrRegionNotServed, codes.FailedPrecondition, metadatav1.Reason_REASON_NO_SUCH_REGION},
		{store.ErrInvalidArgument, codes.InvalidArgument, metadatav1.Reason_REASON_UNSPECIFIED},
		{store.ErrPreconditionFailed, codes.FailedPrecondition, metadatav1.Reason_REASON_PRECONDITION_FAILED},
		{store.ErrNoSuchBucketConfig, codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET_CONFIG},
		{store.ErrNoSuchUpload, codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_UPLOAD},
		{store.ErrInvalidPart, codes.FailedPrecondition, metadatav1.Reason_REASON_INVALID_PART},
		{store.ErrInvalidPartOrder, codes.InvalidArgument, metadatav1.Reason_REASON_INVALID_PART_ORDER},
		{store.ErrEntityTooSmall, codes.FailedPrecondition, metadatav1.Reason_REASON_ENTITY_TOO_SMALL},
		{store.ErrNoSuchSegment, codes.NotFound, metadatav1.Reason_REASON_UNSPECIFIED},
		{store.ErrObjectLocked, codes.PermissionDenied, metadatav1.Reason_REASON_OBJECT_LOCKED},
		{store.ErrInvalidBucketState, codes.FailedPrecondition, metadatav1.Reason_REASON_INVALID_BUCKET_STATE},
	}
}

// toStatus translates an error from the store into a gRPC status. expected
// is false for errors outside the table, which deserve a log line.
func toStatus(err error) (st *status.Status, expected bool) {
	for _, m := range errorTable() {
		if !errors.Is(err, m.err) {
			continue
		}
		st = status.New(m.code, err.Error())
		if m.reason != metadatav1.Reason_REASON_UNSPECIFIED {
			info := &errdetails.ErrorInfo{Reason: m.reason.String(), Domain: ErrorDomain}
			var dm *store.DeleteMarkerError
			if errors.As(err, &dm) {
				info.Metadata = map[string]string{MetadataDeleteMarkerVersionID: dm.VersionID}
			}
			withInfo, derr := st.WithDetails(info)
			if derr == nil {
				st = withInfo
			}
		}
		return st, true
	}
	var connectErr *pgconn.ConnectError
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled"), true
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), true
	case errors.As(err, &connectErr) || pgconn.SafeToRetry(err):
		return status.New(codes.Unavailable, "database unavailable"), false
	}
	// Database error texts stay in the log, not on the wire.
	return status.New(codes.Internal, "internal error"), false
}
