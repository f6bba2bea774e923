// Package repair rebuilds and moves shards: RepairShard rebuilds a missing
// or corrupt shard from the surviving ones onto a healthy node; MoveShard
// copies a healthy shard to another node (rebalancing after a join, or
// draining a node), rebuilding it instead when the copy cannot be read.
//
// Task payload (JSON), one shard per task:
//
//	{"owner": {"bucket_id": 7, "key": "k", "version_id": "<uuid>"},   (or upload_id + part_number)
//	 "data_id": "...", "index": 3, "from_node": "sn-2", "to_node": "", "reason": "corrupt"}
//
// from_node is where the scanner saw the shard ("" for one never written);
// to_node, optional, is the node a move should go to.
//
// Steps, each safe to repeat: read the segment's current placement (done
// when the owner is gone or the shard is no longer on from_node); for a
// repair, check the shard again (done when it is healthy after all); write
// the new shard to the target; swap the placement in one metadata
// transaction that succeeds only while the shard is still on from_node;
// then delete the old copy. When the swap is refused the new copy is
// deleted again; a crash before the swap leaves a copy no placement names,
// which orphan reconciliation removes after its grace period.
package repair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/placement"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Task types handled here.
const (
	TaskRepairShard = "RepairShard"
	TaskMoveShard   = "MoveShard"
)

// Types lists the task types Handle serves.
func Types() []string { return []string{TaskRepairShard, TaskMoveShard} }

// Reasons a shard is repaired or moved; the metrics' reason label.
const (
	ReasonMissing   = "missing"   // the node does not hold it, or it was never written
	ReasonCorrupt   = "corrupt"   // a block checksum does not match
	ReasonNodeLost  = "node_lost" // its node has been out of the cluster too long
	ReasonDrain     = "drain"     // an operator drains its node
	ReasonRebalance = "rebalance" // placement over the live nodes ranks another node first
)

// Owner names the row holding a segment.
type Owner struct {
	BucketID   int64  `json:"bucket_id"`
	Key        string `json:"key"`
	VersionID  string `json:"version_id,omitempty"`
	UploadID   string `json:"upload_id,omitempty"`
	PartNumber int32  `json:"part_number,omitempty"`
}

// OwnerFromProto converts a placement owner.
func OwnerFromProto(o *metadatav1.SegmentOwner) Owner {
	return Owner{BucketID: o.GetBucketId(), Key: o.GetKey(), VersionID: o.GetVersionId(), UploadID: o.GetUploadId(), PartNumber: o.GetPartNumber()}
}

func (o Owner) proto() *metadatav1.SegmentOwner {
	return &metadatav1.SegmentOwner{BucketId: o.BucketID, Key: o.Key, VersionId: o.VersionID, UploadId: o.UploadID, PartNumber: o.PartNumber}
}

// Payload is the payload of both task types.
type Payload struct {
	Owner    Owner  `json:"owner"`
	DataID   string `json:"data_id"`
	Index    int    `json:"index"`
	FromNode string `json:"from_node"`
	ToNode   string `json:"to_node,omitempty"`
	Reason   string `json:"reason"`
}

// DedupKey is the task dedup key of a shard: one repair or move of a shard
// is pending at a time, however often the scanner sees it.
func DedupKey(dataID string, index int) string { return "shard:" + shardclient.ShardID(dataID, index) }

// ParsePayload decodes and checks a payload; errors are permanent.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Payload{}, fmt.Errorf("decode payload: %w", err)
	}
	switch {
	case p.DataID == "":
		return Payload{}, errors.New("payload: no data id")
	case p.Index < 0 || p.Index >= erasure.MaxShards:
		return Payload{}, fmt.Errorf("payload: shard index %d", p.Index)
	case p.Owner.BucketID <= 0 || (p.Owner.VersionID == "") == (p.Owner.UploadID == ""):
		return Payload{}, errors.New("payload: owner is neither a version nor a part")
	}
	return p, nil
}

// Shards reaches storage nodes by id; *shards.Client satisfies it.
type Shards interface {
	GetShard(ctx context.Context, nodeID, shardID string, offset, length int64) (io.ReadCloser, error)
	PutShard(ctx context.Context, nodeID, shardID string, size int64) (shardclient.Writer, error)
	DeleteShard(ctx context.Context, nodeID, shardID string) (existed bool, err error)
	StatShard(ctx context.Context, nodeID, shardID string, verify bool) (*storagev1.StatShardResponse, error)
}

// Nodes is the live view of storage nodes; *membership.View satisfies it.
type Nodes interface {
	Members(role, region string) []membership.Member
}

// Placement reads and swaps shard placement; metadatav1.PlacementServiceClient
// satisfies it.
type Placement interface {
	GetSegment(ctx context.Context, in *metadatav1.GetSegmentRequest, opts ...grpc.CallOption) (*metadatav1.GetSegmentResponse, error)
	ReplaceShard(ctx context.Context, in *metadatav1.ReplaceShardRequest, opts ...grpc.CallOption) (*metadatav1.ReplaceShardResponse, error)
}

// Options tune a Repairer.
type Options struct {
	// CallTimeout bounds each metadata call.
	CallTimeout time.Duration
	// BlockTimeout bounds the wait for one block of a surviving shard.
	BlockTimeout time.Duration
	// MoveBytesPerSecond caps the bytes this worker writes for moves
	// (rebalancing and drains, not repairs); 0 is no cap.
	MoveBytesPerSecond int64
}

// Repairer handles RepairShard and MoveShard tasks.
type Repairer struct {
	shards    Shards
	nodes     Nodes
	placement Placement
	log       *slog.Logger
	opts      Options
	limiter   *rate.Limiter // nil: no cap

	repaired *prometheus.CounterVec
	moved    *prometheus.CounterVec
	bytes    *prometheus.CounterVec
}

// New returns a Repairer whose metrics go to reg.
func New(shards Shards, nodes Nodes, pl Placement, log *slog.Logger, reg prometheus.Registerer, opts Options) *Repairer {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	f := promauto.With(reg)
	r := &Repairer{
		shards: shards, nodes: nodes, placement: pl, log: log, opts: opts,
		repaired: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_worker_shard_repairs_total",
			Help: "Shards rebuilt from the surviving shards onto a healthy node, by why they needed it.",
		}, []string{"reason"}),
		moved: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_worker_rebalance_moves_total",
			Help: "Shards moved to another node, by why (rebalance, drain).",
		}, []string{"reason"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_worker_shard_bytes_written_total",
			Help: "Bytes of shards written by repairs and moves.",
		}, []string{"type"}),
	}
	if opts.MoveBytesPerSecond > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(opts.MoveBytesPerSecond), int(min(opts.MoveBytesPerSecond, 1<<20)))
	}
	return r
}

// Handle runs one RepairShard or MoveShard task.
func (r *Repairer) Handle(ctx context.Context, task *metadatav1.Task) error {
	p, err := ParsePayload(task.GetPayload())
	if err != nil {
		return runner.Permanent(err)
	}
	region := task.GetRegion()
	seg, err := r.segment(ctx, region, p)
	if err != nil || seg == nil {
		return err
	}
	cur := seg.GetNodeIds()[p.Index]
	shardID := shardclient.ShardID(p.DataID, p.Index)
	if cur != p.FromNode {
		r.log.Debug("shard already moved on", "shard_id", shardID, "node_id", cur)
		return nil
	}
	live := r.nodes.Members(membership.RoleStorageNode, region)
	move := task.GetType() == TaskMoveShard
	if !move && cur != "" {
		ok, err := r.healthy(ctx, live, cur, shardID)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	target, err := r.target(seg, p, live, move)
	if err != nil {
		return err
	}
	params := erasure.Params{DataShards: int(seg.GetDataShards()), ParityShards: int(seg.GetParityShards()), BlockSize: int(seg.GetBlockSize())}
	size := params.ShardSize(seg.GetSize())
	w, err := r.shards.PutShard(ctx, target, shardID, size)
	if err != nil {
		return fmt.Errorf("open shard %s on %s: %w", shardID, target, err)
	}
	if err := r.write(ctx, move, seg, p, params, w); err != nil {
		w.Abort()
		return err
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("write shard %s on %s: %w", shardID, target, err)
	}
	kind := "repair"
	if move {
		kind = "move"
	}
	r.bytes.WithLabelValues(kind).Add(float64(size))

	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	resp, err := r.placement.ReplaceShard(cctx, &metadatav1.ReplaceShardRequest{
		Region: region, Owner: p.Owner.proto(), DataId: p.DataID, Index: int32(p.Index), FromNodeId: cur, ToNodeId: target,
	})
	cancel()
	if err != nil {
		// Unknown outcome: the next attempt sees either placement. Its copy
		// on target, if the swap did not happen, is an orphan.
		return fmt.Errorf("replace shard %s: %w", shardID, err)
	}
	if !resp.GetReplaced() {
		r.log.Info("placement changed under a repair, dropping the new copy", "shard_id", shardID, "node_id", target)
		if _, err := r.shards.DeleteShard(ctx, target, shardID); err != nil {
			r.log.Warn("delete unused shard copy", "shard_id", shardID, "node_id", target, "err", err)
		}
		return nil
	}
	if move {
		r.moved.WithLabelValues(p.Reason).Inc()
	} else {
		r.repaired.WithLabelValues(p.Reason).Inc()
	}
	r.log.Info("shard placed", "type", task.GetType(), "reason", p.Reason, "shard_id", shardID, "from_node", cur, "node_id", target)
	if cur != "" {
		// The old copy is no longer named by any placement: orphan
		// reconciliation removes it if this delete does not reach it.
		if _, err := r.shards.DeleteShard(ctx, cur, shardID); err != nil {
			r.log.Info("old shard copy left for orphan reconciliation", "shard_id", shardID, "node_id", cur, "err", err)
		}
	}
	return nil
}

// segment returns the current segment, nil when its owner is gone.
func (r *Repairer) segment(ctx context.Context, region string, p Payload) (*metadatav1.Segment, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	resp, err := r.placement.GetSegment(ctx, &metadatav1.GetSegmentRequest{Region: region, Owner: p.Owner.proto(), DataId: p.DataID})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return nil, nil
	case codes.InvalidArgument:
		return nil, runner.Permanent(fmt.Errorf("read segment %s: %w", p.DataID, err))
	default:
		return nil, fmt.Errorf("read segment %s: %w", p.DataID, err)
	}
	seg := resp.GetSegment().GetSegment()
	if p.Index >= len(seg.GetNodeIds()) {
		return nil, runner.Permanent(fmt.Errorf("shard index %d of %s: the segment has %d shards", p.Index, p.DataID, len(seg.GetNodeIds())))
	}
	return seg, nil
}

// healthy reports whether node holds a verified copy of the shard. A node
// that is up but cannot answer is an error: the task is retried rather than
// rebuilding a shard that may be fine.
func (r *Repairer) healthy(ctx context.Context, live []membership.Member, node, shardID string) (bool, error) {
	if !slices.ContainsFunc(live, func(m membership.Member) bool { return m.ID == node }) {
		return false, nil
	}
	_, err := r.shards.StatShard(ctx, node, shardID, true)
	switch status.Code(err) {
	case codes.OK:
		return true, nil
	case codes.NotFound, codes.DataLoss:
		return false, nil
	}
	return false, fmt.Errorf("check shard %s on %s before repairing it: %w", shardID, node, err)
}

// target picks the node for the new copy: to_node when still usable, else
// the node placement ranks first for the segment among those holding none
// of its shards, so the rebalancer finds nothing to move afterwards. A move
// never goes to a draining node (it would only have to move again); a
// repair may, when nothing else is free, since redundancy comes first.
func (r *Repairer) target(seg *metadatav1.Segment, p Payload, live []membership.Member, move bool) (string, error) {
	holders := map[string]bool{}
	for _, id := range seg.GetNodeIds() {
		if id != "" {
			holders[id] = true
		}
	}
	cands := placement.Candidates(live, len(seg.GetNodeIds()))
	if move {
		draining := map[string]bool{}
		for _, m := range live {
			draining[m.ID] = m.Draining
		}
		cands = slices.DeleteFunc(cands, func(n placement.Node) bool { return draining[n.ID] })
	}
	if p.ToNode != "" && !holders[p.ToNode] && slices.ContainsFunc(cands, func(n placement.Node) bool { return n.ID == p.ToNode }) {
		return p.ToNode, nil
	}
	ranked, err := placement.Pick(p.DataID, cands, min(len(seg.GetNodeIds()), len(cands)))
	if err != nil {
		return "", fmt.Errorf("rank nodes for shard %d of %s: %w", p.Index, p.DataID, err)
	}
	for _, n := range ranked {
		if !holders[n.ID] {
			return n.ID, nil
		}
	}
	rest := slices.DeleteFunc(cands, func(n placement.Node) bool { return holders[n.ID] })
	if len(rest) == 0 {
		return "", fmt.Errorf("no live storage node free to take shard %d of %s (%d live, %d holding shards)",
			p.Index, p.DataID, len(live), len(holders))
	}
	picked, err := placement.Pick(p.DataID, rest, 1)
	if err != nil {
		return "", fmt.Errorf("pick a node for shard %d of %s: %w", p.Index, p.DataID, err)
	}
	return picked[0].ID, nil
}

// write streams the shard's bytes to w: for a move a straight copy from its
// current node when that reads cleanly, else a rebuild from the others.
func (r *Repairer) write(ctx context.Context, move bool, seg *metadatav1.Segment, p Payload, params erasure.Params, w io.Writer) error {
	shardID := shardclient.ShardID(p.DataID, p.Index)
	if move {
		w = &limitedWriter{ctx: ctx, w: w, lim: r.limiter}
	}
	// Nothing may reach w before the source is known to read: a failed copy
	// falls back to a rebuild into the same writer only if it wrote nothing.
	if move && p.FromNode != "" {
		err := r.copyShard(ctx, p.FromNode, shardID, params.ShardSize(seg.GetSize()), w)
		if err == nil {
			return nil
		}
		var partial partialCopyError
		if errors.As(err, &partial) {
			return err
		}
		r.log.Info("copy of shard failed, rebuilding it instead", "shard_id", shardID, "node_id", p.FromNode, "err", err)
	}
	nodes := slices.Clone(seg.GetNodeIds())
	open := func(ctx context.Context, i int, off, length int64) (io.ReadCloser, error) {
		if nodes[i] == "" {
			return nil, fmt.Errorf("shard %d was never written", i)
		}
		return r.shards.GetShard(ctx, nodes[i], shardclient.ShardID(p.DataID, i), off, length)
	}
	var failed []string
	err := params.Reconstruct(ctx, seg.GetSize(), p.Index, open, w, erasure.DecodeOptions{
		BlockTimeout: r.opts.BlockTimeout,
		OnShardError: func(i int, err error) { failed = append(failed, strconv.Itoa(i)+": "+err.Error()) },
	})
	if err != nil {
		return fmt.Errorf("rebuild shard %s: %w (failed shards: %v)", shardID, err, failed)
	}
	return nil
}

// partialCopyError is a copy that failed after writing some bytes.
type partialCopyError struct{ err error }

func (e partialCopyError) Error() string { return e.err.Error() }
func (e partialCopyError) Unwrap() error { return e.err }

// copyShard copies a whole shard from node to w. The node verifies every
// block it sends, so a corrupt copy fails rather than spreads.
func (r *Repairer) copyShard(ctx context.Context, node, shardID string, size int64, w io.Writer) error {
	if size == 0 {
		return nil
	}
	rc, err := r.shards.GetShard(ctx, node, shardID, 0, size)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	// Read the first block before writing anything: most failures (missing
	// shard, node down) show there and still allow a rebuild.
	first := make([]byte, min(size, 1<<20))
	if _, err := io.ReadFull(rc, first); err != nil {
		return fmt.Errorf("read shard %s on %s: %w", shardID, node, err)
	}
	if _, err := w.Write(first); err != nil {
		return partialCopyError{err}
	}
	if _, err := io.Copy(w, rc); err != nil {
		return partialCopyError{fmt.Errorf("copy shard %s from %s: %w", shardID, node, err)}
	}
	return nil
}

// limitedWriter waits for the move rate limiter before each write.
type limitedWriter struct {
	ctx context.Context
	w   io.Writer
	lim *rate.Limiter
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.lim == nil {
		return l.w.Write(p)
	}
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+l.lim.Burst())]
		if err := l.lim.WaitN(l.ctx, len(chunk)); err != nil {
			return n, err
		}
		m, err := l.w.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
