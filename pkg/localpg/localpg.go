// Package localpg runs a private PostgreSQL cluster from the system's
// PostgreSQL binaries: for the dev cluster and for tests. It listens on
// loopback only and trusts local connections; it is not for production.
package localpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is the superuser the private cluster is created with.
const User = "anvil"

// Options configure a private cluster.
type Options struct {
	// DataDir holds the cluster; it is created and initialised when empty.
	DataDir string
	Port    int
	// BinDir holds initdb and postgres; found automatically when empty.
	BinDir string
	// Log receives the server's output; discarded when nil.
	Log io.Writer
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	opts Options
	cmd  *exec.Cmd
	done chan error

	stopOnce sync.Once
	stopErr  error
}

// FindBinDir returns the newest /usr/lib/postgresql/<v>/bin holding initdb,
// or the directory of initdb on PATH.
func FindBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("localpg: PostgreSQL server binaries not found (install the postgresql package)")
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Start initialises DataDir when needed and starts the server, returning once
// it accepts connections. When run as root the server runs as the "postgres"
// user, since PostgreSQL refuses to run as root.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.BinDir == "" {
		dir, err := FindBinDir()
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	abs, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data dir: %w", err)
	}
	opts.DataDir = abs
	cred, err := runAs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		initdb := exec.CommandContext(ctx, filepath.Join(opts.BinDir, "initdb"),
			"-D", opts.DataDir, "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
		initdb.Stdout, initdb.Stderr = opts.Log, opts.Log
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if err := initdb.Run(); err != nil {
			return nil, fmt.Errorf("initdb %s: %w", opts.DataDir, err)
		}
	}
	_ = os.Remove(filepath.Join(opts.DataDir, "postmaster.pid")) // stale after a kill -9 of the whole tree
	cmd := exec.Command(filepath.Join(opts.BinDir, "postgres"),
		"-D", opts.DataDir,
		"-p", strconv.Itoa(opts.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		"-c", "shared_buffers=64MB",
	)
	cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &Cluster{opts: opts, cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	if err := c.waitReady(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// runAs returns the credential to run PostgreSQL with: nil unless root, in
// which case the data dir is handed to the postgres user and made reachable.
func runAs(dataDir string) (*syscall.Credential, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("localpg: running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dataDir, uid, gid); err != nil {
		return nil, fmt.Errorf("chown data dir: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("chmod data dir: %w", err)
	}
	// The postgres user must be able to reach the data dir.
	for p := filepath.Dir(dataDir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o001); err != nil {
				return nil, fmt.Errorf("make %s reachable for postgres: %w", p, err)
			}
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pingCtx, c.DSN("postgres"))
		if err == nil {
			err = conn.Ping(pingCtx)
			_ = conn.Close(pingCtx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case exitErr := <-c.done:
			c.done <- exitErr
			return fmt.Errorf("postgres exited during start-up: %v", exitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 60s: %w", err)
		}
	}
}

// DSN returns a connection string for database db.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, c.opts.Port, db)
}

// Port returns the server's port.
func (c *Cluster) Port() int { return c.opts.Port }

// PID returns the postmaster's process id.
func (c *Cluster) PID() int { return c.cmd.Process.Pid }

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return c.opts.DataDir }

// CreateDatabase creates db unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, db string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", db, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// Stop shuts the server down (fast mode) and waits for it; calling it again
// returns the first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.stopErr = errors.New("postgres did not stop within 30s; killed")
		}
	})
	return c.stopErr
}
