// Package fake holds in-memory stand-ins for the gateway's dependencies (a
// shard store, the metadata service, the membership view) for unit tests.
// Integration tests use the real services.
package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
)

// ErrDown is what a node marked down answers.
var ErrDown = errors.New("fake: storage node down")

// Shards is an in-memory datapath.Shards: one map of shards per node
// address, with failure injection.
type Shards struct {
	mu      sync.Mutex
	nodes   map[string]map[string][]byte // addr -> shard id -> bytes
	down    map[string]bool
	failGet map[string]int64 // addr -> bytes served before a read error
	open    int              // uploads neither committed nor aborted
	aborted int
}

// NewShards returns an empty store.
func NewShards() *Shards {
	return &Shards{nodes: map[string]map[string][]byte{}, down: map[string]bool{}, failGet: map[string]int64{}}
}

// SetDown marks the node at addr down (true) or up.
func (s *Shards) SetDown(addr string, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[addr] = down
}

// FailReadsAfter makes reads from addr fail after n bytes of each stream;
// n < 0 clears it.
func (s *Shards) FailReadsAfter(addr string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 {
		delete(s.failGet, addr)
		return
	}
	s.failGet[addr] = n
}

// Count returns how many shards are stored in all.
func (s *Shards) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.nodes {
		n += len(m)
	}
	return n
}

// Open returns how many uploads are still in flight (neither committed nor
// aborted): after a request it must be 0.
func (s *Shards) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// Aborted returns how many uploads were aborted.
func (s *Shards) Aborted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// ShardIDs returns the shard ids stored on addr, sorted.
func (s *Shards) ShardIDs(addr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.nodes[addr] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// PutShard implements datapath.Shards.
func (s *Shards) PutShard(ctx context.Context, addr, shardID string, size int64) (datapath.ShardWriter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down[addr] {
		return nil, fmt.Errorf("put shard %s on %s: %w", shardID, addr, ErrDown)
	}
	s.open++
	return &shardWriter{s: s, ctx: ctx, addr: addr, id: shardID, size: size}, nil
}

type shardWriter struct {
	s    *Shards
	ctx  context.Context
	addr string
	id   string
	size int64
	buf  bytes.Buffer
	done bool
}

func (w *shardWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	down := w.s.down[w.addr]
	w.s.mu.Unlock()
	if down {
		return 0, ErrDown
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	if int64(w.buf.Len()+len(p)) > w.size {
		return 0, fmt.Errorf("fake: shard %s overflows its size %d", w.id, w.size)
	}
	return w.buf.Write(p)
}

func (w *shardWriter) Commit() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.done {
		return errors.New("fake: upload already finished")
	}
	if w.s.down[w.addr] {
		return ErrDown
	}
	if int64(w.buf.Len()) != w.size {
		return fmt.Errorf("fake: shard %s got %d of %d bytes", w.id, w.buf.Len(), w.size)
	}
	w.done = true
	w.s.open--
	if w.s.nodes[w.addr] == nil {
		w.s.nodes[w.addr] = map[string][]byte{}
	}
	w.s.nodes[w.addr][w.id] = bytes.Clone(w.buf.Bytes())
	return nil
}

func (w *shardWriter) Abort() {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	w.s.open--
	w.s.aborted++
}

// GetShard implements datapath.Shards.
func (s *Shards) GetShard(ctx context.Context, addr, shardID string, offset, length int64) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down[addr] {
		return nil, fmt.Errorf("get shard %s on %s: %w", shardID, addr, ErrDown)
	}
	data, ok := s.nodes[addr][shardID]
	if !ok {
		return nil, fmt.Errorf("fake: shard %s not found on %s", shardID, addr)
	}
	if offset < 0 || length <= 0 || offset+length > int64(len(data)) {
		return nil, fmt.Errorf("fake: range %d+%d outside shard %s of %d bytes", offset, length, shardID, len(data))
	}
	var r io.Reader = bytes.NewReader(data[offset : offset+length])
	if n, ok := s.failGet[addr]; ok {
		r = io.MultiReader(io.LimitReader(r, n), errReader{fmt.Errorf("fake: read error on %s", addr)})
	}
	return io.NopCloser(r), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Nodes is a static datapath.NodeSource.
type Nodes struct {
	mu      sync.Mutex
	members []membership.Member
}

// NewNodes returns a view holding members.
func NewNodes(members ...membership.Member) *Nodes { return &Nodes{members: members} }

// StorageNodes returns n storage nodes of region spread over 3 zones, with
// addresses "node-<i>".
func StorageNodes(region string, n int) []membership.Member {
	var out []membership.Member
	for i := range n {
		out = append(out, membership.Member{
			ID:        fmt.Sprintf("node-%d", i),
			Role:      membership.RoleStorageNode,
			Region:    region,
			Zone:      fmt.Sprintf("zone-%d", i%3),
			GRPCAddr:  fmt.Sprintf("node-%d:7000", i),
			FreeBytes: 1 << 40,
		})
	}
	return out
}

// Remove drops the member with id from the view (it left the cluster).
func (n *Nodes) Remove(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, m := range n.members {
		if m.ID == id {
			n.members = append(n.members[:i:i], n.members[i+1:]...)
			return
		}
	}
}

// Add puts m into the view.
func (n *Nodes) Add(m membership.Member) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members = append(n.members, m)
}

// Members implements datapath.NodeSource.
func (n *Nodes) Members(role, region string) []membership.Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []membership.Member
	for _, m := range n.members {
		if (role == "" || m.Role == role) && (region == "" || m.Region == region) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup implements datapath.NodeSource.
func (n *Nodes) Lookup(role, id string) (membership.Member, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.members {
		if m.Role == role && m.ID == id {
			return m, true
		}
	}
	return membership.Member{}, false
}
