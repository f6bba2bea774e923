package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// errCrash stands for the process dying between the global insert and the
// outbox delete of a relay round.
var errCrash = errors.New("simulated crash")

func segment(id string, size int64) Segment {
	return Segment{DataID: id, Size: size, DataShards: 2, ParityShards: 1, BlockSize: 1 << 20, NodeIDs: []string{"n1", "n2", "n3"}}
}

func object(bucket, key, dataID string, size int64) Version {
	return Version{
		Bucket:       bucket,
		Key:          key,
		Size:         size,
		ETag:         "etag-" + dataID,
		ContentType:  "text/plain",
		UserMetadata: map[string]string{"origin": dataID},
		Segments:     []Segment{segment(dataID, size)},
	}
}

type task struct {
	Type     string
	Region   string
	SourceID int64
	Payload  DeleteObjectPayload
}

func tasks(t *testing.T, e *env) []task {
	t.Helper()
	rows, err := e.global.Query(testCtx(t), "SELECT type, region, source_id, payload FROM tasks ORDER BY source_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []task
	for rows.Next() {
		var tk task
		var raw []byte
		if err := rows.Scan(&tk.Type, &tk.Region, &tk.SourceID, &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &tk.Payload); err != nil {
			t.Fatalf("task payload %s: %v", raw, err)
		}
		out = append(out, tk)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCommitReplaceDeleteAndRelay(t *testing.T) {
	e := newEnv(t, "us-east-1")
	reg := prometheus.NewRegistry()
	s := e.store(t, Options{Registerer: reg})
	ctx := testCtx(t)
	regional := e.regional["us-east-1"]
	b, err := s.CreateBucket(ctx, "docs", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}

	v1, err := s.CommitObject(ctx, object("docs", "readme.md", "d1", 10), Preconditions{})
	if err != nil {
		t.Fatal(err)
	}
	if !isUUID(v1.VersionID) || v1.LastModified.IsZero() {
		t.Fatalf("commit did not assign version id and time: %+v", v1)
	}
	got, err := s.GetObject(ctx, "docs", "readme.md", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.VersionID != v1.VersionID || got.Size != 10 || got.ETag != "etag-d1" || got.ContentType != "text/plain" ||
		got.UserMetadata["origin"] != "d1" || len(got.Segments) != 1 || got.Segments[0].DataID != "d1" ||
		!slices.Equal(got.Segments[0].NodeIDs, []string{"n1", "n2", "n3"}) || !got.LastModified.Equal(v1.LastModified) {
		t.Fatalf("got %+v, want %+v", got, v1)
	}
	if n := count(t, regional, "SELECT count(*) FROM outbox"); n != 0 {
		t.Fatalf("first commit wrote %d outbox rows", n)
	}

	v2, err := s.CommitObject(ctx, object("docs", "readme.md", "d2", 20), Preconditions{})
	if err != nil {
		t.Fatal(err)
	}
	if v2.VersionID == v1.VersionID || v2.LastModified.Before(v1.LastModified) {
		t.Fatalf("replacement %+v after %+v", v2, v1)
	}
	if got, err := s.GetObject(ctx, "docs", "readme.md", ""); err != nil || got.VersionID != v2.VersionID {
		t.Fatalf("current after replace: %+v %v", got, err)
	}
	if got, err := s.GetObject(ctx, "docs", "readme.md", v2.VersionID); err != nil || got.Size != 20 {
		t.Fatalf("by version id: %+v %v", got, err)
	}
	if _, err := s.GetObject(ctx, "docs", "readme.md", v1.VersionID); !errors.Is(err, ErrNoSuchVersion) {
		t.Fatalf("replaced version still readable: %v", err)
	}
	if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE state = 'deleted' AND deleted_at IS NOT NULL AND NOT is_latest"); n != 1 {
		t.Fatalf("%d soft-deleted versions, want 1", n)
	}

	del, err := s.DeleteObject(ctx, "docs", "readme.md", "", false)
	if err != nil || !del.Deleted || del.VersionID != v2.VersionID || del.DeleteMarker {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := s.GetObject(ctx, "docs", "readme.md", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("get deleted key: %v", err)
	}
	if del, err := s.DeleteObject(ctx, "docs", "readme.md", "", false); err != nil || del.Deleted {
		t.Fatalf("delete missing key: %+v err=%v", del, err)
	}
	if n := count(t, regional, "SELECT count(*) FROM outbox"); n != 2 {
		t.Fatalf("%d outbox rows, want 2 (one replace, one delete)", n)
	}

	relay, err := s.NewRelay("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.Drain(ctx); err != nil || n != 2 {
		t.Fatalf("drain: moved %d, err %v", n, err)
	}
	if n := count(t, regional, "SELECT count(*) FROM outbox"); n != 0 {
		t.Fatalf("%d outbox rows left after relay", n)
	}
	got2 := tasks(t, e)
	want := []DeleteObjectPayload{
		{BucketID: b.ID, Bucket: "docs", Key: "readme.md", VersionID: v1.VersionID, Segments: []Segment{segment("d1", 10)}},
		{BucketID: b.ID, Bucket: "docs", Key: "readme.md", VersionID: v2.VersionID, Segments: []Segment{segment("d2", 20)}},
	}
	if len(got2) != len(want) {
		t.Fatalf("got %d tasks, want %d", len(got2), len(want))
	}
	for i, tk := range got2 {
		if tk.Type != TaskDeleteObject || tk.Region != "us-east-1" {
			t.Fatalf("task %d: %+v", i, tk)
		}
		gotJSON, _ := json.Marshal(tk.Payload)
		wantJSON, _ := json.Marshal(want[i])
		if string(gotJSON) != string(wantJSON) {
			t.Fatalf("task %d payload %s, want %s", i, gotJSON, wantJSON)
		}
	}
	if v := testutil.ToFloat64(s.metrics.tasksEnqueued.WithLabelValues("us-east-1", TaskDeleteObject)); v != 2 {
		t.Fatalf("tasks enqueued metric %v, want 2", v)
	}
	if v := testutil.ToFloat64(s.metrics.outboxPending.WithLabelValues("us-east-1")); v != 0 {
		t.Fatalf("outbox pending metric %v, want 0", v)
	}
}

func TestGetObjectErrors(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "b-1", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	live, err := s.CommitObject(ctx, object("b-1", "live", "d1", 1), Preconditions{})
	if err != nil {
		t.Fatal(err)
	}
	marker, err := s.CommitObject(ctx, Version{Bucket: "b-1", Key: "marked", DeleteMarker: true}, Preconditions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bucket, key, version string
		want                       error
	}{
		{"missing bucket", "nope", "live", "", ErrNoSuchBucket},
		{"missing key", "b-1", "ghost", "", ErrNoSuchKey},
		{"malformed version id", "b-1", "live", "not-a-uuid", ErrInvalidArgument},
		{"unknown version id", "b-1", "live", "00000000-0000-0000-0000-000000000000", ErrNoSuchVersion},
		{"version of another key", "b-1", "ghost", live.VersionID, ErrNoSuchVersion},
		{"current is a delete marker", "b-1", "marked", "", ErrNoSuchKey},
		{"empty key", "b-1", "", "", ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.GetObject(ctx, tt.bucket, tt.key, tt.version); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("delete marker by version id", func(t *testing.T) {
		got, err := s.GetObject(ctx, "b-1", "marked", marker.VersionID)
		if err != nil || !got.DeleteMarker {
			t.Fatalf("got %+v %v", got, err)
		}
	})
	t.Run("upper-case version id", func(t *testing.T) {
		got, err := s.GetObject(ctx, "b-1", "live", strings.ToUpper(live.VersionID))
		if err != nil || got.VersionID != live.VersionID {
			t.Fatalf("got %+v %v", got, err)
		}
	})
}

func TestCommitValidation(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "b-1", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	good := func() Version { return object("b-1", "k", "d1", 5) }
	tests := []struct {
		name   string
		mutate func(*Version)
		want   error
	}{
		{"missing bucket", func(v *Version) { v.Bucket = "nope" }, ErrNoSuchBucket},
		{"empty key", func(v *Version) { v.Key = "" }, ErrInvalidArgument},
		{"key too long", func(v *Version) { v.Key = strings.Repeat("k", MaxKeyLen+1) }, ErrInvalidArgument},
		{"NUL in key", func(v *Version) { v.Key = "a\x00b" }, ErrInvalidArgument},
		{"invalid UTF-8 key", func(v *Version) { v.Key = "a\xffb" }, ErrInvalidArgument},
		{"negative size", func(v *Version) { v.Size = -1 }, ErrInvalidArgument},
		{"NUL in metadata", func(v *Version) { v.UserMetadata = map[string]string{"a": "\x00"} }, ErrInvalidArgument},
		{"NUL in content type", func(v *Version) { v.ContentType = "text/\x00" }, ErrInvalidArgument},
		{"segment without id", func(v *Version) { v.Segments[0].DataID = "" }, ErrInvalidArgument},
		{"segment k=0", func(v *Version) { v.Segments[0].DataShards = 0 }, ErrInvalidArgument},
		{"segment node count", func(v *Version) { v.Segments[0].NodeIDs = []string{"n1"} }, ErrInvalidArgument},
		{"segments do not add up", func(v *Version) { v.Size = 6 }, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := good()
			tt.mutate(&v)
			if _, err := s.CommitObject(ctx, v, Preconditions{}); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("key of 1024 bytes with odd characters", func(t *testing.T) {
		v := good()
		v.Key = strings.Repeat("\u4e16", 341) + "x" // 1023 + 1 bytes
		if _, err := s.CommitObject(ctx, v, Preconditions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetObject(ctx, "b-1", v.Key, ""); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConcurrentCommitsToOneKey: last commit wins, no error surfaces, and
// every replaced version becomes exactly one task.
func TestConcurrentCommitsToOneKey(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	regional := e.regional["us-east-1"]
	if _, err := s.CreateBucket(ctx, "hot", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	const writers = 20
	committed := make([]Version, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			committed[i], errs[i] = s.CommitObject(ctx, object("hot", "key", fmt.Sprintf("d%02d", i), int64(i)), Preconditions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE is_latest"); n != 1 {
		t.Fatalf("%d latest versions, want 1", n)
	}
	// The winner is the commit that took the key lock last: the highest seq,
	// with the latest last_modified.
	var latestID string
	var latestIsMax bool
	if err := regional.QueryRow(ctx, `
		SELECT version_id::text,
		       seq = (SELECT max(seq) FROM object_versions) AND
		       last_modified = (SELECT max(last_modified) FROM object_versions)
		  FROM object_versions WHERE is_latest`).Scan(&latestID, &latestIsMax); err != nil {
		t.Fatal(err)
	}
	if !latestIsMax {
		t.Fatal("the current version is not the last one committed")
	}
	got, err := s.GetObject(ctx, "hot", "key", "")
	if err != nil || got.VersionID != latestID {
		t.Fatalf("current version %+v %v, want %s", got, err, latestID)
	}

	relay, err := s.NewRelay("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	tk := tasks(t, e)
	if len(tk) != writers-1 {
		t.Fatalf("%d tasks, want %d", len(tk), writers-1)
	}
	var fromTasks, replaced []string
	for _, x := range tk {
		fromTasks = append(fromTasks, x.Payload.VersionID)
	}
	for _, v := range committed {
		if v.VersionID != latestID {
			replaced = append(replaced, v.VersionID)
		}
	}
	slices.Sort(fromTasks)
	slices.Sort(replaced)
	if !slices.Equal(fromTasks, replaced) {
		t.Fatalf("tasks name versions %v, want the replaced ones %v", fromTasks, replaced)
	}
}

// TestRelayCrashBetweenInsertAndDelete: a relay that dies after inserting
// tasks but before deleting the outbox rows loses nothing and, run again,
// duplicates nothing. Two relays draining at once duplicate nothing either.
func TestRelayCrashBetweenInsertAndDelete(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	regional := e.regional["us-east-1"]
	if _, err := s.CreateBucket(ctx, "b-1", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	commitN := func(n int, prefix string) {
		t.Helper()
		for i := range n {
			// Committing twice replaces once: one outbox row per key.
			for j := range 2 {
				if _, err := s.CommitObject(ctx, object("b-1", fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("%s%d-%d", prefix, i, j), 1), Preconditions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	commitN(5, "a")
	relay, err := s.NewRelay("us-east-1")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := relay.round(ctx, func() error { return errCrash }); !errors.Is(err, errCrash) {
		t.Fatalf("crashed round: %v", err)
	}
	if n := len(tasks(t, e)); n != 5 {
		t.Fatalf("after the crash: %d tasks, want 5 (inserted before the crash)", n)
	}
	if n := count(t, regional, "SELECT count(*) FROM outbox"); n != 5 {
		t.Fatalf("after the crash: %d outbox rows, want 5 (delete never ran)", n)
	}

	commitN(3, "b") // more work arrives while the outbox holds relayed rows
	if n, err := relay.round(ctx, nil); err != nil || n != 8 {
		t.Fatalf("round after crash: moved %d, err %v", n, err)
	}
	tk := tasks(t, e)
	if len(tk) != 8 {
		t.Fatalf("%d tasks, want 8 (no loss, no duplicates)", len(tk))
	}
	if n := count(t, regional, "SELECT count(*) FROM outbox"); n != 0 {
		t.Fatalf("%d outbox rows left", n)
	}
	seen := map[string]bool{}
	for _, x := range tk {
		if seen[x.Payload.Key] {
			t.Fatalf("key %s queued twice", x.Payload.Key)
		}
		seen[x.Payload.Key] = true
	}

	t.Run("concurrent relays", func(t *testing.T) {
		commitN(1200, "c") // more than two relay batches
		other, err := s.NewRelay("us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, r := range []*Relay{relay, other} {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = r.Drain(ctx) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, e.global, "SELECT count(*) FROM tasks"); n != 8+1200 {
			t.Fatalf("%d tasks, want %d", n, 8+1200)
		}
		if n := count(t, e.global, "SELECT count(DISTINCT payload->>'version_id') FROM tasks"); n != 8+1200 {
			t.Fatalf("%d distinct versions queued, want %d", n, 8+1200)
		}
	})
}

func TestRelayRunStopsWithContext(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "b-1", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	relay, err := s.NewRelay("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	for i := range 2 {
		if _, err := s.CommitObject(ctx, object("b-1", "k", fmt.Sprint(i), 1), Preconditions{}); err != nil {
			t.Fatal(err)
		}
	}
	relay.Poke()
	// Wait for the relay to move the one replaced version (no timing
	// assumption: the test context bounds the wait).
	for count(t, e.global, "SELECT count(*) FROM tasks") != 1 {
		if ctx.Err() != nil {
			t.Fatal("relay never moved the outbox row")
		}
		relay.Poke()
		waitABit(ctx)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := s.NewRelay("mars-1"); !errors.Is(err, ErrRegionNotServed) {
		t.Fatalf("relay for a region not served: %v", err)
	}
}

// Relayed garbage waits out the grace period, so reads still streaming a
// replaced version keep its shards.
func TestRelayDelaysTasksByGCGrace(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{GCGrace: time.Hour})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "b-1", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	for j := range 2 {
		if _, err := s.CommitObject(ctx, object("b-1", "k", fmt.Sprintf("d%d", j), 1), Preconditions{}); err != nil {
			t.Fatal(err)
		}
	}
	relay, err := s.NewRelay("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.round(ctx, nil); err != nil || n != 1 {
		t.Fatalf("relay round: %d, %v", n, err)
	}
	if n := count(t, e.global, "SELECT count(*) FROM tasks WHERE run_after > now() + interval '59 minutes'"); n != 1 {
		t.Fatalf("%d tasks delayed by the grace period, want 1", n)
	}
}

// TestWebsiteRedirectPerVersion: x-amz-website-redirect-location is kept
// with each version (and with an upload's template until it completes).
func TestWebsiteRedirectPerVersion(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "web", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBucketVersioning(ctx, "web", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	first := object("web", "k", "d1", 5)
	first.WebsiteRedirectLocation = "/elsewhere"
	v1 := mustCommit(t, s, first)
	v2 := mustCommit(t, s, object("web", "k", "d2", 5))
	for id, want := range map[string]string{v1.VersionID: "/elsewhere", v2.VersionID: "", "": ""} {
		got, err := s.GetObject(ctx, "web", "k", id)
		if err != nil || got.WebsiteRedirectLocation != want {
			t.Fatalf("version %q: redirect %q, %v; want %q", id, got.WebsiteRedirectLocation, err, want)
		}
	}

	u, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "web", Key: "mp", Template: Version{WebsiteRedirectLocation: "https://example.com/x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetMultipartUpload(ctx, "web", "mp", u.UploadID); err != nil || got.Template.WebsiteRedirectLocation != "https://example.com/x" {
		t.Fatalf("upload template %+v %v", got.Template, err)
	}
	mustPutPart(t, s, u, 1, partSegment("p1", 7))
	done, err := s.CompleteMultipartUpload(ctx, "web", "mp", u.UploadID, completed(map[int]string{1: "p1"}, 1), CompleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetObject(ctx, "web", "mp", done.VersionID); err != nil || got.WebsiteRedirectLocation != "https://example.com/x" {
		t.Fatalf("completed upload's redirect %q, %v", got.WebsiteRedirectLocation, err)
	}
	bad := object("web", "k", "d3", 5)
	bad.WebsiteRedirectLocation = "/\x00"
	if _, err := s.CommitObject(ctx, bad, Preconditions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL in redirect: %v", err)
	}
}

// TestDeleteObjectIf: a conditional delete happens only when If-Match
// names the current version's ETag (quoted or not, or "*"); a missing key
// is ErrNoSuchKey.
func TestDeleteObjectIf(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "cond", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	v := mustCommit(t, s, object("cond", "k", "d1", 5))
	if _, err := s.DeleteObjectIf(ctx, "cond", "k", "", Preconditions{IfMatch: `"other"`}, false); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("wrong etag: %v", err)
	}
	if _, err := s.GetObject(ctx, "cond", "k", ""); err != nil {
		t.Fatalf("object after a refused delete: %v", err)
	}
	if res, err := s.DeleteObjectIf(ctx, "cond", "k", "", Preconditions{IfMatch: `"` + v.ETag + `"`}, false); err != nil || !res.Deleted {
		t.Fatalf("matching etag: %+v %v", res, err)
	}
	if _, err := s.DeleteObjectIf(ctx, "cond", "k", "", Preconditions{IfMatch: "*"}, false); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("missing key: %v", err)
	}
	mustCommit(t, s, object("cond", "k", "d2", 5))
	if res, err := s.DeleteObjectIf(ctx, "cond", "k", "", Preconditions{IfMatch: "*"}, false); err != nil || !res.Deleted {
		t.Fatalf("wildcard: %+v %v", res, err)
	}
}
