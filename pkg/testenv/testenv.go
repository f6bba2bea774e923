// Package testenv starts the real dependencies integration tests need: a
// private PostgreSQL cluster and an embedded etcd. Outside CI a test whose
// dependency cannot start is skipped; under CI (CI=true) it fails.
package testenv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/localetcd"
	"github.com/anvil-store/anvil/pkg/localpg"
)

// Unavailable fails the test under CI and skips it elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TempDir returns a fresh directory that other local users can reach (the
// postgres user, when tests run as root), removed at the end of the test.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "anvil-test-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("chmod temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Postgres starts a private PostgreSQL cluster for the test.
func Postgres(t testing.TB) *localpg.Cluster {
	t.Helper()
	if _, err := localpg.FindBinDir(); err != nil {
		Unavailable(t, "postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pg, err := localpg.Start(ctx, localpg.Options{DataDir: filepath.Join(TempDir(t), "pg"), Port: FreePort(t)})
	if err != nil {
		Unavailable(t, "start postgres: %v", err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	return pg
}

// Etcd starts an embedded etcd for the test and returns its client endpoint.
func Etcd(t testing.TB) *localetcd.Server {
	t.Helper()
	srv, err := localetcd.Start(filepath.Join(TempDir(t), "etcd"), FreePort(t), FreePort(t))
	if err != nil {
		Unavailable(t, "start etcd: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}
