package s3

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
)

// OpPostObject is the browser form upload: POST to the bucket with a
// multipart/form-data body holding a signed policy and the file.
const OpPostObject = "PostObject"

const (
	// maxPostPreData bounds the form fields before the file.
	maxPostPreData = 1 << 20
	// postBufferSize is the form parser's buffer; it also bounds how much
	// of the body is read ahead of the parser.
	postBufferSize = 32 << 10
	// postSmallFile: files whose part fits in this many bytes are read
	// into memory, so their exact size is known whatever follows them.
	postSmallFile = 64 << 10
	// postMaxTail bounds the bytes a large file may hold beyond the size
	// its Content-Length arithmetic predicts (a closing boundary without
	// its final CRLF); they become a second small segment.
	postMaxTail = 64 << 10
)

// PostAuthenticator verifies POST Object forms; *sigv4.Verifier is one.
type PostAuthenticator interface {
	VerifyPost(f sigv4.PostForm) (accessKeyID string, date time.Time, err error)
}

// errFileNotLast is returned when a large file's part ends well before the
// request does: more form fields follow it, which Anvil cannot size.
var errFileNotLast = newError(ErrMalformedPOSTRequest, "The file must be the last field of the form.")

// limitReader fails once more than limit bytes were read; it guards the
// form fields against unbounded input. Raising limit lifts the guard.
type limitReader struct {
	r     io.Reader
	n     int64
	limit int64
}

var errPreDataTooLarge = errorf(ErrMalformedPOSTRequest, "Your POST request fields preceding the upload file were too large (over %d bytes).", maxPostPreData)

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errPreDataTooLarge
	}
	if rest := l.limit - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// formReader parses a multipart/form-data stream part by part and knows
// how many body bytes it has consumed.
type formReader struct {
	src   *limitReader
	br    *bufio.Reader
	delim []byte // "\r\n--" + boundary
	done  bool   // the closing delimiter was read
}

func newFormReader(body io.Reader, boundary string) *formReader {
	src := &limitReader{r: body, limit: maxPostPreData + postBufferSize}
	return &formReader{
		src:   src,
		br:    bufio.NewReaderSize(src, postBufferSize),
		delim: []byte("\r\n--" + boundary),
	}
}

// consumed is how many body bytes the parser has used.
func (f *formReader) consumed() int64 { return f.src.n - int64(f.br.Buffered()) }

var errMalformedForm = newError(ErrMalformedPOSTRequest, "")

// start skips any preamble up to the first boundary.
func (f *formReader) start() error {
	first := f.delim[2:]
	if p, _ := f.br.Peek(len(first)); bytes.Equal(p, first) {
		_, _ = f.br.Discard(len(first))
		return f.afterDelimiter()
	}
	if _, err := io.Copy(io.Discard, &partReader{f: f}); err != nil {
		return err
	}
	return nil
}

// afterDelimiter reads what follows a boundary: "--" ends the form,
// otherwise optional white space and CRLF precede the next part.
func (f *formReader) afterDelimiter() error {
	p, err := f.br.Peek(2)
	if err == nil && string(p) == "--" {
		_, _ = f.br.Discard(2)
		f.done = true
		return nil
	}
	for {
		c, err := f.br.ReadByte()
		if err != nil {
			return errMalformedForm
		}
		switch c {
		case ' ', '\t':
			continue
		case '\r':
			if c, err := f.br.ReadByte(); err != nil || c != '\n' {
				return errMalformedForm
			}
			return nil
		}
		return errMalformedForm
	}
}

// next reads the next part's headers; ok=false when the form ended.
func (f *formReader) next() (hdr textproto.MIMEHeader, ok bool, err error) {
	if f.done {
		return nil, false, nil
	}
	hdr, err = textproto.NewReader(f.br).ReadMIMEHeader()
	if err != nil {
		var s3err *Error
		if errors.As(err, &s3err) {
			return nil, false, s3err
		}
		return nil, false, errMalformedForm
	}
	return hdr, true, nil
}

// partReader yields one part's bytes up to the next boundary.
type partReader struct {
	f     *formReader
	ended bool
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.ended {
		return 0, io.EOF
	}
	f := p.f
	peek, perr := f.br.Peek(postBufferSize)
	if i := bytes.Index(peek, f.delim); i >= 0 {
		if i == 0 {
			_, _ = f.br.Discard(len(f.delim))
			p.ended = true
			if err := f.afterDelimiter(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		n := copy(b, peek[:i])
		_, _ = f.br.Discard(n)
		return n, nil
	}
	// Everything but a possible start of the delimiter is part data.
	safe := len(peek) - (len(f.delim) - 1)
	if safe <= 0 {
		if perr == nil {
			perr = io.ErrUnexpectedEOF
		}
		if perr == io.EOF {
			return 0, errMalformedForm
		}
		return 0, perr
	}
	n := copy(b, peek[:safe])
	_, _ = f.br.Discard(n)
	return n, nil
}

// postForm is a parsed form up to its file.
type postForm struct {
	fields   map[string]string // lower-case names
	names    []string          // as sent, in order
	filename string
	file     *partReader
}

// readPostForm reads the fields up to and including the file part's headers.
func readPostForm(f *formReader) (*postForm, error) {
	if err := f.start(); err != nil {
		return nil, err
	}
	form := &postForm{fields: map[string]string{}}
	for {
		hdr, ok, err := f.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, newError(ErrIncorrectNumberOfFilesInPostRequest, "")
		}
		_, params, err := mime.ParseMediaType(hdr.Get("Content-Disposition"))
		name := params["name"]
		if err != nil || name == "" {
			return nil, errMalformedForm
		}
		part := &partReader{f: f}
		if strings.EqualFold(name, "file") {
			form.filename, form.file = params["filename"], part
			return form, nil
		}
		value, err := io.ReadAll(part)
		if err != nil {
			var s3err *Error
			if errors.As(err, &s3err) {
				return nil, s3err
			}
			return nil, errMalformedForm
		}
		if f.consumed() > maxPostPreData {
			return nil, errPreDataTooLarge
		}
		lower := strings.ToLower(name)
		if _, dup := form.fields[lower]; dup {
			return nil, errorf(ErrInvalidArgument, "The form field %q appears more than once.", name)
		}
		form.fields[lower] = string(value)
		form.names = append(form.names, name)
	}
}

// postPolicy is the decoded policy document.
type postPolicy struct {
	Expiration *string          `json:"expiration"`
	Conditions *json.RawMessage `json:"conditions"`
}

// policyCondition is one condition in normal form.
type policyCondition struct {
	op       string // "eq", "starts-with" or "content-length-range"
	field    string // lower case, without "$"
	value    string
	min, max int64
	written  string // the field as written ("$key"), for error messages
}

// quoted writes an eq or starts-with condition the way AWS quotes a failed
// one, whichever form the policy used: ["eq", "$key", "value"].
func (c policyCondition) quoted() string {
	return `["` + c.op + `", "` + c.written + `", "` + c.value + `"]`
}

func policyInvalid(detail string) *Error {
	return newError(ErrInvalidPolicyDocument, "Invalid Policy: "+detail)
}

func policyFailed(detail string) *Error {
	return newError(ErrAccessDenied, "Invalid according to Policy: "+detail)
}

// parsePolicy decodes a base64 policy document and normalises its
// conditions, answering malformed ones in AWS's words.
func parsePolicy(b64 string) (time.Time, []policyCondition, *Error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return time.Time{}, nil, policyInvalid("invalid Base64 encoding.")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return time.Time{}, nil, policyInvalid("Expecting '{' but found End-of-Input")
	}
	var p postPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		return time.Time{}, nil, policyInvalid("Invalid JSON.")
	}
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(raw, &keys) // decodes: raw is a JSON object
	for k := range keys {
		if k != "expiration" && k != "conditions" {
			return time.Time{}, nil, policyInvalid(`Unexpected: "` + k + `"`)
		}
	}
	if p.Expiration == nil {
		return time.Time{}, nil, policyInvalid("Policy missing expiration.")
	}
	exp, err := time.Parse(time.RFC3339Nano, *p.Expiration)
	if err != nil {
		return time.Time{}, nil, policyInvalid("Invalid 'expiration' value: '" + *p.Expiration + "'")
	}
	if p.Conditions == nil {
		return time.Time{}, nil, policyInvalid("Policy missing conditions.")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(*p.Conditions, &list); err != nil {
		return time.Time{}, nil, policyInvalid("Invalid 'conditions' value: must be a List.")
	}
	var conds []policyCondition
	for _, c := range list {
		pc, e := parseCondition(c)
		if e != nil {
			return time.Time{}, nil, e
		}
		conds = append(conds, pc)
	}
	return exp, conds, nil
}

func parseCondition(c json.RawMessage) (policyCondition, *Error) {
	trimmed := bytes.TrimSpace(c)
	var pc policyCondition
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		var m map[string]any
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return pc, policyInvalid("Invalid JSON.")
		}
		if len(m) != 1 {
			return pc, policyInvalid("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return pc, policyInvalid("Invalid Simple-Condition: value must be a string.")
			}
			pc.written = "$" + strings.TrimPrefix(k, "$")
			pc.op, pc.field, pc.value = "eq", strings.ToLower(pc.written[1:]), s
		}
		return pc, nil
	case len(trimmed) > 0 && trimmed[0] == '[':
	default:
		return pc, policyInvalid("Invalid condition test: must be a List or Object.")
	}
	var arr []any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&arr); err != nil {
		return pc, policyInvalid("Invalid JSON.")
	}
	if len(arr) == 0 {
		return pc, policyInvalid("Invalid Condition: missing operation identifier.")
	}
	op, ok := arr[0].(string)
	if !ok {
		return pc, policyInvalid("Invalid Condition: missing operation identifier.")
	}
	pc.op = strings.ToLower(op)
	switch pc.op {
	case "eq", "starts-with", "content-length-range":
	default:
		return pc, policyInvalid("Invalid Condition: unknown operation '" + op + "'.")
	}
	if len(arr) != 3 {
		return pc, policyInvalid("Invalid " + op + ": wrong number of arguments.")
	}
	if pc.op == "content-length-range" {
		lo, ok1 := policyInt(arr[1])
		hi, ok2 := policyInt(arr[2])
		if !ok1 || !ok2 || lo < 0 || hi < lo {
			return pc, policyInvalid("Invalid content-length-range: " + string(trimmed))
		}
		pc.min, pc.max = lo, hi
		return pc, nil
	}
	field, ok1 := arr[1].(string)
	value, ok2 := arr[2].(string)
	if !ok1 || !ok2 {
		return pc, policyInvalid("Invalid JSON.")
	}
	pc.written, pc.value = field, value
	// A field without "$" names no form field: the condition cannot hold.
	if strings.HasPrefix(field, "$") {
		pc.field = strings.ToLower(field[1:])
	}
	return pc, nil
}

func policyInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// exemptField reports whether a form field needs no policy condition.
func exemptField(lower string) bool {
	switch lower {
	case "x-amz-signature", "file", "policy":
		return true
	}
	return strings.HasPrefix(lower, "x-ignore-")
}

// checkPolicy evaluates the policy's field conditions against the form
// (plus the bucket) and requires a condition for every field.
func checkPolicy(conds []policyCondition, form *postForm, bucket string) *Error {
	if b, ok := form.fields["bucket"]; ok && b != bucket {
		// The policy was signed for another bucket's form.
		return policyFailed("Policy Condition failed: bucket " + b + " is not the bucket posted to")
	}
	values := map[string]string{}
	for k, v := range form.fields {
		values[k] = v
	}
	values["bucket"] = bucket
	covered := map[string]bool{}
	for _, c := range conds {
		if c.op == "content-length-range" {
			continue
		}
		covered[c.field] = true
		v := values[c.field]
		ok := false
		switch {
		case c.field == "":
			// Written without "$", it names no field and cannot hold.
		case c.op == "eq":
			ok = v == c.value
		case c.op == "starts-with":
			ok = strings.HasPrefix(v, c.value)
			if !ok && c.field == "content-type" {
				// A Content-Type condition applies to each comma-separated type.
				ok = true
				for _, t := range strings.Split(v, ",") {
					ok = ok && strings.HasPrefix(strings.TrimSpace(t), c.value)
				}
			}
		}
		if !ok {
			return policyFailed("Policy Condition failed: " + c.quoted())
		}
	}
	for _, name := range form.names {
		lower := strings.ToLower(name)
		if !exemptField(lower) && !covered[lower] {
			return policyFailed("Extra input fields: " + name)
		}
	}
	return nil
}

// checkLength applies content-length-range conditions to the file's size.
func checkLength(conds []policyCondition, size int64) *Error {
	for _, c := range conds {
		if c.op != "content-length-range" {
			continue
		}
		proposed := strconv.FormatInt(size, 10)
		if size < c.min {
			return newError(ErrEntityTooSmall, "").With("ProposedSize", proposed).With("MinSizeAllowed", strconv.FormatInt(c.min, 10))
		}
		if size > c.max {
			return newError(ErrEntityTooLarge, "").With("ProposedSize", proposed).With("MaxSizeAllowed", strconv.FormatInt(c.max, 10))
		}
	}
	return nil
}

// authenticatePost checks the form's signature and its policy.
func (h *Handler) authenticatePost(form *postForm, bucket string) ([]policyCondition, error) {
	f := form.fields
	if f["awsaccesskeyid"] != "" || f["signature"] != "" {
		return nil, newError(ErrNotImplemented, "Signature Version 2 POST forms are not supported; use AWS4-HMAC-SHA256.")
	}
	_, hasPolicy := f["policy"]
	_, hasSignature := f["x-amz-signature"]
	if !hasPolicy && !hasSignature {
		return nil, newError(ErrAccessDenied, "")
	}
	for _, name := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		// Present but empty is the policy's or signature's business.
		if _, ok := f[name]; !ok {
			return nil, errorf(ErrInvalidArgument, "Bucket POST must contain a field named '%s'.  If it is specified, please check the order of the fields.", name).
				With("ArgumentName", name).With("ArgumentValue", "")
		}
	}
	pa, ok := h.auth.(PostAuthenticator)
	if !ok {
		return nil, newError(ErrNotImplemented, "POST Object is not available with this authenticator.")
	}
	if _, _, err := pa.VerifyPost(sigv4.PostForm{
		Algorithm:  f["x-amz-algorithm"],
		Credential: f["x-amz-credential"],
		Date:       f["x-amz-date"],
		Policy:     f["policy"],
		Signature:  f["x-amz-signature"],
	}); err != nil {
		return nil, err
	}
	exp, conds, e := parsePolicy(f["policy"])
	if e != nil {
		return nil, e
	}
	if !h.now().Before(exp) {
		return nil, policyFailed("Policy expired.")
	}
	if e := checkPolicy(conds, form, bucket); e != nil {
		return nil, e
	}
	return conds, nil
}

// postResponse is the body of a 201 answer to POST Object.
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// exactReader yields exactly n bytes of r; r ending sooner means the file
// was not the form's last field.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		return n, errFileNotLast
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (h *Handler) postObject(req *request) error {
	r := req.r
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return newError(ErrPreconditionFailed, "").With("Condition", "Bucket POST must be of the enclosure-type multipart/form-data")
	}
	boundary := params["boundary"]
	if boundary == "" || len(boundary) > 70 {
		return errMalformedForm
	}
	if r.ContentLength < 0 {
		return newError(ErrMissingContentLength, "")
	}
	fr := newFormReader(req.body, boundary)
	form, err := readPostForm(fr)
	if err != nil {
		return err
	}
	conds, err := h.authenticatePost(form, req.route.Bucket)
	if err != nil {
		return err
	}
	f := form.fields
	if f["key"] == "" {
		return newError(ErrInvalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	}
	key := strings.ReplaceAll(f["key"], "${filename}", form.filename)
	if e := validKey(key); e != nil {
		return e
	}
	if acl := f["acl"]; acl != "" && acl != "private" {
		return newError(ErrNotImplemented, "Only the private ACL (owner FULL_CONTROL) is supported.")
	}
	meta := http.Header{}
	for k, v := range f {
		if strings.HasPrefix(k, userMetaPrefix) {
			meta.Set(k, v)
		}
	}
	md, e := userMetadata(meta)
	if e != nil {
		return e
	}
	redirect, e := redirectLocation(f["x-amz-website-redirect-location"])
	if e != nil {
		return e
	}
	var tags map[string]string
	if t := f["tagging"]; t != "" {
		var te *Error
		if tags, te = parseTagging([]byte(t), maxObjectTags, "Object"); te != nil {
			return te
		}
	}
	cr, e := postChecksumRequest(f)
	if e != nil {
		return e
	}
	algo := cr.algo
	if algo == "" {
		algo = defaultChecksum
	}
	sums := newChecksummer(algo)
	// verify checks the form's checksum once the whole file was hashed; it
	// runs before the file's last segment is committed, so a mismatch
	// stores nothing.
	verify := func() error {
		if e := cr.verify(sums.raw(cr.algo), nil); e != nil {
			return e
		}
		return nil
	}
	b, err := h.bucket(req)
	if err != nil {
		return err
	}

	// The file's size: what remains of the body after its part's headers,
	// less the closing boundary "\r\n--boundary--\r\n".
	fr.src.limit = 1<<63 - 1
	remaining := r.ContentLength - fr.consumed()
	closing := int64(len(fr.delim) + len("--\r\n"))
	guess := remaining - closing
	if guess < 0 {
		return errMalformedForm
	}
	etagHash := md5.New()
	whole := io.MultiWriter(append([]io.Writer{etagHash}, hashWriters(sums)...)...)
	var segs []*metadatav1.Segment
	var size int64
	if remaining <= postSmallFile+closing {
		data, err := io.ReadAll(io.LimitReader(form.file, remaining+1))
		if err != nil {
			return postBodyError(err)
		}
		if e := checkLength(conds, int64(len(data))); e != nil {
			return e
		}
		seg, err := h.postSegment(req, b, bytes.NewReader(data), int64(len(data)), whole, verify)
		if err != nil {
			return err
		}
		segs, size = appendSegment(segs, seg), int64(len(data))
	} else {
		if guess > MaxObjectSize {
			return errorf(ErrEntityTooLarge, "Your proposed upload of %d bytes exceeds the maximum allowed object size of %d bytes.", guess, int64(MaxObjectSize))
		}
		if e := checkLength(conds, guess); e != nil {
			return e
		}
		var tail []byte
		seg, err := h.postSegment(req, b, &exactReader{r: form.file, n: guess}, guess, whole, func() error {
			// Only now can the file's end be known: read what follows the
			// guessed size; with nothing there, the file is whole.
			var err error
			if tail, err = io.ReadAll(io.LimitReader(form.file, postMaxTail+1)); err != nil {
				return postBodyError(err)
			}
			if len(tail) > postMaxTail {
				return errFileNotLast
			}
			if len(tail) == 0 {
				return verify()
			}
			return nil
		})
		if err != nil {
			return err
		}
		segs, size = appendSegment(segs, seg), guess
		if len(tail) > 0 {
			size += int64(len(tail))
			if e := checkLength(conds, size); e != nil {
				return e
			}
			seg, err := h.postSegment(req, b, bytes.NewReader(tail), int64(len(tail)), whole, verify)
			if err != nil {
				return err
			}
			segs = appendSegment(segs, seg)
		}
	}
	etag := hex.EncodeToString(etagHash.Sum(nil))
	checksums := sums.sums()
	if len(segs) == 1 {
		segs[0].Checksums = checksums
	}
	v := &metadatav1.ObjectVersion{
		Bucket:                  req.route.Bucket,
		Key:                     key,
		Size:                    size,
		Etag:                    etag,
		ContentType:             f["content-type"],
		ContentEncoding:         f["content-encoding"],
		CacheControl:            f["cache-control"],
		ContentDisposition:      f["content-disposition"],
		ContentLanguage:         f["content-language"],
		Expires:                 f["expires"],
		UserMetadata:            md,
		Tags:                    tags,
		Segments:                segs,
		WebsiteRedirectLocation: redirect,
		Checksums:               checksums,
		ChecksumType:            checksumTypeFullObject,
	}
	if err := h.applyDefaultRetention(req, b, v); err != nil {
		return err
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: v})
	if err != nil {
		return fmt.Errorf("commit posted object: %w", err)
	}
	setChecksumHeaders(req.w.Header(), checksums, checksumTypeFullObject)
	return h.postAnswer(req, b, resp.GetVersion(), key, etag, f)
}

// postChecksumRequest reads the form's x-amz-checksum-* fields as PutObject
// reads those headers.
func postChecksumRequest(f map[string]string) (checksumRequest, *Error) {
	hdr := http.Header{}
	for k, v := range f {
		if strings.HasPrefix(k, "x-amz-checksum-") {
			hdr.Set(k, v)
		}
	}
	return parseChecksumRequest(hdr)
}

func hashWriters(c *checksummer) []io.Writer {
	out := make([]io.Writer, len(c.hashes))
	for i, h := range c.hashes {
		out[i] = h
	}
	return out
}

func appendSegment(segs []*metadatav1.Segment, s *metadatav1.Segment) []*metadatav1.Segment {
	if s == nil {
		return segs
	}
	return append(segs, s)
}

func postBodyError(err error) error {
	var s3err *Error
	if errors.As(err, &s3err) {
		return s3err
	}
	return &datapath.BodyError{Err: err}
}

// postSegment erasure-codes one run of the posted file.
// verify runs once the run was read, before its shards are committed.
func (h *Handler) postSegment(req *request, b *metadatav1.Bucket, body io.Reader, size int64, whole io.Writer, verify func() error) (*metadatav1.Segment, error) {
	params := erasure.Params{
		DataShards:   int(b.GetDataShards()),
		ParityShards: int(b.GetParityShards()),
		BlockSize:    h.cfg.Erasure.BlockSize,
	}
	if params.DataShards == 0 || params.ParityShards == 0 {
		params.DataShards, params.ParityShards = h.cfg.Erasure.DataShards, h.cfg.Erasure.ParityShards
	}
	put, err := h.data.Put(req.r.Context(), datapath.PutRequest{
		Region: b.GetRegion(),
		Params: params,
		Body:   io.TeeReader(body, whole),
		Size:   size,
		Verify: verify,
	})
	if err != nil {
		return nil, err
	}
	return put.Segment, nil
}

// postAnswer sends POST Object's success response: a redirect, or the
// status the form asked for (204 by default).
func (h *Handler) postAnswer(req *request, b *metadatav1.Bucket, v *metadatav1.ObjectVersion, key, etag string, f map[string]string) error {
	hdr := req.w.Header()
	quoted := `"` + etag + `"`
	hdr.Set("ETag", quoted)
	versionIDHeader(req.w, b, v)
	location := objectURL(req, key)
	hdr.Set("Location", location)
	redirect := f["success_action_redirect"]
	if redirect == "" {
		redirect = f["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		q := u.Query()
		q.Set("bucket", req.route.Bucket)
		q.Set("key", key)
		q.Set("etag", quoted)
		u.RawQuery = q.Encode()
		hdr.Set("Location", u.String())
		hdr.Set("Content-Length", "0")
		req.w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch f["success_action_status"] {
	case "200":
		hdr.Set("Content-Length", "0")
		req.w.WriteHeader(http.StatusOK)
	case "201":
		body, err := marshalXML(postResponse{Location: location, Bucket: req.route.Bucket, Key: key, ETag: quoted})
		if err != nil {
			return fmt.Errorf("encode post response: %w", err)
		}
		hdr.Set("Content-Type", "application/xml")
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		req.w.WriteHeader(http.StatusCreated)
		_, _ = req.w.Write(body)
	default:
		req.w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// objectURL is the URL of key in the request's bucket, in the request's
// addressing style.
func objectURL(req *request, key string) string {
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	escaped := (&url.URL{Path: "/" + key}).EscapedPath()
	if strings.HasPrefix(req.r.URL.Path, "/"+req.route.Bucket) {
		return scheme + "://" + req.r.Host + "/" + req.route.Bucket + escaped
	}
	return scheme + "://" + req.r.Host + escaped
}
