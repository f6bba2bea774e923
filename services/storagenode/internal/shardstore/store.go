// Package shardstore keeps shard files on a node's local data dirs: one file
// per shard, each block of data followed by its CRC32C, written through a
// temp file that is fsynced and renamed before a write is acknowledged.
//
// Layout of a data dir:
//
//	<dir>/lock                 flock'd while a process uses the dir
//	<dir>/node-id              the node's persistent identity
//	<dir>/shards/<xx>/<id>     shard files, xx = two hex digits of hash(id)
//	<dir>/shards/<xx>/.tmp.*   writes in progress (removed at start-up)
package shardstore

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	nodeIDFile  = "node-id"
	lockFile    = "lock"
	shardsDir   = "shards"
	tmpPrefix   = ".tmp."
	probePrefix = ".probe-"
	lockStripes = 64

	// DefaultListLimit and MaxListLimit bound one page of List.
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

// Options configures Open.
type Options struct {
	// Dirs are the data dirs. The first holds the node id; every dir is
	// stamped with it.
	Dirs []string
	// NodeID, when set, is the node's id; Open refuses dirs stamped with
	// another. When empty the stored id is used, or a new one generated.
	NodeID string
	Logger *slog.Logger
}

// Store is the set of shard files on one node's data dirs. It is safe for
// concurrent use.
type Store struct {
	dirs   []*dataDir
	nodeID string
	log    *slog.Logger

	// locks serialise the commit, delete and existence check of one id, so
	// that the shard count stays exact under concurrent writes.
	locks  [lockStripes]sync.Mutex
	shards atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

type dataDir struct {
	path string // absolute
	seed uint64 // hash of path, for rendezvous placement
	lock *os.File
}

// Info describes one shard.
type Info struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// Capacity is the node's disk capacity summed over its data dirs (dirs on
// the same filesystem counted once) and its shard count.
type Capacity struct {
	TotalBytes uint64
	FreeBytes  uint64
	Shards     int64
}

// Open opens (creating when needed) the data dirs, locks them, resolves the
// node id, and recovers from a crash: it removes temp files left by
// interrupted writes and stale duplicates of shards that moved between dirs.
func Open(opts Options) (*Store, error) {
	if len(opts.Dirs) == 0 {
		return nil, fmt.Errorf("open store: no data dirs: %w", ErrInvalidArgument)
	}
	if opts.NodeID != "" {
		if err := ValidateNodeID(opts.NodeID); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log}
	seen := map[string]bool{}
	for _, p := range opts.Dirs {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("open store: resolve data dir %s: %w", p, err)
		}
		if seen[abs] {
			return nil, fmt.Errorf("open store: data dir %s listed twice: %w", abs, ErrInvalidArgument)
		}
		seen[abs] = true
		d, err := openDataDir(abs)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
		s.dirs = append(s.dirs, d)
	}
	id, err := resolveNodeID(s.dirs, opts.NodeID)
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.nodeID = id
	if err := s.cleanUp(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

func openDataDir(path string) (*dataDir, error) {
	if err := os.MkdirAll(filepath.Join(path, shardsDir), 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(path, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, ErrDirInUse)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Create every fan-out dir up front so that writes never need a mkdir
	// (and the fsync of its parent that would go with it).
	for i := range 256 {
		sub := filepath.Join(path, shardsDir, fmt.Sprintf("%02x", i))
		if err := os.Mkdir(sub, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			_ = lock.Close()
			return nil, fmt.Errorf("create shard dir: %w", err)
		}
	}
	for _, p := range []string{filepath.Join(path, shardsDir), path} {
		if err := syncDir(p); err != nil {
			_ = lock.Close()
			return nil, err
		}
	}
	return &dataDir{path: path, seed: hash64(path), lock: lock}, nil
}

// resolveNodeID reads the node id stamped in the dirs, checks that they
// agree with each other and with want, and stamps the dirs that lack it.
func resolveNodeID(dirs []*dataDir, want string) (string, error) {
	found, foundIn := "", ""
	var missing []*dataDir
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d.path, nodeIDFile))
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, d)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read node id: %w", err)
		}
		id := strings.TrimSpace(string(b))
		if err := ValidateNodeID(id); err != nil {
			return "", fmt.Errorf("read node id in %s: %w", d.path, err)
		}
		if want != "" && id != want {
			return "", fmt.Errorf("data dir %s belongs to node %s, not %s: %w", d.path, id, want, ErrNodeMismatch)
		}
		if found != "" && id != found {
			return "", fmt.Errorf("data dir %s belongs to node %s but %s to node %s: %w", foundIn, found, d.path, id, ErrNodeMismatch)
		}
		found, foundIn = id, d.path
	}
	id := want
	if id == "" {
		id = found
	}
	if id == "" {
		id = newNodeID()
	}
	for _, d := range missing {
		if err := writeFileAtomic(d.path, nodeIDFile, []byte(id+"\n")); err != nil {
			return "", fmt.Errorf("write node id: %w", err)
		}
	}
	return id, nil
}

// writeFileAtomic writes dir/name through a synced temp file and a rename.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+name+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// cleanUp removes leftovers of interrupted writes and stale copies of
// shards, and counts the shards. Nothing else uses the store yet.
func (s *Store) cleanUp() error {
	var temps, stale int
	for _, d := range s.dirs {
		root, err := os.ReadDir(d.path)
		if err != nil {
			return fmt.Errorf("read data dir: %w", err)
		}
		for _, e := range root {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				if err := os.Remove(filepath.Join(d.path, e.Name())); err != nil {
					return fmt.Errorf("remove leftover file: %w", err)
				}
				temps++
			}
		}
		probes, err := filepath.Glob(filepath.Join(d.path, shardsDir, probePrefix+"*"))
		if err != nil {
			return fmt.Errorf("find leftover probe files: %w", err)
		}
		for _, p := range probes {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove leftover file: %w", err)
			}
			temps++
		}
		for i := range 256 {
			sub := filepath.Join(d.path, shardsDir, fmt.Sprintf("%02x", i))
			entries, err := os.ReadDir(sub)
			if err != nil {
				return fmt.Errorf("read shard dir: %w", err)
			}
			for _, e := range entries {
				name := e.Name()
				switch {
				case strings.HasPrefix(name, tmpPrefix):
					if err := os.Remove(filepath.Join(sub, name)); err != nil {
						return fmt.Errorf("remove temp file: %w", err)
					}
					temps++
				case ValidateID(name) != nil || fanout(name) != filepath.Base(sub):
					// Not ours to touch; leave it for an operator.
				case s.shadowed(d, name):
					// A copy in a dir that reads look at first wins; this one
					// is what a crash between rename and clean-up leaves.
					if err := os.Remove(filepath.Join(sub, name)); err != nil {
						return fmt.Errorf("remove stale shard copy: %w", err)
					}
					stale++
				default:
					s.shards.Add(1)
				}
			}
		}
	}
	if temps > 0 || stale > 0 {
		s.log.Info("removed leftovers of interrupted writes", "temp_files", temps, "stale_copies", stale)
	}
	return nil
}

// shadowed reports whether id also exists in a dir that comes before d in
// its lookup order.
func (s *Store) shadowed(d *dataDir, id string) bool {
	for _, o := range s.order(id) {
		if o == d {
			return false
		}
		if _, err := os.Lstat(o.shardPath(id)); err == nil {
			return true
		}
	}
	return false
}

// Close releases the data dir locks.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, d := range s.dirs {
			errs = append(errs, d.lock.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// NodeID returns the node's persistent id.
func (s *Store) NodeID() string { return s.nodeID }

// Dirs returns the data dirs (absolute paths) in configured order.
func (s *Store) Dirs() []string {
	out := make([]string, len(s.dirs))
	for i, d := range s.dirs {
		out[i] = d.path
	}
	return out
}

// ShardCount returns the number of shards the node holds.
func (s *Store) ShardCount() int64 { return s.shards.Load() }

func (d *dataDir) shardDir(id string) string {
	return filepath.Join(d.path, shardsDir, fanout(id))
}

func (d *dataDir) shardPath(id string) string {
	return filepath.Join(d.path, shardsDir, fanout(id), id)
}

// order returns the data dirs in an id's lookup order: rendezvous hashing,
// so adding a dir moves only the ids that now prefer it, and reads of
// shards written before still find them further down the list.
func (s *Store) order(id string) []*dataDir {
	if len(s.dirs) == 1 {
		return s.dirs
	}
	h := hash64(id)
	out := slices.Clone(s.dirs)
	sort.SliceStable(out, func(i, j int) bool {
		return mix64(out[i].seed^h) > mix64(out[j].seed^h)
	})
	return out
}

func (s *Store) lockFor(id string) *sync.Mutex {
	return &s.locks[hash64(id)%lockStripes]
}

// openShard opens the file of id from the first dir in lookup order that
// has it.
func (s *Store) openShard(id string) (*os.File, error) {
	for _, d := range s.order(id) {
		f, err := os.Open(d.shardPath(id))
		if err == nil {
			return f, nil
		}
		if !isAbsent(err) {
			return nil, fmt.Errorf("open shard %s: %w", id, err)
		}
	}
	return nil, fmt.Errorf("open shard %s: %w", id, ErrNotFound)
}

// exists reports whether any dir holds id. Call with id's lock held.
func (s *Store) exists(id string) bool {
	for _, d := range s.dirs {
		if _, err := os.Lstat(d.shardPath(id)); err == nil {
			return true
		}
	}
	return false
}

// isAbsent reports a missing file, or a data dir replaced by something that
// is not a directory.
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open dir for sync: %w", err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync dir %s: %w", path, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close dir %s: %w", path, err)
	}
	return nil
}

// Stat returns a shard's size and modification time. With verify it reads
// the whole shard and checks every block.
func (s *Store) Stat(ctx context.Context, id string, verify bool) (Info, error) {
	r, err := s.NewReader(id, 0, 0)
	if err != nil {
		return Info{}, err
	}
	defer r.Close()
	if verify {
		for i := range r.hdr.blocks() {
			if i%64 == 0 && ctx.Err() != nil {
				return Info{}, fmt.Errorf("verify shard %s: %w", id, ctx.Err())
			}
			if err := r.loadBlock(i); err != nil {
				return Info{}, err
			}
		}
	}
	return Info{ID: id, Size: r.hdr.Size, ModTime: r.modTime}, nil
}

// Delete removes a shard from every data dir. Deleting a missing shard is
// not an error; existed reports whether there was one.
func (s *Store) Delete(id string) (existed bool, err error) {
	if err := ValidateID(id); err != nil {
		return false, err
	}
	mu := s.lockFor(id)
	mu.Lock()
	var errs []error
	var touched []string
	for _, d := range s.dirs {
		err := os.Remove(d.shardPath(id))
		switch {
		case err == nil:
			existed = true
			touched = append(touched, d.shardDir(id))
		case !isAbsent(err):
			errs = append(errs, err)
		}
	}
	if existed {
		s.shards.Add(-1)
	}
	mu.Unlock()
	for _, dir := range touched {
		errs = append(errs, syncDir(dir))
	}
	if err := errors.Join(errs...); err != nil {
		return existed, fmt.Errorf("delete shard %s: %w", id, err)
	}
	return existed, nil
}

// List returns up to limit shards with ids strictly greater than after, in
// id order, and whether more follow. It scans every shard dir but holds at
// most limit+1 ids in memory. A shard whose header cannot be read is listed
// with Size -1, so that scrubbing finds it.
func (s *Store) List(ctx context.Context, after string, limit int) ([]Info, bool, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	h := &maxHeap{set: map[string]bool{}}
	for _, d := range s.dirs {
		for i := range 256 {
			if err := ctx.Err(); err != nil {
				return nil, false, fmt.Errorf("list shards: %w", err)
			}
			entries, err := os.ReadDir(filepath.Join(d.path, shardsDir, fmt.Sprintf("%02x", i)))
			if err != nil {
				return nil, false, fmt.Errorf("list shards: %w", err)
			}
			for _, e := range entries {
				name := e.Name()
				if name <= after || h.set[name] || (h.Len() > limit && name >= h.ids[0]) {
					continue
				}
				if strings.HasPrefix(name, ".") || ValidateID(name) != nil {
					continue
				}
				heap.Push(h, name)
				if h.Len() > limit+1 {
					heap.Pop(h)
				}
			}
		}
	}
	ids := h.ids
	slices.Sort(ids)
	truncated := len(ids) > limit
	if truncated {
		ids = ids[:limit]
	}
	out := make([]Info, 0, len(ids))
	for _, id := range ids {
		info, err := s.Stat(ctx, id, false)
		switch {
		case err == nil:
			out = append(out, info)
		case errors.Is(err, ErrNotFound):
			// Deleted since the scan.
		case errors.Is(err, ErrCorrupt):
			out = append(out, Info{ID: id, Size: -1})
		default:
			return nil, false, fmt.Errorf("list shards: %w", err)
		}
	}
	return out, truncated, nil
}

// maxHeap keeps the smallest ids seen, largest on top.
type maxHeap struct {
	ids []string
	set map[string]bool
}

func (h *maxHeap) Len() int           { return len(h.ids) }
func (h *maxHeap) Less(i, j int) bool { return h.ids[i] > h.ids[j] }
func (h *maxHeap) Swap(i, j int)      { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *maxHeap) Push(x any)         { id := x.(string); h.ids = append(h.ids, id); h.set[id] = true }
func (h *maxHeap) Pop() any {
	id := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	delete(h.set, id)
	return id
}

// Capacity sums total and free bytes over the data dirs, counting each
// filesystem once.
func (s *Store) Capacity() (Capacity, error) {
	c := Capacity{Shards: s.shards.Load()}
	devs := map[uint64]bool{}
	for _, d := range s.dirs {
		dev, total, free, err := statfs(d.path)
		if err != nil {
			return Capacity{}, fmt.Errorf("read capacity: %w", err)
		}
		if devs[dev] {
			continue
		}
		devs[dev] = true
		c.TotalBytes += total
		c.FreeBytes += free
	}
	return c, nil
}

// statfs returns a dir's device id and its filesystem's size and space
// available to unprivileged users.
func statfs(path string) (dev, total, free uint64, err error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, 0, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	var fsst syscall.Statfs_t
	if err := syscall.Statfs(path, &fsst); err != nil {
		return 0, 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return uint64(st.Dev), fsst.Blocks * uint64(fsst.Bsize), fsst.Bavail * uint64(fsst.Bsize), nil
}

// CheckDirs checks that every data dir is writable by creating and removing
// a probe file where shards are written. An empty directory in place of a
// data dir (an unmounted disk, say) fails too: the node must not fill the
// filesystem underneath.
func (s *Store) CheckDirs() error {
	var errs []error
	for _, d := range s.dirs {
		f, err := os.CreateTemp(filepath.Join(d.path, shardsDir), probePrefix+"*")
		if err != nil {
			errs = append(errs, fmt.Errorf("probe data dir %s: %w", d.path, err))
			continue
		}
		cerr := f.Close()
		rerr := os.Remove(f.Name())
		if err := errors.Join(cerr, rerr); err != nil {
			errs = append(errs, fmt.Errorf("probe data dir %s: %w", d.path, err))
		}
	}
	return errors.Join(errs...)
}
