package s3

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
)

// defaultContentType is what S3 answers for an object stored without one.
const defaultContentType = "binary/octet-stream"

// responseOverrides are the GET/HEAD query parameters that override a
// response header.
var responseOverrides = []struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// storedEncoding drops the aws-chunked transfer coding from Content-Encoding,
// which describes the request framing, not the object.
func storedEncoding(v string) string {
	if v == "" {
		return ""
	}
	var keep []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part != "" && !strings.EqualFold(part, "aws-chunked") {
			keep = append(keep, part)
		}
	}
	return strings.Join(keep, ",")
}

// objectFromHeaders builds the version a write creates from the request's
// object headers: content headers, user metadata, x-amz-tagging and
// x-amz-website-redirect-location. It also validates x-amz-storage-class.
func objectFromHeaders(req *request) (*metadatav1.ObjectVersion, *Error) {
	r := req.r
	md, e := userMetadata(r.Header)
	if e != nil {
		return nil, e
	}
	if e := checkStorageClass(r.Header); e != nil {
		return nil, e
	}
	redirect, e := redirectLocation(r.Header.Get("x-amz-website-redirect-location"))
	if e != nil {
		return nil, e
	}
	tags, err := parseTaggingHeader(r.Header.Get("x-amz-tagging"))
	if err != nil {
		return nil, toS3Error(err)
	}
	return &metadatav1.ObjectVersion{
		Bucket:                  req.route.Bucket,
		Key:                     req.route.Key,
		ContentType:             r.Header.Get("Content-Type"),
		ContentEncoding:         storedEncoding(r.Header.Get("Content-Encoding")),
		CacheControl:            r.Header.Get("Cache-Control"),
		ContentDisposition:      r.Header.Get("Content-Disposition"),
		ContentLanguage:         r.Header.Get("Content-Language"),
		Expires:                 r.Header.Get("Expires"),
		UserMetadata:            md,
		Tags:                    tags,
		WebsiteRedirectLocation: redirect,
	}, nil
}

func (h *Handler) putObject(req *request, res *sigv4.Result) error {
	r := req.r
	size := res.DecodedLength
	if size < 0 {
		return newError(ErrMissingContentLength, "")
	}
	if size > MaxObjectSize {
		return errorf(ErrEntityTooLarge, "Your proposed upload of %d bytes exceeds the maximum allowed object size of %d bytes.", size, int64(MaxObjectSize))
	}
	v, e := objectFromHeaders(req)
	if e != nil {
		return e
	}
	contentMD5, e := parseContentMD5(r.Header)
	if e != nil {
		return e
	}
	cr, e := parseChecksumRequest(r.Header)
	if e != nil {
		return e
	}
	pre, e := writePreconditions(r.Header)
	if e != nil {
		return e
	}
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	if err := h.lockFromHeaders(req, b, v); err != nil {
		return err
	}
	if err := h.precheckWrite(req, v.Bucket, v.Key, pre); err != nil {
		return err
	}
	algo := cr.algo
	if algo == "" {
		algo = defaultChecksum
	}
	sums := newChecksummer(algo)
	put, err := h.data.Put(r.Context(), datapath.PutRequest{
		Region:     b.GetRegion(),
		Params:     h.bucketParams(b),
		Body:       req.body,
		Size:       size,
		ContentMD5: contentMD5,
		Hashes:     sums.hashes,
		Verify: func() error {
			// Runs after the body's end, when trailers have arrived.
			if e := cr.verify(sums.raw(cr.algo), res.Trailers); e != nil {
				return e
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	checksums := sums.sums()
	v.Size, v.Etag = size, put.ETag
	v.Checksums, v.ChecksumType = checksums, checksumTypeFullObject
	if put.Segment != nil {
		put.Segment.Checksums = checksums
		v.Segments = []*metadatav1.Segment{put.Segment}
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	// The commit is the linearisation point: only now is the object visible.
	resp, err := h.meta.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: v, Preconditions: pre})
	if err != nil {
		if put.Segment != nil {
			// Shards without a commit are reclaimed by orphan reconciliation.
			h.log.Warn("commit object failed after its shards were written",
				"request_id", req.id, "bucket", v.Bucket, "key", v.Key, "data_id", put.Segment.GetDataId(), "err", err)
		}
		return fmt.Errorf("commit object: %w", err)
	}
	hdr := req.w.Header()
	hdr.Set("ETag", `"`+put.ETag+`"`)
	setChecksumHeaders(hdr, checksums, checksumTypeFullObject)
	// AWS's PutObject answers the null version a Suspended bucket writes
	// without x-amz-version-id (its "versioning suspended" sample response);
	// GET, HEAD and DELETE still show "null".
	if b.GetVersioning() != metadatav1.Versioning_VERSIONING_SUSPENDED {
		versionIDHeader(req.w, b, resp.GetVersion())
	}
	// The stored size, as S3 answers it (SDKs expose it as PutObjectOutput.Size).
	hdr.Set("x-amz-object-size", strconv.FormatInt(resp.GetVersion().GetSize(), 10))
	hdr.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// objectHeaders returns the headers GET and HEAD send for v.
func objectHeaders(v *metadatav1.ObjectVersion) http.Header {
	hdr := http.Header{}
	ct := v.GetContentType()
	if ct == "" {
		ct = defaultContentType
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("ETag", `"`+v.GetEtag()+`"`)
	hdr.Set("Last-Modified", v.GetLastModified().AsTime().UTC().Format(http.TimeFormat))
	hdr.Set("Accept-Ranges", "bytes")
	for _, kv := range [][2]string{
		{"Content-Encoding", v.GetContentEncoding()},
		{"Cache-Control", v.GetCacheControl()},
		{"Content-Disposition", v.GetContentDisposition()},
		{"Content-Language", v.GetContentLanguage()},
		{"Expires", v.GetExpires()},
		{"x-amz-website-redirect-location", v.GetWebsiteRedirectLocation()},
	} {
		if kv[1] != "" {
			hdr.Set(kv[0], kv[1])
		}
	}
	for k, val := range v.GetUserMetadata() {
		// S3 sends user metadata names in lower case.
		hdr[userMetaPrefix+k] = []string{val}
	}
	return hdr
}

// lazyWriter sends the status and headers with the first body byte, so that
// an error before any byte can still become a proper S3 error response.
type lazyWriter struct {
	w       *responseWriter
	hdr     http.Header
	status  int
	started bool
	written int64
}

func (l *lazyWriter) start() {
	if l.started {
		return
	}
	l.started = true
	dst := l.w.Header()
	for k, v := range l.hdr {
		dst[k] = v
	}
	l.w.WriteHeader(l.status)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.start()
	n, err := l.w.Write(p)
	l.written += int64(n)
	return n, err
}

func (h *Handler) getObject(req *request) error {
	r := req.r
	q := req.route.Query
	// ?partNumber is checked before anything is looked up, as in S3.
	_, byPart := q["partNumber"]
	var pn int32
	if byPart {
		if r.Header.Get("Range") != "" {
			return newError(ErrInvalidRequest, "Cannot specify both Range header and partNumber query parameter")
		}
		var e *Error
		if pn, e = parsePartNumber(q); e != nil {
			return e
		}
	}
	b, err := h.cachedBucket(req)
	if err != nil {
		return err
	}
	// getVersion answers delete markers as S3 does (versioning.go).
	v, err := h.getVersion(req, b)
	if err != nil {
		return err
	}
	hdr := objectHeaders(v)
	versionHeaders(hdr, b, v)
	if e := checkConditions(r.Header, v.GetEtag(), v.GetLastModified().AsTime()); e != nil {
		if e.Code == ErrNotModified {
			// 304 carries the validators and no body.
			dst := req.w.Header()
			dst.Set("ETag", hdr.Get("ETag"))
			dst.Set("Last-Modified", hdr.Get("Last-Modified"))
			req.w.WriteHeader(http.StatusNotModified)
			return nil
		}
		return e
	}

	size := v.GetSize()
	status, offset, length := http.StatusOK, int64(0), size
	checksumMode := strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED")
	if byPart {
		// GET ?partNumber=N reads one part of a multipart object (part 1
		// of any other object is all of it).
		span, e := partSpan(v, pn)
		if e != nil {
			return e
		}
		offset, length = span.Start, span.Length
		if v.GetPartsCount() > 0 {
			hdr.Set("x-amz-mp-parts-count", strconv.Itoa(int(v.GetPartsCount())))
		}
		if length > 0 {
			status = http.StatusPartialContent
			hdr.Set("Content-Range", contentRange(span, size))
		}
		if checksumMode {
			setPartChecksumHeaders(hdr, v, pn)
		}
	} else {
		rng, ranged, err := parseRange(r.Header.Get("Range"), size)
		if err != nil {
			req.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			return newError(ErrInvalidRange, "")
		}
		if ranged {
			status, offset, length = http.StatusPartialContent, rng.Start, rng.Length
			hdr.Set("Content-Range", contentRange(rng, size))
		} else if checksumMode {
			// Whole-object checksums only describe whole-object reads.
			sums, typ := objectChecksums(v)
			setChecksumHeaders(hdr, sums, typ)
		}
	}
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	for _, o := range responseOverrides {
		if val := q.Get(o.param); val != "" {
			hdr.Set(o.header, val)
		}
	}

	lw := &lazyWriter{w: req.w, hdr: hdr, status: status}
	if r.Method == http.MethodHead || length == 0 {
		lw.start()
		return nil
	}
	if err := h.data.Get(r.Context(), v.GetSegments(), offset, length, lw); err != nil {
		if !lw.started {
			return err
		}
		h.log.Warn("get object failed mid-response, aborting connection",
			"request_id", req.id, "bucket", req.route.Bucket, "key", req.route.Key, "sent", lw.written, "err", err)
		panic(http.ErrAbortHandler)
	}
	if lw.written != length {
		h.log.Error("get object wrote the wrong number of bytes, aborting connection",
			"request_id", req.id, "bucket", req.route.Bucket, "key", req.route.Key, "sent", lw.written, "want", length)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// partSpan returns the bytes of part n of v: a segment of a multipart
// object, or all of any other object as its only part.
func partSpan(v *metadatav1.ObjectVersion, n int32) (byteRange, *Error) {
	if v.GetPartsCount() == 0 {
		if n != 1 {
			return byteRange{}, newError(ErrInvalidPartNumber, "")
		}
		return byteRange{Start: 0, Length: v.GetSize()}, nil
	}
	var pos int64
	for _, seg := range v.GetSegments() {
		if seg.GetPartNumber() == n {
			return byteRange{Start: pos, Length: seg.GetSize()}, nil
		}
		pos += seg.GetSize()
	}
	return byteRange{}, newError(ErrInvalidPartNumber, "")
}

// setPartChecksumHeaders sends the checksum of part n: a multipart
// object's part checksum, or a single-part object's own checksum. AWS
// sends no part CRC64NVME of a multi-part full-object checksum (the default
// one it computes itself; minio-go's and versitygw's suites both expect
// that), but does send the part's CRC32/CRC32C (minio-go's
// testTrailingChecksums).
func setPartChecksumHeaders(hdr http.Header, v *metadatav1.ObjectVersion, n int32) {
	objSums, typ := objectChecksums(v)
	if v.GetPartsCount() == 0 {
		setChecksumHeaders(hdr, objSums, typ)
		return
	}
	for _, seg := range v.GetSegments() {
		if seg.GetPartNumber() != n {
			continue
		}
		part := map[string]string{}
		for algo := range objSums {
			if algo == algoCRC64NVME && typ == checksumTypeFullObject && v.GetPartsCount() > 1 {
				continue
			}
			if val, ok := seg.GetChecksums()[algo]; ok {
				part[algo] = val
			}
		}
		setChecksumHeaders(hdr, part, typ)
	}
}

// deleteObject is in versioning.go.
