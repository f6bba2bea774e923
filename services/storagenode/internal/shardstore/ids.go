package shardstore

import (
	"crypto/rand"
	"fmt"
	"strings"
)

const (
	// MaxIDLen bounds a shard id; with the temp-file prefix and suffix the
	// name stays under the 255-byte file name limit.
	MaxIDLen = 200
	// MaxNodeIDLen bounds a node id (it is part of an etcd key).
	MaxNodeIDLen = 64
)

// ValidateID checks a shard id: 1 to 200 characters of [A-Za-z0-9._-],
// starting with a letter or digit, without "..". Shard ids become file names,
// so anything else is refused rather than cleaned.
func ValidateID(id string) error {
	if err := validateName(id, MaxIDLen); err != nil {
		return fmt.Errorf("shard id %q: %s: %w", truncate(id), err, ErrInvalidID)
	}
	return nil
}

// ValidateNodeID checks a node id with the same rule as shard ids, up to 64
// characters.
func ValidateNodeID(id string) error {
	if err := validateName(id, MaxNodeIDLen); err != nil {
		return fmt.Errorf("node id %q: %s: %w", truncate(id), err, ErrInvalidArgument)
	}
	return nil
}

type nameError string

func (e nameError) Error() string { return string(e) }

func validateName(s string, maxLen int) error {
	if s == "" {
		return nameError("empty")
	}
	if len(s) > maxLen {
		return nameError(fmt.Sprintf("longer than %d bytes", maxLen))
	}
	if !isAlnum(s[0]) {
		return nameError("must start with a letter or digit")
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return nameError(fmt.Sprintf("invalid character at byte %d", i))
		}
	}
	if strings.Contains(s, "..") {
		return nameError(`contains ".."`)
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// truncate keeps error messages short when a caller sends a huge bogus id.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// newNodeID returns a random UUID (version 4).
func newNodeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hash64 is FNV-1a followed by a splitmix64 finaliser, so that ids differing
// in one character still spread evenly.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// fanout returns the subdirectory (two hex digits) a shard id lives in.
func fanout(id string) string {
	const hexdigits = "0123456789abcdef"
	b := byte(hash64(id) >> 56)
	return string([]byte{hexdigits[b>>4], hexdigits[b&0xf]})
}
