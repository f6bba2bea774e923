// Package pgtest shares one private PostgreSQL cluster among the tests of a
// package, so a package pays for one server start, and gives each test fresh
// databases on it.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/localpg"
	"github.com/anvil-store/anvil/pkg/testenv"
	"github.com/jackc/pgx/v5/pgxpool"
)

// cluster is the package's shared server, started by the first test that
// asks for it and stopped by Main.
type cluster struct {
	once sync.Once
	pg   *localpg.Cluster
	dir  string
	err  error
	seq  atomic.Int64
}

// shared is test-only process state: TestMain is the one place that can own
// a server for the whole package.
var shared cluster

// Main runs the tests and stops the shared cluster afterwards.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.pg != nil {
		_ = shared.pg.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

// Cluster returns the shared server, starting it on first use. Outside CI a
// test is skipped when PostgreSQL cannot start; under CI it fails.
func Cluster(t testing.TB) *localpg.Cluster {
	t.Helper()
	shared.once.Do(func() {
		if _, err := localpg.FindBinDir(); err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "anvil-pgtest-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			shared.err = err
			return
		}
		port, err := freePort()
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		shared.pg, shared.err = localpg.Start(ctx, localpg.Options{DataDir: filepath.Join(dir, "pg"), Port: port})
	})
	if shared.err != nil {
		testenv.Unavailable(t, "postgres: %v", shared.err)
	}
	return shared.pg
}

var unsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDB creates a fresh database on the shared server, named after the test
// and hint, and returns its DSN.
func NewDB(t testing.TB, hint string) string {
	t.Helper()
	pg := Cluster(t)
	name := unsafe.ReplaceAllString(strings.ToLower(t.Name()+"_"+hint), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	name = fmt.Sprintf("t%d_%s", shared.seq.Add(1), name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.CreateDatabase(ctx, name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return pg.DSN(name)
}

// Pool opens a pool on dsn, closed at the end of the test.
func Pool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	return pool
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
