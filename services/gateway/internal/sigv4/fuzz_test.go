package sigv4

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fuzzSigner signs with the test key so seeds built by chunkSigner verify.
func fuzzSigner() *streamSigner {
	c := newChunkSigner(testSecret, testNow, testRegion, "")
	return &streamSigner{key: c.key, amzDate: c.amzDate, scope: c.scope, seed: make([]byte, 32)}
}

const zeroSeed = "0000000000000000000000000000000000000000000000000000000000000000"

func FuzzChunkedReader(f *testing.F) {
	data := []byte("fuzzing the aws-chunked reader")
	crc := crc32Trailer("x-amz-checksum-crc32", crc32.IEEETable, data)
	signed := func(chunks [][]byte, trailers []string) []byte {
		return newChunkSigner(testSecret, testNow, testRegion, zeroSeed).encode(chunks, trailers)
	}
	f.Add(encodeUnsigned([][]byte{data[:10], data[10:]}, []string{crc}), uint8(1), int64(len(data)))
	f.Add(encodeUnsigned([][]byte{data}, nil), uint8(0), int64(-1))
	f.Add(signed([][]byte{data[:7], data[7:]}, nil), uint8(2), int64(len(data)))
	f.Add(signed([][]byte{data}, []string{crc}), uint8(3), int64(len(data)))
	f.Add(signed(nil, nil), uint8(2), int64(0))
	f.Add([]byte("0\r\n\r\n"), uint8(0), int64(0))
	f.Add([]byte("ffffffffffffffff\r\n"), uint8(0), int64(-1))
	f.Add([]byte("5;chunk-signature=zz\r\nhello\r\n"), uint8(2), int64(5))
	f.Add([]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:\r\n"), uint8(1), int64(3))
	f.Add([]byte("1\r\na\r\n0\r\n:\r\n\r\n"), uint8(1), int64(-1))
	f.Add([]byte("a\r\n0123456789\r\n5\r\nhello\r\n0\r\n\r\n"), uint8(0), int64(15))
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA\rbcd\r\n\r\n"), uint8(1), int64(5))

	f.Fuzz(func(t *testing.T, body []byte, mode uint8, decoded int64) {
		if decoded < -1 {
			decoded = -1
		}
		var s *streamSigner
		trailer := mode&1 == 1
		if mode&2 == 2 {
			s = fuzzSigner()
		}
		var declared []string
		if trailer && mode&4 == 0 {
			declared = []string{"x-amz-checksum-crc32"}
		}
		cr := newChunkedReader(io.NopCloser(bytes.NewReader(body)), s, trailer, declared, decoded)
		var out int
		p := make([]byte, 7)
		for i := 0; ; i++ {
			if i > len(body)+16 {
				t.Fatalf("reader made no progress after %d reads", i)
			}
			n, err := cr.Read(p)
			out += n
			if out > len(body) || (decoded >= 0 && int64(out) > decoded) {
				t.Fatalf("returned %d bytes from a %d-byte body (decoded length %d)", out, len(body), decoded)
			}
			if err == io.EOF {
				if decoded >= 0 && int64(out) != decoded {
					t.Fatalf("EOF after %d bytes, decoded length %d", out, decoded)
				}
				return
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v is not an *Error", err)
				}
				if cr.trailersAfterEOF() != nil {
					t.Fatal("trailers exposed after a failure")
				}
				return
			}
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	spec := reqSpec{method: http.MethodGet, host: "localhost:9000", path: "/b/k", payload: emptySHA256}
	f.Add(spec.signHeader(f, testCreds(), "s3", testRegion, testNow).Header.Get("Authorization"))
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-date,Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=;, Signature=")
	f.Add("AWS4-HMAC-SHA256 ,,,=,Credential==")
	f.Add("AWS AKID:sig")
	f.Add("")
	f.Add("invalid_header")
	f.Add("AWS4-HMAC-SHA256 Credential=a/32234/us-east-1/s3/aws_request,SignedHeaders=host,Signature=00")
	f.Add("AWS4-HMAC-SHA256 missing=a/b/c/d/e,SignedHeaders=host,Signature=00")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,Signature=00")

	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
		} else {
			if a.accessKeyID == "" || len(a.signature) != 32 || len(a.signedHeaders) == 0 ||
				a.signedRaw != strings.Join(a.signedHeaders, ";") {
				t.Fatalf("accepted %q as %+v", h, a)
			}
			if err := testVerifier(testNow).checkScope(a, a.malformed); err == nil &&
				(len(a.scopeDate) != 8 || a.terminal != terminator || a.service != "s3" || a.region != testRegion) {
				t.Fatalf("scope of %q accepted as %+v", h, a)
			}
		}
		// The whole path must not panic either.
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/b/k"}, Host: "localhost:9000", Header: http.Header{
			"Authorization":        {h},
			"X-Amz-Date":           {testNow.Format("20060102T150405Z")},
			"X-Amz-Content-Sha256": {emptySHA256},
		}}
		if _, err := testVerifier(testNow).Verify(r); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("verify error %v is not an *Error", err)
			}
		}
	})
}

func FuzzPresignedQuery(f *testing.F) {
	spec := reqSpec{method: http.MethodGet, host: "localhost:9000", path: "/b/k", query: "versionId=1"}
	f.Add(spec.presign(f, testCreds(), testRegion, testNow, time.Hour).URL.RawQuery)
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Add("X-Amz-Signature=&X-Amz-Signature=")
	f.Add("X-Amz-Expires=99999999999999999999&X-Amz-Algorithm=AWS4-HMAC-SHA256")
	f.Add("a=%zz&X-Amz-Credential=%2F%2F%2F%2F")
	f.Add("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=a%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=-1&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Add("X-Amz-Security-Token=t&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F32234%2Fus-west-1%2Fsns%2Faws5_request")
	f.Add("")

	f.Fuzz(func(t *testing.T, raw string) {
		if params, ok := parseQuery(raw); ok {
			_ = canonicalQuery(params, qSignature)
			if _, err := parsePresigned(params); err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v is not an *Error", err)
				}
			}
		}
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/b/k", RawQuery: raw}, Host: "localhost:9000", Header: http.Header{}}
		res, err := testVerifier(testNow).Verify(r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("verify error %v is not an *Error", err)
			}
			return
		}
		if !res.Anonymous && !strings.Contains(raw, "X-Amz-Signature=") {
			t.Fatalf("authenticated %q without a signature", raw)
		}
	})
}

func FuzzCanonicalURI(f *testing.F) {
	for _, k := range oddKeys {
		f.Add("/b/" + k)
	}
	f.Add("/%2f%7e%zz")
	f.Fuzz(func(t *testing.T, p string) {
		c, ok := canonicalURI(p)
		if !ok {
			return
		}
		for i := 0; i < len(c); i++ {
			ch := c[i]
			if ch == '%' {
				if i+2 >= len(c) || !strings.ContainsRune(upperhex, rune(c[i+1])) || !strings.ContainsRune(upperhex, rune(c[i+2])) {
					t.Fatalf("bad escape in %q", c)
				}
				i += 2
				continue
			}
			if ch != '/' && !unreserved(ch) {
				t.Fatalf("unencoded %q in %q", ch, c)
			}
		}
		if again, ok := canonicalURI(c); !ok || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q", p, c, again)
		}
	})
}
