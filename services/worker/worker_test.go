package worker

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/pkg/testenv"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func validConfig() Config {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var c Config
	c.RegisterFlags(fs)
	c.MetadataAddr = "127.0.0.1:9300"
	c.ID = "worker-1"
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no metadata", func(c *Config) { c.MetadataAddr = "" }, "metadata.addr"},
		{"slash in id", func(c *Config) { c.ID = "a/b" }, "worker.id"},
		{"short lease", func(c *Config) { c.Lease = time.Second }, "worker.lease"},
		{"no concurrency", func(c *Config) { c.Concurrency = 0 }, "worker.concurrency"},
		{"no batch", func(c *Config) { c.MaxBatch = 0 }, "worker.max-batch"},
		{"no poll", func(c *Config) { c.PollInterval = 0 }, "worker.poll-interval"},
		{"negative stop timeout", func(c *Config) { c.StopTimeout = -1 }, "worker.stop-timeout"},
		{"no etcd", func(c *Config) { c.Membership.Endpoints = "" }, "etcd.endpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig()
	if c.Concurrency != 4 || c.Lease != 30*time.Second || c.PollInterval != 500*time.Millisecond || c.MaxBatch != 16 {
		t.Fatalf("defaults: %+v", c)
	}
}

// fakeMetadata serves TaskService and health over loopback with one
// DeleteObject task.
type fakeMetadata struct {
	metadatav1.UnimplementedTaskServiceServer
	mu        sync.Mutex
	task      *metadatav1.Task
	leased    bool
	completed []int64
	failed    []string
	purged    []*metadatav1.PurgeVersionRequest
	done      chan struct{}
}

func (f *fakeMetadata) LeaseTasks(_ context.Context, req *metadatav1.LeaseTasksRequest) (*metadatav1.LeaseTasksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leased || !slices.Contains(req.GetTypes(), f.task.GetType()) || req.GetRegion() != "us-east-1" {
		return &metadatav1.LeaseTasksResponse{}, nil
	}
	f.leased = true
	f.task.LeaseOwner = req.GetOwner()
	return &metadatav1.LeaseTasksResponse{Tasks: []*metadatav1.Task{f.task}}, nil
}

func (f *fakeMetadata) CompleteTask(_ context.Context, req *metadatav1.CompleteTaskRequest) (*metadatav1.CompleteTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.completed = append(f.completed, req.GetTaskId())
	close(f.done)
	return &metadatav1.CompleteTaskResponse{}, nil
}

func (f *fakeMetadata) FailTask(_ context.Context, req *metadatav1.FailTaskRequest) (*metadatav1.FailTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, req.GetError())
	close(f.done)
	return &metadatav1.FailTaskResponse{Task: f.task}, nil
}

func (f *fakeMetadata) PurgeVersion(_ context.Context, req *metadatav1.PurgeVersionRequest) (*metadatav1.PurgeVersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purged = append(f.purged, req)
	return &metadatav1.PurgeVersionResponse{Purged: true}, nil
}

type fakeNode struct {
	storagev1.UnimplementedShardServiceServer
	mu      sync.Mutex
	deleted []string
}

func (n *fakeNode) DeleteShard(_ context.Context, req *storagev1.DeleteShardRequest) (*storagev1.DeleteShardResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleted = append(n.deleted, req.GetShardId())
	return &storagev1.DeleteShardResponse{Existed: true}, nil
}

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// TestRun runs a worker against real etcd, with the metadata service and a
// storage node played by loopback gRPC fakes: it collects a deleted
// version, is ready, and stops cleanly.
func TestRun(t *testing.T) {
	etcd := testenv.Etcd(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	meta := &fakeMetadata{done: make(chan struct{}), task: &metadatav1.Task{
		Id: 42, Type: "DeleteObject", Region: "us-east-1", Attempts: 1,
		Payload: []byte(`{"bucket_id": 3, "bucket": "b", "key": "k", "version_id": "0b0e4c8a-6d43-4b8e-9d0a-4f1c1d2e3f40",
			"segments": [{"data_id": "d9", "node_ids": ["sn-1", "sn-1"]}]}`),
	}}
	metaAddr := serve(t, func(s *grpc.Server) {
		metadatav1.RegisterTaskServiceServer(s, meta)
		healthpb.RegisterHealthServer(s, health.NewServer())
	})
	node := &fakeNode{}
	nodeAddr := serve(t, func(s *grpc.Server) { storagev1.RegisterShardServiceServer(s, node) })

	cfg := validConfig()
	cfg.MetadataAddr = metaAddr
	cfg.GRPCListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.OpsListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.Membership.Endpoints = etcd.Endpoint()
	cfg.Membership.Cluster = "test"
	cfg.PollInterval = 10 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cli, err := cfg.Membership.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	regCtx, stopReg := context.WithCancel(ctx)
	reg, err := membership.Register(regCtx, cli, "test", membership.Member{
		ID: "sn-1", Role: membership.RoleStorageNode, Region: "us-east-1", GRPCAddr: nodeAddr,
	}, 10*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	regDone := make(chan error, 1)
	go func() { regDone <- reg.Run(regCtx) }()
	defer func() {
		stopReg()
		<-regDone
	}()

	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	w, err := New(cfg, log, service.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	go func() { runDone <- w.Run(runCtx) }()

	select {
	case <-meta.done:
	case err := <-runDone:
		t.Fatalf("worker exited: %v", err)
	case <-ctx.Done():
		t.Fatal("task not reported")
	}
	meta.mu.Lock()
	completed, failed, purged := slices.Clone(meta.completed), slices.Clone(meta.failed), slices.Clone(meta.purged)
	owner := meta.task.GetLeaseOwner()
	meta.mu.Unlock()
	if len(failed) != 0 || !slices.Equal(completed, []int64{42}) {
		t.Fatalf("completed %v, failed %v", completed, failed)
	}
	if len(purged) != 1 || purged[0].GetBucketId() != 3 || purged[0].GetRegion() != "us-east-1" {
		t.Fatalf("purged %v", purged)
	}
	if !strings.HasPrefix(owner, "worker-1/") {
		t.Fatalf("lease owner %q, want worker-1/<suffix>", owner)
	}
	node.mu.Lock()
	deleted := slices.Sorted(slices.Values(node.deleted))
	node.mu.Unlock()
	if !slices.Equal(deleted, []string{"d9.0", "d9.1"}) {
		t.Fatalf("deleted shards %v", deleted)
	}

	resp, err := http.Get("http://" + cfg.OpsListenAddr + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/ready: %d %s", resp.StatusCode, body)
	}

	stop()
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("worker did not stop")
	}
}
