package repair

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/anvil-store/anvil/pkg/erasure"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeShards is an in-memory set of storage nodes: node id -> shard id -> bytes.
type fakeShards struct {
	mu      sync.Mutex
	data    map[string]map[string][]byte
	corrupt map[string]bool  // "node/shard": StatShard and GetShard answer DataLoss
	statErr map[string]error // node: StatShard fails with this error

	gets    []string // "node/shard"
	puts    []string // "node/shard"
	stats   []string // "node/shard"
	deletes []string // "node/shard"
	aborted int
}

func newFakeShards() *fakeShards {
	return &fakeShards{data: map[string]map[string][]byte{}, corrupt: map[string]bool{}, statErr: map[string]error{}}
}

func (f *fakeShards) put(node, shard string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.data[node] == nil {
		f.data[node] = map[string][]byte{}
	}
	f.data[node][shard] = slices.Clone(b)
}

func (f *fakeShards) get(node, shard string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.data[node][shard]
	return b, ok
}

// holders returns the nodes holding shard, sorted.
func (f *fakeShards) holders(shard string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for node, m := range f.data {
		if _, ok := m[shard]; ok {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeShards) GetShard(_ context.Context, node, shard string, offset, length int64) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, node+"/"+shard)
	if f.corrupt[node+"/"+shard] {
		return nil, status.Error(codes.DataLoss, "block checksum mismatch")
	}
	b, ok := f.data[node][shard]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such shard")
	}
	if offset < 0 || length < 0 || offset > int64(len(b)) {
		return nil, status.Error(codes.OutOfRange, "range outside the shard")
	}
	end := min(int64(len(b)), offset+length)
	return io.NopCloser(bytes.NewReader(slices.Clone(b[offset:end]))), nil
}

func (f *fakeShards) PutShard(_ context.Context, node, shard string, size int64) (shardclient.Writer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, node+"/"+shard)
	return &fakeWriter{f: f, node: node, shard: shard, size: size}, nil
}

func (f *fakeShards) DeleteShard(_ context.Context, node, shard string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, node+"/"+shard)
	_, ok := f.data[node][shard]
	delete(f.data[node], shard)
	delete(f.corrupt, node+"/"+shard)
	return ok, nil
}

func (f *fakeShards) StatShard(_ context.Context, node, shard string, verify bool) (*storagev1.StatShardResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = append(f.stats, node+"/"+shard)
	if err := f.statErr[node]; err != nil {
		return nil, err
	}
	b, ok := f.data[node][shard]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such shard")
	}
	if verify && f.corrupt[node+"/"+shard] {
		return nil, status.Error(codes.DataLoss, "block checksum mismatch")
	}
	return &storagev1.StatShardResponse{Size: int64(len(b))}, nil
}

// fakeWriter buffers an upload and stores it on Commit, as a node makes a
// shard visible only once it is durable.
type fakeWriter struct {
	f           *fakeShards
	node, shard string
	size        int64
	buf         bytes.Buffer
	done        bool
}

func (w *fakeWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write after commit or abort")
	}
	return w.buf.Write(p)
}

func (w *fakeWriter) Commit() error {
	if w.done {
		return errors.New("commit after commit or abort")
	}
	w.done = true
	if int64(w.buf.Len()) != w.size {
		return fmt.Errorf("shard %s: %d bytes written, %d announced", w.shard, w.buf.Len(), w.size)
	}
	w.f.put(w.node, w.shard, w.buf.Bytes())
	return nil
}

func (w *fakeWriter) Abort() {
	if !w.done {
		w.done = true
		w.f.mu.Lock()
		w.f.aborted++
		w.f.mu.Unlock()
	}
}

type fakeNodes struct{ members []membership.Member }

func (f *fakeNodes) Members(role, region string) []membership.Member {
	var out []membership.Member
	for _, m := range f.members {
		if m.Role == role && m.Region == region {
			out = append(out, m)
		}
	}
	return out
}

// fakePlacement holds one segment.
type fakePlacement struct {
	mu       sync.Mutex
	owner    *metadatav1.SegmentOwner
	seg      *metadatav1.Segment
	gone     bool // GetSegment answers NotFound
	refuse   bool // ReplaceShard answers replaced=false whatever the placement
	getErr   error
	replaces []*metadatav1.ReplaceShardRequest
}

func (f *fakePlacement) GetSegment(_ context.Context, in *metadatav1.GetSegmentRequest, _ ...grpc.CallOption) (*metadatav1.GetSegmentResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return nil, f.getErr
	}
	if f.gone || in.GetDataId() != f.seg.GetDataId() || in.GetOwner().GetBucketId() != f.owner.GetBucketId() ||
		in.GetOwner().GetKey() != f.owner.GetKey() || in.GetOwner().GetVersionId() != f.owner.GetVersionId() {
		return nil, status.Error(codes.NotFound, "no such segment")
	}
	seg := &metadatav1.Segment{
		DataId: f.seg.GetDataId(), Size: f.seg.GetSize(), DataShards: f.seg.GetDataShards(),
		ParityShards: f.seg.GetParityShards(), BlockSize: f.seg.GetBlockSize(), NodeIds: slices.Clone(f.seg.GetNodeIds()),
	}
	return &metadatav1.GetSegmentResponse{Segment: &metadatav1.PlacedSegment{Owner: f.owner, Segment: seg}}, nil
}

func (f *fakePlacement) ReplaceShard(_ context.Context, in *metadatav1.ReplaceShardRequest, _ ...grpc.CallOption) (*metadatav1.ReplaceShardResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replaces = append(f.replaces, in)
	i := int(in.GetIndex())
	if f.refuse || f.gone || in.GetDataId() != f.seg.GetDataId() || i < 0 || i >= len(f.seg.NodeIds) || f.seg.NodeIds[i] != in.GetFromNodeId() {
		return &metadatav1.ReplaceShardResponse{Replaced: false}, nil
	}
	f.seg.NodeIds[i] = in.GetToNodeId()
	return &metadatav1.ReplaceShardResponse{Replaced: true}, nil
}

func (f *fakePlacement) nodeIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seg.NodeIds)
}

const (
	testRegion = "r1"
	testDataID = "0b6f4c1e-data"
	testSize   = 4*4096*3 + 1234 // three full stripes and a partial one
)

var params = erasure.Params{DataShards: 4, ParityShards: 2, BlockSize: 4096}

type fixture struct {
	shards    *fakeShards
	nodes     *fakeNodes
	placement *fakePlacement
	reg       *prometheus.Registry
	r         *Repairer
	orig      [][]byte // shard i's bytes as encoded
}

// newFixture encodes a segment onto sn-1..sn-6 (shard i on sn-(i+1)); sn-7
// and sn-8 are live and hold nothing.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	data := make([]byte, testSize)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	bufs := make([]*bytes.Buffer, params.Total())
	ws := make([]io.Writer, params.Total())
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		ws[i] = bufs[i]
	}
	res, err := params.Encode(context.Background(), bytes.NewReader(data), testSize, ws, params.Total())
	if err != nil || len(res.Failed) != 0 {
		t.Fatalf("encode: %v %+v", err, res)
	}
	fx := &fixture{shards: newFakeShards(), nodes: &fakeNodes{}, reg: prometheus.NewRegistry()}
	zones := []string{"a", "b", "c"}
	for n := 1; n <= 8; n++ {
		fx.nodes.members = append(fx.nodes.members, membership.Member{
			ID: fmt.Sprintf("sn-%d", n), Role: membership.RoleStorageNode, Region: testRegion,
			Zone: zones[n%3], CapacityBytes: 1 << 40,
		})
	}
	// A node of another role and region must never be chosen.
	fx.nodes.members = append(fx.nodes.members,
		membership.Member{ID: "gw-1", Role: membership.RoleGateway, Region: testRegion, Zone: "a"},
		membership.Member{ID: "sn-far", Role: membership.RoleStorageNode, Region: "r2", Zone: "a", CapacityBytes: 1 << 50},
	)
	nodeIDs := make([]string, params.Total())
	for i := range nodeIDs {
		nodeIDs[i] = fmt.Sprintf("sn-%d", i+1)
		b := bufs[i].Bytes()
		if int64(len(b)) != params.ShardSize(testSize) {
			t.Fatalf("shard %d: %d bytes, want %d", i, len(b), params.ShardSize(testSize))
		}
		fx.orig = append(fx.orig, slices.Clone(b))
		fx.shards.put(nodeIDs[i], shardclient.ShardID(testDataID, i), b)
	}
	fx.placement = &fakePlacement{
		owner: &metadatav1.SegmentOwner{BucketId: 7, Key: "k", VersionId: "v-1"},
		seg: &metadatav1.Segment{
			DataId: testDataID, Size: testSize, DataShards: int32(params.DataShards),
			ParityShards: int32(params.ParityShards), BlockSize: int32(params.BlockSize), NodeIds: nodeIDs,
		},
	}
	fx.r = New(fx.shards, fx.nodes, fx.placement, slog.New(slog.DiscardHandler), fx.reg, Options{})
	return fx
}

func task(t *testing.T, typ string, p Payload) *metadatav1.Task {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return &metadatav1.Task{Id: 1, Type: typ, Region: testRegion, Payload: b}
}

func payload(index int, from, reason string) Payload {
	return Payload{
		Owner:  Owner{BucketID: 7, Key: "k", VersionID: "v-1"},
		DataID: testDataID, Index: index, FromNode: from, Reason: reason,
	}
}

func (fx *fixture) repaired(reason string) float64 {
	return testutil.ToFloat64(fx.r.repaired.WithLabelValues(reason))
}
func (fx *fixture) moved(reason string) float64 {
	return testutil.ToFloat64(fx.r.moved.WithLabelValues(reason))
}
func (fx *fixture) written(kind string) float64 {
	return testutil.ToFloat64(fx.r.bytes.WithLabelValues(kind))
}

// checkPlaced checks that shard index now lives, byte-exact, on exactly one
// node, that the placement names that node, and that the node holds no other
// shard of the segment. It returns the node.
func (fx *fixture) checkPlaced(t *testing.T, index int) string {
	t.Helper()
	shardID := shardclient.ShardID(testDataID, index)
	holders := fx.shards.holders(shardID)
	if len(holders) != 1 {
		t.Fatalf("shard %s held by %v, want exactly one node", shardID, holders)
	}
	node := holders[0]
	got, _ := fx.shards.get(node, shardID)
	if !bytes.Equal(got, fx.orig[index]) {
		t.Fatalf("shard %s on %s: %d bytes differing from the %d encoded", shardID, node, len(got), len(fx.orig[index]))
	}
	ids := fx.placement.nodeIDs()
	if ids[index] != node {
		t.Fatalf("placement names %q for shard %d, the shard is on %q", ids[index], index, node)
	}
	for i, id := range ids {
		if i != index && id == node {
			t.Fatalf("new node %s also holds shard %d: placement %v", node, i, ids)
		}
	}
	return node
}

func TestRepairRebuildsShard(t *testing.T) {
	free := []string{"sn-7", "sn-8"}
	for _, tc := range []struct {
		name   string
		reason string
		index  int
		break_ func(fx *fixture) // damages shard index on its node
	}{
		{
			name: "missing", reason: ReasonMissing, index: 2,
			break_: func(fx *fixture) {
				_, _ = fx.shards.DeleteShard(context.Background(), "sn-3", shardclient.ShardID(testDataID, 2))
			},
		},
		{
			name: "corrupt", reason: ReasonCorrupt, index: 0,
			break_: func(fx *fixture) {
				id := shardclient.ShardID(testDataID, 0)
				b, _ := fx.shards.get("sn-1", id)
				b = slices.Clone(b)
				b[100] ^= 0xff
				fx.shards.put("sn-1", id, b)
				fx.shards.corrupt["sn-1/"+id] = true
			},
		},
		{
			name: "parity shard missing", reason: ReasonMissing, index: 5,
			break_: func(fx *fixture) {
				_, _ = fx.shards.DeleteShard(context.Background(), "sn-6", shardclient.ShardID(testDataID, 5))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			tc.break_(fx)
			from := fx.placement.nodeIDs()[tc.index]
			if err := fx.r.Handle(context.Background(), task(t, TaskRepairShard, payload(tc.index, from, tc.reason))); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			node := fx.checkPlaced(t, tc.index)
			if !slices.Contains(free, node) {
				t.Fatalf("rebuilt on %s, want one of the free nodes %v", node, free)
			}
			shardID := shardclient.ShardID(testDataID, tc.index)
			if !slices.Contains(fx.shards.deletes, from+"/"+shardID) {
				t.Errorf("old copy on %s not deleted: deletes %v", from, fx.shards.deletes)
			}
			if slices.Contains(fx.shards.gets, from+"/"+shardID) {
				t.Errorf("the damaged shard itself was read: gets %v", fx.shards.gets)
			}
			if got := fx.repaired(tc.reason); got != 1 {
				t.Errorf("repairs{reason=%s} = %v, want 1", tc.reason, got)
			}
			if got, want := fx.written("repair"), float64(params.ShardSize(testSize)); got != want {
				t.Errorf("bytes written{type=repair} = %v, want %v", got, want)
			}
			if got := fx.moved(tc.reason); got != 0 {
				t.Errorf("moves{reason=%s} = %v, want 0", tc.reason, got)
			}
			// Running the task again is a no-op: the shard is no longer on from_node.
			puts := len(fx.shards.puts)
			if err := fx.r.Handle(context.Background(), task(t, TaskRepairShard, payload(tc.index, from, tc.reason))); err != nil {
				t.Fatalf("second Handle: %v", err)
			}
			if len(fx.shards.puts) != puts {
				t.Errorf("second Handle wrote again: puts %v", fx.shards.puts)
			}
		})
	}
}

func TestRepairNeverWrittenShard(t *testing.T) {
	fx := newFixture(t)
	_, _ = fx.shards.DeleteShard(context.Background(), "sn-4", shardclient.ShardID(testDataID, 3))
	fx.placement.seg.NodeIds[3] = ""
	if err := fx.r.Handle(context.Background(), task(t, TaskRepairShard, payload(3, "", ReasonMissing))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	node := fx.checkPlaced(t, 3)
	if node != "sn-7" && node != "sn-8" {
		t.Fatalf("rebuilt on %s, want a free node", node)
	}
	if len(fx.shards.deletes) != 1 { // the one made by the test itself
		t.Errorf("deletes %v: nothing to delete for a shard never written", fx.shards.deletes)
	}
	if len(fx.shards.stats) != 0 {
		t.Errorf("stat of a shard with no node: %v", fx.shards.stats)
	}
}

func TestRepairNodeGoneFromMembership(t *testing.T) {
	fx := newFixture(t)
	// sn-2 left the cluster: its shard is rebuilt without asking it.
	fx.nodes.members = slices.DeleteFunc(fx.nodes.members, func(m membership.Member) bool { return m.ID == "sn-2" })
	if err := fx.r.Handle(context.Background(), task(t, TaskRepairShard, payload(1, "sn-2", ReasonNodeLost))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	shardID := shardclient.ShardID(testDataID, 1)
	if slices.Contains(fx.shards.stats, "sn-2/"+shardID) {
		t.Errorf("stat sent to a node outside membership: %v", fx.shards.stats)
	}
	ids := fx.placement.nodeIDs()
	if ids[1] != "sn-7" && ids[1] != "sn-8" {
		t.Fatalf("placement of shard 1 is %q, want a free node", ids[1])
	}
	got, _ := fx.shards.get(ids[1], shardID)
	if !bytes.Equal(got, fx.orig[1]) {
		t.Fatalf("rebuilt shard differs from the encoded one")
	}
	if fx.repaired(ReasonNodeLost) != 1 {
		t.Errorf("repairs{reason=node_lost} = %v, want 1", fx.repaired(ReasonNodeLost))
	}
}

func TestRepairLeavesHealthyShard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		statErr error
	}{
		{name: "stat ok"},
		// A live node that cannot answer: nothing is rebuilt, the task is
		// retried later.
		{name: "stat unavailable", statErr: status.Error(codes.Unavailable, "connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			if tc.statErr != nil {
				fx.shards.statErr["sn-3"] = tc.statErr
			}
			before := fx.placement.nodeIDs()
			err := fx.r.Handle(context.Background(), task(t, TaskRepairShard, payload(2, "sn-3", ReasonCorrupt)))
			if tc.statErr == nil && err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if tc.statErr != nil && (err == nil || runner.IsPermanent(err)) {
				t.Fatalf("Handle with the node unable to answer: %v, want a retryable error", err)
			}
			if !slices.Contains(fx.shards.stats, "sn-3/"+shardclient.ShardID(testDataID, 2)) {
				t.Errorf("shard not checked again: stats %v", fx.shards.stats)
			}
			if len(fx.shards.puts) != 0 || len(fx.placement.replaces) != 0 || len(fx.shards.deletes) != 0 {
				t.Errorf("healthy shard touched: puts %v, replaces %d, deletes %v", fx.shards.puts, len(fx.placement.replaces), fx.shards.deletes)
			}
			if !slices.Equal(fx.placement.nodeIDs(), before) {
				t.Errorf("placement changed: %v, was %v", fx.placement.nodeIDs(), before)
			}
			if fx.repaired(ReasonCorrupt) != 0 {
				t.Errorf("repair counted for a healthy shard")
			}
		})
	}
}

func TestNoOps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   string
		p     Payload
		setup func(fx *fixture)
	}{
		{name: "repair, shard moved on", typ: TaskRepairShard, p: payload(2, "sn-9", ReasonMissing),
			setup: func(fx *fixture) {
				_, _ = fx.shards.DeleteShard(context.Background(), "sn-3", shardclient.ShardID(testDataID, 2))
			}},
		{name: "move, shard moved on", typ: TaskMoveShard, p: payload(2, "sn-9", ReasonRebalance)},
		{name: "repair, task for a never-written shard now placed", typ: TaskRepairShard, p: payload(2, "", ReasonMissing)},
		{name: "repair, owner gone", typ: TaskRepairShard, p: payload(2, "sn-3", ReasonMissing),
			setup: func(fx *fixture) { fx.placement.gone = true }},
		{name: "move, owner gone", typ: TaskMoveShard, p: payload(2, "sn-3", ReasonDrain),
			setup: func(fx *fixture) { fx.placement.gone = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			if tc.setup != nil {
				tc.setup(fx)
			}
			fx.shards.deletes = nil
			before := fx.placement.nodeIDs()
			if err := fx.r.Handle(context.Background(), task(t, tc.typ, tc.p)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(fx.shards.puts) != 0 || len(fx.shards.deletes) != 0 || len(fx.placement.replaces) != 0 || len(fx.shards.gets) != 0 {
				t.Errorf("no-op task did work: puts %v, deletes %v, gets %v, replaces %d",
					fx.shards.puts, fx.shards.deletes, fx.shards.gets, len(fx.placement.replaces))
			}
			if !slices.Equal(fx.placement.nodeIDs(), before) {
				t.Errorf("placement changed: %v, was %v", fx.placement.nodeIDs(), before)
			}
		})
	}
}

func TestMoveCopiesShard(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason string
		to     string
		want   []string // allowed targets
	}{
		{name: "drain", reason: ReasonDrain, want: []string{"sn-7", "sn-8"}},
		{name: "to sn-7", reason: ReasonRebalance, to: "sn-7", want: []string{"sn-7"}},
		{name: "to sn-8", reason: ReasonRebalance, to: "sn-8", want: []string{"sn-8"}},
		// to_node holding another shard of the segment is not usable.
		{name: "to a holder", reason: ReasonRebalance, to: "sn-1", want: []string{"sn-7", "sn-8"}},
		// to_node outside membership is not usable.
		{name: "to a departed node", reason: ReasonRebalance, to: "sn-99", want: []string{"sn-7", "sn-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			p := payload(1, "sn-2", tc.reason)
			p.ToNode = tc.to
			shardID := shardclient.ShardID(testDataID, 1)
			if err := fx.r.Handle(context.Background(), task(t, TaskMoveShard, p)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			node := fx.checkPlaced(t, 1)
			if !slices.Contains(tc.want, node) {
				t.Fatalf("moved to %s, want one of %v", node, tc.want)
			}
			// A straight copy: only the shard itself was read, from its old node.
			if !slices.Equal(fx.shards.gets, []string{"sn-2/" + shardID}) {
				t.Errorf("gets %v, want a single read of the shard on sn-2", fx.shards.gets)
			}
			if _, ok := fx.shards.get("sn-2", shardID); ok {
				t.Errorf("old copy still on sn-2")
			}
			if !slices.Contains(fx.shards.deletes, "sn-2/"+shardID) {
				t.Errorf("deletes %v, want sn-2/%s", fx.shards.deletes, shardID)
			}
			if len(fx.shards.stats) != 0 {
				t.Errorf("a move checked the shard first: stats %v", fx.shards.stats)
			}
			if got := fx.moved(tc.reason); got != 1 {
				t.Errorf("moves{reason=%s} = %v, want 1", tc.reason, got)
			}
			if got := fx.repaired(tc.reason); got != 0 {
				t.Errorf("repairs{reason=%s} = %v, want 0", tc.reason, got)
			}
			if got, want := fx.written("move"), float64(params.ShardSize(testSize)); got != want {
				t.Errorf("bytes written{type=move} = %v, want %v", got, want)
			}
			if r := fx.placement.replaces; len(r) != 1 || r[0].GetFromNodeId() != "sn-2" || r[0].GetToNodeId() != node ||
				r[0].GetIndex() != 1 || r[0].GetRegion() != testRegion || r[0].GetOwner().GetVersionId() != "v-1" {
				t.Errorf("replace requests %v", r)
			}
		})
	}
}

func TestMoveRebuildsWhenCopyUnreadable(t *testing.T) {
	fx := newFixture(t)
	shardID := shardclient.ShardID(testDataID, 1)
	fx.shards.corrupt["sn-2/"+shardID] = true
	if err := fx.r.Handle(context.Background(), task(t, TaskMoveShard, payload(1, "sn-2", ReasonDrain))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := fx.shards.holders(shardID); len(got) != 1 || got[0] == "sn-2" {
		t.Fatalf("shard held by %v after the move", got)
	}
	fx.checkPlaced(t, 1)
	if len(fx.shards.gets) < 1+params.DataShards {
		t.Errorf("gets %v: want the failed copy then a rebuild from %d shards", fx.shards.gets, params.DataShards)
	}
}

func TestReplaceRefusedDropsNewCopy(t *testing.T) {
	for _, typ := range []string{TaskMoveShard, TaskRepairShard} {
		t.Run(typ, func(t *testing.T) {
			fx := newFixture(t)
			fx.placement.refuse = true
			shardID := shardclient.ShardID(testDataID, 1)
			reason := ReasonRebalance
			if typ == TaskRepairShard {
				reason = ReasonMissing
				_, _ = fx.shards.DeleteShard(context.Background(), "sn-2", shardID)
				fx.shards.deletes = nil
			}
			p := payload(1, "sn-2", reason)
			p.ToNode = "sn-7"
			if err := fx.r.Handle(context.Background(), task(t, typ, p)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if !slices.Equal(fx.shards.puts, []string{"sn-7/" + shardID}) {
				t.Fatalf("puts %v, want one to sn-7", fx.shards.puts)
			}
			if !slices.Equal(fx.shards.deletes, []string{"sn-7/" + shardID}) {
				t.Errorf("deletes %v, want only the new copy on sn-7", fx.shards.deletes)
			}
			if _, ok := fx.shards.get("sn-7", shardID); ok {
				t.Errorf("new copy left on sn-7")
			}
			if typ == TaskMoveShard {
				if got, _ := fx.shards.get("sn-2", shardID); !bytes.Equal(got, fx.orig[1]) {
					t.Errorf("old copy on sn-2 lost")
				}
			}
			if ids := fx.placement.nodeIDs(); ids[1] != "sn-2" {
				t.Errorf("placement changed to %v", ids)
			}
			if fx.moved(reason) != 0 || fx.repaired(reason) != 0 {
				t.Errorf("a refused swap was counted: moves %v, repairs %v", fx.moved(reason), fx.repaired(reason))
			}
		})
	}
}

func TestNoFreeNodeIsRetryable(t *testing.T) {
	for _, typ := range []string{TaskRepairShard, TaskMoveShard} {
		t.Run(typ, func(t *testing.T) {
			fx := newFixture(t)
			// Only the six holders are live.
			fx.nodes.members = slices.DeleteFunc(fx.nodes.members, func(m membership.Member) bool { return m.ID == "sn-7" || m.ID == "sn-8" })
			shardID := shardclient.ShardID(testDataID, 2)
			if typ == TaskRepairShard {
				_, _ = fx.shards.DeleteShard(context.Background(), "sn-3", shardID)
				fx.shards.deletes = nil
			}
			err := fx.r.Handle(context.Background(), task(t, typ, payload(2, "sn-3", ReasonMissing)))
			if err == nil {
				t.Fatal("Handle succeeded with no free node")
			}
			if runner.IsPermanent(err) {
				t.Errorf("no free node is permanent (%v): want a retry once a node joins", err)
			}
			if len(fx.shards.puts) != 0 || len(fx.placement.replaces) != 0 || len(fx.shards.deletes) != 0 {
				t.Errorf("work done without a target: puts %v, replaces %d, deletes %v", fx.shards.puts, len(fx.placement.replaces), fx.shards.deletes)
			}
		})
	}
}

func TestPermanentErrors(t *testing.T) {
	good := payload(1, "sn-2", ReasonMissing)
	encode := func(p Payload) []byte {
		b, _ := json.Marshal(p)
		return b
	}
	mod := func(f func(p *Payload)) []byte {
		p := good
		f(&p)
		return encode(p)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		setup   func(fx *fixture)
	}{
		{name: "not json", payload: []byte("{")},
		{name: "empty", payload: nil},
		{name: "no data id", payload: mod(func(p *Payload) { p.DataID = "" })},
		{name: "negative index", payload: mod(func(p *Payload) { p.Index = -1 })},
		{name: "index too large", payload: mod(func(p *Payload) { p.Index = erasure.MaxShards })},
		{name: "no bucket", payload: mod(func(p *Payload) { p.Owner.BucketID = 0 })},
		{name: "neither version nor part", payload: mod(func(p *Payload) { p.Owner.VersionID = "" })},
		{name: "both version and part", payload: mod(func(p *Payload) { p.Owner.UploadID = "u-1"; p.Owner.PartNumber = 1 })},
		{name: "index beyond the segment", payload: mod(func(p *Payload) { p.Index = 6 })},
		{name: "metadata refuses the request", payload: encode(good),
			setup: func(fx *fixture) { fx.placement.getErr = status.Error(codes.InvalidArgument, "bad owner") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			if tc.setup != nil {
				tc.setup(fx)
			}
			for _, typ := range Types() {
				err := fx.r.Handle(context.Background(), &metadatav1.Task{Type: typ, Region: testRegion, Payload: tc.payload})
				if !runner.IsPermanent(err) {
					t.Errorf("%s: Handle = %v, want a permanent error", typ, err)
				}
			}
			if len(fx.shards.puts) != 0 || len(fx.placement.replaces) != 0 {
				t.Errorf("work done for a bad task: puts %v, replaces %d", fx.shards.puts, len(fx.placement.replaces))
			}
		})
	}
}

func TestMetadataUnavailableIsRetryable(t *testing.T) {
	fx := newFixture(t)
	fx.placement.getErr = status.Error(codes.Unavailable, "no leader")
	err := fx.r.Handle(context.Background(), task(t, TaskRepairShard, payload(1, "sn-2", ReasonMissing)))
	if err == nil || runner.IsPermanent(err) {
		t.Fatalf("Handle = %v, want a retryable error", err)
	}
}

func TestParsePayloadRoundTrip(t *testing.T) {
	for _, p := range []Payload{
		payload(3, "sn-4", ReasonCorrupt),
		{Owner: Owner{BucketID: 2, Key: "a/b", UploadID: "u-1", PartNumber: 9}, DataID: "d", Index: 0, ToNode: "sn-1", Reason: ReasonRebalance},
	} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePayload(b)
		if err != nil {
			t.Fatalf("ParsePayload(%s): %v", b, err)
		}
		if got != p {
			t.Errorf("ParsePayload(%s) = %+v, want %+v", b, got, p)
		}
	}
	if got, want := DedupKey("d", 3), "shard:d.3"; got != want {
		t.Errorf("DedupKey = %q, want %q", got, want)
	}
}

// A move never lands on a draining node, even when placement would fall
// back to draining nodes for want of others: the shard would only have to
// move again.
func TestMoveAvoidsDrainingNodes(t *testing.T) {
	fx := newFixture(t)
	for i, m := range fx.nodes.members {
		if m.ID == "sn-2" || m.ID == "sn-7" || m.ID == "sn-8" {
			fx.nodes.members[i].Draining = true
		}
	}
	err := fx.r.Handle(context.Background(), task(t, TaskMoveShard, payload(1, "sn-2", ReasonDrain)))
	if err == nil || runner.IsPermanent(err) {
		t.Fatalf("move with only draining nodes free: %v, want a retryable error", err)
	}
	if len(fx.shards.puts) != 0 || len(fx.placement.replaces) != 0 {
		t.Fatalf("moved onto a draining node: puts %v", fx.shards.puts)
	}
	// A repair restores redundancy even onto a draining node.
	_, _ = fx.shards.DeleteShard(context.Background(), "sn-2", shardclient.ShardID(testDataID, 1))
	if err := fx.r.Handle(context.Background(), task(t, TaskRepairShard, payload(1, "sn-2", ReasonMissing))); err != nil {
		t.Fatalf("repair: %v", err)
	}
	if got := fx.placement.nodeIDs()[1]; got != "sn-7" && got != "sn-8" {
		t.Fatalf("repaired shard placed on %q", got)
	}
}
