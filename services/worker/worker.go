// Package worker is the worker fleet that drains the task queue: garbage
// collection, bucket deletion, shard repair, rebalancing, orphan clean-up and
// the scanner.
//
// Not finished: this first version only joins the cluster (etcd membership,
// ops endpoints, readiness against the metadata service). Task leasing and
// the handlers come with the task-queue issue; until then the tasks queued by
// deletes stay pending in the global database.
package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
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
	Membership     membership.Config
	Log            service.LogConfig
}

// RegisterFlags registers the worker's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCListenAddr, "grpc.listen-addr", "127.0.0.1:9400", "address of the gRPC server (health service; the worker API comes with the task-queue issue)")
	fs.StringVar(&c.OpsListenAddr, "ops.listen-addr", "127.0.0.1:9401", "address of the ops HTTP server (/, /ready, /metrics)")
	fs.StringVar(&c.MetadataAddr, "metadata.addr", "", "gRPC address of the metadata service")
	fs.StringVar(&c.ID, "worker.id", "", "worker id in the cluster (default: the host name)")
	fs.StringVar(&c.Region, "worker.region", "us-east-1", "region this worker serves")
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
	if err := c.Membership.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Worker is one member of the worker fleet.
type Worker struct {
	cfg Config
	log *slog.Logger
}

// New returns a worker.
func New(cfg Config, log *slog.Logger) *Worker {
	return &Worker{cfg: cfg, log: log}
}

// Run serves until ctx is done.
func (w *Worker) Run(ctx context.Context) error {
	cli, err := w.cfg.Membership.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	conn, err := grpc.NewClient(w.cfg.MetadataAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial metadata: %w", err)
	}
	defer conn.Close()
	metadataHealth := healthpb.NewHealthClient(conn)

	opsLis, err := net.Listen("tcp", w.cfg.OpsListenAddr)
	if err != nil {
		return fmt.Errorf("listen ops: %w", err)
	}
	grpcLis, err := net.Listen("tcp", w.cfg.GRPCListenAddr)
	if err != nil {
		_ = opsLis.Close()
		return fmt.Errorf("listen grpc: %w", err)
	}
	grpcSrv := grpc.NewServer()
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
	registry := service.NewRegistry()
	var g service.Group
	g.Add(func(ctx context.Context) error {
		return service.ServeHTTP(ctx, opsLis, service.OpsHandler(registry, checks))
	})
	g.Add(func(ctx context.Context) error { return service.ServeGRPC(ctx, grpcLis, grpcSrv) })
	g.Add(reg.Run)
	w.log.Info("worker started", "ops_addr", opsLis.Addr().String(), "worker_id", w.cfg.ID)
	err = g.Run(ctx)
	w.log.Info("worker stopped")
	return err
}
