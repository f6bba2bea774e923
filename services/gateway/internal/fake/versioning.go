package fake

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// nullVersion is the id of the version a versioning-suspended bucket writes.
const nullVersion = "null"

// cloneVersion copies v for a response, with is_latest set.
func cloneVersion(v *metadatav1.ObjectVersion, latest bool) *metadatav1.ObjectVersion {
	c := proto.Clone(v).(*metadatav1.ObjectVersion)
	c.IsLatest = latest
	return c
}

// Garbage returns the data ids whose shards became garbage (replaced or
// permanently deleted versions), oldest first.
func (m *Metadata) Garbage() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.garbage...)
}

// Versions returns every version of key, newest first.
func (m *Metadata) Versions(bucket, key string) []*metadatav1.ObjectVersion {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*metadatav1.ObjectVersion
	for i, v := range m.objects[bucket][key] {
		out = append(out, cloneVersion(v, i == 0))
	}
	return out
}

// newVersionIDLocked returns a fresh version id in the UUID form the real
// service uses.
func (m *Metadata) newVersionIDLocked() string {
	m.versions++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", m.versions)
}

func (m *Metadata) collectLocked(v *metadatav1.ObjectVersion) {
	for _, s := range v.GetSegments() {
		m.garbage = append(m.garbage, s.GetDataId())
	}
}

// currentLocked returns key's newest version (maybe a delete marker), or nil.
func (m *Metadata) currentLocked(bucket, key string) *metadatav1.ObjectVersion {
	vs := m.objects[bucket][key]
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}

// deleteMarkerErr is NO_SUCH_KEY naming the delete marker that hides the
// key, as the real service reports it.
func deleteMarkerErr(id string) error {
	st, err := status.New(codes.NotFound, "no such key").WithDetails(&errdetails.ErrorInfo{
		Reason:   metadatav1.Reason_REASON_NO_SUCH_KEY.String(),
		Domain:   "metadata.anvil",
		Metadata: map[string]string{"delete_marker_version_id": id},
	})
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return st.Err()
}

// versionLocked finds a version as GetObject does: the current one when id
// is empty (NO_SUCH_KEY when missing or a delete marker, with the marker's
// id in the ErrorInfo metadata), else that version (delete markers too).
func (m *Metadata) versionLocked(bucket, key, id string) (*metadatav1.ObjectVersion, error) {
	if id == "" {
		cur := m.currentLocked(bucket, key)
		switch {
		case cur == nil:
			return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_KEY, "no such key")
		case cur.GetDeleteMarker():
			return nil, deleteMarkerErr(cur.GetVersionId())
		}
		return cur, nil
	}
	for _, v := range m.objects[bucket][key] {
		if v.GetVersionId() == id {
			return v, nil
		}
	}
	return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_VERSION, "no such version")
}

// commitLocked stores v as key's new current version following the bucket's
// versioning state, and returns a copy of what was stored.
func (m *Metadata) commitLocked(v *metadatav1.ObjectVersion) *metadatav1.ObjectVersion {
	bucket, key := v.GetBucket(), v.GetKey()
	v.LastModified = timestamppb.New(m.now())
	v.IsLatest = false
	old := m.objects[bucket][key]
	switch m.buckets[bucket].GetVersioning() {
	case metadatav1.Versioning_VERSIONING_ENABLED:
		v.VersionId = m.newVersionIDLocked()
	case metadatav1.Versioning_VERSIONING_SUSPENDED:
		v.VersionId = nullVersion
		old = m.dropLocked(old, nullVersion)
	default:
		v.VersionId = m.newVersionIDLocked()
		for _, o := range old {
			m.collectLocked(o)
		}
		old = nil
	}
	m.objects[bucket][key] = append([]*metadatav1.ObjectVersion{v}, old...)
	return cloneVersion(v, true)
}

// dropLocked removes version id from vs, collecting its data.
func (m *Metadata) dropLocked(vs []*metadatav1.ObjectVersion, id string) []*metadatav1.ObjectVersion {
	out := vs[:0:0]
	for _, v := range vs {
		if v.GetVersionId() == id {
			m.collectLocked(v)
			continue
		}
		out = append(out, v)
	}
	return out
}

// deleteLocked deletes as DeleteObject does.
func (m *Metadata) deleteLocked(bucket, key, id string, bypass bool) (*metadatav1.DeleteObjectResponse, error) {
	objs := m.objects[bucket]
	vs := objs[key]
	setVersions := func(vs []*metadatav1.ObjectVersion) {
		if len(vs) == 0 {
			delete(objs, key)
			return
		}
		objs[key] = vs
	}
	if id != "" {
		for _, v := range vs {
			if v.GetVersionId() == id {
				if err := m.checkRemoveLocked(v, bypass); err != nil {
					return nil, err
				}
				setVersions(m.dropLocked(vs, id))
				return &metadatav1.DeleteObjectResponse{Deleted: true, DeleteMarker: v.GetDeleteMarker(), VersionId: id}, nil
			}
		}
		return &metadatav1.DeleteObjectResponse{}, nil
	}
	marker := &metadatav1.ObjectVersion{Bucket: bucket, Key: key, DeleteMarker: true, LastModified: timestamppb.New(m.now())}
	switch m.buckets[bucket].GetVersioning() {
	case metadatav1.Versioning_VERSIONING_ENABLED:
		marker.VersionId = m.newVersionIDLocked()
	case metadatav1.Versioning_VERSIONING_SUSPENDED:
		marker.VersionId = nullVersion
		vs = m.dropLocked(vs, nullVersion)
	default:
		for _, v := range vs {
			m.collectLocked(v)
		}
		setVersions(nil)
		return &metadatav1.DeleteObjectResponse{Deleted: len(vs) > 0}, nil
	}
	setVersions(append([]*metadatav1.ObjectVersion{marker}, vs...))
	return &metadatav1.DeleteObjectResponse{Deleted: true, DeleteMarker: true, VersionId: marker.VersionId}, nil
}

// SetBucketVersioning implements metadatav1.MetadataServiceServer.
func (m *Metadata) SetBucketVersioning(_ context.Context, req *metadatav1.SetBucketVersioningRequest) (*metadatav1.SetBucketVersioningResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	b, ok := m.buckets[req.GetBucket()]
	if !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	switch req.GetVersioning() {
	case metadatav1.Versioning_VERSIONING_ENABLED, metadatav1.Versioning_VERSIONING_SUSPENDED:
	default:
		return nil, status.Error(codes.InvalidArgument, "versioning can only be enabled or suspended")
	}
	if _, locked := m.configs[req.GetBucket()][objectLockKind]; locked && req.GetVersioning() == metadatav1.Versioning_VERSIONING_SUSPENDED {
		return nil, reasonErr(codes.FailedPrecondition, metadatav1.Reason_REASON_INVALID_BUCKET_STATE, "object lock keeps versioning enabled")
	}
	b.Versioning = req.GetVersioning()
	return &metadatav1.SetBucketVersioningResponse{Bucket: proto.Clone(b).(*metadatav1.Bucket)}, nil
}

// ListObjectVersions implements metadatav1.MetadataServiceServer: keys in
// byte order, versions newest first, delimiter roll-up, resuming after
// (key_marker, version_id_marker).
func (m *Metadata) ListObjectVersions(_ context.Context, req *metadatav1.ListObjectVersionsRequest) (*metadatav1.ListObjectVersionsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	objs, ok := m.objects[req.GetBucket()]
	if !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	limit := int(req.GetMaxKeys())
	if limit <= 0 {
		limit = 1000
	}
	prefix, delim, keyMarker, vidMarker := req.GetPrefix(), req.GetDelimiter(), req.GetKeyMarker(), req.GetVersionIdMarker()
	resp := &metadatav1.ListObjectVersionsResponse{}
	seen := map[string]bool{}
	count := 0
	full := func() bool {
		if count == limit {
			resp.Truncated = true
			return true
		}
		count++
		return false
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || k < keyMarker || (k == keyMarker && vidMarker == "") {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if seen[cp] || cp <= keyMarker {
					continue
				}
				if full() {
					break
				}
				seen[cp] = true
				resp.CommonPrefixes = append(resp.CommonPrefixes, cp)
				resp.NextKeyMarker, resp.NextVersionIdMarker = cp, ""
				continue
			}
		}
		vs := objs[k]
		start := 0
		if k == keyMarker {
			start = len(vs)
			for i, v := range vs {
				if v.GetVersionId() == vidMarker {
					start = i + 1
				}
			}
		}
		for i := start; i < len(vs); i++ {
			if full() {
				break
			}
			resp.Versions = append(resp.Versions, cloneVersion(vs[i], i == 0))
			resp.NextKeyMarker, resp.NextVersionIdMarker = k, vs[i].GetVersionId()
		}
		if resp.Truncated {
			break
		}
	}
	if !resp.Truncated {
		resp.NextKeyMarker, resp.NextVersionIdMarker = "", ""
	}
	return resp, nil
}

// PutBucketConfig implements metadatav1.MetadataServiceServer.
func (m *Metadata) PutBucketConfig(_ context.Context, req *metadatav1.PutBucketConfigRequest) (*metadatav1.PutBucketConfigResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.buckets[req.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	if req.GetKind() != "" && req.GetKind() == m.failConfigKind {
		return nil, status.Error(codes.Unavailable, "injected failure")
	}
	if m.configs[req.GetBucket()] == nil {
		m.configs[req.GetBucket()] = map[string][]byte{}
	}
	if req.GetKind() == objectLockKind {
		m.buckets[req.GetBucket()].ObjectLockEnabled = true
	}
	m.configs[req.GetBucket()][req.GetKind()] = append([]byte(nil), req.GetDocument()...)
	return &metadatav1.PutBucketConfigResponse{}, nil
}

// GetBucketConfig implements metadatav1.MetadataServiceServer.
func (m *Metadata) GetBucketConfig(_ context.Context, req *metadatav1.GetBucketConfigRequest) (*metadatav1.GetBucketConfigResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.buckets[req.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	doc, ok := m.configs[req.GetBucket()][req.GetKind()]
	if !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET_CONFIG, "no such bucket config")
	}
	return &metadatav1.GetBucketConfigResponse{Document: append([]byte(nil), doc...)}, nil
}

// DeleteBucketConfig implements metadatav1.MetadataServiceServer.
func (m *Metadata) DeleteBucketConfig(_ context.Context, req *metadatav1.DeleteBucketConfigRequest) (*metadatav1.DeleteBucketConfigResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.buckets[req.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	delete(m.configs[req.GetBucket()], req.GetKind())
	return &metadatav1.DeleteBucketConfigResponse{}, nil
}

// taggedLocked finds the version whose tags a tagging call changes.
func (m *Metadata) taggedLocked(bucket, key, id string) (*metadatav1.ObjectVersion, error) {
	if _, ok := m.objects[bucket]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	v, err := m.versionLocked(bucket, key, id)
	if err != nil {
		return nil, err
	}
	if v.GetDeleteMarker() {
		// Delete markers carry no tags; the real service answers the same.
		return nil, deleteMarkerErr(v.GetVersionId())
	}
	return v, nil
}

// PutObjectTagging implements metadatav1.MetadataServiceServer.
func (m *Metadata) PutObjectTagging(_ context.Context, req *metadatav1.PutObjectTaggingRequest) (*metadatav1.PutObjectTaggingResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	v, err := m.taggedLocked(req.GetBucket(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, err
	}
	v.Tags = map[string]string{}
	for k, val := range req.GetTags() {
		v.Tags[k] = val
	}
	return &metadatav1.PutObjectTaggingResponse{VersionId: v.GetVersionId()}, nil
}

// DeleteObjectTagging implements metadatav1.MetadataServiceServer.
func (m *Metadata) DeleteObjectTagging(_ context.Context, req *metadatav1.DeleteObjectTaggingRequest) (*metadatav1.DeleteObjectTaggingResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	v, err := m.taggedLocked(req.GetBucket(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, err
	}
	v.Tags = nil
	return &metadatav1.DeleteObjectTaggingResponse{VersionId: v.GetVersionId()}, nil
}
