package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const (
	// maxChunkSize caps a signed chunk: its bytes are held until its
	// signature is checked, so this bounds memory per request.
	maxChunkSize = 16 << 20
	// minChunkSize is AWS's smallest chunk but the last one with data.
	minChunkSize = 8 << 10
	// lineBufferSize bounds a chunk header or trailer line.
	lineBufferSize = 4096
	// maxTrailerBytes and maxTrailers bound the trailer section.
	maxTrailerBytes = 16 << 10
	maxTrailers     = 8
	// initialChunkBuffer is where a signed chunk's buffer starts; it grows
	// as bytes arrive so a large declared size alone allocates little.
	initialChunkBuffer = 64 << 10

	trailerSignatureName = "x-amz-trailer-signature"
)

// attachBody sets res.Body, DecodedLength and Trailers for the payload mode
// the request declared. s is nil for anonymous requests.
func attachBody(res *Result, r *http.Request, hdrs map[string][]string, payload string, s *streamSigner) error {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	res.Trailers = func() http.Header { return nil }
	switch payload {
	case unsignedPayload:
		res.Body, res.DecodedLength = body, r.ContentLength
	case streamingUnsignedTrailer, streamingSigned, streamingSignedTrailer:
		decoded, err := decodedLength(hdrs)
		if err != nil {
			return err
		}
		var names []string
		trailer := payload != streamingSigned
		if trailer {
			if names, err = trailerNames(hdrs); err != nil {
				return err
			}
		}
		if payload == streamingUnsignedTrailer {
			s = nil
		}
		cr := newChunkedReader(body, s, trailer, names, decoded)
		res.Body, res.DecodedLength, res.Trailers, res.Chunked = cr, decoded, cr.trailersAfterEOF, true
	default:
		// A declared sha256 (checkPayloadValue vetted signed requests'). A
		// value that is none, which only an anonymous request can send,
		// leaves want nil: a claim no body meets.
		want, err := hex.DecodeString(payload)
		if err != nil || len(want) != sha256.Size {
			want = nil
		}
		claimed := truncate(payload)
		// Nothing will be read from an empty body, so check its hash now.
		if r.ContentLength == 0 && body == http.NoBody && (want == nil || !strings.EqualFold(payload, emptySHA256)) {
			return errSHA256Mismatch(claimed, emptySHA256)
		}
		res.Body, res.DecodedLength = &hashReader{r: body, h: sha256.New(), want: want, claimed: claimed}, r.ContentLength
	}
	return nil
}

// decodedLength reads x-amz-decoded-content-length, which an aws-chunked
// body must carry: AWS answers its absence, or a value that is not a
// length, as a missing Content-Length.
func decodedLength(hdrs map[string][]string) (int64, error) {
	vs := hdrs["x-amz-decoded-content-length"]
	switch len(vs) {
	case 0:
		return 0, newError(CodeMissingContentLength, msgMissingLength)
	case 1:
	default:
		return 0, newError(CodeInvalidArgument, "The x-amz-decoded-content-length header is repeated.")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
	if err != nil || n < 0 {
		return 0, newError(CodeMissingContentLength, msgMissingLength)
	}
	return n, nil
}

// trailerNames parses x-amz-trailer: the trailers the body will carry.
func trailerNames(hdrs map[string][]string) ([]string, error) {
	var names []string
	for _, v := range hdrs["x-amz-trailer"] {
		for n := range strings.SplitSeq(v, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			if n == "" {
				continue
			}
			if !validHeaderName(n) || n == trailerSignatureName || len(names) == maxTrailers {
				return nil, newError(CodeInvalidArgument, "x-amz-trailer must list at most 8 trailing header names.")
			}
			names = append(names, n)
		}
	}
	return names, nil
}

// hashReader passes a plain body through and checks its sha256 at EOF.
type hashReader struct {
	r    io.ReadCloser
	h    hash.Hash
	want []byte
	// claimed is the client's value as sent, shown in a mismatch.
	claimed string
	err     error // sticky io.EOF or mismatch
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	if err == io.EOF {
		h.err = io.EOF
		if got := h.h.Sum(nil); h.want == nil || !bytes.Equal(got, h.want) {
			h.err = errSHA256Mismatch(h.claimed, hex.EncodeToString(got))
		}
		return n, h.err
	}
	return n, err
}

func (h *hashReader) Close() error { return h.r.Close() }

// streamSigner holds what chunk and trailer signatures are computed from.
type streamSigner struct {
	key     []byte
	amzDate string
	scope   string
	seed    []byte // the request's own signature
}

func (s *streamSigner) chunkSignature(prev, data []byte) []byte {
	sum := sha256.Sum256(data)
	return hmacSHA256(s.key, "AWS4-HMAC-SHA256-PAYLOAD\n"+s.amzDate+"\n"+s.scope+"\n"+
		hex.EncodeToString(prev)+"\n"+emptySHA256+"\n"+hex.EncodeToString(sum[:]))
}

func (s *streamSigner) trailerSignature(prev []byte, canonical string) []byte {
	return hmacSHA256(s.key, "AWS4-HMAC-SHA256-TRAILER\n"+s.amzDate+"\n"+s.scope+"\n"+
		hex.EncodeToString(prev)+"\n"+hashHex([]byte(canonical)))
}

// chunkedReader decodes an aws-chunked body:
//
//	<hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n[<trailers>]\r\n
//
// where each trailer is "name:value\r\n" and, when signed, the last one is
// x-amz-trailer-signature. With a signer, a chunk's bytes are handed out
// only after its signature, chained from the previous one, checks out.
type chunkedReader struct {
	src    *bufio.Reader
	body   io.Closer
	signer *streamSigner // nil: chunks carry no signatures
	prev   []byte        // previous signature in the chain

	trailer  bool     // a trailer section may follow the final chunk
	declared []string // x-amz-trailer names
	sums     []*trailerChecksum

	decodedLen int64 // -1 when not declared
	total      int64 // payload bytes framed so far

	chunks     int   // data chunks seen
	smallChunk int   // the first chunk under minChunkSize (1-based), 0 if none
	smallSize  int64 // its size

	buf       []byte // signed: the verified current chunk
	pos       int
	remaining int64 // unsigned: bytes left in the current chunk
	needCRLF  bool  // unsigned: the current chunk's closing CRLF is unread

	err      error // sticky; io.EOF once the body verified completely
	trailers http.Header
}

func newChunkedReader(body io.ReadCloser, s *streamSigner, trailer bool, declared []string, decodedLen int64) *chunkedReader {
	c := &chunkedReader{
		src:        bufio.NewReaderSize(body, lineBufferSize),
		body:       body,
		signer:     s,
		trailer:    trailer,
		declared:   declared,
		decodedLen: decodedLen,
	}
	if s != nil {
		c.prev = s.seed
	}
	for _, n := range declared {
		if sum := newTrailerChecksum(n); sum != nil {
			c.sums = append(c.sums, sum)
		}
	}
	return c
}

func (c *chunkedReader) Close() error { return c.body.Close() }

func (c *chunkedReader) trailersAfterEOF() http.Header {
	if c.err != io.EOF || len(c.trailers) == 0 {
		return nil
	}
	return c.trailers.Clone()
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for {
		if c.err != nil {
			return 0, c.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		if c.pos < len(c.buf) {
			n := copy(p, c.buf[c.pos:])
			c.pos += n
			return n, nil
		}
		if c.remaining > 0 {
			return c.readUnsigned(p)
		}
		if err := c.next(); err != nil {
			c.err = err
		}
	}
}

func (c *chunkedReader) readUnsigned(p []byte) (int, error) {
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.src.Read(p)
	if n > 0 {
		c.hashData(p[:n])
		c.remaining -= int64(n)
		if c.remaining == 0 {
			c.needCRLF = true
		}
		return n, nil
	}
	if err != nil {
		c.err = c.readErr(err)
		return 0, c.err
	}
	return 0, nil
}

func (c *chunkedReader) hashData(b []byte) {
	for _, s := range c.sums {
		s.h.Write(b)
	}
}

// readErr turns a premature end of the body into IncompleteBody and passes
// transport errors through.
func (c *chunkedReader) readErr(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errIncomplete()
	}
	return fmt.Errorf("read aws-chunked body: %w", err)
}

// next consumes the next chunk header (and, when signed, the chunk itself).
func (c *chunkedReader) next() error {
	if c.needCRLF {
		if err := c.expectCRLF(); err != nil {
			return err
		}
		c.needCRLF = false
	}
	line, err := c.readLine()
	if err != nil {
		return c.readErr(err)
	}
	size, sig, err := parseChunkHeader(line, c.signer != nil)
	if err != nil {
		return err
	}
	if err := c.checkChunkSize(size); err != nil {
		return err
	}
	tooLong := c.decodedLen >= 0 && size > c.decodedLen-c.total
	if c.signer == nil {
		if tooLong {
			return c.skipChunk(size)
		}
		c.total += size
		c.remaining = size
		if size == 0 {
			return c.finish()
		}
		return nil
	}
	if size > maxChunkSize {
		return newError(CodeInvalidRequest, "A chunk of an aws-chunked body may hold at most "+strconv.Itoa(maxChunkSize)+" bytes.")
	}
	if err := c.readChunk(size); err != nil {
		return err
	}
	if size > 0 {
		if err := c.expectCRLF(); err != nil {
			return err
		}
	}
	if tooLong {
		return errLengthMismatch()
	}
	if !hmac.Equal(c.signer.chunkSignature(c.prev, c.buf), sig) {
		return newError(CodeSignatureDoesNotMatch, msgChunkSignature)
	}
	c.prev = sig
	c.hashData(c.buf)
	c.total += size
	c.pos = 0
	if size == 0 {
		return c.finish()
	}
	return nil
}

// checkChunkSize enforces AWS's 8 KiB minimum for every chunk but the last
// one with data: a small chunk is only an error once another follows it.
func (c *chunkedReader) checkChunkSize(size int64) error {
	if size == 0 {
		return nil
	}
	if c.smallChunk > 0 {
		return errChunkSize(c.smallChunk, c.smallSize)
	}
	c.chunks++
	if size < minChunkSize {
		c.smallChunk, c.smallSize = c.chunks, size
	}
	return nil
}

// skipChunk reads past an unsigned chunk that overruns the decoded length
// (its bytes must not reach the caller): broken framing is still
// IncompleteBody, a well-framed overrun the length mismatch.
func (c *chunkedReader) skipChunk(size int64) error {
	if _, err := io.CopyN(io.Discard, c.src, size); err != nil {
		return c.readErr(err)
	}
	if err := c.expectCRLF(); err != nil {
		return err
	}
	return errLengthMismatch()
}

// readChunk reads exactly size bytes into c.buf, growing it as data arrives.
func (c *chunkedReader) readChunk(size int64) error {
	n := int(size)
	c.buf, c.pos = c.buf[:0], 0
	for len(c.buf) < n {
		if len(c.buf) == cap(c.buf) {
			grown := make([]byte, len(c.buf), min(max(2*cap(c.buf), initialChunkBuffer), n))
			copy(grown, c.buf)
			c.buf = grown
		}
		m, err := c.src.Read(c.buf[len(c.buf):min(cap(c.buf), n)])
		c.buf = c.buf[:len(c.buf)+m]
		if err != nil && len(c.buf) < n {
			c.buf = c.buf[:0]
			return c.readErr(err)
		}
	}
	return nil
}

func (c *chunkedReader) expectCRLF() error {
	for _, want := range []byte{'\r', '\n'} {
		b, err := c.src.ReadByte()
		if err != nil {
			return c.readErr(err)
		}
		if b != want {
			return errIncomplete()
		}
	}
	return nil
}

// readLine returns the next CRLF-terminated line without its CRLF, or
// io.EOF when the body ends exactly at a line boundary.
func (c *chunkedReader) readLine() ([]byte, error) { return c.readLineEnding(true) }

// readTrailerLine is readLine for the trailer section, where minio-go ends
// lines with a bare LF.
func (c *chunkedReader) readTrailerLine() ([]byte, error) { return c.readLineEnding(false) }

func (c *chunkedReader) readLineEnding(crlf bool) ([]byte, error) {
	line, err := c.src.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errIncomplete() // no chunk header or trailer is this long
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		return nil, errIncomplete()
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if !bytes.HasSuffix(line, []byte{'\r'}) {
		if crlf {
			return nil, errIncomplete()
		}
		return line, nil
	}
	return line[:len(line)-1], nil
}

// parseChunkHeader parses "<hex-size>;chunk-signature=<64 hex>" when signed,
// else "<hex-size>" with any chunk extensions ignored.
func parseChunkHeader(line []byte, signed bool) (int64, []byte, error) {
	sizePart, ext, hasExt := bytes.Cut(line, []byte{';'})
	// 15 hex digits keep the size below 2^60: no overflow when summing.
	if len(sizePart) == 0 || len(sizePart) > 15 {
		return 0, nil, errIncomplete()
	}
	var size int64
	for _, ch := range sizePart {
		d, ok := unhex(ch)
		if !ok {
			return 0, nil, errIncomplete()
		}
		size = size<<4 | int64(d)
	}
	if !signed {
		return size, nil, nil
	}
	const prefix = "chunk-signature="
	if !hasExt || !bytes.HasPrefix(ext, []byte(prefix)) {
		return 0, nil, errIncomplete()
	}
	sig, err := hex.DecodeString(string(ext[len(prefix):]))
	if err != nil || len(sig) != sha256.Size {
		return 0, nil, errIncomplete()
	}
	return size, sig, nil
}

// allowed reports whether x-amz-trailer declared name: AWS refuses
// undeclared trailers (and they would go unverified).
func (c *chunkedReader) allowed(name string) bool {
	return slices.Contains(c.declared, name)
}

// finish reads what follows the final chunk, then checks the decoded length,
// the trailers, their signature and the trailing checksums. It returns io.EOF
// when everything holds.
func (c *chunkedReader) finish() error {
	trailers := http.Header{}
	seen := map[string]bool{}
	var canonical strings.Builder
	var trailerSig []byte
	size := 0
	closed := false // the trailer section ended with an empty line
	for {
		readLine := c.readLine
		if c.trailer {
			readLine = c.readTrailerLine
		}
		line, err := readLine()
		if err == io.EOF {
			if c.trailer && !closed {
				return errIncomplete() // cut off in (or before) the trailer section
			}
			break // without trailers, a missing closing empty line loses nothing
		}
		if err != nil {
			return c.readErr(err)
		}
		if len(line) == 0 && c.trailer {
			// minio-go ends trailer lines with a bare LF and puts empty lines
			// around x-amz-trailer-signature; the trailer ends at EOF.
			closed = true
			continue
		}
		closed = false
		if len(line) == 0 {
			if _, err := c.src.ReadByte(); err != io.EOF {
				if err != nil {
					return c.readErr(err)
				}
				return errIncomplete()
			}
			break
		}
		if !c.trailer {
			return errIncomplete()
		}
		size += len(line) + 2
		if size > maxTrailerBytes || len(seen) > maxTrailers {
			return errTrailer()
		}
		if trailerSig != nil {
			return errTrailer()
		}
		rawName, rawValue, ok := bytes.Cut(line, []byte{':'})
		name := strings.ToLower(strings.TrimSpace(string(rawName)))
		value := strings.TrimSpace(string(rawValue))
		if !ok || name == "" || !validHeaderName(name) {
			return errTrailer()
		}
		if name == trailerSignatureName {
			if c.signer == nil {
				return errTrailer()
			}
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return errIncomplete() // the signature line's framing is broken
			}
			trailerSig = sig
			continue
		}
		if seen[name] || !c.allowed(name) {
			if c.signer != nil && len(c.declared) > 0 && len(seen) == len(c.declared) {
				// Only the trailer signature may follow the declared
				// trailers: this is a broken signature line.
				return errIncomplete()
			}
			return errTrailer()
		}
		seen[name] = true
		canonical.WriteString(name + ":" + value + "\n")
		trailers.Set(name, value)
	}

	if c.decodedLen >= 0 && c.total != c.decodedLen {
		return errLengthMismatch()
	}
	for _, n := range c.declared {
		if !seen[n] {
			return errTrailer()
		}
	}
	if c.trailer && c.signer != nil {
		if trailerSig == nil {
			return errIncomplete()
		}
		if !hmac.Equal(c.signer.trailerSignature(c.prev, canonical.String()), trailerSig) {
			return newError(CodeSignatureDoesNotMatch, msgTrailerSignature)
		}
	}
	for _, s := range c.sums {
		got, err := base64.StdEncoding.DecodeString(trailers.Get(s.name))
		if err != nil || len(got) != s.h.Size() {
			return newError(CodeInvalidRequest, "Value for "+s.name+" trailing header is invalid.")
		}
		if !bytes.Equal(got, s.h.Sum(nil)) {
			return newError(CodeBadDigest, "The "+s.label+" you specified did not match the calculated checksum.")
		}
	}
	c.trailers = trailers
	return io.EOF
}
