package migrations

import (
	"context"
	"testing"
	"time"

	"github.com/anvil-store/anvil/services/metadata/internal/pgtest"
)

// TestRegionalUpgradeMakesNullVersions: versions written before 0002 were
// written unversioned, so they become their keys' null versions, and keep
// their uuids.
func TestRegionalUpgradeMakesNullVersions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewDB(t, "upgrade"))
	ms, err := Load(Regional)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply(ctx, pool, ms[:1], discard()); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := pool.QueryRow(ctx, `INSERT INTO object_versions (bucket_id, key, is_latest, size, last_modified)
		VALUES (1, 'k', true, 1, now()) RETURNING version_id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(ctx, pool, ms, discard()); err != nil {
		t.Fatal(err)
	}
	var null bool
	var tags string
	if err := pool.QueryRow(ctx, "SELECT null_version, tags::text FROM object_versions WHERE version_id = $1::uuid", id).Scan(&null, &tags); err != nil {
		t.Fatal(err)
	}
	if !null || tags != "{}" {
		t.Fatalf("old version: null_version=%v tags=%s", null, tags)
	}
	// New rows default to not null: the store decides per write.
	if err := pool.QueryRow(ctx, `INSERT INTO object_versions (bucket_id, key, is_latest, size, last_modified)
		VALUES (1, 'k2', true, 1, now()) RETURNING null_version`).Scan(&null); err != nil {
		t.Fatal(err)
	}
	if null {
		t.Fatal("null_version defaults to true after the upgrade")
	}
}

// TestRegionalUpgradeCountsUsage: 0004 starts bucket_usage from the versions
// already stored (live, not delete markers), and its trigger keeps it from
// there.
func TestRegionalUpgradeCountsUsage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewDB(t, "usage"))
	ms, err := Load(Regional)
	if err != nil {
		t.Fatal(err)
	}
	if ms[3].Name != "usage" {
		t.Fatalf("migration 4 is %s", ms[3].Name)
	}
	if _, err := apply(ctx, pool, ms[:3], discard()); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO object_versions (bucket_id, key, is_latest, size, last_modified, delete_marker, state)
		VALUES (1, 'a', true, 10, now(), false, 'live'), (1, 'b', false, 20, now(), false, 'live'),
		       (1, 'c', true, 0, now(), true, 'live'), (1, 'd', false, 40, now(), false, 'deleted'),
		       (2, 'a', true, 5, now(), false, 'live')`); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(ctx, pool, ms, discard()); err != nil {
		t.Fatal(err)
	}
	usage := func(bucket int64) (objects, bytes int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT coalesce(sum(objects), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM bucket_usage WHERE bucket_id = $1", bucket).Scan(&objects, &bytes); err != nil {
			t.Fatal(err)
		}
		return objects, bytes
	}
	if o, b := usage(1); o != 2 || b != 30 {
		t.Fatalf("bucket 1 after the upgrade: %d objects, %d bytes; want 2, 30", o, b)
	}
	if o, b := usage(2); o != 1 || b != 5 {
		t.Fatalf("bucket 2 after the upgrade: %d objects, %d bytes; want 1, 5", o, b)
	}
	if _, err := pool.Exec(ctx, "UPDATE object_versions SET state = 'deleted', is_latest = false WHERE bucket_id = 1 AND key = 'a'"); err != nil {
		t.Fatal(err)
	}
	if o, b := usage(1); o != 1 || b != 20 {
		t.Fatalf("bucket 1 after a soft delete: %d objects, %d bytes; want 1, 20", o, b)
	}
}
