package s3

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// conditions are the four conditional request headers of one request: the
// plain ones on GET/HEAD, the x-amz-copy-source-if-* ones on copies.
type conditions struct {
	ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince string
}

func readConditions(h http.Header) conditions {
	return conditions{
		ifMatch:           h.Get("If-Match"),
		ifNoneMatch:       h.Get("If-None-Match"),
		ifModifiedSince:   h.Get("If-Modified-Since"),
		ifUnmodifiedSince: h.Get("If-Unmodified-Since"),
	}
}

func readCopySourceConditions(h http.Header) conditions {
	return conditions{
		ifMatch:           h.Get("x-amz-copy-source-if-match"),
		ifNoneMatch:       h.Get("x-amz-copy-source-if-none-match"),
		ifModifiedSince:   h.Get("x-amz-copy-source-if-modified-since"),
		ifUnmodifiedSince: h.Get("x-amz-copy-source-if-unmodified-since"),
	}
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

// evaluate applies the conditions in RFC 7232 order: a failed If-Match
// (or, without If-Match, a failed If-Unmodified-Since) is 412
// PreconditionFailed; then a matching If-None-Match (or, without it, a
// failed If-Modified-Since) is 304 NotModified. Unparseable dates are
// ignored, as S3 does.
func (c conditions) evaluate(etag string, modified time.Time) *Error {
	modified = modified.Truncate(time.Second)
	if c.ifMatch != "" {
		if !etagMatches(c.ifMatch, etag) {
			return newError(ErrPreconditionFailed, "")
		}
	} else if c.ifUnmodifiedSince != "" {
		if t, err := http.ParseTime(c.ifUnmodifiedSince); err == nil && modified.After(t) {
			return newError(ErrPreconditionFailed, "")
		}
	}
	if c.ifNoneMatch != "" {
		if etagMatches(c.ifNoneMatch, etag) {
			return newError(ErrNotModified, "")
		}
	} else if c.ifModifiedSince != "" {
		if t, err := http.ParseTime(c.ifModifiedSince); err == nil && !modified.After(t) {
			return newError(ErrNotModified, "")
		}
	}
	return nil
}

// checkConditions evaluates GET/HEAD's conditional headers: nil, or
// PreconditionFailed (412) or NotModified (304).
func checkConditions(h http.Header, etag string, modified time.Time) *Error {
	return readConditions(h).evaluate(etag, modified)
}

// checkCopySourceConditions evaluates the x-amz-copy-source-if-* headers
// against the copy source. A copy is a write, so every failed condition is
// 412 PreconditionFailed (AWS documents 412 even where GET answers 304).
func checkCopySourceConditions(h http.Header, etag string, modified time.Time) *Error {
	if e := readCopySourceConditions(h).evaluate(etag, modified); e != nil {
		return newError(ErrPreconditionFailed, "")
	}
	return nil
}

// writePreconditions reads If-Match / If-None-Match on a write (PUT,
// CompleteMultipartUpload, CopyObject's destination). S3 supports
// If-None-Match only as "*" and not together with If-Match.
func writePreconditions(h http.Header) (*metadatav1.WritePreconditions, *Error) {
	im := strings.TrimSpace(h.Get("If-Match"))
	inm := strings.TrimSpace(h.Get("If-None-Match"))
	if inm != "" && (inm != "*" || im != "") {
		return nil, newError(ErrNotImplemented, "A header you provided implies functionality that is not implemented.")
	}
	switch {
	case im != "":
		return &metadatav1.WritePreconditions{IfMatch: strings.Trim(strings.TrimPrefix(im, "W/"), `"`)}, nil
	case inm == "*":
		return &metadatav1.WritePreconditions{IfNoneMatch: true}, nil
	}
	return nil, nil
}

// precheckWrite evaluates write preconditions against the key's current
// version before any data is read, so a doomed upload fails fast (and,
// with Expect: 100-continue, before the client sends its body). The commit
// checks them again atomically.
func (h *Handler) precheckWrite(req *request, bucket, key string, pre *metadatav1.WritePreconditions) error {
	if pre == nil {
		return nil
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: bucket, Key: key})
	exists := err == nil && !resp.GetVersion().GetDeleteMarker()
	if err != nil {
		if e := toS3Error(err); e.Code != ErrNoSuchKey {
			return fmt.Errorf("check write preconditions: %w", err)
		}
	}
	switch {
	case pre.GetIfNoneMatch() && exists:
		return newError(ErrPreconditionFailed, "")
	case pre.GetIfMatch() != "" && !exists:
		return newError(ErrNoSuchKey, "")
	case pre.GetIfMatch() != "" && resp.GetVersion().GetEtag() != pre.GetIfMatch():
		return newError(ErrPreconditionFailed, "")
	}
	return nil
}
