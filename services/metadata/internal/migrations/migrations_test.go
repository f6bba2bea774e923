package migrations

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/anvil-store/anvil/services/metadata/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLoadEmbedded(t *testing.T) {
	for _, set := range []string{Global, Regional} {
		t.Run(set, func(t *testing.T) {
			ms, err := Load(set)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range ms {
				if m.Version != i+1 {
					t.Fatalf("migration %d has version %d: versions must be 1, 2, 3, ...", i, m.Version)
				}
			}
		})
	}
}

func TestLoadRejectsBadNames(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
	}{
		{"no number", fstest.MapFS{"init.sql": {Data: []byte("SELECT 1")}}},
		{"short number", fstest.MapFS{"01_init.sql": {Data: []byte("SELECT 1")}}},
		{"upper case", fstest.MapFS{"0001_Init.sql": {Data: []byte("SELECT 1")}}},
		{"duplicate version", fstest.MapFS{
			"0001_a.sql": {Data: []byte("SELECT 1")},
			"0001_b.sql": {Data: []byte("SELECT 1")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := load(tt.files); !errors.Is(err, ErrBadName) {
				t.Fatalf("got %v, want ErrBadName", err)
			}
		})
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	for _, set := range []string{Global, Regional} {
		t.Run(set, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pool := pgtest.Pool(t, pgtest.NewDB(t, set))
			want, _ := Load(set)
			n, err := Apply(ctx, pool, set, discard())
			if err != nil {
				t.Fatalf("first apply: %v", err)
			}
			if n != len(want) {
				t.Fatalf("first apply applied %d, want %d", n, len(want))
			}
			n, err = Apply(ctx, pool, set, discard())
			if err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if n != 0 {
				t.Fatalf("second apply applied %d, want 0", n)
			}
			var recorded int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&recorded); err != nil {
				t.Fatal(err)
			}
			if recorded != len(want) {
				t.Fatalf("schema_migrations has %d rows, want %d", recorded, len(want))
			}
		})
	}
}

func TestApplyConcurrently(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewDB(t, "regional"))
	const starters = 6
	var wg sync.WaitGroup
	applied := make([]int, starters)
	errs := make([]error, starters)
	for i := range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = Apply(ctx, pool, Regional, discard())
		}()
	}
	wg.Wait()
	total := 0
	for i := range starters {
		if errs[i] != nil {
			t.Fatalf("starter %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	want, _ := Load(Regional)
	if total != len(want) {
		t.Fatalf("starters applied %d migrations in all, want %d (each exactly once)", total, len(want))
	}
}

func TestApplyRollsBackAFailedMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewDB(t, "bad"))
	ms := []Migration{
		{Version: 1, Name: "ok", SQL: "CREATE TABLE a (id int)"},
		{Version: 2, Name: "broken", SQL: "CREATE TABLE b (id int); SELECT * FROM missing"},
	}
	if _, err := apply(ctx, pool, ms, discard()); err == nil {
		t.Fatal("broken migration applied without error")
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('a') IS NOT NULL OR to_regclass('b') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("a failed run left tables behind")
	}
	n, err := apply(ctx, pool, ms[:1], discard())
	if err != nil || n != 1 {
		t.Fatalf("apply after failure: n=%d err=%v", n, err)
	}
}
