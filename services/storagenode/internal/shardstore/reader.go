package shardstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// Reader streams a byte range of one shard, verifying every block it
// touches. It holds one block in memory.
type Reader struct {
	f       *os.File
	id      string
	hdr     Header
	modTime time.Time

	pos, end int64  // logical: next byte to return, end of the range
	block    []byte // block buffer: data then checksum
	data     []byte // verified data of the loaded block
	dataOff  int64  // logical offset of data[0]
}

// NewReader opens the range [off, off+length) of a shard; length <= 0 means
// to the end, and a range past the end is clamped. An offset beyond the end
// fails with ErrOutOfRange. The header and the file length are checked here,
// so a truncated shard fails before any data is returned.
func (s *Store) NewReader(id string, off, length int64) (*Reader, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("read shard %s: negative offset %d: %w", id, off, ErrInvalidArgument)
	}
	f, err := s.openShard(id)
	if err != nil {
		return nil, err
	}
	r, err := newReader(f, id)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if off > r.hdr.Size {
		_ = f.Close()
		return nil, fmt.Errorf("read shard %s: offset %d beyond size %d: %w", id, off, r.hdr.Size, ErrOutOfRange)
	}
	r.pos, r.end = off, r.hdr.Size
	if length > 0 && length < r.hdr.Size-off {
		r.end = off + length
	}
	return r, nil
}

func newReader(f *os.File, id string) (*Reader, error) {
	var buf [HeaderSize]byte
	if _, err := f.ReadAt(buf[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read shard %s: short header: %w", id, ErrCorrupt)
		}
		return nil, fmt.Errorf("read shard %s header: %w", id, err)
	}
	hdr, err := ParseHeader(buf[:])
	if err != nil {
		return nil, fmt.Errorf("read shard %s: %w", id, err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat shard %s: %w", id, err)
	}
	if st.Size() != hdr.fileSize() {
		return nil, fmt.Errorf("read shard %s: file is %d bytes, header implies %d: %w", id, st.Size(), hdr.fileSize(), ErrCorrupt)
	}
	return &Reader{f: f, id: id, hdr: hdr, modTime: st.ModTime()}, nil
}

// ShardSize returns the size of the whole shard.
func (r *Reader) ShardSize() int64 { return r.hdr.Size }

// Len returns the number of bytes left in the range.
func (r *Reader) Len() int64 { return r.end - r.pos }

// ModTime returns when the shard was written.
func (r *Reader) ModTime() time.Time { return r.modTime }

// Read reads from the range. A checksum mismatch returns an error wrapping
// ErrCorrupt.
func (r *Reader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if r.data == nil || r.pos < r.dataOff || r.pos >= r.dataOff+int64(len(r.data)) {
		if err := r.loadBlock(r.pos / int64(r.hdr.BlockSize)); err != nil {
			return 0, err
		}
	}
	start := r.pos - r.dataOff
	n := copy(p, r.data[start:min(int64(len(r.data)), r.end-r.dataOff)])
	r.pos += int64(n)
	return n, nil
}

// loadBlock reads block i and verifies its checksum.
func (r *Reader) loadBlock(i int64) error {
	n := r.hdr.blockLen(i)
	if r.block == nil {
		r.block = make([]byte, min(int64(r.hdr.BlockSize), r.hdr.Size)+checksumSize)
	}
	buf := r.block[:n+checksumSize]
	if _, err := r.f.ReadAt(buf, r.hdr.blockOffset(i)); err != nil {
		r.data = nil
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("read shard %s block %d: short read: %w", r.id, i, ErrCorrupt)
		}
		return fmt.Errorf("read shard %s block %d: %w", r.id, i, err)
	}
	data := buf[:n]
	if got, want := crc32.Checksum(data, castagnoli()), binary.LittleEndian.Uint32(buf[n:]); got != want {
		r.data = nil
		return fmt.Errorf("read shard %s block %d: checksum %08x, want %08x: %w", r.id, i, got, want, ErrCorrupt)
	}
	r.data, r.dataOff = data, i*int64(r.hdr.BlockSize)
	return nil
}

// Close closes the shard file.
func (r *Reader) Close() error { return r.f.Close() }
