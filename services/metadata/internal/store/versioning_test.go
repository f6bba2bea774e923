package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// queued is an outbox row with its payload decoded loosely, so both
// task types fit.
type queued struct {
	Type    string
	Payload struct {
		BucketID  int64     `json:"bucket_id"`
		Bucket    string    `json:"bucket"`
		Key       string    `json:"key"`
		VersionID string    `json:"version_id"`
		UploadID  string    `json:"upload_id"`
		Segments  []Segment `json:"segments"`
	}
}

func outbox(t *testing.T, e *env, region string) []queued {
	t.Helper()
	rows, err := e.regional[region].Query(testCtx(t), "SELECT type, payload FROM outbox ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var r queued
		var raw []byte
		if err := rows.Scan(&r.Type, &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &r.Payload); err != nil {
			t.Fatalf("outbox payload %s: %v", raw, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dataIDs lists the data ids of every segment queued in outbox rows.
func dataIDs(rows []queued) []string {
	var ids []string
	for _, r := range rows {
		for _, s := range r.Payload.Segments {
			ids = append(ids, s.DataID)
		}
	}
	slices.Sort(ids)
	return ids
}

// uuidOf returns the internal uuid of the live null version of a key.
func uuidOfNull(t *testing.T, e *env, bucketID int64, key string) string {
	t.Helper()
	var id string
	if err := e.regional["us-east-1"].QueryRow(testCtx(t),
		"SELECT version_id::text FROM object_versions WHERE bucket_id = $1 AND key = $2 AND null_version AND state = 'live'",
		bucketID, key).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func mustCommit(t *testing.T, s *Store, v Version) Version {
	t.Helper()
	got, err := s.CommitObject(testCtx(t), v, Preconditions{})
	if err != nil {
		t.Fatalf("commit %s: %v", v.Key, err)
	}
	return got
}

func mustGet(t *testing.T, s *Store, bucket, key, versionID string) Version {
	t.Helper()
	got, err := s.GetObject(testCtx(t), bucket, key, versionID)
	if err != nil {
		t.Fatalf("get %s %q: %v", key, versionID, err)
	}
	return got
}

func mustDelete(t *testing.T, s *Store, bucket, key, versionID string) DeleteResult {
	t.Helper()
	res, err := s.DeleteObject(testCtx(t), bucket, key, versionID, false)
	if err != nil {
		t.Fatalf("delete %s %q: %v", key, versionID, err)
	}
	return res
}

func TestVersioningStateMachine(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b, err := s.CreateBucket(ctx, "states", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Versioning != Unversioned {
		t.Fatalf("new bucket versioning %q", b.Versioning)
	}
	regionalState := func() string {
		var st string
		if err := e.regional["us-east-1"].QueryRow(ctx, "SELECT "+sqlVersioningState, b.ID).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	steps := []struct {
		set  Versioning
		want error
		now  Versioning
	}{
		{Unversioned, ErrInvalidArgument, Unversioned},
		{"bogus", ErrInvalidArgument, Unversioned},
		{VersioningSuspended, nil, VersioningSuspended}, // suspending a never-versioned bucket is allowed, as on S3
		{VersioningEnabled, nil, VersioningEnabled},
		{VersioningEnabled, nil, VersioningEnabled},
		{Unversioned, ErrInvalidArgument, VersioningEnabled},
		{VersioningSuspended, nil, VersioningSuspended},
		{VersioningEnabled, nil, VersioningEnabled},
	}
	for i, st := range steps {
		t.Run(fmt.Sprintf("%d_%s", i, st.set), func(t *testing.T) {
			got, err := s.SetBucketVersioning(ctx, "states", st.set)
			if !errors.Is(err, st.want) {
				t.Fatalf("got %v, want %v", err, st.want)
			}
			if err == nil && got.Versioning != st.now {
				t.Fatalf("returned bucket versioning %q, want %q", got.Versioning, st.now)
			}
			fresh, err := s.GetBucket(ctx, "states")
			if err != nil || fresh.Versioning != st.now {
				t.Fatalf("get bucket: %q %v, want %q", fresh.Versioning, err, st.now)
			}
			if rs := regionalState(); rs != string(st.now) {
				t.Fatalf("regional state %q, want %q", rs, st.now)
			}
		})
	}
	if _, err := s.SetBucketVersioning(ctx, "nope", VersioningEnabled); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("missing bucket: %v", err)
	}
}

func TestEnabledVersioning(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b, err := s.CreateBucket(ctx, "vers", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	v0 := mustCommit(t, s, object("vers", "k", "d0", 1))
	if !isUUID(v0.VersionID) || !v0.IsLatest {
		t.Fatalf("unversioned commit %+v", v0)
	}
	if _, err := s.SetBucketVersioning(ctx, "vers", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	// The version written before versioning is the null version.
	if got := mustGet(t, s, "vers", "k", ""); got.VersionID != NullVersionID || got.Size != 1 {
		t.Fatalf("pre-versioning object %+v", got)
	}
	v1 := mustCommit(t, s, object("vers", "k", "d1", 2))
	v2 := mustCommit(t, s, object("vers", "k", "d2", 3))
	if !isUUID(v1.VersionID) || !isUUID(v2.VersionID) || v1.VersionID == v2.VersionID || !v2.IsLatest {
		t.Fatalf("enabled commits %+v %+v", v1, v2)
	}
	for _, tt := range []struct {
		id     string
		size   int64
		latest bool
	}{{"", 3, true}, {v2.VersionID, 3, true}, {v1.VersionID, 2, false}, {NullVersionID, 1, false}, {v0.VersionID, 1, false}} {
		got := mustGet(t, s, "vers", "k", tt.id)
		if got.Size != tt.size || got.IsLatest != tt.latest {
			t.Fatalf("get %q: size %d latest %v, want %d %v", tt.id, got.Size, got.IsLatest, tt.size, tt.latest)
		}
	}
	if n := len(outbox(t, e, "us-east-1")); n != 0 {
		t.Fatalf("enabled commits queued %d versions", n)
	}

	// A delete adds a marker.
	del := mustDelete(t, s, "vers", "k", "")
	if !del.Deleted || !del.DeleteMarker || !isUUID(del.VersionID) {
		t.Fatalf("delete: %+v", del)
	}
	_, err = s.GetObject(ctx, "vers", "k", "")
	var dm *DeleteMarkerError
	if !errors.Is(err, ErrNoSuchKey) || !errors.As(err, &dm) || dm.VersionID != del.VersionID {
		t.Fatalf("get behind a marker: %v", err)
	}
	if got := mustGet(t, s, "vers", "k", del.VersionID); !got.DeleteMarker || !got.IsLatest {
		t.Fatalf("marker by id: %+v", got)
	}
	if res, err := s.ListObjects(ctx, "vers", ListOptions{}); err != nil || len(res.Objects) != 0 {
		t.Fatalf("listing shows a deleted key: %+v %v", res, err)
	}
	if n := len(outbox(t, e, "us-east-1")); n != 0 {
		t.Fatalf("a delete marker queued %d versions", n)
	}

	// Removing the marker brings v2 back; removing v2 promotes v1.
	if res := mustDelete(t, s, "vers", "k", del.VersionID); !res.Deleted || !res.DeleteMarker || res.VersionID != del.VersionID {
		t.Fatalf("remove marker: %+v", res)
	}
	if got := mustGet(t, s, "vers", "k", ""); got.VersionID != v2.VersionID {
		t.Fatalf("after removing the marker current is %s, want %s", got.VersionID, v2.VersionID)
	}
	if res := mustDelete(t, s, "vers", "k", v2.VersionID); !res.Deleted || res.DeleteMarker || res.VersionID != v2.VersionID {
		t.Fatalf("remove v2: %+v", res)
	}
	if got := mustGet(t, s, "vers", "k", ""); got.VersionID != v1.VersionID || !got.IsLatest {
		t.Fatalf("after removing v2 current is %+v, want %s", got, v1.VersionID)
	}
	if _, err := s.GetObject(ctx, "vers", "k", v2.VersionID); !errors.Is(err, ErrNoSuchVersion) {
		t.Fatalf("removed version still readable: %v", err)
	}
	// Removing a noncurrent version leaves the current one alone.
	if res := mustDelete(t, s, "vers", "k", NullVersionID); !res.Deleted || res.VersionID != NullVersionID {
		t.Fatalf("remove null version: %+v", res)
	}
	if got := mustGet(t, s, "vers", "k", ""); got.VersionID != v1.VersionID {
		t.Fatalf("current changed to %s", got.VersionID)
	}
	q := outbox(t, e, "us-east-1")
	if got, want := dataIDs(q), []string{"d0", "d2"}; !slices.Equal(got, want) {
		t.Fatalf("queued data %v, want %v", got, want)
	}
	if len(q) != 3 { // the marker (no data), v2, the null version
		t.Fatalf("%d outbox rows, want 3", len(q))
	}
	for _, r := range q {
		if r.Type != TaskDeleteObject || r.Payload.BucketID != b.ID || !isUUID(r.Payload.VersionID) {
			t.Fatalf("outbox row %+v", r)
		}
	}

	t.Run("missing versions", func(t *testing.T) {
		if res := mustDelete(t, s, "vers", "k", "00000000-0000-0000-0000-000000000000"); res.Deleted {
			t.Fatalf("deleted an unknown version: %+v", res)
		}
		if _, err := s.DeleteObject(ctx, "vers", "k", "v1", false); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("malformed version id: %v", err)
		}
		if res := mustDelete(t, s, "vers", "k", NullVersionID); res.Deleted {
			t.Fatalf("deleted a null version twice: %+v", res)
		}
	})

	t.Run("delete of a missing key adds a marker", func(t *testing.T) {
		res := mustDelete(t, s, "vers", "ghost", "")
		if !res.Deleted || !res.DeleteMarker {
			t.Fatalf("%+v", res)
		}
	})

	t.Run("versions keep the bucket", func(t *testing.T) {
		if err := s.DeleteBucket(ctx, "vers", false); !errors.Is(err, ErrBucketNotEmpty) {
			t.Fatalf("delete bucket with versions: %v", err)
		}
		for _, key := range []string{"k", "ghost"} {
			res, err := s.ListObjectVersions(ctx, "vers", VersionListOptions{Prefix: key})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res.Versions {
				if v.Key == key {
					mustDelete(t, s, "vers", key, v.VersionID)
				}
			}
		}
		if err := s.DeleteBucket(ctx, "vers", false); err != nil {
			t.Fatalf("delete emptied bucket: %v", err)
		}
	})
}

func TestSuspendedVersioning(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b, err := s.CreateBucket(ctx, "susp", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBucketVersioning(ctx, "susp", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	a1 := mustCommit(t, s, object("susp", "k", "a1", 1))
	if _, err := s.SetBucketVersioning(ctx, "susp", VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	n1 := mustCommit(t, s, object("susp", "k", "n1", 2))
	if n1.VersionID != NullVersionID {
		t.Fatalf("suspended commit has version id %q", n1.VersionID)
	}
	n1ID := uuidOfNull(t, e, b.ID, "k")
	if got := mustGet(t, s, "susp", "k", a1.VersionID); got.IsLatest || got.Size != 1 {
		t.Fatalf("older version after a suspended write: %+v", got)
	}
	n2 := mustCommit(t, s, object("susp", "k", "n2", 3))
	if got := mustGet(t, s, "susp", "k", NullVersionID); got.Size != 3 || !got.IsLatest || got.VersionID != NullVersionID || n2.VersionID != NullVersionID {
		t.Fatalf("null version %+v", got)
	}
	if res, err := s.ListObjects(ctx, "susp", ListOptions{}); err != nil || len(res.Objects) != 1 || res.Objects[0].VersionID != NullVersionID {
		t.Fatalf("listing %+v %v", res, err)
	}
	q := outbox(t, e, "us-east-1")
	if len(q) != 1 || q[0].Payload.VersionID != n1ID || !slices.Equal(dataIDs(q), []string{"n1"}) {
		t.Fatalf("replacing the null version queued %+v", q)
	}

	// A delete replaces the null version with a null delete marker.
	del := mustDelete(t, s, "susp", "k", "")
	if !del.Deleted || !del.DeleteMarker || del.VersionID != NullVersionID {
		t.Fatalf("suspended delete %+v", del)
	}
	if got := dataIDs(outbox(t, e, "us-east-1")); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("queued %v", got)
	}
	_, err = s.GetObject(ctx, "susp", "k", "")
	var dm *DeleteMarkerError
	if !errors.As(err, &dm) || dm.VersionID != NullVersionID {
		t.Fatalf("get behind the null marker: %v", err)
	}
	res, err := s.ListObjectVersions(ctx, "susp", VersionListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Versions) != 2 || res.Versions[0].VersionID != NullVersionID || !res.Versions[0].DeleteMarker || !res.Versions[0].IsLatest ||
		res.Versions[1].VersionID != a1.VersionID || res.Versions[1].IsLatest {
		t.Fatalf("versions %+v", res.Versions)
	}
	// Removing the null marker promotes a1.
	if r := mustDelete(t, s, "susp", "k", NullVersionID); !r.Deleted || !r.DeleteMarker || r.VersionID != NullVersionID {
		t.Fatalf("remove null marker %+v", r)
	}
	if got := mustGet(t, s, "susp", "k", ""); got.VersionID != a1.VersionID {
		t.Fatalf("current %+v, want a1", got)
	}
}

// TestVersioningSeenThroughStaleCache: a process whose bucket cache
// predates SetBucketVersioning on another process still writes by the new
// state, which writes read under the bucket's lock.
func TestVersioningSeenThroughStaleCache(t *testing.T) {
	e := newEnv(t, "us-east-1")
	now := time.Unix(1_700_000_000, 0)
	a := e.store(t, Options{Now: func() time.Time { return now }, BucketCacheTTL: time.Hour})
	b := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := a.CreateBucket(ctx, "stale", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	first := mustCommit(t, a, object("stale", "k", "d1", 1))
	if _, err := b.SetBucketVersioning(ctx, "stale", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	second := mustCommit(t, a, object("stale", "k", "d2", 1))
	if !isUUID(second.VersionID) {
		t.Fatalf("commit through a stale cache got version id %q", second.VersionID)
	}
	if got := mustGet(t, a, "stale", "k", first.VersionID); got.IsLatest {
		t.Fatal("the older version was not kept as noncurrent")
	}
	if n := len(outbox(t, e, "us-east-1")); n != 0 {
		t.Fatalf("a versioned write through a stale cache queued %d versions", n)
	}
}

func TestUnversionedVersionIDs(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "plain", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	v := mustCommit(t, s, object("plain", "k", "d1", 1))
	// "null" names the one version of an unversioned bucket, as on S3.
	if got := mustGet(t, s, "plain", "k", NullVersionID); got.VersionID != v.VersionID || !got.IsLatest {
		t.Fatalf("null version of an unversioned key: %+v", got)
	}
	if r := mustDelete(t, s, "plain", "k", v.VersionID); !r.Deleted || r.VersionID != v.VersionID {
		t.Fatalf("delete by id %+v", r)
	}
	if _, err := s.GetObject(ctx, "plain", "k", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("get deleted: %v", err)
	}
	if r := mustDelete(t, s, "plain", "k", ""); r.Deleted {
		t.Fatalf("delete of a missing key in an unversioned bucket: %+v", r)
	}
}

func TestPreconditions(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	for _, name := range []string{"plain", "versioned"} {
		if _, err := s.CreateBucket(ctx, name, "us-east-1", 2, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetBucketVersioning(ctx, "versioned", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, object("plain", "there", "x1", 1))
	mustCommit(t, s, object("versioned", "there", "x2", 1))
	for _, k := range []string{"marked", "marked2"} {
		mustCommit(t, s, object("versioned", k, "x-"+k, 1))
		mustDelete(t, s, "versioned", k, "")
	}
	tests := []struct {
		name, bucket, key string
		pre               Preconditions
		want              error
	}{
		{"if-none-match on a new key", "plain", "new", Preconditions{IfNoneMatch: true}, nil},
		{"if-none-match on an existing key", "plain", "there", Preconditions{IfNoneMatch: true}, ErrPreconditionFailed},
		{"if-none-match behind a delete marker", "versioned", "marked", Preconditions{IfNoneMatch: true}, nil},
		{"if-none-match on a versioned key", "versioned", "there", Preconditions{IfNoneMatch: true}, ErrPreconditionFailed},
		{"if-match", "plain", "there", Preconditions{IfMatch: "etag-x1"}, nil},
		{"if-match quoted, in a list", "versioned", "there", Preconditions{IfMatch: `"nope", "etag-x2"`}, nil},
		{"if-match star", "versioned", "there", Preconditions{IfMatch: "*"}, nil},
		{"if-match wrong etag", "versioned", "there", Preconditions{IfMatch: "etag-zz"}, ErrPreconditionFailed},
		{"if-match missing key", "plain", "ghost", Preconditions{IfMatch: "etag-x1"}, ErrNoSuchKey},
		{"if-match behind a delete marker", "versioned", "marked2", Preconditions{IfMatch: "*"}, ErrNoSuchKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := count(t, e.regional["us-east-1"], "SELECT count(*) FROM object_versions")
			v := object(tt.bucket, tt.key, "new-"+tt.key, 2)
			v.ETag = "etag-" + tt.key
			got, err := s.CommitObject(ctx, v, tt.pre)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			after := count(t, e.regional["us-east-1"], "SELECT count(*) FROM object_versions")
			if tt.want != nil && after != before {
				t.Fatalf("a failed precondition stored a version")
			}
			if tt.want == nil && mustGet(t, s, tt.bucket, tt.key, "").VersionID != got.VersionID {
				t.Fatal("committed version is not current")
			}
		})
	}
}

// TestIfNoneMatchRace: of writers racing to create a key with
// If-None-Match, exactly one wins.
func TestIfNoneMatchRace(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "race", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	const rounds, writers = 5, 6
	for r := range rounds {
		key := fmt.Sprintf("k%d", r)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[w] = s.CommitObject(ctx, object("race", key, fmt.Sprintf("%s-%d", key, w), 1), Preconditions{IfNoneMatch: true})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrPreconditionFailed):
				t.Fatalf("round %d: %v", r, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d writers won", r, won)
		}
	}
	if n := count(t, e.regional["us-east-1"], "SELECT count(*) FROM object_versions"); n != rounds {
		t.Fatalf("%d versions, want %d", n, rounds)
	}
	if n := count(t, e.regional["us-east-1"], "SELECT count(*) FROM outbox"); n != 0 {
		t.Fatalf("%d outbox rows, want none", n)
	}
}

func TestObjectTagsAndChecksums(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "tags", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	v := object("tags", "k", "d1", 4)
	v.Tags = map[string]string{"team": "blue"}
	v.Checksums = map[string]string{ChecksumCRC32C: "yZRlqg==", ChecksumSHA256: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="}
	v.Segments[0].Checksums = map[string]string{ChecksumCRC32C: "yZRlqg=="}
	first := mustCommit(t, s, v)
	got := mustGet(t, s, "tags", "k", "")
	if got.Tags["team"] != "blue" || len(got.Checksums) != 2 || got.ChecksumType != ChecksumFullObject ||
		got.Segments[0].Checksums[ChecksumCRC32C] != "yZRlqg==" || got.PartsCount != 0 {
		t.Fatalf("stored %+v", got)
	}
	if _, err := s.SetBucketVersioning(ctx, "tags", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	second := mustCommit(t, s, object("tags", "k", "d2", 1))

	id, err := s.PutObjectTagging(ctx, "tags", "k", "", map[string]string{"a": "1", "b": ""})
	if err != nil || id != second.VersionID {
		t.Fatalf("tag current: %q %v", id, err)
	}
	if got := mustGet(t, s, "tags", "k", ""); len(got.Tags) != 2 || got.Tags["a"] != "1" {
		t.Fatalf("tags of current %v", got.Tags)
	}
	if got := mustGet(t, s, "tags", "k", NullVersionID); got.Tags["team"] != "blue" || len(got.Tags) != 1 {
		t.Fatalf("tagging the current version changed an older one: %v", got.Tags)
	}
	if id, err := s.DeleteObjectTagging(ctx, "tags", "k", NullVersionID); err != nil || id != NullVersionID {
		t.Fatalf("untag null version: %q %v", id, err)
	}
	if got := mustGet(t, s, "tags", "k", first.VersionID); len(got.Tags) != 0 {
		t.Fatalf("tags after delete %v", got.Tags)
	}
	marker := mustDelete(t, s, "tags", "k", "")
	tests := []struct {
		name, key, version string
		want               error
	}{
		{"current is a delete marker", "k", "", ErrNoSuchKey},
		{"a delete marker by id", "k", marker.VersionID, ErrNoSuchKey},
		{"missing key", "ghost", "", ErrNoSuchKey},
		{"missing version", "k", "00000000-0000-0000-0000-000000000000", ErrNoSuchVersion},
		{"malformed version", "k", "x", ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.PutObjectTagging(ctx, "tags", tt.key, tt.version, map[string]string{"a": "b"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	var dm *DeleteMarkerError
	if _, err := s.PutObjectTagging(ctx, "tags", "k", marker.VersionID, nil); !errors.As(err, &dm) || dm.VersionID != marker.VersionID {
		t.Fatalf("tagging a marker by id: %v", err)
	}
	if _, err := s.PutObjectTagging(ctx, "tags", "k", second.VersionID, map[string]string{"a\x00": "b"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL in a tag: %v", err)
	}
	bad := object("tags", "k2", "d3", 1)
	bad.Checksums = map[string]string{"MD4": "x"}
	if _, err := s.CommitObject(ctx, bad, Preconditions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown checksum algorithm: %v", err)
	}
	bad.Checksums, bad.ChecksumType = map[string]string{ChecksumCRC32: "AAAAAA=="}, "PARTIAL"
	if _, err := s.CommitObject(ctx, bad, Preconditions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown checksum type: %v", err)
	}
}

func TestBucketConfigs(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "conf", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBucketConfig(ctx, "conf", "cors"); !errors.Is(err, ErrNoSuchBucketConfig) {
		t.Fatalf("unset config: %v", err)
	}
	cors := []byte("<CORSConfiguration/>")
	if err := s.PutBucketConfig(ctx, "conf", "cors", cors); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketConfig(ctx, "conf", "tagging", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketConfig(ctx, "conf", "tagging", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]string{"cors": string(cors), "tagging": "v2"} {
		if got, err := s.GetBucketConfig(ctx, "conf", kind); err != nil || string(got) != want {
			t.Fatalf("%s: %q %v, want %q", kind, got, err, want)
		}
	}
	if err := s.DeleteBucketConfig(ctx, "conf", "tagging"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucketConfig(ctx, "conf", "tagging"); err != nil {
		t.Fatalf("delete a missing config: %v", err)
	}
	if _, err := s.GetBucketConfig(ctx, "conf", "tagging"); !errors.Is(err, ErrNoSuchBucketConfig) {
		t.Fatalf("deleted config: %v", err)
	}
	errTests := []struct {
		name, bucket, kind string
		doc                []byte
		want               error
	}{
		{"empty kind", "conf", "", nil, ErrInvalidArgument},
		{"odd kind", "conf", "Cors!", nil, ErrInvalidArgument},
		{"too large", "conf", "cors", make([]byte, MaxBucketConfigSize+1), ErrInvalidArgument},
		{"missing bucket", "nope", "cors", nil, ErrNoSuchBucket},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutBucketConfig(ctx, tt.bucket, tt.kind, tt.doc); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Deleted with the bucket: a bucket of the same name starts bare.
	if err := s.DeleteBucket(ctx, "conf", false); err != nil {
		t.Fatal(err)
	}
	if n := count(t, e.global, "SELECT count(*) FROM bucket_configs"); n != 0 {
		t.Fatalf("%d configs left after the bucket was deleted", n)
	}
	if _, err := s.CreateBucket(ctx, "conf", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBucketConfig(ctx, "conf", "cors"); !errors.Is(err, ErrNoSuchBucketConfig) {
		t.Fatalf("recreated bucket has a config: %v", err)
	}
}
