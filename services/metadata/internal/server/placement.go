package server

import (
	"context"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/metadata/internal/store"
)

// PlacementServer serves PlacementService, the worker fleet's view of shard
// placement.
type PlacementServer struct {
	metadatav1.UnimplementedPlacementServiceServer
	store *store.Store
}

// NewPlacementServer returns a PlacementServer over st.
func NewPlacementServer(st *store.Store) *PlacementServer {
	return &PlacementServer{store: st}
}

func ownerFromProto(o *metadatav1.SegmentOwner) store.SegmentOwner {
	return store.SegmentOwner{
		BucketID: o.GetBucketId(), Key: o.GetKey(), VersionID: o.GetVersionId(),
		UploadID: o.GetUploadId(), PartNumber: int(o.GetPartNumber()),
	}
}

func placedToProto(p store.PlacedSegment) *metadatav1.PlacedSegment {
	return &metadatav1.PlacedSegment{
		Owner: &metadatav1.SegmentOwner{
			BucketId: p.Owner.BucketID, Key: p.Owner.Key, VersionId: p.Owner.VersionID,
			UploadId: p.Owner.UploadID, PartNumber: int32(p.Owner.PartNumber),
		},
		Segment: segmentToProto(p.Segment),
	}
}

// ScanSegments implements PlacementService.
func (s *PlacementServer) ScanSegments(ctx context.Context, req *metadatav1.ScanSegmentsRequest) (*metadatav1.ScanSegmentsResponse, error) {
	segs, next, done, err := s.store.ScanSegments(ctx, req.GetRegion(), req.GetCursor(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	resp := &metadatav1.ScanSegmentsResponse{NextCursor: next, Done: done}
	for _, p := range segs {
		resp.Segments = append(resp.Segments, placedToProto(p))
	}
	return resp, nil
}

// GetSegment implements PlacementService.
func (s *PlacementServer) GetSegment(ctx context.Context, req *metadatav1.GetSegmentRequest) (*metadatav1.GetSegmentResponse, error) {
	p, err := s.store.GetSegment(ctx, req.GetRegion(), ownerFromProto(req.GetOwner()), req.GetDataId())
	if err != nil {
		return nil, err
	}
	return &metadatav1.GetSegmentResponse{Segment: placedToProto(p)}, nil
}

// ReplaceShard implements PlacementService.
func (s *PlacementServer) ReplaceShard(ctx context.Context, req *metadatav1.ReplaceShardRequest) (*metadatav1.ReplaceShardResponse, error) {
	ok, err := s.store.ReplaceShard(ctx, req.GetRegion(), ownerFromProto(req.GetOwner()), req.GetDataId(),
		int(req.GetIndex()), req.GetFromNodeId(), req.GetToNodeId())
	if err != nil {
		return nil, err
	}
	return &metadatav1.ReplaceShardResponse{Replaced: ok}, nil
}

// LocateShards implements PlacementService.
func (s *PlacementServer) LocateShards(ctx context.Context, req *metadatav1.LocateShardsRequest) (*metadatav1.LocateShardsResponse, error) {
	locs, err := s.store.LocateShards(ctx, req.GetRegion(), req.GetDataIds())
	if err != nil {
		return nil, err
	}
	resp := &metadatav1.LocateShardsResponse{}
	for _, l := range locs {
		resp.Locations = append(resp.Locations, &metadatav1.ShardLocation{DataId: l.DataID, NodeIds: l.NodeIDs})
	}
	return resp, nil
}

// CollectBucket implements PlacementService.
func (s *PlacementServer) CollectBucket(ctx context.Context, req *metadatav1.CollectBucketRequest) (*metadatav1.CollectBucketResponse, error) {
	n, done, err := s.store.CollectBucket(ctx, req.GetRegion(), req.GetBucketId(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	return &metadatav1.CollectBucketResponse{Collected: int32(n), Done: done}, nil
}

// AbortIdleUploads implements PlacementService.
func (s *PlacementServer) AbortIdleUploads(ctx context.Context, req *metadatav1.AbortIdleUploadsRequest) (*metadatav1.AbortIdleUploadsResponse, error) {
	if req.GetIdleSeconds() <= 0 {
		return nil, invalidArgument("idle_seconds %d: want > 0", req.GetIdleSeconds())
	}
	idleSince := time.Now().Add(-time.Duration(req.GetIdleSeconds()) * time.Second)
	n, err := s.store.AbortIdleUploads(ctx, req.GetRegion(), idleSince, int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	return &metadatav1.AbortIdleUploadsResponse{Aborted: int32(n)}, nil
}
