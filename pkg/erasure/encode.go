package erasure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// encodeDepth is how many stripes an Encode holds at once: one being read and encoded while
// the shard writers drain the others, so one slow shard does not stall the next stripe.
const encodeDepth = 3

// EncodeResult describes what Encode did.
type EncodeResult struct {
	Size   int64         // bytes read from r
	Failed map[int]error // shards whose writer failed or was nil, by index
}

// stripeBuf holds one encoded stripe: block i of every shard back to back.
type stripeBuf struct {
	data []byte
	refs atomic.Int32 // shard writers still to write their block
}

type blockRef struct {
	buf *stripeBuf
	bl  int
}

// encodeState is shared by Encode and its shard writers.
type encodeState struct {
	minOK   int
	free    chan *stripeBuf
	failure chan struct{} // a writer failed; Encode rechecks the quorum
	aborted atomic.Bool   // writers stop writing and only release buffers
	healthy atomic.Int32

	mu     sync.Mutex
	failed map[int]error
}

func (st *encodeState) release(b *stripeBuf) {
	if b.refs.Add(-1) == 0 {
		st.free <- b // never blocks: the channel holds every buffer there is
	}
}

func (st *encodeState) fail(i int, err error) {
	st.mu.Lock()
	st.failed[i] = err
	st.mu.Unlock()
	if int(st.healthy.Add(-1)) < st.minOK {
		st.aborted.Store(true) // the write is lost: stop the other shards early
	}
	select {
	case st.failure <- struct{}{}:
	default: // Encode already has a pending notice
	}
}

func (st *encodeState) result(size int64) EncodeResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	res := EncodeResult{Size: size, Failed: make(map[int]error, len(st.failed))}
	for i, err := range st.failed {
		res.Failed[i] = err
	}
	return res
}

// quorumErr reports a lost write quorum, or the cancellation that probably caused it.
func (st *encodeState) quorumErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if h := int(st.healthy.Load()); h < st.minOK {
		return fmt.Errorf("write shards: %d healthy, need %d: %w", h, st.minOK, ErrWriteQuorum)
	}
	return nil
}

// shardWriter owns one shard's writer and writes the blocks queued for it in order.
type shardWriter struct {
	index int
	w     io.Writer
	queue chan blockRef
	dead  atomic.Bool
}

func (sw *shardWriter) run(st *encodeState) {
	for ref := range sw.queue {
		if !sw.dead.Load() && !st.aborted.Load() {
			off := sw.index * ref.bl
			n, err := sw.w.Write(ref.buf.data[off : off+ref.bl])
			if err == nil && n != ref.bl {
				err = io.ErrShortWrite
			}
			if err != nil {
				// Dropped for good: a shard with a hole in it is worthless.
				sw.dead.Store(true)
				st.fail(sw.index, fmt.Errorf("write shard %d: %w", sw.index, err))
			}
		}
		st.release(ref.buf)
	}
}

// Encode reads exactly size bytes from r, erasure-codes them and writes shard i's blocks to
// shards[i]; len(shards) must be Total().
//
// A nil writer is a shard without a node: it counts as failed from the start. A writer whose
// Write fails is never written again and is recorded in the result. Encode returns an error
// wrapping ErrWriteQuorum as soon as fewer than minOK writers are healthy. Reading fewer than
// size bytes gives an error wrapping io.ErrUnexpectedEOF; Encode never reads past size. Other
// errors from r, and ctx cancellation, abort the encode.
//
// Each shard is written by its own goroutine and at most a few stripes are held in memory.
// Writers must return promptly once ctx is cancelled (as gRPC streams bound to ctx do):
// Encode waits for all of its goroutines before it returns.
func (p Params) Encode(ctx context.Context, r io.Reader, size int64, shards []io.Writer, minOK int) (EncodeResult, error) {
	if err := p.Validate(); err != nil {
		return EncodeResult{}, err
	}
	switch {
	case len(shards) != p.Total():
		return EncodeResult{}, fmt.Errorf("erasure: got %d shard writers, need %d", len(shards), p.Total())
	case minOK < 1 || minOK > p.Total():
		return EncodeResult{}, fmt.Errorf("erasure: write quorum must be between 1 and %d, got %d", p.Total(), minOK)
	case size < 0:
		return EncodeResult{}, fmt.Errorf("erasure: negative object size %d", size)
	case r == nil:
		return EncodeResult{}, errors.New("erasure: nil object reader")
	}
	enc, err := p.newCoder()
	if err != nil {
		return EncodeResult{}, err
	}

	st := &encodeState{
		minOK:   minOK,
		free:    make(chan *stripeBuf, encodeDepth),
		failure: make(chan struct{}, 1),
		failed:  make(map[int]error),
	}
	writers := make([]*shardWriter, 0, len(shards))
	for i, w := range shards {
		if w == nil {
			st.failed[i] = fmt.Errorf("shard %d: %w", i, ErrNoWriter)
			continue
		}
		writers = append(writers, &shardWriter{index: i, w: w, queue: make(chan blockRef, encodeDepth)})
	}
	st.healthy.Store(int32(len(writers)))
	if err := st.quorumErr(ctx); err != nil {
		return st.result(0), err
	}
	if size == 0 {
		return st.result(0), nil
	}

	var wg sync.WaitGroup
	for _, sw := range writers {
		wg.Go(func() { sw.run(st) })
	}
	stopped := false
	stop := func(abort bool) {
		if stopped {
			return
		}
		stopped = true
		if abort {
			st.aborted.Store(true)
		}
		for _, sw := range writers {
			close(sw.queue)
		}
		wg.Wait()
	}
	defer stop(true)

	l := p.layout(size)
	k := p.DataShards
	total := p.Total()
	bufBlock := int(l.maxBlockLen())
	allocated := 0
	var read int64
	blocks := make([][]byte, total)
	live := make([]*shardWriter, 0, len(writers))
	for s := int64(0); s < l.stripes; s++ {
		var buf *stripeBuf
		for buf == nil {
			if err := st.quorumErr(ctx); err != nil {
				stop(true)
				return st.result(read), err
			}
			select {
			case buf = <-st.free:
				continue
			default:
			}
			if allocated < encodeDepth {
				allocated++
				buf = &stripeBuf{data: make([]byte, total*bufBlock)}
				continue
			}
			select {
			case buf = <-st.free:
			case <-st.failure:
			case <-ctx.Done():
				stop(true)
				return st.result(read), fmt.Errorf("encode: %w", ctx.Err())
			}
		}
		if err := st.quorumErr(ctx); err != nil {
			stop(true)
			return st.result(read), err
		}

		n := l.dataLen(s)
		bl := int(l.blockLen(s))
		got, err := readFull(r, buf.data[:n])
		read += int64(got)
		if err != nil {
			stop(true)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return st.result(read), fmt.Errorf("read object: got %d of %d bytes: %w", read, size, io.ErrUnexpectedEOF)
			}
			return st.result(read), fmt.Errorf("read object: %w", err)
		}
		clear(buf.data[n : k*bl]) // padding of the last, partial stripe
		for i := range blocks {
			blocks[i] = buf.data[i*bl : (i+1)*bl]
		}
		if err := enc.Encode(blocks); err != nil {
			stop(true)
			return st.result(read), fmt.Errorf("encode stripe %d: %w", s, err)
		}

		live = live[:0]
		for _, sw := range writers {
			if !sw.dead.Load() {
				live = append(live, sw)
			}
		}
		if len(live) == 0 {
			st.free <- buf
			continue
		}
		buf.refs.Store(int32(len(live)))
		for _, sw := range live {
			sw.queue <- blockRef{buf: buf, bl: bl} // never blocks: a writer holds at most every buffer
		}
	}

	// Wait for the queued blocks, giving up early on cancellation.
	done := make(chan struct{})
	go func() {
		stop(false)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		st.aborted.Store(true)
		<-done
		return st.result(read), fmt.Errorf("encode: %w", ctx.Err())
	}
	return st.result(read), st.quorumErr(ctx)
}
