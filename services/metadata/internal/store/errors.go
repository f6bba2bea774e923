package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is; the gRPC layer maps
// each to a status through one table.
var (
	ErrNoSuchBucket       = errors.New("store: no such bucket")
	ErrNoSuchKey          = errors.New("store: no such key")
	ErrNoSuchVersion      = errors.New("store: no such version")
	ErrBucketExists       = errors.New("store: bucket already exists")
	ErrBucketNotEmpty     = errors.New("store: bucket not empty")
	ErrNoSuchRegion       = errors.New("store: no such region")
	ErrRegionNotServed    = errors.New("store: region not served here")
	ErrInvalidArgument    = errors.New("store: invalid argument")
	ErrPreconditionFailed = errors.New("store: precondition failed")
	ErrNoSuchBucketConfig = errors.New("store: no such bucket configuration")
	ErrNoSuchUpload       = errors.New("store: no such upload")
	ErrInvalidPart        = errors.New("store: invalid part")
	ErrInvalidPartOrder   = errors.New("store: invalid part order")
	ErrEntityTooSmall     = errors.New("store: entity too small")
	// ErrNoSuchSegment: a segment's owner is gone, no longer live, or does
	// not hold that data id.
	ErrNoSuchSegment = errors.New("store: no such segment")
	// ErrObjectLocked: the version is under retention or legal hold.
	ErrObjectLocked = errors.New("store: object locked")
	// ErrInvalidBucketState: the bucket's state forbids the change (e.g.
	// suspending versioning of a bucket with object lock).
	ErrInvalidBucketState = errors.New("store: invalid bucket state")
)

// Sentinels returns every sentinel error of the package by name, so the error
// table at the gRPC boundary can be checked for completeness (a test checks
// this list against the package source).
func Sentinels() map[string]error {
	return map[string]error{
		"ErrNoSuchBucket":       ErrNoSuchBucket,
		"ErrNoSuchKey":          ErrNoSuchKey,
		"ErrNoSuchVersion":      ErrNoSuchVersion,
		"ErrBucketExists":       ErrBucketExists,
		"ErrBucketNotEmpty":     ErrBucketNotEmpty,
		"ErrNoSuchRegion":       ErrNoSuchRegion,
		"ErrRegionNotServed":    ErrRegionNotServed,
		"ErrInvalidArgument":    ErrInvalidArgument,
		"ErrPreconditionFailed": ErrPreconditionFailed,
		"ErrNoSuchBucketConfig": ErrNoSuchBucketConfig,
		"ErrNoSuchUpload":       ErrNoSuchUpload,
		"ErrInvalidPart":        ErrInvalidPart,
		"ErrInvalidPartOrder":   ErrInvalidPartOrder,
		"ErrEntityTooSmall":     ErrEntityTooSmall,
		"ErrNoSuchSegment":      ErrNoSuchSegment,
		"ErrObjectLocked":       ErrObjectLocked,
		"ErrInvalidBucketState": ErrInvalidBucketState,
	}
}

// DeleteMarkerError is returned, wrapping ErrNoSuchKey, when the version an
// operation addresses is a delete marker: the key's current version for a
// read or tagging of the current version, or the version named for tagging.
// S3 answers with x-amz-delete-marker and the marker's version id.
type DeleteMarkerError struct {
	Bucket, Key string
	// VersionID of the delete marker, as S3 shows it.
	VersionID string
}

func (e *DeleteMarkerError) Error() string {
	return fmt.Sprintf("%v: %s/%s is a delete marker (version %s)", ErrNoSuchKey, e.Bucket, e.Key, e.VersionID)
}

// Unwrap makes errors.Is(err, ErrNoSuchKey) hold.
func (e *DeleteMarkerError) Unwrap() error { return ErrNoSuchKey }
