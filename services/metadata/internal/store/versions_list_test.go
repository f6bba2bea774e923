package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// vEntry is one entry of a version or upload listing: a row (key and id,
// pos orders the rows of a key) or a common prefix.
type vEntry struct {
	key, id string
	pos     int64
	prefix  bool
}

func (e vEntry) String() string {
	if e.prefix {
		return "P:" + e.key
	}
	return fmt.Sprintf("V:%s@%s", e.key, e.id)
}

// rowModel rolls sorted rows up the naive way.
func rowModel(rows []vEntry, prefix, delimiter string) []vEntry {
	var out []vEntry
	for _, r := range rows {
		if !strings.HasPrefix(r.key, prefix) {
			continue
		}
		if delimiter != "" {
			if i := strings.Index(r.key[len(prefix):], delimiter); i >= 0 {
				p := vEntry{key: r.key[:len(prefix)+i+len(delimiter)], prefix: true}
				if len(out) == 0 || out[len(out)-1] != p {
					out = append(out, p)
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// rowModelPage cuts a page after the markers: rows of keys after the key
// marker, or of the marker's key after position markerPos (when set, in the
// listing's order: before reports whether a sorts before b); common
// prefixes after the key marker that it does not start with.
func rowModelPage(all []vEntry, keyMarker string, markerPos *int64, before func(a, b int64) bool, max int) ([]vEntry, bool) {
	var page []vEntry
	for _, e := range all {
		after := e.key > keyMarker
		if e.prefix {
			after = after && !strings.HasPrefix(keyMarker, e.key)
		} else if markerPos != nil && e.key == keyMarker {
			after = before(*markerPos, e.pos)
		}
		if !after {
			continue
		}
		if len(page) == max {
			return page, true
		}
		page = append(page, e)
	}
	return page, false
}

// loadVersions bulk-loads versions into a bucket: for keys[i], 1 + i%3
// versions, the newest a delete marker when i%5 == 0, the oldest the null
// version when i%4 == 0.
func loadVersions(t *testing.T, e *env, bucketID int64, keys []string) {
	t.Helper()
	now := time.Now()
	var rows [][]any
	for i, k := range keys {
		n := 1 + i%3
		for j := range n {
			latest := j == n-1
			rows = append(rows, []any{bucketID, k, latest, i%4 == 0 && j == 0, latest && i%5 == 0, int64(j), "etag", now})
		}
	}
	got, err := e.regional["us-east-1"].CopyFrom(testCtx(t), pgx.Identifier{"object_versions"},
		[]string{"bucket_id", "key", "is_latest", "null_version", "delete_marker", "size", "etag", "last_modified"}, pgx.CopyFromRows(rows))
	if err != nil || got != int64(len(rows)) {
		t.Fatalf("copy %d versions: n=%d err=%v", len(rows), got, err)
	}
}

func TestListObjectVersionsMatchesModel(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b, err := s.CreateBucket(ctx, "vtree", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBucketVersioning(ctx, "vtree", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for d := range 4 {
		for s := range 4 {
			for f := range 15 {
				keys = append(keys, fmt.Sprintf("d%d/s%d/f%02d", d, s, f))
			}
		}
	}
	keys = sortedUnique(append(keys, oddKeys...))
	loadVersions(t, e, b.ID, keys)
	// keyWith returns the first key loaded with n versions, a null version
	// or not and a delete marker as current or not.
	keyWith := func(n int, null, marker bool) string {
		for i, k := range keys {
			if 1+i%3 == n && (i%4 == 0) == null && (i%5 == 0) == marker && k != "d0/s0/f01" {
				return k
			}
		}
		t.Fatalf("no key with %d versions, null %v, marker %v", n, null, marker)
		return ""
	}
	if _, err := e.regional["us-east-1"].Exec(ctx, "ANALYZE object_versions"); err != nil {
		t.Fatal(err)
	}
	// A soft-deleted version is never listed.
	if _, err := e.regional["us-east-1"].Exec(ctx, `UPDATE object_versions SET state = 'deleted', is_latest = false
		WHERE bucket_id = $1 AND key = 'd0/s0/f01' AND NOT is_latest`, b.ID); err != nil {
		t.Fatal(err)
	}

	// The model: every live version, keys in byte order, newest first.
	rows, err := e.regional["us-east-1"].Query(ctx, `SELECT key, version_id::text, null_version, seq FROM object_versions
		WHERE bucket_id = $1 AND state = 'live'`, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var all []vEntry
	seqOf := map[[2]string]int64{}
	for rows.Next() {
		var v vEntry
		var null bool
		if err := rows.Scan(&v.key, &v.id, &null, &v.pos); err != nil {
			t.Fatal(err)
		}
		if null {
			v.id = NullVersionID
		}
		seqOf[[2]string{v.key, v.id}] = v.pos
		all = append(all, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].key != all[j].key {
			return all[i].key < all[j].key
		}
		return all[i].pos > all[j].pos
	})
	newerFirst := func(marker, pos int64) bool { return pos < marker }

	check := func(t *testing.T, o VersionListOptions) {
		model := rowModel(all, o.Prefix, o.Delimiter)
		var markerPos *int64
		if o.VersionIDMarker != "" {
			p := seqOf[[2]string{o.KeyMarker, o.VersionIDMarker}]
			markerPos = &p
		}
		want, _ := rowModelPage(model, o.KeyMarker, markerPos, newerFirst, len(model)+1)
		var got []vEntry
		for pages := 0; ; pages++ {
			if pages > len(all)+2 {
				t.Fatal("paging does not end")
			}
			res, err := s.ListObjectVersions(ctx, "vtree", o)
			if err != nil {
				t.Fatalf("list %+v: %v", o, err)
			}
			var page []vEntry
			for _, v := range res.Versions {
				if v.Bucket != "vtree" || v.LastModified.IsZero() {
					t.Fatalf("listed %+v", v)
				}
				page = append(page, vEntry{key: v.Key, id: v.VersionID, pos: v.seq})
			}
			for _, p := range res.CommonPrefixes {
				page = append(page, vEntry{key: p, prefix: true})
			}
			// Versions and prefixes come separately; merge by key, stable
			// so a key's versions stay newest first.
			sort.SliceStable(page, func(i, j int) bool { return page[i].key < page[j].key })
			wantPage, wantTrunc := rowModelPage(model, o.KeyMarker, markerPos, newerFirst, o.MaxKeys)
			if !slices.Equal(page, wantPage) || res.Truncated != wantTrunc {
				t.Fatalf("page after %q/%q: got %v truncated=%v, want %v truncated=%v",
					o.KeyMarker, o.VersionIDMarker, headV(page), res.Truncated, headV(wantPage), wantTrunc)
			}
			got = append(got, page...)
			if !res.Truncated {
				if res.NextKeyMarker != "" || res.NextVersionIDMarker != "" {
					t.Fatalf("next markers on the last page: %q %q", res.NextKeyMarker, res.NextVersionIDMarker)
				}
				break
			}
			last := page[len(page)-1]
			wantVM := last.id
			if last.prefix {
				wantVM = ""
			}
			if res.NextKeyMarker != last.key || res.NextVersionIDMarker != wantVM {
				t.Fatalf("next markers %q %q, want %q %q", res.NextKeyMarker, res.NextVersionIDMarker, last.key, wantVM)
			}
			o.KeyMarker, o.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
			markerPos = nil
			if o.VersionIDMarker != "" {
				p := seqOf[[2]string{o.KeyMarker, o.VersionIDMarker}]
				markerPos = &p
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged listing has %d entries, want %d", len(got), len(want))
		}
	}

	firstOf := func(key string) string {
		for _, v := range all {
			if v.key == key {
				return v.id
			}
		}
		t.Fatalf("no versions of %s", key)
		return ""
	}
	tests := []struct {
		prefix, delimiter, keyMarker, versionMarker string
		sizes                                       []int
	}{
		{"", "", "", "", []int{1, 7, 1000}},
		{"d1/", "", "", "", []int{1, 5}},
		{"", "/", "", "", []int{1, 3, 1000}},
		{"d2/", "/", "", "", []int{1, 2, 1000}},
		{"d2/s3/", "/", "", "", []int{4, 1000}},
		{"", "/s", "", "", []int{1, 1000}},
		{"a", "/", "", "", []int{1, 1000}},
		{"", "/", "a/b", "", []int{1, 1000}}, // marker inside common prefix "a/"
		{"", "", "d3/s1/f04", "", []int{2}},
		{"", "", "d3/s1/f05", firstOf("d3/s1/f05"), []int{1, 2}}, // resume inside a key
		{"d3/", "/", "d3/s1/f05", firstOf("d3/s1/f05"), []int{1, 1000}},
		{"", "", keyWith(3, true, false), NullVersionID, []int{1, 3}}, // the null version as marker
		{"d9/", "/", "", "", []int{1, 1000}},
	}
	for _, tt := range tests {
		for _, size := range tt.sizes {
			name := fmt.Sprintf("prefix=%q,delim=%q,marker=%q/%q,page=%d", tt.prefix, tt.delimiter, tt.keyMarker, tt.versionMarker, size)
			t.Run(name, func(t *testing.T) {
				check(t, VersionListOptions{Prefix: tt.prefix, Delimiter: tt.delimiter, KeyMarker: tt.keyMarker, VersionIDMarker: tt.versionMarker, MaxKeys: size})
			})
		}
	}

	t.Run("is_latest and delete markers", func(t *testing.T) {
		key := keyWith(1, true, true)
		res, err := s.ListObjectVersions(ctx, "vtree", VersionListOptions{KeyMarker: key[:len(key)-1], Prefix: key, MaxKeys: 1})
		if err != nil {
			t.Fatal(err)
		}
		// One version, the null one, a delete marker, current.
		if len(res.Versions) != 1 || res.Versions[0].Key != key || !res.Versions[0].IsLatest || !res.Versions[0].DeleteMarker || res.Versions[0].VersionID != NullVersionID {
			t.Fatalf("%s: %+v", key, res.Versions)
		}
		key = keyWith(3, false, false)
		res, err = s.ListObjectVersions(ctx, "vtree", VersionListOptions{KeyMarker: key[:len(key)-1], Prefix: key, MaxKeys: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Versions) != 3 || !res.Versions[0].IsLatest || res.Versions[1].IsLatest || res.Versions[2].IsLatest ||
			res.Versions[0].DeleteMarker || res.Versions[0].Size != 2 || res.Versions[2].Size != 0 {
			t.Fatalf("%s: %+v", key, res.Versions)
		}
	})

	t.Run("bad options", func(t *testing.T) {
		for _, o := range []VersionListOptions{
			{MaxKeys: -1},
			{VersionIDMarker: NullVersionID},
			{KeyMarker: "d0/s0/f01", VersionIDMarker: "garbage"},
			{KeyMarker: "d0/s0/f01", VersionIDMarker: "00000000-0000-0000-0000-000000000000"},
			{Prefix: "\xff"},
		} {
			if _, err := s.ListObjectVersions(ctx, "vtree", o); err == nil {
				t.Fatalf("options %+v accepted", o)
			}
		}
	})

	t.Run("query walks the versions index", func(t *testing.T) {
		rows, err := e.regional["us-east-1"].Query(ctx, `EXPLAIN SELECT `+versionListColumns+` FROM object_versions
			WHERE bucket_id = $1 AND state = 'live' AND key COLLATE "C" > $2
			ORDER BY key COLLATE "C", seq DESC LIMIT 10`, b.ID, "d1")
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "object_versions_versions") || strings.Contains(text, "Sort") {
			t.Fatalf("versions listing plan does not walk the index:\n%s", text)
		}
	})
}

func headV(es []vEntry) []vEntry {
	if len(es) > 8 {
		return es[:8]
	}
	return es
}

func TestListMultipartUploadsMatchesModel(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "ups", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "a/b", "a/c", "b/x/1", "b/x/2", "b/y", "c", "\u4e16/z", "a b"}
	var all []vEntry
	for i := range 3 {
		for j, k := range keys {
			if (i+j)%2 == 1 && i > 0 {
				continue
			}
			u := mustCreateUpload(t, s, "ups", k)
			all = append(all, vEntry{key: k, id: u.UploadID})
		}
	}
	// One completed and one aborted upload are not listed.
	gone := mustCreateUpload(t, s, "ups", "a")
	if err := s.AbortMultipartUpload(ctx, "ups", "a", gone.UploadID); err != nil {
		t.Fatal(err)
	}
	done := mustCreateUpload(t, s, "ups", "c")
	mustPutPart(t, s, done, 1, partSegment("c1", 1))
	if _, err := s.CompleteMultipartUpload(ctx, "ups", "c", done.UploadID, []CompletedPart{{PartNumber: 1, ETag: md5hex([]byte("c1"))}}, CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].key != all[j].key {
			return all[i].key < all[j].key
		}
		return all[i].id < all[j].id
	})
	idOrder := map[string]int64{}
	for i, v := range all {
		idOrder[v.id] = int64(i)
	}
	for i := range all {
		all[i].pos = idOrder[all[i].id]
	}
	olderFirst := func(marker, pos int64) bool { return pos > marker }

	check := func(t *testing.T, o UploadListOptions) {
		model := rowModel(all, o.Prefix, o.Delimiter)
		var got []vEntry
		for pages := 0; ; pages++ {
			if pages > len(all)+2 {
				t.Fatal("paging does not end")
			}
			res, err := s.ListMultipartUploads(ctx, "ups", o)
			if err != nil {
				t.Fatal(err)
			}
			var page []vEntry
			for _, u := range res.Uploads {
				if u.Initiated.IsZero() || u.Bucket != "ups" {
					t.Fatalf("listed %+v", u)
				}
				page = append(page, vEntry{key: u.Key, id: u.UploadID, pos: idOrder[u.UploadID]})
			}
			for _, p := range res.CommonPrefixes {
				page = append(page, vEntry{key: p, prefix: true})
			}
			sort.SliceStable(page, func(i, j int) bool { return page[i].key < page[j].key })
			var markerPos *int64
			if o.UploadIDMarker != "" && o.KeyMarker != "" {
				p := idOrder[o.UploadIDMarker]
				markerPos = &p
			}
			wantPage, wantTrunc := rowModelPage(model, o.KeyMarker, markerPos, olderFirst, o.MaxUploads)
			if !slices.Equal(page, wantPage) || res.Truncated != wantTrunc {
				t.Fatalf("page after %q/%q: got %v %v, want %v %v", o.KeyMarker, o.UploadIDMarker, page, res.Truncated, wantPage, wantTrunc)
			}
			got = append(got, page...)
			if !res.Truncated {
				break
			}
			o.KeyMarker, o.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
		}
		want, _ := rowModelPage(model, "", nil, olderFirst, len(model)+1)
		if !slices.Equal(got, want) {
			t.Fatalf("paged listing %v, want %v", got, want)
		}
	}
	for _, o := range []UploadListOptions{
		{MaxUploads: 1},
		{MaxUploads: 4},
		{Delimiter: "/", MaxUploads: 1},
		{Delimiter: "/", MaxUploads: 1000},
		{Prefix: "b/", Delimiter: "/", MaxUploads: 1},
		{Prefix: "a", MaxUploads: 2},
	} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) { check(t, o) })
	}
	t.Run("upload id marker without key marker is ignored", func(t *testing.T) {
		res, err := s.ListMultipartUploads(ctx, "ups", UploadListOptions{UploadIDMarker: all[3].id})
		if err != nil || len(res.Uploads) != len(all) {
			t.Fatalf("%d uploads, err %v", len(res.Uploads), err)
		}
	})
	t.Run("bad upload id marker", func(t *testing.T) {
		if _, err := s.ListMultipartUploads(ctx, "ups", UploadListOptions{KeyMarker: "a", UploadIDMarker: "x"}); err == nil {
			t.Fatal("accepted")
		}
	})
}

// memRows is an in-memory version table: rows sorted by key, newest (highest
// pos) first within a key.
type memRows []vEntry

func (m memRows) fetch(_ context.Context, from rowPos[int64], upper string, bounded bool, limit int) ([]vEntry, error) {
	var out []vEntry
	for _, r := range m {
		if len(out) == limit {
			break
		}
		var after bool
		switch {
		case from.after != nil:
			after = r.key > from.key || r.key == from.key && r.pos < *from.after
		case from.inclusive:
			after = r.key >= from.key
		default:
			after = r.key > from.key
		}
		if after && (!bounded || r.key < upper) {
			out = append(out, r)
		}
	}
	return out, nil
}

// FuzzListVersionRows runs the version listing algorithm over fuzzed keys,
// prefixes, delimiters and markers (untrusted input from the S3 API) and
// pages through it against the model.
func FuzzListVersionRows(f *testing.F) {
	f.Add("a\na/b\na/c\nb\nb/\nc/d/e", "", "/", "", 2, 1)
	f.Add("a/b\na/c\nab", "", "/", "a/b", 1, 0)
	f.Add("x--y\nx-y\nx--", "x", "--", "x-y", 1, 2)
	f.Add("\u4e16/a\n\u4e16\n~", "", "\u4e16", "", 3, 0)
	f.Fuzz(func(t *testing.T, rawKeys, prefix, delimiter, keyMarker string, maxKeys, markerVersion int) {
		if maxKeys < 1 || maxKeys > 20 {
			return
		}
		var keys []string
		for _, k := range strings.Split(rawKeys, "\n") {
			if ValidateKey(k) == nil {
				keys = append(keys, k)
			}
		}
		keys = sortedUnique(keys)
		o := ListOptions{Prefix: prefix, Delimiter: delimiter, StartAfter: keyMarker, MaxKeys: maxKeys}
		if validateListOptions(&o) != nil {
			return
		}
		var rows memRows
		pos := int64(1000)
		for _, k := range keys {
			for range 1 + len(k)%3 {
				rows = append(rows, vEntry{key: k, id: fmt.Sprint(pos), pos: pos})
				pos--
			}
		}
		// Positions only need to fall within a key: count down per key.
		var markerPos *int64
		if markerVersion > 0 {
			p := int64(1001 - markerVersion)
			markerPos = &p
		}
		newerFirst := func(marker, pos int64) bool { return pos < marker }
		model := rowModel(rows, prefix, delimiter)
		want, _ := rowModelPage(model, keyMarker, markerPos, newerFirst, len(model)+1)
		var got []vEntry
		after := markerPos
		marker := keyMarker
		for pages := 0; ; pages++ {
			if pages > len(rows)+2 {
				t.Fatal("paging does not end")
			}
			l := rowLister[vEntry, int64]{
				prefix: prefix, delimiter: delimiter, marker: marker, max: maxKeys,
				key: func(v vEntry) string { return v.key }, pos: func(v vEntry) int64 { return v.pos },
				fetch: rows.fetch,
			}
			l.start(after)
			items, truncated, err := l.run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var page []vEntry
			for _, it := range items {
				if it.prefix != "" {
					page = append(page, vEntry{key: it.prefix, prefix: true})
				} else {
					page = append(page, it.row)
				}
			}
			wantPage, wantTrunc := rowModelPage(model, marker, after, newerFirst, maxKeys)
			if !slices.Equal(page, wantPage) || truncated != wantTrunc {
				t.Fatalf("page after %q/%v: got %v %v, want %v %v", marker, after, page, truncated, wantPage, wantTrunc)
			}
			got = append(got, page...)
			if !truncated {
				break
			}
			last := page[len(page)-1]
			marker, after = last.key, nil
			if !last.prefix {
				p := last.pos
				after = &p
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged listing %v, want %v", got, want)
		}
	})
}
