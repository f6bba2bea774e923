// Package scanner walks every segment of a region, one worker at a time
// (elected through etcd), and queues the work that keeps objects at full
// redundancy: RepairShard for a shard that is missing, corrupt (the storage
// node re-reads and checks every block of it) or on a node gone longer than
// node-lost-after; MoveShard for a shard on a draining node, or on a node
// that placement over the live nodes no longer ranks among the segment's
// (a node joined). At the end of every pass it queues a ReconcileNode task
// per live node, which removes shards no placement names, and aborts
// multipart uploads idle longer than multipart.abort-idle-after.
//
// Its cursor is saved in etcd, so a new leader resumes where the last one
// stopped. Queued tasks carry a dedup key per shard: seeing a shard again
// before its task ran queues nothing new.
package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/placement"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/worker/internal/orphans"
	"github.com/anvil-store/anvil/services/worker/internal/repair"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Config tunes the scanner.
type Config struct {
	Enabled       bool
	Rate          float64
	PageSize      int
	Interval      time.Duration
	Verify        bool
	NodeLostAfter time.Duration
	Rebalance     bool
	// AbortIdleUploadsAfter: 0 keeps idle multipart uploads forever.
	AbortIdleUploadsAfter time.Duration
}

// RegisterFlags registers the scanner.* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "scanner.enabled", true, "take part in the election of the region's scanner")
	fs.Float64Var(&c.Rate, "scanner.rate", 200, "segments checked per second at most")
	fs.IntVar(&c.PageSize, "scanner.page-size", 100, "objects read from metadata per page")
	fs.DurationVar(&c.Interval, "scanner.interval", time.Hour, "pause between the end of a pass and the start of the next")
	fs.BoolVar(&c.Verify, "scanner.verify", true, "have storage nodes read and check every block of every shard (else only its presence)")
	fs.DurationVar(&c.NodeLostAfter, "scanner.node-lost-after", 10*time.Minute, "a storage node out of the cluster this long has its shards rebuilt elsewhere")
	fs.BoolVar(&c.Rebalance, "scanner.rebalance", true, "move shards to the nodes placement ranks first (after joins)")
	fs.DurationVar(&c.AbortIdleUploadsAfter, "multipart.abort-idle-after", 7*24*time.Hour, "abort multipart uploads with no part uploaded for this long, once per scanner pass (0: never)")
}

// Validate checks the settings.
func (c *Config) Validate() error {
	switch {
	case c.Rate <= 0:
		return fmt.Errorf("scanner.rate %v: want > 0", c.Rate)
	case c.PageSize < 1 || c.PageSize > 1000:
		return fmt.Errorf("scanner.page-size %d: want 1 to 1000", c.PageSize)
	case c.Interval < 0:
		return fmt.Errorf("scanner.interval %s: want >= 0", c.Interval)
	case c.NodeLostAfter < time.Second:
		return fmt.Errorf("scanner.node-lost-after %s: want at least 1s", c.NodeLostAfter)
	case c.AbortIdleUploadsAfter < 0 || (c.AbortIdleUploadsAfter > 0 && c.AbortIdleUploadsAfter < time.Second):
		return fmt.Errorf("multipart.abort-idle-after %s: want 0 (never) or at least 1s", c.AbortIdleUploadsAfter)
	}
	return nil
}

// Nodes is the live view of storage nodes; *membership.View satisfies it.
type Nodes interface {
	Members(role, region string) []membership.Member
}

// Stater checks shards on nodes; *shards.Client satisfies it.
type Stater interface {
	StatShard(ctx context.Context, nodeID, shardID string, verify bool) (*storagev1.StatShardResponse, error)
}

// Segments pages through placement and aborts idle uploads;
// metadatav1.PlacementServiceClient satisfies it.
type Segments interface {
	ScanSegments(ctx context.Context, in *metadatav1.ScanSegmentsRequest, opts ...grpc.CallOption) (*metadatav1.ScanSegmentsResponse, error)
	AbortIdleUploads(ctx context.Context, in *metadatav1.AbortIdleUploadsRequest, opts ...grpc.CallOption) (*metadatav1.AbortIdleUploadsResponse, error)
}

// Enqueuer queues tasks; metadatav1.TaskServiceClient satisfies it.
type Enqueuer interface {
	EnqueueTask(ctx context.Context, in *metadatav1.EnqueueTaskRequest, opts ...grpc.CallOption) (*metadatav1.EnqueueTaskResponse, error)
}

// Task priorities: repairs restore redundancy and go first.
const (
	priorityRepair    = 10
	priorityMove      = 1
	priorityReconcile = 0
	callTimeout       = 10 * time.Second
	verifyTimeout     = 5 * time.Minute
	cursorSaveEvery   = 5 * time.Second
)

// Scanner is one worker's part in the region's scanner.
type Scanner struct {
	cfg      Config
	region   string
	id       string
	cli      *clientv3.Client
	cluster  string
	nodes    Nodes
	stater   Stater
	segments Segments
	tasks    Enqueuer
	log      *slog.Logger
	now      func() time.Time

	absentSince map[string]time.Time // storage nodes seen missing from membership

	leader   prometheus.Gauge
	checked  prometheus.Counter
	found    *prometheus.CounterVec
	queued   *prometheus.CounterVec
	passes   prometheus.Counter
	lastPass prometheus.Gauge

	abortedUploads prometheus.Counter
}

// New returns a Scanner for region; id names this worker in the election.
func New(cfg Config, region, id string, cli *clientv3.Client, cluster string, nodes Nodes, stater Stater,
	segments Segments, tasks Enqueuer, log *slog.Logger, reg prometheus.Registerer) *Scanner {
	f := promauto.With(reg)
	return &Scanner{
		cfg: cfg, region: region, id: id, cli: cli, cluster: cluster, nodes: nodes, stater: stater,
		segments: segments, tasks: tasks, log: log, now: time.Now, absentSince: map[string]time.Time{},
		leader: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_worker_scanner_leader",
			Help: "1 while this worker is its region's scanner.",
		}),
		checked: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_scanner_segments_checked_total",
			Help: "Segments whose shards the scanner checked.",
		}),
		found: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_worker_scanner_shards_found_total",
			Help: "Unhealthy shards the scanner found, by state (missing, corrupt, node_lost).",
		}, []string{"state"}),
		queued: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_worker_scanner_tasks_queued_total",
			Help: "Tasks the scanner queued, by type.",
		}, []string{"type"}),
		passes: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_scanner_passes_total",
			Help: "Complete passes over the region's segments.",
		}),
		lastPass: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_worker_scanner_last_pass_timestamp_seconds",
			Help: "When the last complete pass ended (Unix time).",
		}),
		abortedUploads: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_idle_uploads_aborted_total",
			Help: "Multipart uploads aborted for being idle longer than multipart.abort-idle-after.",
		}),
	}
}

func (s *Scanner) electionKey() string {
	return "/anvil/" + s.cluster + "/scanner/" + s.region + "/leader"
}
func (s *Scanner) cursorKey() string {
	return "/anvil/" + s.cluster + "/scanner/" + s.region + "/cursor"
}

// Run campaigns for the region's scanner and scans while elected, until ctx
// is done.
func (s *Scanner) Run(ctx context.Context) error {
	if !s.cfg.Enabled {
		return nil
	}
	for ctx.Err() == nil {
		if err := s.lead(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scanner lost its lead or could not campaign", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// lead wins the election, then scans until the session ends or ctx is done.
func (s *Scanner) lead(ctx context.Context) error {
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(10), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open election session: %w", err)
	}
	defer func() { _ = sess.Close() }()
	e := concurrency.NewElection(sess, s.electionKey())
	if err := e.Campaign(ctx, s.id); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	s.log.Info("elected region scanner", "region", s.region)
	s.leader.Set(1)
	defer s.leader.Set(0)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	err = s.scan(lctx)
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	_ = e.Resign(rctx)
	rcancel()
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("election session ended")
	}
	return err
}

// scan runs passes until ctx is done.
func (s *Scanner) scan(ctx context.Context) error {
	lim := rate.NewLimiter(rate.Limit(s.cfg.Rate), max(1, int(s.cfg.Rate)))
	cursor, err := s.loadCursor(ctx)
	if err != nil {
		return err
	}
	saved := s.now()
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		page, err := s.segments.ScanSegments(cctx, &metadatav1.ScanSegmentsRequest{Region: s.region, Cursor: cursor, Limit: int32(s.cfg.PageSize)})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("scanner cannot read segments", "err", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		for _, ps := range page.GetSegments() {
			if err := lim.Wait(ctx); err != nil {
				return nil
			}
			s.check(ctx, ps)
		}
		cursor = page.GetNextCursor()
		if page.GetDone() {
			s.reconcileNodes(ctx)
			s.abortIdleUploads(ctx)
			s.passes.Inc()
			s.lastPass.Set(float64(s.now().Unix()))
			s.log.Info("scanner pass done", "region", s.region)
			cursor = ""
		}
		if page.GetDone() || s.now().Sub(saved) >= cursorSaveEvery {
			if err := s.saveCursor(ctx, cursor); err != nil {
				return err
			}
			saved = s.now()
		}
		if page.GetDone() && !sleep(ctx, s.cfg.Interval) {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type progress struct {
	Cursor string `json:"cursor"`
}

func (s *Scanner) loadCursor(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.cursorKey())
	if err != nil {
		return "", fmt.Errorf("load scanner cursor: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	var p progress
	if err := json.Unmarshal(resp.Kvs[0].Value, &p); err != nil {
		s.log.Warn("scanner cursor unreadable, starting over", "err", err)
		return "", nil
	}
	return p.Cursor, nil
}

func (s *Scanner) saveCursor(ctx context.Context, cursor string) error {
	b, err := json.Marshal(progress{Cursor: cursor})
	if err != nil {
		return fmt.Errorf("encode scanner cursor: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := s.cli.Put(ctx, s.cursorKey(), string(b)); err != nil {
		return fmt.Errorf("save scanner cursor: %w", err)
	}
	return nil
}

// check looks at every shard of a segment and queues what it needs.
func (s *Scanner) check(ctx context.Context, ps *metadatav1.PlacedSegment) {
	s.checked.Inc()
	seg := ps.GetSegment()
	owner := repair.OwnerFromProto(ps.GetOwner())
	live := s.nodes.Members(membership.RoleStorageNode, s.region)
	byID := map[string]membership.Member{}
	for _, m := range live {
		byID[m.ID] = m
		delete(s.absentSince, m.ID)
	}
	healthy := true
	var draining []int
	for i, node := range seg.GetNodeIds() {
		shardID := shardclient.ShardID(seg.GetDataId(), i)
		state := ""
		m, up := byID[node]
		switch {
		case node == "":
			state = repair.ReasonMissing
		case !up:
			since, seen := s.absentSince[node]
			if !seen {
				s.absentSince[node] = s.now()
			}
			healthy = false
			if seen && s.now().Sub(since) >= s.cfg.NodeLostAfter {
				state = repair.ReasonNodeLost
			}
		default:
			timeout := callTimeout
			if s.cfg.Verify {
				timeout = verifyTimeout // the node reads the whole shard
			}
			cctx, cancel := context.WithTimeout(ctx, timeout)
			_, err := s.stater.StatShard(cctx, node, shardID, s.cfg.Verify)
			cancel()
			switch status.Code(err) {
			case codes.OK:
				if m.Draining {
					draining = append(draining, i)
				}
			case codes.NotFound:
				state = repair.ReasonMissing
			case codes.DataLoss:
				state = repair.ReasonCorrupt
			default:
				healthy = false
				if ctx.Err() == nil {
					s.log.Info("scanner cannot check shard", "shard_id", shardID, "node_id", node, "err", err)
				}
			}
		}
		if state == "" {
			continue
		}
		healthy = false
		s.found.WithLabelValues(state).Inc()
		s.enqueue(ctx, repair.TaskRepairShard, priorityRepair, repair.Payload{
			Owner: owner, DataID: seg.GetDataId(), Index: i, FromNode: node, Reason: state,
		})
	}
	for _, i := range draining {
		s.enqueue(ctx, repair.TaskMoveShard, priorityMove, repair.Payload{
			Owner: owner, DataID: seg.GetDataId(), Index: i, FromNode: seg.GetNodeIds()[i], Reason: repair.ReasonDrain,
		})
	}
	if healthy && len(draining) == 0 && s.cfg.Rebalance {
		s.rebalance(ctx, owner, seg, live)
	}
}

// rebalance queues moves from nodes placement no longer ranks among the
// segment's to the ones it ranks there instead.
func (s *Scanner) rebalance(ctx context.Context, owner repair.Owner, seg *metadatav1.Segment, live []membership.Member) {
	n := len(seg.GetNodeIds())
	cands := placement.Candidates(live, n)
	if len(cands) < n {
		return
	}
	want, err := placement.Pick(seg.GetDataId(), cands, n)
	if err != nil {
		return
	}
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.ID] = true
	}
	var to []string
	for _, w := range want {
		if !slices.Contains(seg.GetNodeIds(), w.ID) {
			to = append(to, w.ID)
		}
	}
	for i, node := range seg.GetNodeIds() {
		if len(to) == 0 {
			return
		}
		if wanted[node] {
			continue
		}
		s.enqueue(ctx, repair.TaskMoveShard, priorityMove, repair.Payload{
			Owner: owner, DataID: seg.GetDataId(), Index: i, FromNode: node, ToNode: to[0], Reason: repair.ReasonRebalance,
		})
		to = to[1:]
	}
}

// reconcileNodes queues orphan reconciliation of every live node.
func (s *Scanner) reconcileNodes(ctx context.Context) {
	for _, m := range s.nodes.Members(membership.RoleStorageNode, s.region) {
		b, err := json.Marshal(orphans.Payload{NodeID: m.ID})
		if err != nil {
			continue
		}
		s.enqueueRaw(ctx, orphans.TaskReconcileNode, priorityReconcile, b, "reconcile:"+m.ID)
	}
}

// abortIdleUploads aborts the region's idle multipart uploads, a page at a
// time.
func (s *Scanner) abortIdleUploads(ctx context.Context) {
	if s.cfg.AbortIdleUploadsAfter == 0 {
		return
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := s.segments.AbortIdleUploads(cctx, &metadatav1.AbortIdleUploadsRequest{
			Region: s.region, IdleSeconds: int64(s.cfg.AbortIdleUploadsAfter / time.Second), Limit: 100,
		})
		cancel()
		if err != nil {
			s.log.Warn("scanner cannot abort idle uploads", "err", err)
			return
		}
		s.abortedUploads.Add(float64(resp.GetAborted()))
		if resp.GetAborted() < 100 {
			return
		}
	}
}

func (s *Scanner) enqueue(ctx context.Context, typ string, priority int32, p repair.Payload) {
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	s.enqueueRaw(ctx, typ, priority, b, repair.DedupKey(p.DataID, p.Index))
}

func (s *Scanner) enqueueRaw(ctx context.Context, typ string, priority int32, payload []byte, dedup string) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := s.tasks.EnqueueTask(ctx, &metadatav1.EnqueueTaskRequest{
		Type: typ, Region: s.region, Payload: payload, Priority: priority, DedupKey: dedup,
	})
	if err != nil {
		// The next pass sees the same shard again.
		s.log.Warn("scanner cannot queue task", "type", typ, "err", err)
		return
	}
	s.queued.WithLabelValues(typ).Inc()
}
