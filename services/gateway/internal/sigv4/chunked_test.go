package sigv4

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func crc32Trailer(name string, tab *crc32.Table, data []byte) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, tab))
	return name + ":" + base64.StdEncoding.EncodeToString(b[:])
}

// signedStreamingRequest signs a request for a signed aws-chunked upload with
// the SDK, then frames body with chunk signatures chained from the seed.
type streamCase struct {
	chunks   [][]byte
	trailers []string // nil: STREAMING-AWS4-HMAC-SHA256-PAYLOAD
	declared string   // x-amz-trailer
	decoded  int      // -1: computed from chunks
	mangle   func(body []byte) []byte
}

func (c streamCase) request(t *testing.T) *http.Request {
	t.Helper()
	payload := streamingSigned
	if c.trailers != nil {
		payload = streamingSignedTrailer
	}
	decoded := c.decoded
	if decoded < 0 {
		decoded = len(bytes.Join(c.chunks, nil))
	}
	hdr := http.Header{
		"Content-Encoding":             {"aws-chunked"},
		"X-Amz-Decoded-Content-Length": {strconv.Itoa(decoded)},
	}
	if c.declared != "" {
		hdr.Set("X-Amz-Trailer", c.declared)
	}
	spec := reqSpec{method: http.MethodPut, host: "localhost:9000", path: escapeKey("b", "chunked object+1.bin", false), payload: payload, header: hdr}
	req := spec.build(t)
	// Content-Length stays unsigned (the SDK signs it only when known), so
	// mangled bodies of another length reach the reader rather than failing
	// the request signature.
	if err := sdkSigner().SignHTTP(t.Context(), testCreds(), req, payload, "s3", testRegion, testNow); err != nil {
		t.Fatalf("sign: %v", err)
	}
	body := newChunkSigner(testSecret, testNow, testRegion, seedSignature(t, req.Header.Get("Authorization"))).encode(c.chunks, c.trailers)
	if c.mangle != nil {
		body = c.mangle(body)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	return toServer(t, req)
}

func TestSignedStreaming(t *testing.T) {
	c1 := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	c2 := append(bytes.Repeat([]byte("."), minChunkSize), "second chunk"...)
	c3 := bytes.Repeat([]byte{0, 1, 2, 255}, 3000)
	all := append(append(append([]byte{}, c1...), c2...), c3...)
	// tamper flips one byte at offset i of the encoded body.
	tamper := func(find string, delta int) func([]byte) []byte {
		return func(b []byte) []byte {
			i := bytes.Index(b, []byte(find))
			if i < 0 {
				panic("marker not found: " + find)
			}
			out := append([]byte{}, b...)
			out[i+delta] = flip(out[i+delta])
			return out
		}
	}
	secondHeader := strconv.FormatInt(int64(len(c2)), 16) + ";chunk-signature="
	tests := []struct {
		name    string
		c       streamCase
		wantN   int    // bytes handed out before the error
		errCode string // "" => io.EOF
	}{
		{"three chunks", streamCase{chunks: [][]byte{c1, c2, c3}, decoded: -1}, len(all), ""},
		{"empty object", streamCase{chunks: nil, decoded: -1}, 0, ""},
		{"tampered data in second chunk", streamCase{chunks: [][]byte{c1, c2, c3}, decoded: -1, mangle: tamper("second chunk", 3)}, len(c1), CodeSignatureDoesNotMatch},
		{"tampered first chunk signature", streamCase{chunks: [][]byte{c1, c2, c3}, decoded: -1, mangle: tamper(";chunk-signature=", 20)}, 0, CodeSignatureDoesNotMatch},
		{"tampered final chunk signature", streamCase{chunks: [][]byte{c1}, decoded: -1, mangle: func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("0;chunk-signature="))
			out := append([]byte{}, b...)
			out[i+20] = flip(out[i+20])
			return out
		}}, len(c1), CodeSignatureDoesNotMatch},
		{"truncated inside second chunk", streamCase{chunks: [][]byte{c1, c2, c3}, decoded: -1, mangle: func(b []byte) []byte {
			return b[:bytes.Index(b, []byte("second chunk"))+4]
		}}, len(c1), CodeIncompleteBody},
		{"final chunk missing", streamCase{chunks: [][]byte{c1, c2}, decoded: -1, mangle: func(b []byte) []byte {
			return b[:bytes.LastIndex(b, []byte("0;chunk-signature="))]
		}}, len(c1) + len(c2), CodeIncompleteBody},
		{"chunks reordered", streamCase{chunks: [][]byte{c1, c2, c3}, decoded: -1, mangle: func(b []byte) []byte {
			i := bytes.Index(b, []byte(secondHeader))
			j := bytes.Index(b[i+len(secondHeader):], []byte(";chunk-signature=")) + i + len(secondHeader)
			j = bytes.LastIndexByte(b[:j], '\n') + 1
			k := bytes.LastIndex(b, []byte("0;chunk-signature="))
			out := append([]byte{}, b[:i]...)
			out = append(out, b[j:k]...)
			out = append(out, b[i:j]...)
			return append(out, b[k:]...)
		}}, len(c1), CodeSignatureDoesNotMatch},
		{"missing CRLF after data", streamCase{chunks: [][]byte{c2}, decoded: -1, mangle: func(b []byte) []byte {
			return bytes.Replace(b, []byte("second chunk\r\n"), []byte("second chunkXX"), 1)
		}}, 0, CodeIncompleteBody},
		{"garbage after final chunk", streamCase{chunks: [][]byte{c2}, decoded: -1, mangle: func(b []byte) []byte {
			return append(append([]byte{}, b...), "extra"...)
		}}, len(c2), CodeIncompleteBody},
		{"decoded length larger", streamCase{chunks: [][]byte{c1, c2}, decoded: len(c1) + len(c2) + 1}, len(c1) + len(c2), CodeIncompleteBody},
		{"decoded length smaller", streamCase{chunks: [][]byte{c1, c2}, decoded: len(c1)}, len(c1), CodeIncompleteBody},
		// Only the last chunk with data may be under 8 KiB.
		{"small chunk before the last", streamCase{chunks: [][]byte{c1, []byte("tiny"), c3}, decoded: -1}, len(c1) + 4, CodeInvalidChunkSizeError},
		{"small last chunk", streamCase{chunks: [][]byte{c1, []byte("tiny")}, decoded: -1}, len(c1) + 4, ""},
		{"signed crc32c trailer", streamCase{chunks: [][]byte{c1, c2}, decoded: -1, declared: "x-amz-checksum-crc32c",
			trailers: []string{crc32Trailer("x-amz-checksum-crc32c", crc32.MakeTable(crc32.Castagnoli), append(append([]byte{}, c1...), c2...))}},
			len(c1) + len(c2), ""},
		{"signed trailer with wrong checksum", streamCase{chunks: [][]byte{c1, c2}, decoded: -1, declared: "x-amz-checksum-crc32",
			trailers: []string{crc32Trailer("x-amz-checksum-crc32", crc32.IEEETable, c1)}},
			len(c1) + len(c2), CodeBadDigest},
		{"signed trailer tampered", streamCase{chunks: [][]byte{c2}, decoded: -1, declared: "x-amz-checksum-crc32",
			trailers: []string{crc32Trailer("x-amz-checksum-crc32", crc32.IEEETable, c2)},
			mangle: func(b []byte) []byte {
				i := bytes.Index(b, []byte("x-amz-checksum-crc32:")) + len("x-amz-checksum-crc32:")
				out := append([]byte{}, b...)
				out[i] = flip(out[i])
				return out
			}},
			len(c2), CodeSignatureDoesNotMatch},
	}
	v := testVerifier(testNow)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustVerify(t, v, tc.c.request(t))
			got, err := readCounting(res.Body)
			if len(got) != tc.wantN {
				t.Fatalf("read %d bytes before %v, want %d", len(got), err, tc.wantN)
			}
			if !bytes.HasPrefix(bytes.Join(tc.c.chunks, nil), got) {
				t.Fatal("returned bytes are not a prefix of the payload")
			}
			if tc.errCode != "" {
				wantCode(t, err, tc.errCode)
				if res.Trailers() != nil {
					t.Fatal("trailers exposed after a failure")
				}
				return
			}
			if err != io.EOF {
				t.Fatalf("read error %v", err)
			}
			if tc.c.trailers != nil {
				name, val, _ := strings.Cut(tc.c.trailers[0], ":")
				if got := res.Trailers().Get(name); got != val {
					t.Fatalf("trailer %s = %q, want %q", name, got, val)
				}
				if res.Trailers().Get(trailerSignatureName) != "" {
					t.Fatal("trailer signature exposed as a trailer")
				}
			}
			if err := res.Body.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
}

func TestUnsignedTrailer(t *testing.T) {
	data := []byte(strings.Repeat("unsigned trailer payload ", 5000))
	c1, c2 := data[:65536], data[65536:]
	good := crc32Trailer("x-amz-checksum-crc32", crc32.IEEETable, data)
	tests := []struct {
		name     string
		body     []byte
		declared string
		decoded  string
		wantN    int
		errCode  string
		trailer  string
	}{
		{"crc32 trailer", encodeUnsigned([][]byte{c1, c2}, []string{good}), "x-amz-checksum-crc32", strconv.Itoa(len(data)), len(data), "", good},
		{"wrong crc32", encodeUnsigned([][]byte{c1, c2}, []string{crc32Trailer("x-amz-checksum-crc32", crc32.IEEETable, c1)}), "x-amz-checksum-crc32", strconv.Itoa(len(data)), len(data), CodeBadDigest, ""},
		{"bad base64", encodeUnsigned([][]byte{c1}, []string{"x-amz-checksum-crc32:!!!"}), "x-amz-checksum-crc32", strconv.Itoa(len(c1)), len(c1), CodeInvalidRequest, ""},
		{"declared trailer missing", encodeUnsigned([][]byte{c1}, nil), "x-amz-checksum-crc32", strconv.Itoa(len(c1)), len(c1), CodeMalformedTrailerError, ""},
		{"undeclared trailer", encodeUnsigned([][]byte{c1}, []string{"x-amz-checksum-sha1:AAAA"}), "x-amz-checksum-crc32", strconv.Itoa(len(c1)), len(c1), CodeMalformedTrailerError, ""},
		{"repeated trailer", encodeUnsigned([][]byte{c1}, []string{good, good}), "x-amz-checksum-crc32", strconv.Itoa(len(c1)), len(c1), CodeMalformedTrailerError, ""},
		{"signature on unsigned trailer", encodeUnsigned([][]byte{c1}, []string{"x-amz-trailer-signature:" + strings.Repeat("0", 64)}), "", strconv.Itoa(len(c1)), len(c1), CodeMalformedTrailerError, ""},
		{"final empty line missing", bytes.TrimSuffix(encodeUnsigned([][]byte{c1, c2}, []string{good}), []byte("\r\n")), "x-amz-checksum-crc32", strconv.Itoa(len(data)), len(data), CodeIncompleteBody, ""},
		{"cut before the trailer", bytes.TrimSuffix(encodeUnsigned([][]byte{c1, c2}, nil), []byte("\r\n")), "x-amz-checksum-crc32", strconv.Itoa(len(data)), len(data), CodeIncompleteBody, ""},
		{"truncated data", encodeUnsigned([][]byte{c1, c2}, []string{good})[:1000], "x-amz-checksum-crc32", strconv.Itoa(len(data)), 1000 - len("10000\r\n"), CodeIncompleteBody, ""},
		{"bad chunk size", []byte("zz\r\nabc\r\n0\r\n\r\n"), "", "3", 0, CodeIncompleteBody, ""},
		{"LF only", []byte("3\nabc\n0\n\n"), "", "3", 0, CodeIncompleteBody, ""},
		{"small chunk before the last", encodeUnsigned([][]byte{c1[:100], c2}, nil), "", strconv.Itoa(100 + len(c2)), 100, CodeInvalidChunkSizeError, ""},
		// minio-go v7 ends trailer lines with a bare LF, then "\r\n\r\n".
		{"minio-go framing", append(bytes.TrimSuffix(encodeUnsigned([][]byte{c1, c2}, nil), []byte("\r\n")), []byte(good+"\n\r\n\r\n")...), "x-amz-checksum-crc32", strconv.Itoa(len(data)), len(data), "", good},
		{"longer than declared", encodeUnsigned([][]byte{c1, c2}, []string{good}), "x-amz-checksum-crc32", strconv.Itoa(len(c1)), len(c1), CodeIncompleteBody, ""},
	}
	v := testVerifier(testNow)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"Content-Encoding": {"aws-chunked"}}
			if tc.declared != "" {
				hdr.Set("X-Amz-Trailer", tc.declared)
			}
			if tc.decoded != "" {
				hdr.Set("X-Amz-Decoded-Content-Length", tc.decoded)
			}
			spec := reqSpec{method: http.MethodPut, host: "localhost:9000", path: "/b/k", payload: streamingUnsignedTrailer, header: hdr, body: tc.body}
			res := mustVerify(t, v, toServer(t, spec.signHeader(t, testCreds(), "s3", testRegion, testNow)))
			got, err := readCounting(res.Body)
			if len(got) != tc.wantN || !bytes.HasPrefix(data, got) {
				t.Fatalf("read %d bytes before %v, want %d prefix bytes", len(got), err, tc.wantN)
			}
			if tc.errCode != "" {
				wantCode(t, err, tc.errCode)
				return
			}
			if err != io.EOF {
				t.Fatalf("read error %v", err)
			}
			name, val, _ := strings.Cut(tc.trailer, ":")
			if got := res.Trailers().Get(name); got != val {
				t.Fatalf("trailer %s = %q, want %q (all %v)", name, got, val, res.Trailers())
			}
		})
	}
}

func TestSignedChunkTooLarge(t *testing.T) {
	s := &streamSigner{key: make([]byte, 32), amzDate: "20260314T000000Z", scope: "20260314/us-east-1/s3/aws4_request", seed: make([]byte, 32)}
	body := strconv.FormatInt(maxChunkSize+1, 16) + ";chunk-signature=" + strings.Repeat("0", 64) + "\r\n"
	cr := newChunkedReader(io.NopCloser(strings.NewReader(body)), s, false, nil, -1)
	n, err := cr.Read(make([]byte, 10))
	if n != 0 {
		t.Fatalf("read %d bytes", n)
	}
	wantCode(t, err, CodeInvalidRequest)
}

func TestTrailerChecksums(t *testing.T) {
	// Check values of the CRC catalogue ("123456789") and the other digests.
	check := []byte("123456789")
	tests := []struct {
		name string
		want string // hex of the digest
	}{
		{"x-amz-checksum-crc32", "cbf43926"},
		{"x-amz-checksum-crc32c", "e3069283"},
		{"x-amz-checksum-crc64nvme", "ae8b14860a799888"},
		{"x-amz-checksum-sha1", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"},
		{"x-amz-checksum-sha256", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTrailerChecksum(tc.name)
			c.h.Write(check)
			if got := hex.EncodeToString(c.h.Sum(nil)); got != tc.want {
				t.Fatalf("digest = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("crc64nvme of 32 zero bytes", func(t *testing.T) {
		if got := crc64.Checksum(make([]byte, 32), crc64.MakeTable(crc64NVMEPoly)); got != 0xcf3473434d4ecf3b {
			t.Fatalf("crc64nvme = %x", got)
		}
	})
	if newTrailerChecksum("x-amz-meta-other") != nil {
		t.Fatal("unknown trailer got a checksum")
	}
}

// flip changes one byte while keeping hex digits hex.
func flip(c byte) byte {
	if c == '0' {
		return '1'
	}
	if _, ok := unhex(c); ok {
		return '0'
	}
	return c ^ 0x20
}
