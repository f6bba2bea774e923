package datapath_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"testing"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
)

func TestPutHashesAndVerify(t *testing.T) {
	checkNoLeak(t)
	errMismatch := errors.New("checksum mismatch")
	for _, size := range []int{0, 1, 3*int(params.StripeSize()) + 5} {
		data := payload(size)
		want := sha256.Sum256(data)
		t.Run("accepted", func(t *testing.T) {
			e := newEnv(t, 6, datapath.Config{})
			h := sha256.New()
			verified := false
			res, err := e.store.Put(context.Background(), datapath.PutRequest{
				Region: region, Params: params, Body: bytes.NewReader(data), Size: int64(size), PartNumber: 7,
				Hashes: []hash.Hash{h},
				Verify: func() error {
					verified = true
					if !bytes.Equal(h.Sum(nil), want[:]) {
						return errMismatch
					}
					return nil
				},
			})
			if err != nil || !verified {
				t.Fatalf("put: %v, verified %v", err, verified)
			}
			if size > 0 && res.Segment.GetPartNumber() != 7 {
				t.Fatalf("part number %d", res.Segment.GetPartNumber())
			}
		})
		t.Run("refused", func(t *testing.T) {
			e := newEnv(t, 6, datapath.Config{})
			_, err := e.store.Put(context.Background(), datapath.PutRequest{
				Region: region, Params: params, Body: bytes.NewReader(data), Size: int64(size),
				Verify: func() error { return errMismatch },
			})
			if !errors.Is(err, errMismatch) {
				t.Fatalf("err = %v", err)
			}
			if e.shards.Count() != 0 || e.shards.Open() != 0 {
				t.Fatalf("a refused put left %d shards, %d open uploads", e.shards.Count(), e.shards.Open())
			}
		})
	}
}

func TestCopy(t *testing.T) {
	checkNoLeak(t)
	// Nine nodes: the copy still finds six after its source loses three.
	e := newEnv(t, 9, datapath.Config{})
	stripe := int(params.StripeSize())
	p1, p2 := payload(2*stripe+3), payload(stripe+11)
	s1, s2 := e.put(t, p1).Segment, e.put(t, p2).Segment
	s2.PartNumber = 2
	empty := &metadatav1.Segment{Size: 0, PartNumber: 3}
	src := []*metadatav1.Segment{s1, empty, s2}
	all := append(append([]byte{}, p1...), p2...)
	tests := []struct {
		name        string
		off, length int
	}{
		{"whole", 0, len(all)},
		{"across segments", stripe, len(p1)},
		{"inside one", 5, 10},
		{"empty", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sha256.New()
			res, err := e.store.Copy(context.Background(), src, int64(tt.off), int64(tt.length), datapath.PutRequest{
				Region: region, Params: params, Hashes: []hash.Hash{h},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := all[tt.off : tt.off+tt.length]
			if res.ETag != md5hex(want) {
				t.Fatalf("etag %s, want %s", res.ETag, md5hex(want))
			}
			sum := sha256.Sum256(want)
			if !bytes.Equal(h.Sum(nil), sum[:]) {
				t.Fatal("hashes saw other bytes")
			}
			if tt.length == 0 {
				return
			}
			got, err := e.get(res.Segment, 0, int64(tt.length))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read back: %v", err)
			}
		})
	}
	t.Run("source unreadable", func(t *testing.T) {
		for _, id := range s1.GetNodeIds()[:3] {
			e.nodes.Remove(id)
		}
		before := e.shards.Count()
		_, err := e.store.Copy(context.Background(), src, 0, int64(len(all)), datapath.PutRequest{Region: region, Params: params})
		var unavailable *datapath.UnavailableError
		var bodyErr *datapath.BodyError
		if !errors.As(err, &unavailable) || errors.As(err, &bodyErr) {
			t.Fatalf("err = %v, want UnavailableError and no BodyError", err)
		}
		if e.shards.Count() != before || e.shards.Open() != 0 {
			t.Fatal("a failed copy stored shards")
		}
	})
}
