package s3

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// maxListKeys is the most keys one list page returns, as in S3.
const maxListKeys = 1000

// encodeToken makes a V2 continuation token from the resume marker. Clients
// treat it as opaque.
func encodeToken(marker string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(marker))
}

// decodeToken reverses encodeToken.
func decodeToken(token string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !utf8.Valid(b) {
		return "", newError(ErrInvalidArgument, "The continuation token provided is incorrect")
	}
	return string(b), nil
}

// urlEncode encodes a key for encoding-type=url the way S3 does: unreserved
// characters and "/" stay, a space becomes "+", every other byte is %XX.
func urlEncode(s string) string {
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// listParams are the parameters both list versions share.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	encode            func(string) string
	encodingType      string
	// withMetadata is MinIO's metadata=true extension of ListObjectsV2:
	// each entry carries its user metadata.
	withMetadata bool
}

func parseListParams(req *request) (listParams, error) {
	q := req.route.Query
	p := listParams{
		prefix:    q.Get("prefix"),
		delimiter: q.Get("delimiter"),
		maxKeys:   maxListKeys,
		encode:    func(s string) string { return s },
	}
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		switch {
		case err != nil:
			return p, newError(ErrInvalidArgument, "Provided max-keys not an integer or within integer range")
		case n < 0 && req.route.Op == OpListObjectVersions:
			// S3's version listing words this one differently.
			return p, newError(ErrInvalidArgument, "max-keys cannot be negative")
		case n < 0:
			return p, newError(ErrInvalidArgument, "Argument maxKeys must be an integer between 0 and 2147483647")
		}
		p.maxKeys = min(n, maxListKeys)
	}
	switch et := q.Get("encoding-type"); et {
	case "":
	case "url":
		p.encode, p.encodingType = urlEncode, "url"
	default:
		return p, newError(ErrInvalidArgument, "Invalid Encoding Method specified in Request")
	}
	return p, nil
}

// list asks metadata for one page after startAfter. A max-keys of 0 still
// checks that the bucket exists, and returns nothing.
func (h *Handler) list(req *request, p listParams, startAfter string) (*metadatav1.ListObjectsResponse, error) {
	if p.maxKeys == 0 {
		if _, err := h.bucket(req); err != nil {
			return nil, err
		}
		return &metadatav1.ListObjectsResponse{}, nil
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.ListObjects(ctx, &metadatav1.ListObjectsRequest{
		Bucket:           req.route.Bucket,
		Prefix:           p.prefix,
		Delimiter:        p.delimiter,
		StartAfter:       startAfter,
		MaxKeys:          int32(p.maxKeys),
		WithUserMetadata: p.withMetadata,
	})
	if err != nil {
		return nil, fmt.Errorf("list objects: %w", err)
	}
	return resp, nil
}

func (h *Handler) entries(resp *metadatav1.ListObjectsResponse, p listParams, withOwner bool) ([]objectEntry, []commonPrefix) {
	var objs []objectEntry
	for _, o := range resp.GetObjects() {
		e := objectEntry{
			Key:          p.encode(o.GetKey()),
			LastModified: xmlTime(o.GetLastModified().AsTime()),
			ETag:         `"` + o.GetEtag() + `"`,
			Size:         o.GetSize(),
			StorageClass: "STANDARD",
		}
		e.ChecksumAlgorithm, e.ChecksumType = listedChecksums(o)
		if withOwner {
			own := h.owner
			e.Owner = &own
		}
		if p.withMetadata {
			md := listedUserMetadata(o.GetUserMetadata())
			e.UserMetadata = &md
		}
		objs = append(objs, e)
	}
	var prefixes []commonPrefix
	for _, cp := range resp.GetCommonPrefixes() {
		prefixes = append(prefixes, commonPrefix{Prefix: p.encode(cp)})
	}
	return objs, prefixes
}

// nextMarker is where the next page starts: the metadata's marker, or the
// greater of the last key and last prefix when it sent none.
func nextMarker(resp *metadatav1.ListObjectsResponse) string {
	if m := resp.GetNextMarker(); m != "" {
		return m
	}
	var m string
	if objs := resp.GetObjects(); len(objs) > 0 {
		m = objs[len(objs)-1].GetKey()
	}
	if cps := resp.GetCommonPrefixes(); len(cps) > 0 {
		m = max(m, cps[len(cps)-1])
	}
	return m
}

func (h *Handler) listObjects(req *request) error {
	p, err := parseListParams(req)
	if err != nil {
		return err
	}
	marker := req.route.Query.Get("marker")
	resp, err := h.list(req, p, marker)
	if err != nil {
		return err
	}
	out := listBucketResult{
		Name:         req.route.Bucket,
		Prefix:       p.encode(p.prefix),
		Marker:       p.encode(marker),
		MaxKeys:      p.maxKeys,
		Delimiter:    p.encode(p.delimiter),
		IsTruncated:  resp.GetTruncated(),
		EncodingType: p.encodingType,
	}
	out.Contents, out.CommonPrefixes = h.entries(resp, p, true)
	// S3 sends NextMarker only with a delimiter; without one clients resume
	// after the last key listed.
	if resp.GetTruncated() && p.delimiter != "" {
		out.NextMarker = p.encode(nextMarker(resp))
	}
	return h.writeXML(req, out)
}

func (h *Handler) listObjectsV2(req *request) error {
	p, err := parseListParams(req)
	if err != nil {
		return err
	}
	q := req.route.Query
	p.withMetadata = q.Get("metadata") == "true"
	startAfter := q.Get("start-after")
	token := q.Get("continuation-token")
	resume := startAfter
	if _, ok := q["continuation-token"]; ok {
		if resume, err = decodeToken(token); err != nil {
			return err
		}
		if resume == "" {
			return newError(ErrInvalidArgument, "The continuation token provided is incorrect")
		}
	}
	resp, err := h.list(req, p, resume)
	if err != nil {
		return err
	}
	out := listBucketResultV2{
		Name:              req.route.Bucket,
		Prefix:            p.encode(p.prefix),
		StartAfter:        p.encode(startAfter),
		ContinuationToken: token,
		MaxKeys:           p.maxKeys,
		Delimiter:         p.encode(p.delimiter),
		IsTruncated:       resp.GetTruncated(),
		EncodingType:      p.encodingType,
	}
	out.Contents, out.CommonPrefixes = h.entries(resp, p, q.Get("fetch-owner") == "true")
	out.KeyCount = len(out.Contents) + len(out.CommonPrefixes)
	if resp.GetTruncated() {
		out.NextContinuationToken = encodeToken(nextMarker(resp))
	}
	return h.writeXML(req, out)
}
