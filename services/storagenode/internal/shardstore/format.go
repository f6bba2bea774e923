package shardstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// On-disk layout of a shard file:
//
//	header (HeaderSize bytes)
//	block 0 data (BlockSize bytes) | CRC32C of block 0 (4 bytes, little endian)
//	block 1 data ...               | CRC32C of block 1
//	...
//	last block data (1..BlockSize bytes) | its CRC32C
//
// Interleaving the checksums with the data lets a writer stream a shard in one
// pass and lets a reader find and verify any block with one read.
//
// Header (little endian):
//
//	[0:8]   magic "ANVILSHD"
//	[8:10]  format version (1)
//	[10:12] flags (0)
//	[12:16] block size in bytes
//	[16:24] logical shard size in bytes
//	[24:28] reserved (0)
//	[28:32] CRC32C of bytes [0:28]
const (
	// HeaderSize is the length of the shard file header.
	HeaderSize = 32
	// DefaultBlockSize is the checksum block size new shards are written with.
	DefaultBlockSize = 64 << 10
	// MaxBlockSize bounds the block size a reader accepts, and so the memory
	// one read holds.
	MaxBlockSize = 1 << 20
	// MaxShardSize bounds a shard's logical size, far below where file
	// offsets could overflow.
	MaxShardSize = 1 << 44

	magic         = "ANVILSHD"
	formatVersion = 1
	checksumSize  = 4
)

// Header is the fixed-size prefix of a shard file.
type Header struct {
	Version   uint16
	BlockSize uint32
	Size      int64
}

func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// AppendBinary appends the encoded header to b.
func (h Header) AppendBinary(b []byte) ([]byte, error) {
	var buf [HeaderSize]byte
	copy(buf[0:8], magic)
	binary.LittleEndian.PutUint16(buf[8:10], h.Version)
	binary.LittleEndian.PutUint32(buf[12:16], h.BlockSize)
	binary.LittleEndian.PutUint64(buf[16:24], uint64(h.Size))
	binary.LittleEndian.PutUint32(buf[28:32], crc32.Checksum(buf[:28], castagnoli()))
	return append(b, buf[:]...), nil
}

// ParseHeader decodes and checks a shard file header. Every failure wraps
// ErrCorrupt: a header is only ever read back from disk.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("parse header: %d bytes, want %d: %w", len(b), HeaderSize, ErrCorrupt)
	}
	b = b[:HeaderSize]
	if string(b[0:8]) != magic {
		return Header{}, fmt.Errorf("parse header: bad magic: %w", ErrCorrupt)
	}
	if got, want := crc32.Checksum(b[:28], castagnoli()), binary.LittleEndian.Uint32(b[28:32]); got != want {
		return Header{}, fmt.Errorf("parse header: checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	h := Header{
		Version:   binary.LittleEndian.Uint16(b[8:10]),
		BlockSize: binary.LittleEndian.Uint32(b[12:16]),
	}
	if h.Version != formatVersion {
		return Header{}, fmt.Errorf("parse header: unknown version %d: %w", h.Version, ErrCorrupt)
	}
	if flags := binary.LittleEndian.Uint16(b[10:12]); flags != 0 {
		return Header{}, fmt.Errorf("parse header: unknown flags %#x: %w", flags, ErrCorrupt)
	}
	if reserved := binary.LittleEndian.Uint32(b[24:28]); reserved != 0 {
		return Header{}, fmt.Errorf("parse header: reserved bytes set: %w", ErrCorrupt)
	}
	if h.BlockSize == 0 || h.BlockSize > MaxBlockSize {
		return Header{}, fmt.Errorf("parse header: block size %d: %w", h.BlockSize, ErrCorrupt)
	}
	size := binary.LittleEndian.Uint64(b[16:24])
	if size > MaxShardSize {
		return Header{}, fmt.Errorf("parse header: size %d: %w", size, ErrCorrupt)
	}
	h.Size = int64(size)
	return h, nil
}

// blocks returns the number of checksum blocks.
func (h Header) blocks() int64 {
	bs := int64(h.BlockSize)
	return (h.Size + bs - 1) / bs
}

// fileSize returns the exact length of a well-formed shard file.
func (h Header) fileSize() int64 {
	return HeaderSize + h.Size + checksumSize*h.blocks()
}

// blockOffset returns the file offset of block i.
func (h Header) blockOffset(i int64) int64 {
	return HeaderSize + i*(int64(h.BlockSize)+checksumSize)
}

// blockLen returns the number of data bytes in block i.
func (h Header) blockLen(i int64) int64 {
	return min(int64(h.BlockSize), h.Size-i*int64(h.BlockSize))
}
