package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

func waitABit(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

// entry is one result of a listing: a key or a common prefix.
type entry struct {
	name   string
	prefix bool
}

func (e entry) String() string {
	if e.prefix {
		return "P:" + e.name
	}
	return "K:" + e.name
}

// rollUp lists sorted, distinct keys the naive way: every key under the
// prefix, rolled up and deduplicated. The result is in byte order: a common
// prefix sorts before its keys, and after every key before them.
func rollUp(keys []string, prefix, delimiter string) []entry {
	var all []entry
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e := entry{name: k}
		if delimiter != "" {
			if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
				e = entry{name: k[:len(prefix)+i+len(delimiter)], prefix: true}
			}
		}
		if len(all) > 0 && all[len(all)-1] == e {
			continue
		}
		all = append(all, e)
	}
	return all
}

// modelPage cuts a page out of rolled-up entries: those strictly after the
// marker, where a common prefix P is after it when P > marker and the
// marker does not start with P (the second part follows from the first, as
// a prefix of the marker sorts before it, but it is the S3 rule).
func modelPage(all []entry, o ListOptions) (page []entry, truncated bool) {
	i := sort.Search(len(all), func(i int) bool { return all[i].name > o.StartAfter })
	for _, e := range all[i:] {
		if e.prefix && strings.HasPrefix(o.StartAfter, e.name) {
			continue
		}
		if len(page) == o.MaxKeys {
			return page, true
		}
		page = append(page, e)
	}
	return page, false
}

// entries merges a result's objects and common prefixes into listing order.
func entries(r ListResult) []entry {
	var out []entry
	for _, v := range r.Objects {
		out = append(out, entry{name: v.Key})
	}
	for _, p := range r.CommonPrefixes {
		out = append(out, entry{name: p, prefix: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

type objectLister interface {
	ListObjects(ctx context.Context, bucket string, o ListOptions) (ListResult, error)
}

// checkPaging pages through a listing and compares every page, and the
// whole, with the model.
func checkPaging(t *testing.T, l objectLister, bucket string, keys []string, o ListOptions) {
	t.Helper()
	ctx := context.Background()
	all := rollUp(keys, o.Prefix, o.Delimiter)
	full := o
	full.MaxKeys = len(all) + 1
	want, _ := modelPage(all, full)
	var got []entry
	for pages := 0; ; pages++ {
		if pages > len(keys)+2 {
			t.Fatalf("paging does not end")
		}
		res, err := l.ListObjects(ctx, bucket, o)
		if err != nil {
			t.Fatalf("list %+v: %v", o, err)
		}
		page := entries(res)
		wantPage, wantTrunc := modelPage(all, o)
		if !slices.Equal(page, wantPage) || res.Truncated != wantTrunc {
			t.Fatalf("page after %q: got %v truncated=%v, want %v truncated=%v", o.StartAfter, head(page), res.Truncated, head(wantPage), wantTrunc)
		}
		got = append(got, page...)
		if !res.Truncated {
			if res.NextMarker != "" {
				t.Fatalf("next marker %q on the last page", res.NextMarker)
			}
			break
		}
		if res.NextMarker != page[len(page)-1].name {
			t.Fatalf("next marker %q, want the last entry %q", res.NextMarker, page[len(page)-1].name)
		}
		o.StartAfter = res.NextMarker
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing has %d entries, want %d", len(got), len(want))
	}
}

func head(es []entry) []entry {
	if len(es) > 10 {
		return es[:10]
	}
	return es
}

// oddKeys sort differently under most collations than in byte order.
var oddKeys = []string{
	"a", "A", "a/", "a-", "a\u00ff", "\u4e16", "~", "a/b", "a//b", "a/\u00ff", "B", "_", "a b",
	"\U0010FFFF", "a\U0010FFFFb", "\ufffd", "\u00e9", "e\u0301", "Z/z", "a.b", "a/b/c", "0", "9/",
}

// memLister runs the listing algorithm over sorted keys in memory.
type memLister struct {
	keys    []string
	fetches int
	rows    int
}

func (m *memLister) ListObjects(ctx context.Context, bucket string, o ListOptions) (ListResult, error) {
	if err := validateListOptions(&o); err != nil {
		return ListResult{}, err
	}
	l := lister{opts: o, fetch: m.fetch}
	return l.run(ctx)
}

func (m *memLister) fetch(_ context.Context, lower string, inclusive bool, upper string, bounded bool, limit int) ([]Version, error) {
	m.fetches++
	i := sort.SearchStrings(m.keys, lower)
	if !inclusive && i < len(m.keys) && m.keys[i] == lower {
		i++
	}
	var out []Version
	for ; i < len(m.keys) && len(out) < limit; i++ {
		if bounded && m.keys[i] >= upper {
			break
		}
		out = append(out, Version{Key: m.keys[i]})
	}
	m.rows += len(out)
	return out, nil
}

func sortedUnique(keys []string) []string {
	out := slices.Clone(keys)
	slices.Sort(out) // Go compares strings bytewise
	return slices.Compact(out)
}

// treeKeys returns 10,000 keys: d0..d9 / s0..s9 / f000..f099, plus the odd
// ones.
func treeKeys() []string {
	var keys []string
	for d := range 10 {
		for s := range 10 {
			for f := range 100 {
				keys = append(keys, fmt.Sprintf("d%d/s%d/f%03d", d, s, f))
			}
		}
	}
	return sortedUnique(append(keys, oddKeys...))
}

// insertKeys bulk-loads current versions straight into a bucket.
func insertKeys(t *testing.T, e *env, region string, bucketID int64, keys []string) {
	t.Helper()
	now := time.Now()
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{bucketID, k, true, int64(len(k)), "etag", now}
	}
	n, err := e.regional[region].CopyFrom(testCtx(t), pgx.Identifier{"object_versions"},
		[]string{"bucket_id", "key", "is_latest", "size", "etag", "last_modified"}, pgx.CopyFromRows(rows))
	if err != nil || n != int64(len(keys)) {
		t.Fatalf("copy %d keys: n=%d err=%v", len(keys), n, err)
	}
}

func TestListByteOrder(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "odd", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	for _, k := range oddKeys {
		if _, err := s.CommitObject(ctx, Version{Bucket: "odd", Key: k, Size: 1}, Preconditions{}); err != nil {
			t.Fatalf("commit %q: %v", k, err)
		}
	}
	// A delete marker and a deleted key are not listed.
	if _, err := s.CommitObject(ctx, Version{Bucket: "odd", Key: "marker", DeleteMarker: true}, Preconditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitObject(ctx, Version{Bucket: "odd", Key: "gone", Size: 1}, Preconditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteObject(ctx, "odd", "gone", "", false); err != nil {
		t.Fatal(err)
	}
	res, err := s.ListObjects(ctx, "odd", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range res.Objects {
		got = append(got, v.Key)
		if v.VersionID == "" || v.LastModified.IsZero() || v.Bucket != "odd" {
			t.Fatalf("listed object %+v", v)
		}
	}
	want := sortedUnique(oddKeys)
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want byte order %q", got, want)
	}
	if res.Truncated || len(res.CommonPrefixes) != 0 {
		t.Fatalf("unexpected %+v", res)
	}
	if _, err := s.ListObjects(ctx, "nope", ListOptions{}); err == nil {
		t.Fatal("listing a missing bucket succeeded")
	}
	for _, o := range []ListOptions{{MaxKeys: -1}, {Prefix: "a\x00"}, {StartAfter: "\xff"}} {
		if _, err := s.ListObjects(ctx, "odd", o); err == nil {
			t.Fatalf("bad options %+v accepted", o)
		}
	}
}

// TestListUserMetadata: a listing carries user metadata only when asked.
func TestListUserMetadata(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "meta", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	md := map[string]string{"marker": "unsorted", "two": "2"}
	if _, err := s.CommitObject(ctx, Version{Bucket: "meta", Key: "with", Size: 1, UserMetadata: md}, Preconditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitObject(ctx, Version{Bucket: "meta", Key: "without", Size: 1}, Preconditions{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.ListObjects(ctx, "meta", ListOptions{WithUserMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 || !maps.Equal(res.Objects[0].UserMetadata, md) || len(res.Objects[1].UserMetadata) != 0 {
		t.Fatalf("listing with metadata: %+v", res.Objects)
	}
	res, err = s.ListObjects(ctx, "meta", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 || res.Objects[0].UserMetadata != nil {
		t.Fatalf("plain listing carried metadata: %+v", res.Objects)
	}
}

// TestListMatchesModel pages through 10,000 keys in a nested tree with
// several page sizes, prefixes and delimiters and checks every page against
// the naive model.
func TestListMatchesModel(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b, err := s.CreateBucket(ctx, "tree", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	keys := treeKeys()
	insertKeys(t, e, "us-east-1", b.ID, keys)
	if _, err := e.regional["us-east-1"].Exec(ctx, "ANALYZE object_versions"); err != nil {
		t.Fatal(err)
	}

	type tc struct {
		prefix, delimiter, startAfter string
		pageSizes                     []int
	}
	tests := []tc{
		{"", "", "", []int{7, 1000}},
		{"d3/", "", "", []int{1, 7, 1000}},
		{"", "/", "", []int{1, 7, 1000}},
		{"d3/", "/", "", []int{1, 7, 1000}},
		{"d3/s4/", "/", "", []int{1, 7, 1000}},
		{"d3/s", "/", "", []int{1, 7}},
		{"a", "/", "", []int{1, 7, 1000}},
		{"", "/s", "", []int{1, 7, 1000}},   // multi-character delimiter
		{"d", "/f0", "", []int{1, 7, 1000}}, // rolls up at the second level
		{"", "/", "a/b", []int{1, 1000}},    // marker inside common prefix "a/"
		{"", "/", "a/", []int{1, 1000}},     // marker equal to a common prefix
		{"", "/", "d4/s9/f099", []int{1, 7}},
		{"d3/", "/", "d3/s4/f050", []int{1, 7}},
		{"", "", "d9/s9/f050", []int{1, 7, 1000}},
		{"d5/", "", "c", []int{1000}},      // marker before the prefix
		{"d5/", "", "z", []int{1000}},      // marker after everything under the prefix
		{"", "\u4e16", "", []int{1, 1000}}, // delimiter that is also a key
		{"nothing-here/", "/", "", []int{1, 1000}},
	}
	for _, tt := range tests {
		for _, size := range tt.pageSizes {
			name := fmt.Sprintf("prefix=%q,delim=%q,after=%q,page=%d", tt.prefix, tt.delimiter, tt.startAfter, size)
			t.Run(name, func(t *testing.T) {
				checkPaging(t, s, "tree", keys, ListOptions{Prefix: tt.prefix, Delimiter: tt.delimiter, StartAfter: tt.startAfter, MaxKeys: size})
			})
		}
	}

	t.Run("default and cap of 1000", func(t *testing.T) {
		for _, max := range []int{0, 5000} {
			res, err := s.ListObjects(ctx, "tree", ListOptions{MaxKeys: max})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Objects) != DefaultMaxKeys || !res.Truncated {
				t.Fatalf("max_keys %d: %d objects, truncated=%v", max, len(res.Objects), res.Truncated)
			}
		}
	})

	t.Run("listing query walks the index in byte order", func(t *testing.T) {
		var plan []string
		rows, err := e.regional["us-east-1"].Query(ctx, `EXPLAIN SELECT `+listColumns+` FROM object_versions
			WHERE bucket_id = $1 AND is_latest AND NOT delete_marker AND key COLLATE "C" > $2
			ORDER BY key COLLATE "C" LIMIT 10`, b.ID, "d5")
		if err != nil {
			t.Fatal(err)
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "Index Scan using object_versions_l") || strings.Contains(text, "Sort") {
			t.Fatalf("listing plan does not walk the index:\n%s", text)
		}
	})
}

// TestListSkipsCommonPrefixesInOneSeek: rolling up a huge directory reads a
// handful of rows, not the directory.
func TestListSkipsCommonPrefixesInOneSeek(t *testing.T) {
	var keys []string
	for i := range 100_000 {
		keys = append(keys, fmt.Sprintf("big/%06d", i))
	}
	keys = sortedUnique(append(keys, "a", "big", "big0", "c/x", "d"))
	m := &memLister{keys: keys}
	res, err := m.ListObjects(context.Background(), "", ListOptions{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := modelPage(rollUp(keys, "", "/"), ListOptions{MaxKeys: 1000})
	if got := entries(res); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// One row per entry plus what the small batches over-read, not 100,000.
	if m.rows > 50 || m.fetches > 10 {
		t.Fatalf("read %d rows in %d fetches for %d entries", m.rows, m.fetches, len(want))
	}
}

func TestListInMemoryMatchesModel(t *testing.T) {
	keys := treeKeys()
	for _, o := range []ListOptions{
		{MaxKeys: 1},
		{Delimiter: "/", MaxKeys: 1},
		{Prefix: "d1", Delimiter: "/", MaxKeys: 3},
		{Delimiter: "s", MaxKeys: 2},
		{Delimiter: "\U0010FFFF", MaxKeys: 2},
		{Prefix: "\U0010FFFF", MaxKeys: 2},
	} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			checkPaging(t, &memLister{keys: keys}, "", keys, o)
		})
	}
}

func TestSuccessor(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a/", "a0", true},
		{"a\x7f", "a\u0080", true},
		{"a\u00ff", "a\u0100", true},
		{"\ud7ff", "\ue000", true},
		{"a\U0010FFFF", "b", true},
		{"\U0010FFFF\U0010FFFF", "", false},
		{"\u4e16", "\u4e17", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, ok := successor(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("successor(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzSuccessor: the successor of p is valid UTF-8 and sorts after every
// string starting with p, and every string that does not start with p but
// sorts after p sorts at or after the successor.
func FuzzSuccessor(f *testing.F) {
	for _, s := range []string{"", "a", "a/", "\U0010FFFF", "\ud7ff", "x\U0010FFFF", "\u4e16"} {
		f.Add(s, "z")
	}
	f.Fuzz(func(t *testing.T, p, tail string) {
		if !utf8.ValidString(p) || !utf8.ValidString(tail) {
			return
		}
		succ, ok := successor(p)
		if !ok {
			if strings.Trim(p, "\U0010FFFF") != "" {
				t.Fatalf("no successor for %q", p)
			}
			return
		}
		if !utf8.ValidString(succ) {
			t.Fatalf("successor(%q) = %q is not valid UTF-8", p, succ)
		}
		if p+tail >= succ {
			t.Fatalf("successor(%q) = %q is not after %q", p, succ, p+tail)
		}
		if !strings.HasPrefix(tail, p) && tail > p && tail < succ {
			t.Fatalf("%q sorts between %q and its successor %q", tail, p, succ)
		}
	})
}

// FuzzListObjects runs the listing algorithm over fuzzed keys and options
// (untrusted input from the S3 API) and compares every page with the model.
func FuzzListObjects(f *testing.F) {
	f.Add("a\na/b\na/c\nb\nb/\nc/d/e", "", "/", "", 2)
	f.Add("a/b\na/c\nab", "", "/", "a/b", 1)
	f.Add("x--y\nx-y\nx--", "x", "--", "", 1)
	f.Add("\u4e16/a\n\u4e16\n~", "", "\u4e16", "", 3)
	f.Fuzz(func(t *testing.T, rawKeys, prefix, delimiter, startAfter string, maxKeys int) {
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
		o := ListOptions{Prefix: prefix, Delimiter: delimiter, StartAfter: startAfter, MaxKeys: maxKeys}
		if validateListOptions(&o) != nil {
			return
		}
		checkPaging(t, &memLister{keys: keys}, "", keys, o)
	})
}
