package datapath_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/fake"
	"github.com/prometheus/client_golang/prometheus"
)

func newPool(t *testing.T, cfg shardclient.Config) *shardclient.Pool {
	g := shardclient.New(cfg)
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return g
}

func TestShardClientPutGet(t *testing.T) {
	ss, addr := fake.ServeShards(t)
	g := newPool(t, shardclient.Config{})
	ctx := context.Background()
	data := payload(3<<20 + 17)

	w, err := g.PutShard(ctx, addr, "d.0", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:100]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[100:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // harmless after Commit
	got, ok := ss.Stored("d.0")
	if !ok || !bytes.Equal(got, data) {
		t.Fatal("stored shard differs")
	}
	if ss.MaxMessage() > shardclient.MaxChunk {
		t.Fatalf("a data message of %d bytes exceeds %d", ss.MaxMessage(), shardclient.MaxChunk)
	}

	for _, rg := range [][2]int64{{0, int64(len(data))}, {5, 1}, {1 << 20, 12345}, {int64(len(data)) - 1, 1}} {
		rc, err := g.GetShard(ctx, addr, "d.0", rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if cerr := rc.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil || !bytes.Equal(b, data[rg[0]:rg[0]+rg[1]]) {
			t.Fatalf("range %v: err %v", rg, err)
		}
	}
}

func TestShardClientErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("size mismatch fails commit", func(t *testing.T) {
		ss, addr := fake.ServeShards(t)
		g := newPool(t, shardclient.Config{})
		w, err := g.PutShard(ctx, addr, "d.1", 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err == nil {
			t.Fatal("commit of a short shard succeeded")
		}
		if _, ok := ss.Stored("d.1"); ok {
			t.Fatal("short shard stored")
		}
	})
	t.Run("overlong write refused", func(t *testing.T) {
		_, addr := fake.ServeShards(t)
		g := newPool(t, shardclient.Config{})
		w, err := g.PutShard(ctx, addr, "d.2", 4)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		if _, err := w.Write(make([]byte, 5)); err == nil {
			t.Fatal("write past the declared size accepted")
		}
	})
	t.Run("abort discards", func(t *testing.T) {
		ss, addr := fake.ServeShards(t)
		g := newPool(t, shardclient.Config{})
		w, err := g.PutShard(ctx, addr, "d.3", 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		if err := w.Commit(); err == nil {
			t.Fatal("commit after abort succeeded")
		}
		if _, ok := ss.Stored("d.3"); ok {
			t.Fatal("aborted shard stored")
		}
	})
	t.Run("stalled node times out", func(t *testing.T) {
		ss, addr := fake.ServeShards(t)
		ss.SetStall(true)
		g := newPool(t, shardclient.Config{WriteTimeout: 50 * time.Millisecond})
		w, err := g.PutShard(ctx, addr, "d.4", 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		chunk := make([]byte, 1<<20)
		var werr error
		for range 64 {
			if _, werr = w.Write(chunk); werr != nil {
				break
			}
		}
		if werr == nil {
			t.Fatal("writes to a node that never reads all succeeded")
		}
	})
	t.Run("missing shard", func(t *testing.T) {
		_, addr := fake.ServeShards(t)
		g := newPool(t, shardclient.Config{})
		rc, err := g.GetShard(ctx, addr, "nope", 0, 10)
		if err == nil {
			_, err = io.ReadAll(rc)
			_ = rc.Close()
		}
		if err == nil {
			t.Fatal("read of a missing shard succeeded")
		}
	})
	t.Run("short stream", func(t *testing.T) {
		ss, addr := fake.ServeShards(t)
		ss.Store("d.5", payload(100))
		ss.SetShort(true)
		g := newPool(t, shardclient.Config{})
		rc, err := g.GetShard(ctx, addr, "d.5", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadAll(rc); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want unexpected EOF", err)
		}
	})
	t.Run("unreachable node", func(t *testing.T) {
		g := newPool(t, shardclient.Config{})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		_ = lis.Close()
		w, err := g.PutShard(ctx, addr, "d.6", 10)
		if err == nil {
			_, err = w.Write(make([]byte, 10))
			if err == nil {
				err = w.Commit()
			}
			w.Abort()
		}
		if err == nil {
			t.Fatal("put to a closed port succeeded")
		}
	})
	t.Run("forget", func(t *testing.T) {
		ss, addr := fake.ServeShards(t)
		g := newPool(t, shardclient.Config{})
		put := func(id string) error {
			w, err := g.PutShard(ctx, addr, id, 3)
			if err != nil {
				return err
			}
			if _, err := w.Write([]byte("abc")); err != nil {
				w.Abort()
				return err
			}
			return w.Commit()
		}
		if err := put("f.0"); err != nil {
			t.Fatal(err)
		}
		if err := g.Forget(addr); err != nil {
			t.Fatal(err)
		}
		if err := g.Forget(addr); err != nil {
			t.Fatal(err)
		}
		// A node that comes back gets a fresh connection.
		if err := put("f.1"); err != nil {
			t.Fatal(err)
		}
		if ss.Count() != 2 {
			t.Fatalf("%d shards stored, want 2", ss.Count())
		}
	})
	t.Run("closed pool", func(t *testing.T) {
		g := shardclient.New(shardclient.Config{})
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := g.PutShard(ctx, "127.0.0.1:1", "x", 1); err == nil {
			t.Fatal("closed pool opened a stream")
		}
	})
}

// TestStoreOverGRPC runs the whole data path against six shard servers over
// real gRPC, including a node that goes away after the write.
func TestStoreOverGRPC(t *testing.T) {
	var members []membership.Member
	servers := map[string]*fake.ShardServer{}
	for i := range 6 {
		ss, addr := fake.ServeShards(t)
		id := fmt.Sprintf("sn-%d", i)
		servers[id] = ss
		members = append(members, membership.Member{ID: id, Role: membership.RoleStorageNode, Region: region, Zone: fmt.Sprintf("z%d", i%3), GRPCAddr: addr})
	}
	nodes := fake.NewNodes(members...)
	store := datapath.New(datapath.Config{BlockTimeout: 5 * time.Second}, nodes, newPool(t, shardclient.Config{}), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	data := payload(2<<20 + 999)
	res, err := store.Put(context.Background(), datapath.PutRequest{Region: region, Params: params, Body: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range res.Segment.GetNodeIds() {
		if _, ok := servers[id].Stored(shardclient.ShardID(res.Segment.GetDataId(), i)); !ok {
			t.Fatalf("shard %d not on node %s", i, id)
		}
	}
	nodes.Remove(res.Segment.GetNodeIds()[0])
	var buf bytes.Buffer
	if err := store.Get(context.Background(), nil, 0, 0, &buf); err != nil {
		t.Fatal(err)
	}
	if err := store.Get(context.Background(), []*metadatav1.Segment{res.Segment}, 1000, int64(len(data))-2000, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data[1000:len(data)-1000]) {
		t.Fatal("bytes differ after reconstruction")
	}
}
