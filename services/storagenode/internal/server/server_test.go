package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/storagenode/internal/shardstore"
)

type harness struct {
	dir     string
	store   *shardstore.Store
	metrics *Metrics
	client  storagev1.ShardServiceClient
}

// start serves a real ShardService on a loopback port.
func start(t *testing.T, opts ...grpc.ServerOption) *harness {
	t.Helper()
	dir := t.TempDir()
	store, err := shardstore.Open(shardstore.Options{Dirs: []string{dir}, NodeID: "node-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	metrics := NewMetrics(prometheus.NewRegistry())
	srv := New(store, Placement{Region: "us-east-1", Zone: "zone-a"}, metrics, slog.New(slog.DiscardHandler))
	gs := NewGRPCServer(srv, opts...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &harness{dir: dir, store: store, metrics: metrics, client: storagev1.NewShardServiceClient(conn)}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// putShard sends data in messages of chunk bytes, declaring size.
func (h *harness) putShard(ctx context.Context, id string, size int64, data []byte, chunk int) (*storagev1.PutShardResponse, error) {
	stream, err := h.client.PutShard(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Header{Header: &storagev1.PutShardHeader{ShardId: id, Size: size}}}); err != nil {
		return nil, err
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Data{Data: data[:n]}}); err != nil {
			// The server failed the call; CloseAndRecv reports why.
			break
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}

func (h *harness) getShard(ctx context.Context, id string, off, length int64) ([]byte, error) {
	stream, err := h.client.GetShard(ctx, &storagev1.GetShardRequest{ShardId: id, Offset: off, Length: length})
	if err != nil {
		return nil, err
	}
	var out []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if len(msg.GetData()) > readChunkSize {
			return nil, fmt.Errorf("message of %d bytes exceeds the read chunk", len(msg.GetData()))
		}
		out = append(out, msg.GetData()...)
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp.") {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestErrorTableComplete(t *testing.T) {
	mapped := map[error]bool{}
	for _, e := range errorTable() {
		mapped[e.err] = true
		if e.code == codes.OK || e.code == codes.Unknown || e.code == codes.Internal {
			t.Errorf("%v maps to %v", e.err, e.code)
		}
	}
	for _, sentinel := range shardstore.Sentinels() {
		t.Run(sentinel.Error(), func(t *testing.T) {
			if !mapped[sentinel] {
				t.Fatalf("sentinel %v missing from the error table", sentinel)
			}
			err := toStatus(fmt.Errorf("read shard x.0: %w", sentinel))
			st, _ := status.FromError(err)
			if st.Code() == codes.Unknown || st.Code() == codes.Internal || !strings.Contains(st.Message(), sentinel.Error()) {
				t.Fatalf("wrapped sentinel became %v %q", st.Code(), st.Message())
			}
		})
	}
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"nil", nil, codes.OK},
		{"corrupt", fmt.Errorf("x: %w", shardstore.ErrCorrupt), codes.DataLoss},
		{"not found", fmt.Errorf("x: %w", shardstore.ErrNotFound), codes.NotFound},
		{"status passes through", status.Error(codes.Unavailable, "gone"), codes.Unavailable},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), codes.Canceled},
		{"disk error", &fs.PathError{Op: "read", Path: "/data", Err: errors.New("input/output error")}, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(toStatus(tt.err)); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShardLifecycle(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	const size = 5<<20 + 12345
	data := randBytes(1, size)
	// 4 MiB messages must fit under the message size limit.
	res, err := h.putShard(ctx, "life.0", size, data, 4<<20)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if res.GetSize() != size {
		t.Fatalf("put size %d", res.GetSize())
	}
	ranges := []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"whole", 0, 0, data},
		{"middle", 1 << 20, 300 << 10, data[1<<20 : 1<<20+300<<10]},
		{"clamped tail", size - 10, 100, data[size-10:]},
		{"to end", 4 << 20, -1, data[4<<20:]},
		{"at end", size, 0, nil},
	}
	for _, r := range ranges {
		t.Run("get "+r.name, func(t *testing.T) {
			got, err := h.getShard(ctx, "life.0", r.off, r.length)
			if err != nil || !bytes.Equal(got, r.want) {
				t.Fatalf("got %d bytes (want %d): %v", len(got), len(r.want), err)
			}
		})
	}
	st, err := h.client.StatShard(ctx, &storagev1.StatShardRequest{ShardId: "life.0", Verify: true})
	if err != nil || st.GetSize() != size || st.GetModifiedUnixNano() == 0 {
		t.Fatalf("stat: %v %v", st, err)
	}
	if _, err := h.putShard(ctx, "life.1", 3, []byte("abc"), 1); err != nil {
		t.Fatal(err)
	}
	list, err := h.client.ListShards(ctx, &storagev1.ListShardsRequest{Limit: 1})
	if err != nil || len(list.GetShards()) != 1 || !list.GetTruncated() || list.GetShards()[0].GetShardId() != "life.0" || list.GetShards()[0].GetSize() != size {
		t.Fatalf("list page 1: %v %v", list, err)
	}
	list, err = h.client.ListShards(ctx, &storagev1.ListShardsRequest{After: "life.0", Limit: 1})
	if err != nil || len(list.GetShards()) != 1 || list.GetTruncated() || list.GetShards()[0].GetShardId() != "life.1" {
		t.Fatalf("list page 2: %v %v", list, err)
	}
	info, err := h.client.NodeInfo(ctx, &storagev1.NodeInfoRequest{})
	if err != nil || info.GetNodeId() != "node-test" || info.GetRegion() != "us-east-1" || info.GetZone() != "zone-a" ||
		info.GetShardCount() != 2 || info.GetCapacityBytes() == 0 || info.GetFreeBytes() > info.GetCapacityBytes() {
		t.Fatalf("node info: %v %v", info, err)
	}
	for i, want := range []bool{true, false} {
		del, err := h.client.DeleteShard(ctx, &storagev1.DeleteShardRequest{ShardId: "life.0"})
		if err != nil || del.GetExisted() != want {
			t.Fatalf("delete %d: %v %v", i, del, err)
		}
	}
	if _, err := h.getShard(ctx, "life.0", 0, 0); status.Code(err) != codes.NotFound {
		t.Fatalf("get deleted: %v", err)
	}
	if got := testutil.ToFloat64(h.metrics.bytesWritten); got != size+3 {
		t.Errorf("bytes written %v", got)
	}
	if got := testutil.ToFloat64(h.metrics.shardsWritten); got != 2 {
		t.Errorf("shards written %v", got)
	}
	if got := testutil.ToFloat64(h.metrics.shards); got != 1 {
		t.Errorf("shards gauge %v", got)
	}
	if got := testutil.ToFloat64(h.metrics.bytesRead); got == 0 {
		t.Errorf("bytes read %v", got)
	}
	if n := testutil.CollectAndCount(h.metrics.duration); n == 0 {
		t.Errorf("no request durations recorded")
	}
}

func TestRequestErrors(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	if _, err := h.putShard(ctx, "exists.0", 10, make([]byte, 10), 10); err != nil {
		t.Fatal(err)
	}
	send := func(msgs ...*storagev1.PutShardRequest) error {
		stream, err := h.client.PutShard(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := stream.Send(m); err != nil {
				break
			}
		}
		_, err = stream.CloseAndRecv()
		return err
	}
	header := func(id string, size int64) *storagev1.PutShardRequest {
		return &storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Header{Header: &storagev1.PutShardHeader{ShardId: id, Size: size}}}
	}
	data := func(n int) *storagev1.PutShardRequest {
		return &storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Data{Data: make([]byte, n)}}
	}
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"put: empty stream", func() error { return send() }, codes.InvalidArgument},
		{"put: data before header", func() error { return send(data(3)) }, codes.InvalidArgument},
		{"put: header twice", func() error { return send(header("a.0", 3), header("a.0", 3)) }, codes.InvalidArgument},
		{"put: bad id", func() error { return send(header("../etc/passwd", 3), data(3)) }, codes.InvalidArgument},
		{"put: negative size", func() error { return send(header("a.0", -5)) }, codes.InvalidArgument},
		{"put: too short", func() error { return send(header("a.0", 10), data(9)) }, codes.InvalidArgument},
		{"put: too long", func() error { return send(header("a.0", 10), data(6), data(6)) }, codes.InvalidArgument},
		{"get: missing", func() error { _, err := h.getShard(ctx, "missing.0", 0, 0); return err }, codes.NotFound},
		{"get: bad id", func() error { _, err := h.getShard(ctx, "a/b", 0, 0); return err }, codes.InvalidArgument},
		{"get: beyond end", func() error { _, err := h.getShard(ctx, "exists.0", 11, 0); return err }, codes.OutOfRange},
		{"get: negative offset", func() error { _, err := h.getShard(ctx, "exists.0", -1, 0); return err }, codes.InvalidArgument},
		{"stat: missing", func() error {
			_, err := h.client.StatShard(ctx, &storagev1.StatShardRequest{ShardId: "missing.0"})
			return err
		}, codes.NotFound},
		{"delete: bad id", func() error {
			_, err := h.client.DeleteShard(ctx, &storagev1.DeleteShardRequest{ShardId: ".."})
			return err
		}, codes.InvalidArgument},
		{"list: negative limit", func() error {
			_, err := h.client.ListShards(ctx, &storagev1.ListShardsRequest{Limit: -1})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); status.Code(err) != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if l := tempFiles(t, h.dir); len(l) > 0 {
		t.Fatalf("failed puts left %v", l)
	}
	if _, err := h.client.StatShard(ctx, &storagev1.StatShardRequest{ShardId: "a.0"}); status.Code(err) != codes.NotFound {
		t.Fatalf("a failed put is visible: %v", err)
	}
}

// putHooks tells a test when a PutShard handler asks for its third message
// (so it has written the first data message) and when it has returned.
type putHooks struct {
	third chan struct{}
	done  chan error
}

type hookedStream struct {
	grpc.ServerStream
	recvs int
	hooks *putHooks
}

func (s *hookedStream) RecvMsg(m any) error {
	if s.recvs++; s.recvs == 3 {
		close(s.hooks.third)
	}
	return s.ServerStream.RecvMsg(m)
}

func (p *putHooks) interceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != storagev1.ShardService_PutShard_FullMethodName {
		return handler(srv, ss)
	}
	err := handler(srv, &hookedStream{ServerStream: ss, hooks: p})
	p.done <- err
	return err
}

func TestCancelledPutLeavesNothing(t *testing.T) {
	hooks := &putHooks{third: make(chan struct{}), done: make(chan error, 1)}
	h := start(t, grpc.ChainStreamInterceptor(hooks.interceptor))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := h.client.PutShard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Header{Header: &storagev1.PutShardHeader{ShardId: "cancel.0", Size: 8 << 20}}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Data{Data: make([]byte, 1<<20)}}); err != nil {
		t.Fatal(err)
	}
	<-hooks.third
	if l := tempFiles(t, h.dir); len(l) != 1 {
		t.Fatalf("want one temp file mid-write, got %v", l)
	}
	cancel()
	if err := <-hooks.done; status.Code(err) != codes.Canceled {
		t.Fatalf("handler returned %v, want Canceled", err)
	}
	if l := tempFiles(t, h.dir); len(l) > 0 {
		t.Fatalf("cancelled put left %v", l)
	}
	if _, err := h.client.StatShard(context.Background(), &storagev1.StatShardRequest{ShardId: "cancel.0"}); status.Code(err) != codes.NotFound {
		t.Fatalf("cancelled shard visible: %v", err)
	}
}

func TestCorruptShardIsDataLoss(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	data := randBytes(2, 3*shardstore.DefaultBlockSize)
	if _, err := h.putShard(ctx, "rot.0", int64(len(data)), data, 1<<20); err != nil {
		t.Fatal(err)
	}
	var path string
	_ = filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "rot.0" {
			path = p
		}
		return err
	})
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte in the middle of block 1.
	if _, err := f.WriteAt([]byte{data[shardstore.DefaultBlockSize+100] ^ 1}, shardstore.HeaderSize+shardstore.DefaultBlockSize+4+100); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := h.getShard(ctx, "rot.0", 0, 0)
	if status.Code(err) != codes.DataLoss {
		t.Fatalf("get: %v, want DataLoss", err)
	}
	if !bytes.Equal(got, data[:len(got)]) || len(got) > shardstore.DefaultBlockSize {
		t.Fatalf("got %d bytes before the failure, some unverified", len(got))
	}
	if got, err := h.getShard(ctx, "rot.0", 2*shardstore.DefaultBlockSize, 0); err != nil || !bytes.Equal(got, data[2*shardstore.DefaultBlockSize:]) {
		t.Fatalf("range clear of the damage: %v", err)
	}
	if _, err := h.client.StatShard(ctx, &storagev1.StatShardRequest{ShardId: "rot.0", Verify: true}); status.Code(err) != codes.DataLoss {
		t.Fatalf("stat verify: %v, want DataLoss", err)
	}
	if _, err := h.client.StatShard(ctx, &storagev1.StatShardRequest{ShardId: "rot.0"}); err != nil {
		t.Fatalf("stat without verify: %v", err)
	}
	if got := testutil.ToFloat64(h.metrics.checksumFailures); got != 2 {
		t.Fatalf("checksum failures %v, want 2", got)
	}
}
