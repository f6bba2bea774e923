package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// Versioning operations.
const (
	OpGetBucketVersioning = "GetBucketVersioning"
	OpPutBucketVersioning = "PutBucketVersioning"
	OpListObjectVersions  = "ListObjectVersions"
)

const (
	// nullVersionID is S3's id of the version written while versioning was
	// off or suspended.
	nullVersionID = "null"
	// deleteMarkerMetaKey is the ErrorInfo metadata entry in which the
	// metadata service names the delete marker that hides a key.
	deleteMarkerMetaKey = "delete_marker_version_id"

	versionIDHdr    = "x-amz-version-id"
	deleteMarkerHdr = "x-amz-delete-marker"
)

// versioningConfiguration is GetBucketVersioning's answer.
type versioningConfiguration struct {
	XMLName   xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
	Status    string   `xml:"Status,omitempty"`
	MfaDelete string   `xml:"MfaDelete,omitempty"`
}

// versioningConfigurationIn is PutBucketVersioning's body as parsed.
type versioningConfigurationIn struct {
	XMLName   xml.Name
	Status    *string `xml:"Status"`
	MfaDelete *string `xml:"MfaDelete"`
}

// versioned reports whether b has ever had versioning enabled: only then do
// responses show version ids.
func versioned(b *metadatav1.Bucket) bool {
	switch b.GetVersioning() {
	case metadatav1.Versioning_VERSIONING_ENABLED, metadatav1.Versioning_VERSIONING_SUSPENDED:
		return true
	}
	return false
}

// setVersionID sets x-amz-version-id to id when bucket b shows version ids.
func setVersionID(hdr http.Header, b *metadatav1.Bucket, id string) {
	if id != "" && versioned(b) {
		hdr.Set(versionIDHdr, id)
	}
}

// versionIDHeader sets x-amz-version-id on a write's response (PutObject,
// CompleteMultipartUpload, CopyObject, ...) for version v of bucket b: the
// new version's id in versioned buckets ("null" when suspended), nothing in
// buckets that were never versioned.
func versionIDHeader(w http.ResponseWriter, b *metadatav1.Bucket, v *metadatav1.ObjectVersion) {
	setVersionID(w.Header(), b, v.GetVersionId())
}

// versionHeaders sets the version-related headers GET and HEAD send for v.
func versionHeaders(hdr http.Header, b *metadatav1.Bucket, v *metadatav1.ObjectVersion) {
	setVersionID(hdr, b, v.GetVersionId())
	taggingCountHeader(hdr, v)
	objectLockHeaders(hdr, v)
}

// checkVersionID refuses a version id that cannot name a version: ids are
// UUIDs, or "null". The metadata service would refuse it too, without
// telling which S3 error to answer.
func checkVersionID(id string) *Error {
	if id == "" || id == nullVersionID || isUUID(id) {
		return nil
	}
	return newError(ErrInvalidArgument, "Invalid version id specified")
}

// isUUID reports whether s has the 8-4-4-4-12 hex form of a UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// lookupVersionID turns a versionId query parameter into the id to ask
// metadata for: in a never-versioned bucket "null" is the key's only
// version, which metadata keeps under an internal id.
func lookupVersionID(b *metadatav1.Bucket, id string) string {
	if id == nullVersionID && !versioned(b) {
		return ""
	}
	return id
}

// deleteMarkerID returns the id of the delete marker a NO_SUCH_KEY error
// from metadata reports, if any.
func deleteMarkerID(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if id, ok := info.GetMetadata()[deleteMarkerMetaKey]; ok {
				return id, true
			}
		}
	}
	return "", false
}

// markerHeaders sets x-amz-delete-marker and x-amz-version-id when err
// says a delete marker hides the key.
func markerHeaders(hdr http.Header, b *metadatav1.Bucket, err error) {
	if id, ok := deleteMarkerID(err); ok {
		hdr.Set(deleteMarkerHdr, "true")
		setVersionID(hdr, b, id)
	}
}

// versionUpdateError is what a refused update of a version (tagging,
// retention, legal hold) answers: a delete marker named by versionId is
// MethodNotAllowed, as in S3; a key hidden by a delete marker is NoSuchKey
// with the marker's headers.
func versionUpdateError(req *request, b *metadatav1.Bucket, op string, err error) error {
	markerHeaders(req.w.Header(), b, err)
	if _, marker := deleteMarkerID(err); marker && req.route.Query.Get("versionId") != "" {
		return newError(ErrMethodNotAllowed, "The specified method is not allowed against this resource.")
	}
	return fmt.Errorf("%s: %w", op, err)
}

// getVersion looks up the version a GET, HEAD or tagging request addresses
// (versionId or the current one). A key hidden by a delete marker is
// NoSuchKey with x-amz-delete-marker set; addressing a delete marker by id
// is MethodNotAllowed, as in S3.
func (h *Handler) getVersion(req *request, b *metadatav1.Bucket) (*metadatav1.ObjectVersion, error) {
	if e := checkVersionID(req.route.Query.Get("versionId")); e != nil {
		return nil, e
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.GetObject(ctx, &metadatav1.GetObjectRequest{
		Bucket:    req.route.Bucket,
		Key:       req.route.Key,
		VersionId: lookupVersionID(b, req.route.Query.Get("versionId")),
	})
	hdr := req.w.Header()
	if err != nil {
		markerHeaders(hdr, b, err)
		return nil, fmt.Errorf("get object: %w", err)
	}
	v := resp.GetVersion()
	if v == nil {
		return nil, newError(ErrNoSuchKey, "")
	}
	if v.GetDeleteMarker() {
		hdr.Set(deleteMarkerHdr, "true")
		setVersionID(hdr, b, v.GetVersionId())
		hdr.Set("Last-Modified", v.GetLastModified().AsTime().UTC().Format(http.TimeFormat))
		hdr.Set("Allow", "DELETE")
		return nil, newError(ErrMethodNotAllowed, "The specified method is not allowed against this resource.")
	}
	return v, nil
}

func (h *Handler) putBucketVersioning(req *request) error {
	data, err := readXMLBody(req)
	if err != nil {
		return err
	}
	var in versioningConfigurationIn
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "VersioningConfiguration" {
		return newError(ErrMalformedXML, "")
	}
	if in.MfaDelete != nil {
		switch *in.MfaDelete {
		case "Disabled":
		case "Enabled":
			return newError(ErrNotImplemented, "MFA delete is not implemented.")
		default:
			return newError(ErrMalformedXML, "")
		}
	}
	var want metadatav1.Versioning
	switch {
	case in.Status == nil:
		// Nothing to change; the bucket must still exist.
		_, err := h.bucket(req)
		if err != nil {
			return err
		}
		req.w.Header().Set("Content-Length", "0")
		req.w.WriteHeader(http.StatusOK)
		return nil
	case *in.Status == "Enabled":
		want = metadatav1.Versioning_VERSIONING_ENABLED
	case *in.Status == "Suspended":
		want = metadatav1.Versioning_VERSIONING_SUSPENDED
	default:
		return newError(ErrMalformedXML, "")
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.SetBucketVersioning(ctx, &metadatav1.SetBucketVersioningRequest{Bucket: req.route.Bucket, Versioning: want})
	if err != nil {
		return fmt.Errorf("set bucket versioning: %w", err)
	}
	if b := resp.GetBucket(); b != nil {
		h.cacheBucket(b, h.now())
	} else {
		h.buckets.forget(req.route.Bucket)
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketVersioning(req *request) error {
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	h.cacheBucket(b, h.now())
	var out versioningConfiguration
	switch b.GetVersioning() {
	case metadatav1.Versioning_VERSIONING_ENABLED:
		out.Status = "Enabled"
	case metadatav1.Versioning_VERSIONING_SUSPENDED:
		out.Status = "Suspended"
	}
	return h.writeXML(req, out)
}

// versionEntry is one <Version> or <DeleteMarker> of a version listing;
// XMLName picks which.
type versionEntry struct {
	XMLName           xml.Name
	Key               string   `xml:"Key"`
	VersionID         string   `xml:"VersionId"`
	IsLatest          bool     `xml:"IsLatest"`
	LastModified      string   `xml:"LastModified"`
	ETag              string   `xml:"ETag,omitempty"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
	Size              *int64   `xml:"Size,omitempty"`
	Owner             owner    `xml:"Owner"`
	StorageClass      string   `xml:"StorageClass,omitempty"`
}

type listVersionsResult struct {
	XMLName             xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Entries             []versionEntry `xml:",any"`
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
}

// shownVersionID is the id a listing shows: "null" for every version of a
// never-versioned bucket.
func shownVersionID(b *metadatav1.Bucket, id string) string {
	if !versioned(b) || id == "" {
		return nullVersionID
	}
	return id
}

func (h *Handler) listObjectVersions(req *request) error {
	p, err := parseListParams(req)
	if err != nil {
		return err
	}
	q := req.route.Query
	keyMarker, vidMarker := q.Get("key-marker"), q.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return newError(ErrInvalidArgument, "A version-id marker cannot be specified without a key marker.")
	}
	if e := checkVersionID(vidMarker); e != nil {
		return e
	}
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	out := listVersionsResult{
		Name:            req.route.Bucket,
		Prefix:          p.encode(p.prefix),
		KeyMarker:       p.encode(keyMarker),
		VersionIDMarker: vidMarker,
		MaxKeys:         p.maxKeys,
		Delimiter:       p.encode(p.delimiter),
		EncodingType:    p.encodingType,
	}
	if p.maxKeys == 0 {
		return h.writeXML(req, out)
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.ListObjectVersions(ctx, &metadatav1.ListObjectVersionsRequest{
		Bucket:          req.route.Bucket,
		Prefix:          p.prefix,
		Delimiter:       p.delimiter,
		KeyMarker:       keyMarker,
		VersionIdMarker: lookupVersionID(b, vidMarker),
		MaxKeys:         int32(p.maxKeys),
	})
	if err != nil {
		return fmt.Errorf("list object versions: %w", err)
	}
	for _, v := range resp.GetVersions() {
		e := versionEntry{
			XMLName:      xml.Name{Space: s3NS, Local: "Version"},
			Key:          p.encode(v.GetKey()),
			VersionID:    shownVersionID(b, v.GetVersionId()),
			IsLatest:     v.GetIsLatest(),
			LastModified: xmlTime(v.GetLastModified().AsTime()),
			Owner:        h.owner,
		}
		if v.GetDeleteMarker() {
			e.XMLName.Local = "DeleteMarker"
		} else {
			size := v.GetSize()
			e.ETag, e.Size, e.StorageClass = `"`+v.GetEtag()+`"`, &size, "STANDARD"
			e.ChecksumAlgorithm, e.ChecksumType = listedChecksums(v)
		}
		out.Entries = append(out.Entries, e)
	}
	for _, cp := range resp.GetCommonPrefixes() {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(cp)})
	}
	out.IsTruncated = resp.GetTruncated()
	if out.IsTruncated {
		nk, nv := resp.GetNextKeyMarker(), resp.GetNextVersionIdMarker()
		if nk == "" {
			nk, nv = lastListed(resp)
		}
		out.NextKeyMarker = p.encode(nk)
		if nv != "" {
			out.NextVersionIDMarker = shownVersionID(b, nv)
		}
	}
	return h.writeXML(req, out)
}

// lastListed is where the next page of versions starts when metadata sent
// no markers: after the greater of the last version and the last prefix.
func lastListed(resp *metadatav1.ListObjectVersionsResponse) (key, versionID string) {
	if vs := resp.GetVersions(); len(vs) > 0 {
		key, versionID = vs[len(vs)-1].GetKey(), vs[len(vs)-1].GetVersionId()
	}
	if cps := resp.GetCommonPrefixes(); len(cps) > 0 {
		sorted := append([]string(nil), cps...)
		sort.Strings(sorted)
		if last := sorted[len(sorted)-1]; last > key {
			key, versionID = last, ""
		}
	}
	return key, versionID
}

// deleteObject deletes a key (a delete marker in versioned buckets) or,
// with versionId, one version for good.
func (h *Handler) deleteObject(req *request) error {
	q := req.route.Query
	shown, lookup := q.Get("versionId"), ""
	if _, ok := q["versionId"]; ok && shown == "" {
		return newError(ErrInvalidArgument, "Version id cannot be the empty string")
	}
	if e := checkVersionID(shown); e != nil {
		return e
	}
	if shown != "" {
		// "null" needs the bucket's state to resolve; plain deletes do not.
		b, err := h.cachedBucket(req)
		if err != nil {
			return err
		}
		lookup = lookupVersionID(b, shown)
	}
	// If-Match on DELETE is checked against the key's current version in
	// the delete's transaction. (S3 evaluates x-amz-if-match-size and
	// x-amz-if-match-last-modified-time for directory buckets only.)
	var pre *metadatav1.WritePreconditions
	if m := req.r.Header.Get("If-Match"); m != "" {
		pre = &metadatav1.WritePreconditions{IfMatch: m}
	}
	resp, err := h.metaDelete(req, req.route.Key, lookup, pre)
	if err != nil {
		return err
	}
	hdr := req.w.Header()
	if resp.GetDeleteMarker() {
		hdr.Set(deleteMarkerHdr, "true")
	}
	switch {
	case shown != "":
		hdr.Set(versionIDHdr, shown)
	case resp.GetDeleteMarker() && resp.GetVersionId() != "":
		hdr.Set(versionIDHdr, resp.GetVersionId())
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// metaDelete asks metadata to delete key (one version when versionID is
// set), when pre (if any) holds; object lock may refuse it.
func (h *Handler) metaDelete(req *request, key, versionID string, pre *metadatav1.WritePreconditions) (*metadatav1.DeleteObjectResponse, error) {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.DeleteObject(ctx, &metadatav1.DeleteObjectRequest{
		Bucket: req.route.Bucket, Key: key, VersionId: versionID, Preconditions: pre,
		BypassGovernanceRetention: bypassGovernance(req.r.Header),
	})
	if err != nil {
		return nil, fmt.Errorf("delete object: %w", err)
	}
	return resp, nil
}
