// Package gateway is the Anvil gateway: the S3 REST API, SigV4
// authentication, and the erasure-coded data path between clients and the
// storage nodes. It is stateless; any number of replicas serve the same
// cluster.
package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/metaclient"
	"github.com/anvil-store/anvil/services/gateway/internal/s3"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Secret is a flag value that never prints: not in -help defaults, not
// through fmt, not through slog or JSON.
type Secret string

// Set implements flag.Value.
func (s *Secret) Set(v string) error { *s = Secret(v); return nil }

// String implements flag.Value and fmt.Stringer without revealing the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the secret out of JSON and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// Config is the gateway's configuration.
type Config struct {
	S3ListenAddr   string
	Region         string
	Domains        flagenv.StringList
	OpsListenAddr  string
	GRPCListenAddr string

	MetadataAddr    string
	MetadataTimeout time.Duration

	AccessKeyID     string
	SecretAccessKey Secret
	MaxSkew         time.Duration

	DataShards   int
	ParityShards int
	BlockSize    int
	WriteQuorum  int

	// ShardTimeout bounds one block read and one chunk write to a storage node.
	ShardTimeout time.Duration

	ID string

	// CrashBeforeCommitKey is a test hook: the gateway kills itself
	// (SIGKILL) when a PUT of this key has written its shards and is about
	// to commit, leaving orphan shards as a real crash would.
	CrashBeforeCommitKey string

	Etcd membership.Config
	Log  service.LogConfig
}

// RegisterFlags registers the gateway's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.S3ListenAddr, "s3.listen-addr", "127.0.0.1:9000", "address of the S3 REST API")
	fs.StringVar(&c.Region, "s3.region", "us-east-1", "region this gateway serves; new buckets are created there")
	fs.Var(&c.Domains, "s3.domain", "domain for virtual-host style requests (bucket.<domain>); repeatable or comma-separated")
	fs.StringVar(&c.OpsListenAddr, "ops.listen-addr", "127.0.0.1:9001", "address of the ops HTTP server (/, /ready, /metrics)")
	fs.StringVar(&c.GRPCListenAddr, "grpc.listen-addr", "127.0.0.1:9002", "address of the gRPC server (health only for now)")
	fs.StringVar(&c.MetadataAddr, "metadata.addr", "", "comma-separated metadata service gRPC addresses (required)")
	fs.DurationVar(&c.MetadataTimeout, "metadata.timeout", 10*time.Second, "deadline of every metadata call")
	fs.StringVar(&c.AccessKeyID, "auth.access-key-id", "", "root access key id (required)")
	fs.Var(&c.SecretAccessKey, "auth.secret-access-key", "root secret access key (required; never logged)")
	fs.DurationVar(&c.MaxSkew, "auth.max-skew", 15*time.Minute, "largest accepted difference between a request's date and the clock")
	fs.IntVar(&c.DataShards, "erasure.data-shards", 4, "data shards (k) of new buckets' objects")
	fs.IntVar(&c.ParityShards, "erasure.parity-shards", 2, "parity shards (m) of new buckets' objects")
	fs.IntVar(&c.BlockSize, "erasure.block-size", erasure.DefaultBlockSize, "bytes per shard block in a full stripe")
	fs.IntVar(&c.WriteQuorum, "erasure.write-quorum", 0, "shards that must be durable for a PUT to succeed; 0 means k+1")
	fs.DurationVar(&c.ShardTimeout, "storage.shard-timeout", 30*time.Second, "bound on one block read or chunk write to a storage node")
	host, _ := os.Hostname()
	fs.StringVar(&c.ID, "gateway.id", host, "this gateway's member id in the cluster")
	fs.StringVar(&c.CrashBeforeCommitKey, "testing.crash-before-commit-key", "", "test hook: die with SIGKILL before committing a PUT of this key (never set it in production)")
	c.Etcd.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
}

// Params returns the erasure parameters of new objects.
func (c *Config) Params() erasure.Params {
	return erasure.Params{DataShards: c.DataShards, ParityShards: c.ParityShards, BlockSize: c.BlockSize}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"s3.listen-addr", c.S3ListenAddr}, {"ops.listen-addr", c.OpsListenAddr}, {"grpc.listen-addr", c.GRPCListenAddr},
		{"s3.region", c.Region}, {"metadata.addr", c.MetadataAddr}, {"auth.access-key-id", c.AccessKeyID},
		{"auth.secret-access-key", c.SecretAccessKey.Reveal()}, {"gateway.id", c.ID},
	} {
		if strings.TrimSpace(f.value) == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	if strings.ContainsAny(c.Region, "/ ") {
		errs = append(errs, fmt.Errorf("s3.region %q: want a name without slashes or spaces", c.Region))
	}
	if strings.ContainsAny(c.ID, "/ ") {
		errs = append(errs, fmt.Errorf("gateway.id %q: want an id without slashes or spaces", c.ID))
	}
	for _, d := range c.Domains {
		if strings.ContainsAny(d, "/: ") {
			errs = append(errs, fmt.Errorf("s3.domain %q: want a bare domain name", d))
		}
	}
	if c.MetadataAddr != "" && len(metaclient.ParseAddrs(c.MetadataAddr)) == 0 {
		errs = append(errs, fmt.Errorf("metadata.addr %q holds no address", c.MetadataAddr))
	}
	if c.MetadataTimeout <= 0 {
		errs = append(errs, errors.New("metadata.timeout must be positive"))
	}
	if c.MaxSkew <= 0 {
		errs = append(errs, errors.New("auth.max-skew must be positive"))
	}
	if c.ShardTimeout <= 0 {
		errs = append(errs, errors.New("storage.shard-timeout must be positive"))
	}
	p := c.Params()
	if err := p.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("erasure.*: %w", err))
	} else if c.WriteQuorum != 0 && (c.WriteQuorum < p.DataShards || c.WriteQuorum > p.Total()) {
		errs = append(errs, fmt.Errorf("erasure.write-quorum %d: want 0 or between k=%d and k+m=%d", c.WriteQuorum, p.DataShards, p.Total()))
	}
	if err := c.Etcd.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Gateway is one gateway process.
type Gateway struct {
	cfg Config
	log *slog.Logger
	reg prometheus.Registerer
	gat prometheus.Gatherer

	membership *membership.Metrics
}

// New returns a gateway. reg collects its metrics and is served on /metrics.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Gateway{
		cfg:        cfg,
		log:        log,
		reg:        reg,
		gat:        reg,
		membership: membership.NewMetrics(reg, "gateway"),
	}, nil
}

// Run serves until ctx is done, then shuts down gracefully.
func (g *Gateway) Run(ctx context.Context) error {
	cfg := g.cfg
	etcd, err := cfg.Etcd.Client()
	if err != nil {
		return err
	}
	defer func() { _ = etcd.Close() }()

	interceptors := service.NewGRPCInterceptors(g.reg, g.log)
	metaConn, err := metaclient.Dial(metaclient.ParseAddrs(cfg.MetadataAddr), cfg.MetadataTimeout, interceptors.DialOptions()...)
	if err != nil {
		return err
	}
	defer func() { _ = metaConn.Close() }()

	shards := shardclient.New(shardclient.Config{WriteTimeout: cfg.ShardTimeout, AckTimeout: cfg.ShardTimeout, DialOptions: interceptors.DialOptions()})
	defer func() { _ = shards.Close() }()

	var view *membership.View
	view = membership.NewView(etcd, cfg.Etcd.Cluster, g.log, func(joined bool, m membership.Member) {
		event := "leave"
		if joined {
			event = "join"
		}
		g.membership.Observe(joined, m)
		g.log.Info("cluster member "+event, "node_id", m.ID, "role", m.Role, "region", m.Region)
		// A node that left, or came back (restarted), gets a fresh
		// connection: the old one may sit in reconnect back-off.
		if m.Role == membership.RoleStorageNode && m.GRPCAddr != "" {
			if err := shards.Forget(m.GRPCAddr); err != nil {
				g.log.Warn("forget storage node connection", "node_id", m.ID, "err", err)
			}
		}
	})
	g.membership.Watch(view)

	lis, err := listenAll(cfg.S3ListenAddr, cfg.OpsListenAddr, cfg.GRPCListenAddr)
	if err != nil {
		return err
	}
	s3Lis, opsLis, grpcLis := lis[0], lis[1], lis[2]

	reg, err := membership.Register(ctx, etcd, cfg.Etcd.Cluster, membership.Member{
		ID:       cfg.ID,
		Role:     membership.RoleGateway,
		Region:   cfg.Region,
		GRPCAddr: grpcLis.Addr().String(),
		OpsAddr:  opsLis.Addr().String(),
	}, cfg.Etcd.TTL, g.log)
	if err != nil {
		for _, l := range lis {
			_ = l.Close()
		}
		return fmt.Errorf("register gateway: %w", err)
	}

	store := datapath.New(datapath.Config{WriteQuorum: cfg.WriteQuorum, BlockTimeout: cfg.ShardTimeout}, view, shards, g.log, g.reg)
	verifier := &sigv4.Verifier{
		Credentials: rootCredentials(cfg.AccessKeyID, cfg.SecretAccessKey.Reveal()),
		Region:      cfg.Region,
		Service:     "s3",
		Now:         time.Now,
		MaxSkew:     cfg.MaxSkew,
	}
	handler := s3.New(s3.Config{
		Region:          cfg.Region,
		Domains:         cfg.Domains,
		Erasure:         cfg.Params(),
		HostID:          cfg.ID,
		MetadataTimeout: cfg.MetadataTimeout,
		OwnerID:         cfg.AccessKeyID,
	}, g.metadataClient(metaConn), store, verifier, g.log, g.reg)

	// The public gRPC API (buckets, objects, auth) comes in a later issue;
	// for now this port serves only the standard health service.
	grpcSrv := grpc.NewServer(interceptors.ServerOptions()...)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, healthSrv)

	// Ready while a write can reach its quorum: one node down must not take
	// every gateway out of rotation (its shards are written by repair later).
	need := store.Quorum(cfg.Params())
	checks := map[string]service.Check{
		"metadata": func(ctx context.Context) error {
			resp, err := healthpb.NewHealthClient(metaConn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return fmt.Errorf("metadata health check: %w", err)
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("metadata is %s", resp.GetStatus())
			}
			return nil
		},
		// A watch on an etcd that is gone does not always break: ask it.
		"etcd": func(ctx context.Context) error { return membership.Healthy(ctx, etcd) },
		"membership": func(ctx context.Context) error {
			if !view.Synced() {
				return errors.New("membership view not synced with etcd")
			}
			if _, ok := view.Lookup(membership.RoleGateway, cfg.ID); !ok {
				return errors.New("this gateway is not in the membership view yet")
			}
			return nil
		},
		"storage_nodes": func(ctx context.Context) error {
			if live := len(view.Members(membership.RoleStorageNode, cfg.Region)); live < need {
				return fmt.Errorf("%d live storage nodes in region %s, need %d for the write quorum (%d shards)", live, cfg.Region, need, cfg.DataShards+cfg.ParityShards)
			}
			return nil
		},
	}

	g.log.Info("gateway starting", "node_id", cfg.ID, "region", cfg.Region,
		"s3_addr", s3Lis.Addr().String(), "ops_addr", opsLis.Addr().String(), "grpc_addr", grpcLis.Addr().String(),
		"data_shards", cfg.DataShards, "parity_shards", cfg.ParityShards, "block_size", cfg.BlockSize)

	var group service.Group
	group.Add(view.Run)
	group.Add(reg.Run)
	group.Add(func(ctx context.Context) error { return service.ServeHTTP(ctx, s3Lis, handler) })
	group.Add(func(ctx context.Context) error {
		return service.ServeHTTP(ctx, opsLis, service.OpsHandler(g.gat, checks))
	})
	group.Add(func(ctx context.Context) error {
		defer healthSrv.Shutdown()
		return service.ServeGRPC(ctx, grpcLis, grpcSrv)
	})
	err = group.Run(ctx)
	g.log.Info("gateway stopped", "node_id", cfg.ID)
	return err
}

// rootCredentials answers for the one configured key until tenants arrive.
func rootCredentials(accessKeyID, secret string) sigv4.Credentials {
	return func(id string) (string, bool) {
		if id != accessKeyID {
			return "", false
		}
		return secret, true
	}
}

func listenAll(addrs ...string) ([]net.Listener, error) {
	var out []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, o := range out {
				_ = o.Close()
			}
			return nil, fmt.Errorf("listen on %s: %w", a, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// metadataClient is the S3 handler's metadata client, with the crash hook
// when configured.
func (g *Gateway) metadataClient(conn grpc.ClientConnInterface) metadatav1.MetadataServiceClient {
	c := metadatav1.NewMetadataServiceClient(conn)
	if g.cfg.CrashBeforeCommitKey == "" {
		return c
	}
	g.log.Warn("test hook armed: the gateway dies before committing a PUT of this key", "key", g.cfg.CrashBeforeCommitKey)
	return crashBeforeCommit{MetadataServiceClient: c, key: g.cfg.CrashBeforeCommitKey}
}

type crashBeforeCommit struct {
	metadatav1.MetadataServiceClient
	key string
}

func (c crashBeforeCommit) CommitObject(ctx context.Context, in *metadatav1.CommitObjectRequest, opts ...grpc.CallOption) (*metadatav1.CommitObjectResponse, error) {
	if in.GetVersion().GetKey() == c.key {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not handled: the process ends here
	}
	return c.MetadataServiceClient.CommitObject(ctx, in, opts...)
}
