package server

import (
	"context"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/metadata/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ListObjectVersions returns a page of every version and delete marker.
func (s *Server) ListObjectVersions(ctx context.Context, req *metadatav1.ListObjectVersionsRequest) (*metadatav1.ListObjectVersionsResponse, error) {
	res, err := s.store.ListObjectVersions(ctx, req.GetBucket(), store.VersionListOptions{
		Prefix:          req.GetPrefix(),
		Delimiter:       req.GetDelimiter(),
		KeyMarker:       req.GetKeyMarker(),
		VersionIDMarker: req.GetVersionIdMarker(),
		MaxKeys:         int(req.GetMaxKeys()),
	})
	if err != nil {
		return nil, err
	}
	resp := &metadatav1.ListObjectVersionsResponse{
		Versions:            make([]*metadatav1.ObjectVersion, 0, len(res.Versions)),
		CommonPrefixes:      res.CommonPrefixes,
		Truncated:           res.Truncated,
		NextKeyMarker:       res.NextKeyMarker,
		NextVersionIdMarker: res.NextVersionIDMarker,
	}
	for _, v := range res.Versions {
		resp.Versions = append(resp.Versions, versionToProto(v))
	}
	return resp, nil
}

// SetBucketVersioning enables or suspends versioning.
func (s *Server) SetBucketVersioning(ctx context.Context, req *metadatav1.SetBucketVersioningRequest) (*metadatav1.SetBucketVersioningResponse, error) {
	var v store.Versioning
	switch req.GetVersioning() {
	case metadatav1.Versioning_VERSIONING_ENABLED:
		v = store.VersioningEnabled
	case metadatav1.Versioning_VERSIONING_SUSPENDED:
		v = store.VersioningSuspended
	default:
		return nil, invalidArgument("versioning can only be set to VERSIONING_ENABLED or VERSIONING_SUSPENDED, not %v", req.GetVersioning())
	}
	b, err := s.store.SetBucketVersioning(ctx, req.GetBucket(), v)
	if err != nil {
		return nil, err
	}
	return &metadatav1.SetBucketVersioningResponse{Bucket: bucketToProto(b)}, nil
}

// PutBucketConfig stores a bucket configuration document.
func (s *Server) PutBucketConfig(ctx context.Context, req *metadatav1.PutBucketConfigRequest) (*metadatav1.PutBucketConfigResponse, error) {
	if err := s.store.PutBucketConfig(ctx, req.GetBucket(), req.GetKind(), req.GetDocument()); err != nil {
		return nil, err
	}
	return &metadatav1.PutBucketConfigResponse{}, nil
}

// GetBucketConfig returns a bucket configuration document.
func (s *Server) GetBucketConfig(ctx context.Context, req *metadatav1.GetBucketConfigRequest) (*metadatav1.GetBucketConfigResponse, error) {
	doc, err := s.store.GetBucketConfig(ctx, req.GetBucket(), req.GetKind())
	if err != nil {
		return nil, err
	}
	return &metadatav1.GetBucketConfigResponse{Document: doc}, nil
}

// DeleteBucketConfig removes a bucket configuration document.
func (s *Server) DeleteBucketConfig(ctx context.Context, req *metadatav1.DeleteBucketConfigRequest) (*metadatav1.DeleteBucketConfigResponse, error) {
	if err := s.store.DeleteBucketConfig(ctx, req.GetBucket(), req.GetKind()); err != nil {
		return nil, err
	}
	return &metadatav1.DeleteBucketConfigResponse{}, nil
}

// PutObjectTagging replaces the tags of a version.
func (s *Server) PutObjectTagging(ctx context.Context, req *metadatav1.PutObjectTaggingRequest) (*metadatav1.PutObjectTaggingResponse, error) {
	id, err := s.store.PutObjectTagging(ctx, req.GetBucket(), req.GetKey(), req.GetVersionId(), req.GetTags())
	if err != nil {
		return nil, err
	}
	return &metadatav1.PutObjectTaggingResponse{VersionId: id}, nil
}

// DeleteObjectTagging removes the tags of a version.
func (s *Server) DeleteObjectTagging(ctx context.Context, req *metadatav1.DeleteObjectTaggingRequest) (*metadatav1.DeleteObjectTaggingResponse, error) {
	id, err := s.store.DeleteObjectTagging(ctx, req.GetBucket(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, err
	}
	return &metadatav1.DeleteObjectTaggingResponse{VersionId: id}, nil
}

// PutObjectRetention sets or removes the retention of a version.
func (s *Server) PutObjectRetention(ctx context.Context, req *metadatav1.PutObjectRetentionRequest) (*metadatav1.PutObjectRetentionResponse, error) {
	id, err := s.store.PutObjectRetention(ctx, req.GetBucket(), req.GetKey(), req.GetVersionId(), req.GetMode(),
		optionalTime(req.GetRetainUntil()), req.GetBypassGovernanceRetention())
	if err != nil {
		return nil, err
	}
	return &metadatav1.PutObjectRetentionResponse{VersionId: id}, nil
}

// PutObjectLegalHold turns the legal hold of a version on or off.
func (s *Server) PutObjectLegalHold(ctx context.Context, req *metadatav1.PutObjectLegalHoldRequest) (*metadatav1.PutObjectLegalHoldResponse, error) {
	id, err := s.store.PutObjectLegalHold(ctx, req.GetBucket(), req.GetKey(), req.GetVersionId(), req.GetOn())
	if err != nil {
		return nil, err
	}
	return &metadatav1.PutObjectLegalHoldResponse{VersionId: id}, nil
}

func uploadToProto(u store.Upload) *metadatav1.MultipartUpload {
	return &metadatav1.MultipartUpload{
		Bucket:            u.Bucket,
		Key:               u.Key,
		UploadId:          u.UploadID,
		Initiated:         timestamppb.New(u.Initiated),
		Template:          templateToProto(u.Template),
		ChecksumAlgorithm: u.ChecksumAlgorithm,
		ChecksumType:      u.ChecksumType,
	}
}

// templateToProto renders an upload's template: only the fields a template
// carries.
func templateToProto(v store.Version) *metadatav1.ObjectVersion {
	return &metadatav1.ObjectVersion{
		Bucket:                  v.Bucket,
		Key:                     v.Key,
		ContentType:             v.ContentType,
		ContentEncoding:         v.ContentEncoding,
		CacheControl:            v.CacheControl,
		ContentDisposition:      v.ContentDisposition,
		ContentLanguage:         v.ContentLanguage,
		Expires:                 v.Expires,
		WebsiteRedirectLocation: v.WebsiteRedirectLocation,
		UserMetadata:            v.UserMetadata,
		Tags:                    v.Tags,
		LockMode:                v.LockMode,
		LockRetainUntil:         optionalTimestamp(v.LockRetainUntil),
		LegalHold:               v.LegalHold,
		LegalHoldSet:            v.LegalHoldSet,
	}
}

func partToProto(p store.Part) *metadatav1.Part {
	return &metadatav1.Part{
		PartNumber:   int32(p.PartNumber),
		LastModified: timestamppb.New(p.LastModified),
		Segment:      segmentToProto(p.Segment),
	}
}

// CreateMultipartUpload starts a multipart upload.
func (s *Server) CreateMultipartUpload(ctx context.Context, req *metadatav1.CreateMultipartUploadRequest) (*metadatav1.CreateMultipartUploadResponse, error) {
	u := req.GetUpload()
	if u == nil {
		return nil, invalidArgument("upload is required")
	}
	created, err := s.store.CreateMultipartUpload(ctx, store.Upload{
		Bucket:            u.GetBucket(),
		Key:               u.GetKey(),
		Template:          versionFromProto(u.GetTemplate()),
		ChecksumAlgorithm: u.GetChecksumAlgorithm(),
		ChecksumType:      u.GetChecksumType(),
	})
	if err != nil {
		return nil, err
	}
	return &metadatav1.CreateMultipartUploadResponse{Upload: uploadToProto(created)}, nil
}

// GetMultipartUpload returns an upload in progress.
func (s *Server) GetMultipartUpload(ctx context.Context, req *metadatav1.GetMultipartUploadRequest) (*metadatav1.GetMultipartUploadResponse, error) {
	u, err := s.store.GetMultipartUpload(ctx, req.GetBucket(), req.GetKey(), req.GetUploadId())
	if err != nil {
		return nil, err
	}
	return &metadatav1.GetMultipartUploadResponse{Upload: uploadToProto(u)}, nil
}

// PutPart records or replaces a part.
func (s *Server) PutPart(ctx context.Context, req *metadatav1.PutPartRequest) (*metadatav1.PutPartResponse, error) {
	if req.GetSegment() == nil {
		return nil, invalidArgument("segment is required")
	}
	p, err := s.store.PutPart(ctx, req.GetBucket(), req.GetKey(), req.GetUploadId(), int(req.GetPartNumber()), segmentFromProto(req.GetSegment()))
	if err != nil {
		return nil, err
	}
	return &metadatav1.PutPartResponse{Part: partToProto(p)}, nil
}

// ListParts returns a page of an upload's parts.
func (s *Server) ListParts(ctx context.Context, req *metadatav1.ListPartsRequest) (*metadatav1.ListPartsResponse, error) {
	res, err := s.store.ListParts(ctx, req.GetBucket(), req.GetKey(), req.GetUploadId(), int(req.GetPartNumberMarker()), int(req.GetMaxParts()))
	if err != nil {
		return nil, err
	}
	resp := &metadatav1.ListPartsResponse{
		Upload:               uploadToProto(res.Upload),
		Parts:                make([]*metadatav1.Part, 0, len(res.Parts)),
		Truncated:            res.Truncated,
		NextPartNumberMarker: int32(res.NextPartNumberMarker),
	}
	for _, p := range res.Parts {
		resp.Parts = append(resp.Parts, partToProto(p))
	}
	return resp, nil
}

// CompleteMultipartUpload commits the object made of the listed parts.
func (s *Server) CompleteMultipartUpload(ctx context.Context, req *metadatav1.CompleteMultipartUploadRequest) (*metadatav1.CompleteMultipartUploadResponse, error) {
	parts := make([]store.CompletedPart, 0, len(req.GetParts()))
	for _, p := range req.GetParts() {
		parts = append(parts, store.CompletedPart{PartNumber: int(p.GetPartNumber()), ETag: p.GetEtag(), Checksums: p.GetChecksums()})
	}
	opts := store.CompleteOptions{
		Preconditions:          preconditionsFromProto(req.GetPreconditions()),
		MinPartSize:            req.GetMinPartSize(),
		DefaultLockMode:        req.GetDefaultLockMode(),
		DefaultLockRetainUntil: optionalTime(req.GetDefaultLockRetainUntil()),
	}
	v, err := s.store.CompleteMultipartUpload(ctx, req.GetBucket(), req.GetKey(), req.GetUploadId(), parts, opts)
	if err != nil {
		return nil, err
	}
	return &metadatav1.CompleteMultipartUploadResponse{Version: versionToProto(v)}, nil
}

// AbortMultipartUpload removes an upload and queues its parts for
// collection.
func (s *Server) AbortMultipartUpload(ctx context.Context, req *metadatav1.AbortMultipartUploadRequest) (*metadatav1.AbortMultipartUploadResponse, error) {
	if err := s.store.AbortMultipartUpload(ctx, req.GetBucket(), req.GetKey(), req.GetUploadId()); err != nil {
		return nil, err
	}
	return &metadatav1.AbortMultipartUploadResponse{}, nil
}

// ListMultipartUploads returns a page of the uploads in progress.
func (s *Server) ListMultipartUploads(ctx context.Context, req *metadatav1.ListMultipartUploadsRequest) (*metadatav1.ListMultipartUploadsResponse, error) {
	res, err := s.store.ListMultipartUploads(ctx, req.GetBucket(), store.UploadListOptions{
		Prefix:         req.GetPrefix(),
		Delimiter:      req.GetDelimiter(),
		KeyMarker:      req.GetKeyMarker(),
		UploadIDMarker: req.GetUploadIdMarker(),
		MaxUploads:     int(req.GetMaxUploads()),
	})
	if err != nil {
		return nil, err
	}
	resp := &metadatav1.ListMultipartUploadsResponse{
		Uploads:            make([]*metadatav1.MultipartUpload, 0, len(res.Uploads)),
		CommonPrefixes:     res.CommonPrefixes,
		Truncated:          res.Truncated,
		NextKeyMarker:      res.NextKeyMarker,
		NextUploadIdMarker: res.NextUploadIDMarker,
	}
	for _, u := range res.Uploads {
		resp.Uploads = append(resp.Uploads, uploadToProto(u))
	}
	return resp, nil
}
