package erasure

import (
	"math/big"
	"testing"
)

// naiveLoc is where one object byte lives: shard, stripe and offset inside the shard.
type naiveLoc struct {
	shard    int
	stripe   int64
	shardOff int64
}

// naiveLayout places the object byte by byte, as the encoder does, with no cleverness.
func naiveLayout(k, block int, size int64) (locs []naiveLoc, blockLens []int64, shardSize int64) {
	var pos, base int64
	for stripe := int64(0); pos < size; stripe++ {
		rem := size - pos
		bl := int64(block)
		if rem < int64(k*block) {
			bl = (rem + int64(k) - 1) / int64(k)
		}
		n := min(rem, int64(k)*bl)
		for j := range n {
			locs = append(locs, naiveLoc{shard: int(j / bl), stripe: stripe, shardOff: base + j%bl})
		}
		blockLens = append(blockLens, bl)
		pos += n
		base += bl
	}
	return locs, blockLens, base
}

func FuzzGeometry(f *testing.F) {
	f.Add(uint8(4), uint8(8), int64(0), int64(0), int64(0))
	f.Add(uint8(4), uint8(8), int64(1), int64(0), int64(1))
	f.Add(uint8(4), uint8(8), int64(31), int64(3), int64(20))
	f.Add(uint8(4), uint8(8), int64(32), int64(7), int64(2))
	f.Add(uint8(4), uint8(8), int64(33), int64(31), int64(2))
	f.Add(uint8(2), uint8(5), int64(3*10+7), int64(9), int64(20))
	f.Add(uint8(8), uint8(3), int64(5*24+1), int64(0), int64(5*24+1))
	f.Add(uint8(1), uint8(1), int64(17), int64(16), int64(1))
	f.Add(uint8(4), uint8(8), int64(100), int64(-1), int64(5))
	f.Add(uint8(4), uint8(8), int64(100), int64(50), int64(1<<62))
	f.Add(uint8(4), uint8(8), int64(-5), int64(0), int64(0))
	f.Add(uint8(3), uint8(7), int64(1<<62), int64(1<<61), int64(1<<61))
	f.Fuzz(func(t *testing.T, kb, blockb uint8, size, off, n int64) {
		k := int(kb%16) + 1
		block := int(blockb%64) + 1 // the layout maths hold for any block size
		p := Params{DataShards: k, ParityShards: 1, BlockSize: block}

		// Range validation against exact arithmetic.
		bs, bo, bn := big.NewInt(size), big.NewInt(off), big.NewInt(n)
		valid := size >= 0 && off >= 0 && n >= 0 && new(big.Int).Add(bo, bn).Cmp(bs) <= 0
		if err := checkRange(size, off, n); (err == nil) != valid {
			t.Fatalf("checkRange(%d, %d, %d) = %v, want valid=%v", size, off, n, err, valid)
		}
		if size < 0 || size > 4096 {
			if size > 0 && p.ShardSize(size) <= 0 {
				t.Fatalf("ShardSize(%d) = %d", size, p.ShardSize(size))
			}
			return
		}

		locs, blockLens, shardSize := naiveLayout(k, block, size)
		if got := p.ShardSize(size); got != shardSize {
			t.Fatalf("ShardSize(%d) = %d, naive %d", size, got, shardSize)
		}
		l := p.layout(size)
		if l.stripes != int64(len(blockLens)) {
			t.Fatalf("%d stripes, naive %d", l.stripes, len(blockLens))
		}
		var base int64
		for s, bl := range blockLens {
			if got := l.blockLen(int64(s)); got != bl {
				t.Fatalf("blockLen(%d) = %d, naive %d", s, got, bl)
			}
			if o, m := l.span(int64(s), int64(s)); o != base || m != bl {
				t.Fatalf("span(%d) = %d+%d, naive %d+%d", s, o, m, base, bl)
			}
			if s > 0 {
				if o, m := l.span(0, int64(s)); o != 0 || m != base+bl {
					t.Fatalf("span(0, %d) = %d+%d, naive 0+%d", s, o, m, base+bl)
				}
			}
			base += bl
		}
		if !valid || n == 0 {
			return
		}

		// Walking the wanted pieces in order must visit exactly the range's bytes.
		end := off + n
		first, last := l.stripeRange(off, end)
		if first != locs[off].stripe || last != locs[end-1].stripe {
			t.Fatalf("stripeRange = %d..%d, naive %d..%d", first, last, locs[off].stripe, locs[end-1].stripe)
		}
		next := off
		for s := first; s <= last; s++ {
			so, _ := l.span(s, s)
			for i := range k {
				if !l.wants(i, s, off, end) {
					continue
				}
				from, to := l.piece(i, s, off, end)
				if from < 0 || to <= from || to > l.blockLen(s) {
					t.Fatalf("piece(%d, %d) = [%d, %d) in a block of %d", i, s, from, to, l.blockLen(s))
				}
				for j := from; j < to; j++ {
					want := locs[next]
					if want.shard != i || want.stripe != s || want.shardOff != so+j {
						t.Fatalf("byte %d: shard %d stripe %d offset %d, naive %+v", next, i, s, so+j, want)
					}
					next++
				}
			}
		}
		if next != end {
			t.Fatalf("pieces cover [%d, %d), want [%d, %d)", off, next, off, end)
		}

		// Each data shard is wanted in one contiguous run of stripes.
		for i := range k {
			a, b, ok := l.shardStripes(i, off, end)
			var na, nb int64 = -1, -1
			for _, loc := range locs[off:end] {
				if loc.shard == i {
					if na < 0 {
						na = loc.stripe
					}
					nb = loc.stripe
				}
			}
			if ok != (na >= 0) || ok && (a != na || b != nb) {
				t.Fatalf("shardStripes(%d) = %d..%d %v, naive %d..%d", i, a, b, ok, na, nb)
			}
			for s := a; ok && s <= b; s++ {
				if !l.wants(i, s, off, end) {
					t.Fatalf("shard %d not wanted in stripe %d inside its run %d..%d", i, s, a, b)
				}
			}
		}
	})
}
