package store

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

func crc64NVME(b []byte) uint64 {
	return crc64.Checksum(b, crc64.MakeTable(polyCRC64NVME))
}

func TestCRC64NVMECheckValue(t *testing.T) {
	// The catalogued check value of CRC-64/NVME.
	if got := crc64NVME([]byte("123456789")); got != 0xae8b14860a799888 {
		t.Fatalf("crc64nvme(123456789) = %#x", got)
	}
}

func TestCRCCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name string
		poly crcPoly
		sum  func([]byte) uint64
	}{
		{"CRC32", crcPoly{poly: polyCRC32, top: 1 << 31}, func(b []byte) uint64 { return uint64(crc32.ChecksumIEEE(b)) }},
		{"CRC32C", crcPoly{poly: polyCRC32C, top: 1 << 31}, func(b []byte) uint64 {
			return uint64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
		}},
		{"CRC64NVME", crcPoly{poly: polyCRC64NVME, top: 1 << 63}, crc64NVME},
	}
	for _, tt := range tests {
		for _, split := range []int{0, 1, 7, 2500, 4999, 5000} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, split), func(t *testing.T) {
				a, b := data[:split], data[split:]
				if got, want := tt.poly.combine(tt.sum(a), tt.sum(b), uint64(len(b))), tt.sum(data); got != want {
					t.Fatalf("combine = %#x, want %#x", got, want)
				}
			})
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func crc32b64(b []byte) string {
	return b64(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)))
}

func TestMultipartChecksum(t *testing.T) {
	parts := [][]byte{[]byte("hello, "), []byte("multipart "), []byte("world")}
	var whole []byte
	segs := make([]Segment, len(parts))
	for i, p := range parts {
		whole = append(whole, p...)
		sha := sha256.Sum256(p)
		segs[i] = Segment{PartNumber: i + 1, Size: int64(len(p)), Checksums: map[string]string{
			ChecksumCRC32:     crc32b64(p),
			ChecksumSHA256:    b64(sha[:]),
			ChecksumCRC64NVME: b64(binary.BigEndian.AppendUint64(nil, crc64NVME(p))),
		}}
	}
	var rawSHAs []byte
	for _, s := range segs {
		raw, _ := base64.StdEncoding.DecodeString(s.Checksums[ChecksumSHA256])
		rawSHAs = append(rawSHAs, raw...)
	}
	composite := sha256.Sum256(rawSHAs)
	tests := []struct {
		alg, typ, want string
	}{
		{ChecksumSHA256, ChecksumComposite, b64(composite[:]) + "-3"},
		{ChecksumCRC32, ChecksumFullObject, crc32b64(whole)},
		{ChecksumCRC64NVME, ChecksumFullObject, b64(binary.BigEndian.AppendUint64(nil, crc64NVME(whole)))},
	}
	for _, tt := range tests {
		t.Run(tt.alg+"/"+tt.typ, func(t *testing.T) {
			got, ok, err := multipartChecksum(tt.alg, tt.typ, segs)
			if err != nil || !ok || got != tt.want {
				t.Fatalf("got %q %v %v, want %q", got, ok, err, tt.want)
			}
		})
	}
	t.Run("a part without the checksum", func(t *testing.T) {
		if _, ok, err := multipartChecksum(ChecksumSHA1, ChecksumComposite, segs); ok || err != nil {
			t.Fatalf("ok=%v err=%v", ok, err)
		}
	})
	t.Run("a malformed part checksum", func(t *testing.T) {
		bad := []Segment{{PartNumber: 1, Checksums: map[string]string{ChecksumCRC32: "!!"}}}
		if _, _, err := multipartChecksum(ChecksumCRC32, ChecksumComposite, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("err=%v", err)
		}
	})
}

func TestValidateUploadChecksum(t *testing.T) {
	tests := []struct {
		alg, typ, wantTyp string
		ok                bool
	}{
		{"", "", "", true},
		{"", ChecksumComposite, "", false},
		{ChecksumCRC32, "", ChecksumComposite, true},
		{ChecksumCRC32C, ChecksumFullObject, ChecksumFullObject, true},
		{ChecksumCRC64NVME, "", ChecksumFullObject, true},
		{ChecksumCRC64NVME, ChecksumComposite, "", false},
		{ChecksumSHA256, ChecksumFullObject, "", false},
		{ChecksumMD5, "", ChecksumComposite, true},
		{ChecksumXXHASH3, ChecksumComposite, ChecksumComposite, true},
		{ChecksumSHA512, ChecksumFullObject, "", false},
		{ChecksumXXHASH128, ChecksumFullObject, "", false},
		{"BLAKE3", "", "", false},
		{ChecksumSHA1, "SOMETIMES", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.alg+"/"+tt.typ, func(t *testing.T) {
			alg, typ := tt.alg, tt.typ
			err := validateUploadChecksum(&alg, &typ)
			if (err == nil) != tt.ok || tt.ok && typ != tt.wantTyp {
				t.Fatalf("err=%v type=%q", err, typ)
			}
		})
	}
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func TestMultipartETag(t *testing.T) {
	a, b := md5.Sum([]byte("a")), md5.Sum([]byte("b"))
	want := md5.Sum(append(a[:], b[:]...))
	got, err := multipartETag([]string{md5hex([]byte("a")), `"` + md5hex([]byte("b")) + `"`})
	if err != nil || got != hex.EncodeToString(want[:])+"-2" {
		t.Fatalf("got %q %v", got, err)
	}
	if _, err := multipartETag([]string{"xyz"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad etag: %v", err)
	}
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// newAlgorithmHashes are the hashes S3 added after its first five, with
// their digests of "abc" (RFC 1321, FIPS 180-2, xxHash's test vectors).
func newAlgorithmHashes() []struct {
	alg string
	h   func() hash.Hash
	abc string
} {
	return []struct {
		alg string
		h   func() hash.Hash
		abc string
	}{
		{ChecksumMD5, md5.New, "900150983cd24fb0d6963f7d28e17f72"},
		{ChecksumSHA512, sha512.New, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{ChecksumXXHASH64, func() hash.Hash { return xxhash.New() }, "44bc2cf5ad770999"},
		{ChecksumXXHASH3, func() hash.Hash { return xxh3.New() }, "78af5f94892f3950"},
		{ChecksumXXHASH128, func() hash.Hash { return xxh3.New128() }, "06b05ab6733a618578af5f94892f3950"},
	}
}

func TestNewAlgorithmsComposite(t *testing.T) {
	parts := [][]byte{[]byte("abc"), []byte("second part"), []byte("")}
	for _, tt := range newAlgorithmHashes() {
		t.Run(tt.alg, func(t *testing.T) {
			segs := make([]Segment, len(parts))
			outer := tt.h()
			for i, p := range parts {
				h := tt.h()
				h.Write(p)
				raw := h.Sum(nil)
				if i == 0 && hex.EncodeToString(raw) != tt.abc {
					t.Fatalf("digest of abc = %x, want %s", raw, tt.abc)
				}
				if len(raw) != digestSize(tt.alg) {
					t.Fatalf("digest of %d bytes, size %d", len(raw), digestSize(tt.alg))
				}
				outer.Write(raw)
				segs[i] = Segment{PartNumber: i + 1, Size: int64(len(p)), Checksums: map[string]string{tt.alg: b64(raw)}}
			}
			if err := checkPartChecksums(segs[0].Checksums); err != nil {
				t.Fatalf("part checksum refused: %v", err)
			}
			if err := checkPartChecksums(map[string]string{tt.alg: crc32b64(nil)}); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("a 4-byte %s accepted: %v", tt.alg, err)
			}
			want := b64(outer.Sum(nil)) + "-3"
			got, ok, err := multipartChecksum(tt.alg, ChecksumComposite, segs)
			if err != nil || !ok || got != want {
				t.Fatalf("got %q %v %v, want %q", got, ok, err, want)
			}
			if _, _, err := multipartChecksum(tt.alg, ChecksumFullObject, segs); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("%s combined as FULL_OBJECT: %v", tt.alg, err)
			}
		})
	}
}

// TestCompleteCompositeNewAlgorithm: an upload with one of the newer
// algorithms completes with the composite checksum of its parts.
func TestCompleteCompositeNewAlgorithm(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "mpu", Key: "k", ChecksumAlgorithm: ChecksumXXHASH128})
	if err != nil {
		t.Fatal(err)
	}
	if u.ChecksumType != ChecksumComposite {
		t.Fatalf("default type %q", u.ChecksumType)
	}
	outer := xxh3.New128()
	var parts []CompletedPart
	for i, d := range [][]byte{[]byte("first part, "), []byte("last")} {
		h := xxh3.New128()
		h.Write(d)
		raw := h.Sum(nil)
		outer.Write(raw)
		seg := segment(fmt.Sprintf("x%d", i), int64(len(d)))
		seg.ETag = md5hex(d)
		seg.Checksums = map[string]string{ChecksumXXHASH128: b64(raw)}
		mustPutPart(t, s, u, i+1, seg)
		parts = append(parts, CompletedPart{PartNumber: i + 1, ETag: md5hex(d), Checksums: map[string]string{ChecksumXXHASH128: b64(raw)}})
	}
	v, err := s.CompleteMultipartUpload(ctx, "mpu", "k", u.UploadID, parts, CompleteOptions{MinPartSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := b64(outer.Sum(nil)) + "-2"
	if v.Checksums[ChecksumXXHASH128] != want || v.ChecksumType != ChecksumComposite {
		t.Fatalf("checksum %v %s, want %s", v.Checksums, v.ChecksumType, want)
	}
	if _, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "mpu", Key: "k", ChecksumAlgorithm: ChecksumMD5, ChecksumType: ChecksumFullObject}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("FULL_OBJECT MD5 upload: %v", err)
	}
}
