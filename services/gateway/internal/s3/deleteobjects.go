package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"sync"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
)

// OpDeleteObjects is the batch delete (POST ?delete).
const OpDeleteObjects = "DeleteObjects"

const (
	// maxDeleteObjects is the most keys one DeleteObjects request may name.
	maxDeleteObjects = 1000
	// maxDeleteBody bounds its XML body: 1,000 keys of up to 1,024 bytes,
	// escaped, with version ids.
	maxDeleteBody = 8 << 20
	// deleteParallelism bounds concurrent metadata deletes per request.
	deleteParallelism = 16
)

type deleteObjectIn struct {
	Key       *string `xml:"Key"`
	VersionID string  `xml:"VersionId"`
}

// deleteRequest is DeleteObjects' body.
type deleteRequest struct {
	XMLName xml.Name
	Quiet   string           `xml:"Quiet"`
	Objects []deleteObjectIn `xml:"Object"`
}

type deletedEntry struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	// DeleteMarker: true when the delete made or removed a delete marker,
	// false when it removed a version that was not one (named by id).
	DeleteMarker          *bool  `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteErrorEntry struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

type deleteResult struct {
	XMLName xml.Name           `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedEntry     `xml:"Deleted"`
	Errors  []deleteErrorEntry `xml:"Error"`
}

// hasBodyDigest reports whether a request carries Content-MD5 or an
// additional checksum (header or trailer) for its body.
func hasBodyDigest(hdr http.Header) bool {
	if hdr.Get("Content-MD5") != "" || hdr.Get("x-amz-sdk-checksum-algorithm") != "" {
		return true
	}
	for name := range hdr {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-checksum-") && !isChecksumControlHeader(lower) {
			return true
		}
	}
	for _, v := range hdr.Values("x-amz-trailer") {
		if strings.Contains(strings.ToLower(v), "x-amz-checksum-") {
			return true
		}
	}
	return false
}

// checkBodyDigests verifies a small, fully read body against the
// Content-MD5 and x-amz-checksum-* values the client sent with it.
func checkBodyDigests(hdr http.Header, data []byte, trailers func() http.Header) *Error {
	if v := hdr.Get("Content-MD5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != md5.Size {
			return newError(ErrInvalidDigest, "")
		}
		got := md5.Sum(data)
		if string(got[:]) != string(want) {
			return newError(ErrBadDigest, "")
		}
	}
	cr, e := parseChecksumRequest(hdr)
	if e != nil {
		return e
	}
	if cr.algo == "" {
		return nil
	}
	sum := newChecksum(cr.algo)
	if sum == nil {
		return nil
	}
	sum.Write(data)
	return cr.verify(sum.Sum(nil), trailers)
}

// readDeleteBody reads DeleteObjects' body, which may be larger than other
// configuration bodies.
func readDeleteBody(body io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxDeleteBody+1))
	if err != nil {
		return nil, &datapath.BodyError{Err: err}
	}
	if len(data) > maxDeleteBody {
		return nil, errorf(ErrInvalidRequest, "The request body exceeds %d bytes.", maxDeleteBody)
	}
	return data, nil
}

func (h *Handler) deleteObjects(req *request) error {
	if !hasBodyDigest(req.r.Header) {
		return newError(ErrInvalidRequest, "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
	}
	data, err := readDeleteBody(req.body)
	if err != nil {
		return err
	}
	if e := checkBodyDigests(req.r.Header, data, req.trailers); e != nil {
		return e
	}
	var in deleteRequest
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "Delete" {
		return newError(ErrMalformedXML, "")
	}
	if len(in.Objects) == 0 || len(in.Objects) > maxDeleteObjects {
		return newError(ErrMalformedXML, "")
	}
	for _, o := range in.Objects {
		if o.Key == nil {
			return newError(ErrMalformedXML, "")
		}
	}
	quiet := false
	switch strings.TrimSpace(in.Quiet) {
	case "", "false", "False":
	case "true", "True":
		quiet = true
	default:
		return newError(ErrMalformedXML, "")
	}
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	// The policy's explicit Deny applies key by key, as to DeleteObject.
	pol, err := h.cachedPolicy(req)
	if err != nil {
		return err
	}

	type outcome struct {
		deleted *deletedEntry
		failed  *deleteErrorEntry
	}
	results := make([]outcome, len(in.Objects))
	var wg sync.WaitGroup
	sem := make(chan struct{}, deleteParallelism)
	for i, o := range in.Objects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, e := h.deleteOne(req, b, pol, *o.Key, o.VersionID)
			results[i] = outcome{deleted: d, failed: e}
		}()
	}
	wg.Wait()

	var out deleteResult
	for _, r := range results {
		switch {
		case r.failed != nil:
			out.Errors = append(out.Errors, *r.failed)
		case !quiet:
			out.Deleted = append(out.Deleted, *r.deleted)
		}
	}
	return h.writeXML(req, out)
}

// deleteOne deletes one key of a DeleteObjects request.
func (h *Handler) deleteOne(req *request, b *metadatav1.Bucket, pol *policy, key, versionID string) (*deletedEntry, *deleteErrorEntry) {
	fail := func(e *Error) (*deletedEntry, *deleteErrorEntry) {
		return nil, &deleteErrorEntry{Key: key, VersionID: versionID, Code: e.Code, Message: e.Message}
	}
	if e := validKey(key); e != nil {
		return fail(e)
	}
	if e := checkVersionID(versionID); e != nil {
		return fail(e)
	}
	action := "DeleteObject"
	if versionID != "" {
		action = "DeleteObjectVersion"
	}
	rc := policyContext(req, action, req.route.Bucket+"/"+key, true)
	if versionID != "" {
		rc.keys["s3:versionid"] = versionID
	}
	if pol.evaluate(rc) == denied {
		return fail(newError(ErrAccessDenied, ""))
	}
	resp, err := h.metaDelete(req, key, lookupVersionID(b, versionID), nil)
	if err != nil {
		e := toS3Error(err)
		if e.HTTPStatus >= 500 {
			h.log.Warn("delete objects: key failed", "request_id", req.id, "bucket", req.route.Bucket, "key", key, "code", e.Code, "err", err)
		}
		return fail(e)
	}
	d := &deletedEntry{Key: key, VersionID: versionID}
	if versionID != "" || resp.GetDeleteMarker() {
		marker := resp.GetDeleteMarker()
		d.DeleteMarker = &marker
	}
	if resp.GetDeleteMarker() {
		d.DeleteMarkerVersionID = resp.GetVersionId()
		if versionID != "" {
			d.DeleteMarkerVersionID = versionID
		}
	}
	return d, nil
}
