package shardstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"
)

// writeBufferSize is the buffer between a writer and its temp file.
const writeBufferSize = 256 << 10

// Result describes a committed shard.
type Result struct {
	Size   int64
	CRC32C uint32 // of the whole shard's data
}

// Writer writes one shard to a temp file; Commit makes it durable and
// visible under its id, Abort removes it. A Writer is not safe for
// concurrent use; always call Abort (a no-op after Commit) when done.
type Writer struct {
	s   *Store
	id  string
	dir *dataDir
	hdr Header

	f   *os.File
	tmp string // temp file path until renamed
	bw  *bufio.Writer
	tab *crc32.Table

	written   int64
	blockFill int64
	blockCRC  uint32
	crc       uint32
	err       error // sticky
	done      bool
}

// Create starts writing shard id of exactly size bytes. The shard goes to
// the first dir in the id's lookup order that has room for it and accepts a
// new file.
func (s *Store) Create(id string, size int64) (*Writer, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if size < 0 || size > MaxShardSize {
		return nil, fmt.Errorf("create shard %s: size %d outside [0, %d]: %w", id, size, int64(MaxShardSize), ErrInvalidArgument)
	}
	hdr := Header{Version: formatVersion, BlockSize: DefaultBlockSize, Size: size}
	var errs []error
	for _, d := range s.order(id) {
		if _, _, free, err := statfs(d.path); err != nil {
			errs = append(errs, err)
			continue
		} else if free < uint64(hdr.fileSize()) {
			errs = append(errs, fmt.Errorf("%s has %d bytes free: %w", d.path, free, ErrNoSpace))
			continue
		}
		f, err := os.CreateTemp(d.shardDir(id), tmpPrefix+id+".*")
		if err != nil {
			errs = append(errs, err)
			s.log.Warn("create temp shard file", "dir", d.path, "err", err)
			continue
		}
		w := &Writer{s: s, id: id, dir: d, hdr: hdr, f: f, tmp: f.Name(), bw: bufio.NewWriterSize(f, writeBufferSize), tab: castagnoli()}
		b, _ := hdr.AppendBinary(nil)
		if _, err := w.bw.Write(b); err != nil {
			w.Abort()
			return nil, fmt.Errorf("create shard %s: %w", id, err)
		}
		return w, nil
	}
	err := errors.Join(errs...)
	if allNoSpace(errs) {
		return nil, fmt.Errorf("create shard %s: %w", id, err)
	}
	return nil, fmt.Errorf("create shard %s: no usable data dir: %w", id, err)
}

func allNoSpace(errs []error) bool {
	for _, err := range errs {
		if !errors.Is(err, ErrNoSpace) {
			return false
		}
	}
	return len(errs) > 0
}

// Write appends data. Writing past the declared size fails with
// ErrSizeMismatch.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, fmt.Errorf("write shard %s: writer closed: %w", w.id, ErrInvalidArgument)
	}
	if int64(len(p)) > w.hdr.Size-w.written {
		return 0, w.fail(fmt.Errorf("write shard %s: more than the declared %d bytes: %w", w.id, w.hdr.Size, ErrSizeMismatch))
	}
	total := len(p)
	bs := int64(w.hdr.BlockSize)
	for len(p) > 0 {
		n := min(int64(len(p)), bs-w.blockFill)
		chunk := p[:n]
		w.blockCRC = crc32.Update(w.blockCRC, w.tab, chunk)
		w.crc = crc32.Update(w.crc, w.tab, chunk)
		if _, err := w.bw.Write(chunk); err != nil {
			return 0, w.fail(w.wrapIO("write", err))
		}
		w.blockFill += n
		w.written += n
		p = p[n:]
		if w.blockFill == bs {
			if err := w.endBlock(); err != nil {
				return 0, err
			}
		}
	}
	return total, nil
}

func (w *Writer) endBlock() error {
	var sum [checksumSize]byte
	binary.LittleEndian.PutUint32(sum[:], w.blockCRC)
	if _, err := w.bw.Write(sum[:]); err != nil {
		return w.fail(w.wrapIO("write", err))
	}
	w.blockFill, w.blockCRC = 0, 0
	return nil
}

func (w *Writer) wrapIO(op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%s shard %s: %w: %w", op, w.id, ErrNoSpace, err)
	}
	return fmt.Errorf("%s shard %s: %w", op, w.id, err)
}

func (w *Writer) fail(err error) error {
	w.err = err
	return err
}

// Commit makes the shard durable and visible: flush, fsync, rename over any
// previous version, fsync the directory. Only after Commit returns nil may
// the write be acknowledged. On error nothing of this write is left behind.
func (w *Writer) Commit() (Result, error) {
	if w.done {
		return Result{}, fmt.Errorf("commit shard %s: writer closed: %w", w.id, ErrInvalidArgument)
	}
	if w.err != nil {
		w.Abort()
		return Result{}, w.err
	}
	if w.written != w.hdr.Size {
		w.Abort()
		return Result{}, fmt.Errorf("commit shard %s: got %d bytes, declared %d: %w", w.id, w.written, w.hdr.Size, ErrSizeMismatch)
	}
	if w.blockFill > 0 {
		if err := w.endBlock(); err != nil {
			w.Abort()
			return Result{}, err
		}
	}
	if err := w.bw.Flush(); err != nil {
		w.Abort()
		return Result{}, w.wrapIO("flush", err)
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return Result{}, w.wrapIO("sync", err)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		w.Abort()
		return Result{}, w.wrapIO("close", err)
	}
	dirs, err := w.s.install(w.id, w.tmp, w.dir)
	if err != nil {
		w.Abort()
		return Result{}, err
	}
	w.tmp, w.done = "", true
	var errs []error
	for _, dir := range dirs {
		errs = append(errs, syncDir(dir))
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, fmt.Errorf("commit shard %s: %w", w.id, err)
	}
	return Result{Size: w.written, CRC32C: w.crc}, nil
}

// install renames the temp file into place and removes copies of the id in
// other dirs, under the id's lock. It returns the dirs to fsync.
func (s *Store) install(id, tmp string, d *dataDir) ([]string, error) {
	mu := s.lockFor(id)
	mu.Lock()
	defer mu.Unlock()
	existed := s.exists(id)
	if err := os.Rename(tmp, d.shardPath(id)); err != nil {
		return nil, fmt.Errorf("commit shard %s: %w", id, err)
	}
	if !existed {
		s.shards.Add(1)
	}
	dirs := []string{d.shardDir(id)}
	for _, o := range s.dirs {
		if o == d {
			continue
		}
		// A stale copy in a dir that comes earlier in lookup order would
		// shadow the new shard, so it must go before the write is acked.
		err := os.Remove(o.shardPath(id))
		if err == nil {
			dirs = append(dirs, o.shardDir(id))
		} else if !isAbsent(err) {
			return nil, fmt.Errorf("commit shard %s: remove old copy: %w", id, err)
		}
	}
	return dirs, nil
}

// Abort discards the write and removes its temp file. It is a no-op after
// Commit or a previous Abort.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	if w.tmp != "" {
		_ = os.Remove(w.tmp)
		w.tmp = ""
	}
}

// Put writes shard id from r, which must yield exactly size bytes, and
// commits it.
func (s *Store) Put(ctx context.Context, id string, size int64, r io.Reader) (Result, error) {
	w, err := s.Create(id, size)
	if err != nil {
		return Result{}, err
	}
	defer w.Abort()
	buf := make([]byte, writeBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("put shard %s: %w", id, err)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return Result{}, err
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return Result{}, fmt.Errorf("put shard %s: read data: %w", id, rerr)
		}
	}
	return w.Commit()
}
