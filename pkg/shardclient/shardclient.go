// Package shardclient reaches storage nodes' ShardService over gRPC: one
// cached connection per node address, streaming shard uploads and ranged
// reads, and the small calls (delete, stat, list). The gateway's data path
// and the worker fleet share it.
package shardclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// MaxChunk is the largest data message sent on a PutShard stream.
const MaxChunk = 1 << 20

// ShardID names shard index of a segment on the storage nodes.
func ShardID(dataID string, index int) string { return dataID + "." + strconv.Itoa(index) }

// Writer is one shard upload in progress.
type Writer interface {
	io.Writer
	// Commit ends the upload and waits for the node's acknowledgement, which
	// it sends only once the shard is durable.
	Commit() error
	// Abort cancels the upload; the node discards what it received. Safe to
	// call more than once and after Commit.
	Abort()
}

// Config tunes the storage node clients.
type Config struct {
	// WriteTimeout bounds one chunk send on an upload; a node that stops
	// reading for longer is dropped rather than stalling the whole PUT.
	WriteTimeout time.Duration
	// AckTimeout bounds the wait for a node's durable acknowledgement.
	AckTimeout time.Duration
	// DialOptions are added to every connection's (metrics interceptors).
	DialOptions []grpc.DialOption
}

// Pool reaches storage nodes over gRPC, one cached connection per node
// address. Close releases the connections.
type Pool struct {
	cfg Config

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// New returns a storage node client pool.
func New(cfg Config) *Pool {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 30 * time.Second
	}
	return &Pool{cfg: cfg, conns: map[string]*grpc.ClientConn{}}
}

func (g *Pool) client(addr string) (storagev1.ShardServiceClient, error) {
	if addr == "" {
		return nil, errors.New("shardclient: storage node has no grpc address")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("shardclient: pool closed")
	}
	if cc, ok := g.conns[addr]; ok {
		return storagev1.NewShardServiceClient(cc), nil
	}
	// Plaintext inside the cluster for now; TLS comes with the auth issue.
	cc, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Reconnect quickly to a node that was down: the default back-off
		// grows to two minutes, long after the node is back.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second,
		}, MinConnectTimeout: 5 * time.Second}),
	}, g.cfg.DialOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("dial storage node %s: %w", addr, err)
	}
	g.conns[addr] = cc
	return storagev1.NewShardServiceClient(cc), nil
}

// Forget closes the cached connection to addr, if any: the node left the
// cluster, and keeping connections to departed nodes would grow without end.
func (g *Pool) Forget(addr string) error {
	g.mu.Lock()
	cc, ok := g.conns[addr]
	delete(g.conns, addr)
	g.mu.Unlock()
	if !ok {
		return nil
	}
	if err := cc.Close(); err != nil {
		return fmt.Errorf("close connection to %s: %w", addr, err)
	}
	return nil
}

// Close closes every cached connection.
func (g *Pool) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	var errs []error
	for addr, cc := range g.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", addr, err))
		}
		delete(g.conns, addr)
	}
	return errors.Join(errs...)
}

// PutShard opens a PutShard stream and sends its header.
func (g *Pool) PutShard(ctx context.Context, addr, shardID string, size int64) (Writer, error) {
	c, err := g.client(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.PutShard(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open shard %s on %s: %w", shardID, addr, err)
	}
	ps := &putStream{cfg: g.cfg, stream: stream, cancel: cancel, shardID: shardID, addr: addr, size: size}
	hdr := &storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Header{Header: &storagev1.PutShardHeader{ShardId: shardID, Size: size}}}
	if err := ps.send(hdr); err != nil {
		cancel()
		return nil, err
	}
	return ps, nil
}

type putStream struct {
	cfg     Config
	stream  grpc.ClientStreamingClient[storagev1.PutShardRequest, storagev1.PutShardResponse]
	cancel  context.CancelFunc
	shardID string
	addr    string
	size    int64
	written int64
	// aborted makes Commit refuse: after a cancel, CloseSend could still
	// reach the node as a clean end of stream and store the shard.
	aborted atomic.Bool
}

// send sends one message, cancelling the stream when the node does not take
// it within WriteTimeout.
func (s *putStream) send(m *storagev1.PutShardRequest) error {
	t := time.AfterFunc(s.cfg.WriteTimeout, s.cancel)
	err := s.stream.Send(m)
	t.Stop()
	if err == io.EOF {
		// The server ended the stream; its status says why.
		_, err = s.stream.CloseAndRecv()
		if err == nil {
			err = errors.New("stream closed early")
		}
	}
	if err != nil {
		return fmt.Errorf("send shard %s to %s: %w", s.shardID, s.addr, err)
	}
	return nil
}

// Write sends p in messages of at most MaxChunk bytes. gRPC serialises a
// message before Send returns, so the caller may reuse p.
func (s *putStream) Write(p []byte) (int, error) {
	if s.written+int64(len(p)) > s.size {
		return 0, fmt.Errorf("send shard %s: %d bytes exceed its size %d", s.shardID, s.written+int64(len(p)), s.size)
	}
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+MaxChunk)]
		if err := s.send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Data{Data: chunk}}); err != nil {
			return n, err
		}
		n += len(chunk)
		s.written += int64(len(chunk))
	}
	return n, nil
}

// Commit closes the send side and waits for the node's acknowledgement.
func (s *putStream) Commit() error {
	defer s.cancel()
	if s.aborted.Load() {
		return fmt.Errorf("commit shard %s: upload aborted", s.shardID)
	}
	if s.written != s.size {
		return fmt.Errorf("commit shard %s: wrote %d of %d bytes", s.shardID, s.written, s.size)
	}
	t := time.AfterFunc(s.cfg.AckTimeout, s.cancel)
	defer t.Stop()
	resp, err := s.stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("commit shard %s on %s: %w", s.shardID, s.addr, err)
	}
	if resp.GetSize() != s.size {
		return fmt.Errorf("commit shard %s on %s: node stored %d bytes, sent %d", s.shardID, s.addr, resp.GetSize(), s.size)
	}
	return nil
}

func (s *putStream) Abort() {
	s.aborted.Store(true)
	s.cancel()
}

// GetShard opens a GetShard stream for [offset, offset+length).
func (g *Pool) GetShard(ctx context.Context, addr, shardID string, offset, length int64) (io.ReadCloser, error) {
	if length <= 0 {
		return nil, fmt.Errorf("read shard %s: length %d, want > 0", shardID, length)
	}
	c, err := g.client(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.GetShard(ctx, &storagev1.GetShardRequest{ShardId: shardID, Offset: offset, Length: length})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("read shard %s on %s: %w", shardID, addr, err)
	}
	return &getStream{stream: stream, cancel: cancel, shardID: shardID, addr: addr, remaining: length}, nil
}

type getStream struct {
	stream    grpc.ServerStreamingClient[storagev1.GetShardResponse]
	cancel    context.CancelFunc
	shardID   string
	addr      string
	buf       []byte
	remaining int64 // bytes not yet received
	err       error
}

func (s *getStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.remaining == 0 {
			s.err = io.EOF
			return 0, io.EOF
		}
		msg, err := s.stream.Recv()
		switch {
		case err == io.EOF:
			s.err = fmt.Errorf("read shard %s on %s: stream ended %d bytes early: %w", s.shardID, s.addr, s.remaining, io.ErrUnexpectedEOF)
		case err != nil:
			s.err = fmt.Errorf("read shard %s on %s: %w", s.shardID, s.addr, err)
		case int64(len(msg.GetData())) > s.remaining:
			s.err = fmt.Errorf("read shard %s on %s: node sent %d bytes more than asked", s.shardID, s.addr, int64(len(msg.GetData()))-s.remaining)
		default:
			s.buf = msg.GetData()
			s.remaining -= int64(len(s.buf))
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *getStream) Close() error {
	s.cancel()
	return nil
}

// DeleteShard deletes a shard; existed is false when the node did not hold
// it, which is not an error.
func (g *Pool) DeleteShard(ctx context.Context, addr, shardID string) (existed bool, err error) {
	c, err := g.client(addr)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.AckTimeout)
	defer cancel()
	resp, err := c.DeleteShard(ctx, &storagev1.DeleteShardRequest{ShardId: shardID})
	if err != nil {
		return false, fmt.Errorf("delete shard %s on %s: %w", shardID, addr, err)
	}
	return resp.GetExisted(), nil
}

// StatShard reports a shard's size; with verify the node reads the whole
// shard and checks every block (codes.DataLoss on a mismatch, NotFound when
// the node does not hold it). A verifying stat reads the whole shard, so its
// deadline is the caller's.
func (g *Pool) StatShard(ctx context.Context, addr, shardID string, verify bool) (*storagev1.StatShardResponse, error) {
	c, err := g.client(addr)
	if err != nil {
		return nil, err
	}
	if !verify {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.AckTimeout)
		defer cancel()
	}
	resp, err := c.StatShard(ctx, &storagev1.StatShardRequest{ShardId: shardID, Verify: verify})
	if err != nil {
		return nil, fmt.Errorf("stat shard %s on %s: %w", shardID, addr, err)
	}
	return resp, nil
}

// ListShards returns a page of the shards a node holds, ids after after.
func (g *Pool) ListShards(ctx context.Context, addr, after string, limit int) (*storagev1.ListShardsResponse, error) {
	c, err := g.client(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.AckTimeout)
	defer cancel()
	resp, err := c.ListShards(ctx, &storagev1.ListShardsRequest{After: after, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list shards on %s: %w", addr, err)
	}
	return resp, nil
}
