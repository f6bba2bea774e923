package datapath_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/fake"
	"github.com/prometheus/client_golang/prometheus"
)

const region = "us-east-1"

var params = erasure.Params{DataShards: 4, ParityShards: 2, BlockSize: 4096}

type env struct {
	store  *datapath.Store
	shards *fake.Shards
	nodes  *fake.Nodes
	reg    *prometheus.Registry
}

func newEnv(t *testing.T, liveNodes int, cfg datapath.Config) *env {
	t.Helper()
	e := &env{shards: fake.NewShards(), nodes: fake.NewNodes(fake.StorageNodes(region, liveNodes)...), reg: prometheus.NewRegistry()}
	e.store = datapath.New(cfg, e.nodes, e.shards, slog.New(slog.DiscardHandler), e.reg)
	return e
}

// checkNoLeak fails the test when goroutines started during it outlive it.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		for range 200 {
			if runtime.NumGoroutine() <= before {
				return
			}
			time.Sleep(10 * time.Millisecond) // settle: exiting goroutines need a moment
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	})
}

func payload(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func (e *env) put(t *testing.T, data []byte) datapath.PutResult {
	t.Helper()
	res, err := e.store.Put(context.Background(), datapath.PutRequest{Region: region, Params: params, Body: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	return res
}

func (e *env) get(seg *metadatav1.Segment, off, n int64) ([]byte, error) {
	var segs []*metadatav1.Segment
	if seg != nil {
		segs = append(segs, seg)
	}
	var buf bytes.Buffer
	err := e.store.Get(context.Background(), segs, off, n, &buf)
	return buf.Bytes(), err
}

func (e *env) addrOf(nodeID string) string {
	m, _ := e.nodes.Lookup(membership.RoleStorageNode, nodeID)
	return m.GRPCAddr
}

func TestPutGetRoundTrip(t *testing.T) {
	checkNoLeak(t)
	stripe := int(params.StripeSize())
	for _, size := range []int{0, 1, 100, stripe - 1, stripe, stripe + 1, 3*stripe + 7} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			e := newEnv(t, 6, datapath.Config{})
			data := payload(size)
			res := e.put(t, data)
			if res.ETag != md5hex(data) {
				t.Fatalf("etag = %s, want %s", res.ETag, md5hex(data))
			}
			if size == 0 {
				if res.Segment != nil || e.shards.Count() != 0 {
					t.Fatalf("empty object got a segment %v / %d shards", res.Segment, e.shards.Count())
				}
				return
			}
			seg := res.Segment
			if seg.GetSize() != int64(size) || seg.GetDataShards() != 4 || seg.GetParityShards() != 2 ||
				seg.GetBlockSize() != 4096 || seg.GetPartNumber() != 1 || seg.GetEtag() != res.ETag || seg.GetDataId() == "" {
				t.Fatalf("segment = %v", seg)
			}
			seen := map[string]bool{}
			for i, id := range seg.GetNodeIds() {
				if id == "" || seen[id] {
					t.Fatalf("node ids %v: shard %d missing or duplicated", seg.GetNodeIds(), i)
				}
				seen[id] = true
				want := shardclient.ShardID(seg.GetDataId(), i)
				if ids := e.shards.ShardIDs(e.addrOf(id)); len(ids) != 1 || ids[0] != want {
					t.Fatalf("node %s holds %v, want [%s]", id, ids, want)
				}
			}
			if e.shards.Open() != 0 {
				t.Fatalf("%d uploads left open", e.shards.Open())
			}
			got, err := e.get(seg, 0, int64(size))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get whole: err %v, equal %v", err, bytes.Equal(got, data))
			}
			r := rand.New(rand.NewPCG(1, uint64(size)))
			for range 20 {
				off := r.Int64N(int64(size))
				n := 1 + r.Int64N(int64(size)-off)
				got, err := e.get(seg, off, n)
				if err != nil || !bytes.Equal(got, data[off:off+n]) {
					t.Fatalf("get [%d,+%d): err %v", off, n, err)
				}
			}
		})
	}
}

func TestPutNeedsWriteQuorumOfLiveNodes(t *testing.T) {
	e := newEnv(t, 4, datapath.Config{})
	_, err := e.store.Put(context.Background(), datapath.PutRequest{Region: region, Params: params, Body: bytes.NewReader(payload(10)), Size: 10})
	var ue *datapath.UnavailableError
	want := "need 5 live storage nodes for a write (6 shards, write quorum 5), 4 live"
	if !errors.As(err, &ue) || ue.Message != want {
		t.Fatalf("err = %v, want unavailable %q", err, want)
	}
}

// With one node fewer than shards the write still meets its quorum: the
// shard without a node is recorded as missing, and the object reads back.
func TestPutWithFewerLiveNodesThanShards(t *testing.T) {
	e := newEnv(t, 5, datapath.Config{})
	data := payload(3*int(params.StripeSize()) + 11)
	res, err := e.store.Put(context.Background(), datapath.PutRequest{Region: region, Params: params, Body: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, id := range res.Segment.GetNodeIds() {
		if id == "" {
			missing++
		}
	}
	if missing != 1 {
		t.Fatalf("node ids %v: want exactly one missing shard", res.Segment.GetNodeIds())
	}
	got, err := e.get(res.Segment, 0, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}

func TestPutOtherRegionNodesDoNotCount(t *testing.T) {
	e := newEnv(t, 6, datapath.Config{})
	_, err := e.store.Put(context.Background(), datapath.PutRequest{Region: "eu-west-1", Params: params, Body: bytes.NewReader(payload(10)), Size: 10})
	var ue *datapath.UnavailableError
	if !errors.As(err, &ue) || !strings.HasSuffix(ue.Message, ", 0 live") {
		t.Fatalf("err = %v", err)
	}
}

func TestPutWithFailedShards(t *testing.T) {
	checkNoLeak(t)
	tests := []struct {
		name    string
		down    int
		quorum  int
		wantErr bool
	}{
		{"one down, default quorum k+1", 1, 0, false},
		{"two down, default quorum k+1", 2, 0, true},
		{"two down, quorum k", 2, 4, false},
		{"one down, quorum k+m", 1, 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 6, datapath.Config{WriteQuorum: tt.quorum})
			for i := range tt.down {
				e.shards.SetDown(e.addrOf("node-"+strconv.Itoa(i)), true)
			}
			data := payload(3*int(params.StripeSize()) + 5)
			res, err := e.store.Put(context.Background(), datapath.PutRequest{Region: region, Params: params, Body: bytes.NewReader(data), Size: int64(len(data))})
			if e.shards.Open() != 0 {
				t.Fatalf("%d uploads left open", e.shards.Open())
			}
			if tt.wantErr {
				var ue *datapath.UnavailableError
				if !errors.As(err, &ue) || !errors.Is(err, erasure.ErrWriteQuorum) {
					t.Fatalf("err = %v, want unavailable write quorum", err)
				}
				if e.shards.Count() != 0 {
					t.Fatalf("%d shards left after a failed put", e.shards.Count())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			missing := 0
			for _, id := range res.Segment.GetNodeIds() {
				if id == "" {
					missing++
				}
			}
			if missing != tt.down {
				t.Fatalf("node ids %v: %d missing, want %d", res.Segment.GetNodeIds(), missing, tt.down)
			}
			if got := shardErrors(t, e.reg, "put"); got < float64(tt.down) {
				t.Fatalf("shard errors{op=put} = %v, want >= %d", got, tt.down)
			}
			for i := range tt.down {
				e.shards.SetDown(e.addrOf("node-"+strconv.Itoa(i)), false)
			}
			got, err := e.get(res.Segment, 0, int64(len(data)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back: %v", err)
			}
		})
	}
}

// shardErrors reads anvil_gateway_shard_errors_total{op}.
func shardErrors(t *testing.T, reg *prometheus.Registry, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "anvil_gateway_shard_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == op {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// failingReader yields data, then fails with err instead of io.EOF (as a
// verifying body does on a bad payload hash) or in the middle.
type failingReader struct {
	data   []byte
	failAt int
	err    error
	pos    int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.pos >= f.failAt {
		return 0, f.err
	}
	n := copy(p, f.data[f.pos:f.failAt])
	f.pos += n
	return n, nil
}

func TestPutBodyFailures(t *testing.T) {
	checkNoLeak(t)
	size := 3*int(params.StripeSize()) + 5
	data := payload(size)
	errSig := errors.New("chunk signature mismatch")
	sum := md5.Sum(data)
	tests := []struct {
		name  string
		body  io.Reader
		size  int
		md5   []byte
		check func(error) bool
	}{
		{"error mid-body", &failingReader{data: data, failAt: size / 2, err: errSig}, size, nil,
			func(err error) bool { var be *datapath.BodyError; return errors.As(err, &be) && errors.Is(err, errSig) }},
		{"error at end instead of EOF", &failingReader{data: data, failAt: size, err: errSig}, size, nil,
			func(err error) bool { var be *datapath.BodyError; return errors.As(err, &be) && errors.Is(err, errSig) }},
		{"short body", bytes.NewReader(data[:size-1]), size, nil,
			func(err error) bool {
				var be *datapath.BodyError
				return errors.As(err, &be) && errors.Is(err, io.ErrUnexpectedEOF)
			}},
		{"long body", bytes.NewReader(append(bytes.Clone(data), 1)), size, nil,
			func(err error) bool { return errors.Is(err, datapath.ErrBodyTooLong) }},
		{"content-md5 mismatch", bytes.NewReader(data), size, make([]byte, 16),
			func(err error) bool { return errors.Is(err, datapath.ErrBadDigest) }},
		{"empty body with bad hash", &failingReader{err: errSig}, 0, nil,
			func(err error) bool { return errors.Is(err, errSig) }},
		{"empty body content-md5 mismatch", bytes.NewReader(nil), 0, sum[:],
			func(err error) bool { return errors.Is(err, datapath.ErrBadDigest) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 6, datapath.Config{})
			_, err := e.store.Put(context.Background(), datapath.PutRequest{Region: region, Params: params, Body: tt.body, Size: int64(tt.size), ContentMD5: tt.md5})
			if !tt.check(err) {
				t.Fatalf("err = %v", err)
			}
			if e.shards.Count() != 0 || e.shards.Open() != 0 {
				t.Fatalf("after a failed put: %d shards stored, %d uploads open", e.shards.Count(), e.shards.Open())
			}
			if tt.size > 0 && e.shards.Aborted() != 6 {
				t.Fatalf("%d uploads aborted, want 6", e.shards.Aborted())
			}
		})
	}
}

func TestPutContentMD5Match(t *testing.T) {
	e := newEnv(t, 6, datapath.Config{})
	data := payload(5000)
	sum := md5.Sum(data)
	if _, err := e.store.Put(context.Background(), datapath.PutRequest{Region: region, Params: params, Body: bytes.NewReader(data), Size: 5000, ContentMD5: sum[:]}); err != nil {
		t.Fatal(err)
	}
}

func TestPutContextCancelled(t *testing.T) {
	checkNoLeak(t)
	e := newEnv(t, 6, datapath.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := payload(3 * int(params.StripeSize()))
	_, err := e.store.Put(ctx, datapath.PutRequest{Region: region, Params: params, Body: bytes.NewReader(data), Size: int64(len(data))})
	if err == nil {
		t.Fatal("put with a cancelled context succeeded")
	}
	if e.shards.Count() != 0 || e.shards.Open() != 0 {
		t.Fatalf("%d shards stored, %d open", e.shards.Count(), e.shards.Open())
	}
}

func TestGetWithFailedNodes(t *testing.T) {
	checkNoLeak(t)
	size := 5*int(params.StripeSize()) + 123
	data := payload(size)
	tests := []struct {
		name       string
		down       int  // nodes that left the view
		readErrors int  // nodes whose reads fail after a few bytes
		fail       bool // expect UnavailableError
	}{
		{"healthy", 0, 0, false},
		{"one down", 1, 0, false},
		{"m down", 2, 0, false},
		{"m+1 down", 3, 0, true},
		{"read errors on m", 0, 2, false},
		{"one down one read error", 1, 1, false},
		{"read errors on m+1", 0, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 6, datapath.Config{})
			res := e.put(t, data)
			ids := res.Segment.GetNodeIds()
			for i := range tt.down {
				e.nodes.Remove(ids[i])
			}
			for i := range tt.readErrors {
				e.shards.FailReadsAfter(e.addrOf(ids[tt.down+i]), 1000)
			}
			off, n := int64(100), int64(size-200)
			got, err := e.get(res.Segment, off, n)
			if tt.fail {
				var ue *datapath.UnavailableError
				if !errors.As(err, &ue) {
					t.Fatalf("err = %v, want unavailable", err)
				}
				// Nothing wrong may be written: whatever came out is a correct prefix.
				if !bytes.Equal(got, data[off:off+int64(len(got))]) {
					t.Fatal("wrong bytes written before the failure")
				}
				return
			}
			if err != nil || !bytes.Equal(got, data[off:off+n]) {
				t.Fatalf("get: err %v, equal %v", err, bytes.Equal(got, data[off:off+n]))
			}
			if tt.down+tt.readErrors > 0 && shardErrors(t, e.reg, "get") == 0 {
				t.Fatal("shard errors{op=get} not counted")
			}
		})
	}
}

func TestGetSegmentsAndBadMetadata(t *testing.T) {
	e := newEnv(t, 6, datapath.Config{})
	a, b := payload(10000), payload(7000)
	ra, rb := e.put(t, a), e.put(t, b)
	all := append(bytes.Clone(a), b...)
	segs := []*metadatav1.Segment{ra.Segment, rb.Segment}
	for _, rg := range [][2]int64{{0, 17000}, {9990, 20}, {10000, 7000}, {5, 1}, {16999, 1}} {
		var buf bytes.Buffer
		if err := e.store.Get(context.Background(), segs, rg[0], rg[1], &buf); err != nil || !bytes.Equal(buf.Bytes(), all[rg[0]:rg[0]+rg[1]]) {
			t.Fatalf("range %v: %v", rg, err)
		}
	}
	var buf bytes.Buffer
	if err := e.store.Get(context.Background(), segs, 0, 17001, &buf); err == nil {
		t.Fatal("range past the segments accepted")
	}
	bad := []*metadatav1.Segment{
		{DataId: "x", Size: 10, DataShards: 4, ParityShards: 2, BlockSize: 4096, NodeIds: []string{"a"}},
		{DataId: "x", Size: 10, DataShards: 0, ParityShards: 2, BlockSize: 4096, NodeIds: make([]string, 2)},
		{DataId: "x", Size: 10, DataShards: 4, ParityShards: 2, BlockSize: 100, NodeIds: make([]string, 6)},
	}
	for i, seg := range bad {
		if _, err := e.get(seg, 0, 10); err == nil {
			t.Fatalf("bad segment %d accepted", i)
		}
	}
}

func TestQuorum(t *testing.T) {
	tests := []struct {
		cfg  int
		p    erasure.Params
		want int
	}{
		{0, erasure.Params{DataShards: 4, ParityShards: 2}, 5},
		{6, erasure.Params{DataShards: 4, ParityShards: 2}, 6},
		{9, erasure.Params{DataShards: 4, ParityShards: 2}, 6},
		{2, erasure.Params{DataShards: 4, ParityShards: 2}, 4},
		{0, erasure.Params{DataShards: 2, ParityShards: 1}, 3},
	}
	for _, tt := range tests {
		s := datapath.New(datapath.Config{WriteQuorum: tt.cfg}, fake.NewNodes(), fake.NewShards(), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if got := s.Quorum(tt.p); got != tt.want {
			t.Errorf("Quorum(cfg %d, %+v) = %d, want %d", tt.cfg, tt.p, got, tt.want)
		}
	}
}
