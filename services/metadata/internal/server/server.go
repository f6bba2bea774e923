// Package server implements the MetadataService gRPC API over the store.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"runtime/debug"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/metadata/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultTimeout bounds a call whose client set no deadline.
const DefaultTimeout = 30 * time.Second

// Server serves MetadataService.
type Server struct {
	metadatav1.UnimplementedMetadataServiceServer
	store *store.Store
	log   *slog.Logger
}

// New returns a Server over st.
func New(st *store.Store, log *slog.Logger) *Server {
	return &Server{store: st, log: log}
}

// Metrics are the gRPC request metrics.
type Metrics struct {
	duration *prometheus.HistogramVec
}

// NewMetrics registers the request metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		duration: promauto.With(reg).NewHistogramVec(prometheus.HistogramOpts{
			Name:    "anvil_metadata_grpc_request_duration_seconds",
			Help:    "Duration of gRPC requests served, by method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "code"}),
	}
}

// UnaryInterceptor times every call, gives calls without a deadline
// DefaultTimeout, turns panics into Internal errors and translates store
// errors through the error table.
func UnaryInterceptor(m *Metrics, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		method := path.Base(info.FullMethod)
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
			defer cancel()
		}
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in grpc handler", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
			m.duration.WithLabelValues(method, status.Code(err).String()).Observe(time.Since(start).Seconds())
		}()
		resp, err = handler(ctx, req)
		if err != nil {
			if _, isStatus := status.FromError(err); !isStatus {
				st, expected := toStatus(err)
				if !expected {
					log.WarnContext(ctx, "grpc request failed", "method", method, "err", err)
				}
				err = st.Err()
			}
		}
		return resp, err
	}
}

func invalidArgument(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func bucketToProto(b store.Bucket) *metadatav1.Bucket {
	return &metadatav1.Bucket{
		Name:              b.Name,
		Region:            b.Region,
		CreatedAt:         timestamppb.New(b.CreatedAt),
		DataShards:        int32(b.DataShards),
		ParityShards:      int32(b.ParityShards),
		Versioning:        versioningToProto(b.Versioning),
		ObjectLockEnabled: b.ObjectLock,
	}
}

func versioningToProto(v store.Versioning) metadatav1.Versioning {
	switch v {
	case store.VersioningEnabled:
		return metadatav1.Versioning_VERSIONING_ENABLED
	case store.VersioningSuspended:
		return metadatav1.Versioning_VERSIONING_SUSPENDED
	}
	return metadatav1.Versioning_VERSIONING_UNVERSIONED
}

func segmentToProto(s store.Segment) *metadatav1.Segment {
	return &metadatav1.Segment{
		DataId:       s.DataID,
		Size:         s.Size,
		DataShards:   int32(s.DataShards),
		ParityShards: int32(s.ParityShards),
		BlockSize:    int32(s.BlockSize),
		NodeIds:      s.NodeIDs,
		PartNumber:   int32(s.PartNumber),
		Etag:         s.ETag,
		Checksums:    s.Checksums,
	}
}

func segmentFromProto(s *metadatav1.Segment) store.Segment {
	return store.Segment{
		DataID:       s.GetDataId(),
		Size:         s.GetSize(),
		DataShards:   int(s.GetDataShards()),
		ParityShards: int(s.GetParityShards()),
		BlockSize:    int(s.GetBlockSize()),
		NodeIDs:      s.GetNodeIds(),
		PartNumber:   int(s.GetPartNumber()),
		ETag:         s.GetEtag(),
		Checksums:    s.GetChecksums(),
	}
}

func versionToProto(v store.Version) *metadatav1.ObjectVersion {
	out := &metadatav1.ObjectVersion{
		Bucket:                  v.Bucket,
		Key:                     v.Key,
		VersionId:               v.VersionID,
		Size:                    v.Size,
		Etag:                    v.ETag,
		LastModified:            timestamppb.New(v.LastModified),
		ContentType:             v.ContentType,
		ContentEncoding:         v.ContentEncoding,
		CacheControl:            v.CacheControl,
		ContentDisposition:      v.ContentDisposition,
		ContentLanguage:         v.ContentLanguage,
		Expires:                 v.Expires,
		UserMetadata:            v.UserMetadata,
		DeleteMarker:            v.DeleteMarker,
		WebsiteRedirectLocation: v.WebsiteRedirectLocation,
		IsLatest:                v.IsLatest,
		Tags:                    v.Tags,
		Checksums:               v.Checksums,
		ChecksumType:            v.ChecksumType,
		PartsCount:              int32(v.PartsCount),
		LockMode:                v.LockMode,
		LockRetainUntil:         optionalTimestamp(v.LockRetainUntil),
		LegalHold:               v.LegalHold,
		LegalHoldSet:            v.LegalHoldSet,
	}
	for _, s := range v.Segments {
		out.Segments = append(out.Segments, segmentToProto(s))
	}
	return out
}

func versionFromProto(v *metadatav1.ObjectVersion) store.Version {
	out := store.Version{
		Bucket:                  v.GetBucket(),
		Key:                     v.GetKey(),
		Size:                    v.GetSize(),
		ETag:                    v.GetEtag(),
		ContentType:             v.GetContentType(),
		ContentEncoding:         v.GetContentEncoding(),
		CacheControl:            v.GetCacheControl(),
		ContentDisposition:      v.GetContentDisposition(),
		ContentLanguage:         v.GetContentLanguage(),
		Expires:                 v.GetExpires(),
		WebsiteRedirectLocation: v.GetWebsiteRedirectLocation(),
		UserMetadata:            v.GetUserMetadata(),
		DeleteMarker:            v.GetDeleteMarker(),
		Tags:                    v.GetTags(),
		Checksums:               v.GetChecksums(),
		ChecksumType:            v.GetChecksumType(),
		PartsCount:              int(v.GetPartsCount()),
		LockMode:                v.GetLockMode(),
		LockRetainUntil:         optionalTime(v.GetLockRetainUntil()),
		LegalHold:               v.GetLegalHold(),
		LegalHoldSet:            v.GetLegalHoldSet(),
	}
	for _, s := range v.GetSegments() {
		out.Segments = append(out.Segments, segmentFromProto(s))
	}
	return out
}

func optionalTimestamp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func optionalTime(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}

func preconditionsFromProto(p *metadatav1.WritePreconditions) store.Preconditions {
	return store.Preconditions{IfMatch: p.GetIfMatch(), IfNoneMatch: p.GetIfNoneMatch()}
}

// CreateBucket creates a bucket in a region this process serves.
func (s *Server) CreateBucket(ctx context.Context, req *metadatav1.CreateBucketRequest) (*metadatav1.CreateBucketResponse, error) {
	b, err := s.store.CreateBucket(ctx, req.GetName(), req.GetRegion(), int(req.GetDataShards()), int(req.GetParityShards()))
	if err != nil {
		return nil, err
	}
	s.log.Info("created bucket", "bucket", b.Name, "region", b.Region)
	return &metadatav1.CreateBucketResponse{Bucket: bucketToProto(b)}, nil
}

// GetBucket returns a bucket.
func (s *Server) GetBucket(ctx context.Context, req *metadatav1.GetBucketRequest) (*metadatav1.GetBucketResponse, error) {
	b, err := s.store.GetBucket(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &metadatav1.GetBucketResponse{Bucket: bucketToProto(b)}, nil
}

// ListBuckets returns every bucket by name.
func (s *Server) ListBuckets(ctx context.Context, _ *metadatav1.ListBucketsRequest) (*metadatav1.ListBucketsResponse, error) {
	bs, err := s.store.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	resp := &metadatav1.ListBucketsResponse{Buckets: make([]*metadatav1.Bucket, 0, len(bs))}
	for _, b := range bs {
		resp.Buckets = append(resp.Buckets, bucketToProto(b))
	}
	return resp, nil
}

// DeleteBucket deletes an empty bucket, or with force any bucket.
func (s *Server) DeleteBucket(ctx context.Context, req *metadatav1.DeleteBucketRequest) (*metadatav1.DeleteBucketResponse, error) {
	if err := s.store.DeleteBucket(ctx, req.GetName(), req.GetForce()); err != nil {
		return nil, err
	}
	s.log.Info("deleted bucket", "bucket", req.GetName())
	return &metadatav1.DeleteBucketResponse{}, nil
}

// CommitObject makes a new version current.
func (s *Server) CommitObject(ctx context.Context, req *metadatav1.CommitObjectRequest) (*metadatav1.CommitObjectResponse, error) {
	if req.GetVersion() == nil {
		return nil, invalidArgument("version is required")
	}
	v, err := s.store.CommitObject(ctx, versionFromProto(req.GetVersion()), preconditionsFromProto(req.GetPreconditions()))
	if err != nil {
		return nil, err
	}
	return &metadatav1.CommitObjectResponse{Version: versionToProto(v)}, nil
}

// GetObject returns the current version of a key, or a given version.
func (s *Server) GetObject(ctx context.Context, req *metadatav1.GetObjectRequest) (*metadatav1.GetObjectResponse, error) {
	v, err := s.store.GetObject(ctx, req.GetBucket(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, err
	}
	return &metadatav1.GetObjectResponse{Version: versionToProto(v)}, nil
}

// DeleteObject deletes a key (a delete marker in a versioned bucket) or,
// with a version id, one version for good.
func (s *Server) DeleteObject(ctx context.Context, req *metadatav1.DeleteObjectRequest) (*metadatav1.DeleteObjectResponse, error) {
	res, err := s.store.DeleteObjectIf(ctx, req.GetBucket(), req.GetKey(), req.GetVersionId(), preconditionsFromProto(req.GetPreconditions()), req.GetBypassGovernanceRetention())
	if err != nil {
		return nil, err
	}
	return &metadatav1.DeleteObjectResponse{Deleted: res.Deleted, DeleteMarker: res.DeleteMarker, VersionId: res.VersionID}, nil
}

// ListObjects returns a page of current objects.
func (s *Server) ListObjects(ctx context.Context, req *metadatav1.ListObjectsRequest) (*metadatav1.ListObjectsResponse, error) {
	res, err := s.store.ListObjects(ctx, req.GetBucket(), store.ListOptions{
		Prefix:           req.GetPrefix(),
		Delimiter:        req.GetDelimiter(),
		StartAfter:       req.GetStartAfter(),
		MaxKeys:          int(req.GetMaxKeys()),
		WithUserMetadata: req.GetWithUserMetadata(),
	})
	if err != nil {
		return nil, err
	}
	resp := &metadatav1.ListObjectsResponse{
		Objects:        make([]*metadatav1.ObjectVersion, 0, len(res.Objects)),
		CommonPrefixes: res.CommonPrefixes,
		Truncated:      res.Truncated,
		NextMarker:     res.NextMarker,
	}
	for _, v := range res.Objects {
		resp.Objects = append(resp.Objects, versionToProto(v))
	}
	return resp, nil
}
