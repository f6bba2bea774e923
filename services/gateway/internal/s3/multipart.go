package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
)

// Operations of multipart uploads, copies and object attributes.
const (
	OpCreateMultipartUpload   = "CreateMultipartUpload"
	OpUploadPart              = "UploadPart"
	OpUploadPartCopy          = "UploadPartCopy"
	OpCompleteMultipartUpload = "CompleteMultipartUpload"
	OpAbortMultipartUpload    = "AbortMultipartUpload"
	OpListParts               = "ListParts"
	OpListMultipartUploads    = "ListMultipartUploads"
	OpCopyObject              = "CopyObject"
	OpGetObjectAttributes     = "GetObjectAttributes"
)

const (
	// maxPartNumber is S3's highest part number.
	maxPartNumber = 10000
	// MaxPartSize is S3's limit on one part.
	MaxPartSize = 5 << 30
	// DefaultMinPartSize is S3's smallest size of every part but the last.
	DefaultMinPartSize = 5 << 20
	// maxCompleteBody bounds CompleteMultipartUpload's XML body: 10,000
	// parts with a checksum each stay well below it.
	maxCompleteBody = 8 << 20
	// maxListParts bounds ListParts and ListMultipartUploads pages.
	maxListParts = 1000
)

// dataObjectOp routes the object requests of multipart uploads, part reads,
// copies and GetObjectAttributes; ok is false for everything else.
func dataObjectOp(r *http.Request, q url.Values) (op string, ok bool) {
	_, uploadID := q["uploadId"]
	_, partNumber := q["partNumber"]
	_, uploads := q["uploads"]
	_, attributes := q["attributes"]
	copySource := r.Header.Get("x-amz-copy-source") != ""
	switch r.Method {
	case http.MethodGet:
		switch {
		case uploadID:
			return OpListParts, true
		case attributes:
			return OpGetObjectAttributes, true
		case partNumber:
			return OpGetObject, true
		}
	case http.MethodHead:
		if partNumber && !uploadID {
			return OpHeadObject, true
		}
	case http.MethodPut:
		if uploadID || partNumber {
			if copySource {
				return OpUploadPartCopy, true
			}
			return OpUploadPart, true
		}
	case http.MethodPost:
		switch {
		case uploads:
			return OpCreateMultipartUpload, true
		case uploadID:
			return OpCompleteMultipartUpload, true
		}
	case http.MethodDelete:
		if uploadID {
			return OpAbortMultipartUpload, true
		}
	}
	return "", false
}

// dataBucketOp routes ListMultipartUploads.
func dataBucketOp(method string, q url.Values) (op string, ok bool) {
	if _, uploads := q["uploads"]; uploads && method == http.MethodGet {
		return OpListMultipartUploads, true
	}
	return "", false
}

// dispatchData runs the operations of this file, copy.go and
// attributes.go; handled is false for any other operation.
func (h *Handler) dispatchData(req *request, res *sigv4.Result) (handled bool, err error) {
	switch req.route.Op {
	case OpCreateMultipartUpload:
		return true, h.createMultipartUpload(req)
	case OpUploadPart:
		return true, h.uploadPart(req, res)
	case OpUploadPartCopy:
		return true, h.uploadPartCopy(req)
	case OpCompleteMultipartUpload:
		return true, h.completeMultipartUpload(req)
	case OpAbortMultipartUpload:
		return true, h.abortMultipartUpload(req)
	case OpListParts:
		return true, h.listParts(req)
	case OpListMultipartUploads:
		return true, h.listMultipartUploads(req)
	case OpCopyObject:
		return true, h.copyObject(req)
	case OpGetObjectAttributes:
		return true, h.getObjectAttributes(req)
	}
	return false, nil
}

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

// completeMultipartUploadIn is CompleteMultipartUpload's request body, in
// any namespace.
type completeMultipartUploadIn struct {
	XMLName xml.Name
	Parts   []completedPartIn `xml:"Part"`
}

type completedPartIn struct {
	PartNumber string `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	checksumFields
}

type partEntry struct {
	PartNumber   int32  `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	checksumFields
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            owner       `xml:"Initiator"`
	Owner                owner       `xml:"Owner"`
	StorageClass         string      `xml:"StorageClass"`
	PartNumberMarker     int32       `xml:"PartNumberMarker"`
	NextPartNumberMarker int32       `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	Parts                []partEntry `xml:"Part"`
	ChecksumAlgorithm    string      `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string      `xml:"ChecksumType,omitempty"`
}

type uploadEntry struct {
	Key               string `xml:"Key"`
	UploadID          string `xml:"UploadId"`
	Initiator         owner  `xml:"Initiator"`
	Owner             owner  `xml:"Owner"`
	StorageClass      string `xml:"StorageClass"`
	Initiated         string `xml:"Initiated"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	Prefix             string         `xml:"Prefix"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []uploadEntry  `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
}

// parsePartNumber reads ?partNumber: an integer in [1, 10000].
func parsePartNumber(q url.Values) (int32, *Error) {
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > maxPartNumber {
		return 0, newError(ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
	}
	return int32(n), nil
}

// partTarget reads the part number and upload id of UploadPart and
// UploadPartCopy (the route has both: see shapeError).
func partTarget(q url.Values) (int32, string, *Error) {
	n, e := parsePartNumber(q)
	if e != nil {
		return 0, "", e
	}
	return n, q.Get("uploadId"), nil
}

// createChecksum reads CreateMultipartUpload's x-amz-checksum-algorithm and
// x-amz-checksum-type. Both are empty when the client named no algorithm:
// the upload then gets S3's default, a FULL_OBJECT CRC64NVME.
func createChecksum(hdr http.Header) (algo, typ string, e *Error) {
	algo = strings.ToUpper(strings.TrimSpace(hdr.Get("x-amz-checksum-algorithm")))
	typ = strings.ToUpper(strings.TrimSpace(hdr.Get("x-amz-checksum-type")))
	if algo != "" && !validAlgorithm(algo) {
		return "", "", errUnsupportedAlgorithm()
	}
	if typ != "" && typ != checksumTypeComposite && typ != checksumTypeFullObject {
		return "", "", newError(ErrInvalidRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	switch {
	case typ != "" && algo == "":
		return "", "", newError(ErrInvalidRequest, "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
	case algo == "":
		return "", "", nil
	case typ == "" && algo == algoCRC64NVME:
		typ = checksumTypeFullObject
	case typ == "":
		typ = checksumTypeComposite
	}
	if (typ == checksumTypeFullObject && !isCRC(algo)) || (typ == checksumTypeComposite && algo == algoCRC64NVME) {
		return "", "", errorf(ErrInvalidRequest, "The %s checksum type cannot be used with the %s checksum algorithm.", typ, strings.ToLower(algo))
	}
	return algo, typ, nil
}

func (h *Handler) createMultipartUpload(req *request) error {
	tmpl, e := objectFromHeaders(req)
	if e != nil {
		return e
	}
	algo, typ, e := createChecksum(req.r.Header)
	if e != nil {
		return e
	}
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	// The object gets its lock on Complete, from the template; the
	// bucket's default retention is applied then, when the object is made.
	if err := h.lockHeaders(req, b, tmpl); err != nil {
		return err
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.CreateMultipartUpload(ctx, &metadatav1.CreateMultipartUploadRequest{Upload: &metadatav1.MultipartUpload{
		Bucket:            req.route.Bucket,
		Key:               req.route.Key,
		Template:          tmpl,
		ChecksumAlgorithm: algo,
		ChecksumType:      typ,
	}})
	if err != nil {
		return fmt.Errorf("create multipart upload: %w", err)
	}
	if algo != "" {
		req.w.Header().Set("x-amz-checksum-algorithm", algo)
		req.w.Header().Set("x-amz-checksum-type", typ)
	}
	return h.writeXML(req, initiateMultipartUploadResult{
		Bucket:   req.route.Bucket,
		Key:      req.route.Key,
		UploadID: resp.GetUpload().GetUploadId(),
	})
}

// getUpload fetches the addressed upload (NoSuchUpload when it is unknown
// or belongs to another key).
func (h *Handler) getUpload(req *request, uploadID string) (*metadatav1.MultipartUpload, error) {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.GetMultipartUpload(ctx, &metadatav1.GetMultipartUploadRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID,
	})
	if err != nil {
		return nil, fmt.Errorf("get multipart upload: %w", err)
	}
	if resp.GetUpload() == nil {
		return nil, errors.New("get multipart upload: empty response")
	}
	return resp.GetUpload(), nil
}

// partChecksums decides which checksums a part of upload u computes, and
// which of them its response shows, given what the part request named.
func partChecksums(u *metadatav1.MultipartUpload, named string) (compute []string, show string, e *Error) {
	algo := u.GetChecksumAlgorithm()
	if algo == "" {
		// Default upload: CRC64NVME for the object's checksum, plus whatever
		// the client named, which is verified and shown.
		return []string{defaultChecksum, named}, named, nil
	}
	switch {
	case named != "" && named != algo:
		return nil, "", errorf(ErrInvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", algo, named)
	case named == "" && u.GetChecksumType() == checksumTypeComposite:
		// A composite checksum needs every part's checksum from the client.
		return nil, "", errorf(ErrInvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: null", algo)
	}
	return []string{algo}, algo, nil
}

// bucketParams returns the erasure parameters of new data in bucket b.
func (h *Handler) bucketParams(b *metadatav1.Bucket) erasure.Params {
	p := erasure.Params{
		DataShards:   int(b.GetDataShards()),
		ParityShards: int(b.GetParityShards()),
		BlockSize:    h.cfg.Erasure.BlockSize,
	}
	if p.DataShards == 0 || p.ParityShards == 0 {
		p.DataShards, p.ParityShards = h.cfg.Erasure.DataShards, h.cfg.Erasure.ParityShards
	}
	return p
}

// partSegment is the segment recorded for a written part; an empty part
// has no shards but still a segment (its size, ETag and checksums).
func partSegment(put datapath.PutResult, p erasure.Params, n int32, sums map[string]string) *metadatav1.Segment {
	seg := put.Segment
	if seg == nil {
		seg = &metadatav1.Segment{
			DataShards:   int32(p.DataShards),
			ParityShards: int32(p.ParityShards),
			BlockSize:    int32(p.BlockSize),
			Etag:         put.ETag,
		}
	}
	seg.PartNumber = n
	seg.Checksums = sums
	return seg
}

func (h *Handler) uploadPart(req *request, res *sigv4.Result) error {
	r := req.r
	partNumber, uploadID, e := partTarget(req.route.Query)
	if e != nil {
		return e
	}
	size := res.DecodedLength
	if size < 0 {
		return newError(ErrMissingContentLength, "")
	}
	if size > MaxPartSize {
		return errorf(ErrEntityTooLarge, "Your proposed upload of %d bytes exceeds the maximum allowed part size of %d bytes.", size, int64(MaxPartSize))
	}
	contentMD5, e := parseContentMD5(r.Header)
	if e != nil {
		return e
	}
	cr, e := parseChecksumRequest(r.Header)
	if e != nil {
		return e
	}
	// The bucket first: a missing bucket is NoSuchBucket, not NoSuchUpload.
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	u, err := h.getUpload(req, uploadID)
	if err != nil {
		return err
	}
	algos, show, e := partChecksums(u, cr.algo)
	if e != nil {
		return e
	}
	params := h.bucketParams(b)
	sums := newChecksummer(algos...)
	put, err := h.data.Put(r.Context(), datapath.PutRequest{
		Region:     b.GetRegion(),
		Params:     params,
		Body:       req.body,
		Size:       size,
		ContentMD5: contentMD5,
		Hashes:     sums.hashes,
		PartNumber: partNumber,
		Verify: func() error {
			if e := cr.verify(sums.raw(cr.algo), res.Trailers); e != nil {
				return e
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	all := sums.sums()
	seg := partSegment(put, params, partNumber, all)
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	if _, err := h.meta.PutPart(ctx, &metadatav1.PutPartRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID, PartNumber: partNumber, Segment: seg,
	}); err != nil {
		if put.Segment != nil {
			h.log.Warn("put part failed after its shards were written",
				"request_id", req.id, "bucket", req.route.Bucket, "key", req.route.Key, "data_id", seg.GetDataId(), "err", err)
		}
		return fmt.Errorf("put part: %w", err)
	}
	hdr := req.w.Header()
	hdr.Set("ETag", `"`+put.ETag+`"`)
	if show != "" {
		hdr.Set(checksumHeader(show), all[show])
	}
	hdr.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// parseContentMD5 reads Content-MD5 (nil when absent). A header that is
// present but empty is InvalidDigest, as in S3.
func parseContentMD5(h http.Header) ([]byte, *Error) {
	if len(h.Values("Content-MD5")) == 0 {
		return nil, nil
	}
	v := h.Get("Content-MD5")
	d, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(d) != md5.Size {
		return nil, newError(ErrInvalidDigest, "")
	}
	return d, nil
}

func (h *Handler) abortMultipartUpload(req *request) error {
	uploadID := req.route.Query.Get("uploadId")
	if v := req.r.Header.Get("x-amz-if-match-initiated-time"); v != "" {
		done, err := h.abortPrecondition(req, uploadID, v)
		if err != nil || done {
			return err
		}
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	if _, err := h.meta.AbortMultipartUpload(ctx, &metadatav1.AbortMultipartUploadRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID,
	}); err != nil {
		return fmt.Errorf("abort multipart upload: %w", err)
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// abortPrecondition evaluates x-amz-if-match-initiated-time as S3
// documents it: 412 when the upload was initiated at another time, 204
// (done) when the upload does not exist. A date in the future is ignored,
// as HTTP date preconditions are.
func (h *Handler) abortPrecondition(req *request, uploadID, value string) (done bool, err error) {
	want, perr := http.ParseTime(value)
	if perr != nil {
		return false, newError(ErrInvalidArgument, "Invalid x-amz-if-match-initiated-time header.")
	}
	if want.After(h.now()) {
		return false, nil
	}
	u, err := h.getUpload(req, uploadID)
	if err != nil {
		if toS3Error(err).Code == ErrNoSuchUpload {
			req.w.WriteHeader(http.StatusNoContent)
			return true, nil
		}
		return false, err
	}
	// The header has second precision.
	if !u.GetInitiated().AsTime().Truncate(time.Second).Equal(want) {
		return false, newError(ErrPreconditionFailed, "")
	}
	return false, nil
}

// listAllParts returns every part of an upload by part number, following
// ListParts pages.
func (h *Handler) listAllParts(req *request, uploadID string) (map[int32]*metadatav1.Part, error) {
	out := map[int32]*metadatav1.Part{}
	marker := int32(0)
	for range maxPartNumber/maxListParts + 1 {
		ctx, cancel := h.metaCtx(req)
		resp, err := h.meta.ListParts(ctx, &metadatav1.ListPartsRequest{
			Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID,
			PartNumberMarker: marker, MaxParts: maxListParts,
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list parts: %w", err)
		}
		for _, p := range resp.GetParts() {
			out[p.GetPartNumber()] = p
		}
		if !resp.GetTruncated() || resp.GetNextPartNumberMarker() <= marker {
			return out, nil
		}
		marker = resp.GetNextPartNumberMarker()
	}
	return out, nil
}

// parseCompleteBody parses and checks CompleteMultipartUpload's part list.
func parseCompleteBody(data []byte) ([]completedPartIn, []int32, *Error) {
	var in completeMultipartUploadIn
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "CompleteMultipartUpload" || len(in.Parts) == 0 {
		return nil, nil, newError(ErrMalformedXML, "")
	}
	nums := make([]int32, len(in.Parts))
	for i, p := range in.Parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p.PartNumber), 10, 32)
		if err != nil {
			return nil, nil, newError(ErrMalformedXML, "")
		}
		if n < 1 {
			return nil, nil, newError(ErrInvalidArgument, "PartNumber must be >= 1")
		}
		if n > maxPartNumber {
			return nil, nil, newError(ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
		}
		nums[i] = int32(n)
		if i > 0 && nums[i] <= nums[i-1] {
			return nil, nil, newError(ErrInvalidPartOrder, "")
		}
		sums := p.set()
		if len(sums) > 1 {
			return nil, nil, newError(ErrInvalidArgument, "Invalid Base64 or multiple checksums present in request")
		}
		for algo, v := range sums {
			if _, err := decodeChecksum(algo, v); err != nil {
				return nil, nil, newError(ErrInvalidArgument, "Invalid Base64 or multiple checksums present in request")
			}
		}
		in.Parts[i].ETag = strings.Trim(strings.TrimSpace(p.ETag), `"`)
		if in.Parts[i].ETag == "" {
			return nil, nil, newError(ErrMalformedXML, "")
		}
	}
	return in.Parts, nums, nil
}

// finalChecksum is the whole-object checksum a CompleteMultipartUpload
// request states, to be verified.
type finalChecksum struct {
	algo, value string
}

func parseFinalChecksum(hdr http.Header) (finalChecksum, *Error) {
	var f finalChecksum
	for name, vals := range hdr {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "x-amz-checksum-") || isChecksumControlHeader(lower) {
			continue
		}
		algo := strings.ToUpper(strings.TrimPrefix(lower, "x-amz-checksum-"))
		if !validAlgorithm(algo) {
			return f, newError(ErrInvalidRequest, "The algorithm type you specified in x-amz-checksum- header is invalid.")
		}
		if f.algo != "" {
			return f, newError(ErrInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		f = finalChecksum{algo: algo, value: strings.TrimSpace(strings.Join(vals, ""))}
	}
	return f, nil
}

// checkForm checks the stated final checksum's syntax for an
// upload with algorithm algo and type typ.
func (f finalChecksum) checkForm(algo, typ string) *Error {
	if f.algo == "" {
		return nil
	}
	bad := errorf(ErrInvalidRequest, "Value for %s header is invalid.", checksumHeader(f.algo))
	if f.algo != algo {
		return bad
	}
	if typ == checksumTypeComposite {
		if !validCompositeValue(algo, f.value) {
			return bad
		}
		return nil
	}
	if _, err := decodeChecksum(algo, f.value); err != nil {
		return bad
	}
	return nil
}

func (h *Handler) completeMultipartUpload(req *request) error {
	hdr := req.r.Header
	uploadID := req.route.Query.Get("uploadId")
	pre, e := writePreconditions(hdr)
	if e != nil {
		return e
	}
	final, e := parseFinalChecksum(hdr)
	if e != nil {
		return e
	}
	reqType := strings.ToUpper(strings.TrimSpace(hdr.Get("x-amz-checksum-type")))
	if reqType != "" && reqType != checksumTypeComposite && reqType != checksumTypeFullObject {
		return newError(ErrInvalidRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	mpSize := int64(-1)
	if v := hdr.Get("x-amz-mp-object-size"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return newError(ErrInvalidRequest, "Value for x-amz-mp-object-size header is invalid.")
		}
		if n < 0 {
			return errorf(ErrInvalidRequest, "Value for x-amz-mp-object-size header is less than zero: '%d'", n)
		}
		mpSize = n
	}
	data, err := io.ReadAll(io.LimitReader(req.body, maxCompleteBody+1))
	if err != nil {
		return &datapath.BodyError{Err: err}
	}
	if len(data) > maxCompleteBody {
		return errorf(ErrInvalidRequest, "The request body exceeds %d bytes.", maxCompleteBody)
	}
	listed, nums, e := parseCompleteBody(data)
	if e != nil {
		return e
	}

	u, err := h.getUpload(req, uploadID)
	if err != nil {
		if toS3Error(err).Code == ErrNoSuchUpload {
			return h.recompleteMultipartUpload(req, uploadID, listed, nums)
		}
		return err
	}
	algo, typ := u.GetChecksumAlgorithm(), u.GetChecksumType()
	explicit := algo != ""
	if explicit {
		if reqType != "" && reqType != typ {
			return errorf(ErrInvalidRequest, "The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", typ)
		}
		if e := final.checkForm(algo, typ); e != nil {
			return e
		}
	} else {
		algo, typ = defaultChecksum, checksumTypeFullObject
	}

	stored, err := h.listAllParts(req, uploadID)
	if err != nil {
		if toS3Error(err).Code == ErrNoSuchUpload {
			return h.recompleteMultipartUpload(req, uploadID, listed, nums)
		}
		return err
	}
	minPart := h.cfg.MinPartSize
	parts := make([]*metadatav1.CompletedPart, len(listed))
	var fullParts []partChecksum
	var values []string
	var total int64
	for i, lp := range listed {
		p := stored[nums[i]]
		if p == nil && len(stored) == 0 {
			// The upload completed after it was read (a concurrent
			// complete took its parts).
			return h.recompleteMultipartUpload(req, uploadID, listed, nums)
		}
		if p == nil || p.GetSegment().GetEtag() != lp.ETag {
			return newError(ErrInvalidPart, "")
		}
		if e := checkListedChecksum(lp, nums[i], p.GetSegment(), u.GetChecksumAlgorithm(), u.GetChecksumType()); e != nil {
			return e
		}
	}
	for i, lp := range listed {
		seg := stored[nums[i]].GetSegment()
		if i < len(listed)-1 && seg.GetSize() < minPart {
			return newError(ErrEntityTooSmall, "")
		}
		total += seg.GetSize()
		// Metadata checks the listed checksums it has; the others were
		// judged above (a default upload ignores them).
		listedSums := map[string]string{}
		for a, val := range lp.set() {
			if _, ok := seg.GetChecksums()[a]; ok {
				listedSums[a] = val
			}
		}
		parts[i] = &metadatav1.CompletedPart{PartNumber: nums[i], Etag: lp.ETag, Checksums: listedSums}
		fullParts = append(fullParts, partChecksum{value: seg.GetChecksums()[algo], size: seg.GetSize()})
		values = append(values, seg.GetChecksums()[algo])
	}
	if mpSize >= 0 && mpSize != total {
		return errorf(ErrInvalidRequest, "The provided 'x-amz-mp-object-size' header value %d does not match what was computed: %d", total, mpSize)
	}

	// The object's checksum from its parts' checksums; a part stored
	// without one (an older gateway) leaves the object without.
	var sum string
	var sumErr error
	if typ == checksumTypeFullObject {
		sum, sumErr = fullObjectChecksum(algo, fullParts)
	} else {
		sum, sumErr = compositeChecksum(algo, values)
	}
	if explicit && final.algo != "" && sumErr == nil && !sameChecksum(final.value, sum) {
		return errorf(ErrBadDigest, "The %s you specified did not match the calculated checksum.", algo)
	}
	if err := h.precheckWrite(req, req.route.Bucket, req.route.Key, pre); err != nil {
		return err
	}
	// Uncached: object lock may have been turned on moments ago.
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	lockMode, lockUntil, err := h.defaultRetention(req, b)
	if err != nil {
		return err
	}

	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.CompleteMultipartUpload(ctx, &metadatav1.CompleteMultipartUploadRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID,
		Parts: parts, Preconditions: pre, MinPartSize: minPart,
		DefaultLockMode: lockMode, DefaultLockRetainUntil: lockUntil,
	})
	if err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	v := resp.GetVersion()
	sums, sumType := objectChecksums(v)
	if len(sums) == 0 && sumErr == nil {
		sums, sumType = map[string]string{algo: sum}, typ
	}
	return h.writeCompleteResult(req, v, sums, sumType)
}

// recompleteMultipartUpload answers a Complete of an upload that is no
// longer in progress: the metadata service returns the object a completed
// upload made when the part list is the same (a retried or concurrent
// complete gets the same answer as the one that won), else NoSuchUpload.
func (h *Handler) recompleteMultipartUpload(req *request, uploadID string, listed []completedPartIn, nums []int32) error {
	parts := make([]*metadatav1.CompletedPart, len(listed))
	for i, lp := range listed {
		parts[i] = &metadatav1.CompletedPart{PartNumber: nums[i], Etag: lp.ETag}
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.CompleteMultipartUpload(ctx, &metadatav1.CompleteMultipartUploadRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID, Parts: parts,
	})
	if err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	sums, sumType := objectChecksums(resp.GetVersion())
	return h.writeCompleteResult(req, resp.GetVersion(), sums, sumType)
}

// writeCompleteResult sends CompleteMultipartUploadResult for version v.
func (h *Handler) writeCompleteResult(req *request, v *metadatav1.ObjectVersion, sums map[string]string, sumType string) error {
	out := completeMultipartUploadResult{
		Location:       objectLocation(req),
		Bucket:         req.route.Bucket,
		Key:            req.route.Key,
		ETag:           `"` + v.GetEtag() + `"`,
		checksumFields: newChecksumFields(sums),
		ChecksumType:   sumType,
	}
	if b, err := h.cachedBucket(req); err == nil {
		versionIDHeader(req.w, b, v)
	}
	return h.writeXML(req, out)
}

// objectLocation is the URL of the addressed object, path style, as
// CompleteMultipartUploadResult's Location shows it.
func objectLocation(req *request) string {
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: req.r.Host, Path: "/" + req.route.Bucket + "/" + req.route.Key}
	return u.String()
}

// checkListedChecksum checks the checksum a Complete request lists for a
// part against the upload's algorithm and the part's stored checksum.
func checkListedChecksum(lp completedPartIn, n int32, seg *metadatav1.Segment, algo, typ string) *Error {
	listed := lp.set()
	for a, v := range listed {
		if algo != "" && a != algo {
			return errorf(ErrBadDigest, "The %s you specified for part %d did not match what we received.", strings.ToLower(a), n)
		}
		if have, ok := seg.GetChecksums()[a]; ok && have != v {
			return newError(ErrInvalidPart, "")
		}
	}
	if algo != "" && typ == checksumTypeComposite && listed[algo] == "" {
		return errorf(ErrInvalidRequest, "The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.", strings.ToLower(algo), n)
	}
	return nil
}

// parseMaxArg reads a non-negative integer query argument capped at
// limit; def when absent.
func parseMaxArg(q url.Values, name string, def, limit int) (int, *Error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		return 0, errorf(ErrInvalidArgument, "Argument %s must be an integer between 0 and 2147483647", name)
	}
	return min(n, limit), nil
}

func (h *Handler) listParts(req *request) error {
	q := req.route.Query
	maxParts, e := parseMaxArg(q, "max-parts", maxListParts, maxListParts)
	if e != nil {
		return e
	}
	marker := 0
	if v, ok := q["part-number-marker"]; ok && v[0] != "" {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return newError(ErrInvalidArgument, "Argument partNumberMarker must be an integer.")
		}
		marker = min(n, maxPartNumber)
	}
	uploadID := q.Get("uploadId")
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	out := listPartsResult{
		Bucket:           req.route.Bucket,
		Key:              req.route.Key,
		UploadID:         uploadID,
		Initiator:        h.owner,
		Owner:            h.owner,
		StorageClass:     "STANDARD",
		PartNumberMarker: int32(marker),
		MaxParts:         maxParts,
	}
	if maxParts == 0 {
		// Nothing to list, but the upload must exist.
		resp, err := h.meta.GetMultipartUpload(ctx, &metadatav1.GetMultipartUploadRequest{Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID})
		if err != nil {
			return fmt.Errorf("get multipart upload: %w", err)
		}
		out.ChecksumAlgorithm, out.ChecksumType = resp.GetUpload().GetChecksumAlgorithm(), resp.GetUpload().GetChecksumType()
		return h.writeXML(req, out)
	}
	resp, err := h.meta.ListParts(ctx, &metadatav1.ListPartsRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, UploadId: uploadID,
		PartNumberMarker: int32(marker), MaxParts: int32(maxParts),
	})
	if err != nil {
		return fmt.Errorf("list parts: %w", err)
	}
	out.IsTruncated = resp.GetTruncated()
	out.ChecksumAlgorithm, out.ChecksumType = resp.GetUpload().GetChecksumAlgorithm(), resp.GetUpload().GetChecksumType()
	for _, p := range resp.GetParts() {
		seg := p.GetSegment()
		out.Parts = append(out.Parts, partEntry{
			PartNumber:     p.GetPartNumber(),
			LastModified:   xmlTime(p.GetLastModified().AsTime()),
			ETag:           `"` + seg.GetEtag() + `"`,
			Size:           seg.GetSize(),
			checksumFields: newChecksumFields(shownPartChecksums(resp.GetUpload(), seg)),
		})
		out.NextPartNumberMarker = p.GetPartNumber()
	}
	if out.IsTruncated && resp.GetNextPartNumberMarker() > 0 {
		out.NextPartNumberMarker = resp.GetNextPartNumberMarker()
	}
	return h.writeXML(req, out)
}

// shownPartChecksums are the checksums listings show for a part: the
// upload's algorithm's, or for a default upload those the client sent
// (the CRC64NVME the gateway adds is internal).
func shownPartChecksums(u *metadatav1.MultipartUpload, seg *metadatav1.Segment) map[string]string {
	sums := seg.GetChecksums()
	if algo := u.GetChecksumAlgorithm(); algo != "" {
		if v, ok := sums[algo]; ok {
			return map[string]string{algo: v}
		}
		return nil
	}
	out := map[string]string{}
	for a, v := range sums {
		if a != defaultChecksum {
			out[a] = v
		}
	}
	return out
}

func (h *Handler) listMultipartUploads(req *request) error {
	q := req.route.Query
	maxUploads, e := parseMaxArg(q, "max-uploads", maxListParts, maxListParts)
	if e != nil {
		return e
	}
	encode, encodingType := func(s string) string { return s }, ""
	switch et := q.Get("encoding-type"); et {
	case "":
	case "url":
		encode, encodingType = urlEncode, "url"
	default:
		return newError(ErrInvalidArgument, "Invalid Encoding Method specified in Request")
	}
	keyMarker := q.Get("key-marker")
	uploadIDMarker := ""
	if keyMarker != "" {
		// S3 ignores upload-id-marker without key-marker.
		uploadIDMarker = q.Get("upload-id-marker")
		// Upload ids are UUIDs; anything else cannot be a marker.
		if uploadIDMarker != "" && !isUUID(uploadIDMarker) {
			return newError(ErrInvalidArgument, "Invalid uploadId marker")
		}
	}
	out := listMultipartUploadsResult{
		Bucket:         req.route.Bucket,
		KeyMarker:      encode(keyMarker),
		UploadIDMarker: uploadIDMarker,
		Delimiter:      encode(q.Get("delimiter")),
		Prefix:         encode(q.Get("prefix")),
		MaxUploads:     maxUploads,
		EncodingType:   encodingType,
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	if maxUploads == 0 {
		if _, err := h.meta.GetBucket(ctx, &metadatav1.GetBucketRequest{Name: req.route.Bucket}); err != nil {
			return fmt.Errorf("get bucket: %w", err)
		}
		return h.writeXML(req, out)
	}
	resp, err := h.meta.ListMultipartUploads(ctx, &metadatav1.ListMultipartUploadsRequest{
		Bucket:         req.route.Bucket,
		Prefix:         q.Get("prefix"),
		Delimiter:      q.Get("delimiter"),
		KeyMarker:      keyMarker,
		UploadIdMarker: uploadIDMarker,
		MaxUploads:     int32(maxUploads),
	})
	if err != nil {
		return fmt.Errorf("list multipart uploads: %w", err)
	}
	out.IsTruncated = resp.GetTruncated()
	for _, u := range resp.GetUploads() {
		out.Uploads = append(out.Uploads, uploadEntry{
			Key:               encode(u.GetKey()),
			UploadID:          u.GetUploadId(),
			Initiator:         h.owner,
			Owner:             h.owner,
			StorageClass:      "STANDARD",
			Initiated:         xmlTime(u.GetInitiated().AsTime()),
			ChecksumAlgorithm: u.GetChecksumAlgorithm(),
			ChecksumType:      u.GetChecksumType(),
		})
	}
	for _, p := range resp.GetCommonPrefixes() {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: encode(p)})
	}
	if out.IsTruncated {
		out.NextKeyMarker = encode(resp.GetNextKeyMarker())
		out.NextUploadIDMarker = resp.GetNextUploadIdMarker()
	}
	return h.writeXML(req, out)
}
