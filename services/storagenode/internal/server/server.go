// Package server implements the ShardService gRPC API over a shardstore.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/storagenode/internal/shardstore"
)

const (
	// MaxMessageSize bounds one gRPC message: data messages of up to 4 MiB
	// plus headroom for framing and the header message.
	MaxMessageSize = 4<<20 + 256<<10
	// readChunkSize is the data carried by one GetShard message.
	readChunkSize = 256 << 10
)

// Placement is where the node sits, reported by NodeInfo.
type Placement struct {
	Region string
	Zone   string
}

// Server is the ShardService implementation.
type Server struct {
	storagev1.UnimplementedShardServiceServer

	store   *shardstore.Store
	place   Placement
	metrics *Metrics
	log     *slog.Logger
}

// New returns a Server over store.
func New(store *shardstore.Store, place Placement, metrics *Metrics, log *slog.Logger) *Server {
	return &Server{store: store, place: place, metrics: metrics, log: log.With("node_id", store.NodeID())}
}

// NewGRPCServer returns a gRPC server with the message limits and metrics
// interceptors the service needs and s registered. opts are appended (tests
// add interceptors).
func NewGRPCServer(s *Server, opts ...grpc.ServerOption) *grpc.Server {
	base := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.ChainUnaryInterceptor(s.metrics.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.metrics.streamInterceptor),
	}
	gs := grpc.NewServer(append(base, opts...)...)
	storagev1.RegisterShardServiceServer(gs, s)
	return gs
}

// RefreshCapacity reads the node's capacity and updates the gauges.
func (s *Server) RefreshCapacity() (shardstore.Capacity, error) {
	c, err := s.store.Capacity()
	if err != nil {
		return shardstore.Capacity{}, err
	}
	s.metrics.ObserveCapacity(c)
	return c, nil
}

// fail records and translates an error on its way out.
func (s *Server) fail(method, id string, err error) error {
	if errors.Is(err, shardstore.ErrCorrupt) {
		s.metrics.checksumFailures.Inc()
		s.log.Warn("corrupt shard", "method", method, "shard_id", id, "err", err)
	}
	st := toStatus(err)
	if status.Code(st) == codes.Internal {
		s.log.Error("shard request", "method", method, "shard_id", id, "err", err)
	}
	return st
}

// PutShard receives a header, then data until the client closes its side,
// and acknowledges only after the shard is durable. A stream that breaks
// off leaves nothing behind.
func (s *Server) PutShard(stream grpc.ClientStreamingServer[storagev1.PutShardRequest, storagev1.PutShardResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return status.Error(codes.InvalidArgument, "put shard: empty stream, want a header first")
		}
		return err
	}
	hdr := first.GetHeader()
	if hdr == nil {
		return status.Error(codes.InvalidArgument, "put shard: first message must be a header")
	}
	id := hdr.GetShardId()
	w, err := s.store.Create(id, hdr.GetSize())
	if err != nil {
		return s.fail("PutShard", id, err)
	}
	defer w.Abort()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The client went away or was cancelled; Abort removes the temp file.
			return err
		}
		if msg.GetHeader() != nil {
			return status.Error(codes.InvalidArgument, "put shard: header sent twice")
		}
		if _, err := w.Write(msg.GetData()); err != nil {
			return s.fail("PutShard", id, err)
		}
	}
	res, err := w.Commit()
	if err != nil {
		return s.fail("PutShard", id, err)
	}
	s.metrics.bytesWritten.Add(float64(res.Size))
	s.metrics.shardsWritten.Inc()
	s.metrics.shards.Set(float64(s.store.ShardCount()))
	return stream.SendAndClose(&storagev1.PutShardResponse{Size: res.Size, Crc32C: res.CRC32C})
}

// GetShard streams a verified byte range in chunks of readChunkSize.
func (s *Server) GetShard(req *storagev1.GetShardRequest, stream grpc.ServerStreamingServer[storagev1.GetShardResponse]) error {
	id := req.GetShardId()
	r, err := s.store.NewReader(id, req.GetOffset(), req.GetLength())
	if err != nil {
		return s.fail("GetShard", id, err)
	}
	defer r.Close()
	buf := make([]byte, min(readChunkSize, max(r.Len(), 1)))
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&storagev1.GetShardResponse{Data: buf[:n]}); err != nil {
				return err
			}
			s.metrics.bytesRead.Add(float64(n))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return s.fail("GetShard", id, err)
		}
	}
}

// DeleteShard removes a shard; deleting a missing one succeeds.
func (s *Server) DeleteShard(ctx context.Context, req *storagev1.DeleteShardRequest) (*storagev1.DeleteShardResponse, error) {
	existed, err := s.store.Delete(req.GetShardId())
	if err != nil {
		return nil, s.fail("DeleteShard", req.GetShardId(), err)
	}
	s.metrics.shards.Set(float64(s.store.ShardCount()))
	return &storagev1.DeleteShardResponse{Existed: existed}, nil
}

// StatShard reports a shard's size, verifying every block on request.
func (s *Server) StatShard(ctx context.Context, req *storagev1.StatShardRequest) (*storagev1.StatShardResponse, error) {
	info, err := s.store.Stat(ctx, req.GetShardId(), req.GetVerify())
	if err != nil {
		return nil, s.fail("StatShard", req.GetShardId(), err)
	}
	return &storagev1.StatShardResponse{Size: info.Size, ModifiedUnixNano: info.ModTime.UnixNano()}, nil
}

// ListShards returns a page of shard ids after a marker.
func (s *Server) ListShards(ctx context.Context, req *storagev1.ListShardsRequest) (*storagev1.ListShardsResponse, error) {
	if req.GetLimit() < 0 {
		return nil, status.Error(codes.InvalidArgument, "list shards: negative limit")
	}
	infos, truncated, err := s.store.List(ctx, req.GetAfter(), int(req.GetLimit()))
	if err != nil {
		return nil, s.fail("ListShards", "", err)
	}
	resp := &storagev1.ListShardsResponse{Truncated: truncated, Shards: make([]*storagev1.ShardEntry, 0, len(infos))}
	for _, info := range infos {
		e := &storagev1.ShardEntry{ShardId: info.ID, Size: info.Size}
		if !info.ModTime.IsZero() {
			e.ModifiedUnixNano = info.ModTime.UnixNano()
		}
		resp.Shards = append(resp.Shards, e)
	}
	return resp, nil
}

// NodeInfo reports the node's identity and capacity.
func (s *Server) NodeInfo(ctx context.Context, _ *storagev1.NodeInfoRequest) (*storagev1.NodeInfoResponse, error) {
	c, err := s.RefreshCapacity()
	if err != nil {
		return nil, s.fail("NodeInfo", "", err)
	}
	return &storagev1.NodeInfoResponse{
		NodeId:        s.store.NodeID(),
		Region:        s.place.Region,
		Zone:          s.place.Zone,
		CapacityBytes: c.TotalBytes,
		FreeBytes:     c.FreeBytes,
		ShardCount:    c.Shards,
	}, nil
}
