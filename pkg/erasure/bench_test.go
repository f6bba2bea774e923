package erasure

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
)

var benchBlockSizes = []int{64 << 10, 256 << 10, 1 << 20}

const benchSize = 16 << 20

func BenchmarkEncode(b *testing.B) {
	data := randomBytes(1, benchSize)
	for _, bs := range benchBlockSizes {
		p := Params{DataShards: 4, ParityShards: 2, BlockSize: bs}
		b.Run(fmt.Sprintf("4+2/block=%dKiB", bs>>10), func(b *testing.B) {
			ws := make([]io.Writer, p.Total())
			for i := range ws {
				ws[i] = io.Discard
			}
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Encode(context.Background(), bytes.NewReader(data), benchSize, ws, p.Total()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	data := randomBytes(2, benchSize)
	for _, bs := range benchBlockSizes {
		p := Params{DataShards: 4, ParityShards: 2, BlockSize: bs}
		shards := encodeAll(b, p, data)
		for _, degraded := range []bool{false, true} {
			name := fmt.Sprintf("4+2/block=%dKiB", bs>>10)
			faults := map[int]fault{}
			if degraded {
				name += "/shard-1-down"
				faults[1] = fault{kind: faultOpen}
			}
			b.Run(name, func(b *testing.B) {
				st := newStore(b, shards, faults)
				b.SetBytes(benchSize)
				b.ReportAllocs()
				for b.Loop() {
					if err := p.Decode(context.Background(), benchSize, 0, benchSize, st.open, io.Discard, DecodeOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
