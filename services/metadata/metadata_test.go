package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/localpg"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/pkg/testenv"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/jackc/pgx/v5"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func validConfig() Config {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var c Config
	c.RegisterFlags(fs)
	c.InstanceID = "meta-1"
	c.GlobalDSN = "postgres://anvil@127.0.0.1:5432/anvil_global"
	c.RegionalDSNs = flagenv.StringList{"us-east-1=postgres://anvil:secret@127.0.0.1:5432/anvil_us_east_1"}
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"key-value dsn", func(c *Config) { c.RegionalDSNs = flagenv.StringList{"eu-west-1=host=db port=5432 dbname=eu"} }, ""},
		{"no global dsn", func(c *Config) { c.GlobalDSN = "" }, "db.global-dsn is required"},
		{"unparsable global dsn", func(c *Config) { c.GlobalDSN = "postgres://u:secret@[::1/db" }, "not a valid"},
		{"unparsable regional dsn", func(c *Config) { c.RegionalDSNs = flagenv.StringList{"us-east-1=host=x password=secret port=nan"} }, "not a valid"},
		{"no regions", func(c *Config) { c.RegionalDSNs = nil }, "at least one region"},
		{"no dsn", func(c *Config) { c.RegionalDSNs = flagenv.StringList{"us-east-1"} }, "want region=dsn"},
		{"bad region", func(c *Config) { c.RegionalDSNs = flagenv.StringList{"US_EAST=postgres://x/y"} }, "lower-case"},
		{"duplicate region", func(c *Config) {
			c.RegionalDSNs = append(c.RegionalDSNs, "us-east-1=postgres://x/y")
		}, "given twice"},
		{"no instance id", func(c *Config) { c.InstanceID = "" }, "instance-id"},
		{"bad log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
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
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Fatalf("error leaks a password: %v", err)
			}
		})
	}
}

func TestConfigFlags(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var c Config
	c.RegisterFlags(fs)
	err := flagenv.Parse(fs, []string{
		"-db.global-dsn", "postgres://g/global",
		"-db.regional-dsn", "us-east-1=postgres://r/us?sslmode=disable",
		"-db.regional-dsn", "eu-west-1=postgres://r/eu",
		"-instance-id", "m1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	regions, err := c.Regions()
	if err != nil {
		t.Fatal(err)
	}
	if len(regions) != 2 || regions["us-east-1"] != "postgres://r/us?sslmode=disable" || regions["eu-west-1"] != "postgres://r/eu" {
		t.Fatalf("regions %v", regions)
	}
	if c.GRPCListenAddr != "127.0.0.1:9300" || c.OpsListenAddr != "127.0.0.1:9301" {
		t.Fatalf("default addresses %s %s", c.GRPCListenAddr, c.OpsListenAddr)
	}
}

// TestRun runs the whole service over a real PostgreSQL and etcd: it
// migrates, serves gRPC, health and ops, registers, relays, and reports
// unready while PostgreSQL is down and ready again once it is back.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pg := testenv.Postgres(t)
	for _, db := range []string{"anvil_global", "anvil_us_east_1"} {
		if err := pg.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	etcd := testenv.Etcd(t)

	cfg := validConfig()
	cfg.GRPCListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.OpsListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.GlobalDSN = pg.DSN("anvil_global")
	cfg.RegionalDSNs = flagenv.StringList{"us-east-1=" + pg.DSN("anvil_us_east_1")}
	cfg.Membership.Endpoints = etcd.Endpoint()
	cfg.Membership.Cluster = "test"
	cfg.Membership.TTL = 2 * time.Second
	svc, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), service.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()

	opsURL := "http://" + cfg.OpsListenAddr
	waitReady(ctx, t, opsURL, http.StatusOK)

	conn, err := grpc.NewClient(cfg.GRPCListenAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hresp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: metadatav1.MetadataService_ServiceDesc.ServiceName})
	if err != nil || hresp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health: %v %v", hresp, err)
	}

	// The served region is recorded and the process registered in etcd.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Endpoint()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	memberKey := "/anvil/test/members/us-east-1/metadata/meta-1"
	got, err := cli.Get(ctx, memberKey)
	if err != nil || len(got.Kvs) != 1 || !strings.Contains(string(got.Kvs[0].Value), cfg.GRPCListenAddr) {
		t.Fatalf("member key: %v %v", got, err)
	}

	// A replaced version reaches the global task queue through the relay.
	c := metadatav1.NewMetadataServiceClient(conn)
	if _, err := c.CreateBucket(ctx, &metadatav1.CreateBucketRequest{Name: "b-1", Region: "us-east-1", DataShards: 2, ParityShards: 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: &metadatav1.ObjectVersion{Bucket: "b-1", Key: "k"}}); err != nil {
			t.Fatal(err)
		}
	}
	global, err := pgx.Connect(ctx, pg.DSN("anvil_global"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		var tasks int
		if err := global.QueryRow(ctx, "SELECT count(*) FROM tasks").Scan(&tasks); err != nil {
			t.Fatal(err)
		}
		if tasks == 1 {
			break
		}
		if tasks > 1 || ctx.Err() != nil {
			t.Fatalf("%d tasks, want 1", tasks)
		}
		pause(ctx)
	}
	var regions int
	if err := global.QueryRow(ctx, "SELECT count(*) FROM regions WHERE name = 'us-east-1'").Scan(&regions); err != nil || regions != 1 {
		t.Fatalf("served region not recorded: %d %v", regions, err)
	}
	_ = global.Close(ctx)

	// PostgreSQL goes away: readiness fails, naming the databases.
	pid := pg.PID()
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, opsURL, http.StatusServiceUnavailable, "global_db", "regional_db:us-east-1")
	// It comes back on the same data directory and port: ready again.
	for syscall.Kill(pid, 0) == nil {
		pause(ctx)
		if ctx.Err() != nil {
			t.Fatal("postgres did not exit")
		}
	}
	pg2, err := localpg.Start(ctx, localpg.Options{DataDir: pg.DataDir(), Port: pg.Port()})
	if err != nil {
		t.Fatalf("restart postgres: %v", err)
	}
	t.Cleanup(func() { _ = pg2.Stop() })
	waitReady(ctx, t, opsURL, http.StatusOK)

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	// The member left at once: its lease was revoked.
	got, err = cli.Get(ctx, memberKey)
	if err != nil || len(got.Kvs) != 0 {
		t.Fatalf("member key after stop: %v %v", got, err)
	}
}

// TestRunStopsWhileWaitingForPostgres: a service whose database never
// answers keeps retrying, logging each attempt, and stops cleanly with its
// context.
func TestRunStopsWhileWaitingForPostgres(t *testing.T) {
	cfg := validConfig()
	cfg.GlobalDSN = fmt.Sprintf("postgres://anvil:hunter2@127.0.0.1:%d/none?connect_timeout=1", testenv.FreePort(t))
	var logs syncBuffer
	svc, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), service.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	for strings.Count(logs.String(), "database not reachable, retrying") < 2 {
		if ctx.Err() != nil {
			t.Fatalf("no retries logged: %s", logs.String())
		}
		pause(ctx)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("logs leak the database password: %s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
}

// waitReady polls /ready until it answers want with a body naming every
// one of failing.
func waitReady(ctx context.Context, t *testing.T, base string, want int, failing ...string) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			var parsed struct {
				Failed map[string]string `json:"failed"`
			}
			if err := json.Unmarshal(b, &parsed); err != nil {
				t.Fatalf("ready body %s: %v", b, err)
			}
			named := true
			for _, f := range failing {
				_, ok := parsed.Failed[f]
				named = named && ok
			}
			if resp.StatusCode == want && named {
				return
			}
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			last = err.Error()
		}
		pause(ctx)
	}
	t.Fatalf("/ready never answered %d naming %v; last: %s", want, failing, last)
}
