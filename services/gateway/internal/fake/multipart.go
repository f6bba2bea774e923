package fake

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultMinPartSize is S3's smallest non-last part, used when a Complete
// request does not name one.
const defaultMinPartSize = 5 << 20

// multipartState is the fake's multipart uploads: upload id -> upload.
type multipartState struct {
	next    int
	uploads map[string]*fakeUpload
	// completed remembers finished uploads, so that completing one again
	// with the same part list answers the same object (as the real store).
	completed map[string]completedUpload
}

type completedUpload struct {
	bucket, key string
	parts       []*metadatav1.CompletedPart
	version     *metadatav1.ObjectVersion
}

// sameCompletedParts reports whether two part lists name the same parts.
func sameCompletedParts(a, b []*metadatav1.CompletedPart) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].GetPartNumber() != b[i].GetPartNumber() || a[i].GetEtag() != b[i].GetEtag() {
			return false
		}
	}
	return true
}

type fakeUpload struct {
	upload *metadatav1.MultipartUpload
	parts  map[int32]*metadatav1.Part
}

// Uploads returns the ids of the uploads in progress, sorted.
func (m *Metadata) Uploads() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.uploads.uploads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// preconditionsLocked checks a commit's write preconditions against the
// key's current version, as the real service does inside its transaction.
func (m *Metadata) preconditionsLocked(bucket, key string, pre *metadatav1.WritePreconditions) error {
	if pre == nil {
		return nil
	}
	cur := m.currentLocked(bucket, key)
	exists := cur != nil && !cur.GetDeleteMarker()
	switch {
	case pre.GetIfNoneMatch() && exists:
		return reasonErr(codes.FailedPrecondition, metadatav1.Reason_REASON_PRECONDITION_FAILED, "key exists")
	case pre.GetIfMatch() != "" && !exists:
		return reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_KEY, "no such key")
	case pre.GetIfMatch() != "" && cur.GetEtag() != pre.GetIfMatch():
		return reasonErr(codes.FailedPrecondition, metadatav1.Reason_REASON_PRECONDITION_FAILED, "etag differs")
	}
	return nil
}

// uploadLocked finds an upload of bucket/key.
func (m *Metadata) uploadLocked(bucket, key, id string) (*fakeUpload, error) {
	if _, ok := m.buckets[bucket]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	u, ok := m.uploads.uploads[id]
	if !ok || u.upload.GetBucket() != bucket || u.upload.GetKey() != key {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_UPLOAD, "no such upload")
	}
	return u, nil
}

// CreateMultipartUpload implements metadatav1.MetadataServiceServer.
func (m *Metadata) CreateMultipartUpload(_ context.Context, req *metadatav1.CreateMultipartUploadRequest) (*metadatav1.CreateMultipartUploadResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	up := proto.Clone(req.GetUpload()).(*metadatav1.MultipartUpload)
	if _, ok := m.buckets[up.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	if m.uploads.uploads == nil {
		m.uploads.uploads = map[string]*fakeUpload{}
	}
	m.uploads.next++
	// UUID-shaped, as the real service's ids are.
	up.UploadId = fmt.Sprintf("00000000-0000-7000-8000-%012d", m.uploads.next)
	up.Initiated = timestamppb.New(m.now())
	m.uploads.uploads[up.UploadId] = &fakeUpload{upload: up, parts: map[int32]*metadatav1.Part{}}
	return &metadatav1.CreateMultipartUploadResponse{Upload: proto.Clone(up).(*metadatav1.MultipartUpload)}, nil
}

// GetMultipartUpload implements metadatav1.MetadataServiceServer.
func (m *Metadata) GetMultipartUpload(_ context.Context, req *metadatav1.GetMultipartUploadRequest) (*metadatav1.GetMultipartUploadResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	u, err := m.uploadLocked(req.GetBucket(), req.GetKey(), req.GetUploadId())
	if err != nil {
		return nil, err
	}
	return &metadatav1.GetMultipartUploadResponse{Upload: proto.Clone(u.upload).(*metadatav1.MultipartUpload)}, nil
}

// PutPart implements metadatav1.MetadataServiceServer; a replaced part's
// data becomes garbage.
func (m *Metadata) PutPart(_ context.Context, req *metadatav1.PutPartRequest) (*metadatav1.PutPartResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	u, err := m.uploadLocked(req.GetBucket(), req.GetKey(), req.GetUploadId())
	if err != nil {
		return nil, err
	}
	if old, ok := u.parts[req.GetPartNumber()]; ok {
		m.partGarbageLocked(old)
	}
	p := &metadatav1.Part{
		PartNumber:   req.GetPartNumber(),
		LastModified: timestamppb.New(m.now()),
		Segment:      proto.Clone(req.GetSegment()).(*metadatav1.Segment),
	}
	u.parts[p.PartNumber] = p
	return &metadatav1.PutPartResponse{Part: proto.Clone(p).(*metadatav1.Part)}, nil
}

func (m *Metadata) partGarbageLocked(p *metadatav1.Part) {
	if id := p.GetSegment().GetDataId(); id != "" {
		m.garbage = append(m.garbage, id)
	}
}

// ListParts implements metadatav1.MetadataServiceServer.
func (m *Metadata) ListParts(_ context.Context, req *metadatav1.ListPartsRequest) (*metadatav1.ListPartsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	u, err := m.uploadLocked(req.GetBucket(), req.GetKey(), req.GetUploadId())
	if err != nil {
		return nil, err
	}
	nums := make([]int32, 0, len(u.parts))
	for n := range u.parts {
		if n > req.GetPartNumberMarker() {
			nums = append(nums, n)
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	limit := int(req.GetMaxParts())
	if limit <= 0 {
		limit = 1000
	}
	resp := &metadatav1.ListPartsResponse{Upload: proto.Clone(u.upload).(*metadatav1.MultipartUpload)}
	for i, n := range nums {
		if i == limit {
			resp.Truncated = true
			break
		}
		resp.Parts = append(resp.Parts, proto.Clone(u.parts[n]).(*metadatav1.Part))
		resp.NextPartNumberMarker = n
	}
	return resp, nil
}

// CompleteMultipartUpload implements metadatav1.MetadataServiceServer: it
// checks the listed parts, computes the multipart ETag and, for COMPOSITE
// uploads, the checksum of checksums (FULL_OBJECT CRCs are left to the
// gateway, as the real service may), commits and forgets the upload.
func (m *Metadata) CompleteMultipartUpload(_ context.Context, req *metadatav1.CompleteMultipartUploadRequest) (*metadatav1.CompleteMultipartUploadResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if done, ok := m.uploads.completed[req.GetUploadId()]; ok && done.bucket == req.GetBucket() && done.key == req.GetKey() {
		if !sameCompletedParts(done.parts, req.GetParts()) {
			return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_UPLOAD, "no such upload")
		}
		return &metadatav1.CompleteMultipartUploadResponse{Version: proto.Clone(done.version).(*metadatav1.ObjectVersion)}, nil
	}
	u, err := m.uploadLocked(req.GetBucket(), req.GetKey(), req.GetUploadId())
	if err != nil {
		return nil, err
	}
	minSize := req.GetMinPartSize()
	if minSize <= 0 {
		minSize = defaultMinPartSize
	}
	listed := req.GetParts()
	v := proto.Clone(u.upload.GetTemplate()).(*metadatav1.ObjectVersion)
	if v == nil {
		v = &metadatav1.ObjectVersion{}
	}
	v.Bucket, v.Key = req.GetBucket(), req.GetKey()
	if v.GetLockMode() == "" && req.GetDefaultLockMode() != "" {
		v.LockMode, v.LockRetainUntil = req.GetDefaultLockMode(), req.GetDefaultLockRetainUntil()
	}
	sum := md5.New()
	var partSums []string
	used := map[int32]bool{}
	for i, lp := range listed {
		if i > 0 && lp.GetPartNumber() <= listed[i-1].GetPartNumber() {
			return nil, reasonErr(codes.InvalidArgument, metadatav1.Reason_REASON_INVALID_PART_ORDER, "parts out of order")
		}
		p, ok := u.parts[lp.GetPartNumber()]
		if !ok || p.GetSegment().GetEtag() != lp.GetEtag() {
			return nil, reasonErr(codes.InvalidArgument, metadatav1.Reason_REASON_INVALID_PART, "invalid part")
		}
		if i < len(listed)-1 && p.GetSegment().GetSize() < minSize {
			return nil, reasonErr(codes.InvalidArgument, metadatav1.Reason_REASON_ENTITY_TOO_SMALL, "part too small")
		}
		raw, err := hex.DecodeString(p.GetSegment().GetEtag())
		if err != nil {
			return nil, reasonErr(codes.Internal, metadatav1.Reason_REASON_UNSPECIFIED, "bad part etag")
		}
		sum.Write(raw)
		seg := proto.Clone(p.GetSegment()).(*metadatav1.Segment)
		seg.PartNumber = lp.GetPartNumber()
		v.Segments = append(v.Segments, seg)
		v.Size += seg.GetSize()
		partSums = append(partSums, seg.GetChecksums()[u.upload.GetChecksumAlgorithm()])
		used[lp.GetPartNumber()] = true
	}
	v.Etag = hex.EncodeToString(sum.Sum(nil)) + "-" + strconv.Itoa(len(listed))
	v.PartsCount = int32(len(listed))
	if algo := u.upload.GetChecksumAlgorithm(); algo != "" && u.upload.GetChecksumType() == "COMPOSITE" {
		if c, ok := composite(algo, partSums); ok {
			v.Checksums = map[string]string{algo: c}
			v.ChecksumType = "COMPOSITE"
		}
	}
	if err := m.preconditionsLocked(v.GetBucket(), v.GetKey(), req.GetPreconditions()); err != nil {
		return nil, err
	}
	committed := m.commitLocked(v)
	for n, p := range u.parts {
		if !used[n] {
			m.partGarbageLocked(p)
		}
	}
	delete(m.uploads.uploads, req.GetUploadId())
	if m.uploads.completed == nil {
		m.uploads.completed = map[string]completedUpload{}
	}
	m.uploads.completed[req.GetUploadId()] = completedUpload{
		bucket: req.GetBucket(), key: req.GetKey(), version: proto.Clone(committed).(*metadatav1.ObjectVersion),
		parts: listed,
	}
	return &metadatav1.CompleteMultipartUploadResponse{Version: committed}, nil
}

// composite is S3's checksum of part checksums, "<base64>-<parts>".
func composite(algo string, parts []string) (string, bool) {
	var h hash.Hash
	switch algo {
	case "CRC32":
		h = crc32.NewIEEE()
	case "CRC32C":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "SHA1":
		h = sha1.New()
	case "SHA256":
		h = sha256.New()
	default:
		return "", false
	}
	for _, p := range parts {
		raw, err := base64.StdEncoding.DecodeString(p)
		if err != nil || p == "" {
			return "", false
		}
		h.Write(raw)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), true
}

// AbortMultipartUpload implements metadatav1.MetadataServiceServer.
func (m *Metadata) AbortMultipartUpload(_ context.Context, req *metadatav1.AbortMultipartUploadRequest) (*metadatav1.AbortMultipartUploadResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	u, err := m.uploadLocked(req.GetBucket(), req.GetKey(), req.GetUploadId())
	if err != nil {
		return nil, err
	}
	for _, p := range u.parts {
		m.partGarbageLocked(p)
	}
	delete(m.uploads.uploads, req.GetUploadId())
	return &metadatav1.AbortMultipartUploadResponse{}, nil
}

// ListMultipartUploads implements metadatav1.MetadataServiceServer: uploads
// by key, then initiation order, after (key_marker, upload_id_marker), with
// delimiter roll-up.
func (m *Metadata) ListMultipartUploads(_ context.Context, req *metadatav1.ListMultipartUploadsRequest) (*metadatav1.ListMultipartUploadsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.buckets[req.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	var all []*metadatav1.MultipartUpload
	for _, u := range m.uploads.uploads {
		if u.upload.GetBucket() == req.GetBucket() && strings.HasPrefix(u.upload.GetKey(), req.GetPrefix()) {
			all = append(all, u.upload)
		}
	}
	// Upload ids are issued in initiation order.
	sort.Slice(all, func(i, j int) bool {
		if all[i].GetKey() != all[j].GetKey() {
			return all[i].GetKey() < all[j].GetKey()
		}
		return all[i].GetUploadId() < all[j].GetUploadId()
	})
	limit := int(req.GetMaxUploads())
	if limit <= 0 {
		limit = 1000
	}
	km, um := req.GetKeyMarker(), req.GetUploadIdMarker()
	resp := &metadatav1.ListMultipartUploadsResponse{}
	seen := map[string]bool{}
	count := 0
	for _, u := range all {
		k := u.GetKey()
		if km != "" && (k < km || (k == km && (um == "" || u.GetUploadId() <= um))) {
			continue
		}
		prefix := ""
		if d := req.GetDelimiter(); d != "" {
			if i := strings.Index(k[len(req.GetPrefix()):], d); i >= 0 {
				prefix = k[:len(req.GetPrefix())+i+len(d)]
			}
		}
		if prefix != "" && (seen[prefix] || prefix <= km) {
			continue
		}
		if count == limit {
			resp.Truncated = true
			break
		}
		count++
		if prefix != "" {
			seen[prefix] = true
			resp.CommonPrefixes = append(resp.CommonPrefixes, prefix)
			resp.NextKeyMarker, resp.NextUploadIdMarker = prefix, ""
			continue
		}
		resp.Uploads = append(resp.Uploads, proto.Clone(u).(*metadatav1.MultipartUpload))
		resp.NextKeyMarker, resp.NextUploadIdMarker = k, u.GetUploadId()
	}
	if !resp.Truncated {
		resp.NextKeyMarker, resp.NextUploadIdMarker = "", ""
	}
	return resp, nil
}
