package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/localpg"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The recovery drill of docs/operations/backup.md: load objects, pg_dump
// both databases, write more, destroy the databases, restore the dumps,
// start metadata, gateway and worker afresh against them and the same
// storage nodes. Every object of the dump reads back byte-exact; the
// objects written after it are not served (404), and their shards are
// reported by orphan reconciliation, not deleted (-orphans.delete=false).
func TestBackupRestoreDrill(t *testing.T) {
	h := startHealCluster(t, 6, "-scanner.interval=500ms", "-orphans.grace=2s", "-orphans.delete=false", "-worker.poll-interval=100ms")
	bucket := "drill"
	if _, err := h.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for i := range 20 {
		key := fmt.Sprintf("before/%02d", i)
		before[key] = payload(uint64(7000+i), 1+i*91_000)
		if _, err := h.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(before[key])}); err != nil {
			t.Fatal(err)
		}
	}

	pgBin, err := localpg.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	dumpDir := t.TempDir()
	pgTool := func(tool string, args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx(t), filepath.Join(pgBin, tool), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
		}
	}
	// Regional first, then global: the order docs/operations/backup.md gives.
	dbs := []string{h.RegionalDB(), h.GlobalDB()}
	for _, db := range dbs {
		pgTool("pg_dump", "--format=custom", "--file="+filepath.Join(dumpDir, db+".dump"), h.Postgres().DSN(db))
	}

	var after []string
	for i := range 5 {
		key := fmt.Sprintf("after/%02d", i)
		if _, err := h.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(payload(uint64(8000+i), 300_000))}); err != nil {
			t.Fatal(err)
		}
		after = append(after, key)
	}
	h.regional.Close()

	// Lose the databases: stop everything that talks to them, drop them.
	for _, id := range []string{"gateway-1", "worker-1", "metadata-1"} {
		if err := h.Kill(id); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := pgx.Connect(ctx(t), h.Postgres().DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range dbs {
		if _, err := admin.Exec(ctx(t), "DROP DATABASE "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx(t), "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	_ = admin.Close(ctx(t))
	for _, db := range dbs {
		pgTool("pg_restore", "--dbname="+h.Postgres().DSN(db), filepath.Join(dumpDir, db+".dump"))
	}
	for _, id := range []string{"metadata-1", "gateway-1", "worker-1"} {
		if err := h.Restart(ctx(t), id); err != nil {
			t.Fatalf("restart %s: %v", id, err)
		}
	}

	if err := h.readAll(bucket, before); err != nil {
		t.Fatalf("after the restore: %v", err)
	}
	for _, key := range after {
		_, err := h.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
		wantCode(t, err, "NoSuchKey", 404)
	}
	// The later objects' shards: reported, and still on disk.
	want := float64(len(after) * 6)
	eventually(t, 2*time.Minute, func() string {
		if n := metricsAt(t, h.Process("worker-1").Ports["ops"])["anvil_worker_orphan_shards_found_total"]; n < want {
			return fmt.Sprintf("%v orphan shards reported, want at least %v", n, want)
		}
		return ""
	})
	if n := metricsAt(t, h.Process("worker-1").Ports["ops"])["anvil_worker_orphan_shards_deleted_total"]; n != 0 {
		t.Fatalf("%v orphan shards deleted with -orphans.delete=false", n)
	}
	h.regional = reopen(t, h)
	if n := len(h.unreferenced()); n < len(after)*6 {
		t.Fatalf("%d unreferenced shard files on disk, want the %d of the objects written after the dump", n, len(after)*6)
	}
}

// reopen opens a new pool on the cluster's regional database.
func reopen(t *testing.T, h *healCluster) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(ctx(t), h.Postgres().DSN(h.RegionalDB()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
