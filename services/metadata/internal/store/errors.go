package store

import "errors"

// Sentinel errors. Callers match them with errors.Is; the gRPC layer maps
// each to a status through one table.
var (
	ErrNoSuchBucket    = errors.New("store: no such bucket")
	ErrNoSuchKey       = errors.New("store: no such key")
	ErrNoSuchVersion   = errors.New("store: no such version")
	ErrBucketExists    = errors.New("store: bucket already exists")
	ErrBucketNotEmpty  = errors.New("store: bucket not empty")
	ErrNoSuchRegion    = errors.New("store: no such region")
	ErrRegionNotServed = errors.New("store: region not served here")
	ErrInvalidArgument = errors.New("store: invalid argument")
)

// Sentinels returns every sentinel error of the package by name, so the error
// table at the gRPC boundary can be checked for completeness (a test checks
// this list against the package source).
func Sentinels() map[string]error {
	return map[string]error{
		"ErrNoSuchBucket":    ErrNoSuchBucket,
		"ErrNoSuchKey":       ErrNoSuchKey,
		"ErrNoSuchVersion":   ErrNoSuchVersion,
		"ErrBucketExists":    ErrBucketExists,
		"ErrBucketNotEmpty":  ErrBucketNotEmpty,
		"ErrNoSuchRegion":    ErrNoSuchRegion,
		"ErrRegionNotServed": ErrRegionNotServed,
		"ErrInvalidArgument": ErrInvalidArgument,
	}
}
