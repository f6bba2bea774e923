// Package orphans removes shards that no placement names: a gateway that
// crashed between writing shards and committing the object, a repair that
// crashed before swapping placement, an old copy a move could not delete,
// a garbage-collection delete that never reached a node that was down.
//
// ReconcileNode (payload {"node_id": "sn-3"}) pages through the node's
// shards; each one older than the grace period is looked up in metadata by
// its data id, and deleted unless some version or part places it, at that
// index, on this node. The grace period must exceed the time from a shard
// landing on a node to its commit (seconds in practice): a shard younger
// than it is never touched, so an upload still in flight keeps its shards.
package orphans

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
)

// TaskReconcileNode is the task type handled here.
const TaskReconcileNode = "ReconcileNode"

// Payload names the node to reconcile.
type Payload struct {
	NodeID string `json:"node_id"`
}

// pageSize is the shards listed, and data ids looked up, at a time.
const pageSize = 1000

// Shards lists and deletes a node's shards; *shards.Client satisfies it.
type Shards interface {
	ListShards(ctx context.Context, nodeID, after string, limit int) (*storagev1.ListShardsResponse, error)
	DeleteShard(ctx context.Context, nodeID, shardID string) (existed bool, err error)
}

// Locator looks data ids up; metadatav1.PlacementServiceClient satisfies it.
type Locator interface {
	LocateShards(ctx context.Context, in *metadatav1.LocateShardsRequest, opts ...grpc.CallOption) (*metadatav1.LocateShardsResponse, error)
}

// Options tune a Reconciler.
type Options struct {
	// Grace: shards younger than this are left alone.
	Grace time.Duration
	// CallTimeout bounds each metadata call.
	CallTimeout time.Duration
	// ReportOnly logs and counts orphans without deleting them (after a
	// database restore, until an operator has looked).
	ReportOnly bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Reconciler handles ReconcileNode tasks.
type Reconciler struct {
	shards  Shards
	locator Locator
	log     *slog.Logger
	opts    Options
	found   prometheus.Counter
	deleted prometheus.Counter
	bytes   prometheus.Counter
}

// New returns a Reconciler whose metrics go to reg.
func New(shards Shards, locator Locator, log *slog.Logger, reg prometheus.Registerer, opts Options) *Reconciler {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := promauto.With(reg)
	return &Reconciler{
		shards: shards, locator: locator, log: log, opts: opts,
		found: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_orphan_shards_found_total",
			Help: "Shards past the grace period that no placement names (deleted unless orphans.delete is off).",
		}),
		deleted: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_orphan_shards_deleted_total",
			Help: "Shards deleted because no placement named them after the grace period.",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_orphan_bytes_deleted_total",
			Help: "Bytes of orphan shards deleted.",
		}),
	}
}

// splitShardID parses "<data id>.<index>".
func splitShardID(id string) (dataID string, index int, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != id[i+1:] {
		return "", 0, false // placements only ever name "<data id>.<n>"
	}
	return id[:i], n, true
}

// Handle reconciles one node.
func (r *Reconciler) Handle(ctx context.Context, task *metadatav1.Task) error {
	var p Payload
	if err := json.Unmarshal(task.GetPayload(), &p); err != nil || p.NodeID == "" {
		return runner.Permanent(fmt.Errorf("payload: want {\"node_id\": ...}: %v", err))
	}
	cutoff := r.opts.Now().Add(-r.opts.Grace)
	after := ""
	var deleted, kept int
	for {
		page, err := r.shards.ListShards(ctx, p.NodeID, after, pageSize)
		if err != nil {
			return fmt.Errorf("list shards of %s: %w", p.NodeID, err)
		}
		var old []*storagev1.ShardEntry
		var ids []string
		seen := map[string]bool{}
		for _, e := range page.GetShards() {
			after = e.GetShardId()
			if time.Unix(0, e.GetModifiedUnixNano()).After(cutoff) {
				continue
			}
			dataID, _, ok := splitShardID(e.GetShardId())
			if !ok {
				r.log.Warn("shard id not of the form <data id>.<index>, left alone", "node_id", p.NodeID, "shard_id", e.GetShardId())
				continue
			}
			old = append(old, e)
			if !seen[dataID] {
				seen[dataID] = true
				ids = append(ids, dataID)
			}
		}
		placed, err := r.locate(ctx, task.GetRegion(), ids)
		if err != nil {
			return err
		}
		for _, e := range old {
			dataID, index, _ := splitShardID(e.GetShardId())
			if placed[dataID][index][p.NodeID] {
				kept++
				continue
			}
			r.found.Inc()
			if r.opts.ReportOnly {
				r.log.Warn("orphan shard found, kept (orphans.delete is off)", "node_id", p.NodeID, "shard_id", e.GetShardId(), "size", e.GetSize())
				continue
			}
			existed, err := r.shards.DeleteShard(ctx, p.NodeID, e.GetShardId())
			if err != nil {
				return fmt.Errorf("delete orphan %s on %s: %w", e.GetShardId(), p.NodeID, err)
			}
			if existed {
				deleted++
				r.deleted.Inc()
				r.bytes.Add(float64(e.GetSize()))
				r.log.Info("orphan shard deleted", "node_id", p.NodeID, "shard_id", e.GetShardId(), "size", e.GetSize())
			}
		}
		if !page.GetTruncated() || len(page.GetShards()) == 0 {
			break
		}
	}
	r.log.Info("node reconciled", "node_id", p.NodeID, "deleted", deleted, "kept", kept)
	return nil
}

// locate returns, per data id, per shard index, the nodes placing it.
func (r *Reconciler) locate(ctx context.Context, region string, ids []string) (map[string]map[int]map[string]bool, error) {
	out := map[string]map[int]map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	resp, err := r.locator.LocateShards(ctx, &metadatav1.LocateShardsRequest{Region: region, DataIds: ids})
	if err != nil {
		return nil, fmt.Errorf("locate %d data ids: %w", len(ids), err)
	}
	for _, l := range resp.GetLocations() {
		byIndex := out[l.GetDataId()]
		if byIndex == nil {
			byIndex = map[int]map[string]bool{}
			out[l.GetDataId()] = byIndex
		}
		for i, node := range l.GetNodeIds() {
			if byIndex[i] == nil {
				byIndex[i] = map[string]bool{}
			}
			byIndex[i][node] = true
		}
	}
	return out, nil
}
