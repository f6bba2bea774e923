package s3

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"sync"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// S3's additional checksum algorithms, as x-amz-checksum-algorithm names them.
const (
	algoCRC32     = "CRC32"
	algoCRC32C    = "CRC32C"
	algoCRC64NVME = "CRC64NVME"
	algoSHA1      = "SHA1"
	algoSHA256    = "SHA256"
)

// Checksum types: a checksum of the whole object's bytes, or (multipart
// uploads) a checksum of the parts' checksums.
const (
	checksumTypeFullObject = "FULL_OBJECT"
	checksumTypeComposite  = "COMPOSITE"
)

// defaultChecksum is what S3 computes when a client names no algorithm.
const defaultChecksum = algoCRC64NVME

// crc64NVMEPoly is the CRC-64/NVME polynomial, bit-reversed as reflected
// table-driven CRCs use it (normal form 0xad93d23594c93659).
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// checksumAlgorithms lists the supported algorithms in S3's order.
func checksumAlgorithms() []string {
	return []string{algoCRC32, algoCRC32C, algoCRC64NVME, algoSHA1, algoSHA256}
}

func validAlgorithm(a string) bool {
	switch a {
	case algoCRC32, algoCRC32C, algoCRC64NVME, algoSHA1, algoSHA256:
		return true
	}
	return false
}

// isCRC reports whether algo can form FULL_OBJECT checksums of multipart
// uploads (CRCs of parts combine; cryptographic hashes do not).
func isCRC(algo string) bool {
	return algo == algoCRC32 || algo == algoCRC32C || algo == algoCRC64NVME
}

// checksumHeader is the header (or trailer) carrying algo's value.
func checksumHeader(algo string) string { return "x-amz-checksum-" + strings.ToLower(algo) }

// checksumSize is the digest length of algo in bytes.
func checksumSize(algo string) int {
	switch algo {
	case algoCRC32, algoCRC32C:
		return 4
	case algoCRC64NVME:
		return 8
	case algoSHA1:
		return sha1.Size
	case algoSHA256:
		return sha256.Size
	}
	return 0
}

// newChecksum returns a fresh hash for algo (nil for an unknown one).
func newChecksum(algo string) hash.Hash {
	switch algo {
	case algoCRC32:
		return crc32.NewIEEE()
	case algoCRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case algoCRC64NVME:
		return &crc64nvme{}
	case algoSHA1:
		return sha1.New()
	case algoSHA256:
		return sha256.New()
	}
	return nil
}

// crc64Tables are slicing-by-8 tables for CRC-64/NVME. hash/crc64 only
// accelerates its two built-in polynomials and is several times slower
// for this one, which every upload computes by default.
var crc64Tables = sync.OnceValue(func() *[8][256]uint64 {
	var t [8][256]uint64
	for i := range 256 {
		crc := uint64(i)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ crc64NVMEPoly
			} else {
				crc >>= 1
			}
		}
		t[0][i] = crc
	}
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ crc>>8
			t[j][i] = crc
		}
	}
	return &t
})

// crc64nvme is a hash.Hash computing CRC-64/NVME.
type crc64nvme struct{ crc uint64 }

func (c *crc64nvme) Write(p []byte) (int, error) {
	c.crc = updateCRC64NVME(c.crc, p)
	return len(p), nil
}

func (c *crc64nvme) Sum(b []byte) []byte { return binary.BigEndian.AppendUint64(b, c.crc) }
func (c *crc64nvme) Reset()              { c.crc = 0 }
func (c *crc64nvme) Size() int           { return 8 }
func (c *crc64nvme) BlockSize() int      { return 1 }

func updateCRC64NVME(crc uint64, p []byte) uint64 {
	t := crc64Tables()
	crc = ^crc
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint64(p)
		crc = t[7][crc&0xff] ^ t[6][crc>>8&0xff] ^ t[5][crc>>16&0xff] ^ t[4][crc>>24&0xff] ^
			t[3][crc>>32&0xff] ^ t[2][crc>>40&0xff] ^ t[1][crc>>48&0xff] ^ t[0][crc>>56]
		p = p[8:]
	}
	for _, b := range p {
		crc = t[0][byte(crc)^b] ^ crc>>8
	}
	return ^crc
}

// crcParams describes a reflected CRC for combining: its reversed
// polynomial and width in bits.
func crcParams(algo string) (poly uint64, width int) {
	switch algo {
	case algoCRC32:
		return uint64(crc32.IEEE), 32
	case algoCRC32C:
		return uint64(crc32.Castagnoli), 32
	case algoCRC64NVME:
		return crc64NVMEPoly, 64
	}
	return 0, 0
}

// crcCombiner computes crc(A||B) from crc(A), crc(B) and len(B) without
// the data (zlib's crc32_combine, generalised to any reflected CRC with
// pre- and post-inversion).
type crcCombiner struct {
	poly uint64
	top  uint64 // x^0 in the reflected representation
	x2n  [67]uint64
}

func newCRCCombiner(algo string) *crcCombiner {
	poly, width := crcParams(algo)
	c := &crcCombiner{poly: poly, top: 1 << (width - 1)}
	p := c.top >> 1 // x^1
	c.x2n[0] = p
	for i := 1; i < len(c.x2n); i++ {
		p = c.multmodp(p, p)
		c.x2n[i] = p
	}
	return c
}

// multmodp multiplies a and b modulo the polynomial.
func (c *crcCombiner) multmodp(a, b uint64) uint64 {
	m, p := c.top, uint64(0)
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// x8nmodp returns x^(8n) modulo the polynomial.
func (c *crcCombiner) x8nmodp(n int64) uint64 {
	p, k := c.top, 3
	for n > 0 {
		if n&1 != 0 {
			p = c.multmodp(c.x2n[k], p)
		}
		n >>= 1
		k++
	}
	return p
}

func (c *crcCombiner) combine(crc1, crc2 uint64, len2 int64) uint64 {
	return c.multmodp(c.x8nmodp(len2), crc1) ^ crc2
}

// partChecksum is one part's checksum value (base64) and size.
type partChecksum struct {
	value string
	size  int64
}

// fullObjectChecksum combines the parts' CRCs into the CRC of the whole
// object, base64 as S3 shows it.
func fullObjectChecksum(algo string, parts []partChecksum) (string, error) {
	if !isCRC(algo) {
		return "", fmt.Errorf("%s checksums do not combine", algo)
	}
	c := newCRCCombiner(algo)
	size := checksumSize(algo)
	var crc uint64
	for i, p := range parts {
		raw, err := decodeChecksum(algo, p.value)
		if err != nil {
			return "", fmt.Errorf("part %d: %w", i+1, err)
		}
		var v uint64
		if size == 4 {
			v = uint64(binary.BigEndian.Uint32(raw))
		} else {
			v = binary.BigEndian.Uint64(raw)
		}
		if i == 0 {
			crc = v
			continue
		}
		crc = c.combine(crc, v, p.size)
	}
	out := make([]byte, 0, size)
	if size == 4 {
		out = binary.BigEndian.AppendUint32(out, uint32(crc))
	} else {
		out = binary.BigEndian.AppendUint64(out, crc)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// compositeChecksum is S3's checksum of checksums:
// base64(algo(raw part checksums concatenated)) + "-" + number of parts.
func compositeChecksum(algo string, parts []string) (string, error) {
	h := newChecksum(algo)
	if h == nil {
		return "", fmt.Errorf("unknown checksum algorithm %q", algo)
	}
	for i, p := range parts {
		raw, err := decodeChecksum(algo, p)
		if err != nil {
			return "", fmt.Errorf("part %d: %w", i+1, err)
		}
		h.Write(raw)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// decodeChecksum decodes a base64 checksum value and checks its length.
func decodeChecksum(algo, value string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil || len(raw) != checksumSize(algo) {
		return nil, fmt.Errorf("invalid %s checksum %q", algo, value)
	}
	return raw, nil
}

// validCompositeValue reports whether v has the form "<base64>-<parts>".
func validCompositeValue(algo, v string) bool {
	sum, n, ok := strings.Cut(v, "-")
	if !ok {
		return false
	}
	if _, err := decodeChecksum(algo, sum); err != nil {
		return false
	}
	parts, ok := parseDigits(n)
	return ok && parts >= 1 && parts <= maxPartNumber && strconv.FormatInt(parts, 10) == n
}

// checksumRequest is what a request's headers say about its payload's
// checksum.
type checksumRequest struct {
	// algo is the algorithm the client named, "" when none.
	algo string
	// value is the digest from an x-amz-checksum-* header, nil when the
	// value comes in a trailer or not at all.
	value []byte
	// trailer names the trailing header carrying the value, if any.
	trailer string
}

// isChecksumControlHeader reports x-amz-checksum-* headers that carry no
// checksum value.
func isChecksumControlHeader(lower string) bool {
	switch lower {
	case "x-amz-checksum-type", "x-amz-checksum-algorithm", "x-amz-checksum-mode":
		return true
	}
	return false
}

// parseChecksumRequest reads x-amz-checksum-*, x-amz-sdk-checksum-algorithm
// and x-amz-trailer, answering malformed combinations as S3 does.
func parseChecksumRequest(h http.Header) (checksumRequest, *Error) {
	var cr checksumRequest
	var found []string
	for name, vals := range h {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "x-amz-checksum-") || isChecksumControlHeader(lower) {
			continue
		}
		algo := strings.ToUpper(strings.TrimPrefix(lower, "x-amz-checksum-"))
		if !validAlgorithm(algo) {
			return cr, newError(ErrInvalidRequest, "The algorithm type you specified in x-amz-checksum- header is invalid.")
		}
		found = append(found, algo)
		cr.algo = algo
		raw, err := decodeChecksum(algo, strings.TrimSpace(strings.Join(vals, "")))
		if err != nil {
			cr.value = nil
		} else {
			cr.value = raw
		}
	}
	if len(found) > 1 {
		return cr, newError(ErrInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	if len(found) == 1 && cr.value == nil {
		return cr, errorf(ErrInvalidRequest, "Value for %s header is invalid.", checksumHeader(cr.algo))
	}
	sdkAlgo := strings.ToUpper(strings.TrimSpace(h.Get("x-amz-sdk-checksum-algorithm")))
	if sdkAlgo != "" && !validAlgorithm(sdkAlgo) {
		return cr, newError(ErrInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	for _, v := range h.Values("x-amz-trailer") {
		for _, name := range strings.Split(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if !strings.HasPrefix(name, "x-amz-checksum-") {
				continue
			}
			algo := strings.ToUpper(strings.TrimPrefix(name, "x-amz-checksum-"))
			if !validAlgorithm(algo) {
				return cr, newError(ErrInvalidRequest, "The value specified in the x-amz-trailer header is not supported")
			}
			if cr.algo != "" {
				return cr, newError(ErrInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			cr.algo, cr.trailer = algo, name
		}
	}
	if sdkAlgo != "" {
		if cr.algo != "" && cr.algo != sdkAlgo {
			return cr, newError(ErrInvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		cr.algo = sdkAlgo
	}
	return cr, nil
}

// verify checks the computed digest against the value the client sent in
// a header or (read once the body ended) a trailer.
func (cr checksumRequest) verify(computed []byte, trailers func() http.Header) *Error {
	want := cr.value
	if cr.trailer != "" {
		var hdr http.Header
		if trailers != nil {
			hdr = trailers()
		}
		raw, err := decodeChecksum(cr.algo, strings.TrimSpace(hdr.Get(cr.trailer)))
		if err != nil {
			return errorf(ErrInvalidRequest, "Value for %s trailing header is invalid.", cr.trailer)
		}
		want = raw
	}
	if want == nil {
		return nil
	}
	if string(want) != string(computed) {
		return errorf(ErrBadDigest, "The %s you specified did not match the calculated checksum.", cr.algo)
	}
	return nil
}

// checksummer computes the checksums of one upload's bytes.
type checksummer struct {
	algos  []string
	hashes []hash.Hash
}

func newChecksummer(algos ...string) *checksummer {
	c := &checksummer{}
	seen := map[string]bool{}
	for _, a := range algos {
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		c.algos = append(c.algos, a)
		c.hashes = append(c.hashes, newChecksum(a))
	}
	return c
}

// raw returns algo's digest.
func (c *checksummer) raw(algo string) []byte {
	for i, a := range c.algos {
		if a == algo {
			return c.hashes[i].Sum(nil)
		}
	}
	return nil
}

// sums returns every digest, base64, by algorithm.
func (c *checksummer) sums() map[string]string {
	out := make(map[string]string, len(c.algos))
	for i, a := range c.algos {
		out[a] = base64.StdEncoding.EncodeToString(c.hashes[i].Sum(nil))
	}
	return out
}

// setChecksumHeaders writes x-amz-checksum-<algo> for every sum and, when
// set, x-amz-checksum-type.
func setChecksumHeaders(hdr http.Header, sums map[string]string, typ string) {
	for algo, v := range sums {
		if validAlgorithm(algo) && v != "" {
			hdr.Set(checksumHeader(algo), v)
		}
	}
	if typ != "" && len(sums) > 0 {
		hdr.Set("x-amz-checksum-type", typ)
	}
}

// objectChecksums returns the checksums S3 shows for v: the stored ones,
// or for a multipart object stored without them, the FULL_OBJECT CRC (or
// COMPOSITE hash) derived from its parts' checksums.
func objectChecksums(v *metadatav1.ObjectVersion) (map[string]string, string) {
	if len(v.GetChecksums()) > 0 {
		typ := v.GetChecksumType()
		if typ == "" {
			typ = checksumTypeFullObject
			for _, s := range v.GetChecksums() {
				if strings.Contains(s, "-") {
					typ = checksumTypeComposite
				}
			}
		}
		return v.GetChecksums(), typ
	}
	segs := v.GetSegments()
	if v.GetPartsCount() == 0 {
		if len(segs) == 1 && len(segs[0].GetChecksums()) > 0 {
			return segs[0].GetChecksums(), checksumTypeFullObject
		}
		return nil, ""
	}
	if len(segs) == 0 {
		return nil, ""
	}
	for _, algo := range []string{algoCRC64NVME, algoCRC32C, algoCRC32, algoSHA256, algoSHA1} {
		var parts []partChecksum
		var values []string
		for _, s := range segs {
			val, ok := s.GetChecksums()[algo]
			if !ok {
				break
			}
			parts = append(parts, partChecksum{value: val, size: s.GetSize()})
			values = append(values, val)
		}
		if len(parts) != len(segs) {
			continue
		}
		if isCRC(algo) {
			if sum, err := fullObjectChecksum(algo, parts); err == nil {
				return map[string]string{algo: sum}, checksumTypeFullObject
			}
			continue
		}
		if sum, err := compositeChecksum(algo, values); err == nil {
			return map[string]string{algo: sum}, checksumTypeComposite
		}
	}
	return nil, ""
}
