// Package storagenode is the storage node service: it keeps shard files on
// local data dirs, serves them over the ShardService gRPC API and registers
// itself in etcd with its capacity.
package storagenode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/storagenode/internal/server"
	"github.com/anvil-store/anvil/services/storagenode/internal/shardstore"
)

// capacityInterval is how often capacity figures are refreshed in the
// metrics and in the etcd registration.
const capacityInterval = 10 * time.Second

// Config is the storage node's configuration.
type Config struct {
	GRPCListenAddr string
	OpsListenAddr  string
	DataDirs       flagenv.StringList
	NodeID         string
	Region         string
	Zone           string
	AdvertiseAddr  string
	Membership     membership.Config
	Log            service.LogConfig
}

// RegisterFlags registers the storage node's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCListenAddr, "grpc.listen-addr", "127.0.0.1:9100", "address the ShardService gRPC API listens on")
	fs.StringVar(&c.OpsListenAddr, "ops.listen-addr", "127.0.0.1:9101", "address of the ops HTTP server (/, /ready, /metrics)")
	fs.Var(&c.DataDirs, "node.data-dirs", "data directory for shard files; repeat the flag or separate with commas (required)")
	fs.StringVar(&c.NodeID, "node.id", "", "node id; default: the id stored in the data dirs, or a new random one")
	fs.StringVar(&c.Region, "node.region", "us-east-1", "region the node serves")
	fs.StringVar(&c.Zone, "node.zone", "zone-a", "failure zone of the node within its region")
	fs.StringVar(&c.AdvertiseAddr, "node.advertise-addr", "", "gRPC address registered in etcd; default: grpc.listen-addr, with the host name for an unspecified host")
	c.Membership.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.DataDirs) == 0 {
		errs = append(errs, errors.New("node.data-dirs is required"))
	}
	seen := map[string]bool{}
	for _, d := range c.DataDirs {
		clean := filepath.Clean(d)
		if seen[clean] {
			errs = append(errs, fmt.Errorf("node.data-dirs: %s listed twice", d))
		}
		seen[clean] = true
	}
	if c.NodeID != "" {
		if err := shardstore.ValidateNodeID(c.NodeID); err != nil {
			errs = append(errs, fmt.Errorf("node.id: %w", err))
		}
	}
	for name, v := range map[string]string{"node.region": c.Region, "node.zone": c.Zone} {
		if v == "" || strings.ContainsAny(v, "/ \t\n") {
			errs = append(errs, fmt.Errorf("%s %q: want a non-empty name without slashes or spaces", name, v))
		}
	}
	for name, v := range map[string]string{"grpc.listen-addr": c.GRPCListenAddr, "ops.listen-addr": c.OpsListenAddr} {
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if c.AdvertiseAddr != "" {
		if host, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil || host == "" {
			errs = append(errs, fmt.Errorf("node.advertise-addr %q: want host:port", c.AdvertiseAddr))
		}
	}
	if err := c.Membership.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Node is a storage node process.
type Node struct {
	cfg    Config
	log    *slog.Logger
	reg    *prometheus.Registry
	store  *shardstore.Store
	srv    *server.Server
	member membership.Member
}

// New opens the data dirs (resolving the node id and cleaning up after a
// crash) and prepares the node. Run serves it; Run, or Close when Run is
// never called, releases the data dirs.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry) (*Node, error) {
	store, err := shardstore.Open(shardstore.Options{Dirs: cfg.DataDirs, NodeID: cfg.NodeID, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open data dirs: %w", err)
	}
	grpcAddr, opsAddr, err := advertised(cfg)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	log = log.With("node_id", store.NodeID())
	n := &Node{
		cfg:   cfg,
		log:   log,
		reg:   reg,
		store: store,
		srv:   server.New(store, server.Placement{Region: cfg.Region, Zone: cfg.Zone}, server.NewMetrics(reg), log),
		member: membership.Member{
			ID:       store.NodeID(),
			Role:     membership.RoleStorageNode,
			Region:   cfg.Region,
			Zone:     cfg.Zone,
			GRPCAddr: grpcAddr,
			OpsAddr:  opsAddr,
		},
	}
	return n, nil
}

// advertised returns the gRPC and ops addresses registered in etcd: the
// advertise address (or the gRPC listen address with the host name standing
// in for an unspecified host), and its host with the ops port.
func advertised(cfg Config) (grpcAddr, opsAddr string, err error) {
	grpcAddr = cfg.AdvertiseAddr
	if grpcAddr == "" {
		host, port, err := net.SplitHostPort(cfg.GRPCListenAddr)
		if err != nil {
			return "", "", fmt.Errorf("grpc.listen-addr: %w", err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			if host, err = os.Hostname(); err != nil {
				return "", "", fmt.Errorf("find host name for the advertise address: %w", err)
			}
		}
		grpcAddr = net.JoinHostPort(host, port)
	}
	host, _, err := net.SplitHostPort(grpcAddr)
	if err != nil {
		return "", "", fmt.Errorf("node.advertise-addr: %w", err)
	}
	_, opsPort, err := net.SplitHostPort(cfg.OpsListenAddr)
	if err != nil {
		return "", "", fmt.Errorf("ops.listen-addr: %w", err)
	}
	return grpcAddr, net.JoinHostPort(host, opsPort), nil
}

// NodeID returns the node's persistent id.
func (n *Node) NodeID() string { return n.store.NodeID() }

// Member returns the membership record the node registers (without
// capacity figures).
func (n *Node) Member() membership.Member { return n.member }

// Close releases the data dirs. It is safe to call more than once.
func (n *Node) Close() error { return n.store.Close() }

// Run listens, serves the gRPC API and the ops HTTP server, registers the
// node in etcd and keeps its capacity figures fresh, until ctx is done; then
// it stops gracefully and releases the data dirs.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	grpcLis, err := net.Listen("tcp", n.cfg.GRPCListenAddr)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	opsLis, err := net.Listen("tcp", n.cfg.OpsListenAddr)
	if err != nil {
		_ = grpcLis.Close()
		return fmt.Errorf("listen ops: %w", err)
	}
	cli, err := n.cfg.Membership.Client()
	if err != nil {
		_ = grpcLis.Close()
		_ = opsLis.Close()
		return err
	}
	defer cli.Close()

	var registration atomic.Pointer[membership.Registration]
	checks := map[string]service.Check{
		"data_dirs": func(context.Context) error { return n.store.CheckDirs() },
		"membership": func(ctx context.Context) error {
			r := registration.Load()
			if r == nil {
				return errors.New("not registered in etcd yet")
			}
			return r.Registered(ctx)
		},
	}
	if _, err := n.srv.RefreshCapacity(); err != nil {
		n.log.Warn("read capacity", "err", err)
	}
	gs := server.NewGRPCServer(n.srv, service.NewGRPCInterceptors(n.reg, n.log).ServerOptions()...)

	var g service.Group
	g.Add(func(ctx context.Context) error { return service.ServeGRPC(ctx, grpcLis, gs) })
	g.Add(func(ctx context.Context) error {
		return service.ServeHTTP(ctx, opsLis, service.OpsHandler(n.reg, checks))
	})
	g.Add(func(ctx context.Context) error { return n.runMembership(ctx, cli, &registration) })
	g.Add(func(ctx context.Context) error { return n.refreshCapacity(ctx, &registration) })
	n.log.Info("storage node serving", "grpc_addr", grpcLis.Addr().String(), "ops_addr", opsLis.Addr().String(),
		"advertise_addr", n.member.GRPCAddr, "data_dirs", n.store.Dirs(), "shards", n.store.ShardCount())
	err = g.Run(ctx)
	n.log.Info("storage node stopped")
	return err
}

// runMembership registers the node, retrying while etcd is unreachable, then
// keeps the lease alive until ctx is done.
func (n *Node) runMembership(ctx context.Context, cli *clientv3.Client, out *atomic.Pointer[membership.Registration]) error {
	backoff := 500 * time.Millisecond
	for {
		m := n.member
		if c, err := n.store.Capacity(); err == nil {
			m.CapacityBytes, m.FreeBytes = c.TotalBytes, c.FreeBytes
		}
		r, err := membership.Register(ctx, cli, n.cfg.Membership.Cluster, m, n.cfg.Membership.TTL, n.log)
		if err == nil {
			out.Store(r)
			n.log.Info("registered in etcd", "cluster", n.cfg.Membership.Cluster, "region", m.Region, "zone", m.Zone)
			return r.Run(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		n.log.Warn("register in etcd", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// refreshCapacity updates the capacity metrics and the registration every
// capacityInterval.
func (n *Node) refreshCapacity(ctx context.Context, registration *atomic.Pointer[membership.Registration]) error {
	t := time.NewTicker(capacityInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		c, err := n.srv.RefreshCapacity()
		if err != nil {
			n.log.Warn("read capacity", "err", err)
			continue
		}
		r := registration.Load()
		if r == nil {
			continue
		}
		err = r.Update(ctx, func(m *membership.Member) {
			m.CapacityBytes, m.FreeBytes = c.TotalBytes, c.FreeBytes
		})
		if err != nil && ctx.Err() == nil {
			n.log.Warn("update capacity in etcd", "err", err)
		}
	}
}
