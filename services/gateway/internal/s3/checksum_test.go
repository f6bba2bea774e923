package s3

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// stdHash is the standard library's implementation of each algorithm, to
// check ours against.
func stdHash(algo string) hash.Hash {
	switch algo {
	case algoCRC32:
		return crc32.NewIEEE()
	case algoCRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case algoCRC64NVME:
		return crc64.New(crc64.MakeTable(crc64NVMEPoly))
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

// TestChecksumDigests checks every algorithm against published digests
// of "" and "abc" (CRC catalogue, RFC 1321, FIPS 180-2, xxHash's test
// vectors), so the byte order S3 shows (big-endian) is pinned too.
func TestChecksumDigests(t *testing.T) {
	tests := []struct {
		algo       string
		empty, abc string // hex
	}{
		{algoCRC32, "00000000", "352441c2"},
		{algoCRC32C, "00000000", "364b3fb7"},
		{algoCRC64NVME, "0000000000000000", "05e5cabb3fc1faeb"}, // hash/crc64 with the NVME polynomial
		{algoSHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{algoSHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{algoMD5, "d41d8cd98f00b204e9800998ecf8427e", "900150983cd24fb0d6963f7d28e17f72"},
		{algoSHA512,
			"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
			"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{algoXXHASH64, "ef46db3751d8e999", "44bc2cf5ad770999"},
		{algoXXHASH3, "2d06800538d394c2", "78af5f94892f3950"},
		{algoXXHASH128, "99aa06d3014798d86001c324468d497f", "06b05ab6733a618578af5f94892f3950"},
	}
	if len(tests) != len(checksumAlgorithms()) {
		t.Fatalf("%d algorithms tested, %d supported", len(tests), len(checksumAlgorithms()))
	}
	for _, tt := range tests {
		t.Run(tt.algo, func(t *testing.T) {
			if !validAlgorithm(tt.algo) {
				t.Fatal("not a valid algorithm")
			}
			h := newChecksum(tt.algo)
			if got := hex.EncodeToString(h.Sum(nil)); got != tt.empty {
				t.Fatalf("digest of \"\" = %s, want %s", got, tt.empty)
			}
			if h.Size() != checksumSize(tt.algo) || len(tt.empty) != 2*checksumSize(tt.algo) {
				t.Fatalf("size %d, checksumSize %d", h.Size(), checksumSize(tt.algo))
			}
			h.Write([]byte("abc"))
			if got := hex.EncodeToString(h.Sum(nil)); got != tt.abc {
				t.Fatalf("digest of \"abc\" = %s, want %s", got, tt.abc)
			}
			if checksumHeader(tt.algo) != "x-amz-checksum-"+strings.ToLower(tt.algo) {
				t.Fatalf("header %s", checksumHeader(tt.algo))
			}
		})
	}
	for _, bad := range []string{"", "MD4", "md5", "XXHASH", "CRC64"} {
		if validAlgorithm(bad) || newChecksum(bad) != nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func sumOf(algo string, data []byte) string {
	h := stdHash(algo)
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func randData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func TestCRC64NVME(t *testing.T) {
	// The check value of CRC-64/NVME: the CRC of "123456789".
	h := newChecksum(algoCRC64NVME)
	h.Write([]byte("123456789"))
	if got := h.Sum(nil); base64.StdEncoding.EncodeToString(got) != base64.StdEncoding.EncodeToString([]byte{0xae, 0x8b, 0x14, 0x86, 0x0a, 0x79, 0x98, 0x88}) {
		t.Fatalf("check value %x", got)
	}
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 1000, 4097} {
		data := randData(n, uint64(n))
		ours := newChecksum(algoCRC64NVME)
		// Uneven writes exercise the 8-byte and tail loops.
		for i := 0; i < len(data); i += 13 {
			ours.Write(data[i:min(i+13, len(data))])
		}
		if got, want := base64.StdEncoding.EncodeToString(ours.Sum(nil)), sumOf(algoCRC64NVME, data); got != want {
			t.Fatalf("%d bytes: %s, want %s", n, got, want)
		}
	}
}

func TestFullObjectChecksum(t *testing.T) {
	for _, algo := range []string{algoCRC32, algoCRC32C, algoCRC64NVME} {
		t.Run(algo, func(t *testing.T) {
			for _, sizes := range [][]int{{5}, {0, 3}, {3, 0}, {1, 1, 1}, {100, 4096, 7}, {70000, 1, 65536}} {
				var all []byte
				var parts []partChecksum
				for i, n := range sizes {
					d := randData(n, uint64(i*31+n))
					all = append(all, d...)
					parts = append(parts, partChecksum{value: sumOf(algo, d), size: int64(n)})
				}
				got, err := fullObjectChecksum(algo, parts)
				if err != nil || got != sumOf(algo, all) {
					t.Fatalf("sizes %v: %q %v, want %q", sizes, got, err, sumOf(algo, all))
				}
			}
		})
	}
	for _, algo := range []string{algoSHA256, algoMD5, algoSHA512, algoXXHASH64, algoXXHASH3, algoXXHASH128} {
		if isCRC(algo) {
			t.Fatalf("%s is not a CRC", algo)
		}
		if _, err := fullObjectChecksum(algo, nil); err == nil {
			t.Fatalf("%s combined", algo)
		}
	}
	if _, err := fullObjectChecksum(algoCRC32, []partChecksum{{value: "!!", size: 1}}); err == nil {
		t.Fatal("invalid part checksum accepted")
	}
}

func TestCompositeChecksum(t *testing.T) {
	p1, p2 := randData(100, 1), randData(50, 2)
	for _, algo := range checksumAlgorithms() {
		h := stdHash(algo)
		for _, p := range [][]byte{p1, p2} {
			s := stdHash(algo)
			s.Write(p)
			h.Write(s.Sum(nil))
		}
		want := base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-2"
		got, err := compositeChecksum(algo, []string{sumOf(algo, p1), sumOf(algo, p2)})
		if err != nil || got != want {
			t.Fatalf("%s: %q %v, want %q", algo, got, err, want)
		}
		if !validCompositeValue(algo, got) {
			t.Fatalf("%s: %q not a valid composite value", algo, got)
		}
	}
	// Clients may state a composite without "-<parts>" (minio-go does).
	for _, v := range []string{sumOf(algoCRC32, p1), sumOf(algoCRC32, p1) + "-1", sumOf(algoCRC32, p1) + "-10000"} {
		if !validCompositeValue(algoCRC32, v) {
			t.Errorf("%q refused as a composite CRC32", v)
		}
	}
	for _, v := range []string{"", "abc", sumOf(algoSHA1, p1), sumOf(algoCRC32, p1) + "-", sumOf(algoCRC32, p1) + "-0",
		sumOf(algoCRC32, p1) + "-01", sumOf(algoCRC32, p1) + "-10001", sumOf(algoCRC32, p1) + "-1-2", "ImIEBA==-smth", "-2"} {
		if validCompositeValue(algoCRC32, v) {
			t.Errorf("%q accepted as a composite CRC32", v)
		}
	}
}

func TestSameChecksum(t *testing.T) {
	tests := []struct {
		stated, computed string
		want             bool
	}{
		{"AAAAAA==", "AAAAAA==", true},
		{"AAAAAA==", "AAAAAQ==", false},
		{"AAAAAA==-3", "AAAAAA==-3", true},
		{"AAAAAA==", "AAAAAA==-3", true}, // composite stated without its part count
		{"AAAAAA==-2", "AAAAAA==-3", false},
		{"AAAAAA==-3", "AAAAAA==", false},
		{"", "AAAAAA==-3", false},
	}
	for _, tt := range tests {
		t.Run(tt.stated+"/"+tt.computed, func(t *testing.T) {
			if got := sameChecksum(tt.stated, tt.computed); got != tt.want {
				t.Fatalf("sameChecksum = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestChecksumFieldsXML pins the element names (AWS's model spells the
// xxHash ones in capitals) and that every algorithm has one.
func TestChecksumFieldsXML(t *testing.T) {
	sums := map[string]string{}
	for _, a := range checksumAlgorithms() {
		sums[a] = "v-" + a
	}
	type doc struct {
		XMLName xml.Name `xml:"Part"`
		checksumFields
	}
	out, err := xml.Marshal(doc{checksumFields: newChecksumFields(sums)})
	if err != nil {
		t.Fatal(err)
	}
	for _, elem := range []string{"ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256",
		"ChecksumMD5", "ChecksumSHA512", "ChecksumXXHASH64", "ChecksumXXHASH3", "ChecksumXXHASH128"} {
		algo := strings.TrimPrefix(elem, "Checksum")
		if !strings.Contains(string(out), "<"+elem+">v-"+algo+"</"+elem+">") {
			t.Errorf("no %s element in %s", elem, out)
		}
	}
	var back doc
	if err := xml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	got := back.set()
	if len(got) != len(sums) {
		t.Fatalf("round trip %v", got)
	}
	for a, v := range sums {
		if got[a] != v {
			t.Fatalf("%s = %q, want %q", a, got[a], v)
		}
	}
	if empty := newChecksumFields(map[string]string{"BLAKE3": "x"}).set(); len(empty) != 0 {
		t.Fatalf("unknown algorithm kept: %v", empty)
	}
}

func TestParseChecksumRequest(t *testing.T) {
	crc := sumOf(algoCRC32, []byte("x"))
	md5Sum := sumOf(algoMD5, []byte("x"))
	tests := []struct {
		name    string
		hdr     http.Header
		algo    string
		trailer string
		errMsg  string
	}{
		{"none", http.Header{}, "", "", ""},
		{"header", http.Header{"X-Amz-Checksum-Crc32": {crc}}, algoCRC32, "", ""},
		{"sdk algorithm only", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"sha256"}}, algoSHA256, "", ""},
		{"sdk algorithm agrees", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}}, algoCRC32, "", ""},
		{"trailer", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc64nvme"}}, algoCRC64NVME, "x-amz-checksum-crc64nvme", ""},
		{"control headers ignored", http.Header{"X-Amz-Checksum-Mode": {"ENABLED"}, "X-Amz-Checksum-Type": {"FULL_OBJECT"}}, "", "", ""},
		{"checksum algorithm names one to compute", http.Header{"X-Amz-Checksum-Algorithm": {"crc32c"}}, algoCRC32C, "", ""},
		{"checksum algorithm yields to a value", http.Header{"X-Amz-Checksum-Algorithm": {"CRC32C"}, "X-Amz-Checksum-Crc32": {crc}}, algoCRC32, "", ""},
		{"checksum algorithm yields to the sdk's", http.Header{"X-Amz-Checksum-Algorithm": {"CRC32C"}, "X-Amz-Sdk-Checksum-Algorithm": {"SHA1"}}, algoSHA1, "", ""},
		{"unknown checksum algorithm ignored", http.Header{"X-Amz-Checksum-Algorithm": {"BLAKE3"}}, "", "", ""},
		{"two headers", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Sha1": {crc}}, "", "", "Multiple checksum Types"},
		{"header and trailer", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}}, "", "", "Multiple checksum Types"},
		{"empty value", http.Header{"X-Amz-Checksum-Crc32": {""}}, "", "", "Value for x-amz-checksum-crc32 header is invalid."},
		{"short value", http.Header{"X-Amz-Checksum-Sha1": {crc}}, "", "", "Value for x-amz-checksum-sha1 header is invalid."},
		{"md5 header", http.Header{"X-Amz-Checksum-Md5": {md5Sum}}, algoMD5, "", ""},
		{"xxhash128 header", http.Header{"X-Amz-Checksum-Xxhash128": {md5Sum}}, algoXXHASH128, "", ""},
		{"xxhash3 sdk algorithm", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"xxhash3"}}, algoXXHASH3, "", ""},
		{"sha512 trailer", http.Header{"X-Amz-Trailer": {"x-amz-checksum-sha512"}}, algoSHA512, "x-amz-checksum-sha512", ""},
		{"xxhash64 trailer", http.Header{"X-Amz-Trailer": {"x-amz-checksum-xxhash64"}, "X-Amz-Sdk-Checksum-Algorithm": {"XXHASH64"}}, algoXXHASH64, "x-amz-checksum-xxhash64", ""},
		{"md5 header of a CRC's length", http.Header{"X-Amz-Checksum-Md5": {crc}}, "", "", "Value for x-amz-checksum-md5 header is invalid."},
		{"xxhash3 value too long", http.Header{"X-Amz-Checksum-Xxhash3": {md5Sum}}, "", "", "Value for x-amz-checksum-xxhash3 header is invalid."},
		{"unknown algorithm header", http.Header{"X-Amz-Checksum-Blake3": {crc}}, "", "", "algorithm type you specified"},
		{"unknown sdk algorithm", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"XXHASH"}}, "", "", "unsupported"},
		{"sdk algorithm disagrees", http.Header{"X-Amz-Checksum-Crc32c": {crc}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}}, "", "", "x-amz-sdk-checksum-algorithm"},
		{"unknown trailer", http.Header{"X-Amz-Trailer": {"x-amz-checksum-blake3"}}, "", "", "x-amz-trailer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr, e := parseChecksumRequest(tt.hdr)
			if tt.errMsg != "" {
				if e == nil || e.Code != ErrInvalidRequest || !strings.Contains(e.Message, tt.errMsg) {
					t.Fatalf("error %v, want InvalidRequest containing %q", e, tt.errMsg)
				}
				return
			}
			if e != nil || cr.algo != tt.algo || cr.trailer != tt.trailer {
				t.Fatalf("got %+v %v, want algo %q trailer %q", cr, e, tt.algo, tt.trailer)
			}
		})
	}
}

func TestChecksumVerify(t *testing.T) {
	data := []byte("payload")
	h := stdHash(algoSHA256)
	h.Write(data)
	raw := h.Sum(nil)
	good := base64.StdEncoding.EncodeToString(raw)
	bad := sumOf(algoSHA256, []byte("other"))
	trailers := func(v string) func() http.Header {
		return func() http.Header { return http.Header{"X-Amz-Checksum-Sha256": {v}} }
	}
	tests := []struct {
		name string
		cr   checksumRequest
		tr   func() http.Header
		code string
	}{
		{"nothing to verify", checksumRequest{algo: algoSHA256}, nil, ""},
		{"header match", checksumRequest{algo: algoSHA256, value: raw}, nil, ""},
		{"header mismatch", checksumRequest{algo: algoSHA256, value: []byte("0123456789012345678901234567890x")}, nil, ErrBadDigest},
		{"trailer match", checksumRequest{algo: algoSHA256, trailer: "x-amz-checksum-sha256"}, trailers(good), ""},
		{"trailer mismatch", checksumRequest{algo: algoSHA256, trailer: "x-amz-checksum-sha256"}, trailers(bad), ErrBadDigest},
		{"trailer missing", checksumRequest{algo: algoSHA256, trailer: "x-amz-checksum-sha256"}, func() http.Header { return nil }, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.cr.verify(raw, tt.tr)
			if (e == nil) != (tt.code == "") || (e != nil && e.Code != tt.code) {
				t.Fatalf("verify = %v, want %q", e, tt.code)
			}
		})
	}
}

func TestObjectChecksums(t *testing.T) {
	p1, p2 := randData(300, 5), randData(20, 6)
	seg := func(data []byte, n int32, algos ...string) *metadatav1.Segment {
		sums := map[string]string{}
		for _, a := range algos {
			sums[a] = sumOf(a, data)
		}
		return &metadatav1.Segment{Size: int64(len(data)), PartNumber: n, Checksums: sums}
	}
	all := append(append([]byte{}, p1...), p2...)
	comp, _ := compositeChecksum(algoSHA1, []string{sumOf(algoSHA1, p1), sumOf(algoSHA1, p2)})
	compXX, _ := compositeChecksum(algoXXHASH128, []string{sumOf(algoXXHASH128, p1), sumOf(algoXXHASH128, p2)})
	compMD5, _ := compositeChecksum(algoMD5, []string{sumOf(algoMD5, p1), sumOf(algoMD5, p2)})
	tests := []struct {
		name string
		v    *metadatav1.ObjectVersion
		algo string
		want string
		typ  string
	}{
		{"stored", &metadatav1.ObjectVersion{Checksums: map[string]string{algoCRC32: "AAAAAA=="}, ChecksumType: checksumTypeFullObject}, algoCRC32, "AAAAAA==", checksumTypeFullObject},
		{"stored composite without type", &metadatav1.ObjectVersion{Checksums: map[string]string{algoSHA1: comp}}, algoSHA1, comp, checksumTypeComposite},
		{"single segment", &metadatav1.ObjectVersion{Segments: []*metadatav1.Segment{seg(p1, 1, algoCRC32C)}}, algoCRC32C, sumOf(algoCRC32C, p1), checksumTypeFullObject},
		{"multipart default CRC64NVME", &metadatav1.ObjectVersion{PartsCount: 2, Segments: []*metadatav1.Segment{seg(p1, 1, algoCRC64NVME, algoCRC32), seg(p2, 2, algoCRC64NVME)}},
			algoCRC64NVME, sumOf(algoCRC64NVME, all), checksumTypeFullObject},
		{"multipart CRC32", &metadatav1.ObjectVersion{PartsCount: 2, Segments: []*metadatav1.Segment{seg(p1, 1, algoCRC32), seg(p2, 2, algoCRC32)}},
			algoCRC32, sumOf(algoCRC32, all), checksumTypeFullObject},
		{"multipart SHA1", &metadatav1.ObjectVersion{PartsCount: 2, Segments: []*metadatav1.Segment{seg(p1, 1, algoSHA1), seg(p2, 2, algoSHA1)}},
			algoSHA1, comp, checksumTypeComposite},
		{"multipart XXHASH128", &metadatav1.ObjectVersion{PartsCount: 2, Segments: []*metadatav1.Segment{seg(p1, 1, algoXXHASH128), seg(p2, 2, algoXXHASH128)}},
			algoXXHASH128, compXX, checksumTypeComposite},
		{"multipart MD5", &metadatav1.ObjectVersion{PartsCount: 2, Segments: []*metadatav1.Segment{seg(p1, 1, algoMD5), seg(p2, 2, algoMD5)}},
			algoMD5, compMD5, checksumTypeComposite},
		{"multipart without checksums", &metadatav1.ObjectVersion{PartsCount: 2, Segments: []*metadatav1.Segment{seg(p1, 1), seg(p2, 2, algoSHA1)}}, "", "", ""},
		{"empty object", &metadatav1.ObjectVersion{}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sums, typ := objectChecksums(tt.v)
			if sums[tt.algo] != tt.want || typ != tt.typ || (tt.algo == "" && len(sums) != 0) {
				t.Fatalf("got %v %q, want %s=%q %q", sums, typ, tt.algo, tt.want, tt.typ)
			}
		})
	}
}

func FuzzParseChecksumRequest(f *testing.F) {
	f.Add("x-amz-checksum-crc32", "AAAAAA==", "", "")
	f.Add("x-amz-checksum-sha256", "", "SHA256", "x-amz-checksum-sha256")
	f.Add("x-amz-checksum-type", "COMPOSITE", "crc32c", "x-amz-checksum-crc32c, x-amz-checksum-crc32")
	f.Add("x-amz-checksum-xxhash128", "mapbGv4l2FRXlmiNIN+d5w==", "XXHASH128", "")
	f.Add("x-amz-checksum-md5", "", "", "x-amz-checksum-md5,x-amz-checksum-sha512")
	f.Fuzz(func(t *testing.T, name, value, sdk, trailer string) {
		hdr := http.Header{}
		hdr.Set(name, value)
		hdr.Set("x-amz-sdk-checksum-algorithm", sdk)
		hdr.Set("x-amz-trailer", trailer)
		cr, e := parseChecksumRequest(hdr)
		if e != nil {
			if e.HTTPStatus != http.StatusBadRequest {
				t.Fatalf("status %d", e.HTTPStatus)
			}
			return
		}
		if cr.algo != "" && !validAlgorithm(cr.algo) {
			t.Fatalf("accepted algorithm %q", cr.algo)
		}
		if cr.value != nil && len(cr.value) != checksumSize(cr.algo) {
			t.Fatalf("value of %d bytes for %s", len(cr.value), cr.algo)
		}
		_ = cr.verify(make([]byte, checksumSize(cr.algo)), func() http.Header { return hdr })
	})
}
