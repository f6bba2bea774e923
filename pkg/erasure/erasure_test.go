package erasure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var testParams = []Params{
	{DataShards: 4, ParityShards: 2, BlockSize: 4096},
	{DataShards: 2, ParityShards: 1, BlockSize: 4096},
	{DataShards: 8, ParityShards: 4, BlockSize: 4096},
}

func testSizes(p Params) []int64 {
	ss := p.StripeSize()
	return []int64{0, 1, ss - 1, ss, ss + 1, 3*ss + 7}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want string // substring of the error, "" for valid
	}{
		{"4+2", Params{4, 2, DefaultBlockSize}, ""},
		{"1+1 min block", Params{1, 1, MinBlockSize}, ""},
		{"max shards", Params{200, 56, MaxBlockSize}, ""},
		{"no data", Params{0, 2, 4096}, "data shards must be at least 1"},
		{"no parity", Params{4, 0, 4096}, "parity shards must be at least 1"},
		{"negative parity", Params{4, -1, 4096}, "parity shards must be at least 1"},
		{"too many", Params{200, 57, 4096}, "at most 256"},
		{"huge", Params{1 << 40, 1 << 40, 4096}, "at most 256"},
		{"small block", Params{4, 2, 2048}, "block size must be between"},
		{"big block", Params{4, 2, MaxBlockSize + 64}, "block size must be between"},
		{"unaligned block", Params{4, 2, 4096 + 1}, "multiple of 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestShardSize(t *testing.T) {
	p := Params{DataShards: 4, ParityShards: 2, BlockSize: 4096}
	tests := []struct {
		size, want int64
	}{
		{-1, 0},
		{0, 0},
		{1, 1},
		{4, 1},
		{5, 2},
		{16383, 4096},
		{16384, 4096},
		{16385, 4097},
		{3*16384 + 7, 3*4096 + 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			if got := p.ShardSize(tt.size); got != tt.want {
				t.Fatalf("ShardSize(%d) = %d, want %d", tt.size, got, tt.want)
			}
		})
	}
	if got := (Params{}).ShardSize(100); got != 0 {
		t.Fatalf("ShardSize on zero Params = %d, want 0", got)
	}
}

func TestRoundTrip(t *testing.T) {
	checkGoroutines(t)
	for _, p := range testParams {
		for _, size := range testSizes(p) {
			t.Run(fmt.Sprintf("%d+%d/%d", p.DataShards, p.ParityShards, size), func(t *testing.T) {
				data := randomBytes(uint64(size), size)
				shards := encodeAll(t, p, data)

				st := newStore(t, shards, nil)
				var out bytes.Buffer
				if err := p.Decode(context.Background(), size, 0, size, st.open, &out, DecodeOptions{}); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !bytes.Equal(out.Bytes(), data) {
					t.Fatalf("decoded %d bytes differ from the %d written", out.Len(), size)
				}
				st.checkClosed(t)
				for i, n := range st.opens {
					if i >= p.DataShards || n != 1 {
						t.Errorf("happy path opened shard %d %d times; want data shards once each", i, n)
					}
				}

				for target := range p.Total() {
					var rebuilt bytes.Buffer
					st := newStore(t, shards, nil)
					if err := p.Reconstruct(context.Background(), size, target, st.open, &rebuilt, DecodeOptions{}); err != nil {
						t.Fatalf("reconstruct shard %d: %v", target, err)
					}
					if !bytes.Equal(rebuilt.Bytes(), shards[target]) {
						t.Fatalf("reconstructed shard %d differs", target)
					}
					if st.opens[target] != 0 {
						t.Fatalf("reconstruct read the target shard")
					}
					st.checkClosed(t)
				}
			})
		}
	}
}

type testRange struct{ off, n int64 }

func rangesFor(p Params, size int64, seed uint64) []testRange {
	ss := p.StripeSize()
	bs := int64(p.BlockSize)
	rs := []testRange{
		{0, size}, {0, 1}, {size - 1, 1}, {0, 0}, {size, 0},
		{ss - 3, 6},                // across the first stripe boundary
		{bs - 1, 2},                // across a block boundary
		{ss - 1, ss + 2},           // a full stripe and a byte either side
		{2*ss + bs + 5, ss - 3},    // ends in the last, partial stripe
		{2*ss + 3*bs + 10, ss + 7}, // from the last block of a stripe to the end
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	for range 20 {
		off := rng.Int64N(size)
		rs = append(rs, testRange{off, rng.Int64N(size-off) + 1})
	}
	var valid []testRange
	for _, r := range rs {
		if r.off >= 0 && r.n >= 0 && r.off+r.n <= size {
			valid = append(valid, r)
		}
	}
	return valid
}

func TestDecodeRanges(t *testing.T) {
	checkGoroutines(t)
	for _, p := range testParams {
		size := 3*p.StripeSize() + 7
		data := randomBytes(7, size)
		shards := encodeAll(t, p, data)
		for _, r := range rangesFor(p, size, uint64(p.DataShards)) {
			t.Run(fmt.Sprintf("%d+%d/%d+%d", p.DataShards, p.ParityShards, r.off, r.n), func(t *testing.T) {
				st := newStore(t, shards, nil)
				var out bytes.Buffer
				if err := p.Decode(context.Background(), size, r.off, r.n, st.open, &out, DecodeOptions{}); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !bytes.Equal(out.Bytes(), data[r.off:r.off+r.n]) {
					t.Fatalf("range differs")
				}
				st.checkClosed(t)
				// Only the data shards holding the range are read, each once.
				for i, n := range st.opens {
					if n != 1 || i >= p.DataShards {
						t.Errorf("shard %d opened %d times", i, n)
					}
				}
				if r.n == 0 && len(st.opens) != 0 {
					t.Errorf("empty range opened shards: %v", st.ranges)
				}
			})
		}
	}
}

func TestDecodeBadRange(t *testing.T) {
	p := testParams[0]
	st := newStore(t, nil, nil)
	tests := []struct {
		name             string
		size, off, n     int64
		open             ShardOpener
		w                io.Writer
		wantErrSubstring string
	}{
		{"negative size", -1, 0, 0, st.open, io.Discard, "negative object size"},
		{"negative offset", 10, -1, 1, st.open, io.Discard, "offset -1 outside"},
		{"offset past end", 10, 11, 0, st.open, io.Discard, "offset 11 outside"},
		{"negative length", 10, 0, -1, st.open, io.Discard, "range of -1 bytes"},
		{"past end", 10, 5, 6, st.open, io.Discard, "exceeds object"},
		{"overflow", 10, 5, 1<<63 - 1, st.open, io.Discard, "exceeds object"},
		{"nil opener", 10, 0, 1, nil, io.Discard, "nil shard opener"},
		{"nil writer", 10, 0, 1, st.open, nil, "nil shard opener or writer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Decode(context.Background(), tt.size, tt.off, tt.n, tt.open, tt.w, DecodeOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstring) {
				t.Fatalf("Decode() = %v, want error containing %q", err, tt.wantErrSubstring)
			}
		})
	}
	if err := (Params{}).Decode(context.Background(), 1, 0, 1, st.open, io.Discard, DecodeOptions{}); err == nil {
		t.Fatal("Decode with invalid params succeeded")
	}
	for _, target := range []int{-1, p.Total()} {
		if err := p.Reconstruct(context.Background(), 1, target, st.open, io.Discard, DecodeOptions{}); err == nil {
			t.Fatalf("Reconstruct target %d succeeded", target)
		}
	}
}

// failureCase names a set of shards that fail together.
type failureCase struct {
	name   string
	shards []int
}

func TestDecodeWithFailures(t *testing.T) {
	checkGoroutines(t)
	kinds := []faultKind{faultOpen, faultError, faultShort, faultHang, faultCorrupt}
	for _, p := range testParams {
		size := 3*p.StripeSize() + 7
		data := randomBytes(11, size)
		shards := encodeAll(t, p, data)
		k, m := p.DataShards, p.ParityShards
		sets := []failureCase{
			{"first data", []int{0}},
			{"last data", []int{k - 1}},
			{"data and parity", []int{1, k}},
			{"m data", seq(0, m)},
			{"m last", seq(p.Total()-m, m)},
		}
		for _, kind := range kinds {
			for _, at := range []int64{0, int64(p.BlockSize) + 100} { // at the start, mid-stream
				for _, set := range sets {
					if len(set.shards) > m {
						continue
					}
					for _, r := range []testRange{{0, size}, {p.StripeSize() - 5, p.StripeSize() + 10}, {size - 9, 9}} {
						name := fmt.Sprintf("%d+%d/%v@%d/%s/%d+%d", k, m, kind, at, set.name, r.off, r.n)
						t.Run(name, func(t *testing.T) {
							faults := map[int]fault{}
							for _, i := range set.shards {
								faults[i] = fault{kind: kind, at: at}
							}
							st := newStore(t, shards, faults)
							var reported []int
							opts := DecodeOptions{
								after: st.after,
								OnShardError: func(i int, err error) {
									reported = append(reported, i)
									if err == nil {
										t.Errorf("shard %d reported with nil error", i)
									}
								},
							}
							var out bytes.Buffer
							if err := p.Decode(context.Background(), size, r.off, r.n, st.open, &out, opts); err != nil {
								t.Fatalf("decode: %v", err)
							}
							if !bytes.Equal(out.Bytes(), data[r.off:r.off+r.n]) {
								t.Fatalf("decoded bytes differ")
							}
							st.checkClosed(t)
							seen := map[int]bool{}
							for _, i := range reported {
								if seen[i] {
									t.Errorf("shard %d reported twice", i)
								}
								seen[i] = true
								if _, ok := faults[i]; !ok {
									t.Errorf("healthy shard %d reported", i)
								}
							}
						})
					}
				}
			}
		}
	}
}

func seq(from, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = from + i
	}
	return s
}

func TestDecodeFullReadReportsFailedDataShards(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0]
	size := 3*p.StripeSize() + 7
	data := randomBytes(3, size)
	shards := encodeAll(t, p, data)
	faults := map[int]fault{1: {kind: faultCorrupt, at: 5000}, 3: {kind: faultOpen}}
	st := newStore(t, shards, faults)
	got := map[int]error{}
	opts := DecodeOptions{OnShardError: func(i int, err error) { got[i] = err }}
	var out bytes.Buffer
	if err := p.Decode(context.Background(), size, 0, size, st.open, &out, opts); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("decoded bytes differ")
	}
	if len(got) != 2 || !errors.Is(got[1], errChecksum) || got[3] == nil {
		t.Fatalf("reported %v, want shards 1 (checksum) and 3", got)
	}
	// Parity is opened once, from the stripe where the first failure struck.
	for i := 4; i < 6; i++ {
		if st.opens[i] != 1 {
			t.Errorf("parity shard %d opened %d times, want 1", i, st.opens[i])
		}
	}
	st.checkClosed(t)
}

func TestReconstructWithFailures(t *testing.T) {
	checkGoroutines(t)
	p := testParams[2] // 8+4
	size := 3*p.StripeSize() + 7
	shards := encodeAll(t, p, randomBytes(5, size))
	tests := []struct {
		name    string
		target  int
		faults  map[int]fault
		wantErr bool
	}{
		{"data target, m-1 others fail", 2, map[int]fault{0: {faultError, 5000}, 8: {kind: faultOpen}, 11: {faultHang, 0}}, false},
		{"parity target, m-1 others fail", 10, map[int]fault{1: {faultShort, 9000}, 3: {faultCorrupt, 0}, 9: {faultError, 0}}, false},
		{"m others fail", 0, map[int]fault{1: {kind: faultOpen}, 2: {kind: faultOpen}, 3: {kind: faultOpen}, 4: {kind: faultOpen}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t, shards, tt.faults)
			var out bytes.Buffer
			err := p.Reconstruct(context.Background(), size, tt.target, st.open, &out, DecodeOptions{after: st.after})
			st.checkClosed(t)
			if tt.wantErr {
				if !errors.Is(err, ErrNotEnoughShards) {
					t.Fatalf("reconstruct = %v, want ErrNotEnoughShards", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("reconstruct: %v", err)
			}
			if !bytes.Equal(out.Bytes(), shards[tt.target]) {
				t.Fatal("reconstructed shard differs")
			}
		})
	}
}

func TestDecodeTooManyFailures(t *testing.T) {
	checkGoroutines(t)
	for _, p := range testParams {
		size := 3*p.StripeSize() + 7
		data := randomBytes(13, size)
		shards := encodeAll(t, p, data)
		for _, kind := range []faultKind{faultOpen, faultError, faultShort, faultHang, faultCorrupt} {
			for _, at := range []int64{0, int64(p.BlockSize) + 100} {
				t.Run(fmt.Sprintf("%d+%d/%v@%d", p.DataShards, p.ParityShards, kind, at), func(t *testing.T) {
					faults := map[int]fault{}
					// m+1 shards fail: one data shard from the start, the rest as kind.
					faults[0] = fault{kind: faultOpen}
					for _, i := range seq(p.Total()-p.ParityShards, p.ParityShards) {
						faults[i] = fault{kind: kind, at: at}
					}
					st := newStore(t, shards, faults)
					var out bytes.Buffer
					err := p.Decode(context.Background(), size, 0, size, st.open, &out, DecodeOptions{after: st.after})
					if !errors.Is(err, ErrNotEnoughShards) {
						t.Fatalf("decode = %v, want ErrNotEnoughShards", err)
					}
					if !bytes.HasPrefix(data, out.Bytes()) {
						t.Fatal("decode wrote wrong bytes")
					}
					st.checkClosed(t)
				})
			}
		}
	}

	t.Run("mid-stream data failures", func(t *testing.T) {
		p := testParams[0]
		size := 3*p.StripeSize() + 7
		data := randomBytes(17, size)
		shards := encodeAll(t, p, data)
		at := 2*int64(p.BlockSize) + 1 // the third stripe
		faults := map[int]fault{0: {faultCorrupt, at}, 1: {faultError, at}, 4: {faultCorrupt, at}}
		st := newStore(t, shards, faults)
		var out bytes.Buffer
		err := p.Decode(context.Background(), size, 0, size, st.open, &out, DecodeOptions{})
		if !errors.Is(err, ErrNotEnoughShards) {
			t.Fatalf("decode = %v, want ErrNotEnoughShards", err)
		}
		if got, want := int64(out.Len()), 2*p.StripeSize(); got != want {
			t.Fatalf("wrote %d bytes before the failure, want the %d of the good stripes", got, want)
		}
		if !bytes.HasPrefix(data, out.Bytes()) {
			t.Fatal("decode wrote wrong bytes")
		}
		st.checkClosed(t)
	})
}

// failAfterWriter fails once it has taken n bytes.
type failAfterWriter struct {
	n   int
	got int
}

var errClientGone = errors.New("client went away")

func (w *failAfterWriter) Write(p []byte) (int, error) {
	if w.got+len(p) > w.n {
		return 0, errClientGone
	}
	w.got += len(p)
	return len(p), nil
}

func TestDecodeBlockTimeout(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0]
	size := 3*p.StripeSize() + 7
	data := randomBytes(43, size)
	shards := encodeAll(t, p, data)
	st := newStore(t, shards, map[int]fault{1: {faultHang, 6000}})
	var hangErr error
	// A real timer: a healthy shard that is late on a loaded machine is just one more failure,
	// which 4+2 tolerates, so only the hanging shard's report is checked.
	opts := DecodeOptions{
		BlockTimeout: 100 * time.Millisecond,
		OnShardError: func(i int, err error) {
			if i == 1 {
				hangErr = err
			}
		},
	}
	var out bytes.Buffer
	if err := p.Decode(context.Background(), size, 0, size, st.open, &out, opts); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("decoded bytes differ")
	}
	if !errors.Is(hangErr, ErrShardTimeout) {
		t.Fatalf("hanging shard reported with %v, want ErrShardTimeout", hangErr)
	}
	st.checkClosed(t)
}

func TestDecodeWriterError(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0]
	size := 3*p.StripeSize() + 7
	shards := encodeAll(t, p, randomBytes(19, size))
	st := newStore(t, shards, nil)
	var reported []int
	err := p.Decode(context.Background(), size, 0, size, st.open, &failAfterWriter{n: 10000},
		DecodeOptions{OnShardError: func(i int, _ error) { reported = append(reported, i) }})
	if err != errClientGone { //nolint:errorlint // returned as is by contract
		t.Fatalf("decode = %v, want the writer's error as is", err)
	}
	if len(reported) != 0 {
		t.Fatalf("writer error blamed on shards %v", reported)
	}
	st.checkClosed(t)
}

func TestDecodeCancel(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0]
	size := 3*p.StripeSize() + 7
	shards := encodeAll(t, p, randomBytes(23, size))
	st := newStore(t, shards, map[int]fault{2: {faultHang, 5000}})
	st.hung = make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-st.hung
		cancel()
	}()
	var reported []int
	err := p.Decode(ctx, size, 0, size, st.open, io.Discard,
		DecodeOptions{BlockTimeout: time.Hour, OnShardError: func(i int, _ error) { reported = append(reported, i) }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("decode = %v, want context.Canceled", err)
	}
	if len(reported) != 0 {
		t.Fatalf("cancellation blamed on shards %v", reported)
	}
	st.checkClosed(t)
}

func TestEncodeFailingWriters(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0] // 4+2
	size := 5*p.StripeSize() + 7
	data := randomBytes(29, size)
	tests := []struct {
		name      string
		broken    map[int]io.Writer // shard -> writer replacing a healthy one (nil: no node)
		minOK     int
		wantQuota bool
	}{
		{"one nil, quorum k+1", map[int]io.Writer{5: nil}, 5, false},
		{"two fail mid-way, quorum k", map[int]io.Writer{0: &errWriter{ok: 8192}, 4: &errWriter{ok: 0}}, 4, false},
		{"nil and failing, quorum k", map[int]io.Writer{1: nil, 3: &errWriter{ok: 4096 * 3}}, 4, false},
		{"two nil, quorum k+1", map[int]io.Writer{1: nil, 2: nil}, 5, true},
		{"fail mid-way, quorum all", map[int]io.Writer{2: &errWriter{ok: 4096 * 2}}, 6, true},
		{"fail on the last block, quorum all", map[int]io.Writer{2: &errWriter{ok: int(p.ShardSize(size)) - 1}}, 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bufs := make([]*bytes.Buffer, p.Total())
			ws := make([]io.Writer, p.Total())
			for i := range ws {
				if w, ok := tt.broken[i]; ok {
					ws[i] = w
					continue
				}
				bufs[i] = new(bytes.Buffer)
				ws[i] = bufs[i]
			}
			res, err := p.Encode(context.Background(), bytes.NewReader(data), size, ws, tt.minOK)
			if tt.wantQuota {
				if !errors.Is(err, ErrWriteQuorum) {
					t.Fatalf("encode = %v, want ErrWriteQuorum", err)
				}
				if len(res.Failed) == 0 {
					t.Fatal("no failed shards recorded")
				}
				return
			}
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if res.Size != size {
				t.Fatalf("read %d bytes, want %d", res.Size, size)
			}
			if len(res.Failed) != len(tt.broken) {
				t.Fatalf("failed = %v, want shards %v", res.Failed, tt.broken)
			}
			for i, w := range tt.broken {
				switch {
				case w == nil && !errors.Is(res.Failed[i], ErrNoWriter):
					t.Errorf("shard %d: %v, want ErrNoWriter", i, res.Failed[i])
				case w != nil && !errors.Is(res.Failed[i], errDiskFull):
					t.Errorf("shard %d: %v, want the writer's error", i, res.Failed[i])
				}
			}
			// The surviving shards are complete and decode to the object.
			shards := make([][]byte, p.Total())
			faults := map[int]fault{}
			for i := range shards {
				if bufs[i] == nil {
					faults[i] = fault{kind: faultOpen}
					shards[i] = make([]byte, p.ShardSize(size))
					continue
				}
				shards[i] = bufs[i].Bytes()
			}
			st := newStore(t, shards, faults)
			var out bytes.Buffer
			if err := p.Decode(context.Background(), size, 0, size, st.open, &out, DecodeOptions{}); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatal("decoded bytes differ")
			}
		})
	}
}

// errorReader returns data and then err.
type errorReader struct {
	r   io.Reader
	err error
}

func (e *errorReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF { //nolint:errorlint // io.EOF is returned unwrapped
		return n, e.err
	}
	return n, err
}

// lastReadFails returns all of data in one Read together with err.
type lastReadFails struct {
	data []byte
	err  error
}

func (l *lastReadFails) Read(p []byte) (int, error) {
	n := copy(p, l.data)
	l.data = l.data[n:]
	if len(l.data) == 0 {
		return n, l.err
	}
	return n, nil
}

func TestEncodeInput(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0]
	size := 2*p.StripeSize() + 100
	data := randomBytes(31, size)
	errBody := errors.New("signature mismatch")
	tests := []struct {
		name     string
		r        io.Reader
		size     int64
		wantErr  error
		wantRead int64
	}{
		{"short", bytes.NewReader(data[:size-1]), size, io.ErrUnexpectedEOF, size - 1},
		{"empty for non-empty object", bytes.NewReader(nil), size, io.ErrUnexpectedEOF, 0},
		{"short at stripe boundary", bytes.NewReader(data[:p.StripeSize()]), size, io.ErrUnexpectedEOF, p.StripeSize()},
		{"reader error", &errorReader{bytes.NewReader(data[:1000]), errBody}, size, errBody, 1000},
		{"error with the last bytes", &lastReadFails{data: data, err: errBody}, size, errBody, size},
		{"longer than size", bytes.NewReader(data), size - 50, nil, size - 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := make([]io.Writer, p.Total())
			for i := range ws {
				ws[i] = io.Discard
			}
			res, err := p.Encode(context.Background(), tt.r, tt.size, ws, p.Total())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("encode = %v, want %v", err, tt.wantErr)
			}
			if res.Size != tt.wantRead {
				t.Fatalf("read %d bytes, want %d", res.Size, tt.wantRead)
			}
			if br, ok := tt.r.(*bytes.Reader); ok && tt.wantErr == nil && br.Len() != 50 {
				t.Fatalf("%d bytes left in the reader, want 50: read past size", br.Len())
			}
		})
	}
}

func TestEncodeBadArgs(t *testing.T) {
	p := testParams[0]
	ws := make([]io.Writer, p.Total())
	tests := []struct {
		name  string
		p     Params
		r     io.Reader
		size  int64
		ws    []io.Writer
		minOK int
	}{
		{"invalid params", Params{}, bytes.NewReader(nil), 0, ws, 1},
		{"too few writers", p, bytes.NewReader(nil), 0, ws[:3], 1},
		{"zero quorum", p, bytes.NewReader(nil), 0, ws, 0},
		{"quorum above total", p, bytes.NewReader(nil), 0, ws, 7},
		{"negative size", p, bytes.NewReader(nil), -1, ws, 1},
		{"nil reader", p, nil, 0, ws, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.p.Encode(context.Background(), tt.r, tt.size, tt.ws, tt.minOK); err == nil {
				t.Fatal("encode succeeded")
			}
		})
	}
}

func TestEncodeEmpty(t *testing.T) {
	p := testParams[0]
	var calls int
	w := writerFunc(func(b []byte) (int, error) { calls++; return len(b), nil })
	ws := []io.Writer{w, w, w, w, nil, w}
	res, err := p.Encode(context.Background(), bytes.NewReader(nil), 0, ws, 5)
	if err != nil || res.Size != 0 || calls != 0 || !errors.Is(res.Failed[4], ErrNoWriter) {
		t.Fatalf("encode = %+v, %v with %d writes; want no writes and shard 4 failed", res, err, calls)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// blockingWriter blocks every Write until ctx ends, as a stream bound to ctx does.
type blockingWriter struct {
	ctx     context.Context
	started chan struct{}
	once    sync.Once
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.ctx.Done()
	return 0, w.ctx.Err()
}

func TestEncodeCancel(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0]
	size := 10 * p.StripeSize()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := &blockingWriter{ctx: ctx, started: make(chan struct{})}
	ws := []io.Writer{io.Discard, io.Discard, slow, io.Discard, io.Discard, io.Discard}
	go func() {
		<-slow.started
		cancel()
	}()
	_, err := p.Encode(ctx, bytes.NewReader(randomBytes(37, size)), size, ws, p.Total())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("encode = %v, want cancellation", err)
	}
}

func TestEncodeSlowShardDoesNotStallOthers(t *testing.T) {
	checkGoroutines(t)
	p := testParams[0]
	size := 10 * p.StripeSize()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Shard 2 is stuck; the others must still receive more than one stripe's blocks before
	// the pipeline fills, and the memory held stays at encodeDepth stripes.
	slow := &blockingWriter{ctx: ctx, started: make(chan struct{})}
	var mu sync.Mutex
	got := 0
	fast := writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		got++
		if got == 5*encodeDepth { // every fast shard has all the stripes the pipeline holds
			cancel()
		}
		return len(b), nil
	})
	ws := []io.Writer{fast, fast, slow, fast, fast, fast}
	_, err := p.Encode(ctx, bytes.NewReader(randomBytes(41, size)), size, ws, p.Total())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("encode = %v, want cancellation", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got != 5*encodeDepth {
		t.Fatalf("fast shards took %d blocks while one shard was stuck, want %d", got, 5*encodeDepth)
	}
}

// scriptedReader plays back a list of Read results.
type scriptedReader []struct {
	data string
	err  error
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	if len(*s) == 0 {
		return 0, io.EOF
	}
	step := (*s)[0]
	*s = (*s)[1:]
	return copy(p, step.data), step.err
}

func TestReadFull(t *testing.T) {
	errBad := errors.New("bad block")
	type step = struct {
		data string
		err  error
	}
	tests := []struct {
		name    string
		steps   scriptedReader
		wantN   int
		wantErr error
	}{
		{"in pieces", scriptedReader{{"ab", nil}, {"cd", nil}}, 4, nil},
		{"eof with the last bytes", scriptedReader{{"abcd", io.EOF}}, 4, nil},
		{"short", scriptedReader{{"ab", nil}, {"", io.EOF}}, 2, io.ErrUnexpectedEOF},
		{"empty", scriptedReader{}, 0, io.ErrUnexpectedEOF},
		{"error with the last bytes", scriptedReader{{"ab", nil}, {"cd", errBad}}, 4, errBad},
		{"error midway", scriptedReader{{"a", errBad}}, 1, errBad},
		{"no progress", scriptedReader(slices.Repeat([]step{{"", nil}}, 200)), 0, io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 4)
			n, err := readFull(&tt.steps, buf)
			if n != tt.wantN || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("readFull = %d, %v; want %d, %v", n, err, tt.wantN, tt.wantErr)
			}
		})
	}
}
