package taskqueue

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors. Callers match them with errors.Is; the gRPC layer maps
// each to a status through errorTable.
var (
	ErrNotFound        = errors.New("taskqueue: task not found")
	ErrLeaseLost       = errors.New("taskqueue: task not leased by this owner")
	ErrWrongState      = errors.New("taskqueue: task not in a state that allows this")
	ErrInvalidArgument = errors.New("taskqueue: invalid argument")
	ErrRegionNotServed = errors.New("taskqueue: region not served here")
)

// Sentinels returns every sentinel error of the package by name, so a test
// can check errorTable is complete.
func Sentinels() map[string]error {
	return map[string]error{
		"ErrNotFound":        ErrNotFound,
		"ErrLeaseLost":       ErrLeaseLost,
		"ErrWrongState":      ErrWrongState,
		"ErrInvalidArgument": ErrInvalidArgument,
		"ErrRegionNotServed": ErrRegionNotServed,
	}
}

type errorMapping struct {
	err  error
	code codes.Code
}

// errorTable is the one place queue errors become gRPC statuses:
//
//	ErrNotFound          NotFound
//	ErrLeaseLost         FailedPrecondition (the lease expired and moved on, or the task was cancelled)
//	ErrWrongState        FailedPrecondition (retrying a done task, cancelling a done one)
//	ErrInvalidArgument   InvalidArgument
//	ErrRegionNotServed   FailedPrecondition (PurgeVersion for a region this process does not serve)
//
// Context errors keep their codes, an unreachable database is Unavailable,
// anything else Internal with a generic message.
func errorTable() []errorMapping {
	return []errorMapping{
		{ErrNotFound, codes.NotFound},
		{ErrLeaseLost, codes.FailedPrecondition},
		{ErrWrongState, codes.FailedPrecondition},
		{ErrInvalidArgument, codes.InvalidArgument},
		{ErrRegionNotServed, codes.FailedPrecondition},
	}
}

// toStatus translates an error into a gRPC status; expected is false for
// errors outside the table, which deserve a log line.
func toStatus(err error) (st *status.Status, expected bool) {
	for _, m := range errorTable() {
		if errors.Is(err, m.err) {
			return status.New(m.code, err.Error()), true
		}
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
