package erasure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/reedsolomon"
)

// DefaultBlockTimeout is used when DecodeOptions.BlockTimeout is 0.
const DefaultBlockTimeout = 30 * time.Second

// fetchDepth is how many blocks a shard reader may read ahead of the stripe being written.
const fetchDepth = 2

// ShardOpener opens the byte range [offset, offset+length) of shard index. The reader must
// return from a blocked Read once ctx is cancelled: readers are only ever closed by the
// goroutine reading them, after Read has returned.
type ShardOpener func(ctx context.Context, index int, offset, length int64) (io.ReadCloser, error)

// DecodeOptions tune Decode and Reconstruct.
type DecodeOptions struct {
	// BlockTimeout bounds the wait for one block from one shard; a shard that takes longer is
	// treated as failed (0 = 30s).
	BlockTimeout time.Duration
	// OnShardError, when not nil, is told once of each shard that failed (for repair queuing).
	// It is called from the goroutine that called Decode or Reconstruct.
	OnShardError func(index int, err error)

	// after replaces time.After in tests: it starts the wait for a block from shard index.
	after func(index int, d time.Duration) <-chan time.Time
}

// Decode writes bytes [offset, offset+length) of an object of size bytes to w.
//
// It reads only the stripes the range needs, opening each data shard once for the contiguous
// part of it that holds the range, and reads the data shards in parallel without decoding.
// A shard that fails to open, errors, returns short data or takes longer than BlockTimeout for
// a block is closed and dropped; parity (or further data) shards are then opened from the
// current stripe on and the stripe is reconstructed. Fewer than k usable shards for a stripe
// gives an error wrapping ErrNotEnoughShards. A stripe's bytes are written only once all of
// them are known, so w never receives wrong bytes; an error from w is returned as is.
// All readers are closed and all goroutines have exited when Decode returns.
func (p Params) Decode(ctx context.Context, size, offset, length int64, open ShardOpener, w io.Writer, opts DecodeOptions) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := checkRange(size, offset, length); err != nil {
		return err
	}
	if open == nil || w == nil {
		return errors.New("erasure: nil shard opener or writer")
	}
	if length == 0 {
		return nil
	}
	l := p.layout(size)
	end := offset + length
	first, last := l.stripeRange(offset, end)
	d, err := p.newDecoder(ctx, l, last, open, opts)
	if err != nil {
		return err
	}
	defer d.close()

	// Open the data shards up front so that they are read in parallel from the start.
	for i := range p.DataShards {
		if a, b, ok := l.shardStripes(i, offset, end); ok {
			d.start(i, a, b)
		}
	}
	for s := first; s <= last; s++ {
		for i := range p.DataShards {
			d.want[i] = l.wants(i, s, offset, end)
		}
		if err := d.stripe(s); err != nil {
			return err
		}
		for i := range p.DataShards {
			if !d.want[i] {
				continue
			}
			from, to := l.piece(i, s, offset, end)
			if _, err := w.Write(d.blocks[i][from:to]); err != nil {
				return err
			}
		}
		d.release()
	}
	return nil
}

// Reconstruct rebuilds the whole of shard target of an object of size bytes from the other
// shards and writes it to w, as the repair worker needs. It reads from any k healthy shards
// other than target, replacing failed ones as Decode does.
func (p Params) Reconstruct(ctx context.Context, size int64, target int, open ShardOpener, w io.Writer, opts DecodeOptions) error {
	if err := p.Validate(); err != nil {
		return err
	}
	switch {
	case size < 0:
		return fmt.Errorf("erasure: negative object size %d", size)
	case target < 0 || target >= p.Total():
		return fmt.Errorf("erasure: target shard %d outside [0, %d)", target, p.Total())
	case open == nil || w == nil:
		return errors.New("erasure: nil shard opener or writer")
	}
	if size == 0 {
		return nil
	}
	l := p.layout(size)
	d, err := p.newDecoder(ctx, l, l.stripes-1, open, opts)
	if err != nil {
		return err
	}
	defer d.close()

	d.failed[target] = true // never read the shard being rebuilt
	d.errs[target] = errors.New("shard being reconstructed")
	d.want[target] = true
	for s := range l.stripes {
		if err := d.stripe(s); err != nil {
			return err
		}
		if _, err := w.Write(d.blocks[target]); err != nil {
			return err
		}
		d.release()
	}
	return nil
}

// decoder reads stripes from shard fetchers. It is used by one goroutine; only the fetchers
// run concurrently with it.
type decoder struct {
	ctx     context.Context
	l       layout
	k       int
	total   int
	last    int64 // last stripe of the operation
	open    ShardOpener
	opts    DecodeOptions
	coder   reedsolomon.Encoder
	wg      sync.WaitGroup
	fetch   []*fetcher // current fetcher of each shard, nil if none
	failed  []bool
	errs    []error
	want    []bool     // shards whose block of the current stripe is needed
	blocks  [][]byte   // blocks of the current stripe, nil if not (yet) read
	owner   []*fetcher // fetcher each block came from, nil for reconstructed ones
	scratch [][]byte   // reconstruction buffers
	shards  [][]byte
	direct  []int
}

func (p Params) newDecoder(ctx context.Context, l layout, last int64, open ShardOpener, opts DecodeOptions) (*decoder, error) {
	coder, err := p.newCoder()
	if err != nil {
		return nil, err
	}
	if opts.BlockTimeout <= 0 {
		opts.BlockTimeout = DefaultBlockTimeout
	}
	if opts.after == nil {
		opts.after = func(_ int, d time.Duration) <-chan time.Time { return time.After(d) }
	}
	n := p.Total()
	return &decoder{
		ctx:     ctx,
		l:       l,
		k:       p.DataShards,
		total:   n,
		last:    last,
		open:    open,
		opts:    opts,
		coder:   coder,
		fetch:   make([]*fetcher, n),
		failed:  make([]bool, n),
		errs:    make([]error, n),
		want:    make([]bool, n),
		blocks:  make([][]byte, n),
		owner:   make([]*fetcher, n),
		scratch: make([][]byte, n),
		shards:  make([][]byte, n),
		direct:  make([]int, 0, n),
	}, nil
}

// close stops every fetcher and waits for them; each closes its own reader.
func (d *decoder) close() {
	for i, f := range d.fetch {
		if f != nil {
			f.cancel()
			d.fetch[i] = nil
		}
	}
	d.wg.Wait()
}

// stripe fills d.blocks[i] for every wanted shard i of stripe s, reading them directly when it
// can and reconstructing them otherwise.
func (d *decoder) stripe(s int64) error {
	clear(d.blocks)
	clear(d.owner)
	direct := d.direct[:0]
	missing := false
	for i, ok := range d.want {
		switch {
		case !ok:
		case d.failed[i]:
			missing = true
		default:
			direct = append(direct, i)
		}
	}
	if err := d.read(s, direct); err != nil {
		return err
	}
	for _, i := range direct {
		if d.blocks[i] == nil {
			missing = true
		}
	}
	if !missing {
		return nil
	}

	// Degraded: gather any k blocks of this stripe, then rebuild the wanted ones.
	for {
		have := 0
		for _, b := range d.blocks {
			if b != nil {
				have++
			}
		}
		if have >= d.k {
			break
		}
		more := d.candidates(s, d.k-have)
		if len(more) < d.k-have {
			return d.notEnough(s, have+len(more))
		}
		if err := d.read(s, more); err != nil {
			return err
		}
	}
	bl := int(d.l.blockLen(s))
	for i := range d.shards {
		if d.blocks[i] != nil {
			d.shards[i] = d.blocks[i]
			continue
		}
		if cap(d.scratch[i]) < bl {
			d.scratch[i] = make([]byte, bl)
		}
		d.shards[i] = d.scratch[i][:0]
	}
	if err := d.coder.ReconstructSome(d.shards, d.want); err != nil {
		return fmt.Errorf("reconstruct stripe %d: %w", s, err)
	}
	for i, ok := range d.want {
		if ok && d.blocks[i] == nil {
			d.blocks[i] = d.shards[i][:bl]
		}
	}
	return nil
}

// read reads block s of each of the shards in parallel, dropping those that fail. The blocks
// are asked for at once, so they share one deadline.
func (d *decoder) read(s int64, shards []int) error {
	for _, i := range shards {
		d.ensure(i, s)
	}
	deadline := time.Now().Add(d.opts.BlockTimeout)
	for _, i := range shards {
		f := d.fetch[i]
		buf, err := d.recv(f, s, deadline)
		if err != nil {
			if cerr := d.ctx.Err(); cerr != nil {
				return fmt.Errorf("decode: %w", cerr)
			}
			d.drop(i, err)
			continue
		}
		d.blocks[i] = buf
		d.owner[i] = f
	}
	return nil
}

// candidates picks n more shards to read stripe s from: shards already open at s, then parity
// shards, then the other data shards.
func (d *decoder) candidates(s int64, n int) []int {
	var open, parity, data []int
	for i := range d.total {
		if d.failed[i] || d.blocks[i] != nil {
			continue
		}
		switch f := d.fetch[i]; {
		case f != nil && f.next <= s && s <= f.end:
			open = append(open, i)
		case i >= d.k:
			parity = append(parity, i)
		default:
			data = append(data, i)
		}
	}
	all := append(append(open, parity...), data...)
	return all[:min(n, len(all))]
}

func (d *decoder) notEnough(s int64, usable int) error {
	var causes []string
	for i, err := range d.errs {
		if err != nil {
			causes = append(causes, fmt.Sprintf("shard %d: %v", i, err))
		}
	}
	return fmt.Errorf("read stripe %d: %d of %d shards usable, need %d (%s): %w",
		s, usable, d.total, d.k, strings.Join(causes, "; "), ErrNotEnoughShards)
}

// ensure makes sure shard i has a fetcher that will deliver stripe s.
func (d *decoder) ensure(i int, s int64) {
	if f := d.fetch[i]; f != nil {
		if f.next <= s && s <= f.end {
			return
		}
		f.cancel()
	}
	d.start(i, s, d.last)
}

func (d *decoder) start(i int, a, b int64) {
	ctx, cancel := context.WithCancel(d.ctx)
	maxBlock := d.l.blockLen(a) // every block of a..b but the last is a full one
	f := &fetcher{
		index:  i,
		cancel: cancel,
		next:   a,
		end:    b,
		out:    make(chan fetched, fetchDepth),
		free:   make(chan []byte, fetchDepth),
	}
	d.fetch[i] = f
	d.wg.Go(func() { f.run(ctx, d.open, d.l, int(maxBlock)) })
}

// recv waits until deadline for block s from f, discarding earlier blocks.
func (d *decoder) recv(f *fetcher, s int64, deadline time.Time) ([]byte, error) {
	timeout := d.opts.after(f.index, time.Until(deadline))
	expired := false
	for {
		var (
			res fetched
			ok  bool
		)
		if expired {
			select {
			case res, ok = <-f.out: // a block that arrived in time wins over the timer
			default:
				return nil, fmt.Errorf("read shard %d stripe %d: no data within %v: %w",
					f.index, s, d.opts.BlockTimeout, ErrShardTimeout)
			}
		} else {
			select {
			case res, ok = <-f.out:
			case <-d.ctx.Done():
				return nil, d.ctx.Err()
			case <-timeout:
				expired = true
				continue
			}
		}
		switch {
		case !ok:
			return nil, fmt.Errorf("read shard %d: reader ended before stripe %d", f.index, s)
		case res.err != nil:
			return nil, res.err
		}
		f.next = res.stripe + 1
		if res.stripe == s {
			return res.buf, nil
		}
		f.give(res.buf)
	}
}

// drop gives up on shard i for the rest of the operation.
func (d *decoder) drop(i int, err error) {
	d.failed[i] = true
	d.errs[i] = err
	if f := d.fetch[i]; f != nil {
		f.cancel()
		d.fetch[i] = nil
	}
	if d.opts.OnShardError != nil {
		d.opts.OnShardError(i, err)
	}
}

// release hands the current stripe's buffers back to their fetchers.
func (d *decoder) release() {
	for i, f := range d.owner {
		if f != nil {
			f.give(d.blocks[i])
		}
	}
	clear(d.blocks)
	clear(d.owner)
}

type fetched struct {
	stripe int64
	buf    []byte
	err    error
}

// fetcher reads one shard's blocks of stripes next..end ahead of the decoder.
type fetcher struct {
	index  int
	cancel context.CancelFunc
	next   int64 // next stripe the decoder will receive; decoder-owned
	end    int64
	out    chan fetched
	free   chan []byte // buffers the decoder is done with
}

func (f *fetcher) give(buf []byte) {
	select {
	case f.free <- buf:
	default: // cannot happen: at most fetchDepth buffers exist
	}
}

func (f *fetcher) run(ctx context.Context, open ShardOpener, l layout, maxBlock int) {
	defer close(f.out)
	offset, length := l.span(f.next, f.end)
	rc, err := open(ctx, f.index, offset, length)
	if err == nil && rc == nil {
		err = errors.New("opener returned no reader")
	}
	if err != nil {
		f.send(ctx, fetched{err: fmt.Errorf("open shard %d: %w", f.index, err)})
		return
	}
	defer rc.Close() //nolint:errcheck // read path: nothing to lose
	allocated := 0
	for s := f.next; s <= f.end; s++ {
		var buf []byte
		select {
		case buf = <-f.free:
		default:
			if allocated < fetchDepth {
				allocated++
				buf = make([]byte, maxBlock)
				break
			}
			select {
			case buf = <-f.free:
			case <-ctx.Done():
				return
			}
		}
		buf = buf[:l.blockLen(s)]
		if _, err := readFull(rc, buf); err != nil {
			f.send(ctx, fetched{err: fmt.Errorf("read shard %d stripe %d: %w", f.index, s, err)})
			return
		}
		if !f.send(ctx, fetched{stripe: s, buf: buf}) {
			return
		}
	}
}

func (f *fetcher) send(ctx context.Context, r fetched) bool {
	select {
	case f.out <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// readFull fills buf from r. Unlike io.ReadFull it fails when the Read that completes buf also
// returns an error other than io.EOF: a checksum or signature error may come with the very
// bytes it condemns. A stream that ends early gives io.ErrUnexpectedEOF.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for empty := 0; n < len(buf); {
		m, err := r.Read(buf[n:])
		n += m
		if m == 0 && err == nil {
			if empty++; empty >= 100 {
				return n, io.ErrNoProgress
			}
			continue
		}
		empty = 0
		switch {
		case errors.Is(err, io.EOF) && n < len(buf):
			return n, io.ErrUnexpectedEOF
		case errors.Is(err, io.EOF):
			return n, nil
		case err != nil:
			return n, err
		}
	}
	return n, nil
}
