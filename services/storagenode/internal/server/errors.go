package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anvil-store/anvil/services/storagenode/internal/shardstore"
)

// errorCode maps one domain error to the gRPC code callers act on.
type errorCode struct {
	err  error
	code codes.Code
}

// errorTable is the one translation of errors at the gRPC boundary. Callers
// rely on the codes: DataLoss means "read another shard and repair this one",
// NotFound means "this node does not hold it".
func errorTable() []errorCode {
	return []errorCode{
		{shardstore.ErrNotFound, codes.NotFound},
		{shardstore.ErrCorrupt, codes.DataLoss},
		{shardstore.ErrInvalidID, codes.InvalidArgument},
		{shardstore.ErrInvalidArgument, codes.InvalidArgument},
		{shardstore.ErrSizeMismatch, codes.InvalidArgument},
		{shardstore.ErrOutOfRange, codes.OutOfRange},
		{shardstore.ErrNoSpace, codes.ResourceExhausted},
		{shardstore.ErrNodeMismatch, codes.FailedPrecondition},
		{shardstore.ErrDirInUse, codes.FailedPrecondition},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
	}
}

// toStatus converts an error to a gRPC status error. The message is the
// error's text, which names the shard and the sentinel; errors outside the
// table (disk I/O failures) become Internal.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range errorTable() {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}
