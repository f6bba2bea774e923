package shardstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func openStore(t *testing.T, dirs ...string) *Store {
	t.Helper()
	s, err := Open(Options{Dirs: dirs})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t testing.TB, s *Store, id string, data []byte) Result {
	t.Helper()
	res, err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("put %s: %v", id, err)
	}
	return res
}

func readRange(s *Store, id string, off, length int64) ([]byte, error) {
	r, err := s.NewReader(id, off, length)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// shardFile returns the path of the file reads of id would open.
func shardFile(t *testing.T, s *Store, id string) string {
	t.Helper()
	for _, d := range s.order(id) {
		if _, err := os.Stat(d.shardPath(id)); err == nil {
			return d.shardPath(id)
		}
	}
	t.Fatalf("no file for shard %s", id)
	return ""
}

// copiesOf lists the files of id over all dirs.
func copiesOf(s *Store, id string) []string {
	var out []string
	for _, d := range s.dirs {
		if _, err := os.Stat(d.shardPath(id)); err == nil {
			out = append(out, d.shardPath(id))
		}
	}
	return out
}

// leftovers lists temp and probe files under the data dirs.
func leftovers(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), tmpPrefix) || strings.HasPrefix(d.Name(), probePrefix) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", dir, err)
		}
	}
	return out
}

// flipByte corrupts one byte of a file in place.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := openStore(t, t.TempDir())
	sizes := []int{0, 1, DefaultBlockSize - 1, DefaultBlockSize, DefaultBlockSize + 1, 5*DefaultBlockSize + 123}
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			id := fmt.Sprintf("0f1e2d3c-round-trip.%d", size)
			data := randBytes(uint64(size), size)
			res := put(t, s, id, data)
			if want := crc32.Checksum(data, castagnoli()); res.Size != int64(size) || res.CRC32C != want {
				t.Fatalf("result %+v, want size %d crc %08x", res, size, want)
			}
			got, err := readRange(s, id, 0, 0)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
			}
			info, err := s.Stat(context.Background(), id, true)
			if err != nil || info.Size != int64(size) || info.ID != id || info.ModTime.IsZero() {
				t.Fatalf("stat: %+v %v", info, err)
			}
			st, err := os.Stat(shardFile(t, s, id))
			if err != nil {
				t.Fatal(err)
			}
			if want := (Header{BlockSize: DefaultBlockSize, Size: int64(size)}).fileSize(); st.Size() != want {
				t.Fatalf("file size %d, want %d", st.Size(), want)
			}
		})
	}
	if n := s.ShardCount(); n != int64(len(sizes)) {
		t.Fatalf("shard count %d, want %d", n, len(sizes))
	}
}

func TestRanges(t *testing.T) {
	s := openStore(t, t.TempDir())
	const size = 3*DefaultBlockSize + 1000
	data := randBytes(1, size)
	put(t, s, "ranges.0", data)
	bs := int64(DefaultBlockSize)
	tests := []struct {
		name        string
		off, length int64
		want        []byte
		wantErr     error
	}{
		{"whole", 0, 0, data, nil},
		{"negative length means to end", 10, -1, data[10:], nil},
		{"first byte", 0, 1, data[:1], nil},
		{"inside one block", 100, 200, data[100:300], nil},
		{"across a block boundary", bs - 10, 20, data[bs-10 : bs+10], nil},
		{"across several blocks", 5, 2*bs + 7, data[5 : 2*bs+12], nil},
		{"tail block", 3 * bs, 0, data[3*bs:], nil},
		{"last byte", size - 1, 1, data[size-1:], nil},
		{"clamped", size - 10, 1000, data[size-10:], nil},
		{"at end is empty", size, 0, []byte{}, nil},
		{"beyond end", size + 1, 0, nil, ErrOutOfRange},
		{"negative offset", -1, 0, nil, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readRange(s, "ranges.0", tt.off, tt.length)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes, want %d (contents differ: %v)", len(got), len(tt.want), len(got) == len(tt.want))
			}
		})
	}
	t.Run("small reads", func(t *testing.T) {
		r, err := s.NewReader("ranges.0", 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Len() != size-7 || r.ShardSize() != size {
			t.Fatalf("len %d shard size %d", r.Len(), r.ShardSize())
		}
		var got []byte
		buf := make([]byte, 777)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, data[7:]) {
			t.Fatal("contents differ")
		}
	})
}

func TestCorruption(t *testing.T) {
	bs := int64(DefaultBlockSize)
	const size = 3*DefaultBlockSize + 500
	tests := []struct {
		name    string
		fileOff func(h Header) int64 // byte to flip
		bad     [][2]int64           // ranges that must fail
		good    [][2]int64           // ranges that must still read
	}{
		{
			name:    "data byte in block 1",
			fileOff: func(h Header) int64 { return h.blockOffset(1) + 17 },
			bad:     [][2]int64{{0, 0}, {bs, 1}, {bs + 17, 1}, {bs - 1, 2}},
			good:    [][2]int64{{0, bs}, {2 * bs, 0}},
		},
		{
			name:    "checksum of block 2",
			fileOff: func(h Header) int64 { return h.blockOffset(2) + int64(h.BlockSize) + 1 },
			bad:     [][2]int64{{2 * bs, 1}, {0, 0}},
			good:    [][2]int64{{0, 2 * bs}, {3 * bs, 0}},
		},
		{
			name:    "data byte in the short tail block",
			fileOff: func(h Header) int64 { return h.blockOffset(3) + 499 },
			bad:     [][2]int64{{3 * bs, 0}, {size - 1, 1}},
			good:    [][2]int64{{0, 3 * bs}},
		},
		{
			name:    "header size field",
			fileOff: func(h Header) int64 { return 17 },
			bad:     [][2]int64{{0, 1}, {size - 1, 0}},
		},
		{
			name:    "magic",
			fileOff: func(h Header) int64 { return 0 },
			bad:     [][2]int64{{0, 1}},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			id := fmt.Sprintf("corrupt.%d", i)
			data := randBytes(uint64(i), size)
			put(t, s, id, data)
			hdr := Header{Version: formatVersion, BlockSize: DefaultBlockSize, Size: size}
			flipByte(t, shardFile(t, s, id), tt.fileOff(hdr))
			for _, r := range tt.bad {
				if _, err := readRange(s, id, r[0], r[1]); !errors.Is(err, ErrCorrupt) {
					t.Errorf("read [%d,+%d): err %v, want ErrCorrupt", r[0], r[1], err)
				}
			}
			for _, r := range tt.good {
				got, err := readRange(s, id, r[0], r[1])
				end := int64(size)
				if r[1] > 0 {
					end = r[0] + r[1]
				}
				if err != nil || !bytes.Equal(got, data[r[0]:end]) {
					t.Errorf("read [%d,+%d) not touching the damage: err %v", r[0], r[1], err)
				}
			}
			if _, err := s.Stat(context.Background(), id, true); !errors.Is(err, ErrCorrupt) {
				t.Errorf("stat with verify: err %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestStatWithoutVerifyDoesNotReadBlocks(t *testing.T) {
	s := openStore(t, t.TempDir())
	put(t, s, "lazy.0", randBytes(3, 2*DefaultBlockSize))
	hdr := Header{BlockSize: DefaultBlockSize, Size: 2 * DefaultBlockSize}
	flipByte(t, shardFile(t, s, "lazy.0"), hdr.blockOffset(1)+3)
	if info, err := s.Stat(context.Background(), "lazy.0", false); err != nil || info.Size != 2*DefaultBlockSize {
		t.Fatalf("stat without verify: %+v %v", info, err)
	}
	if _, err := s.Stat(context.Background(), "lazy.0", true); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("stat with verify: %v", err)
	}
}

func TestTruncatedAndExtendedFiles(t *testing.T) {
	tests := []struct {
		name   string
		resize func(n int64) int64
	}{
		{"truncated mid block", func(n int64) int64 { return n - 1000 }},
		{"truncated checksum", func(n int64) int64 { return n - 1 }},
		{"header only", func(int64) int64 { return HeaderSize }},
		{"short header", func(int64) int64 { return 10 }},
		{"empty", func(int64) int64 { return 0 }},
		{"extended", func(n int64) int64 { return n + 4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			put(t, s, "trunc.0", randBytes(4, 2*DefaultBlockSize+10))
			path := shardFile(t, s, "trunc.0")
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, tt.resize(st.Size())); err != nil {
				t.Fatal(err)
			}
			if _, err := s.NewReader("trunc.0", 0, 10); !errors.Is(err, ErrCorrupt) {
				t.Errorf("open reader: %v, want ErrCorrupt", err)
			}
			if _, err := s.Stat(context.Background(), "trunc.0", false); !errors.Is(err, ErrCorrupt) {
				t.Errorf("stat: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestBadIDs(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	bad := []string{
		"", ".", "..", "../etc/passwd", "a/b", "/abs", ".hidden", "-dash", "_under",
		"a..b", "x\x00y", "sp ace", "uni\u00e9", strings.Repeat("a", MaxIDLen+1), "a\\b", "id\n",
	}
	for _, id := range bad {
		t.Run(fmt.Sprintf("%q", truncate(id)), func(t *testing.T) {
			if err := ValidateID(id); !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ValidateID: %v", err)
			}
			if _, err := s.Create(id, 1); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Create: %v", err)
			}
			if _, err := s.NewReader(id, 0, 0); !errors.Is(err, ErrInvalidID) {
				t.Errorf("NewReader: %v", err)
			}
			if _, err := s.Stat(ctx, id, false); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Stat: %v", err)
			}
			if _, err := s.Delete(id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Delete: %v", err)
			}
		})
	}
	good := []string{"a", "0", "9f86d081-884c-4d63-a2c5-7f5ac8ed7b14.3", "A.b_c-d", strings.Repeat("z", MaxIDLen), "a.b.c"}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
}

func TestWriteErrorsLeaveNothing(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		size    int64
		data    []byte
		ctx     func() context.Context
		wantErr error
	}{
		{"stream too short", 100, make([]byte, 99), nil, ErrSizeMismatch},
		{"stream too long", 100, make([]byte, 101), nil, ErrSizeMismatch},
		{"empty stream for non-empty shard", 10, nil, nil, ErrSizeMismatch},
		{"negative size", -1, nil, nil, ErrInvalidArgument},
		{"size too large", MaxShardSize + 1, nil, nil, ErrInvalidArgument},
		{"cancelled", 1 << 20, make([]byte, 1<<20), func() context.Context {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			c := ctx
			if tt.ctx != nil {
				c = tt.ctx()
			}
			_, err := s.Put(c, "fail.0", tt.size, bytes.NewReader(tt.data))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("put: %v, want %v", err, tt.wantErr)
			}
			if _, err := s.Stat(ctx, "fail.0", false); !errors.Is(err, ErrNotFound) {
				t.Errorf("stat after failed put: %v", err)
			}
			if l := leftovers(t, dir); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
			if s.ShardCount() != 0 {
				t.Errorf("shard count %d", s.ShardCount())
			}
		})
	}
}

func TestWriterAbortAfterPartialWrite(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	w, err := s.Create("abort.0", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 300<<10)); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, dir); len(l) != 1 {
		t.Fatalf("want one temp file while writing, got %v", l)
	}
	w.Abort()
	w.Abort()
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("left behind: %v", l)
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("commit after abort succeeded")
	}
}

func TestFailedWriteKeepsPreviousVersion(t *testing.T) {
	s := openStore(t, t.TempDir())
	v1 := randBytes(5, 1000)
	put(t, s, "keep.0", v1)
	if _, err := s.Put(context.Background(), "keep.0", 2000, bytes.NewReader(make([]byte, 10))); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("short put: %v", err)
	}
	got, err := readRange(s, "keep.0", 0, 0)
	if err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("previous version lost: %v", err)
	}
}

func TestOverwriteIsAtomic(t *testing.T) {
	s := openStore(t, t.TempDir())
	v1, v2 := randBytes(6, 3*DefaultBlockSize), randBytes(7, DefaultBlockSize+5)
	put(t, s, "over.0", v1)
	r, err := s.NewReader("over.0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	put(t, s, "over.0", v2)
	// A reader opened before the overwrite keeps reading the old version.
	old, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(old, v1) {
		t.Fatalf("old reader: %v", err)
	}
	got, err := readRange(s, "over.0", 0, 0)
	if err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("new version: %v", err)
	}
	if s.ShardCount() != 1 {
		t.Fatalf("shard count %d", s.ShardCount())
	}
}

func TestTempFilesRemovedOnOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "kept.0", []byte("hello"))
	// A crash mid-write: the writer is neither committed nor aborted.
	w, err := s.Create("crash.0", 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 50)); err != nil {
		t.Fatal(err)
	}
	if err := w.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, shardsDir, probePrefix+"123"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, dir); len(l) != 2 {
		t.Fatalf("setup: want a temp and a probe file, got %v", l)
	}
	s2 := openStore(t, dir)
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("left after open: %v", l)
	}
	if s2.ShardCount() != 1 {
		t.Fatalf("shard count %d, want 1", s2.ShardCount())
	}
	if _, err := s2.Stat(context.Background(), "crash.0", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("crashed write visible: %v", err)
	}
	w.Abort() // release the old writer's file handle
}

func TestDeleteIsIdempotent(t *testing.T) {
	s := openStore(t, t.TempDir())
	put(t, s, "del.0", []byte("x"))
	for i, want := range []bool{true, false} {
		existed, err := s.Delete("del.0")
		if err != nil || existed != want {
			t.Fatalf("delete %d: existed %v err %v, want %v", i, existed, err, want)
		}
	}
	if _, err := s.NewReader("del.0", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	if s.ShardCount() != 0 {
		t.Fatalf("shard count %d", s.ShardCount())
	}
}

func TestList(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	s := openStore(t, dirs...)
	var ids []string
	for i := range 57 {
		id := fmt.Sprintf("%08x.%d", i*2654435761, i%6)
		ids = append(ids, id)
		put(t, s, id, make([]byte, i))
	}
	slices.Sort(ids)
	ctx := context.Background()
	for _, limit := range []int{1, 10, 56, 57, 1000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("paging does not end")
				}
				page, truncated, err := s.List(ctx, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit {
					t.Fatalf("page of %d, limit %d", len(page), limit)
				}
				for _, e := range page {
					got = append(got, e.ID)
				}
				if !truncated {
					break
				}
				after = page[len(page)-1].ID
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("listed %d ids, want %d in order", len(got), len(ids))
			}
		})
	}
	page, _, err := s.List(ctx, ids[10], 3)
	if err != nil || len(page) != 3 || page[0].ID != ids[11] {
		t.Fatalf("list after marker: %+v %v", page, err)
	}
	for _, e := range page {
		if info, _ := s.Stat(ctx, e.ID, false); e.Size != info.Size || !e.ModTime.Equal(info.ModTime) {
			t.Fatalf("entry %+v, stat %+v", e, info)
		}
	}
}

func TestListReportsUnreadableShards(t *testing.T) {
	s := openStore(t, t.TempDir())
	put(t, s, "bad.0", []byte("data"))
	if err := os.Truncate(shardFile(t, s, "bad.0"), 3); err != nil {
		t.Fatal(err)
	}
	page, _, err := s.List(context.Background(), "", 10)
	if err != nil || len(page) != 1 || page[0].ID != "bad.0" || page[0].Size != -1 {
		t.Fatalf("list: %+v %v", page, err)
	}
}

func TestMultipleDirs(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	s := openStore(t, dirs...)
	perDir := map[string]int{}
	for i := range 60 {
		id := fmt.Sprintf("multi-%d.0", i)
		put(t, s, id, []byte(id))
		perDir[filepath.Dir(filepath.Dir(filepath.Dir(shardFile(t, s, id))))]++
		if c := copiesOf(s, id); len(c) != 1 {
			t.Fatalf("%s has %d copies", id, len(c))
		}
	}
	for _, d := range dirs {
		if perDir[d] == 0 {
			t.Fatalf("no shard placed in %s: %v", d, perDir)
		}
	}
	c, err := s.Capacity()
	if err != nil {
		t.Fatal(err)
	}
	// All temp dirs share one filesystem, which is counted once.
	_, total, _, err := statfs(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.TotalBytes != total || c.FreeBytes == 0 || c.Shards != 60 {
		t.Fatalf("capacity %+v, want total %d and 60 shards", c, total)
	}
}

func TestAddingADirKeepsOldShardsReadable(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	s, err := Open(Options{Dirs: []string{d1}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		put(t, s, fmt.Sprintf("old-%d.1", i), []byte(fmt.Sprint(i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, d1, d2)
	if s.ShardCount() != n {
		t.Fatalf("shard count %d, want %d", s.ShardCount(), n)
	}
	moved := ""
	for i := range n {
		id := fmt.Sprintf("old-%d.1", i)
		got, err := readRange(s, id, 0, 0)
		if err != nil || string(got) != fmt.Sprint(i) {
			t.Fatalf("read %s: %q %v", id, got, err)
		}
		if s.order(id)[0].path == d2 {
			moved = id
		}
	}
	if moved == "" {
		t.Fatal("no id prefers the new dir")
	}
	// Overwriting a shard that now prefers the new dir moves it there and
	// drops the old copy.
	put(t, s, moved, []byte("new"))
	if c := copiesOf(s, moved); len(c) != 1 || !strings.HasPrefix(c[0], d2) {
		t.Fatalf("copies after overwrite: %v", c)
	}
	if got, err := readRange(s, moved, 0, 0); err != nil || string(got) != "new" {
		t.Fatalf("read moved: %q %v", got, err)
	}
	page, _, err := s.List(context.Background(), "", 1000)
	if err != nil || len(page) != n || s.ShardCount() != n {
		t.Fatalf("list %d entries (%v), count %d, want %d", len(page), err, s.ShardCount(), n)
	}
	if existed, err := s.Delete(moved); !existed || err != nil {
		t.Fatalf("delete: %v %v", existed, err)
	}
	if c := copiesOf(s, moved); len(c) != 0 || s.ShardCount() != n-1 {
		t.Fatalf("copies after delete %v, count %d", c, s.ShardCount())
	}
}

func TestStaleCopiesRemovedOnOpen(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	s, err := Open(Options{Dirs: []string{d1, d2}})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "dup.0", []byte("current"))
	src := shardFile(t, s, "dup.0")
	other := s.order("dup.0")[1]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash between rename and clean-up leaves an old copy in the dir that
	// reads look at second.
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other.shardPath("dup.0"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, d1, d2)
	if c := copiesOf(s, "dup.0"); len(c) != 1 || c[0] != src {
		t.Fatalf("copies: %v", c)
	}
	if s.ShardCount() != 1 {
		t.Fatalf("shard count %d", s.ShardCount())
	}
}

func TestNodeID(t *testing.T) {
	t.Run("generated once and persisted", func(t *testing.T) {
		d1, d2 := t.TempDir(), t.TempDir()
		s, err := Open(Options{Dirs: []string{d1, d2}})
		if err != nil {
			t.Fatal(err)
		}
		id := s.NodeID()
		if err := ValidateNodeID(id); err != nil || len(id) != 36 {
			t.Fatalf("generated id %q: %v", id, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{d1, d2} {
			b, err := os.ReadFile(filepath.Join(d, nodeIDFile))
			if err != nil || strings.TrimSpace(string(b)) != id {
				t.Fatalf("node id file in %s: %q %v", d, b, err)
			}
		}
		s = openStore(t, d1, d2)
		if s.NodeID() != id {
			t.Fatalf("id changed across restarts: %s then %s", id, s.NodeID())
		}
	})
	t.Run("explicit id stamped and enforced", func(t *testing.T) {
		d := t.TempDir()
		s, err := Open(Options{Dirs: []string{d}, NodeID: "node-a"})
		if err != nil || s.NodeID() != "node-a" {
			t.Fatalf("open: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Options{Dirs: []string{d}, NodeID: "node-b"}); !errors.Is(err, ErrNodeMismatch) {
			t.Fatalf("open with another id: %v", err)
		}
		s = openStore(t, d)
		if s.NodeID() != "node-a" {
			t.Fatalf("stored id %q", s.NodeID())
		}
	})
	t.Run("dirs of different nodes", func(t *testing.T) {
		d1, d2 := t.TempDir(), t.TempDir()
		for d, id := range map[string]string{d1: "node-a", d2: "node-b"} {
			s, err := Open(Options{Dirs: []string{d}, NodeID: id})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Open(Options{Dirs: []string{d1, d2}}); !errors.Is(err, ErrNodeMismatch) {
			t.Fatalf("open mixed dirs: %v", err)
		}
	})
	t.Run("new dir stamped with existing id", func(t *testing.T) {
		d1, d2 := t.TempDir(), t.TempDir()
		s, err := Open(Options{Dirs: []string{d1}, NodeID: "node-c"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, d1, d2)
		b, err := os.ReadFile(filepath.Join(d2, nodeIDFile))
		if s.NodeID() != "node-c" || err != nil || strings.TrimSpace(string(b)) != "node-c" {
			t.Fatalf("id %q, new dir file %q %v", s.NodeID(), b, err)
		}
	})
	t.Run("invalid ids refused", func(t *testing.T) {
		if _, err := Open(Options{Dirs: []string{t.TempDir()}, NodeID: "a/b"}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("open with bad id: %v", err)
		}
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, nodeIDFile), []byte("../x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Options{Dirs: []string{d}}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("open with bad stored id: %v", err)
		}
	})
}

func TestOpenRefusesBadDirSets(t *testing.T) {
	d := t.TempDir()
	s := openStore(t, d)
	if _, err := Open(Options{Dirs: []string{d}}); !errors.Is(err, ErrDirInUse) {
		t.Errorf("second open of a locked dir: %v", err)
	}
	if _, err := Open(Options{Dirs: []string{t.TempDir(), s.Dirs()[0] + "/../" + filepath.Base(d)}}); !errors.Is(err, ErrDirInUse) {
		t.Errorf("second open through another spelling of the path: %v", err)
	}
	e := t.TempDir()
	if _, err := Open(Options{Dirs: []string{e, e + "/"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("dir listed twice: %v", err)
	}
	if _, err := Open(Options{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no dirs: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dirs: []string{f}}); err == nil {
		t.Errorf("open of a file as data dir succeeded")
	}
}

func TestCheckDirs(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	s := openStore(t, d1, d2)
	if err := s.CheckDirs(); err != nil {
		t.Fatalf("healthy dirs: %v", err)
	}
	if l := leftovers(t, d1, d2); len(l) > 0 {
		t.Fatalf("probe left files: %v", l)
	}
	// Permissions do not stop root, so take the dir away instead.
	if err := os.RemoveAll(d2); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d2, []byte("not a dir"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.CheckDirs()
	if err == nil || !strings.Contains(err.Error(), d2) {
		t.Fatalf("dir replaced by a file: %v", err)
	}
	// An empty dir in its place (a disk not mounted) is not good either.
	if err := os.Remove(d2); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(d2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckDirs(); err == nil {
		t.Fatal("empty dir in place of a data dir passed the check")
	}
	// Reads and writes still work through the remaining dir.
	put(t, s, "survivor.0", []byte("ok"))
	if got, err := readRange(s, "survivor.0", 0, 0); err != nil || string(got) != "ok" {
		t.Fatalf("read: %q %v", got, err)
	}
	if _, err := s.NewReader("missing.0", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing shard with a broken dir: %v", err)
	}
}

func TestPutConcurrentSameID(t *testing.T) {
	s := openStore(t, t.TempDir(), t.TempDir())
	versions := make([][]byte, 8)
	errc := make(chan error, len(versions))
	for i := range versions {
		versions[i] = randBytes(uint64(100+i), DefaultBlockSize+i)
		go func() {
			_, err := s.Put(context.Background(), "race.0", int64(len(versions[i])), bytes.NewReader(versions[i]))
			errc <- err
		}()
	}
	for range versions {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	got, err := readRange(s, "race.0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
		t.Fatal("content matches no version written")
	}
	if s.ShardCount() != 1 || len(copiesOf(s, "race.0")) != 1 {
		t.Fatalf("count %d, copies %v", s.ShardCount(), copiesOf(s, "race.0"))
	}
}
