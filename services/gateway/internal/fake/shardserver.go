package fake

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"

	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ShardServer is an in-memory ShardService speaking the real protocol over
// gRPC: header first, size checked, acknowledgement after the last byte.
type ShardServer struct {
	storagev1.UnimplementedShardServiceServer

	mu     sync.Mutex
	shards map[string][]byte
	maxMsg int
	stall  bool
	short  bool
}

// ServeShards serves a ShardServer on a loopback port for the test's
// lifetime and returns it with its address.
func ServeShards(t testing.TB) (*ShardServer, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss := &ShardServer{shards: map[string][]byte{}}
	srv := grpc.NewServer()
	storagev1.RegisterShardServiceServer(srv, ss)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return ss, lis.Addr().String()
}

// SetStall makes PutShard stop reading after the header until cancelled.
func (s *ShardServer) SetStall(v bool) { s.mu.Lock(); s.stall = v; s.mu.Unlock() }

// SetShort makes GetShard send one byte less than asked.
func (s *ShardServer) SetShort(v bool) { s.mu.Lock(); s.short = v; s.mu.Unlock() }

// Store puts a shard directly.
func (s *ShardServer) Store(id string, b []byte) { s.mu.Lock(); s.shards[id] = b; s.mu.Unlock() }

// Stored returns a shard's bytes.
func (s *ShardServer) Stored(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.shards[id]
	return b, ok
}

// Count returns how many shards the server holds.
func (s *ShardServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shards)
}

// MaxMessage returns the largest data message received.
func (s *ShardServer) MaxMessage() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxMsg
}

// PutShard implements storagev1.ShardServiceServer.
func (s *ShardServer) PutShard(stream grpc.ClientStreamingServer[storagev1.PutShardRequest, storagev1.PutShardResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hdr := first.GetHeader()
	if hdr == nil {
		return status.Error(codes.InvalidArgument, "first message must be the header")
	}
	s.mu.Lock()
	stall := s.stall
	s.mu.Unlock()
	if stall {
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if m.GetHeader() != nil {
			return status.Error(codes.InvalidArgument, "header repeated")
		}
		s.mu.Lock()
		s.maxMsg = max(s.maxMsg, len(m.GetData()))
		s.mu.Unlock()
		buf.Write(m.GetData())
	}
	if int64(buf.Len()) != hdr.GetSize() {
		return status.Errorf(codes.InvalidArgument, "got %d bytes, header said %d", buf.Len(), hdr.GetSize())
	}
	s.Store(hdr.GetShardId(), buf.Bytes())
	return stream.SendAndClose(&storagev1.PutShardResponse{Size: int64(buf.Len())})
}

// GetShard implements storagev1.ShardServiceServer.
func (s *ShardServer) GetShard(req *storagev1.GetShardRequest, stream grpc.ServerStreamingServer[storagev1.GetShardResponse]) error {
	s.mu.Lock()
	data, ok := s.shards[req.GetShardId()]
	short := s.short
	s.mu.Unlock()
	if !ok {
		return status.Error(codes.NotFound, "no such shard")
	}
	if req.GetOffset() < 0 || req.GetOffset() > int64(len(data)) {
		return status.Error(codes.OutOfRange, "offset outside the shard")
	}
	end := int64(len(data))
	if req.GetLength() > 0 {
		end = min(end, req.GetOffset()+req.GetLength())
	}
	if short {
		end--
	}
	data = data[req.GetOffset():end]
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		if err := stream.Send(&storagev1.GetShardResponse{Data: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
