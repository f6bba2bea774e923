// Package metadata is the metadata service: the only process that opens
// PostgreSQL. It owns the global database (regions, buckets, the task queue)
// and one database per region it serves (object versions, the outbox), and
// serves MetadataService over gRPC.
package metadata

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/metadata/internal/migrations"
	"github.com/anvil-store/anvil/services/metadata/internal/server"
	"github.com/anvil-store/anvil/services/metadata/internal/store"
	"github.com/anvil-store/anvil/services/metadata/internal/taskqueue"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Config configures the metadata service.
type Config struct {
	GRPCListenAddr string
	OpsListenAddr  string
	AdvertiseAddr  string
	InstanceID     string
	GlobalDSN      string
	// RegionalDSNs holds "region=dsn" entries, one per served region.
	RegionalDSNs flagenv.StringList
	// GCGrace delays the collection of replaced and deleted data.
	GCGrace time.Duration

	Membership membership.Config
	Log        service.LogConfig
}

// RegisterFlags registers the service's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&c.GRPCListenAddr, "grpc.listen-addr", "127.0.0.1:9300", "address of the gRPC API")
	fs.StringVar(&c.OpsListenAddr, "ops.listen-addr", "127.0.0.1:9301", "address of the ops HTTP server (/, /ready, /metrics)")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", "", "gRPC address registered in membership (default: the gRPC listen address)")
	fs.StringVar(&c.InstanceID, "instance-id", host, "id of this process in membership")
	fs.StringVar(&c.GlobalDSN, "db.global-dsn", "", "PostgreSQL connection string of the global database (required)")
	fs.Var(&c.RegionalDSNs, "db.regional-dsn", `"region=dsn" of a served region's database; repeatable, or comma-separated in the environment`)
	fs.DurationVar(&c.GCGrace, "gc.grace", 5*time.Minute, "delay before the data of a replaced or deleted version is collected, so reads in flight finish")
	c.Membership.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
}

// errBadDSN stands in for the parser's error, which may quote the
// connection string and its password.
var errBadDSN = errors.New("metadata: not a valid PostgreSQL connection string")

var regionNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Regions parses RegionalDSNs into a map from region to DSN.
func (c *Config) Regions() (map[string]string, error) {
	out := map[string]string{}
	for _, entry := range c.RegionalDSNs {
		region, dsn, ok := strings.Cut(entry, "=")
		region = strings.TrimSpace(region)
		if !ok || dsn == "" {
			// Not echoing the entry: it may hold a password.
			return nil, fmt.Errorf("db.regional-dsn: want region=dsn, got an entry for %q without a dsn", region)
		}
		if !regionNameRE.MatchString(region) {
			return nil, fmt.Errorf("db.regional-dsn: region %q: want lower-case letters, digits and hyphens", region)
		}
		if _, dup := out[region]; dup {
			return nil, fmt.Errorf("db.regional-dsn: region %q given twice", region)
		}
		if _, err := pgxpool.ParseConfig(dsn); err != nil {
			return nil, fmt.Errorf("db.regional-dsn: region %q: %w", region, errBadDSN)
		}
		out[region] = dsn
	}
	return out, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.GRPCListenAddr == "" || c.OpsListenAddr == "" {
		return errors.New("grpc.listen-addr and ops.listen-addr are required")
	}
	if c.GCGrace < 0 {
		return errors.New("gc.grace must not be negative")
	}
	if c.InstanceID == "" || strings.ContainsAny(c.InstanceID, "/ ") {
		return fmt.Errorf("instance-id %q: want a non-empty id without slashes or spaces", c.InstanceID)
	}
	if c.GlobalDSN == "" {
		return errors.New("db.global-dsn is required")
	}
	if _, err := pgxpool.ParseConfig(c.GlobalDSN); err != nil {
		return fmt.Errorf("db.global-dsn: %w", errBadDSN)
	}
	if len(c.RegionalDSNs) == 0 {
		return errors.New("db.regional-dsn: at least one region is required")
	}
	if _, err := c.Regions(); err != nil {
		return err
	}
	if err := c.Membership.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Metadata is the metadata service.
type Metadata struct {
	cfg     Config
	regions map[string]string
	log     *slog.Logger
	reg     *prometheus.Registry
}

// New returns the service; Run starts it.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry) (*Metadata, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	regions, _ := cfg.Regions()
	return &Metadata{cfg: cfg, regions: regions, log: log, reg: reg}, nil
}

// Timeouts of the service's own database and etcd calls.
const (
	pingTimeout    = 5 * time.Second
	migrateTimeout = 5 * time.Minute
	healthInterval = 2 * time.Second
)

// Run connects to the databases (retrying until ctx is done), migrates them,
// serves gRPC and the ops endpoints, registers in membership and relays the
// outboxes until ctx is done, then shuts down gracefully. It returns nil
// when stopped by ctx.
func (m *Metadata) Run(ctx context.Context) error {
	global, err := connect(ctx, m.log.With("db", "global"), m.cfg.GlobalDSN)
	if err != nil {
		return stopped(ctx, err)
	}
	defer global.Close()
	pools := map[string]*pgxpool.Pool{}
	defer func() {
		for _, p := range pools {
			p.Close()
		}
	}()
	for region, dsn := range m.regions {
		p, err := connect(ctx, m.log.With("db", "regional", "region", region), dsn)
		if err != nil {
			return stopped(ctx, err)
		}
		pools[region] = p
	}

	if err := m.migrate(ctx, global, pools); err != nil {
		return stopped(ctx, err)
	}

	relays := map[string]*store.Relay{}
	st := store.New(global, pools, store.Options{
		Log:        m.log,
		Registerer: m.reg,
		// relays is filled below, before anything can commit.
		OutboxWritten: func(region string) { relays[region].Poke() },
		GCGrace:       m.cfg.GCGrace,
	})
	for region := range pools {
		r, err := st.NewRelay(region)
		if err != nil {
			return err
		}
		relays[region] = r
	}
	if err := st.EnsureRegions(ctx); err != nil {
		return stopped(ctx, fmt.Errorf("record served regions: %w", err))
	}

	grpcLis, err := net.Listen("tcp", m.cfg.GRPCListenAddr)
	if err != nil {
		return fmt.Errorf("listen on grpc.listen-addr: %w", err)
	}
	opsLis, err := net.Listen("tcp", m.cfg.OpsListenAddr)
	if err != nil {
		_ = grpcLis.Close()
		return fmt.Errorf("listen on ops.listen-addr: %w", err)
	}
	advertise := m.cfg.AdvertiseAddr
	if advertise == "" {
		advertise = grpcLis.Addr().String()
	}

	etcd, err := m.cfg.Membership.Client()
	if err != nil {
		_ = grpcLis.Close()
		_ = opsLis.Close()
		return err
	}
	defer func() { _ = etcd.Close() }()

	grpcSrv := grpc.NewServer(append(service.NewGRPCInterceptors(m.reg, m.log).ServerOptions(),
		grpc.ChainUnaryInterceptor(server.UnaryInterceptor(server.NewMetrics(m.reg), m.log)))...)
	metadatav1.RegisterMetadataServiceServer(grpcSrv, server.New(st, m.log))
	tasks := taskqueue.New(global, pools, taskqueue.Options{Log: m.log, Registerer: m.reg})
	metadatav1.RegisterTaskServiceServer(grpcSrv, taskqueue.NewServer(tasks, m.log))
	metadatav1.RegisterPlacementServiceServer(grpcSrv, server.NewPlacementServer(st))
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, healthSrv)

	var regs registrations
	checks := map[string]service.Check{
		"global_db": st.PingGlobal,
		// What clients see: ready only once the health loop has reported.
		"grpc_health": func(ctx context.Context) error {
			resp, err := healthSrv.Check(ctx, &healthpb.HealthCheckRequest{Service: metadatav1.MetadataService_ServiceDesc.ServiceName})
			if err != nil {
				return fmt.Errorf("grpc health: %w", err)
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("grpc health is %s", resp.GetStatus())
			}
			return nil
		},
		"membership": func(ctx context.Context) error {
			return regs.check(ctx, len(m.regions))
		},
	}
	for region := range pools {
		checks["regional_db:"+region] = func(ctx context.Context) error { return st.PingRegional(ctx, region) }
	}

	var g service.Group
	g.Add(func(ctx context.Context) error { return service.ServeGRPC(ctx, grpcLis, grpcSrv) })
	g.Add(func(ctx context.Context) error {
		return service.ServeHTTP(ctx, opsLis, service.OpsHandler(m.reg, checks))
	})
	g.Add(func(ctx context.Context) error {
		m.reportHealth(ctx, healthSrv, st)
		return nil
	})
	for _, r := range relays {
		g.Add(r.Run)
	}
	g.Add(tasks.RunMaintenance)
	for _, region := range st.Regions() {
		member := membership.Member{
			ID:       m.cfg.InstanceID,
			Role:     membership.RoleMetadata,
			Region:   region,
			GRPCAddr: advertise,
			OpsAddr:  opsLis.Addr().String(),
		}
		g.Add(func(ctx context.Context) error {
			reg, err := m.register(ctx, etcd, member)
			if err != nil {
				return stopped(ctx, err)
			}
			regs.add(reg)
			return reg.Run(ctx)
		})
	}
	m.log.Info("metadata service started", "grpc_addr", grpcLis.Addr().String(), "ops_addr", opsLis.Addr().String(),
		"regions", strings.Join(st.Regions(), ","))
	err = g.Run(ctx)
	m.log.Info("metadata service stopped")
	return err
}

// registrations are the membership registrations made so far, one per
// served region once all are done.
type registrations struct {
	mu   sync.Mutex
	regs []*membership.Registration
}

func (r *registrations) add(reg *membership.Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.regs = append(r.regs, reg)
}

// check reports whether all want registrations are made and present in etcd.
func (r *registrations) check(ctx context.Context, want int) error {
	r.mu.Lock()
	regs := slices.Clone(r.regs)
	r.mu.Unlock()
	if len(regs) < want {
		return fmt.Errorf("membership: %d of %d regions registered", len(regs), want)
	}
	for _, reg := range regs {
		if err := reg.Registered(ctx); err != nil {
			return err
		}
	}
	return nil
}

// stopped turns an error caused by ctx ending into a clean stop.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// connect opens a pool and waits until the database answers, retrying with
// backoff until ctx is done.
func connect(ctx context.Context, log *slog.Logger, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	backoff := 250 * time.Millisecond
	for {
		pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := pool.Ping(pingCtx)
		cancel()
		if err == nil {
			log.Info("connected to database")
			return pool, nil
		}
		log.Warn("database not reachable, retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			pool.Close()
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (m *Metadata) migrate(ctx context.Context, global *pgxpool.Pool, regional map[string]*pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	if _, err := migrations.Apply(ctx, global, migrations.Global, m.log.With("db", "global")); err != nil {
		return fmt.Errorf("migrate global database: %w", err)
	}
	for region, pool := range regional {
		if _, err := migrations.Apply(ctx, pool, migrations.Regional, m.log.With("db", "regional", "region", region)); err != nil {
			return fmt.Errorf("migrate regional database %s: %w", region, err)
		}
	}
	return nil
}

// register writes the member's key, retrying with backoff while etcd is
// unreachable.
func (m *Metadata) register(ctx context.Context, cli *clientv3.Client, member membership.Member) (*membership.Registration, error) {
	backoff := 250 * time.Millisecond
	for {
		reg, err := membership.Register(ctx, cli, m.cfg.Membership.Cluster, member, m.cfg.Membership.TTL, m.log)
		if err == nil {
			m.log.Info("registered in membership", "region", member.Region, "node_id", member.ID)
			return reg, nil
		}
		m.log.Warn("register in membership, retrying", "region", member.Region, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// reportHealth keeps the gRPC health status in step with the databases, so
// gateways probing it avoid a replica that cannot reach Postgres.
func (m *Metadata) reportHealth(ctx context.Context, h *health.Server, st *store.Store) {
	defer h.Shutdown()
	up := promauto.With(m.reg).NewGaugeVec(prometheus.GaugeOpts{
		Name: "anvil_metadata_database_up",
		Help: "1 when the database answered the last ping (every few seconds), by database: global or the region's name.",
	}, []string{"database"})
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		status := healthpb.HealthCheckResponse_SERVING
		pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := ping(pingCtx, up, "global", st.PingGlobal)
		for _, r := range st.Regions() {
			rerr := ping(pingCtx, up, r, func(ctx context.Context) error { return st.PingRegional(ctx, r) })
			err = cmp.Or(err, rerr)
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			status = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if status != last {
			m.log.Info("grpc health changed", "status", status.String(), "err", err)
			last = status
		}
		h.SetServingStatus("", status)
		h.SetServingStatus(metadatav1.MetadataService_ServiceDesc.ServiceName, status)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ping runs one database ping and records its outcome in up.
func ping(ctx context.Context, up *prometheus.GaugeVec, database string, fn func(context.Context) error) error {
	err := fn(ctx)
	v := 1.0
	if err != nil {
		v = 0
	}
	up.WithLabelValues(database).Set(v)
	return err
}
