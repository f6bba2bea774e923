package store

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"testing"
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
		{"MD5", "", "", false},
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
