package s3

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// Tag limits, as AWS documents them.
const (
	maxObjectTags   = 10
	maxBucketTags   = 50
	maxTagKeyLen    = 128 // Unicode characters
	maxTagValueLen  = 256 // Unicode characters
	bucketTagsKind  = "tagging"
	taggingCountHdr = "x-amz-tagging-count"
)

// Operations on tags.
const (
	OpGetObjectTagging    = "GetObjectTagging"
	OpPutObjectTagging    = "PutObjectTagging"
	OpDeleteObjectTagging = "DeleteObjectTagging"
	OpGetBucketTagging    = "GetBucketTagging"
	OpPutBucketTagging    = "PutBucketTagging"
	OpDeleteBucketTagging = "DeleteBucketTagging"
)

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// tagging is the request and response document of the tagging operations.
type tagging struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  struct {
		Tag []tag `xml:"Tag"`
	} `xml:"TagSet"`
}

// taggingIn is tagging as parsed: pointers tell a missing element from an
// empty one, and any namespace is accepted.
type taggingIn struct {
	XMLName xml.Name
	TagSet  *tagListIn `xml:"TagSet"`
}

// tagListIn is a list of Tag elements as parsed: a Tagging document's
// TagSet or CreateBucketConfiguration's Tags.
type tagListIn struct {
	Tag []struct {
		Key   *string `xml:"Key"`
		Value *string `xml:"Value"`
	} `xml:"Tag"`
}

// tagRune reports whether c may appear in a tag key or value: letters,
// digits, spaces and _ . : / = + - @, as AWS allows.
func tagRune(c rune) bool {
	return unicode.IsLetter(c) || unicode.IsNumber(c) || unicode.Is(unicode.Zs, c) ||
		strings.ContainsRune("_.:/=+-@", c)
}

func validTagText(s string, min, max int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		return false
	}
	for _, c := range s {
		if !tagRune(c) {
			return false
		}
	}
	return true
}

// validateTag checks one tag's key and value.
func validateTag(k, v string) *Error {
	if !validTagText(k, 1, maxTagKeyLen) {
		return newError(ErrInvalidTag, "The TagKey you have provided is invalid")
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return newError(ErrInvalidTag, "Your TagKey cannot be prefixed with aws:")
	}
	if !validTagText(v, 0, maxTagValueLen) {
		return newError(ErrInvalidTag, "The TagValue you have provided is invalid")
	}
	return nil
}

func tooManyTags(n, limit int, what string) *Error {
	switch {
	case n <= limit:
		return nil
	case what == "Bucket":
		return errorf(ErrBadRequest, "Bucket tag count cannot be greater than %d", limit)
	}
	return errorf(ErrBadRequest, "%s tags cannot be greater than %d", what, limit)
}

// parseTaggingHeader parses PutObject's x-amz-tagging header: URL query
// encoded "k1=v1&k2=v2" without duplicate keys. An empty header is no tags.
func parseTaggingHeader(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	bad := newError(ErrInvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	q, err := url.ParseQuery(s)
	if err != nil {
		return nil, bad
	}
	tags := make(map[string]string, len(q))
	for k, vs := range q {
		// "=" (a tag without a name) is an encoding error, not a bad tag.
		if len(vs) != 1 || k == "" {
			return nil, bad
		}
		if e := validateTag(k, vs[0]); e != nil {
			return nil, e
		}
		tags[k] = vs[0]
	}
	if e := tooManyTags(len(tags), maxObjectTags, "Object"); e != nil {
		return nil, e
	}
	return tags, nil
}

// parseTagging parses and validates a Tagging document with at most limit tags.
func parseTagging(data []byte, limit int, what string) (map[string]string, *Error) {
	var in taggingIn
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "Tagging" || in.TagSet == nil {
		return nil, newError(ErrMalformedXML, "")
	}
	return in.TagSet.validate(limit, what)
}

// validate checks a parsed tag list: every key and value, no key twice, at
// most limit tags.
func (l *tagListIn) validate(limit int, what string) (map[string]string, *Error) {
	tags := make(map[string]string, len(l.Tag))
	for _, t := range l.Tag {
		if t.Key == nil || t.Value == nil {
			return nil, newError(ErrMalformedXML, "")
		}
		if _, dup := tags[*t.Key]; dup {
			return nil, newError(ErrInvalidTag, "Cannot provide multiple Tags with the same key")
		}
		if e := validateTag(*t.Key, *t.Value); e != nil {
			return nil, e
		}
		tags[*t.Key] = *t.Value
	}
	if e := tooManyTags(len(tags), limit, what); e != nil {
		return nil, e
	}
	return tags, nil
}

// renderTagging builds the Tagging document of tags, keys in byte order.
func renderTagging(tags map[string]string) tagging {
	var out tagging
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out.TagSet.Tag = make([]tag, 0, len(keys))
	for _, k := range keys {
		out.TagSet.Tag = append(out.TagSet.Tag, tag{Key: k, Value: tags[k]})
	}
	return out
}

// taggingCountHeader sets x-amz-tagging-count for a version with tags, as
// GET and HEAD send it.
func taggingCountHeader(hdr http.Header, v *metadatav1.ObjectVersion) {
	if n := len(v.GetTags()); n > 0 {
		hdr.Set(taggingCountHdr, strconv.Itoa(n))
	}
}

// readXMLBody reads a small XML request body and checks its Content-MD5 or
// x-amz-checksum-* header when present.
func readXMLBody(req *request) ([]byte, error) {
	data, err := readConfigBody(req.body)
	if err != nil {
		return nil, err
	}
	if e := checkBodyDigests(req.r.Header, data, req.trailers); e != nil {
		return nil, e
	}
	return data, nil
}

func (h *Handler) putObjectTagging(req *request) error {
	if e := checkVersionID(req.route.Query.Get("versionId")); e != nil {
		return e
	}
	data, err := readXMLBody(req)
	if err != nil {
		return err
	}
	tags, e := parseTagging(data, maxObjectTags, "Object")
	if e != nil {
		return e
	}
	b, err := h.cachedBucket(req)
	if err != nil {
		return err
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.PutObjectTagging(ctx, &metadatav1.PutObjectTaggingRequest{
		Bucket:    req.route.Bucket,
		Key:       req.route.Key,
		VersionId: lookupVersionID(b, req.route.Query.Get("versionId")),
		Tags:      tags,
	})
	if err != nil {
		return versionUpdateError(req, b, "put object tagging", err)
	}
	setVersionID(req.w.Header(), b, resp.GetVersionId())
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getObjectTagging(req *request) error {
	b, err := h.cachedBucket(req)
	if err != nil {
		return err
	}
	v, err := h.getVersion(req, b)
	if err != nil {
		return err
	}
	setVersionID(req.w.Header(), b, v.GetVersionId())
	return h.writeXML(req, renderTagging(v.GetTags()))
}

func (h *Handler) deleteObjectTagging(req *request) error {
	if e := checkVersionID(req.route.Query.Get("versionId")); e != nil {
		return e
	}
	b, err := h.cachedBucket(req)
	if err != nil {
		return err
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.DeleteObjectTagging(ctx, &metadatav1.DeleteObjectTaggingRequest{
		Bucket:    req.route.Bucket,
		Key:       req.route.Key,
		VersionId: lookupVersionID(b, req.route.Query.Get("versionId")),
	})
	if err != nil {
		return versionUpdateError(req, b, "delete object tagging", err)
	}
	setVersionID(req.w.Header(), b, resp.GetVersionId())
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) putBucketTagging(req *request) error {
	data, err := readXMLBody(req)
	if err != nil {
		return err
	}
	tags, e := parseTagging(data, maxBucketTags, "Bucket")
	if e != nil {
		return e
	}
	doc, err := marshalXML(renderTagging(tags))
	if err != nil {
		return fmt.Errorf("encode bucket tags: %w", err)
	}
	if err := h.putBucketConfig(req, bucketTagsKind, doc); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketTagging(req *request) error {
	doc, err := h.getBucketConfig(req, bucketTagsKind)
	if err != nil {
		return err
	}
	if doc == nil {
		return newError(ErrNoSuchTagSet, "")
	}
	tags, e := parseTagging(doc, maxBucketTags, "Bucket")
	if e != nil {
		return fmt.Errorf("decode stored bucket tags: %s", e.Message)
	}
	return h.writeXML(req, renderTagging(tags))
}

func (h *Handler) deleteBucketTagging(req *request) error {
	if err := h.deleteBucketConfig(req, bucketTagsKind); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// bytesTrimmedEmpty reports whether data holds nothing but white space.
func bytesTrimmedEmpty(data []byte) bool { return len(bytes.TrimSpace(data)) == 0 }
