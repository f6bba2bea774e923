package sigv4

import (
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
	"testing"
)

// TestTrailerChecksumsNewAlgorithms checks the algorithms S3 added after
// the first five against published digests of "" and "abc" (RFC 1321,
// FIPS 180-2, the xxHash reference test vectors).
func TestTrailerChecksumsNewAlgorithms(t *testing.T) {
	tests := []struct {
		name, label string
		empty, abc  string // hex digests
	}{
		{"x-amz-checksum-md5", "MD5", "d41d8cd98f00b204e9800998ecf8427e", "900150983cd24fb0d6963f7d28e17f72"},
		{"x-amz-checksum-sha512", "SHA512",
			"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
			"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{"x-amz-checksum-xxhash64", "XXHASH64", "ef46db3751d8e999", "44bc2cf5ad770999"},
		{"x-amz-checksum-xxhash3", "XXHASH3", "2d06800538d394c2", "78af5f94892f3950"},
		{"x-amz-checksum-xxhash128", "XXHASH128", "99aa06d3014798d86001c324468d497f", "06b05ab6733a618578af5f94892f3950"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTrailerChecksum(tc.name)
			if c == nil {
				t.Fatal("no checksum for the trailer")
			}
			if c.label != tc.label {
				t.Fatalf("label = %q, want %q", c.label, tc.label)
			}
			if got := hex.EncodeToString(c.h.Sum(nil)); got != tc.empty {
				t.Fatalf("digest of \"\" = %s, want %s", got, tc.empty)
			}
			c.h.Write([]byte("abc"))
			if got := hex.EncodeToString(c.h.Sum(nil)); got != tc.abc {
				t.Fatalf("digest of \"abc\" = %s, want %s", got, tc.abc)
			}
		})
	}
}

// TestChunkedTrailerNewAlgorithms sends an unsigned aws-chunked body with
// each new algorithm's trailer: the right value reads to io.EOF, a wrong
// one is BadDigest and a malformed one InvalidRequest.
func TestChunkedTrailerNewAlgorithms(t *testing.T) {
	payload := "hello, trailing checksums"
	names := []string{
		"x-amz-checksum-md5", "x-amz-checksum-sha512",
		"x-amz-checksum-xxhash64", "x-amz-checksum-xxhash3", "x-amz-checksum-xxhash128",
	}
	for _, name := range names {
		c := newTrailerChecksum(name)
		c.h.Write([]byte(payload))
		right := base64.StdEncoding.EncodeToString(c.h.Sum(nil))
		wrongSum := c.h.Sum(nil)
		wrongSum[0] ^= 0xff
		wrong := base64.StdEncoding.EncodeToString(wrongSum)
		tests := []struct {
			name     string
			value    string
			wantCode string // "" for success
		}{
			{"right", right, ""},
			{"wrong", wrong, CodeBadDigest},
			{"short", base64.StdEncoding.EncodeToString([]byte{1, 2, 3}), CodeInvalidRequest},
			{"not base64", "!!!", CodeInvalidRequest},
		}
		for _, tc := range tests {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				body := "19\r\n" + payload + "\r\n0\r\n" + name + ":" + tc.value + "\r\n\r\n"
				cr := newChunkedReader(io.NopCloser(strings.NewReader(body)), nil, true, []string{name}, int64(len(payload)))
				got, err := io.ReadAll(cr)
				if tc.wantCode == "" {
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					if string(got) != payload {
						t.Fatalf("payload = %q", got)
					}
					return
				}
				wantCode(t, err, tc.wantCode)
			})
		}
	}
}
