package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
)

// copySource is a parsed x-amz-copy-source: "[/]bucket/key[?versionId=id]",
// URL-encoded.
type copySource struct {
	bucket, key, versionID string
}

// parseCopySource parses x-amz-copy-source as S3 does.
func parseCopySource(raw string) (copySource, *Error) {
	var cs copySource
	p, query, _ := strings.Cut(raw, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return cs, newError(ErrInvalidArgument, "Invalid copy source encoding")
		}
		if vs, ok := q["versionId"]; ok {
			if vs[0] == "" {
				return cs, newError(ErrInvalidArgument, "Version id cannot be the empty string")
			}
			if e := checkVersionID(vs[0]); e != nil {
				return cs, e
			}
			cs.versionID = vs[0]
		}
	}
	dec, err := url.PathUnescape(p)
	if err != nil || !utf8.ValidString(dec) {
		return cs, newError(ErrInvalidArgument, "Invalid copy source encoding")
	}
	dec = strings.TrimPrefix(dec, "/")
	b, k, _ := strings.Cut(dec, "/")
	if validBucketName(b) != nil {
		return cs, newError(ErrInvalidArgument, "Invalid copy source bucket name")
	}
	if k == "" || validKey(k) != nil {
		return cs, newError(ErrInvalidArgument, "Invalid copy source object key")
	}
	// Keys that climb out of the bucket as paths would are refused, as
	// other S3 implementations do.
	if c := path.Clean(k); c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return cs, newError(ErrInvalidArgument, "Invalid copy source object key")
	}
	cs.bucket, cs.key = b, k
	return cs, nil
}

// parseDirective reads x-amz-metadata-directive or x-amz-tagging-directive:
// COPY (the default) or REPLACE.
func parseDirective(v, what string) (string, *Error) {
	switch v {
	case "", "COPY":
		return "COPY", nil
	case "REPLACE":
		return "REPLACE", nil
	}
	return "", errorf(ErrInvalidArgument, "Unknown %s directive.", what)
}

// parseCopyRange reads x-amz-copy-source-range: exactly "bytes=first-last".
func parseCopyRange(v string) (first, last int64, e *Error) {
	bad := newError(ErrInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, bad
	}
	first, ok1 := parseDigits(a)
	last, ok2 := parseDigits(b)
	if !ok1 || !ok2 || first > last {
		return 0, 0, bad
	}
	return first, last, nil
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumFields
}

// sourceVersion looks up a copy source, answering as S3 does for missing
// buckets, keys and versions and for delete markers, and checks the
// x-amz-copy-source-if-* conditions.
func (h *Handler) sourceVersion(req *request, cs copySource) (*metadatav1.Bucket, *metadatav1.ObjectVersion, error) {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	bresp, err := h.meta.GetBucket(ctx, &metadatav1.GetBucketRequest{Name: cs.bucket})
	if err != nil {
		return nil, nil, fmt.Errorf("get copy source bucket: %w", err)
	}
	b := bresp.GetBucket()
	resp, err := h.meta.GetObject(ctx, &metadatav1.GetObjectRequest{
		Bucket: cs.bucket, Key: cs.key, VersionId: lookupVersionID(b, cs.versionID),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("get copy source: %w", err)
	}
	v := resp.GetVersion()
	switch {
	case v == nil:
		return nil, nil, newError(ErrNoSuchKey, "")
	case v.GetDeleteMarker() && cs.versionID != "":
		return nil, nil, newError(ErrInvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
	case v.GetDeleteMarker():
		return nil, nil, newError(ErrNoSuchKey, "")
	}
	if e := checkCopySourceConditions(req.r.Header, v.GetEtag(), v.GetLastModified().AsTime()); e != nil {
		return nil, nil, e
	}
	return b, v, nil
}

// copyChecksum picks the algorithm a copy's new data is checksummed with:
// the one requested, else the source's, else S3's default.
func copyChecksum(requested string, src *metadatav1.ObjectVersion) string {
	if requested != "" {
		return requested
	}
	sums, _ := objectChecksums(src)
	for _, a := range checksumAlgorithms() {
		if _, ok := sums[a]; ok {
			return a
		}
	}
	return defaultChecksum
}

// requestedChecksumAlgorithm reads x-amz-checksum-algorithm (CopyObject's
// way of asking for a new checksum).
func requestedChecksumAlgorithm(hdr http.Header) (string, *Error) {
	algo := strings.ToUpper(strings.TrimSpace(hdr.Get("x-amz-checksum-algorithm")))
	if algo != "" && !validAlgorithm(algo) {
		return "", errUnsupportedAlgorithm()
	}
	return algo, nil
}

func (h *Handler) copyObject(req *request) error {
	r := req.r
	mdDirective, e := parseDirective(r.Header.Get("x-amz-metadata-directive"), "metadata")
	if e != nil {
		return e
	}
	tagDirective, e := parseDirective(r.Header.Get("x-amz-tagging-directive"), "tagging")
	if e != nil {
		return e
	}
	pre, e := writePreconditions(r.Header)
	if e != nil {
		return e
	}
	algo, e := requestedChecksumAlgorithm(r.Header)
	if e != nil {
		return e
	}
	// The request's metadata, storage class and website redirect are
	// validated whatever the directive, as S3 does.
	if _, e := userMetadata(r.Header); e != nil {
		return e
	}
	if e := checkStorageClass(r.Header); e != nil {
		return e
	}
	redirect, e := redirectLocation(r.Header.Get("x-amz-website-redirect-location"))
	if e != nil {
		return e
	}
	dst, err := h.bucket(req)
	if err != nil {
		return err
	}
	cs, e := parseCopySource(r.Header.Get("x-amz-copy-source"))
	if e != nil {
		return e
	}
	srcBucket, src, err := h.sourceVersion(req, cs)
	if err != nil {
		return err
	}
	if src.GetSize() > MaxObjectSize {
		return errorf(ErrInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: %d", int64(MaxObjectSize))
	}
	// Copying an older version over the current one is a restore, not a
	// copy onto itself.
	self := cs.bucket == req.route.Bucket && cs.key == req.route.Key && (cs.versionID == "" || src.GetIsLatest())
	if self && mdDirective != "REPLACE" && algo == "" && r.Header.Get("x-amz-storage-class") == "" && redirect == "" {
		return newError(ErrInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}

	var v *metadatav1.ObjectVersion
	if mdDirective == "REPLACE" {
		if v, e = objectFromHeaders(req); e != nil {
			return e
		}
	} else {
		v = &metadatav1.ObjectVersion{
			Bucket:             req.route.Bucket,
			Key:                req.route.Key,
			ContentType:        src.GetContentType(),
			ContentEncoding:    src.GetContentEncoding(),
			CacheControl:       src.GetCacheControl(),
			ContentDisposition: src.GetContentDisposition(),
			ContentLanguage:    src.GetContentLanguage(),
			Expires:            src.GetExpires(),
			UserMetadata:       src.GetUserMetadata(),
			// The website redirect is never copied from the source (S3
			// keeps it per object); only the request sets it.
			WebsiteRedirectLocation: redirect,
		}
	}
	if tagDirective == "REPLACE" {
		tags, err := parseTaggingHeader(r.Header.Get("x-amz-tagging"))
		if err != nil {
			return err
		}
		v.Tags = tags
	} else {
		v.Tags = src.GetTags()
	}
	// The copy's lock comes from the request (or the bucket's default),
	// never from the source.
	if err := h.lockFromHeaders(req, dst, v); err != nil {
		return err
	}
	if err := h.precheckWrite(req, v.Bucket, v.Key, pre); err != nil {
		return err
	}

	algo = copyChecksum(algo, src)
	sums := newChecksummer(algo)
	put, err := h.data.Copy(r.Context(), src.GetSegments(), 0, src.GetSize(), datapath.PutRequest{
		Region: dst.GetRegion(),
		Params: h.bucketParams(dst),
		Hashes: sums.hashes,
	})
	if err != nil {
		return err
	}
	checksums := sums.sums()
	v.Size, v.Etag = src.GetSize(), put.ETag
	v.Checksums, v.ChecksumType = checksums, checksumTypeFullObject
	if put.Segment != nil {
		put.Segment.Checksums = checksums
		v.Segments = []*metadatav1.Segment{put.Segment}
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: v, Preconditions: pre})
	if err != nil {
		if put.Segment != nil {
			h.log.Warn("commit object failed after its shards were written",
				"request_id", req.id, "bucket", v.Bucket, "key", v.Key, "data_id", put.Segment.GetDataId(), "err", err)
		}
		return fmt.Errorf("commit object: %w", err)
	}
	committed := resp.GetVersion()
	hdr := req.w.Header()
	if versioned(srcBucket) {
		hdr.Set("x-amz-copy-source-version-id", src.GetVersionId())
	}
	versionIDHeader(req.w, dst, committed)
	return h.writeXML(req, copyObjectResult{
		ETag:           `"` + put.ETag + `"`,
		LastModified:   xmlTime(committed.GetLastModified().AsTime()),
		checksumFields: newChecksumFields(checksums),
		ChecksumType:   checksumTypeFullObject,
	})
}

func (h *Handler) uploadPartCopy(req *request) error {
	r := req.r
	partNumber, uploadID, e := partTarget(req.route.Query)
	if e != nil {
		return e
	}
	dst, err := h.bucket(req)
	if err != nil {
		return err
	}
	cs, e := parseCopySource(r.Header.Get("x-amz-copy-source"))
	if e != nil {
		return e
	}
	rangeHdr := r.Header.Get("x-amz-copy-source-range")
	var first, last int64
	if rangeHdr != "" {
		if first, last, e = parseCopyRange(rangeHdr); e != nil {
			return e
		}
	}
	u, err := h.getUpload(req, uploadID)
	if err != nil {
		return err
	}
	srcBucket, src, err := h.sourceVersion(req, cs)
	if err != nil {
		return err
	}
	size := src.GetSize()
	offset, length := int64(0), size
	if rangeHdr != "" {
		if last >= size {
			return errorf(ErrInvalidArgument, "Range specified is not valid for source object of size: %d", size)
		}
		offset, length = first, last-first+1
	}
	if length > MaxPartSize {
		return errorf(ErrInvalidRequest, "The specified copy range is larger than the maximum allowable part size: %d", int64(MaxPartSize))
	}
	// A copied part is checksummed with the upload's algorithm; a default
	// upload's parts get the internal CRC64NVME, which is not shown.
	algo := u.GetChecksumAlgorithm()
	algos, show := []string{algo}, algo
	if algo == "" {
		algos = []string{defaultChecksum}
	}
	params := h.bucketParams(dst)
	sums := newChecksummer(algos...)
	put, err := h.data.Copy(r.Context(), src.GetSegments(), offset, length, datapath.PutRequest{
		Region:     dst.GetRegion(),
		Params:     params,
		Hashes:     sums.hashes,
		PartNumber: partNumber,
	})
	if err != nil {
		return err
	}
	all := sums.sums()
	seg := partSegment(put, params, partNumber, all)
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.PutPart(ctx, &metadatav1.PutPartRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID, PartNumber: partNumber, Segment: seg,
	})
	if err != nil {
		if put.Segment != nil {
			h.log.Warn("put part failed after its shards were written",
				"request_id", req.id, "bucket", req.route.Bucket, "key", req.route.Key, "data_id", seg.GetDataId(), "err", err)
		}
		return fmt.Errorf("put part: %w", err)
	}
	if versioned(srcBucket) {
		req.w.Header().Set("x-amz-copy-source-version-id", src.GetVersionId())
	}
	out := copyPartResult{
		ETag:         `"` + put.ETag + `"`,
		LastModified: xmlTime(resp.GetPart().GetLastModified().AsTime()),
	}
	if show != "" {
		out.checksumFields = newChecksumFields(map[string]string{show: all[show]})
	}
	return h.writeXML(req, out)
}
