package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func usageOf(t *testing.T, s *Store, bucket string) BucketUsage {
	t.Helper()
	all, err := s.Usage(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range all {
		if u.Bucket == bucket {
			return u
		}
	}
	t.Fatalf("no usage row for bucket %s in %+v", bucket, all)
	return BucketUsage{}
}

func wantUsage(t *testing.T, s *Store, bucket string, objects, bytes int64) {
	t.Helper()
	if u := usageOf(t, s, bucket); u.Objects != objects || u.Bytes != bytes {
		t.Fatalf("usage of %s: %d objects, %d bytes; want %d, %d", bucket, u.Objects, u.Bytes, objects, bytes)
	}
}

// TestUsageFollowsVersions: the per-bucket usage that metrics report moves
// with every commit, overwrite, delete marker and version delete.
func TestUsageFollowsVersions(t *testing.T) {
	e := newEnv(t, "us-east-1")
	reg := prometheus.NewRegistry()
	s := e.store(t, Options{Registerer: reg})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "use", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBucket(ctx, "other", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, "use", 0, 0)

	mustCommit(t, s, object("use", "a", "d1", 100))
	mustCommit(t, s, object("use", "b", "d2", 50))
	wantUsage(t, s, "use", 2, 150)
	// Unversioned: an overwrite replaces the old version.
	mustCommit(t, s, object("use", "a", "d3", 10))
	wantUsage(t, s, "use", 2, 60)
	mustDelete(t, s, "use", "b", "")
	wantUsage(t, s, "use", 1, 10)
	wantUsage(t, s, "other", 0, 0)

	// Versioned: noncurrent versions keep counting, delete markers do not.
	if _, err := s.SetBucketVersioning(ctx, "use", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v := mustCommit(t, s, object("use", "a", "d4", 1000))
	wantUsage(t, s, "use", 2, 1010)
	marker := mustDelete(t, s, "use", "a", "")
	wantUsage(t, s, "use", 2, 1010)
	mustDelete(t, s, "use", "a", marker.VersionID)
	mustDelete(t, s, "use", "a", v.VersionID)
	wantUsage(t, s, "use", 1, 10)

	// Concurrent commits (different connections) add up exactly.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.CommitObject(ctx, object("other", fmt.Sprintf("k%d", i), fmt.Sprintf("c%d", i), int64(i+1)), Preconditions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantUsage(t, s, "other", 40, 40*41/2)
	// The metadata service's /metrics reports the same.
	want := `
# HELP anvil_metadata_bucket_bytes Bytes of a bucket's live object versions (logical size, before erasure coding).
# TYPE anvil_metadata_bucket_bytes gauge
anvil_metadata_bucket_bytes{bucket="other",region="us-east-1"} 820
anvil_metadata_bucket_bytes{bucket="use",region="us-east-1"} 10
# HELP anvil_metadata_bucket_objects Live object versions (current and noncurrent, not delete markers) stored in a bucket.
# TYPE anvil_metadata_bucket_objects gauge
anvil_metadata_bucket_objects{bucket="other",region="us-east-1"} 40
anvil_metadata_bucket_objects{bucket="use",region="us-east-1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "anvil_metadata_bucket_bytes", "anvil_metadata_bucket_objects"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg, "anvil_metadata_bucket_bytes", "anvil_metadata_bucket_objects"); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}

	// A deleted bucket has no usage row.
	for i := range 40 {
		mustDelete(t, s, "other", fmt.Sprintf("k%d", i), "")
	}
	wantUsage(t, s, "other", 0, 0)
	if err := s.DeleteBucket(ctx, "other", false); err != nil {
		t.Fatal(err)
	}
	all, err := s.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range all {
		if u.Bucket == "other" {
			t.Fatalf("deleted bucket still reported: %+v", u)
		}
	}
}
