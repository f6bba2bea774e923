package shardstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzValidateID(f *testing.F) {
	for _, seed := range []string{
		"", "a", "9f86d081-884c-4d63-a2c5-7f5ac8ed7b14.3", "..", "../x", "a/b", ".tmp.x", "a..b",
		"x\x00", strings.Repeat("a", MaxIDLen), strings.Repeat("a", MaxIDLen+1), "\u00e9", "a\\b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error %v does not wrap ErrInvalidID", err)
			}
			return
		}
		// A valid id is a plain file name that cannot escape its directory
		// or collide with the store's own files.
		if len(id) == 0 || len(id) > MaxIDLen || strings.ContainsAny(id, "/\\\x00") ||
			strings.Contains(id, "..") || strings.HasPrefix(id, ".") ||
			filepath.Base(id) != id || filepath.Clean(id) != id {
			t.Fatalf("accepted unsafe id %q", id)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, h := range []Header{
		{Version: formatVersion, BlockSize: DefaultBlockSize, Size: 0},
		{Version: formatVersion, BlockSize: DefaultBlockSize, Size: 12345678},
		{Version: formatVersion, BlockSize: 1, Size: MaxShardSize},
	} {
		b, _ := h.AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte("ANVILSHD"))
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if h.BlockSize == 0 || h.BlockSize > MaxBlockSize || h.Size < 0 || h.Size > MaxShardSize || h.fileSize() < HeaderSize {
			t.Fatalf("accepted header out of bounds: %+v", h)
		}
		again, _ := h.AppendBinary(nil)
		if !bytes.Equal(again, b[:HeaderSize]) {
			t.Fatalf("header %+v does not re-encode to its input", h)
		}
	})
}

// FuzzReadShardFile feeds arbitrary bytes to the reader as a shard file: it
// must return data or an error, never panic or hang.
func FuzzReadShardFile(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(Options{Dirs: []string{dir}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	put(f, s, "seed.0", []byte("hello, shard"))
	good, err := os.ReadFile(s.dirs[0].shardPath("seed.0"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, int64(0), int64(0))
	f.Add(good, int64(3), int64(4))
	f.Add(good[:HeaderSize], int64(0), int64(0))
	f.Add([]byte{}, int64(0), int64(0))
	path := s.dirs[0].shardPath("fuzz.0")
	f.Fuzz(func(t *testing.T, file []byte, off, length int64) {
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(context.Background(), "fuzz.0", true); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("stat: unexpected error %v", err)
		}
		r, err := s.NewReader("fuzz.0", off, length)
		if err != nil {
			return
		}
		defer r.Close()
		want := r.Len()
		n, err := io.Copy(io.Discard, r)
		if err == nil && n != want {
			t.Fatalf("read %d bytes, range is %d", n, want)
		}
	})
}
