package erasure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkGoroutines fails the test if it leaves more goroutines behind than it found.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for range 200 { // settle: exited goroutines take a moment to be accounted for
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", before, now, buf[:runtime.Stack(buf, true)])
	})
}

func randomBytes(seed uint64, n int64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// encodeAll encodes data into in-memory shards and checks their sizes.
func encodeAll(t testing.TB, p Params, data []byte) [][]byte {
	t.Helper()
	bufs := make([]*bytes.Buffer, p.Total())
	ws := make([]io.Writer, p.Total())
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		ws[i] = bufs[i]
	}
	res, err := p.Encode(context.Background(), bytes.NewReader(data), int64(len(data)), ws, p.Total())
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if res.Size != int64(len(data)) || len(res.Failed) != 0 {
		t.Fatalf("encode result: %+v", res)
	}
	shards := make([][]byte, p.Total())
	for i, b := range bufs {
		shards[i] = b.Bytes()
		if got, want := int64(len(shards[i])), p.ShardSize(int64(len(data))); got != want {
			t.Fatalf("shard %d: %d bytes, want %d", i, got, want)
		}
	}
	return shards
}

type faultKind int

const (
	faultNone    faultKind = iota
	faultOpen              // open fails
	faultError             // Read fails at the fault offset
	faultShort             // the stream ends early at the fault offset
	faultHang              // Read blocks at the fault offset until the open ctx ends
	faultCorrupt           // Read returns garbage along with a checksum error at the fault offset
)

func (k faultKind) String() string {
	return [...]string{"none", "open", "error", "short", "hang", "corrupt"}[k]
}

var errChecksum = errors.New("checksum mismatch")

type fault struct {
	kind faultKind
	at   int64 // offset into the shard at which the fault strikes
}

// store serves in-memory shards with injected faults and tracks open readers.
type store struct {
	t      testing.TB
	shards [][]byte
	faults map[int]fault
	hung   chan int               // told of each reader that starts hanging, if not nil
	timers map[int]chan time.Time // closed when shard i's reader starts hanging
	once   map[int]*sync.Once

	mu     sync.Mutex
	opens  map[int]int // opens per shard
	live   int         // readers not yet closed
	ranges []string
}

func newStore(t testing.TB, shards [][]byte, faults map[int]fault) *store {
	s := &store{t: t, shards: shards, faults: faults, opens: map[int]int{},
		timers: map[int]chan time.Time{}, once: map[int]*sync.Once{}}
	for i, f := range faults {
		if f.kind == faultHang {
			s.timers[i] = make(chan time.Time)
			s.once[i] = new(sync.Once)
		}
	}
	return s
}

// after is a DecodeOptions.after whose wait for shard i ends only once shard i hangs: the
// tests' healthy shards never time out, however loaded the machine is.
func (s *store) after(i int, _ time.Duration) <-chan time.Time {
	return s.timers[i] // nil, never ready, for shards that do not hang
}

func (s *store) hanging(i int) {
	if s.hung != nil {
		s.hung <- i
	}
	if o := s.once[i]; o != nil {
		o.Do(func() { close(s.timers[i]) })
	}
}

func (s *store) open(ctx context.Context, index int, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if index < 0 || index >= len(s.shards) || offset < 0 || length <= 0 || offset+length > int64(len(s.shards[index])) {
		s.t.Errorf("open shard %d [%d, +%d): outside shard of %d bytes", index, offset, length, len(s.shards[index]))
		return nil, errors.New("bad range")
	}
	f := s.faults[index]
	if f.kind == faultOpen {
		return nil, errors.New("node unreachable")
	}
	s.mu.Lock()
	s.opens[index]++
	s.live++
	s.ranges = append(s.ranges, fmt.Sprintf("%d:[%d,+%d)", index, offset, length))
	s.mu.Unlock()
	return &faultyReader{ctx: ctx, s: s, index: index, data: s.shards[index][offset : offset+length], pos: offset, f: f}, nil
}

func (s *store) checkClosed(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live != 0 {
		t.Errorf("%d shard readers left open", s.live)
	}
}

type faultyReader struct {
	ctx    context.Context
	s      *store
	index  int
	data   []byte
	pos    int64 // shard offset of data[0]
	f      fault
	closed atomic.Bool
}

func (r *faultyReader) Read(p []byte) (int, error) {
	if r.closed.Load() {
		return 0, errors.New("read after close")
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if n > len(r.data) {
		n = len(r.data)
	}
	if r.f.kind != faultNone && r.pos+int64(n) > r.f.at {
		n = max(int(r.f.at-r.pos), 0)
		if n == 0 {
			switch r.f.kind {
			case faultError:
				return 0, errors.New("disk i/o error")
			case faultShort:
				return 0, io.EOF
			case faultHang:
				r.s.hanging(r.index)
				<-r.ctx.Done()
				return 0, r.ctx.Err()
			case faultCorrupt:
				m := min(len(p), len(r.data))
				for i := range m {
					p[i] = ^r.data[i]
				}
				return m, errChecksum
			}
		}
	}
	copy(p, r.data[:n])
	r.data = r.data[n:]
	r.pos += int64(n)
	return n, nil
}

func (r *faultyReader) Close() error {
	if r.closed.Swap(true) {
		r.s.t.Errorf("shard %d reader closed twice", r.index)
		return nil
	}
	r.s.mu.Lock()
	r.s.live--
	r.s.mu.Unlock()
	return nil
}

// errWriter fails every Write after the first ok bytes.
type errWriter struct {
	ok      int
	written int
}

var errDiskFull = errors.New("disk full")

func (w *errWriter) Write(p []byte) (int, error) {
	if w.written+len(p) > w.ok {
		return 0, errDiskFull
	}
	w.written += len(p)
	return len(p), nil
}
