package sigv4

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"hash/crc32"
	"hash/crc64"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial in the reversed form hash/crc64
// expects (normal form 0xad93d23594c93659).
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// trailerChecksum hashes the decoded payload for one x-amz-checksum-*
// trailer so its value can be checked when the trailer arrives.
type trailerChecksum struct {
	name  string // trailer name, lower case
	label string // algorithm as AWS names it in error messages
	h     hash.Hash
}

// newTrailerChecksum returns nil for a trailer that is not a checksum this
// package knows; such trailers pass through unchecked.
func newTrailerChecksum(name string) *trailerChecksum {
	var label string
	var h hash.Hash
	switch name {
	case "x-amz-checksum-crc32":
		label, h = "CRC32", crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		label, h = "CRC32C", crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "x-amz-checksum-crc64nvme":
		label, h = "CRC64NVME", crc64.New(crc64.MakeTable(crc64NVMEPoly))
	case "x-amz-checksum-sha1":
		label, h = "SHA1", sha1.New()
	case "x-amz-checksum-sha256":
		label, h = "SHA256", sha256.New()
	case "x-amz-checksum-md5":
		label, h = "MD5", md5.New()
	case "x-amz-checksum-sha512":
		label, h = "SHA512", sha512.New()
	case "x-amz-checksum-xxhash64":
		label, h = "XXHASH64", xxhash.New()
	case "x-amz-checksum-xxhash3":
		label, h = "XXHASH3", xxh3.New()
	case "x-amz-checksum-xxhash128":
		label, h = "XXHASH128", xxh3.New128()
	default:
		return nil
	}
	return &trailerChecksum{name: name, label: label, h: h}
}
