package storagenode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/pkg/testenv"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"github.com/anvil-store/anvil/services/storagenode/internal/shardstore"
)

func validConfig() Config {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-node.data-dirs", "/data/a,/data/b"}); err != nil {
		panic(err)
	}
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults with data dirs", func(*Config) {}, ""},
		{"no data dirs", func(c *Config) { c.DataDirs = nil }, "node.data-dirs is required"},
		{"duplicate data dir", func(c *Config) { c.DataDirs = append(c.DataDirs, "/data/a/") }, "listed twice"},
		{"bad node id", func(c *Config) { c.NodeID = "../x" }, "node.id"},
		{"good node id", func(c *Config) { c.NodeID = "sn-0" }, ""},
		{"empty region", func(c *Config) { c.Region = "" }, "node.region"},
		{"region with slash", func(c *Config) { c.Region = "us/east" }, "node.region"},
		{"zone with space", func(c *Config) { c.Zone = "zone a" }, "node.zone"},
		{"bad grpc addr", func(c *Config) { c.GRPCListenAddr = "9100" }, "grpc.listen-addr"},
		{"bad ops addr", func(c *Config) { c.OpsListenAddr = "localhost" }, "ops.listen-addr"},
		{"advertise without host", func(c *Config) { c.AdvertiseAddr = ":9100" }, "node.advertise-addr"},
		{"advertise ok", func(c *Config) { c.AdvertiseAddr = "sn-0.storage:9100" }, ""},
		{"no etcd", func(c *Config) { c.Membership.Endpoints = "" }, "etcd.endpoints"},
		{"bad log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestAdvertised(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, listen, ops, advertise string
		wantGRPC, wantOps            string
	}{
		{"loopback listen", "127.0.0.1:9100", "127.0.0.1:9101", "", "127.0.0.1:9100", "127.0.0.1:9101"},
		{"wildcard listen", "0.0.0.0:9100", "0.0.0.0:9101", "", host + ":9100", host + ":9101"},
		{"empty host", ":9100", ":9101", "", host + ":9100", host + ":9101"},
		{"explicit", "0.0.0.0:9100", "0.0.0.0:9200", "sn-1.sn.anvil.svc:9100", "sn-1.sn.anvil.svc:9100", "sn-1.sn.anvil.svc:9200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, o, err := advertised(Config{GRPCListenAddr: tt.listen, OpsListenAddr: tt.ops, AdvertiseAddr: tt.advertise})
			if err != nil || g != tt.wantGRPC || o != tt.wantOps {
				t.Fatalf("got %s %s %v, want %s %s", g, o, err, tt.wantGRPC, tt.wantOps)
			}
		})
	}
}

type runningNode struct {
	node    *Node
	cfg     Config
	etcd    *clientv3.Client
	client  storagev1.ShardServiceClient
	opsURL  string
	stop    func() error
	stopped bool
}

// startNode runs a storage node on loopback ports against etcd.
func startNode(t *testing.T, etcdEndpoint string, dirs ...string) *runningNode {
	t.Helper()
	cfg := validConfig()
	cfg.DataDirs = dirs
	cfg.GRPCListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.OpsListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.Membership.Endpoints = etcdEndpoint
	cfg.Membership.Cluster = "sntest"
	cfg.Membership.TTL = 5 * time.Second
	cfg.Zone = "zone-b"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	node, err := New(cfg, slog.New(slog.DiscardHandler), service.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	rn := &runningNode{node: node, cfg: cfg, opsURL: "http://" + cfg.OpsListenAddr}
	rn.stop = func() error {
		if rn.stopped {
			return nil
		}
		rn.stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if err := rn.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdEndpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	rn.etcd = cli
	conn, err := grpc.NewClient(cfg.GRPCListenAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	rn.client = storagev1.NewShardServiceClient(conn)
	return rn
}

func (rn *runningNode) memberKey() string {
	return "/anvil/sntest/members/" + rn.cfg.Region + "/storagenode/" + rn.node.NodeID()
}

// waitRegistered watches etcd until the node's member key appears. The
// node registers only after its listeners are bound.
func (rn *runningNode) waitRegistered(t *testing.T) membership.Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := rn.etcd.Get(ctx, rn.memberKey())
	if err != nil {
		t.Fatal(err)
	}
	val := []byte(nil)
	if len(resp.Kvs) > 0 {
		val = resp.Kvs[0].Value
	} else {
	watch:
		for wr := range rn.etcd.Watch(ctx, rn.memberKey(), clientv3.WithRev(resp.Header.Revision+1)) {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					val = ev.Kv.Value
					break watch
				}
			}
		}
	}
	if val == nil {
		t.Fatalf("node never registered at %s", rn.memberKey())
	}
	var m membership.Member
	if err := json.Unmarshal(val, &m); err != nil {
		t.Fatalf("decode member: %v", err)
	}
	return m
}

func (rn *runningNode) ready(t *testing.T) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(rn.opsURL + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func putShard(ctx context.Context, c storagev1.ShardServiceClient, id string, data []byte) error {
	stream, err := c.PutShard(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Header{Header: &storagev1.PutShardHeader{ShardId: id, Size: int64(len(data))}}}); err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Data{Data: data[:n]}}); err != nil {
			break
		}
		data = data[n:]
	}
	_, err = stream.CloseAndRecv()
	return err
}

func getShard(ctx context.Context, c storagev1.ShardServiceClient, id string, off, length int64) ([]byte, error) {
	stream, err := c.GetShard(ctx, &storagev1.GetShardRequest{ShardId: id, Offset: off, Length: length})
	if err != nil {
		return nil, err
	}
	var out []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, msg.GetData()...)
	}
}

func findFiles(t *testing.T, match func(name string) bool, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && match(d.Name()) {
				out = append(out, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestNode(t *testing.T) {
	etcd := testenv.Etcd(t)
	d1, d2 := testenv.TempDir(t), testenv.TempDir(t)
	rn := startNode(t, etcd.Endpoint(), d1, d2)
	ctx := context.Background()

	t.Run("registered in etcd", func(t *testing.T) {
		m := rn.waitRegistered(t)
		if m.ID != rn.node.NodeID() || m.Role != membership.RoleStorageNode || m.Region != "us-east-1" || m.Zone != "zone-b" ||
			m.GRPCAddr != rn.cfg.GRPCListenAddr || m.OpsAddr != rn.cfg.OpsListenAddr ||
			m.CapacityBytes == 0 || m.FreeBytes == 0 || m.FreeBytes > m.CapacityBytes || m.StartedAt.IsZero() {
			t.Fatalf("member %+v", m)
		}
	})

	t.Run("ready", func(t *testing.T) {
		// The membership check flips once the registration is confirmed,
		// a moment after the key appears in etcd.
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body := rn.ready(t)
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/ready %d %v", code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		resp, err := http.Get(rn.opsURL + "/")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("liveness: %v %v", resp, err)
		}
		_ = resp.Body.Close()
	})

	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes, 5 blocks
	t.Run("shard operations", func(t *testing.T) {
		for i := range 5 {
			if err := putShard(ctx, rn.client, fmt.Sprintf("obj-%d.%d", i/3, i%3), data); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
		got, err := getShard(ctx, rn.client, "obj-0.1", 70000, 100000)
		if err != nil || !bytes.Equal(got, data[70000:170000]) {
			t.Fatalf("ranged get: %d bytes, %v", len(got), err)
		}
		st, err := rn.client.StatShard(ctx, &storagev1.StatShardRequest{ShardId: "obj-1.0", Verify: true})
		if err != nil || st.GetSize() != int64(len(data)) {
			t.Fatalf("stat: %v %v", st, err)
		}
		var ids []string
		after := ""
		for {
			page, err := rn.client.ListShards(ctx, &storagev1.ListShardsRequest{After: after, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.GetShards() {
				ids = append(ids, e.GetShardId())
			}
			if !page.GetTruncated() {
				break
			}
			after = ids[len(ids)-1]
		}
		if want := "obj-0.0 obj-0.1 obj-0.2 obj-1.0 obj-1.1"; strings.Join(ids, " ") != want {
			t.Fatalf("listed %v, want %s", ids, want)
		}
		del, err := rn.client.DeleteShard(ctx, &storagev1.DeleteShardRequest{ShardId: "obj-1.1"})
		if err != nil || !del.GetExisted() {
			t.Fatalf("delete: %v %v", del, err)
		}
		if _, err := getShard(ctx, rn.client, "obj-1.1", 0, 0); status.Code(err) != codes.NotFound {
			t.Fatalf("get deleted: %v", err)
		}
		info, err := rn.client.NodeInfo(ctx, &storagev1.NodeInfoRequest{})
		if err != nil || info.GetNodeId() != rn.node.NodeID() || info.GetShardCount() != 4 || info.GetZone() != "zone-b" {
			t.Fatalf("node info: %v %v", info, err)
		}
	})

	t.Run("corrupt shard is DataLoss", func(t *testing.T) {
		files := findFiles(t, func(n string) bool { return n == "obj-0.2" }, d1, d2)
		if len(files) != 1 {
			t.Fatalf("files of obj-0.2: %v", files)
		}
		f, err := os.OpenFile(files[0], os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("X"), shardstore.HeaderSize+10); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := getShard(ctx, rn.client, "obj-0.2", 0, 100); status.Code(err) != codes.DataLoss {
			t.Fatalf("get corrupt: %v", err)
		}
		if _, err := rn.client.StatShard(ctx, &storagev1.StatShardRequest{ShardId: "obj-0.2", Verify: true}); status.Code(err) != codes.DataLoss {
			t.Fatalf("stat corrupt: %v", err)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(rn.opsURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"anvil_storagenode_bytes_written_total 1.6e+06",
			"anvil_storagenode_shards_written_total 5",
			"anvil_storagenode_checksum_failures_total 2",
			"anvil_storagenode_shards 4",
			"anvil_storagenode_capacity_bytes ",
			"anvil_storagenode_free_bytes ",
			"anvil_storagenode_bytes_read_total ",
			`anvil_storagenode_request_duration_seconds_count{code="DataLoss",method="GetShard"} 1`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})

	t.Run("unwritable data dir makes the node unready", func(t *testing.T) {
		// chmod does not stop root: replace the dir with a file instead.
		if err := os.RemoveAll(d2); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d2, []byte("disk gone"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, body := rn.ready(t)
		failed, _ := body["failed"].(map[string]any)
		if code != http.StatusServiceUnavailable || failed["data_dirs"] == nil || failed["membership"] != nil {
			t.Fatalf("/ready %d %v", code, body)
		}
		if err := os.Remove(d2); err != nil {
			t.Fatal(err)
		}
		// An empty dir (a disk not mounted) is still unready; a dir with the
		// shard layout is ready again.
		if err := os.Mkdir(d2, 0o755); err != nil {
			t.Fatal(err)
		}
		if code, body := rn.ready(t); code != http.StatusServiceUnavailable {
			t.Fatalf("/ready with an empty data dir %d %v", code, body)
		}
		if err := os.Mkdir(filepath.Join(d2, "shards"), 0o755); err != nil {
			t.Fatal(err)
		}
		if code, body := rn.ready(t); code != http.StatusOK {
			t.Fatalf("/ready after repair %d %v", code, body)
		}
	})

	t.Run("cancelled put leaves nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		stream, err := rn.client.PutShard(cctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Header{Header: &storagev1.PutShardHeader{ShardId: "cancelled.0", Size: 4 << 20}}}); err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&storagev1.PutShardRequest{Msg: &storagev1.PutShardRequest_Data{Data: make([]byte, 1<<20)}}); err != nil {
			t.Fatal(err)
		}
		cancel()
		// A graceful stop waits for the handler, so after it the outcome
		// of the cancelled put is final.
		if err := rn.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		if l := findFiles(t, func(n string) bool { return strings.HasPrefix(n, ".tmp.") }, d1, d2); len(l) > 0 {
			t.Fatalf("cancelled put left %v", l)
		}
		if l := findFiles(t, func(n string) bool { return n == "cancelled.0" }, d1, d2); len(l) > 0 {
			t.Fatalf("cancelled put committed %v", l)
		}
	})

	t.Run("deregistered on shutdown", func(t *testing.T) {
		if err := rn.stop(); err != nil {
			t.Fatal(err)
		}
		resp, err := rn.etcd.Get(ctx, rn.memberKey(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			t.Fatalf("member key after shutdown: %v %v", resp, err)
		}
	})

	t.Run("restart keeps identity and refuses another", func(t *testing.T) {
		id := rn.node.NodeID()
		cfg := rn.cfg
		node, err := New(cfg, slog.New(slog.DiscardHandler), service.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		if node.NodeID() != id {
			t.Fatalf("node id %s after restart, was %s", node.NodeID(), id)
		}
		if err := node.Close(); err != nil {
			t.Fatal(err)
		}
		cfg.NodeID = "someone-else"
		if _, err := New(cfg, slog.New(slog.DiscardHandler), service.NewRegistry()); !errors.Is(err, shardstore.ErrNodeMismatch) {
			t.Fatalf("start with another node id: %v", err)
		}
	})
}
