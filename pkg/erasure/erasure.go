// Package erasure stripes objects over k data and m parity shards with Reed-Solomon codes.
//
// Layout: an object of size bytes is cut into stripes of k*BlockSize data bytes. A full stripe
// puts BlockSize bytes in each of the k data shards and BlockSize parity bytes in each of the m
// parity shards. The last, partial stripe of r bytes uses a block length of ceil(r/k), with the
// data zero-padded inside the encoder only, so small objects stay small. Shard i holds block i
// of every stripe back to back; a shard's size is Params.ShardSize(size).
//
// The code matrix is the reedsolomon package's default (Vandermonde-derived) matrix. It is part
// of the on-disk format: changing it makes existing parity unreadable.
package erasure

import (
	"errors"
	"fmt"

	"github.com/klauspost/reedsolomon"
)

// DefaultBlockSize is the recommended per-shard block size. With 4+2 a stripe is 1 MiB of data;
// an Encode holds at most 3 stripes of k+m blocks (4.5 MiB) and a Decode 2 blocks per shard
// read (2 MiB). It was the fastest of 64 KiB, 256 KiB and 1 MiB in BenchmarkEncode/Decode.
const DefaultBlockSize = 256 << 10

// Limits on Params.BlockSize.
const (
	MinBlockSize = 4 << 10
	MaxBlockSize = 16 << 20
)

// MaxShards is the largest k+m the GF(2^8) code supports.
const MaxShards = 256

var (
	// ErrWriteQuorum means fewer shards than the caller's write quorum were written.
	ErrWriteQuorum = errors.New("erasure: too few shards written")
	// ErrNotEnoughShards means fewer than k shards could be read for some stripe.
	ErrNotEnoughShards = errors.New("erasure: not enough shards to reconstruct")
	// ErrShardTimeout is the cause passed to DecodeOptions.OnShardError for a shard that did not
	// deliver a block within DecodeOptions.BlockTimeout.
	ErrShardTimeout = errors.New("erasure: shard read timed out")
	// ErrNoWriter is recorded in EncodeResult.Failed for a shard whose writer was nil.
	ErrNoWriter = errors.New("erasure: shard has no writer")
)

// Params are the erasure-coding parameters of an object. They are part of its stored layout.
type Params struct {
	DataShards   int // k
	ParityShards int // m
	BlockSize    int // bytes per shard per full stripe
}

// Validate reports whether p describes a usable layout.
func (p Params) Validate() error {
	switch {
	case p.DataShards < 1:
		return fmt.Errorf("erasure: data shards must be at least 1, got %d", p.DataShards)
	case p.ParityShards < 1:
		return fmt.Errorf("erasure: parity shards must be at least 1, got %d", p.ParityShards)
	case p.DataShards > MaxShards || p.ParityShards > MaxShards || p.DataShards+p.ParityShards > MaxShards:
		return fmt.Errorf("erasure: data+parity shards must be at most %d, got %d+%d",
			MaxShards, p.DataShards, p.ParityShards)
	case p.BlockSize < MinBlockSize || p.BlockSize > MaxBlockSize:
		return fmt.Errorf("erasure: block size must be between %d and %d bytes, got %d",
			MinBlockSize, MaxBlockSize, p.BlockSize)
	case p.BlockSize%64 != 0:
		return fmt.Errorf("erasure: block size must be a multiple of 64 bytes, got %d", p.BlockSize)
	}
	return nil
}

// Total returns k+m, the number of shards.
func (p Params) Total() int { return p.DataShards + p.ParityShards }

// StripeSize returns the data bytes in one full stripe, k*BlockSize.
func (p Params) StripeSize() int64 { return int64(p.DataShards) * int64(p.BlockSize) }

// ShardSize returns the size in bytes of every shard of an object of size bytes. It returns 0
// for size <= 0 or invalid p.
func (p Params) ShardSize(size int64) int64 {
	if size <= 0 || p.DataShards < 1 || p.BlockSize < 1 {
		return 0
	}
	ss := p.StripeSize()
	return size/ss*int64(p.BlockSize) + ceilDiv(size%ss, int64(p.DataShards))
}

func (p Params) newCoder() (reedsolomon.Encoder, error) {
	enc, err := reedsolomon.New(p.DataShards, p.ParityShards)
	if err != nil {
		return nil, fmt.Errorf("create reed-solomon coder: %w", err)
	}
	return enc, nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// layout is the stripe geometry of one object.
type layout struct {
	k       int64
	block   int64 // BlockSize
	stripe  int64 // k*BlockSize
	size    int64
	stripes int64 // number of stripes, the last possibly partial
}

func (p Params) layout(size int64) layout {
	l := layout{
		k:      int64(p.DataShards),
		block:  int64(p.BlockSize),
		stripe: p.StripeSize(),
		size:   size,
	}
	if size > 0 {
		l.stripes = (size-1)/l.stripe + 1
	}
	return l
}

// dataLen returns the object bytes in stripe s.
func (l layout) dataLen(s int64) int64 {
	return min(l.stripe, l.size-s*l.stripe)
}

// blockLen returns the length of every shard's block in stripe s.
func (l layout) blockLen(s int64) int64 {
	if n := l.dataLen(s); n < l.stripe {
		return ceilDiv(n, l.k)
	}
	return l.block
}

// maxBlockLen is the largest block of the object: small objects get small buffers.
func (l layout) maxBlockLen() int64 {
	if l.stripes == 0 {
		return 0
	}
	return l.blockLen(0)
}

// span returns the byte range of a shard that holds stripes a..b inclusive. Only the last
// stripe of an object can be partial, so every stripe before b is a full block.
func (l layout) span(a, b int64) (offset, length int64) {
	return a * l.block, (b-a)*l.block + l.blockLen(b)
}

// wants reports whether data block i of stripe s holds any byte of [off, end).
func (l layout) wants(i int, s, off, end int64) bool {
	start := s * l.stripe
	bl := l.blockLen(s)
	lo := start + int64(i)*bl
	hi := min(lo+bl, start+l.dataLen(s))
	return lo < hi && lo < end && off < hi
}

// piece returns the part [from, to) of data block i of stripe s that holds bytes of
// [off, end); the block must be wanted.
func (l layout) piece(i int, s, off, end int64) (from, to int64) {
	bl := l.blockLen(s)
	lo := s*l.stripe + int64(i)*bl
	return max(off, lo) - lo, min(end, lo+bl, s*l.stripe+l.dataLen(s)) - lo
}

// stripeRange returns the stripes that hold [off, end); end > off.
func (l layout) stripeRange(off, end int64) (first, last int64) {
	return off / l.stripe, (end - 1) / l.stripe
}

// shardStripes returns the stripes in which data shard i holds bytes of [off, end). They are
// contiguous because only the first and last stripe of the range can be partly covered.
func (l layout) shardStripes(i int, off, end int64) (a, b int64, ok bool) {
	first, last := l.stripeRange(off, end)
	a, b = -1, -1
	for s := first; s <= last; s++ {
		if l.wants(i, s, off, end) {
			a = s
			break
		}
	}
	if a < 0 {
		return 0, 0, false
	}
	for s := last; s >= a; s-- {
		if l.wants(i, s, off, end) {
			b = s
			break
		}
	}
	return a, b, true
}

func checkRange(size, offset, length int64) error {
	switch {
	case size < 0:
		return fmt.Errorf("erasure: negative object size %d", size)
	case offset < 0 || offset > size:
		return fmt.Errorf("erasure: offset %d outside object of %d bytes", offset, size)
	case length < 0 || length > size-offset:
		return fmt.Errorf("erasure: range of %d bytes at offset %d exceeds object of %d bytes", length, offset, size)
	}
	return nil
}
