// Package migrations holds the SQL schema of the global and regional
// databases, embedded in the binary, and applies it at start.
//
// Files are named NNNN_name.sql and applied in order of NNNN, all pending ones
// in one transaction under a transaction-scoped advisory lock, so several
// metadata replicas starting at once apply each file exactly once. Applied
// versions are recorded in schema_migrations.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
)

//go:embed global/*.sql regional/*.sql
var files embed.FS

// Sets of migrations.
const (
	Global   = "global"
	Regional = "regional"
)

// lockKey is the advisory lock taken while migrating; any fixed value works
// as long as nothing else in the database uses it.
const lockKey int64 = 0x616e76696c6d6967 // "anvilmig"

// ErrBadName is returned for a migration file not named NNNN_name.sql or
// sharing its number with another.
var ErrBadName = errors.New("migrations: bad migration file name")

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var nameRE = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// Load returns the embedded migrations of a set (Global or Regional) in order.
func Load(set string) ([]Migration, error) {
	sub, err := fs.Sub(files, set)
	if err != nil {
		return nil, fmt.Errorf("open migration set %s: %w", set, err)
	}
	return load(sub)
}

func load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := nameRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%w: %s", ErrBadName, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("%w: %s and %s share version %d", ErrBadName, prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Clean(e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	if len(out) == 0 {
		return nil, errors.New("migrations: no migration files")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Beginner starts transactions; *pgxpool.Pool and *pgx.Conn satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Apply applies the pending migrations of a set to db and returns how many it
// applied. Applying again is a no-op.
func Apply(ctx context.Context, db Beginner, set string, log *slog.Logger) (int, error) {
	ms, err := Load(set)
	if err != nil {
		return 0, err
	}
	return apply(ctx, db, ms, log.With("migrations", set))
}

func apply(ctx context.Context, db Beginner, ms []Migration, log *slog.Logger) (n int, err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// Lock before creating schema_migrations: concurrent CREATE TABLE IF NOT
	// EXISTS can still collide.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		return 0, fmt.Errorf("lock migrations: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	done := map[int]bool{}
	maxApplied := 0
	for _, v := range applied {
		done[int(v)] = true
		maxApplied = max(maxApplied, int(v))
	}
	if last := ms[len(ms)-1].Version; maxApplied > last {
		// A newer binary migrated this database: keep going, since schema
		// changes are additive, but say so.
		log.Warn("database schema is newer than this binary", "db_version", maxApplied, "binary_version", last)
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		// No arguments: pgx uses the simple protocol, which allows several
		// statements in one Exec.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return 0, fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			return 0, fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		log.Info("applied migration", "version", m.Version, "name", m.Name)
		n++
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit migrations: %w", err)
	}
	return n, nil
}
