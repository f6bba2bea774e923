package fake

import (
	"context"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Metadata is an in-memory metadata service answering with the same
// statuses and ErrorInfo reasons as the real one.
type Metadata struct {
	metadatav1.UnimplementedMetadataServiceServer

	mu      sync.Mutex
	now     func() time.Time
	buckets map[string]*metadatav1.Bucket
	// objects holds every version of every key, newest first: bucket -> key
	// -> versions. Delete markers are versions too.
	objects map[string]map[string][]*metadatav1.ObjectVersion
	// configs holds bucket configuration documents: bucket -> kind -> document.
	configs map[string]map[string][]byte
	// garbage lists the data ids whose shards a real metadata service would
	// queue for collection, in order.
	garbage []string
	// uploads holds multipart uploads in progress (multipart.go).
	uploads multipartState
	// Unavailable, when set, fails every call with codes.Unavailable.
	unavailable bool
	// failConfigKind, when set, fails PutBucketConfig of that kind.
	failConfigKind string
	versions       int
	calls          int
}

// NewMetadata returns an empty metadata service with clock now.
func NewMetadata(now func() time.Time) *Metadata {
	return &Metadata{
		now:     now,
		buckets: map[string]*metadatav1.Bucket{},
		objects: map[string]map[string][]*metadatav1.ObjectVersion{},
		configs: map[string]map[string][]byte{},
	}
}

// SetUnavailable makes every call fail with codes.Unavailable.
func (m *Metadata) SetUnavailable(v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unavailable = v
}

// FailConfigKind makes PutBucketConfig of kind fail with codes.Unavailable
// ("" stops it), for testing what a half-done request leaves.
func (m *Metadata) FailConfigKind(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failConfigKind = kind
}

// Listen serves m, and the standard health service, over gRPC on a
// loopback port for the test's lifetime and returns the address.
func (m *Metadata) Listen(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	metadatav1.RegisterMetadataServiceServer(srv, m)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// Serve is Listen plus a client connection closed at the end of the test.
func (m *Metadata) Serve(t testing.TB) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(m.Listen(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial fake metadata: %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func reasonErr(c codes.Code, reason metadatav1.Reason, msg string) error {
	st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: "metadata.anvil"})
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return st.Err()
}

// Calls returns how many calls the service answered.
func (m *Metadata) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func (m *Metadata) check() error {
	m.calls++
	if m.unavailable {
		return status.Error(codes.Unavailable, "fake: metadata unavailable")
	}
	return nil
}

// CreateBucket implements metadatav1.MetadataServiceServer.
func (m *Metadata) CreateBucket(_ context.Context, req *metadatav1.CreateBucketRequest) (*metadatav1.CreateBucketResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.buckets[req.GetName()]; ok {
		return nil, reasonErr(codes.AlreadyExists, metadatav1.Reason_REASON_BUCKET_ALREADY_EXISTS, "bucket exists")
	}
	b := &metadatav1.Bucket{
		Name:         req.GetName(),
		Region:       req.GetRegion(),
		CreatedAt:    timestamppb.New(m.now()),
		DataShards:   req.GetDataShards(),
		ParityShards: req.GetParityShards(),
		Versioning:   metadatav1.Versioning_VERSIONING_UNVERSIONED,
	}
	m.buckets[b.Name] = b
	m.objects[b.Name] = map[string][]*metadatav1.ObjectVersion{}
	return &metadatav1.CreateBucketResponse{Bucket: proto.Clone(b).(*metadatav1.Bucket)}, nil
}

// GetBucket implements metadatav1.MetadataServiceServer.
func (m *Metadata) GetBucket(_ context.Context, req *metadatav1.GetBucketRequest) (*metadatav1.GetBucketResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	b, ok := m.buckets[req.GetName()]
	if !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	return &metadatav1.GetBucketResponse{Bucket: proto.Clone(b).(*metadatav1.Bucket)}, nil
}

// ListBuckets implements metadatav1.MetadataServiceServer.
func (m *Metadata) ListBuckets(context.Context, *metadatav1.ListBucketsRequest) (*metadatav1.ListBucketsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	resp := &metadatav1.ListBucketsResponse{}
	for _, b := range m.buckets {
		resp.Buckets = append(resp.Buckets, proto.Clone(b).(*metadatav1.Bucket))
	}
	return resp, nil
}

// DeleteBucket implements metadatav1.MetadataServiceServer.
func (m *Metadata) DeleteBucket(_ context.Context, req *metadatav1.DeleteBucketRequest) (*metadatav1.DeleteBucketResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.buckets[req.GetName()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	if len(m.objects[req.GetName()]) > 0 {
		return nil, reasonErr(codes.FailedPrecondition, metadatav1.Reason_REASON_BUCKET_NOT_EMPTY, "bucket not empty")
	}
	delete(m.buckets, req.GetName())
	delete(m.objects, req.GetName())
	delete(m.configs, req.GetName())
	return &metadatav1.DeleteBucketResponse{}, nil
}

// CommitObject implements metadatav1.MetadataServiceServer.
func (m *Metadata) CommitObject(_ context.Context, req *metadatav1.CommitObjectRequest) (*metadatav1.CommitObjectResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	v := proto.Clone(req.GetVersion()).(*metadatav1.ObjectVersion)
	if _, ok := m.objects[v.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	if err := m.preconditionsLocked(v.GetBucket(), v.GetKey(), req.GetPreconditions()); err != nil {
		return nil, err
	}
	return &metadatav1.CommitObjectResponse{Version: m.commitLocked(v)}, nil
}

// Object returns the current version of key, or nil when there is none or
// it is a delete marker.
func (m *Metadata) Object(bucket, key string) *metadatav1.ObjectVersion {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.currentLocked(bucket, key)
	if v == nil || v.GetDeleteMarker() {
		return nil
	}
	return cloneVersion(v, true)
}

// GetObject implements metadatav1.MetadataServiceServer.
func (m *Metadata) GetObject(_ context.Context, req *metadatav1.GetObjectRequest) (*metadatav1.GetObjectResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.objects[req.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	v, err := m.versionLocked(req.GetBucket(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, err
	}
	return &metadatav1.GetObjectResponse{Version: cloneVersion(v, v == m.currentLocked(req.GetBucket(), req.GetKey()))}, nil
}

// DeleteObject implements metadatav1.MetadataServiceServer.
func (m *Metadata) DeleteObject(_ context.Context, req *metadatav1.DeleteObjectRequest) (*metadatav1.DeleteObjectResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if _, ok := m.objects[req.GetBucket()]; !ok {
		return nil, reasonErr(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET, "no such bucket")
	}
	if err := m.preconditionsLocked(req.GetBucket(), req.GetKey(), req.GetPreconditions()); err != nil {
		return nil, err
	}
	return m.deleteLocked(req.GetBucket(), req.GetKey(), req.GetVersionId(), req.GetBypassGovernanceRetention())
}

// ListObjects implements metadatav1.MetadataServiceServer: byte order, keys
// and common prefixes strictly after start_after, delimiter roll-up.
func (m *Metadata) ListObjects(_ context.Context, req *metadatav1.ListObjectsRequest) (*metadatav1.ListObjectsResponse, error) {
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
	for k, vs := range objs {
		// Keys whose current version is a delete marker are not listed.
		if len(vs) > 0 && !vs[0].GetDeleteMarker() {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	limit := int(req.GetMaxKeys())
	if limit <= 0 {
		limit = 1000
	}
	resp := &metadatav1.ListObjectsResponse{}
	seen := map[string]bool{}
	count := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, req.GetPrefix()) || k <= req.GetStartAfter() {
			continue
		}
		entry, isPrefix := k, false
		if d := req.GetDelimiter(); d != "" {
			if i := strings.Index(k[len(req.GetPrefix()):], d); i >= 0 {
				entry, isPrefix = k[:len(req.GetPrefix())+i+len(d)], true
			}
		}
		if isPrefix && (seen[entry] || entry <= req.GetStartAfter()) {
			continue
		}
		if count == limit {
			resp.Truncated = true
			break
		}
		count++
		resp.NextMarker = entry
		if isPrefix {
			seen[entry] = true
			resp.CommonPrefixes = append(resp.CommonPrefixes, entry)
		} else {
			v := cloneVersion(objs[k][0], true)
			if !req.GetWithUserMetadata() {
				v.UserMetadata = nil
			}
			resp.Objects = append(resp.Objects, v)
		}
	}
	if !resp.Truncated {
		resp.NextMarker = ""
	}
	return resp, nil
}
