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
