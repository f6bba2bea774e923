// Package worker is the worker fleet that drains the task queue: garbage
// collection, bucket deletion, shard repair, rebalancing, orphan clean-up and
// the scanner.
//
// Pieces: the lease loop (internal/runner); garbage collection of deleted
// versions, unused multipart parts and deleted buckets (internal/gc); shard
// repair and moves (internal/repair); orphan reconciliation
// (internal/orphans); and the region's scanner, run by one elected worker
// at a time (internal/scanner), which queues repairs, moves and
// reconciliations.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/worker/internal/gc"
	"github.com/anvil-store/anvil/services/worker/internal/orphans"
	"github.com/anvil-store/anvil/services/worker/internal/repair"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"github.com/anvil-store/anvil/services/worker/internal/scanner"
	"github.com/anvil-store/anvil/services/worker/internal/shards"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Config holds the worker's settings.
type Config struct {
	GRPCListenAddr string
	OpsListenAddr  string
	MetadataAddr   string
	ID             string
	Region         string
	Concurrency    int
	Lease          time.Duration
	PollInterval   time.Duration
	MaxBatch       int
	StopTimeout    time.Duration
	OrphanGrace    time.Duration
	OrphanDelete   bool
	MoveRate       int64
	Scanner        scanner.Config
	Membership     membership.Config
	Log            service.LogConfig
}

// RegisterFlags registers the worker's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCListenAddr, "grpc.listen-addr", "127.0.0.1:9400", "address of the gRPC server (health service)")
	fs.StringVar(&c.OpsListenAddr, "ops.listen-addr", "127.0.0.1:9401", "address of the ops HTTP server (/, /ready, /metrics)")
	fs.StringVar(&c.MetadataAddr, "metadata.addr", "", "gRPC address of the metadata service")
	fs.StringVar(&c.ID, "worker.id", "", "worker id in the cluster (default: the host name)")
	fs.StringVar(&c.Region, "worker.region", "us-east-1", "region this worker serves")
	fs.IntVar(&c.Concurrency, "worker.concurrency", 4, "tasks run at once")
	fs.DurationVar(&c.Lease, "worker.lease", 30*time.Second, "task lease, renewed every third of it while a task runs; a crashed worker's tasks run again after it")
	fs.DurationVar(&c.PollInterval, "worker.poll-interval", 500*time.Millisecond, "wait before asking again when the queue is empty or unreachable")
	fs.IntVar(&c.MaxBatch, "worker.max-batch", 16, "most tasks leased per call (never more than free slots)")
	fs.DurationVar(&c.StopTimeout, "worker.stop-timeout", 20*time.Second, "at shutdown, how long running tasks may finish before they are abandoned to lapse")
	fs.DurationVar(&c.OrphanGrace, "orphans.grace", time.Hour, "a shard no placement names is deleted once it is this old (must exceed the time from a shard write to its commit)")
	fs.BoolVar(&c.OrphanDelete, "orphans.delete", true, "delete orphan shards; false only logs and counts them (after a database restore, see docs/operations/backup.md)")
	fs.Int64Var(&c.MoveRate, "rebalance.bytes-per-second", 64<<20, "bytes per second this worker writes for rebalancing and drain moves (0: no cap; repairs are never capped)")
	c.Scanner.RegisterFlags(fs)
	c.Membership.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
}

// Validate checks the settings.
func (c *Config) Validate() error {
	if c.MetadataAddr == "" {
		return errors.New("metadata.addr is required")
	}
	if c.ID == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("worker.id not set and no host name: %w", err)
		}
		c.ID = host
	}
	if strings.ContainsAny(c.ID, "/ ") {
		return fmt.Errorf("worker.id %q: want an id without slashes or spaces", c.ID)
	}
	if c.Lease < 3*time.Second || c.Lease > time.Hour {
		return fmt.Errorf("worker.lease %s: want 3s to 1h", c.Lease)
	}
	if err := c.runnerConfig("check").Validate(); err != nil {
		return err
	}
	if c.OrphanGrace < time.Second {
		return fmt.Errorf("orphans.grace %s: want at least 1s", c.OrphanGrace)
	}
	if c.MoveRate < 0 {
		return fmt.Errorf("rebalance.bytes-per-second %d: want >= 0", c.MoveRate)
	}
	if err := c.Scanner.Validate(); err != nil {
		return err
	}
	if err := c.Membership.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

func (c *Config) runnerConfig(owner string) runner.Config {
	return runner.Config{
		Owner: owner, Region: c.Region, Concurrency: c.Concurrency, Lease: c.Lease,
		PollInterval: c.PollInterval, MaxBatch: c.MaxBatch, StopTimeout: c.StopTimeout,
		CallTimeout: callTimeout,
	}
}

// Timeouts of the worker's calls to the metadata service and storage nodes.
const (
	callTimeout  = 10 * time.Second
	shardTimeout = 10 * time.Second
)

// Worker is one member of the worker fleet.
type Worker struct {
	cfg Config
	log *slog.Logger
	reg *prometheus.Registry
}

// New returns a worker whose metrics go to reg.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry) (*Worker, error) {
	return &Worker{cfg: cfg, log: log, reg: reg}, nil
}

// owner names this process in task leases: the worker id plus a random
// suffix, so a restarted worker never mistakes its predecessor's leases for
// its own.
func (w *Worker) owner() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return w.cfg.ID + "/" + hex.EncodeToString(b)
}

// Run serves until ctx is done, then stops leasing and lets running tasks
// finish (up to worker.stop-timeout).
func (w *Worker) Run(ctx context.Context) error {
	cli, err := w.cfg.Membership.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	interceptors := service.NewGRPCInterceptors(w.reg, w.log)
	conn, err := grpc.NewClient(w.cfg.MetadataAddr, append(interceptors.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		return fmt.Errorf("dial metadata: %w", err)
	}
	defer conn.Close()
	metadataHealth := healthpb.NewHealthClient(conn)
	tasks := metadatav1.NewTaskServiceClient(conn)
	registry := w.reg

	var nodes *shards.Client
	members := membership.NewMetrics(registry, "worker")
	view := membership.NewView(cli, w.cfg.Membership.Cluster, w.log, func(joined bool, m membership.Member) {
		members.Observe(joined, m)
		if !joined && m.Role == membership.RoleStorageNode {
			nodes.Forget(m)
		}
	})
	members.Watch(view)
	nodes = shards.New(view, shardTimeout, interceptors.DialOptions()...)
	defer func() { _ = nodes.Close() }()
	placements := metadatav1.NewPlacementServiceClient(conn)
	collector := gc.New(nodes, tasks, w.log, registry, gc.Options{CallTimeout: callTimeout})
	repairer := repair.New(nodes, view, placements, w.log, registry, repair.Options{
		CallTimeout: callTimeout, BlockTimeout: shardTimeout, MoveBytesPerSecond: w.cfg.MoveRate,
	})
	reconciler := orphans.New(nodes, placements, w.log, registry, orphans.Options{
		Grace: w.cfg.OrphanGrace, CallTimeout: callTimeout, ReportOnly: !w.cfg.OrphanDelete,
	})
	handlers := map[string]runner.Handler{
		gc.TaskDeleteBucket:       gc.NewBucketCollector(placements, w.log, callTimeout).Handle,
		orphans.TaskReconcileNode: reconciler.Handle,
	}
	for _, typ := range gc.Types() {
		handlers[typ] = collector.Handle
	}
	for _, typ := range repair.Types() {
		handlers[typ] = repairer.Handle
	}
	scan := scanner.New(w.cfg.Scanner, w.cfg.Region, w.cfg.ID, cli, w.cfg.Membership.Cluster, view, nodes, placements, tasks, w.log, registry)
	owner := w.owner()
	loop, err := runner.New(w.cfg.runnerConfig(owner), tasks, handlers, w.log, registry)
	if err != nil {
		return err
	}

	opsLis, err := net.Listen("tcp", w.cfg.OpsListenAddr)
	if err != nil {
		return fmt.Errorf("listen ops: %w", err)
	}
	grpcLis, err := net.Listen("tcp", w.cfg.GRPCListenAddr)
	if err != nil {
		_ = opsLis.Close()
		return fmt.Errorf("listen grpc: %w", err)
	}
	grpcSrv := grpc.NewServer(interceptors.ServerOptions()...)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, healthSrv)
	reg, err := membership.Register(ctx, cli, w.cfg.Membership.Cluster, membership.Member{
		ID: w.cfg.ID, Role: membership.RoleWorker, Region: w.cfg.Region,
		GRPCAddr: grpcLis.Addr().String(), OpsAddr: opsLis.Addr().String(),
	}, w.cfg.Membership.TTL, w.log)
	if err != nil {
		_ = opsLis.Close()
		_ = grpcLis.Close()
		return err
	}
	checks := map[string]service.Check{
		"metadata": func(ctx context.Context) error {
			resp, err := metadataHealth.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			if resp.Status != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("metadata: %s", resp.Status)
			}
			return nil
		},
		"membership": reg.Registered,
	}
	var g service.Group
	g.Add(func(ctx context.Context) error {
		return service.ServeHTTP(ctx, opsLis, service.OpsHandler(registry, checks))
	})
	g.Add(func(ctx context.Context) error { return service.ServeGRPC(ctx, grpcLis, grpcSrv) })
	g.Add(reg.Run)
	g.Add(view.Run)
	g.Add(func(ctx context.Context) error {
		// Tasks name storage nodes by id: resolve them from a loaded view.
		if !waitSynced(ctx, view) {
			return nil
		}
		return loop.Run(ctx)
	})
	g.Add(func(ctx context.Context) error {
		if !waitSynced(ctx, view) {
			return nil
		}
		return scan.Run(ctx)
	})
	w.log.Info("worker started", "ops_addr", opsLis.Addr().String(), "worker_id", w.cfg.ID, "lease_owner", owner)
	err = g.Run(ctx)
	w.log.Info("worker stopped")
	return err
}

// waitSynced waits until the view has loaded the members; false when ctx
// ended first.
func waitSynced(ctx context.Context, view *membership.View) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !view.Synced() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
