package s3

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
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

func (h *Handler) putObject(req *request, res *sigv4.Result) error {
	r := req.r
	size := res.DecodedLength
	if size < 0 {
		return newError(ErrMissingContentLength, "")
	}
	if size > MaxObjectSize {
		return errorf(ErrEntityTooLarge, "Your proposed upload of %d bytes exceeds the maximum allowed object size of %d bytes.", size, int64(MaxObjectSize))
	}
	md, e := userMetadata(r.Header)
	if e != nil {
		return e
	}
	var contentMD5 []byte
	if v := r.Header.Get("Content-MD5"); v != "" {
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(d) != md5.Size {
			return newError(ErrInvalidDigest, "")
		}
		contentMD5 = d
	}
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	params := erasure.Params{
		DataShards:   int(b.GetDataShards()),
		ParityShards: int(b.GetParityShards()),
		BlockSize:    h.cfg.Erasure.BlockSize,
	}
	if params.DataShards == 0 || params.ParityShards == 0 {
		params.DataShards, params.ParityShards = h.cfg.Erasure.DataShards, h.cfg.Erasure.ParityShards
	}
	put, err := h.data.Put(r.Context(), datapath.PutRequest{
		Region:     b.GetRegion(),
		Params:     params,
		Body:       req.body,
		Size:       size,
		ContentMD5: contentMD5,
	})
	if err != nil {
		return err
	}
	v := &metadatav1.ObjectVersion{
		Bucket:             req.route.Bucket,
		Key:                req.route.Key,
		Size:               size,
		Etag:               put.ETag,
		ContentType:        r.Header.Get("Content-Type"),
		ContentEncoding:    storedEncoding(r.Header.Get("Content-Encoding")),
		CacheControl:       r.Header.Get("Cache-Control"),
		ContentDisposition: r.Header.Get("Content-Disposition"),
		ContentLanguage:    r.Header.Get("Content-Language"),
		Expires:            r.Header.Get("Expires"),
		UserMetadata:       md,
	}
	if put.Segment != nil {
		v.Segments = []*metadatav1.Segment{put.Segment}
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	// The commit is the linearisation point: only now is the object visible.
	if _, err := h.meta.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: v}); err != nil {
		if put.Segment != nil {
			// Shards without a commit are reclaimed by orphan reconciliation.
			h.log.Warn("commit object failed after its shards were written",
				"request_id", req.id, "bucket", v.Bucket, "key", v.Key, "data_id", put.Segment.GetDataId(), "err", err)
		}
		return fmt.Errorf("commit object: %w", err)
	}
	req.w.Header().Set("ETag", `"`+put.ETag+`"`)
	req.w.Header().Set("Content-Length", "0")
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

// etagMatches reports whether an If-Match / If-None-Match list names etag.
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

// checkConditions evaluates the conditional request headers in RFC 7232
// order: nil, or PreconditionFailed (412) or NotModified (304).
func checkConditions(h http.Header, etag string, modified time.Time) *Error {
	modified = modified.Truncate(time.Second)
	if im := h.Get("If-Match"); im != "" {
		if !etagMatches(im, etag) {
			return newError(ErrPreconditionFailed, "")
		}
	} else if ius := h.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && modified.After(t) {
			return newError(ErrPreconditionFailed, "")
		}
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if etagMatches(inm, etag) {
			return newError(ErrNotModified, "")
		}
	} else if ims := h.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !modified.After(t) {
			return newError(ErrNotModified, "")
		}
	}
	return nil
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
	ctx, cancel := h.metaCtx(req)
	resp, err := h.meta.GetObject(ctx, &metadatav1.GetObjectRequest{
		Bucket:    req.route.Bucket,
		Key:       req.route.Key,
		VersionId: q.Get("versionId"),
	})
	cancel()
	if err != nil {
		return fmt.Errorf("get object: %w", err)
	}
	v := resp.GetVersion()
	if v == nil || v.GetDeleteMarker() {
		return newError(ErrNoSuchKey, "")
	}
	hdr := objectHeaders(v)
	if vid := q.Get("versionId"); vid != "" {
		hdr.Set("x-amz-version-id", v.GetVersionId())
	}
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
	rng, ranged, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		req.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return newError(ErrInvalidRange, "")
	}
	if ranged {
		status, offset, length = http.StatusPartialContent, rng.Start, rng.Length
		hdr.Set("Content-Range", contentRange(rng, size))
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

func (h *Handler) deleteObject(req *request) error {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	_, err := h.meta.DeleteObject(ctx, &metadatav1.DeleteObjectRequest{Bucket: req.route.Bucket, Key: req.route.Key})
	if err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
