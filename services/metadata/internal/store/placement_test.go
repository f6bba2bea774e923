package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// onNodes returns the segment of dataID (see segment) placed on nodes.
func onNodes(dataID string, size int64, nodes ...string) Segment {
	seg := segment(dataID, size)
	seg.NodeIDs = nodes
	return seg
}

func versionOwner(b Bucket, v Version) SegmentOwner {
	return SegmentOwner{BucketID: b.ID, Key: v.Key, VersionID: v.VersionID}
}

func partOwner(b Bucket, u Upload, n int) SegmentOwner {
	return SegmentOwner{BucketID: b.ID, Key: u.Key, UploadID: u.UploadID, PartNumber: n}
}

// placedName names a placed segment by its owner and data id.
func placedName(o SegmentOwner, dataID string) string {
	if o.VersionID != "" {
		return fmt.Sprintf("%d/%s@v:%s/%s", o.BucketID, o.Key, o.VersionID, dataID)
	}
	return fmt.Sprintf("%d/%s@p:%s:%d/%s", o.BucketID, o.Key, o.UploadID, o.PartNumber, dataID)
}

func mustCreateBucket(t *testing.T, s *Store, name string) Bucket {
	t.Helper()
	b, err := s.CreateBucket(testCtx(t), name, "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustGetSegment(t *testing.T, s *Store, o SegmentOwner, dataID string) Segment {
	t.Helper()
	ps, err := s.GetSegment(testCtx(t), "us-east-1", o, dataID)
	if err != nil {
		t.Fatalf("get segment %s of %+v: %v", dataID, o, err)
	}
	if ps.Owner != o || ps.Segment.DataID != dataID {
		t.Fatalf("get segment %s of %+v returned %+v", dataID, o, ps)
	}
	return ps.Segment
}

func mustReplace(t *testing.T, s *Store, o SegmentOwner, dataID string, index int, from, to string) bool {
	t.Helper()
	ok, err := s.ReplaceShard(testCtx(t), "us-east-1", o, dataID, index, from, to)
	if err != nil {
		t.Fatalf("replace shard %d of %s %s->%s: %v", index, dataID, from, to, err)
	}
	return ok
}

// locate returns LocateShards' answer by data id, failing on an id listed
// twice.
func locate(t *testing.T, s *Store, ids ...string) map[string][]string {
	t.Helper()
	locs, err := s.LocateShards(testCtx(t), "us-east-1", ids)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, l := range locs {
		if _, dup := out[l.DataID]; dup {
			t.Fatalf("data id %s located twice: %+v", l.DataID, locs)
		}
		out[l.DataID] = l.NodeIDs
	}
	return out
}

type scanPage struct {
	segs []PlacedSegment
	next string
	done bool
}

// scanWalk walks ScanSegments from the start until done.
func scanWalk(t *testing.T, s *Store, limit int) []scanPage {
	t.Helper()
	var pages []scanPage
	cursor := ""
	for {
		segs, next, done, err := s.ScanSegments(testCtx(t), "us-east-1", cursor, limit)
		if err != nil {
			t.Fatalf("page %d (cursor %q): %v", len(pages), cursor, err)
		}
		pages = append(pages, scanPage{segs, next, done})
		if done {
			return pages
		}
		if len(pages) > 1000 {
			t.Fatalf("no end after %d pages", len(pages))
		}
		cursor = next
	}
}

func TestScanSegments(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	plain := mustCreateBucket(t, s, "scan-plain")
	vers := mustCreateBucket(t, s, "scan-vers")
	if _, err := s.SetBucketVersioning(ctx, "scan-vers", VersioningEnabled); err != nil {
		t.Fatal(err)
	}

	// want maps every placed segment a walk must return to its nodes.
	want := map[string][]string{}
	addVersion := func(b Bucket, v Version) {
		for _, seg := range v.Segments {
			want[placedName(versionOwner(b, v), seg.DataID)] = seg.NodeIDs
		}
	}
	for i := range 6 {
		id := fmt.Sprintf("a%d", i)
		v := object("scan-plain", "obj-"+id, id, int64(i+1))
		v.Segments[0].NodeIDs = []string{"n1-" + id, "n2-" + id, "n3-" + id}
		addVersion(plain, mustCommit(t, s, v))
	}
	multi := object("scan-plain", "multi", "m1", 7)
	multi.Segments = []Segment{onNodes("m1", 3, "n1", "n2", "n3"), onNodes("m2", 4, "n4", "n5", "n6")}
	addVersion(plain, mustCommit(t, s, multi))
	// Empty objects have no shards: with no segment or an empty one.
	mustCommit(t, s, Version{Bucket: "scan-plain", Key: "empty", Size: 0})
	mustCommit(t, s, Version{Bucket: "scan-plain", Key: "empty-seg", Size: 0, Segments: []Segment{{Size: 0}}})
	// A replaced and a deleted version are not live.
	mustCommit(t, s, object("scan-plain", "replaced", "r-old", 1))
	addVersion(plain, mustCommit(t, s, object("scan-plain", "replaced", "r-new", 1)))
	mustCommit(t, s, object("scan-plain", "deleted", "x-del", 1))
	mustDelete(t, s, "scan-plain", "deleted", "")
	// With versioning, noncurrent versions are live; delete markers hold
	// nothing.
	addVersion(vers, mustCommit(t, s, object("scan-vers", "k", "v1", 1)))
	addVersion(vers, mustCommit(t, s, object("scan-vers", "k", "v2", 2)))
	addVersion(vers, mustCommit(t, s, object("scan-vers", "gone", "g1", 1)))
	if del := mustDelete(t, s, "scan-vers", "gone", ""); !del.DeleteMarker {
		t.Fatalf("delete in a versioned bucket: %+v", del)
	}
	// A completed upload is a version; its parts are gone.
	done := mustCreateUpload(t, s, "scan-plain", "completed")
	mustPutPart(t, s, done, 1, partSegment("c1", 1))
	cv, err := s.CompleteMultipartUpload(ctx, "scan-plain", "completed", done.UploadID, completed(map[int]string{1: "c1"}, 1), CompleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addVersion(plain, cv)
	// Parts of uploads in progress; an empty part has no shards.
	u1 := mustCreateUpload(t, s, "scan-plain", "big")
	for n, id := range map[int]string{1: "u1p1", 2: "u1p2", 4: "u1p4"} {
		seg := partSegment(id, 5*mib)
		seg.NodeIDs = []string{"p1-" + id, "p2-" + id, "p3-" + id}
		mustPutPart(t, s, u1, n, seg)
		want[placedName(partOwner(plain, u1, n), id)] = seg.NodeIDs
	}
	mustPutPart(t, s, u1, 3, Segment{ETag: md5hex(nil)})
	u2 := mustCreateUpload(t, s, "scan-vers", "big2")
	mustPutPart(t, s, u2, 1, partSegment("u2p1", 1))
	want[placedName(partOwner(vers, u2, 1), "u2p1")] = segment("u2p1", 1).NodeIDs
	aborted := mustCreateUpload(t, s, "scan-plain", "aborted")
	mustPutPart(t, s, aborted, 1, partSegment("ab1", 1))
	if err := s.AbortMultipartUpload(ctx, "scan-plain", "aborted", aborted.UploadID); err != nil {
		t.Fatal(err)
	}

	// Live versions (12 with shards, the delete marker not counted) and
	// parts of uploads in progress (3 with shards).
	const versions, parts = 14, 4
	for _, limit := range []int{1, 2, 3, 4, 12, versions, versions + 1, 0, MaxScanLimit} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			pages := scanWalk(t, s, limit)
			got := map[string]bool{}
			var order []SegmentOwner
			for i, p := range pages {
				if p.done != (i == len(pages)-1) {
					t.Fatalf("page %d of %d: done %v", i+1, len(pages), p.done)
				}
				owners := map[SegmentOwner]bool{}
				for _, ps := range p.segs {
					name := placedName(ps.Owner, ps.Segment.DataID)
					if got[name] {
						t.Fatalf("page %d: %s returned again", i+1, name)
					}
					got[name] = true
					nodes, ok := want[name]
					if !ok {
						t.Fatalf("page %d: unexpected %s", i+1, name)
					}
					if !slices.Equal(ps.Segment.NodeIDs, nodes) {
						t.Fatalf("%s on %v, want %v", name, ps.Segment.NodeIDs, nodes)
					}
					if ps.Owner.UploadID != "" && ps.Segment.PartNumber != ps.Owner.PartNumber {
						t.Fatalf("%s has part number %d", name, ps.Segment.PartNumber)
					}
					owners[ps.Owner] = true
					order = append(order, ps.Owner)
				}
				if limit > 0 && len(owners) > limit {
					t.Fatalf("page %d: %d owners, limit %d", i+1, len(owners), limit)
				}
			}
			for name := range want {
				if !got[name] {
					t.Errorf("walk missed %s", name)
				}
			}
			// Versions in version id order, then parts in (upload, part)
			// order.
			for i := 1; i < len(order); i++ {
				a, b := order[i-1], order[i]
				switch {
				case a.VersionID != "" && b.VersionID != "":
					if a.VersionID > b.VersionID {
						t.Fatalf("version %s after %s", b.VersionID, a.VersionID)
					}
				case a.UploadID != "" && b.VersionID != "":
					t.Fatalf("version %s after part %s:%d", b.VersionID, a.UploadID, a.PartNumber)
				case a.UploadID != "" && b.UploadID != "":
					if a.UploadID > b.UploadID || a.UploadID == b.UploadID && a.PartNumber >= b.PartNumber {
						t.Fatalf("part %s:%d after %s:%d", b.UploadID, b.PartNumber, a.UploadID, a.PartNumber)
					}
				}
			}
			eff := cmp.Or(limit, DefaultScanLimit)
			if minPages := (versions+eff-1)/eff + (parts+eff-1)/eff; len(pages) < minPages {
				t.Fatalf("%d pages with limit %d, want at least %d", len(pages), limit, minPages)
			}
			// The last cursor, asked again, is still at the end.
			last := pages[len(pages)-1]
			if segs, _, done, err := s.ScanSegments(ctx, "us-east-1", last.next, limit); err != nil || !done || len(segs) != 0 {
				t.Fatalf("scan from the final cursor %q: %d segments, done %v, err %v", last.next, len(segs), done, err)
			}
		})
	}

	t.Run("bad requests", func(t *testing.T) {
		const id = "6f1c1d52-6a54-4c1e-9a3a-1b2c3d4e5f60"
		tests := []struct {
			name, region, cursor string
			limit                int
			want                 error
		}{
			{"no prefix", "us-east-1", "garbage", 10, ErrInvalidArgument},
			{"upper-case prefix", "us-east-1", "V:" + nilUUID, 10, ErrInvalidArgument},
			{"empty version cursor", "us-east-1", "v:", 10, ErrInvalidArgument},
			{"version cursor not a uuid", "us-east-1", "v:123", 10, ErrInvalidArgument},
			{"empty part cursor", "us-east-1", "p:", 10, ErrInvalidArgument},
			{"part cursor without part", "us-east-1", "p:" + id, 10, ErrInvalidArgument},
			{"part number not a number", "us-east-1", "p:" + id + ":x", 10, ErrInvalidArgument},
			{"part cursor upload not a uuid", "us-east-1", "p:nope:1", 10, ErrInvalidArgument},
			{"limit too large", "us-east-1", "", MaxScanLimit + 1, ErrInvalidArgument},
			{"region not served", "mars-1", "", 10, ErrRegionNotServed},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, _, _, err := s.ScanSegments(ctx, tt.region, tt.cursor, tt.limit); !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
			})
		}
	})
}

func TestGetSegment(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b := mustCreateBucket(t, s, "seg")
	two := object("seg", "two", "s1", 7)
	two.Segments = []Segment{onNodes("s1", 3, "n1", "n2", "n3"), onNodes("s2", 4, "n4", "n5", "n6")}
	v := mustCommit(t, s, two)
	old := mustCommit(t, s, object("seg", "rep", "rep-old", 1))
	mustCommit(t, s, object("seg", "rep", "rep-new", 1))
	gone := mustCommit(t, s, object("seg", "gone", "gone", 1))
	mustDelete(t, s, "seg", "gone", "")
	u := mustCreateUpload(t, s, "seg", "up")
	mustPutPart(t, s, u, 1, partSegment("sp1", 1))
	mustPutPart(t, s, u, 2, partSegment("sp2", 1))
	ab := mustCreateUpload(t, s, "seg", "ab")
	mustPutPart(t, s, ab, 1, partSegment("ab1", 1))
	if err := s.AbortMultipartUpload(ctx, "seg", "ab", ab.UploadID); err != nil {
		t.Fatal(err)
	}

	t.Run("found", func(t *testing.T) {
		tests := []struct {
			name   string
			owner  SegmentOwner
			dataID string
			nodes  []string
		}{
			{"first segment of a version", versionOwner(b, v), "s1", []string{"n1", "n2", "n3"}},
			{"second segment of a version", versionOwner(b, v), "s2", []string{"n4", "n5", "n6"}},
			{"part", partOwner(b, u, 2), "sp2", segment("sp2", 1).NodeIDs},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				seg := mustGetSegment(t, s, tt.owner, tt.dataID)
				if !slices.Equal(seg.NodeIDs, tt.nodes) || seg.DataShards != 2 || seg.ParityShards != 1 {
					t.Fatalf("got %+v, want nodes %v", seg, tt.nodes)
				}
				if tt.owner.UploadID != "" && (seg.PartNumber != tt.owner.PartNumber || seg.ETag != md5hex([]byte(tt.dataID))) {
					t.Fatalf("part segment %+v", seg)
				}
			})
		}
	})

	withKey := versionOwner(b, v)
	withKey.Key = "other"
	otherBucket := versionOwner(b, v)
	otherBucket.BucketID = b.ID + 1000
	unknown := versionOwner(b, v)
	unknown.VersionID = "6f1c1d52-6a54-4c1e-9a3a-1b2c3d4e5f60"
	both := versionOwner(b, v)
	both.UploadID, both.PartNumber = u.UploadID, 1
	badVersion := versionOwner(b, v)
	badVersion.VersionID = "not-a-uuid"
	badUpload := partOwner(b, u, 1)
	badUpload.UploadID = "not-a-uuid"
	noBucket := versionOwner(b, v)
	noBucket.BucketID = 0
	tests := []struct {
		name   string
		region string
		owner  SegmentOwner
		dataID string
		want   error
	}{
		{"unknown data id", "us-east-1", versionOwner(b, v), "s9", ErrNoSuchSegment},
		{"empty data id", "us-east-1", versionOwner(b, v), "", ErrNoSuchSegment},
		{"data id of another version", "us-east-1", versionOwner(b, v), "rep-new", ErrNoSuchSegment},
		{"other key", "us-east-1", withKey, "s1", ErrNoSuchSegment},
		{"other bucket", "us-east-1", otherBucket, "s1", ErrNoSuchSegment},
		{"unknown version", "us-east-1", unknown, "s1", ErrNoSuchSegment},
		{"replaced version", "us-east-1", versionOwner(b, old), "rep-old", ErrNoSuchSegment},
		{"deleted version", "us-east-1", versionOwner(b, gone), "gone", ErrNoSuchSegment},
		{"data id of another part", "us-east-1", partOwner(b, u, 1), "sp2", ErrNoSuchSegment},
		{"part not uploaded", "us-east-1", partOwner(b, u, 3), "sp1", ErrNoSuchSegment},
		{"part of an aborted upload", "us-east-1", partOwner(b, ab, 1), "ab1", ErrNoSuchSegment},
		{"neither version nor part", "us-east-1", SegmentOwner{BucketID: b.ID, Key: "two"}, "s1", ErrInvalidArgument},
		{"both version and part", "us-east-1", both, "s1", ErrInvalidArgument},
		{"version id not a uuid", "us-east-1", badVersion, "s1", ErrInvalidArgument},
		{"upload id not a uuid", "us-east-1", badUpload, "sp1", ErrInvalidArgument},
		{"part number 0", "us-east-1", partOwner(b, u, 0), "sp1", ErrInvalidArgument},
		{"part number too large", "us-east-1", partOwner(b, u, MaxPartNumber+1), "sp1", ErrInvalidArgument},
		{"no bucket id", "us-east-1", noBucket, "s1", ErrInvalidArgument},
		{"region not served", "mars-1", versionOwner(b, v), "s1", ErrRegionNotServed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := s.GetSegment(ctx, tt.region, tt.owner, tt.dataID); !errors.Is(err, tt.want) {
				t.Fatalf("got %+v, %v; want %v", got, err, tt.want)
			}
		})
	}

	t.Run("after the version is replaced", func(t *testing.T) {
		mustGetSegment(t, s, versionOwner(b, v), "s1")
		mustCommit(t, s, object("seg", "two", "s3", 1))
		if _, err := s.GetSegment(ctx, "us-east-1", versionOwner(b, v), "s1"); !errors.Is(err, ErrNoSuchSegment) {
			t.Fatalf("segment of a replaced version: %v", err)
		}
	})
}

func TestReplaceShard(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b := mustCreateBucket(t, s, "place")
	obj := object("place", "k", "r1", 7)
	obj.Segments = []Segment{onNodes("r1", 3, "n1", "n2", "n3"), onNodes("r2", 4, "n1", "n2", "n3")}
	v := mustCommit(t, s, obj)
	o := versionOwner(b, v)

	// nodesOf reads a version's placement through GetObject.
	nodesOf := func(t *testing.T, key, versionID string) [][]string {
		t.Helper()
		var out [][]string
		for _, seg := range mustGet(t, s, "place", key, versionID).Segments {
			out = append(out, seg.NodeIDs)
		}
		return out
	}
	wantNodes := func(t *testing.T, got [][]string, want ...[]string) {
		t.Helper()
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("placement %v, want %v", got, want)
		}
	}

	t.Run("moves one shard", func(t *testing.T) {
		if !mustReplace(t, s, o, "r1", 1, "n2", "n4") {
			t.Fatal("not replaced")
		}
		wantNodes(t, nodesOf(t, "k", ""), []string{"n1", "n4", "n3"}, []string{"n1", "n2", "n3"})
		if seg := mustGetSegment(t, s, o, "r1"); !slices.Equal(seg.NodeIDs, []string{"n1", "n4", "n3"}) || seg.Size != 3 || seg.BlockSize != 1<<20 {
			t.Fatalf("segment after replace %+v", seg)
		}
	})

	t.Run("not replaced", func(t *testing.T) {
		tests := []struct {
			name   string
			dataID string
			index  int
			from   string
		}{
			{"already moved", "r1", 1, "n2"},
			{"wrong from", "r1", 0, "n9"},
			{"unknown data id", "r9", 0, "n1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if mustReplace(t, s, o, tt.dataID, tt.index, tt.from, "n7") {
					t.Fatal("replaced")
				}
				wantNodes(t, nodesOf(t, "k", ""), []string{"n1", "n4", "n3"}, []string{"n1", "n2", "n3"})
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name     string
			region   string
			index    int
			from, to string
			want     error
		}{
			{"target holds another shard", "us-east-1", 0, "n1", "n3", ErrInvalidArgument},
			{"target holds the moved shard", "us-east-1", 0, "n1", "n4", ErrInvalidArgument},
			{"target is the source", "us-east-1", 0, "n1", "n1", ErrInvalidArgument},
			{"no target", "us-east-1", 0, "n1", "", ErrInvalidArgument},
			{"NUL in target", "us-east-1", 0, "n1", "n\x00", ErrInvalidArgument},
			{"index past the end", "us-east-1", 3, "n1", "n7", ErrInvalidArgument},
			{"negative index", "us-east-1", -1, "n1", "n7", ErrInvalidArgument},
			{"region not served", "mars-1", 0, "n1", "n7", ErrRegionNotServed},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ok, err := s.ReplaceShard(ctx, tt.region, o, "r1", tt.index, tt.from, tt.to)
				if !errors.Is(err, tt.want) || ok {
					t.Fatalf("got %v, %v; want false, %v", ok, err, tt.want)
				}
				wantNodes(t, nodesOf(t, "k", ""), []string{"n1", "n4", "n3"}, []string{"n1", "n2", "n3"})
			})
		}
		if ok, err := s.ReplaceShard(ctx, "us-east-1", SegmentOwner{BucketID: b.ID, Key: "k"}, "r1", 0, "n1", "n7"); !errors.Is(err, ErrInvalidArgument) || ok {
			t.Fatalf("owner neither version nor part: %v, %v", ok, err)
		}
	})

	t.Run("owner no longer live", func(t *testing.T) {
		replaced := mustCommit(t, s, object("place", "rep", "rep-old", 1))
		mustCommit(t, s, object("place", "rep", "rep-new", 1))
		deleted := mustCommit(t, s, object("place", "del", "del", 1))
		mustDelete(t, s, "place", "del", "")
		for _, tt := range []struct {
			name   string
			v      Version
			dataID string
		}{{"replaced", replaced, "rep-old"}, {"deleted", deleted, "del"}} {
			t.Run(tt.name, func(t *testing.T) {
				if mustReplace(t, s, versionOwner(b, tt.v), tt.dataID, 0, "n1", "n7") {
					t.Fatal("replaced a shard of a version that is not live")
				}
				// The soft-deleted row keeps its placement.
				if got := locate(t, s, tt.dataID)[tt.dataID]; !slices.Equal(got, []string{"n1", "n2", "n3"}) {
					t.Fatalf("placement of the retired version %v", got)
				}
			})
		}
	})

	t.Run("concurrent moves of one shard", func(t *testing.T) {
		const movers = 8
		results := make([]bool, movers)
		errs := make([]error, movers)
		var wg sync.WaitGroup
		for i := range movers {
			wg.Go(func() {
				results[i], errs[i] = s.ReplaceShard(ctx, "us-east-1", o, "r2", 2, "n3", fmt.Sprintf("c%d", i))
			})
		}
		wg.Wait()
		winner := -1
		for i := range movers {
			if errs[i] != nil {
				t.Fatalf("mover %d: %v", i, errs[i])
			}
			if results[i] {
				if winner >= 0 {
					t.Fatalf("movers %d and %d both replaced the shard", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no mover replaced the shard")
		}
		wantNodes(t, nodesOf(t, "k", ""), []string{"n1", "n4", "n3"}, []string{"n1", "n2", fmt.Sprintf("c%d", winner)})
	})

	t.Run("part of an upload in progress", func(t *testing.T) {
		u := mustCreateUpload(t, s, "place", "big")
		ids := map[int]string{1: "u1", 2: "u2"}
		mustPutPart(t, s, u, 1, partSegment("u1", 5*mib))
		mustPutPart(t, s, u, 2, partSegment("u2", 7))
		po := partOwner(b, u, 2)
		if ok, err := s.ReplaceShard(ctx, "us-east-1", po, "u2", 2, "n3", "n1"); !errors.Is(err, ErrInvalidArgument) || ok {
			t.Fatalf("move a part's shard onto a node holding another: %v, %v", ok, err)
		}
		if !mustReplace(t, s, po, "u2", 2, "n3", "n7") {
			t.Fatal("part shard not replaced")
		}
		if seg := mustGetSegment(t, s, po, "u2"); !slices.Equal(seg.NodeIDs, []string{"n1", "n2", "n7"}) || seg.ETag != md5hex([]byte("u2")) || seg.PartNumber != 2 {
			t.Fatalf("part segment after replace %+v", seg)
		}
		if seg := mustGetSegment(t, s, partOwner(b, u, 1), "u1"); !slices.Equal(seg.NodeIDs, []string{"n1", "n2", "n3"}) {
			t.Fatalf("other part moved too: %+v", seg)
		}
		res, err := s.ListParts(ctx, "place", "big", u.UploadID, 0, 0)
		if err != nil || len(res.Parts) != 2 || !slices.Equal(res.Parts[1].Segment.NodeIDs, []string{"n1", "n2", "n7"}) {
			t.Fatalf("listed parts %+v, %v", res.Parts, err)
		}

		cv, err := s.CompleteMultipartUpload(ctx, "place", "big", u.UploadID, completed(ids, 1, 2), CompleteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantNodes(t, nodesOf(t, "big", ""), []string{"n1", "n2", "n3"}, []string{"n1", "n2", "n7"})
		// The part is gone; the object's segment is placed through the
		// version.
		if mustReplace(t, s, po, "u2", 2, "n7", "n8") {
			t.Fatal("replaced a shard of a completed upload's part")
		}
		if !mustReplace(t, s, versionOwner(b, cv), "u2", 2, "n7", "n8") {
			t.Fatal("shard of the completed object not replaced")
		}
		wantNodes(t, nodesOf(t, "big", ""), []string{"n1", "n2", "n3"}, []string{"n1", "n2", "n8"})
	})
}

func TestLocateShards(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	regional := e.regional["us-east-1"]
	mustCreateBucket(t, s, "loc")
	multi := object("loc", "multi", "l-m1", 7)
	multi.Segments = []Segment{onNodes("l-m1", 3, "a1", "a2", "a3"), onNodes("l-m2", 4, "b1", "b2", "b3")}
	mustCommit(t, s, multi)
	mustCommit(t, s, object("loc", "live", "l-live", 1))
	mustCommit(t, s, object("loc", "rep", "l-old", 1))
	mustCommit(t, s, object("loc", "rep", "l-new", 1))
	mustCommit(t, s, object("loc", "del", "l-del", 1))
	mustDelete(t, s, "loc", "del", "")
	purged := mustCommit(t, s, object("loc", "purged", "l-purged", 1))
	mustDelete(t, s, "loc", "purged", "")
	// What the task queue's PurgeVersion does once the data is collected.
	if _, err := regional.Exec(ctx, "DELETE FROM object_versions WHERE version_id = $1::uuid AND state = 'deleted'", purged.VersionID); err != nil {
		t.Fatal(err)
	}
	u := mustCreateUpload(t, s, "loc", "up")
	part := partSegment("l-part", 1)
	part.NodeIDs = []string{"p1", "p2", "p3"}
	mustPutPart(t, s, u, 1, part)

	std := []string{"n1", "n2", "n3"}
	tests := []struct {
		name string
		ids  []string
		want map[string][]string
	}{
		{"live version", []string{"l-live"}, map[string][]string{"l-live": std}},
		{"second segment of a version", []string{"l-m2"}, map[string][]string{"l-m2": {"b1", "b2", "b3"}}},
		{"replaced version not purged", []string{"l-old"}, map[string][]string{"l-old": std}},
		{"deleted version not purged", []string{"l-del"}, map[string][]string{"l-del": std}},
		{"part", []string{"l-part"}, map[string][]string{"l-part": {"p1", "p2", "p3"}}},
		{"purged version", []string{"l-purged"}, map[string][]string{}},
		{"unknown", []string{"nope"}, map[string][]string{}},
		{"none", nil, map[string][]string{}},
		{"mixed", []string{"nope", "l-m1", "l-part", "l-purged", "l-del", "l-new", "l-m2"}, map[string][]string{
			"l-m1": {"a1", "a2", "a3"}, "l-m2": {"b1", "b2", "b3"}, "l-part": {"p1", "p2", "p3"}, "l-del": std, "l-new": std,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := locate(t, s, tt.ids...)
			if len(got) != len(tt.want) {
				t.Fatalf("located %v, want %v", got, tt.want)
			}
			for id, nodes := range tt.want {
				if !slices.Equal(got[id], nodes) {
					t.Fatalf("%s on %v, want %v (all: %v)", id, got[id], nodes, got)
				}
			}
		})
	}

	t.Run("bad requests", func(t *testing.T) {
		tooMany := make([]string, MaxLocateDataIDs+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprint(i)
		}
		tests := []struct {
			name, region string
			ids          []string
			want         error
		}{
			{"too many ids", "us-east-1", tooMany, ErrInvalidArgument},
			{"NUL in an id", "us-east-1", []string{"l-live", "a\x00"}, ErrInvalidArgument},
			{"invalid UTF-8 id", "us-east-1", []string{"\xff"}, ErrInvalidArgument},
			{"region not served", "mars-1", []string{"l-live"}, ErrRegionNotServed},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := s.LocateShards(ctx, tt.region, tt.ids); !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
			})
		}
		if _, err := s.LocateShards(ctx, "us-east-1", tooMany[:MaxLocateDataIDs]); err != nil {
			t.Fatalf("%d ids: %v", MaxLocateDataIDs, err)
		}
	})
}

func TestCollectBucket(t *testing.T) {
	e := newEnv(t, "us-east-1", "eu-west-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	regional := e.regional["us-east-1"]

	tests := []struct {
		name      string
		objects   int
		versioned bool // adds a noncurrent version and a delete marker
		limit     int
		want      []int // collected per call; done on the last
	}{
		{"batches of 10", 25, false, 10, []int{10, 10, 5}},
		{"a multiple of the limit", 20, false, 10, []int{10, 10, 0}},
		{"default limit", 3, false, 0, []int{3}},
		{"versions and delete markers", 5, true, 3, []int{3, 3, 1}},
		{"empty bucket", 0, false, 10, []int{0}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("doomed-%d", i)
			b := mustCreateBucket(t, s, name)
			if tt.versioned {
				if _, err := s.SetBucketVersioning(ctx, name, VersioningEnabled); err != nil {
					t.Fatal(err)
				}
			}
			// keyOf and dataOf map each live version to its key and data id
			// ("" for a delete marker).
			keyOf, dataOf := map[string]string{}, map[string]string{}
			for j := range tt.objects {
				key, id := fmt.Sprintf("k%02d", j), fmt.Sprintf("%s-d%02d", name, j)
				v := mustCommit(t, s, object(name, key, id, 1))
				keyOf[v.VersionID], dataOf[v.VersionID] = key, id
			}
			if tt.versioned {
				v := mustCommit(t, s, object(name, "k00", name+"-d00-2", 1))
				keyOf[v.VersionID], dataOf[v.VersionID] = "k00", name+"-d00-2"
				del := mustDelete(t, s, name, "k01", "")
				keyOf[del.VersionID], dataOf[del.VersionID] = "k01", ""
			}
			u := mustCreateUpload(t, s, name, "up")
			mustPutPart(t, s, u, 1, partSegment(name+"-part", 1))
			live := len(keyOf)
			if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1 AND state = 'live'", b.ID); n != live {
				t.Fatalf("%d live versions before, want %d", n, live)
			}

			if live > 0 {
				if err := s.DeleteBucket(ctx, name, false); !errors.Is(err, ErrBucketNotEmpty) {
					t.Fatalf("delete a non-empty bucket without force: %v", err)
				}
			}
			if err := s.DeleteBucket(ctx, name, true); err != nil {
				t.Fatalf("forced delete: %v", err)
			}
			if _, err := s.GetBucket(ctx, name); !errors.Is(err, ErrNoSuchBucket) {
				t.Fatalf("get a force-deleted bucket: %v", err)
			}
			if _, err := s.CommitObject(ctx, object(name, "late", "late", 1), Preconditions{}); !errors.Is(err, ErrNoSuchBucket) {
				t.Fatalf("commit into a force-deleted bucket: %v", err)
			}
			// Deleted at once; the versions wait for collection.
			if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1 AND state = 'live'", b.ID); n != live {
				t.Fatalf("%d live versions after the delete, want %d", n, live)
			}
			var bucketRows, partRows int
			for _, r := range outbox(t, e, "us-east-1") {
				if r.Payload.BucketID != b.ID {
					continue
				}
				switch r.Type {
				case TaskDeleteBucket:
					bucketRows++
					if r.Payload.Bucket != name {
						t.Fatalf("DeleteBucket row %+v", r.Payload)
					}
				case TaskDeleteParts:
					partRows++
					if !slices.Equal(dataIDs([]queued{r}), []string{name + "-part"}) {
						t.Fatalf("DeleteParts row %+v", r.Payload)
					}
				default:
					t.Fatalf("the delete queued %s", r.Type)
				}
			}
			if wantRows := min(live, 1); bucketRows != wantRows || partRows != 1 {
				t.Fatalf("%d DeleteBucket rows (want %d), %d DeleteParts rows (want 1)", bucketRows, wantRows, partRows)
			}

			// The name is free again; its new bucket is not collected.
			reborn := mustCreateBucket(t, s, name)
			survivor := mustCommit(t, s, object(name, "k00", name+"-survivor", 1))

			var got []int
			for call := 0; ; call++ {
				n, done, err := s.CollectBucket(ctx, "us-east-1", b.ID, tt.limit)
				if err != nil {
					t.Fatalf("collect call %d: %v", call, err)
				}
				got = append(got, n)
				if done {
					break
				}
				if call > len(tt.want) {
					t.Fatalf("collected %v and not done", got)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("collected %v, want %v (done on the last)", got, tt.want)
			}
			if n, done, err := s.CollectBucket(ctx, "us-east-1", b.ID, tt.limit); n != 0 || !done || err != nil {
				t.Fatalf("collect a collected bucket: %d, %v, %v", n, done, err)
			}
			if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1 AND state = 'live'", b.ID); n != 0 {
				t.Fatalf("%d live versions left", n)
			}
			if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1 AND (is_latest OR deleted_at IS NULL)", b.ID); n != 0 {
				t.Fatalf("%d collected versions still latest or without deleted_at", n)
			}

			// One DeleteObject row per version.
			seen := map[string]bool{}
			for _, r := range outbox(t, e, "us-east-1") {
				if r.Type != TaskDeleteObject || r.Payload.BucketID != b.ID {
					continue
				}
				p := r.Payload
				vid := p.VersionID
				key, ok := keyOf[vid]
				if !ok || seen[vid] {
					t.Fatalf("DeleteObject row for version %s (known %v, seen %v)", vid, ok, seen[vid])
				}
				seen[vid] = true
				var ids []string
				for _, seg := range p.Segments {
					ids = append(ids, seg.DataID)
				}
				wantIDs := []string{dataOf[vid]}
				if dataOf[vid] == "" {
					wantIDs = nil
				}
				if p.Bucket != name || p.Key != key || !slices.Equal(ids, wantIDs) {
					t.Fatalf("DeleteObject payload %+v, want key %s data %v", p, key, wantIDs)
				}
			}
			if len(seen) != live {
				t.Fatalf("%d DeleteObject rows, want %d", len(seen), live)
			}

			if got := mustGet(t, s, name, "k00", ""); got.VersionID != survivor.VersionID {
				t.Fatalf("the new bucket's object %+v, want %+v", got, survivor)
			}
			if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1 AND state = 'live'", reborn.ID); n != 1 {
				t.Fatalf("%d live versions in the new bucket, want 1", n)
			}
			// Collected data stays locatable until purged.
			if tt.objects > 0 {
				id := name + "-d00"
				if got := locate(t, s, id); len(got[id]) != 3 {
					t.Fatalf("collected data %s located %v", id, got)
				}
			}
		})
	}

	// Workers whose leases overlap may collect one bucket at once: every
	// version is retired and queued exactly once.
	t.Run("concurrent collectors", func(t *testing.T) {
		const objects, collectors = 40, 4
		b := mustCreateBucket(t, s, "crowded")
		for j := range objects {
			mustCommit(t, s, object("crowded", fmt.Sprintf("k%02d", j), fmt.Sprintf("crowded-d%02d", j), 1))
		}
		if err := s.DeleteBucket(ctx, "crowded", true); err != nil {
			t.Fatal(err)
		}
		totals := make([]int, collectors)
		errs := make([]error, collectors)
		var wg sync.WaitGroup
		for i := range collectors {
			wg.Go(func() {
				for range objects {
					n, done, err := s.CollectBucket(ctx, "us-east-1", b.ID, 3)
					totals[i] += n
					if err != nil || done {
						errs[i] = err
						return
					}
				}
				errs[i] = fmt.Errorf("not done after %d calls", objects)
			})
		}
		wg.Wait()
		sum := 0
		for i := range collectors {
			if errs[i] != nil {
				t.Fatalf("collector %d: %v", i, errs[i])
			}
			sum += totals[i]
		}
		if sum != objects {
			t.Fatalf("collected %d versions in all (%v), want %d", sum, totals, objects)
		}
		if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1 AND state = 'live'", b.ID); n != 0 {
			t.Fatalf("%d live versions left", n)
		}
		if n := count(t, regional, "SELECT count(DISTINCT payload->>'version_id') FROM outbox WHERE type = $1 AND (payload->>'bucket_id')::bigint = $2", TaskDeleteObject, b.ID); n != objects {
			t.Fatalf("%d versions queued, want %d", n, objects)
		}
		if n := count(t, regional, "SELECT count(*) FROM outbox WHERE type = $1 AND (payload->>'bucket_id')::bigint = $2", TaskDeleteObject, b.ID); n != objects {
			t.Fatalf("%d DeleteObject rows, want %d", n, objects)
		}
	})

	t.Run("refused", func(t *testing.T) {
		mustCreateBucket(t, s, "standing")
		mustCommit(t, s, object("standing", "k", "standing-d", 1))
		standing, err := s.GetBucket(ctx, "standing")
		if err != nil {
			t.Fatal(err)
		}
		gone := mustCreateBucket(t, s, "gone")
		mustCommit(t, s, object("gone", "k", "gone-d", 1))
		if err := s.DeleteBucket(ctx, "gone", true); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name     string
			region   string
			bucketID int64
			limit    int
			want     error
		}{
			{"bucket not deleted", "us-east-1", standing.ID, 10, ErrPreconditionFailed},
			{"unknown bucket", "us-east-1", 999999, 10, ErrPreconditionFailed},
			{"region without the tombstone", "eu-west-1", gone.ID, 10, ErrPreconditionFailed},
			{"region not served", "mars-1", gone.ID, 10, ErrRegionNotServed},
			{"limit too large", "us-east-1", gone.ID, MaxCollectLimit + 1, ErrInvalidArgument},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if n, _, err := s.CollectBucket(ctx, tt.region, tt.bucketID, tt.limit); !errors.Is(err, tt.want) || n != 0 {
					t.Fatalf("got %d, %v; want %v", n, err, tt.want)
				}
			})
		}
		if n := count(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = ANY($1) AND state = 'live'", []int64{standing.ID, gone.ID}); n != 2 {
			t.Fatalf("%d live versions after refused collections, want 2", n)
		}
		if err := s.DeleteBucket(ctx, "standing", false); !errors.Is(err, ErrBucketNotEmpty) {
			t.Fatalf("delete a non-empty bucket without force: %v", err)
		}
	})
}

// A commit (or part) that records a shard without a node queues a
// RepairShard task for it in the same transaction, naming the row by its
// internal uuid (the key's null version here).
func TestCommitQueuesRepairOfMissingShards(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	b := mustCreateBucket(t, s, "degraded")
	type repairRow struct {
		Owner struct {
			BucketID   int64  `json:"bucket_id"`
			Key        string `json:"key"`
			VersionID  string `json:"version_id"`
			UploadID   string `json:"upload_id"`
			PartNumber int    `json:"part_number"`
		} `json:"owner"`
		DataID   string `json:"data_id"`
		Index    int    `json:"index"`
		FromNode string `json:"from_node"`
		Reason   string `json:"reason"`
	}
	repairs := func() []repairRow {
		rows, err := e.regional["us-east-1"].Query(testCtx(t), "SELECT payload FROM outbox WHERE type = $1 ORDER BY id", TaskRepairShard)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []repairRow
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			var r repairRow
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}

	v := object("degraded", "k", "whole", 10)
	mustCommit(t, s, v)
	if got := repairs(); len(got) != 0 {
		t.Fatalf("a fully placed object queued repairs: %+v", got)
	}

	v = object("degraded", "k2", "holes", 10)
	v.Segments = []Segment{onNodes("holes", 10, "n1", "", "n3")}
	mustCommit(t, s, v)
	r := repairs()
	if len(r) != 1 || r[0].DataID != "holes" || r[0].Index != 1 || r[0].FromNode != "" || r[0].Reason != "missing" ||
		r[0].Owner.BucketID != b.ID || r[0].Owner.Key != "k2" || r[0].Owner.VersionID != uuidOfNull(t, e, b.ID, "k2") {
		t.Fatalf("repairs queued: %+v", r)
	}
	// The owner it names is one ReplaceShard accepts.
	owner := SegmentOwner{BucketID: b.ID, Key: "k2", VersionID: r[0].Owner.VersionID}
	if ok, err := s.ReplaceShard(testCtx(t), "us-east-1", owner, "holes", 1, "", "n4"); err != nil || !ok {
		t.Fatalf("replace the missing shard: %v, %v", ok, err)
	}

	u := mustCreateUpload(t, s, "degraded", "big")
	seg := partSegment("part-holes", 10)
	seg.NodeIDs = []string{"", "n2", ""}
	mustPutPart(t, s, u, 3, seg)
	r = repairs()[1:]
	if len(r) != 2 || r[0].Owner.UploadID != u.UploadID || r[0].Owner.PartNumber != 3 || r[0].Index != 0 || r[1].Index != 2 {
		t.Fatalf("part repairs queued: %+v", r)
	}
}
