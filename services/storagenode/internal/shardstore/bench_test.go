package shardstore

import (
	"bytes"
	"context"
	"io"
	"testing"
)

const benchShardSize = 16 << 20

func BenchmarkPut16MiB(b *testing.B) {
	s, err := Open(Options{Dirs: []string{b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := randBytes(1, benchShardSize)
	b.SetBytes(benchShardSize)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Put(context.Background(), "bench.0", benchShardSize, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet16MiB(b *testing.B) {
	s, err := Open(Options{Dirs: []string{b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	put(b, s, "bench.0", randBytes(1, benchShardSize))
	buf := make([]byte, 256<<10)
	b.SetBytes(benchShardSize)
	b.ResetTimer()
	for b.Loop() {
		r, err := s.NewReader("bench.0", 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil || n != benchShardSize {
			b.Fatalf("read %d: %v", n, err)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
