// Package datapath moves object bytes between S3 requests and storage nodes:
// it places a new object's shards, streams the erasure-coded shards to the
// nodes and reads (and, when nodes fail, reconstructs) them back.
package datapath

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/placement"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// ErrBadDigest means the body's MD5 differs from the Content-MD5 the client sent.
	ErrBadDigest = errors.New("datapath: content-md5 mismatch")
	// ErrBodyTooLong means the body held more bytes than its declared length.
	ErrBodyTooLong = errors.New("datapath: body longer than its declared length")
)

// UnavailableError means the cluster cannot serve the request now: too few
// live storage nodes, a lost write quorum, too few readable shards. Message is
// safe to show to clients (counts, no addresses); Err holds the detail.
type UnavailableError struct {
	Message string
	Err     error
}

func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return "datapath: " + e.Message
	}
	return "datapath: " + e.Message + ": " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// BodyError wraps an error reading the client's request body (a failed
// payload or chunk signature check, a short body, a disconnect), so callers
// can tell the client's fault from the cluster's.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "read request body: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// NodeSource is the live view of cluster members; *membership.View is one.
type NodeSource interface {
	Members(role, region string) []membership.Member
	Lookup(role, id string) (membership.Member, bool)
}

// Shards reaches storage nodes. *shardclient.Pool is the real implementation; unit
// tests use an in-memory one.
type Shards interface {
	// PutShard opens a stream that writes shard id, exactly size bytes, on
	// the node at addr.
	PutShard(ctx context.Context, addr, shardID string, size int64) (ShardWriter, error)
	// GetShard streams bytes [offset, offset+length) of a shard. A stream that
	// ends early fails with an error wrapping io.ErrUnexpectedEOF.
	GetShard(ctx context.Context, addr, shardID string, offset, length int64) (io.ReadCloser, error)
}

// ShardWriter is one shard upload in progress.
type ShardWriter = shardclient.Writer

// Config tunes the data path.
type Config struct {
	// WriteQuorum is how many shards must be durable for a PUT to succeed;
	// 0 means k+1. It is clamped to [k, k+m] for each object.
	WriteQuorum int
	// BlockTimeout bounds the wait for one block from one shard on reads.
	BlockTimeout time.Duration
}

// Store is the data path.
type Store struct {
	cfg         Config
	nodes       NodeSource
	shards      Shards
	log         *slog.Logger
	shardErrors *prometheus.CounterVec
	newID       func() string
}

// New returns a Store placing shards on the storage nodes nodes reports.
func New(cfg Config, nodes NodeSource, shards Shards, log *slog.Logger, reg prometheus.Registerer) *Store {
	return &Store{
		cfg:    cfg,
		nodes:  nodes,
		shards: shards,
		log:    log,
		shardErrors: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_gateway_shard_errors_total",
			Help: "Shard reads and writes that failed, by operation (put, get).",
		}, []string{"op"}),
		newID: uuid.NewString,
	}
}

// Quorum returns the write quorum used for objects with parameters p.
func (s *Store) Quorum(p erasure.Params) int {
	q := s.cfg.WriteQuorum
	if q <= 0 {
		q = p.DataShards + 1
	}
	return max(p.DataShards, min(q, p.Total()))
}

// LiveNodes returns the live storage nodes of region.
func (s *Store) LiveNodes(region string) []membership.Member {
	return s.nodes.Members(membership.RoleStorageNode, region)
}

// PutRequest describes one object (or part) to write.
type PutRequest struct {
	Region string
	Params erasure.Params
	// Body yields exactly Size bytes, then io.EOF; an error instead of io.EOF
	// (a payload hash mismatch, say) fails the write.
	Body io.Reader
	Size int64
	// ContentMD5, when not nil, must equal the MD5 of the body.
	ContentMD5 []byte
	// Hashes also receive every body byte (checksums the caller computes
	// alongside the MD5 ETag).
	Hashes []hash.Hash
	// Verify, when set, runs once the whole body was read and hashed and
	// before any shard is committed; an error fails the write and leaves
	// nothing behind. Callers compare their checksums here.
	Verify func() error
	// PartNumber labels the segment (multipart uploads); 0 means 1.
	PartNumber int32
}

// PutResult is a written object, ready to commit to metadata.
type PutResult struct {
	// ETag is the hex MD5 of the body.
	ETag string
	// Segment is nil for an empty object: it has no shards at all.
	Segment *metadatav1.Segment
}

// Put erasure-codes req.Body onto k+m storage nodes of req.Region. It
// returns only once at least a write quorum of shards is durable; any
// failure before that (including a body that fails verification) cancels
// every shard stream, so nothing is left behind but temp files the nodes
// discard.
func (s *Store) Put(ctx context.Context, req PutRequest) (PutResult, error) {
	p := req.Params
	if err := p.Validate(); err != nil {
		return PutResult{}, fmt.Errorf("put object: %w", err)
	}
	sum := md5.New()
	var sink io.Writer = sum
	if len(req.Hashes) > 0 {
		sinks := []io.Writer{sum}
		for _, h := range req.Hashes {
			sinks = append(sinks, h)
		}
		sink = io.MultiWriter(sinks...)
	}
	body := io.TeeReader(&bodyReader{r: req.Body}, sink)

	if req.Size == 0 {
		if err := expectEOF(body); err != nil {
			return PutResult{}, err
		}
		return finish(sum.Sum(nil), req.ContentMD5, req.Verify)
	}

	n := p.Total()
	quorum := s.Quorum(p)
	live := s.LiveNodes(req.Region)
	if len(live) < quorum {
		return PutResult{}, &UnavailableError{Message: fmt.Sprintf(
			"need %d live storage nodes for a write (%d shards, write quorum %d), %d live", quorum, n, quorum, len(live))}
	}
	candidates := placement.Candidates(live, n)
	byID := make(map[string]membership.Member, len(live))
	for _, m := range live {
		byID[m.ID] = m
	}
	dataID := s.newID()
	picked, err := placement.Pick(dataID, candidates, min(n, len(candidates)))
	if err != nil {
		return PutResult{}, &UnavailableError{Message: fmt.Sprintf("place %d shards on %d live storage nodes", n, len(live)), Err: err}
	}
	// With fewer live nodes than shards, the shards left without a node are
	// missing from the start (nodeless placeholders); the quorum still holds
	// and repair writes them later.
	for len(picked) < n {
		picked = append(picked, placement.Node{})
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shardSize := p.ShardSize(req.Size)
	writers := s.openShards(ctx, dataID, picked, byID, shardSize)
	abortAll := func() {
		for _, w := range writers {
			if w != nil {
				w.Abort()
			}
		}
	}
	ioWriters := make([]io.Writer, n)
	for i, w := range writers {
		if w != nil {
			ioWriters[i] = w
		}
	}

	res, err := p.Encode(ctx, body, req.Size, ioWriters, quorum)
	if err != nil {
		abortAll()
		var bodyErr *BodyError
		switch {
		case errors.As(err, &bodyErr):
			return PutResult{}, bodyErr
		case errors.Is(err, io.ErrUnexpectedEOF):
			// The body ended before its declared length.
			return PutResult{}, &BodyError{Err: err}
		case errors.Is(err, erasure.ErrWriteQuorum):
			healthy := n - len(res.Failed)
			s.logShardFailures(dataID, picked, res.Failed)
			return PutResult{}, &UnavailableError{
				Message: fmt.Sprintf("only %d of %d shard writes succeeded, need %d", healthy, n, quorum),
				Err:     err,
			}
		}
		return PutResult{}, fmt.Errorf("encode object: %w", err)
	}
	for i := range res.Failed {
		if writers[i] != nil {
			writers[i].Abort()
			writers[i] = nil
		}
	}
	s.logShardFailures(dataID, picked, res.Failed)

	// Read to EOF: that is where the signed payload's hash is checked.
	if err := expectEOF(body); err != nil {
		abortAll()
		return PutResult{}, err
	}
	digest := sum.Sum(nil)
	if req.ContentMD5 != nil && !bytes.Equal(digest, req.ContentMD5) {
		abortAll()
		return PutResult{}, ErrBadDigest
	}
	if req.Verify != nil {
		if err := req.Verify(); err != nil {
			abortAll()
			return PutResult{}, err
		}
	}

	nodeIDs := s.commitShards(dataID, picked, writers)
	durable := 0
	for _, id := range nodeIDs {
		if id != "" {
			durable++
		}
	}
	if durable < quorum {
		return PutResult{}, &UnavailableError{
			Message: fmt.Sprintf("only %d of %d shards became durable, need %d", durable, n, quorum),
			Err:     erasure.ErrWriteQuorum,
		}
	}
	if durable < n {
		// The commit records them without a node and queues their repair.
		s.log.Warn("object written with missing shards, repair queued at commit",
			"data_id", dataID, "durable", durable, "shards", n)
	}
	out := PutResult{ETag: hex.EncodeToString(digest)}
	out.Segment = &metadatav1.Segment{
		DataId:       dataID,
		Size:         req.Size,
		DataShards:   int32(p.DataShards),
		ParityShards: int32(p.ParityShards),
		BlockSize:    int32(p.BlockSize),
		NodeIds:      nodeIDs,
		PartNumber:   max(req.PartNumber, 1),
		Etag:         out.ETag,
	}
	return out, nil
}

func finish(digest, want []byte, verify func() error) (PutResult, error) {
	if want != nil && !bytes.Equal(digest, want) {
		return PutResult{}, ErrBadDigest
	}
	if verify != nil {
		if err := verify(); err != nil {
			return PutResult{}, err
		}
	}
	return PutResult{ETag: hex.EncodeToString(digest)}, nil
}

// openShards opens one upload per picked node in parallel; a node that
// cannot be reached gets a nil writer (a failed shard from the start).
func (s *Store) openShards(ctx context.Context, dataID string, picked []placement.Node, byID map[string]membership.Member, size int64) []ShardWriter {
	writers := make([]ShardWriter, len(picked))
	var wg sync.WaitGroup
	for i, node := range picked {
		if node.ID == "" {
			continue // no live node for this shard
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.shards.PutShard(ctx, byID[node.ID].GRPCAddr, shardclient.ShardID(dataID, i), size)
			if err != nil {
				s.shardErrors.WithLabelValues("put").Inc()
				s.log.Warn("open shard upload", "data_id", dataID, "shard", i, "node_id", node.ID, "err", err)
				return
			}
			writers[i] = w
		}()
	}
	wg.Wait()
	return writers
}

// commitShards waits for every open upload's durable acknowledgement and
// returns the node ids holding each shard ("" for a shard not written).
func (s *Store) commitShards(dataID string, picked []placement.Node, writers []ShardWriter) []string {
	nodeIDs := make([]string, len(picked))
	var wg sync.WaitGroup
	for i, w := range writers {
		if w == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Commit(); err != nil {
				w.Abort()
				s.shardErrors.WithLabelValues("put").Inc()
				s.log.Warn("commit shard", "data_id", dataID, "shard", i, "node_id", picked[i].ID, "err", err)
				return
			}
			nodeIDs[i] = picked[i].ID
		}()
	}
	wg.Wait()
	return nodeIDs
}

func (s *Store) logShardFailures(dataID string, picked []placement.Node, failed map[int]error) {
	for i, err := range failed {
		if errors.Is(err, erasure.ErrNoWriter) {
			continue // already counted and logged when the upload did not open
		}
		s.shardErrors.WithLabelValues("put").Inc()
		s.log.Warn("write shard", "data_id", dataID, "shard", i, "node_id", picked[i].ID, "err", err)
	}
}

// Get writes bytes [offset, offset+length) of the object made of segs to w.
// It writes only verified bytes; an error after some bytes were written
// leaves the response short, and the caller must abort it.
func (s *Store) Get(ctx context.Context, segs []*metadatav1.Segment, offset, length int64, w io.Writer) error {
	end := offset + length
	var pos int64
	for _, seg := range segs {
		segStart, segEnd := pos, pos+seg.GetSize()
		pos = segEnd
		// An empty segment (an empty multipart part) has no shards.
		if length == 0 || seg.GetSize() == 0 || segEnd <= offset || segStart >= end {
			continue
		}
		lo, hi := max(offset, segStart)-segStart, min(end, segEnd)-segStart
		if err := s.getSegment(ctx, seg, lo, hi-lo, w); err != nil {
			return err
		}
	}
	if pos < end {
		return fmt.Errorf("read object: segments hold %d bytes, range ends at %d", pos, end)
	}
	return nil
}

func (s *Store) getSegment(ctx context.Context, seg *metadatav1.Segment, offset, length int64, w io.Writer) error {
	p := erasure.Params{
		DataShards:   int(seg.GetDataShards()),
		ParityShards: int(seg.GetParityShards()),
		BlockSize:    int(seg.GetBlockSize()),
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("read segment %s: %w", seg.GetDataId(), err)
	}
	if len(seg.GetNodeIds()) != p.Total() {
		return fmt.Errorf("read segment %s: %d node ids for %d shards", seg.GetDataId(), len(seg.GetNodeIds()), p.Total())
	}
	live := 0
	for _, id := range seg.GetNodeIds() {
		if _, ok := s.nodes.Lookup(membership.RoleStorageNode, id); id != "" && ok {
			live++
		}
	}
	if live < p.DataShards {
		return &UnavailableError{
			Message: fmt.Sprintf("the object needs %d of its %d shards, only %d of their storage nodes are live", p.DataShards, p.Total(), live),
			Err:     erasure.ErrNotEnoughShards,
		}
	}
	dataID := seg.GetDataId()
	open := func(ctx context.Context, index int, off, n int64) (io.ReadCloser, error) {
		nodeID := seg.GetNodeIds()[index]
		if nodeID == "" {
			return nil, fmt.Errorf("shard %d was never written", index)
		}
		m, ok := s.nodes.Lookup(membership.RoleStorageNode, nodeID)
		if !ok {
			return nil, fmt.Errorf("storage node %s is not live", nodeID)
		}
		return s.shards.GetShard(ctx, m.GRPCAddr, shardclient.ShardID(dataID, index), off, n)
	}
	err := p.Decode(ctx, seg.GetSize(), offset, length, open, w, erasure.DecodeOptions{
		BlockTimeout: s.cfg.BlockTimeout,
		OnShardError: func(index int, err error) {
			s.shardErrors.WithLabelValues("get").Inc()
			// The scanner finds and repairs the shard; the log names it.
			s.log.Warn("read shard failed, reconstructing; the scanner repairs the shard",
				"data_id", dataID, "shard", index, "node_id", seg.GetNodeIds()[index], "err", err)
		},
	})
	if errors.Is(err, erasure.ErrNotEnoughShards) {
		return &UnavailableError{
			Message: fmt.Sprintf("fewer than %d of the object's %d shards could be read", p.DataShards, p.Total()),
			Err:     err,
		}
	}
	return err
}

// bodyReader marks errors from the client's body as BodyError.
type bodyReader struct{ r io.Reader }

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &BodyError{Err: err}
	}
	return n, err
}

// expectEOF reads past the declared length: a verifying body reports a bad
// payload hash there, and any further byte means the body was too long.
func expectEOF(r io.Reader) error {
	var b [1]byte
	// Bounded: a reader that keeps returning (0, nil) is broken.
	for range 100 {
		n, err := r.Read(b[:])
		if n > 0 {
			return &BodyError{Err: ErrBodyTooLong}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var bodyErr *BodyError
			if errors.As(err, &bodyErr) {
				return bodyErr
			}
			return &BodyError{Err: err}
		}
	}
	return &BodyError{Err: io.ErrNoProgress}
}
