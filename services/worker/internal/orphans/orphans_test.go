package orphans

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeShards is one or more nodes' shard listings, sorted by shard id as a
// storage node lists them.
type fakeShards struct {
	mu      sync.Mutex
	entries map[string][]*storagev1.ShardEntry // node -> shards
	listErr error
	lists   []listCall
	deletes []string // "node/shard"
}

type listCall struct {
	node, after string
	limit       int
}

func (f *fakeShards) add(node, shardID string, size int64, modified time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.entries == nil {
		f.entries = map[string][]*storagev1.ShardEntry{}
	}
	f.entries[node] = append(f.entries[node], &storagev1.ShardEntry{ShardId: shardID, Size: size, ModifiedUnixNano: modified.UnixNano()})
	slices.SortFunc(f.entries[node], func(a, b *storagev1.ShardEntry) int { return strings.Compare(a.ShardId, b.ShardId) })
}

func (f *fakeShards) ids(node string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.entries[node] {
		out = append(out, e.ShardId)
	}
	return out
}

func (f *fakeShards) ListShards(_ context.Context, node, after string, limit int) (*storagev1.ListShardsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, listCall{node, after, limit})
	if f.listErr != nil {
		return nil, f.listErr
	}
	if limit <= 0 {
		return nil, status.Error(codes.InvalidArgument, "limit")
	}
	resp := &storagev1.ListShardsResponse{}
	for _, e := range f.entries[node] {
		if e.ShardId <= after {
			continue
		}
		if len(resp.Shards) == limit {
			resp.Truncated = true
			break
		}
		resp.Shards = append(resp.Shards, &storagev1.ShardEntry{ShardId: e.ShardId, Size: e.Size, ModifiedUnixNano: e.ModifiedUnixNano})
	}
	return resp, nil
}

func (f *fakeShards) DeleteShard(_ context.Context, node, shardID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, node+"/"+shardID)
	n := len(f.entries[node])
	f.entries[node] = slices.DeleteFunc(f.entries[node], func(e *storagev1.ShardEntry) bool { return e.ShardId == shardID })
	return len(f.entries[node]) < n, nil
}

// fakeLocator answers from data id -> placements (one node list per version
// or part placing it).
type fakeLocator struct {
	mu     sync.Mutex
	placed map[string][][]string
	err    error
	calls  [][]string
}

func (f *fakeLocator) LocateShards(_ context.Context, in *metadatav1.LocateShardsRequest, _ ...grpc.CallOption) (*metadatav1.LocateShardsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, slices.Clone(in.GetDataIds()))
	if f.err != nil {
		return nil, f.err
	}
	resp := &metadatav1.LocateShardsResponse{}
	for _, id := range in.GetDataIds() {
		for _, nodes := range f.placed[id] {
			resp.Locations = append(resp.Locations, &metadatav1.ShardLocation{DataId: id, NodeIds: slices.Clone(nodes)})
		}
	}
	return resp, nil
}

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const grace = time.Hour

type fixture struct {
	shards  *fakeShards
	locator *fakeLocator
	r       *Reconciler
}

func newFixture() *fixture {
	fx := &fixture{shards: &fakeShards{}, locator: &fakeLocator{placed: map[string][][]string{}}}
	fx.r = New(fx.shards, fx.locator, slog.New(slog.DiscardHandler), prometheus.NewRegistry(),
		Options{Grace: grace, Now: func() time.Time { return now }})
	return fx
}

func reconcile(node string) *metadatav1.Task {
	b, _ := json.Marshal(Payload{NodeID: node})
	return &metadatav1.Task{Id: 1, Type: TaskReconcileNode, Region: "r1", Payload: b}
}

func TestReconcileDecisions(t *testing.T) {
	old := now.Add(-2 * grace)
	young := now.Add(-grace / 2)
	for _, tc := range []struct {
		name     string
		shardID  string
		modified time.Time
		placed   map[string][][]string
		deleted  bool
	}{
		{name: "young unknown shard kept", shardID: "dnew.0", modified: young},
		{name: "young stale copy kept", shardID: "dx.1", modified: young,
			placed: map[string][][]string{"dx": {{"sn-2", "sn-3"}}}},
		{name: "old unknown shard deleted", shardID: "dgone.2", modified: old, deleted: true},
		{name: "old placed shard kept", shardID: "dok.1", modified: old,
			placed: map[string][][]string{"dok": {{"sn-2", "sn-1", "sn-3"}}}},
		{name: "old shard placed by a second owner kept", shardID: "dpart.0", modified: old,
			placed: map[string][][]string{"dpart": {{"sn-5", "sn-2"}, {"sn-1", "sn-2"}}}},
		{name: "old stale copy deleted", shardID: "dmoved.1", modified: old,
			placed: map[string][][]string{"dmoved": {{"sn-2", "sn-7", "sn-3"}}}, deleted: true},
		{name: "old shard placed on this node at another index deleted", shardID: "dswap.2", modified: old,
			placed: map[string][][]string{"dswap": {{"sn-1", "sn-2", "sn-3"}}}, deleted: true},
		{name: "old shard beyond the segment's shards deleted", shardID: "dshort.5", modified: old,
			placed: map[string][][]string{"dshort": {{"sn-1", "sn-1"}}}, deleted: true},
		{name: "old shard whose index was never written deleted", shardID: "dhole.1", modified: old,
			placed: map[string][][]string{"dhole": {{"sn-2", "", "sn-3"}}}, deleted: true},
		{name: "data id with dots", shardID: "a.b.c.0", modified: old,
			placed: map[string][][]string{"a.b.c": {{"sn-1"}}}},
		{name: "malformed: no index", shardID: "nodot", modified: old},
		{name: "malformed: index not a number", shardID: "d.x", modified: old},
		{name: "malformed: negative index", shardID: "d.-1", modified: old},
		{name: "malformed: no data id", shardID: ".3", modified: old},
		{name: "malformed: empty index", shardID: "d.", modified: old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture()
			fx.shards.add("sn-1", tc.shardID, 4096, tc.modified)
			if tc.placed != nil {
				fx.locator.placed = tc.placed
			}
			if err := fx.r.Handle(context.Background(), reconcile("sn-1")); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			left := fx.shards.ids("sn-1")
			if tc.deleted {
				if len(left) != 0 || !slices.Equal(fx.shards.deletes, []string{"sn-1/" + tc.shardID}) {
					t.Errorf("left %v, deletes %v: want %s deleted", left, fx.shards.deletes, tc.shardID)
				}
				if got := testutil.ToFloat64(fx.r.deleted); got != 1 {
					t.Errorf("deleted counter %v, want 1", got)
				}
				if got := testutil.ToFloat64(fx.r.bytes); got != 4096 {
					t.Errorf("bytes counter %v, want 4096", got)
				}
				return
			}
			if !slices.Equal(left, []string{tc.shardID}) || len(fx.shards.deletes) != 0 {
				t.Errorf("left %v, deletes %v: want %s kept", left, fx.shards.deletes, tc.shardID)
			}
			if got := testutil.ToFloat64(fx.r.deleted); got != 0 {
				t.Errorf("deleted counter %v, want 0", got)
			}
			if tc.modified.Equal(young) && len(fx.locator.calls) != 0 {
				t.Errorf("a young shard was looked up: %v", fx.locator.calls)
			}
		})
	}
}

func TestReconcileGraceBoundary(t *testing.T) {
	fx := newFixture()
	fx.shards.add("sn-1", "dedge.0", 1, now.Add(-grace+time.Nanosecond))
	fx.shards.add("sn-1", "dold.0", 1, now.Add(-grace-time.Nanosecond))
	if err := fx.r.Handle(context.Background(), reconcile("sn-1")); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := fx.shards.ids("sn-1"); !slices.Equal(got, []string{"dedge.0"}) {
		t.Errorf("left %v, want only the shard inside the grace period", got)
	}
}

func TestReconcileOnlyTouchesItsNode(t *testing.T) {
	fx := newFixture()
	old := now.Add(-2 * grace)
	fx.shards.add("sn-1", "d1.0", 10, old)
	fx.shards.add("sn-2", "d1.1", 10, old)
	fx.shards.add("sn-2", "d2.0", 10, old)
	if err := fx.r.Handle(context.Background(), reconcile("sn-1")); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	for _, l := range fx.shards.lists {
		if l.node != "sn-1" {
			t.Errorf("listed %s", l.node)
		}
	}
	if got := fx.shards.ids("sn-2"); len(got) != 2 {
		t.Errorf("sn-2 left with %v", got)
	}
	if got := fx.shards.ids("sn-1"); len(got) != 0 {
		t.Errorf("sn-1 left with %v", got)
	}
}

func TestReconcilePagesOverManyShards(t *testing.T) {
	fx := newFixture()
	old := now.Add(-2 * grace)
	const n = 2500
	var wantLeft []string
	for i := range n {
		dataID := fmt.Sprintf("d%05d", i)
		// Two shards of every data id on this node: one at index 0, one at 1.
		fx.shards.add("sn-1", dataID+".0", 100, old)
		fx.shards.add("sn-1", dataID+".1", 100, old)
		switch i % 3 {
		case 0: // unknown: both deleted
		case 1: // index 0 placed here, index 1 elsewhere
			fx.locator.placed[dataID] = [][]string{{"sn-1", "sn-2"}}
			wantLeft = append(wantLeft, dataID+".0")
		case 2: // both placed here
			fx.locator.placed[dataID] = [][]string{{"sn-1", "sn-1"}}
			wantLeft = append(wantLeft, dataID+".0", dataID+".1")
		}
	}
	if err := fx.r.Handle(context.Background(), reconcile("sn-1")); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := fx.shards.ids("sn-1"); !slices.Equal(got, wantLeft) {
		t.Fatalf("%d shards left, want %d", len(got), len(wantLeft))
	}
	wantDeleted := 2*n - len(wantLeft)
	if len(fx.shards.deletes) != wantDeleted {
		t.Errorf("%d deletes, want %d", len(fx.shards.deletes), wantDeleted)
	}
	if got := testutil.ToFloat64(fx.r.deleted); got != float64(wantDeleted) {
		t.Errorf("deleted counter %v, want %d", got, wantDeleted)
	}
	if got := testutil.ToFloat64(fx.r.bytes); got != float64(100*wantDeleted) {
		t.Errorf("bytes counter %v, want %d", got, 100*wantDeleted)
	}
	// Pages of at most 1000, each starting after the last one's end.
	if len(fx.shards.lists) != 5 {
		t.Errorf("%d list calls, want 5 for %d shards", len(fx.shards.lists), 2*n)
	}
	for i, l := range fx.shards.lists {
		if l.limit != pageSize {
			t.Errorf("list %d: limit %d, want %d", i, l.limit, pageSize)
		}
		if i == 0 && l.after != "" {
			t.Errorf("first list after %q", l.after)
		}
	}
	seen := map[string]bool{}
	for _, ids := range fx.locator.calls {
		if len(ids) == 0 || len(ids) > pageSize {
			t.Errorf("locate call with %d data ids", len(ids))
		}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("data id %s looked up twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != n {
		t.Errorf("%d data ids looked up, want %d", len(seen), n)
	}
}

func TestReconcileAllYoungPagesWithoutLookups(t *testing.T) {
	fx := newFixture()
	for i := range 1500 {
		fx.shards.add("sn-1", fmt.Sprintf("d%05d.0", i), 1, now)
	}
	if err := fx.r.Handle(context.Background(), reconcile("sn-1")); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(fx.shards.lists) != 2 || fx.shards.lists[1].after != "d00999.0" {
		t.Errorf("lists %v, want two pages, the second after d00999.0", fx.shards.lists)
	}
	if len(fx.locator.calls) != 0 || len(fx.shards.deletes) != 0 {
		t.Errorf("young shards looked up (%d) or deleted (%d)", len(fx.locator.calls), len(fx.shards.deletes))
	}
}

func TestReconcileErrors(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "connection refused")
	for _, tc := range []struct {
		name      string
		setup     func(fx *fixture)
		task      *metadatav1.Task
		permanent bool
	}{
		{name: "list fails", setup: func(fx *fixture) { fx.shards.listErr = unavailable }, task: reconcile("sn-1")},
		{name: "locate fails", setup: func(fx *fixture) { fx.locator.err = unavailable }, task: reconcile("sn-1")},
		{name: "bad json", task: &metadatav1.Task{Type: TaskReconcileNode, Payload: []byte("[")}, permanent: true},
		{name: "no node id", task: &metadatav1.Task{Type: TaskReconcileNode, Payload: []byte(`{}`)}, permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture()
			fx.shards.add("sn-1", "dgone.0", 1, now.Add(-2*grace))
			if tc.setup != nil {
				tc.setup(fx)
			}
			err := fx.r.Handle(context.Background(), tc.task)
			if err == nil {
				t.Fatal("Handle succeeded")
			}
			if runner.IsPermanent(err) != tc.permanent {
				t.Errorf("Handle = %v: permanent %v, want %v", err, runner.IsPermanent(err), tc.permanent)
			}
			if !tc.permanent && !errors.Is(err, unavailable) {
				t.Errorf("Handle = %v, want it to wrap the cause", err)
			}
			if len(fx.shards.deletes) != 0 {
				t.Errorf("deleted %v despite the error", fx.shards.deletes)
			}
		})
	}
}

// With orphans.delete off an orphan is counted and kept.
func TestReconcileReportOnly(t *testing.T) {
	fx := newFixture()
	reg := prometheus.NewRegistry()
	fx.r = New(fx.shards, fx.locator, slog.New(slog.DiscardHandler), reg,
		Options{Grace: grace, Now: func() time.Time { return now }, ReportOnly: true})
	fx.shards.add("sn-1", "dold.0", 1, now.Add(-2*grace))
	if err := fx.r.Handle(context.Background(), reconcile("sn-1")); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := fx.shards.ids("sn-1"); !slices.Equal(got, []string{"dold.0"}) {
		t.Errorf("left %v, want the orphan kept", got)
	}
	if n := testutil.ToFloat64(fx.r.found); n != 1 {
		t.Errorf("orphans found: %v, want 1", n)
	}
	if n := testutil.ToFloat64(fx.r.deleted); n != 0 {
		t.Errorf("orphans deleted: %v, want 0", n)
	}
}
