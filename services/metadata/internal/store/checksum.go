package store

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// Reflected polynomials of the CRCs S3 offers. All three start from and
// finish with all ones, which is what Go's crc32 and crc64 packages do.
const (
	polyCRC32     = crc32.IEEE
	polyCRC32C    = crc32.Castagnoli
	polyCRC64NVME = 0x9a6c9329ac4bc9b5
)

// digestSize returns the raw size of a checksum of an algorithm.
func digestSize(alg string) int {
	switch alg {
	case ChecksumCRC32, ChecksumCRC32C:
		return 4
	case ChecksumCRC64NVME:
		return 8
	case ChecksumSHA1:
		return sha1.Size
	case ChecksumSHA256:
		return sha256.Size
	case ChecksumMD5:
		return md5.Size
	case ChecksumSHA512:
		return sha512.Size
	case ChecksumXXHASH64, ChecksumXXHASH3:
		return 8
	case ChecksumXXHASH128:
		return 16
	}
	return 0
}

// isCRC reports whether an algorithm's checksums of parts combine into the
// checksum of the whole (FULL_OBJECT); the others are only COMPOSITE.
func isCRC(alg string) bool {
	return alg == ChecksumCRC32 || alg == ChecksumCRC32C || alg == ChecksumCRC64NVME
}

// decodeChecksum decodes a base64 checksum of a single run of bytes (not a
// composite one) and checks its size.
func decodeChecksum(alg, value string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, invalid("%s checksum %q is not base64", alg, value)
	}
	if n := digestSize(alg); n == 0 || len(raw) != n {
		return nil, invalid("%s checksum %q has %d bytes", alg, value, len(raw))
	}
	return raw, nil
}

// checkPartChecksums checks that a part's checksums are plain digests of
// their algorithms.
func checkPartChecksums(m map[string]string) error {
	if err := checkChecksums(m); err != nil {
		return err
	}
	for alg, val := range m {
		if _, err := decodeChecksum(alg, val); err != nil {
			return err
		}
	}
	return nil
}

// defaultChecksumType is the checksum type of a multipart upload that
// named an algorithm but no type: COMPOSITE, except for CRC64NVME, which
// S3 offers only as FULL_OBJECT.
func defaultChecksumType(alg string) string {
	if alg == ChecksumCRC64NVME {
		return ChecksumFullObject
	}
	return ChecksumComposite
}

// validateUploadChecksum checks the checksum algorithm and type of a
// multipart upload and fills in the default type.
func validateUploadChecksum(alg, typ *string) error {
	if *alg == "" {
		if *typ != "" {
			return invalid("checksum type %q without a checksum algorithm", *typ)
		}
		return nil
	}
	if !validAlgorithm(*alg) {
		return invalid("unknown checksum algorithm %q", *alg)
	}
	if *typ == "" {
		*typ = defaultChecksumType(*alg)
	}
	switch {
	case *typ != ChecksumComposite && *typ != ChecksumFullObject:
		return invalid("checksum type %q: want %s or %s", *typ, ChecksumFullObject, ChecksumComposite)
	case *typ == ChecksumComposite && *alg == ChecksumCRC64NVME:
		return invalid("%s checksums are only %s", *alg, ChecksumFullObject)
	case *typ == ChecksumFullObject && !isCRC(*alg):
		return invalid("%s checksums cannot be %s", *alg, ChecksumFullObject)
	}
	return nil
}

// multipartChecksum computes an object's checksum from the checksums of its
// parts, in order: for COMPOSITE the base64 of the algorithm's digest of the
// concatenated raw part checksums, followed by "-<parts>"; for FULL_OBJECT
// the CRC of the whole object, by combining the parts' CRCs. ok is false
// when a part has no checksum of the algorithm.
func multipartChecksum(alg, typ string, parts []Segment) (sum string, ok bool, err error) {
	raws := make([][]byte, len(parts))
	for i, p := range parts {
		v, has := p.Checksums[alg]
		if !has {
			return "", false, nil
		}
		if raws[i], err = decodeChecksum(alg, v); err != nil {
			return "", false, fmt.Errorf("part %d: %w", p.PartNumber, err)
		}
	}
	if typ == ChecksumFullObject {
		var poly, top uint64
		switch alg {
		case ChecksumCRC32:
			poly, top = polyCRC32, 1<<31
		case ChecksumCRC32C:
			poly, top = polyCRC32C, 1<<31
		case ChecksumCRC64NVME:
			poly, top = polyCRC64NVME, 1<<63
		default:
			return "", false, invalid("%s checksums cannot be %s", alg, ChecksumFullObject)
		}
		c := crcPoly{poly: poly, top: top}
		var crc uint64
		for i, raw := range raws {
			part := beUint(raw)
			if i == 0 {
				crc = part
				continue
			}
			crc = c.combine(crc, part, uint64(parts[i].Size))
		}
		out := make([]byte, len(raws[0]))
		if len(out) == 4 {
			binary.BigEndian.PutUint32(out, uint32(crc))
		} else {
			binary.BigEndian.PutUint64(out, crc)
		}
		return base64.StdEncoding.EncodeToString(out), true, nil
	}
	var h hash.Hash
	switch alg {
	case ChecksumCRC32:
		h = crc32.NewIEEE()
	case ChecksumCRC32C:
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case ChecksumSHA1:
		h = sha1.New()
	case ChecksumSHA256:
		h = sha256.New()
	case ChecksumMD5:
		h = md5.New()
	case ChecksumSHA512:
		h = sha512.New()
	case ChecksumXXHASH64:
		h = xxhash.New()
	case ChecksumXXHASH3:
		h = xxh3.New()
	case ChecksumXXHASH128:
		h = xxh3.New128()
	default:
		return "", false, invalid("%s checksums cannot be %s", alg, ChecksumComposite)
	}
	for _, raw := range raws {
		h.Write(raw)
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), len(parts)), true, nil
}

func beUint(b []byte) uint64 {
	if len(b) == 4 {
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

// crcPoly does arithmetic modulo a reflected CRC polynomial of 32 or 64
// bits, after zlib's crc32_combine: top is x^0 in the reflected
// representation (the highest bit of the width).
type crcPoly struct {
	poly, top uint64
}

// mulmod returns a*b modulo the polynomial; a must not be zero.
func (c crcPoly) mulmod(a, b uint64) uint64 {
	var p uint64
	for m := c.top; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// xpow8n returns x^(8n) modulo the polynomial: the operator that appends n
// zero bytes.
func (c crcPoly) xpow8n(n uint64) uint64 {
	p := c.top       // x^0
	sq := c.top >> 1 // x^(2^k), starting at x^1
	for range 3 {    // x^8
		sq = c.mulmod(sq, sq)
	}
	for ; n != 0; n >>= 1 {
		if n&1 != 0 {
			p = c.mulmod(sq, p)
		}
		sq = c.mulmod(sq, sq)
	}
	return p
}

// combine returns the CRC of A followed by B from crcA, crcB and B's
// length.
func (c crcPoly) combine(crcA, crcB, lenB uint64) uint64 {
	return c.mulmod(c.xpow8n(lenB), crcA) ^ crcB
}

// multipartETag is S3's ETag of a multipart object: the hex MD5 of the
// concatenated binary MD5s of the parts, then "-<parts>".
func multipartETag(etags []string) (string, error) {
	h := md5.New()
	for _, e := range etags {
		raw, err := hex.DecodeString(unquote(e))
		if err != nil || len(raw) != md5.Size {
			return "", invalid("part etag %q is not a hex MD5", e)
		}
		h.Write(raw)
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(etags)), nil
}

// isHexMD5 reports whether s is 32 hex digits.
func isHexMD5(s string) bool {
	raw, err := hex.DecodeString(s)
	return err == nil && len(raw) == md5.Size
}
