package s3

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// S3's additional checksum algorithms, as x-amz-checksum-algorithm names them.
const (
	algoCRC32     = "CRC32"
	algoCRC32C    = "CRC32C"
	algoCRC64NVME = "CRC64NVME"
	algoSHA1      = "SHA1"
	algoSHA256    = "SHA256"
	algoMD5       = "MD5"
	algoSHA512    = "SHA512"
	algoXXHASH64  = "XXHASH64"
	algoXXHASH3   = "XXHASH3" // XXH3, 64-bit
	algoXXHASH128 = "XXHASH128"
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

// checksumAlgorithms lists the supported algorithms: S3's original five in
// its order, then those it added later.
func checksumAlgorithms() []string {
	return []string{
		algoCRC32, algoCRC32C, algoCRC64NVME, algoSHA1, algoSHA256,
		algoMD5, algoSHA512, algoXXHASH64, algoXXHASH3, algoXXHASH128,
	}
}

func validAlgorithm(a string) bool { return checksumSize(a) > 0 }

// isCRC reports whether algo can form FULL_OBJECT checksums of multipart
// uploads (CRCs of parts combine; the hashes can only be COMPOSITE).
func isCRC(algo string) bool {
	return algo == algoCRC32 || algo == algoCRC32C || algo == algoCRC64NVME
}

// errUnsupportedAlgorithm answers an x-amz-sdk-checksum-algorithm or
// x-amz-checksum-algorithm naming no algorithm S3 knows.
func errUnsupportedAlgorithm() *Error {
	names := checksumAlgorithms()
	sort.Strings(names) // the message lists them alphabetically
	return errorf(ErrInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [%s]",
		strings.Join(names, ", "))
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
	case algoMD5:
		return md5.Size
	case algoSHA512:
		return sha512.Size
	case algoXXHASH64, algoXXHASH3:
		return 8
	case algoXXHASH128:
		return 16
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
	case algoMD5:
		return md5.New()
	case algoSHA512:
		return sha512.New()
	case algoXXHASH64:
		return xxhash.New()
	case algoXXHASH3:
		return xxh3.New()
	case algoXXHASH128:
		return xxh3.New128()
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

// validCompositeValue reports whether v is a composite checksum as a
// client may state it: "<base64>-<parts>", or the bare "<base64>" that
// S3 also accepts (minio-go sends that form).
func validCompositeValue(algo, v string) bool {
	sum, n, ok := strings.Cut(v, "-")
	if _, err := decodeChecksum(algo, sum); err != nil {
		return false
	}
	if !ok {
		return true
	}
	parts, ok := parseDigits(n)
	return ok && parts >= 1 && parts <= maxPartNumber && strconv.FormatInt(parts, 10) == n
}

// withoutPartCount drops the "-<parts>" of composite checksums, as
// GetObjectAttributes shows them (Complete, HEAD and GET keep it).
func withoutPartCount(sums map[string]string) map[string]string {
	out := make(map[string]string, len(sums))
	for algo, v := range sums {
		sum, _, _ := strings.Cut(v, "-")
		out[algo] = sum
	}
	return out
}

// sameChecksum reports whether a checksum a client stated matches the
// computed one; a composite may be stated without its "-<parts>" suffix.
func sameChecksum(stated, computed string) bool {
	if stated == computed {
		return true
	}
	sum, _, composite := strings.Cut(computed, "-")
	return composite && stated == sum
}

// checksumFields are the checksum elements S3 documents carry.
type checksumFields struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumMD5       string `xml:"ChecksumMD5,omitempty"`
	ChecksumSHA512    string `xml:"ChecksumSHA512,omitempty"`
	ChecksumXXHASH64  string `xml:"ChecksumXXHASH64,omitempty"`
	ChecksumXXHASH3   string `xml:"ChecksumXXHASH3,omitempty"`
	ChecksumXXHASH128 string `xml:"ChecksumXXHASH128,omitempty"`
}

// field returns the element carrying algo's value (nil for an unknown one).
func (c *checksumFields) field(algo string) *string {
	switch algo {
	case algoCRC32:
		return &c.ChecksumCRC32
	case algoCRC32C:
		return &c.ChecksumCRC32C
	case algoCRC64NVME:
		return &c.ChecksumCRC64NVME
	case algoSHA1:
		return &c.ChecksumSHA1
	case algoSHA256:
		return &c.ChecksumSHA256
	case algoMD5:
		return &c.ChecksumMD5
	case algoSHA512:
		return &c.ChecksumSHA512
	case algoXXHASH64:
		return &c.ChecksumXXHASH64
	case algoXXHASH3:
		return &c.ChecksumXXHASH3
	case algoXXHASH128:
		return &c.ChecksumXXHASH128
	}
	return nil
}

func newChecksumFields(sums map[string]string) checksumFields {
	var c checksumFields
	for algo, v := range sums {
		if f := c.field(algo); f != nil {
			*f = v
		}
	}
	return c
}

// set returns the fields that are present, by algorithm.
func (c checksumFields) set() map[string]string {
	out := map[string]string{}
	for _, algo := range checksumAlgorithms() {
		if v := *c.field(algo); v != "" {
			out[algo] = v
		}
	}
	return out
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
		return cr, errUnsupportedAlgorithm()
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
	if cr.algo == "" {
		// Not S3's for a payload, but minio-go asks for its automatic
		// CRC32C this way (MinIO honours it); an unknown name is ignored
		// as S3 ignores the header.
		if a := strings.ToUpper(strings.TrimSpace(h.Get("x-amz-checksum-algorithm"))); validAlgorithm(a) {
			cr.algo = a
		}
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
	for _, algo := range []string{
		algoCRC64NVME, algoCRC32C, algoCRC32, algoSHA256, algoSHA1,
		algoSHA512, algoMD5, algoXXHASH128, algoXXHASH3, algoXXHASH64,
	} {
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
