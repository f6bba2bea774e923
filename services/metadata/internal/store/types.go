package store

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Bucket is a row of the global buckets table.
type Bucket struct {
	ID           int64
	Name         string
	Region       string
	DataShards   int
	ParityShards int
	CreatedAt    time.Time
	Versioning   Versioning
	// ObjectLock: the bucket has an object lock configuration.
	ObjectLock bool
}

// Versioning is a bucket's versioning state.
type Versioning string

// Versioning states. A bucket starts unversioned and, once versioning is
// enabled, is only ever enabled or suspended.
const (
	Unversioned         Versioning = "unversioned"
	VersioningEnabled   Versioning = "enabled"
	VersioningSuspended Versioning = "suspended"
)

// NullVersionID is the version id S3 shows for a key's null version: the
// one written while its bucket was unversioned or suspended.
const NullVersionID = "null"

// Segment is one erasure-coded run of an object's bytes. Its JSON form is
// stored in object_versions.segments and in DeleteObject task payloads, so
// the field names are part of the task format.
type Segment struct {
	DataID       string   `json:"data_id"`
	Size         int64    `json:"size"`
	DataShards   int      `json:"data_shards"`
	ParityShards int      `json:"parity_shards"`
	BlockSize    int      `json:"block_size"`
	NodeIDs      []string `json:"node_ids"`
	PartNumber   int      `json:"part_number,omitempty"`
	ETag         string   `json:"etag,omitempty"`
	// Checksums of the segment's bytes by algorithm, base64.
	Checksums map[string]string `json:"checksums,omitempty"`
}

// Version is one version of an object.
type Version struct {
	Bucket             string
	Key                string
	VersionID          string
	Size               int64
	ETag               string
	LastModified       time.Time
	ContentType        string
	ContentEncoding    string
	CacheControl       string
	ContentDisposition string
	ContentLanguage    string
	Expires            string
	// WebsiteRedirectLocation is x-amz-website-redirect-location.
	WebsiteRedirectLocation string
	UserMetadata            map[string]string
	Segments                []Segment
	DeleteMarker            bool
	// IsLatest: this is the key's current version (set on reads).
	IsLatest bool
	Tags     map[string]string
	// Checksums of the whole object by algorithm, base64 ("<base64>-<n>"
	// for a composite multipart checksum).
	Checksums map[string]string
	// ChecksumType is "FULL_OBJECT" or "COMPOSITE" when Checksums is set.
	ChecksumType string
	// PartsCount is the number of parts of a multipart object, else 0.
	PartsCount int
	// Object Lock retention: LockMode is "GOVERNANCE" or "COMPLIANCE" with
	// LockRetainUntil set, or "" with it nil. LegalHold holds the version
	// regardless of retention; LegalHoldSet tells a released hold (OFF)
	// from one never set.
	LockMode        string
	LockRetainUntil *time.Time
	LegalHold       bool
	LegalHoldSet    bool

	// seq orders the versions of a key (higher is newer).
	seq int64
}

// Preconditions of a write, checked against the key's current version
// under the key's lock: S3's If-Match and If-None-Match on PUT and
// CompleteMultipartUpload.
type Preconditions struct {
	// IfMatch: commit only when the current version's ETag is this.
	IfMatch string
	// IfNoneMatch: commit only when the key has no current version (a
	// delete marker does not count).
	IfNoneMatch bool
}

// DeleteResult tells what DeleteObject did.
type DeleteResult struct {
	// Deleted is false when there was nothing to delete.
	Deleted bool
	// DeleteMarker: the delete created, or permanently removed, a delete
	// marker.
	DeleteMarker bool
	// VersionID of the created delete marker or of the removed version.
	VersionID string
}

// DeleteObjectPayload is the payload of a "DeleteObject" task: the data of a
// replaced or deleted version, for the worker to collect.
type DeleteObjectPayload struct {
	BucketID  int64     `json:"bucket_id"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	VersionID string    `json:"version_id"`
	Segments  []Segment `json:"segments"`
}

// DeletePartsPayload is the payload of a "DeleteParts" task: the data of
// multipart parts that were replaced, aborted or left out of a completed
// upload. It has no version id: no version row refers to the parts.
type DeletePartsPayload struct {
	BucketID int64     `json:"bucket_id"`
	Bucket   string    `json:"bucket"`
	Key      string    `json:"key"`
	UploadID string    `json:"upload_id"`
	Segments []Segment `json:"segments"`
}

// Task types written to the outbox.
const (
	// TaskDeleteObject is queued for a replaced or deleted version.
	TaskDeleteObject = "DeleteObject"
	// TaskDeleteParts is queued for multipart parts no object uses.
	TaskDeleteParts = "DeleteParts"
	// TaskDeleteBucket is queued for a bucket deleted with objects in it.
	TaskDeleteBucket = "DeleteBucket"
	// TaskRepairShard is queued for a shard a commit records without a
	// node (written while a node was down). Only garbage collection waits
	// for GCGrace; repairs run at once, ahead of other tasks.
	TaskRepairShard = "RepairShard"
	repairPriority  = "10"
)

// ListOptions select a page of ListObjects.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// StartAfter: return keys and common prefixes strictly after it.
	StartAfter string
	// MaxKeys counts keys and common prefixes; 0 means DefaultMaxKeys, and
	// larger values are capped at it.
	MaxKeys int
	// WithUserMetadata fills in each listed object's UserMetadata.
	WithUserMetadata bool
}

// DefaultMaxKeys is the default and largest page size of ListObjects.
const DefaultMaxKeys = 1000

// ListResult is one page of ListObjects. Objects carry no segments, and user
// metadata only when asked for.
type ListResult struct {
	Objects        []Version
	CommonPrefixes []string
	Truncated      bool
	// NextMarker is the last key or common prefix returned, set when
	// Truncated: pass it as StartAfter for the next page.
	NextMarker string
}

// MaxKeyLen is the longest object key, in bytes (the S3 limit).
const MaxKeyLen = 1024

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// checkText rejects strings PostgreSQL cannot store in text or jsonb.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if strings.ContainsRune(s, 0) {
		return invalid("%s contains a NUL character", field)
	}
	return nil
}

// ValidateBucketName applies the S3 bucket naming rules: 3 to 63 characters
// of lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit.
func ValidateBucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return invalid("bucket name %q must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' {
			return invalid("bucket name %q may hold only lower-case letters, digits, dots and hyphens", name)
		}
		if !alnum && (i == 0 || i == len(name)-1) {
			return invalid("bucket name %q must start and end with a letter or digit", name)
		}
	}
	return nil
}

// ValidateKey checks an object key.
func ValidateKey(key string) error {
	if key == "" {
		return invalid("key is empty")
	}
	if len(key) > MaxKeyLen {
		return invalid("key is longer than %d bytes", MaxKeyLen)
	}
	return checkText("key", key)
}

func validateVersion(v *Version) error {
	if err := ValidateKey(v.Key); err != nil {
		return err
	}
	if v.Size < 0 {
		return invalid("size %d is negative", v.Size)
	}
	for _, f := range []struct{ name, value string }{
		{"etag", v.ETag},
		{"content_type", v.ContentType},
		{"content_encoding", v.ContentEncoding},
		{"cache_control", v.CacheControl},
		{"content_disposition", v.ContentDisposition},
		{"content_language", v.ContentLanguage},
		{"expires", v.Expires},
		{"website_redirect_location", v.WebsiteRedirectLocation},
	} {
		if err := checkText(f.name, f.value); err != nil {
			return err
		}
	}
	if err := checkMap("user metadata", v.UserMetadata); err != nil {
		return err
	}
	if err := checkMap("tag", v.Tags); err != nil {
		return err
	}
	if err := checkChecksums(v.Checksums); err != nil {
		return err
	}
	if err := validateRetention(v.LockMode, v.LockRetainUntil); err != nil {
		return err
	}
	switch v.ChecksumType {
	case "", ChecksumFullObject, ChecksumComposite:
	default:
		return invalid("checksum type %q: want %s or %s", v.ChecksumType, ChecksumFullObject, ChecksumComposite)
	}
	switch {
	case len(v.Checksums) == 0:
		v.ChecksumType = ""
	case v.ChecksumType == "":
		v.ChecksumType = ChecksumFullObject
	}
	if v.PartsCount < 0 || v.PartsCount > MaxPartNumber {
		return invalid("parts count %d out of range", v.PartsCount)
	}
	var total int64
	for i, s := range v.Segments {
		if err := validateSegment(s); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		total += s.Size
	}
	if len(v.Segments) > 0 && total != v.Size {
		return invalid("segments hold %d bytes, version size is %d", total, v.Size)
	}
	return nil
}

// validateSegment checks a segment. An empty segment may have no data at
// all (no data id, no nodes): an empty part.
func validateSegment(s Segment) error {
	if s.Size < 0 {
		return invalid("negative size %d", s.Size)
	}
	if err := checkText("segment etag", s.ETag); err != nil {
		return err
	}
	if err := checkChecksums(s.Checksums); err != nil {
		return err
	}
	if s.Size == 0 && s.DataID == "" && len(s.NodeIDs) == 0 {
		return nil
	}
	if s.DataID == "" {
		return invalid("no data_id")
	}
	if err := checkText("segment data_id", s.DataID); err != nil {
		return err
	}
	if err := validateShards(s.DataShards, s.ParityShards); err != nil {
		return err
	}
	if len(s.NodeIDs) != s.DataShards+s.ParityShards {
		return invalid("%d nodes listed for %d shards", len(s.NodeIDs), s.DataShards+s.ParityShards)
	}
	for _, n := range s.NodeIDs {
		if err := checkText("segment node id", n); err != nil {
			return err
		}
	}
	return nil
}

// checkMap checks the names and values of a string map.
func checkMap(what string, m map[string]string) error {
	for k, val := range m {
		if err := checkText(what+" name", k); err != nil {
			return err
		}
		if err := checkText(what+" value", val); err != nil {
			return err
		}
	}
	return nil
}

// Checksum algorithms, as S3 names them.
const (
	ChecksumCRC32     = "CRC32"
	ChecksumCRC32C    = "CRC32C"
	ChecksumCRC64NVME = "CRC64NVME"
	ChecksumSHA1      = "SHA1"
	ChecksumSHA256    = "SHA256"
	ChecksumMD5       = "MD5"
	ChecksumSHA512    = "SHA512"
	ChecksumXXHASH64  = "XXHASH64"
	ChecksumXXHASH3   = "XXHASH3"
	ChecksumXXHASH128 = "XXHASH128"
)

// Checksum types.
const (
	ChecksumFullObject = "FULL_OBJECT"
	ChecksumComposite  = "COMPOSITE"
)

func validAlgorithm(a string) bool { return digestSize(a) > 0 }

// checkChecksums checks a map of checksums by algorithm.
func checkChecksums(m map[string]string) error {
	for a, val := range m {
		if !validAlgorithm(a) {
			return invalid("unknown checksum algorithm %q", a)
		}
		if val == "" {
			return invalid("empty %s checksum", a)
		}
		if err := checkText("checksum", val); err != nil {
			return err
		}
	}
	return nil
}

func validateShards(k, m int) error {
	if k < 1 || m < 1 || k+m > 256 {
		return invalid("erasure parameters k=%d m=%d: want 1<=k, 1<=m, k+m<=256", k, m)
	}
	return nil
}

func validateListOptions(o *ListOptions) error {
	if o.MaxKeys < 0 {
		return invalid("max_keys %d is negative", o.MaxKeys)
	}
	if o.MaxKeys == 0 || o.MaxKeys > DefaultMaxKeys {
		o.MaxKeys = DefaultMaxKeys
	}
	for _, f := range []struct{ name, value string }{
		{"prefix", o.Prefix}, {"delimiter", o.Delimiter}, {"start_after", o.StartAfter},
	} {
		if err := checkText(f.name, f.value); err != nil {
			return err
		}
	}
	return nil
}
