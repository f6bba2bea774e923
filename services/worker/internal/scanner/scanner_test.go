package scanner

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/placement"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/worker/internal/repair"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	testRegion = "r1"
	testDataID = "seg-0001"
	nShards    = 6
)

type fakeNodes struct {
	mu      sync.Mutex
	members []membership.Member
}

func (f *fakeNodes) Members(role, region string) []membership.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []membership.Member
	for _, m := range f.members {
		if m.Role == role && m.Region == region {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeNodes) set(ms []membership.Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members = slices.Clone(ms)
}

// fakeStater answers per "node/shard"; OK when not listed.
type fakeStater struct {
	mu    sync.Mutex
	codes map[string]codes.Code
	calls []string // "node/shard"
	verif []bool
}

func (f *fakeStater) StatShard(_ context.Context, node, shard string, verify bool) (*storagev1.StatShardResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, node+"/"+shard)
	f.verif = append(f.verif, verify)
	if c, ok := f.codes[node+"/"+shard]; ok && c != codes.OK {
		return nil, status.Error(c, c.String())
	}
	return &storagev1.StatShardResponse{Size: 1024}, nil
}

type fakeEnqueuer struct {
	mu   sync.Mutex
	reqs []*metadatav1.EnqueueTaskRequest
	err  error
}

func (f *fakeEnqueuer) EnqueueTask(_ context.Context, in *metadatav1.EnqueueTaskRequest, _ ...grpc.CallOption) (*metadatav1.EnqueueTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, in)
	if f.err != nil {
		return nil, f.err
	}
	return &metadatav1.EnqueueTaskResponse{}, nil
}

func (f *fakeEnqueuer) take() []*metadatav1.EnqueueTaskRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

type fixture struct {
	nodes  *fakeNodes
	stater *fakeStater
	tasks  *fakeEnqueuer
	s      *Scanner
	clock  time.Time
	live   []membership.Member // all eight storage nodes, none draining
	want   []string            // placement's pick for testDataID over live
	others []string            // live nodes placement does not pick
	owner  *metadatav1.SegmentOwner
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	fx := &fixture{
		nodes: &fakeNodes{}, stater: &fakeStater{codes: map[string]codes.Code{}}, tasks: &fakeEnqueuer{},
		clock: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		owner: &metadatav1.SegmentOwner{BucketId: 7, Key: "photos/cat.jpg", VersionId: "v-1"},
	}
	zones := []string{"a", "b", "c"}
	for n := 1; n <= 8; n++ {
		fx.live = append(fx.live, membership.Member{
			ID: fmt.Sprintf("sn-%d", n), Role: membership.RoleStorageNode, Region: testRegion,
			Zone: zones[n%3], CapacityBytes: uint64(n) << 40,
		})
	}
	all := slices.Clone(fx.live)
	all = append(all,
		membership.Member{ID: "gw-1", Role: membership.RoleGateway, Region: testRegion},
		membership.Member{ID: "sn-far", Role: membership.RoleStorageNode, Region: "r2", Zone: "a", CapacityBytes: 1 << 50},
	)
	fx.nodes.set(all)
	fx.want = pick(t, fx.live)
	for _, m := range fx.live {
		if !slices.Contains(fx.want, m.ID) {
			fx.others = append(fx.others, m.ID)
		}
	}
	if len(fx.others) != 2 {
		t.Fatalf("placement picked %v of 8 nodes", fx.want)
	}
	fx.s = New(cfg, testRegion, "worker-1", nil, "c1", fx.nodes, fx.stater, nil, fx.tasks,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	fx.s.now = func() time.Time { return fx.clock }
	return fx
}

// pick is placement's choice of nodes for testDataID over live.
func pick(t *testing.T, live []membership.Member) []string {
	t.Helper()
	want, err := placement.Pick(testDataID, placement.Candidates(live, nShards), nShards)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(want))
	for i, n := range want {
		ids[i] = n.ID
	}
	return ids
}

func defaultConfig() Config {
	return Config{Enabled: true, Rate: 100, PageSize: 100, Verify: true, NodeLostAfter: 10 * time.Minute, Rebalance: true}
}

func (fx *fixture) segment(nodeIDs []string) *metadatav1.PlacedSegment {
	return &metadatav1.PlacedSegment{
		Owner: fx.owner,
		Segment: &metadatav1.Segment{
			DataId: testDataID, Size: 1 << 20, DataShards: 4, ParityShards: 2, BlockSize: 256 << 10,
			NodeIds: slices.Clone(nodeIDs),
		},
	}
}

// mismatched is the wanted placement with indexes 1 and 4 on the two nodes
// placement does not pick.
func (fx *fixture) mismatched() []string {
	ids := slices.Clone(fx.want)
	ids[1], ids[4] = fx.others[0], fx.others[1]
	return ids
}

func shardKey(node string, index int) string {
	return node + "/" + shardclient.ShardID(testDataID, index)
}

// task is a queued task, decoded.
type task struct {
	typ      string
	priority int32
	p        repair.Payload
}

// decode checks what every queued shard task must carry and decodes it.
func (fx *fixture) decode(t *testing.T, reqs []*metadatav1.EnqueueTaskRequest) []task {
	t.Helper()
	var out []task
	for _, r := range reqs {
		p, err := repair.ParsePayload(r.GetPayload())
		if err != nil {
			t.Fatalf("payload %s: %v", r.GetPayload(), err)
		}
		if got, want := r.GetDedupKey(), repair.DedupKey(p.DataID, p.Index); got != want {
			t.Errorf("dedup key %q, want %q", got, want)
		}
		if r.GetRegion() != testRegion {
			t.Errorf("task region %q", r.GetRegion())
		}
		if p.DataID != testDataID || p.Owner != repair.OwnerFromProto(fx.owner) {
			t.Errorf("payload names %q of %+v", p.DataID, p.Owner)
		}
		switch r.GetType() {
		case repair.TaskRepairShard:
			if r.GetPriority() != priorityRepair {
				t.Errorf("repair priority %d", r.GetPriority())
			}
		case repair.TaskMoveShard:
			if r.GetPriority() != priorityMove {
				t.Errorf("move priority %d", r.GetPriority())
			}
		default:
			t.Errorf("task type %q", r.GetType())
		}
		out = append(out, task{typ: r.GetType(), priority: r.GetPriority(), p: p})
	}
	return out
}

func repairTask(index int, from, reason string) task {
	return task{typ: repair.TaskRepairShard, priority: priorityRepair, p: repair.Payload{
		DataID: testDataID, Index: index, FromNode: from, Reason: reason,
		Owner: repair.Owner{BucketID: 7, Key: "photos/cat.jpg", VersionID: "v-1"},
	}}
}

func moveTask(index int, from, to, reason string) task {
	t := repairTask(index, from, reason)
	t.typ, t.priority, t.p.ToNode = repair.TaskMoveShard, priorityMove, to
	return t
}

func TestCheckUnhealthyShards(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(fx *fixture) []string // returns the segment's node ids
		want  func(fx *fixture) []task
		found map[string]float64
	}{
		{
			name: "never written",
			setup: func(fx *fixture) []string {
				ids := slices.Clone(fx.want)
				ids[3] = ""
				return ids
			},
			want:  func(fx *fixture) []task { return []task{repairTask(3, "", repair.ReasonMissing)} },
			found: map[string]float64{repair.ReasonMissing: 1},
		},
		{
			name: "not found",
			setup: func(fx *fixture) []string {
				fx.stater.codes[shardKey(fx.want[0], 0)] = codes.NotFound
				return fx.want
			},
			want:  func(fx *fixture) []task { return []task{repairTask(0, fx.want[0], repair.ReasonMissing)} },
			found: map[string]float64{repair.ReasonMissing: 1},
		},
		{
			name: "data loss",
			setup: func(fx *fixture) []string {
				fx.stater.codes[shardKey(fx.want[5], 5)] = codes.DataLoss
				return fx.want
			},
			want:  func(fx *fixture) []task { return []task{repairTask(5, fx.want[5], repair.ReasonCorrupt)} },
			found: map[string]float64{repair.ReasonCorrupt: 1},
		},
		{
			// Damage takes precedence over rebalancing: no move is queued
			// although indexes 1 and 4 sit on nodes placement does not pick.
			name: "several at once on a mismatched segment",
			setup: func(fx *fixture) []string {
				ids := fx.mismatched()
				fx.stater.codes[shardKey(ids[1], 1)] = codes.DataLoss
				fx.stater.codes[shardKey(ids[2], 2)] = codes.NotFound
				ids[3] = ""
				return ids
			},
			want: func(fx *fixture) []task {
				return []task{
					repairTask(1, fx.others[0], repair.ReasonCorrupt),
					repairTask(2, fx.want[2], repair.ReasonMissing),
					repairTask(3, "", repair.ReasonMissing),
				}
			},
			found: map[string]float64{repair.ReasonCorrupt: 1, repair.ReasonMissing: 2},
		},
		{
			// A missing shard on a draining node is rebuilt, not moved.
			name: "missing on a draining node",
			setup: func(fx *fixture) []string {
				fx.drain(fx.want[2])
				fx.stater.codes[shardKey(fx.want[2], 2)] = codes.NotFound
				return fx.want
			},
			want:  func(fx *fixture) []task { return []task{repairTask(2, fx.want[2], repair.ReasonMissing)} },
			found: map[string]float64{repair.ReasonMissing: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, defaultConfig())
			ids := tc.setup(fx)
			fx.s.check(context.Background(), fx.segment(ids))
			got := fx.decode(t, fx.tasks.take())
			if want := tc.want(fx); !slices.Equal(got, want) {
				t.Errorf("queued\n%+v\nwant\n%+v", got, want)
			}
			for state, n := range tc.found {
				if got := testutil.ToFloat64(fx.s.found.WithLabelValues(state)); got != n {
					t.Errorf("found{state=%s} = %v, want %v", state, got, n)
				}
			}
			if got, want := testutil.ToFloat64(fx.s.queued.WithLabelValues(repair.TaskRepairShard)), float64(len(tc.want(fx))); got != want {
				t.Errorf("queued{type=RepairShard} = %v, want %v", got, want)
			}
			if got := testutil.ToFloat64(fx.s.checked); got != 1 {
				t.Errorf("checked = %v, want 1", got)
			}
			for i, id := range ids {
				if id == "" && slices.Contains(fx.stater.calls, shardKey("", i)) {
					t.Errorf("stat of shard %d with no node", i)
				}
			}
		})
	}
}

func (fx *fixture) drain(id string) {
	ms := fx.nodes.Members(membership.RoleStorageNode, testRegion)
	for i := range ms {
		if ms[i].ID == id {
			ms[i].Draining = true
		}
	}
	fx.nodes.set(ms)
}

func (fx *fixture) without(id string) []membership.Member {
	return slices.DeleteFunc(slices.Clone(fx.live), func(m membership.Member) bool { return m.ID == id })
}

func TestCheckNodeLost(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	lost := fx.want[2]
	seg := fx.segment(fx.want)
	t0 := fx.clock

	step := func(name string, at time.Time, live []membership.Member, want []task) {
		t.Helper()
		fx.clock = at
		fx.nodes.set(live)
		fx.s.check(context.Background(), seg)
		if got := fx.decode(t, fx.tasks.take()); !slices.Equal(got, want) {
			t.Errorf("%s: queued %+v, want %+v", name, got, want)
		}
	}
	gone := fx.without(lost)
	step("first seen absent", t0, gone, nil)
	step("absent a while", t0.Add(fx.s.cfg.NodeLostAfter-time.Second), gone, nil)
	step("absent node-lost-after", t0.Add(fx.s.cfg.NodeLostAfter), gone, []task{repairTask(2, lost, repair.ReasonNodeLost)})
	if slices.Contains(fx.stater.calls, shardKey(lost, 2)) {
		t.Errorf("stat sent to a node outside membership")
	}
	if got := testutil.ToFloat64(fx.s.found.WithLabelValues(repair.ReasonNodeLost)); got != 1 {
		t.Errorf("found{state=node_lost} = %v, want 1", got)
	}

	// The node comes back: its absence is forgotten, and the clock starts
	// over when it leaves again.
	t1 := t0.Add(time.Hour)
	step("back", t1, fx.live, nil)
	step("gone again", t1.Add(time.Minute), gone, nil)
	step("gone again, not long enough", t1.Add(time.Minute+fx.s.cfg.NodeLostAfter-time.Nanosecond), gone, nil)
	step("gone again, long enough", t1.Add(time.Minute+fx.s.cfg.NodeLostAfter), gone, []task{repairTask(2, lost, repair.ReasonNodeLost)})
}

func TestCheckQueuesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(c *Config)
		setup  func(fx *fixture) []string
		nstats int
	}{
		{
			name:   "healthy and placed as placement wants",
			setup:  func(fx *fixture) []string { return fx.want },
			nstats: nShards,
		},
		{
			name: "wanted nodes in another order",
			setup: func(fx *fixture) []string {
				ids := slices.Clone(fx.want)
				slices.Reverse(ids)
				return ids
			},
			nstats: nShards,
		},
		{
			// An unreachable node may hold a fine shard: nothing is queued,
			// not even the rebalancing moves this segment would otherwise get.
			name: "unavailable on a mismatched segment",
			setup: func(fx *fixture) []string {
				ids := fx.mismatched()
				fx.stater.codes[shardKey(ids[0], 0)] = codes.Unavailable
				return ids
			},
			nstats: nShards,
		},
		{
			name: "deadline exceeded",
			setup: func(fx *fixture) []string {
				fx.stater.codes[shardKey(fx.want[3], 3)] = codes.DeadlineExceeded
				return fx.want
			},
			nstats: nShards,
		},
		{
			name: "absent node on a mismatched segment",
			setup: func(fx *fixture) []string {
				ids := fx.mismatched()
				fx.nodes.set(fx.without(ids[0]))
				return ids
			},
			nstats: nShards - 1,
		},
		{
			name:   "rebalance disabled",
			cfg:    func(c *Config) { c.Rebalance = false },
			setup:  func(fx *fixture) []string { return fx.mismatched() },
			nstats: nShards,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			fx := newFixture(t, cfg)
			ids := tc.setup(fx)
			fx.s.check(context.Background(), fx.segment(ids))
			if got := fx.tasks.take(); len(got) != 0 {
				t.Errorf("queued %+v, want nothing", fx.decode(t, got))
			}
			if len(fx.stater.calls) != tc.nstats {
				t.Errorf("%d stats, want %d: %v", len(fx.stater.calls), tc.nstats, fx.stater.calls)
			}
			for _, v := range fx.stater.verif {
				if !v {
					t.Errorf("stat without verify while scanner.verify is on")
				}
			}
		})
	}
}

func TestCheckVerifyOff(t *testing.T) {
	cfg := defaultConfig()
	cfg.Verify = false
	fx := newFixture(t, cfg)
	fx.s.check(context.Background(), fx.segment(fx.want))
	if len(fx.stater.verif) != nShards || slices.Contains(fx.stater.verif, true) {
		t.Errorf("verify flags %v, want %d times false", fx.stater.verif, nShards)
	}
}

func TestCheckDrain(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	// Indexes 1 and 4 sit where placement does not want them, but moves for a
	// drain come first: only the drained node's shard is queued.
	ids := fx.mismatched()
	fx.drain(ids[3])
	fx.s.check(context.Background(), fx.segment(ids))
	got := fx.decode(t, fx.tasks.take())
	want := []task{moveTask(3, ids[3], "", repair.ReasonDrain)}
	if !slices.Equal(got, want) {
		t.Errorf("queued %+v, want %+v", got, want)
	}
	if n := testutil.ToFloat64(fx.s.queued.WithLabelValues(repair.TaskMoveShard)); n != 1 {
		t.Errorf("queued{type=MoveShard} = %v, want 1", n)
	}
	if n := testutil.CollectAndCount(fx.s.found); n != 0 {
		t.Errorf("a drained shard counted as found unhealthy (%d series)", n)
	}
}

func TestCheckRebalance(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	ids := fx.mismatched()
	fx.s.check(context.Background(), fx.segment(ids))
	got := fx.decode(t, fx.tasks.take())

	// Expectation from placement itself: every index on a node it does not
	// pick moves to a distinct picked node the segment does not use yet.
	want := pick(t, fx.live)
	var moving []int
	for i, id := range ids {
		if !slices.Contains(want, id) {
			moving = append(moving, i)
		}
	}
	var free []string
	for _, id := range want {
		if !slices.Contains(ids, id) {
			free = append(free, id)
		}
	}
	if len(got) != len(moving) {
		t.Fatalf("queued %+v, want moves of indexes %v", got, moving)
	}
	used := map[string]bool{}
	for k, task := range got {
		i := moving[k]
		if task.typ != repair.TaskMoveShard || task.p.Reason != repair.ReasonRebalance ||
			task.p.Index != i || task.p.FromNode != ids[i] {
			t.Errorf("task %d: %+v, want a rebalance move of index %d from %s", k, task, i, ids[i])
		}
		if !slices.Contains(free, task.p.ToNode) || used[task.p.ToNode] {
			t.Errorf("task %d: to_node %q, want a distinct one of %v", k, task.p.ToNode, free)
		}
		used[task.p.ToNode] = true
	}
	if n := testutil.ToFloat64(fx.s.queued.WithLabelValues(repair.TaskMoveShard)); n != float64(len(moving)) {
		t.Errorf("queued{type=MoveShard} = %v, want %d", n, len(moving))
	}
}

func TestRebalanceAfterJoin(t *testing.T) {
	// A segment placed over six nodes; two more join and placement over all
	// eight ranks them among the segment's. Only the displaced shards move.
	fx := newFixture(t, defaultConfig())
	six := fx.live[:6]
	placed := pick(t, six)
	fx.s.rebalance(context.Background(), repair.OwnerFromProto(fx.owner), fx.segment(placed).GetSegment(), fx.live)
	got := fx.decode(t, fx.tasks.take())
	var wantMoves int
	for _, id := range placed {
		if !slices.Contains(fx.want, id) {
			wantMoves++
		}
	}
	if len(got) != wantMoves {
		t.Fatalf("%d moves, want %d: %+v", len(got), wantMoves, got)
	}
	after := slices.Clone(placed)
	for _, task := range got {
		if after[task.p.Index] != task.p.FromNode {
			t.Fatalf("move %+v from a node not holding the shard", task)
		}
		after[task.p.Index] = task.p.ToNode
	}
	slices.Sort(after)
	want := slices.Clone(fx.want)
	slices.Sort(want)
	if !slices.Equal(after, want) {
		t.Errorf("after the moves the segment is on %v, placement wants %v", after, want)
	}
}

func TestRebalanceTooFewNodes(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	seg := fx.segment(fx.mismatched()).GetSegment()
	fx.s.rebalance(context.Background(), repair.OwnerFromProto(fx.owner), seg, fx.live[:nShards-1])
	if got := fx.tasks.take(); len(got) != 0 {
		t.Errorf("queued %d moves with fewer live nodes than shards", len(got))
	}
}

func TestEnqueueFailureNotCounted(t *testing.T) {
	fx := newFixture(t, defaultConfig())
	fx.tasks.err = status.Error(codes.Unavailable, "metadata down")
	fx.stater.codes[shardKey(fx.want[0], 0)] = codes.NotFound
	fx.s.check(context.Background(), fx.segment(fx.want))
	if got := fx.tasks.take(); len(got) != 1 {
		t.Fatalf("%d enqueue attempts, want 1", len(got))
	}
	if n := testutil.ToFloat64(fx.s.queued.WithLabelValues(repair.TaskRepairShard)); n != 0 {
		t.Errorf("queued{type=RepairShard} = %v after a failed enqueue", n)
	}
	if n := testutil.ToFloat64(fx.s.found.WithLabelValues(repair.ReasonMissing)); n != 1 {
		t.Errorf("found{state=missing} = %v, want 1", n)
	}
}
