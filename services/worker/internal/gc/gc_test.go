package gc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeNodes holds shard ids per node; nodes in down fail every call.
type fakeNodes struct {
	mu      sync.Mutex
	shards  map[string]map[string]bool
	down    map[string]bool
	refused map[string]bool // shard ids answered with InvalidArgument
	calls   []string        // "node/shard", in no particular order
	events  *[]string
}

func (f *fakeNodes) DeleteShard(_ context.Context, node, shard string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, node+"/"+shard)
	*f.events = append(*f.events, "delete")
	if f.down[node] {
		return false, fmt.Errorf("delete shard %s on %s: %w", shard, node, status.Error(codes.Unavailable, "connection refused"))
	}
	if f.refused[shard] {
		return false, status.Error(codes.InvalidArgument, "bad shard id")
	}
	existed := f.shards[node][shard]
	delete(f.shards[node], shard)
	return existed, nil
}

type fakePurger struct {
	reqs   []*metadatav1.PurgeVersionRequest
	err    error
	events *[]string
}

func (f *fakePurger) PurgeVersion(_ context.Context, in *metadatav1.PurgeVersionRequest, _ ...grpc.CallOption) (*metadatav1.PurgeVersionResponse, error) {
	f.reqs = append(f.reqs, in)
	*f.events = append(*f.events, "purge")
	if f.err != nil {
		return nil, f.err
	}
	return &metadatav1.PurgeVersionResponse{Purged: len(f.reqs) == 1}, nil
}

type fixture struct {
	nodes  *fakeNodes
	purger *fakePurger
	c      *Collector
	events []string
}

func newFixture() *fixture {
	fx := &fixture{}
	fx.nodes = &fakeNodes{
		shards: map[string]map[string]bool{
			"sn-1": {"d1.0": true, "d2.1": true},
			"sn-2": {"d1.1": true},
			"sn-3": {"d1.3": true},
		},
		down: map[string]bool{}, refused: map[string]bool{}, events: &fx.events,
	}
	fx.purger = &fakePurger{events: &fx.events}
	fx.c = New(fx.nodes, fx.purger, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), Options{Parallel: 2})
	return fx
}

func task(typ, payload string) *metadatav1.Task {
	return &metadatav1.Task{Id: 1, Type: typ, Region: "us-east-1", Payload: []byte(payload)}
}

const deleteObject = `{"bucket_id": 7, "bucket": "b", "key": "photos/cat.jpg",
	"version_id": "0b0e4c8a-6d43-4b8e-9d0a-4f1c1d2e3f40",
	"segments": [
		{"data_id": "d1", "size": 10, "data_shards": 2, "parity_shards": 2, "block_size": 4, "node_ids": ["sn-1", "sn-2", "", "sn-3"]},
		{"data_id": "d2", "node_ids": ["sn-3", "sn-1"]}
	]}`

func TestDeleteObject(t *testing.T) {
	fx := newFixture()
	if err := fx.c.Handle(context.Background(), task(TaskDeleteObject, deleteObject)); err != nil {
		t.Fatal(err)
	}
	slices.Sort(fx.nodes.calls)
	want := []string{"sn-1/d1.0", "sn-1/d2.1", "sn-2/d1.1", "sn-3/d1.3", "sn-3/d2.0"}
	if !slices.Equal(fx.nodes.calls, want) {
		t.Fatalf("deleted %v, want %v (no call for the unwritten shard d1.2)", fx.nodes.calls, want)
	}
	for node, held := range fx.nodes.shards {
		if len(held) != 0 {
			t.Fatalf("%s still holds %v", node, held)
		}
	}
	if len(fx.purger.reqs) != 1 {
		t.Fatalf("%d purge calls", len(fx.purger.reqs))
	}
	got := fx.purger.reqs[0]
	if got.GetRegion() != "us-east-1" || got.GetBucketId() != 7 || got.GetKey() != "photos/cat.jpg" || got.GetVersionId() != "0b0e4c8a-6d43-4b8e-9d0a-4f1c1d2e3f40" {
		t.Fatalf("purge request %v", got)
	}
	if fx.events[0] != "purge" {
		t.Fatalf("events %v: the row must be purged before any shard is deleted", fx.events)
	}
	// d2.0 on sn-3 was already gone: four shards existed.
	if v := testutil.ToFloat64(fx.c.deleted); v != 4 {
		t.Fatalf("shards deleted %v, want 4", v)
	}

	// Running the task again (a lost lease, a crash) is harmless.
	if err := fx.c.Handle(context.Background(), task(TaskDeleteObject, deleteObject)); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if v := testutil.ToFloat64(fx.c.purged); v != 1 {
		t.Fatalf("versions purged %v, want 1", v)
	}
}

func TestDeletePartsHasNoPurge(t *testing.T) {
	fx := newFixture()
	payload := `{"bucket_id": 7, "bucket": "b", "key": "big", "upload_id": "0190f2a4-0000-7000-8000-000000000000",
		"segments": [{"data_id": "d1", "node_ids": ["sn-1", "sn-2"], "part_number": 1}]}`
	if err := fx.c.Handle(context.Background(), task(TaskDeleteParts, payload)); err != nil {
		t.Fatal(err)
	}
	if len(fx.purger.reqs) != 0 {
		t.Fatalf("purged %v for a payload without a version", fx.purger.reqs)
	}
	if len(fx.nodes.calls) != 2 {
		t.Fatalf("calls %v", fx.nodes.calls)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name          string
		payload       string
		setup         func(fx *fixture)
		wantPermanent bool
		wantText      string
		wantNoDeletes bool
	}{
		{"node down retries", deleteObject, func(fx *fixture) { fx.nodes.down["sn-2"] = true }, false, "delete 1 of 5 shards", false},
		{"purge refused: live data", deleteObject, func(fx *fixture) {
			fx.purger.err = status.Error(codes.FailedPrecondition, "version is live")
		}, true, "version is live", true},
		{"purge unavailable retries", deleteObject, func(fx *fixture) {
			fx.purger.err = status.Error(codes.Unavailable, "metadata down")
		}, false, "metadata down", true},
		{"bad shard id is permanent", deleteObject, func(fx *fixture) {
			for _, s := range []string{"d1.0", "d1.1", "d1.3", "d2.0", "d2.1"} {
				fx.nodes.refused[s] = true
			}
		}, true, "bad shard id", false},
		{"bad shard id with a node down retries", deleteObject, func(fx *fixture) {
			fx.nodes.refused["d1.0"] = true
			fx.nodes.down["sn-3"] = true
		}, false, "delete 3 of 5 shards", false},
		{"not json", `{"segments": [`, nil, true, "decode payload", true},
		{"no data id", `{"segments": [{"node_ids": ["sn-1"]}]}`, nil, true, "no data id", true},
		{"version without bucket", `{"version_id": "0b0e4c8a-6d43-4b8e-9d0a-4f1c1d2e3f40", "segments": []}`, nil, true, "without a bucket id", true},
		{"too many shards", `{"segments": [{"data_id": "d", "node_ids": [` + strings.Repeat(`"n",`, 256) + `"n"]}]}`, nil, true, "at most 256", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			if tt.setup != nil {
				tt.setup(fx)
			}
			err := fx.c.Handle(context.Background(), task(TaskDeleteObject, tt.payload))
			if err == nil {
				t.Fatal("want an error")
			}
			if runner.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("permanent = %v, want %v: %v", runner.IsPermanent(err), tt.wantPermanent, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error %q, want it to contain %q", err, tt.wantText)
			}
			if tt.wantNoDeletes && len(fx.nodes.calls) != 0 {
				t.Fatalf("shards deleted despite the failure: %v", fx.nodes.calls)
			}
		})
	}
}

func TestNodeDownStillDeletesTheRest(t *testing.T) {
	fx := newFixture()
	fx.nodes.down["sn-1"] = true
	err := fx.c.Handle(context.Background(), task(TaskDeleteObject, deleteObject))
	if err == nil || runner.IsPermanent(err) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	if len(fx.nodes.shards["sn-2"]) != 0 || len(fx.nodes.shards["sn-3"]) != 0 {
		t.Fatalf("live nodes kept shards: %v", fx.nodes.shards)
	}
	// The node comes back: the retry finishes the job.
	fx.nodes.down["sn-1"] = false
	if err := fx.c.Handle(context.Background(), task(TaskDeleteObject, deleteObject)); err != nil {
		t.Fatal(err)
	}
	if len(fx.nodes.shards["sn-1"]) != 0 {
		t.Fatalf("sn-1 still holds %v", fx.nodes.shards["sn-1"])
	}
}

func TestTypes(t *testing.T) {
	if got := Types(); !slices.Equal(got, []string{"DeleteObject", "DeleteParts"}) {
		t.Fatalf("types %v", got)
	}
}

// FuzzParsePayload checks that no payload makes the parser panic and that
// accepted payloads hold the invariants Handle relies on.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{deleteObject, `{}`, `null`, `[]`, `{"segments": null}`, `{"segments": [{"data_id": ""}]}`,
		`{"bucket_id": -1, "version_id": "x"}`, `{"segments": [{"data_id": "a", "node_ids": [null, 1]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			return
		}
		if p.VersionID != "" && p.BucketID <= 0 {
			t.Fatalf("accepted a version without a bucket: %+v", p)
		}
		for _, s := range p.Segments {
			if s.DataID == "" || len(s.NodeIDs) > maxShardsPerSegment {
				t.Fatalf("accepted segment %+v", s)
			}
		}
	})
}

func TestPermanentErrorsKeepTheirCause(t *testing.T) {
	fx := newFixture()
	fx.purger.err = status.Error(codes.InvalidArgument, "version id is not a UUID")
	err := fx.c.Handle(context.Background(), task(TaskDeleteObject, deleteObject))
	var st interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &st) || st.GRPCStatus().Code() != codes.InvalidArgument {
		t.Fatalf("error %v lost its cause", err)
	}
	if !runner.IsPermanent(err) {
		t.Fatalf("%v should be permanent", err)
	}
}
