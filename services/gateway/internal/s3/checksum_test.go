package s3

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

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
	}
	return nil
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
	if _, err := fullObjectChecksum(algoSHA256, nil); err == nil {
		t.Fatal("SHA256 combined")
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
	for _, v := range []string{"", "abc", sumOf(algoCRC32, p1), sumOf(algoCRC32, p1) + "-", sumOf(algoCRC32, p1) + "-0",
		sumOf(algoCRC32, p1) + "-01", sumOf(algoCRC32, p1) + "-10001", sumOf(algoCRC32, p1) + "-1-2", "ImIEBA==-smth"} {
		if validCompositeValue(algoCRC32, v) {
			t.Errorf("%q accepted as a composite CRC32", v)
		}
	}
}

func TestParseChecksumRequest(t *testing.T) {
	crc := sumOf(algoCRC32, []byte("x"))
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
		{"two headers", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Sha1": {crc}}, "", "", "Multiple checksum Types"},
		{"header and trailer", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}}, "", "", "Multiple checksum Types"},
		{"empty value", http.Header{"X-Amz-Checksum-Crc32": {""}}, "", "", "Value for x-amz-checksum-crc32 header is invalid."},
		{"short value", http.Header{"X-Amz-Checksum-Sha1": {crc}}, "", "", "Value for x-amz-checksum-sha1 header is invalid."},
		{"unknown algorithm header", http.Header{"X-Amz-Checksum-Md5": {crc}}, "", "", "algorithm type you specified"},
		{"unknown sdk algorithm", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"XXHASH"}}, "", "", "unsupported"},
		{"sdk algorithm disagrees", http.Header{"X-Amz-Checksum-Crc32c": {crc}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}}, "", "", "x-amz-sdk-checksum-algorithm"},
		{"unknown trailer", http.Header{"X-Amz-Trailer": {"x-amz-checksum-sha512"}}, "", "", "x-amz-trailer"},
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
