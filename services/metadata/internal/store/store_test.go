package store

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anvil-store/anvil/services/metadata/internal/migrations"
	"github.com/anvil-store/anvil/services/metadata/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is a migrated global database and regional databases, shared by any
// number of stores (each standing for one metadata process).
type env struct {
	global   *pgxpool.Pool
	regional map[string]*pgxpool.Pool
}

func newEnv(t *testing.T, regions ...string) *env {
	t.Helper()
	ctx := testCtx(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{global: pgtest.Pool(t, pgtest.NewDB(t, "global")), regional: map[string]*pgxpool.Pool{}}
	if _, err := migrations.Apply(ctx, e.global, migrations.Global, log); err != nil {
		t.Fatal(err)
	}
	for _, r := range regions {
		p := pgtest.Pool(t, pgtest.NewDB(t, r))
		if _, err := migrations.Apply(ctx, p, migrations.Regional, log); err != nil {
			t.Fatal(err)
		}
		e.regional[r] = p
	}
	return e
}

// store returns a store serving the given regions (all when none given).
func (e *env) store(t *testing.T, opts Options, regions ...string) *Store {
	t.Helper()
	pools := e.regional
	if len(regions) > 0 {
		pools = map[string]*pgxpool.Pool{}
		for _, r := range regions {
			pools[r] = e.regional[r]
		}
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s := New(e.global, pools, opts)
	if err := s.EnsureRegions(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(testCtx(t), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestSentinelsComplete checks that Sentinels lists every exported Err
// variable of the package, so the gRPC error table test covers them all.
func TestSentinelsComplete(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, spec := range gd.Specs {
					for _, name := range spec.(*ast.ValueSpec).Names {
						if strings.HasPrefix(name.Name, "Err") {
							declared = append(declared, name.Name)
						}
					}
				}
			}
		}
	}
	var listed []string
	for name := range Sentinels() {
		listed = append(listed, name)
	}
	slices.Sort(declared)
	slices.Sort(listed)
	if !slices.Equal(declared, listed) {
		t.Fatalf("declared sentinels %v, Sentinels() lists %v", declared, listed)
	}
}

func TestBuckets(t *testing.T) {
	e := newEnv(t, "us-east-1", "eu-west-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)

	if n := count(t, e.global, "SELECT count(*) FROM regions"); n != 2 {
		t.Fatalf("regions table has %d rows, want 2", n)
	}

	created, err := s.CreateBucket(ctx, "photos", "us-east-1", 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == 0 || created.CreatedAt.IsZero() || created.DataShards != 4 || created.ParityShards != 2 {
		t.Fatalf("created bucket %+v", created)
	}
	if _, err := s.CreateBucket(ctx, "logs", "eu-west-1", 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBucket(ctx, "archive", "us-east-1", 10, 4); err != nil {
		t.Fatal(err)
	}

	t.Run("create errors", func(t *testing.T) {
		tests := []struct {
			name, bucket, region string
			k, m                 int
			want                 error
		}{
			{"taken name", "photos", "eu-west-1", 4, 2, ErrBucketExists},
			{"unknown region", "fresh", "mars-1", 4, 2, ErrNoSuchRegion},
			{"no data shards", "fresh", "us-east-1", 0, 2, ErrInvalidArgument},
			{"no parity shards", "fresh", "us-east-1", 4, 0, ErrInvalidArgument},
			{"too many shards", "fresh", "us-east-1", 200, 57, ErrInvalidArgument},
			{"short name", "ab", "us-east-1", 4, 2, ErrInvalidArgument},
			{"upper case", "Photos", "us-east-1", 4, 2, ErrInvalidArgument},
			{"leading dot", ".photos", "us-east-1", 4, 2, ErrInvalidArgument},
			{"underscore", "my_photos", "us-east-1", 4, 2, ErrInvalidArgument},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := s.CreateBucket(ctx, tt.bucket, tt.region, tt.k, tt.m); !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
			})
		}
	})

	t.Run("k+m of 256 is allowed", func(t *testing.T) {
		if _, err := s.CreateBucket(ctx, "wide", "us-east-1", 200, 56); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("get", func(t *testing.T) {
		got, err := s.GetBucket(ctx, "photos")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != created.ID || got.Region != "us-east-1" || !got.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("got %+v, want %+v", got, created)
		}
		for _, name := range []string{"nope", "bad\x00name", "\xff"} {
			if _, err := s.GetBucket(ctx, name); !errors.Is(err, ErrNoSuchBucket) {
				t.Fatalf("missing bucket %q: %v", name, err)
			}
		}
	})

	t.Run("list by name", func(t *testing.T) {
		bs, err := s.ListBuckets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range bs {
			names = append(names, b.Name)
		}
		if want := []string{"archive", "logs", "photos", "wide"}; !slices.Equal(names, want) {
			t.Fatalf("got %v, want %v", names, want)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := s.CommitObject(ctx, Version{Bucket: "photos", Key: "cat.jpg", Size: 3}, Preconditions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteBucket(ctx, "photos", false); !errors.Is(err, ErrBucketNotEmpty) {
			t.Fatalf("delete non-empty bucket: %v", err)
		}
		if _, err := s.DeleteObject(ctx, "photos", "cat.jpg", "", false); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteBucket(ctx, "photos", false); err != nil {
			t.Fatalf("delete emptied bucket: %v", err)
		}
		if _, err := s.GetBucket(ctx, "photos"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("get deleted bucket: %v", err)
		}
		if err := s.DeleteBucket(ctx, "photos", false); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("delete deleted bucket: %v", err)
		}
		again, err := s.CreateBucket(ctx, "photos", "eu-west-1", 2, 1)
		if err != nil {
			t.Fatalf("reuse a deleted bucket's name: %v", err)
		}
		if again.ID == created.ID {
			t.Fatal("a recreated bucket reused the old id")
		}
		if _, err := s.GetObject(ctx, "photos", "cat.jpg", ""); !errors.Is(err, ErrNoSuchKey) {
			t.Fatalf("recreated bucket shows old objects: %v", err)
		}
	})
}

func TestBucketInRegionNotServed(t *testing.T) {
	e := newEnv(t, "us-east-1", "eu-west-1")
	east := e.store(t, Options{}, "us-east-1")
	west := e.store(t, Options{}, "eu-west-1")
	ctx := testCtx(t)
	if _, err := west.CreateBucket(ctx, "westerly", "eu-west-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := east.CreateBucket(ctx, "easterly", "eu-west-1", 2, 1); !errors.Is(err, ErrNoSuchRegion) {
		t.Fatalf("create in a region not served: %v", err)
	}
	// The bucket is global: every process sees it.
	if _, err := east.GetBucket(ctx, "westerly"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   func() error
	}{
		{"commit", func() error {
			_, err := east.CommitObject(ctx, Version{Bucket: "westerly", Key: "k"}, Preconditions{})
			return err
		}},
		{"get", func() error { _, err := east.GetObject(ctx, "westerly", "k", ""); return err }},
		{"delete", func() error { _, err := east.DeleteObject(ctx, "westerly", "k", "", false); return err }},
		{"list", func() error { _, err := east.ListObjects(ctx, "westerly", ListOptions{}); return err }},
		{"delete bucket", func() error { return east.DeleteBucket(ctx, "westerly", false) }},
		{"list versions", func() error { _, err := east.ListObjectVersions(ctx, "westerly", VersionListOptions{}); return err }},
		{"set versioning", func() error { _, err := east.SetBucketVersioning(ctx, "westerly", VersioningEnabled); return err }},
		{"tag", func() error { _, err := east.PutObjectTagging(ctx, "westerly", "k", "", nil); return err }},
		{"create upload", func() error {
			_, err := east.CreateMultipartUpload(ctx, Upload{Bucket: "westerly", Key: "k"})
			return err
		}},
		{"list uploads", func() error {
			_, err := east.ListMultipartUploads(ctx, "westerly", UploadListOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, ErrRegionNotServed) {
				t.Fatalf("got %v, want ErrRegionNotServed", err)
			}
		})
	}
}

// TestStaleBucketCacheCannotWriteToDeletedBucket: one process deletes a
// bucket while another still has it cached; the second one's writes must
// fail rather than land in the deleted bucket.
func TestStaleBucketCacheCannotWriteToDeletedBucket(t *testing.T) {
	e := newEnv(t, "us-east-1")
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now } // frozen: the cache never expires
	a := e.store(t, Options{Now: clock, BucketCacheTTL: time.Hour})
	b := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := a.CreateBucket(ctx, "doomed", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteBucket(ctx, "doomed", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CommitObject(ctx, Version{Bucket: "doomed", Key: "k", Size: 1}, Preconditions{}); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("commit through a stale cache: %v", err)
	}
	if _, err := a.DeleteObject(ctx, "doomed", "k", "", false); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("delete through a stale cache: %v", err)
	}
	if n := count(t, e.regional["us-east-1"], "SELECT count(*) FROM object_versions"); n != 0 {
		t.Fatalf("%d versions written to a deleted bucket", n)
	}
	// A bucket created by another process is visible at once: misses are
	// never cached.
	if _, err := b.CreateBucket(ctx, "newborn", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CommitObject(ctx, Version{Bucket: "newborn", Key: "k", Size: 1}, Preconditions{}); err != nil {
		t.Fatalf("commit to a bucket created elsewhere: %v", err)
	}
}

func TestMetricsNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.tasksEnqueued.WithLabelValues("r", TaskDeleteObject).Inc()
	m.outboxPending.WithLabelValues("r").Set(1)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("metric lint: %v", problems)
	}
}
