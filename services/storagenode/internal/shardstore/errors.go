package shardstore

import "errors"

// Sentinel errors. Callers match them with errors.Is; the gRPC layer maps each
// to a status code.
var (
	// ErrNotFound: no shard with that id on this node.
	ErrNotFound = errors.New("shardstore: shard not found")
	// ErrCorrupt: a checksum did not match, or the file is truncated or malformed.
	ErrCorrupt = errors.New("shardstore: shard corrupt")
	// ErrInvalidID: a shard id that does not satisfy ValidateID.
	ErrInvalidID = errors.New("shardstore: invalid shard id")
	// ErrInvalidArgument: a negative size or offset, a size over MaxShardSize,
	// a malformed node id.
	ErrInvalidArgument = errors.New("shardstore: invalid argument")
	// ErrSizeMismatch: a write stream's length differs from its declared size.
	ErrSizeMismatch = errors.New("shardstore: stream length differs from declared size")
	// ErrOutOfRange: a read offset beyond the end of the shard.
	ErrOutOfRange = errors.New("shardstore: offset beyond end of shard")
	// ErrNoSpace: no data dir has room for the shard.
	ErrNoSpace = errors.New("shardstore: no space left on data dirs")
	// ErrNodeMismatch: a data dir holds another node's id.
	ErrNodeMismatch = errors.New("shardstore: data dir belongs to another node")
	// ErrDirInUse: another process holds a data dir's lock.
	ErrDirInUse = errors.New("shardstore: data dir in use by another process")
)

// Sentinels returns every sentinel error of the package, so that error tables
// at the boundaries can be checked for completeness.
func Sentinels() []error {
	return []error{
		ErrNotFound, ErrCorrupt, ErrInvalidID, ErrInvalidArgument, ErrSizeMismatch,
		ErrOutOfRange, ErrNoSpace, ErrNodeMismatch, ErrDirInUse,
	}
}
