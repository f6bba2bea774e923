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
}

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
	UserMetadata       map[string]string
	Segments           []Segment
	DeleteMarker       bool
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

// TaskDeleteObject is the task type queued for a replaced or deleted version.
const TaskDeleteObject = "DeleteObject"

// ListOptions select a page of ListObjects.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// StartAfter: return keys and common prefixes strictly after it.
	StartAfter string
	// MaxKeys counts keys and common prefixes; 0 means DefaultMaxKeys, and
	// larger values are capped at it.
	MaxKeys int
}

// DefaultMaxKeys is the default and largest page size of ListObjects.
const DefaultMaxKeys = 1000

// ListResult is one page of ListObjects. Objects carry no segments or user
// metadata: a listing does not need them.
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
	} {
		if err := checkText(f.name, f.value); err != nil {
			return err
		}
	}
	for k, val := range v.UserMetadata {
		if err := checkText("user metadata name", k); err != nil {
			return err
		}
		if err := checkText("user metadata value", val); err != nil {
			return err
		}
	}
	var total int64
	for i, s := range v.Segments {
		if s.DataID == "" {
			return invalid("segment %d has no data_id", i)
		}
		if err := checkText("segment data_id", s.DataID); err != nil {
			return err
		}
		if s.Size < 0 {
			return invalid("segment %d has a negative size", i)
		}
		if err := validateShards(s.DataShards, s.ParityShards); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		if len(s.NodeIDs) != s.DataShards+s.ParityShards {
			return invalid("segment %d lists %d nodes for %d shards", i, len(s.NodeIDs), s.DataShards+s.ParityShards)
		}
		for _, n := range s.NodeIDs {
			if err := checkText("segment node id", n); err != nil {
				return err
			}
		}
		if err := checkText("segment etag", s.ETag); err != nil {
			return err
		}
		total += s.Size
	}
	if len(v.Segments) > 0 && total != v.Size {
		return invalid("segments hold %d bytes, version size is %d", total, v.Size)
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
