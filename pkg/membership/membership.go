// Package membership registers processes in etcd under a lease and keeps a
// live view of the cluster's members.
//
// Keys: /anvil/<cluster>/members/<region>/<role>/<id>, values JSON Members;
// /anvil/<cluster>/drain/<node id> marks a storage node an operator is
// draining (no new shards go to it; the worker fleet moves its shards away).
package membership

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Roles.
const (
	RoleGateway     = "gateway"
	RoleStorageNode = "storagenode"
	RoleMetadata    = "metadata"
	RoleWorker      = "worker"
)

// Member describes one registered process.
type Member struct {
	ID            string    `json:"id"`
	Role          string    `json:"role"`
	Region        string    `json:"region"`
	Zone          string    `json:"zone,omitempty"`
	GRPCAddr      string    `json:"grpc_addr,omitempty"`
	OpsAddr       string    `json:"ops_addr,omitempty"`
	CapacityBytes uint64    `json:"capacity_bytes,omitempty"`
	FreeBytes     uint64    `json:"free_bytes,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	// Draining is not registered by the member: the View sets it from the
	// node's drain mark.
	Draining bool `json:"-"`
}

func root(cluster string) string        { return "/anvil/" + cluster + "/" }
func prefix(cluster string) string      { return root(cluster) + "members/" }
func drainPrefix(cluster string) string { return root(cluster) + "drain/" }

// SetDraining marks (or, with draining false, unmarks) a storage node as
// draining. The mark outlives the node's registration: a drained node that
// restarts stays drained until an operator undoes it.
func SetDraining(ctx context.Context, cli *clientv3.Client, cluster, nodeID string, draining bool) error {
	if nodeID == "" || strings.ContainsAny(nodeID, "/ ") {
		return fmt.Errorf("membership: node id %q: want an id without slashes or spaces", nodeID)
	}
	k := drainPrefix(cluster) + nodeID
	var err error
	if draining {
		_, err = cli.Put(ctx, k, time.Now().UTC().Format(time.RFC3339))
	} else {
		_, err = cli.Delete(ctx, k)
	}
	if err != nil {
		return fmt.Errorf("set drain mark of %s: %w", nodeID, err)
	}
	return nil
}

func key(cluster string, m Member) string {
	return prefix(cluster) + path.Join(m.Region, m.Role, m.ID)
}

// Registration keeps one member's key alive under an etcd lease.
type Registration struct {
	cli     *clientv3.Client
	cluster string
	ttl     int64
	log     *slog.Logger

	mu      sync.Mutex
	member  Member
	leaseID clientv3.LeaseID
}

// Register writes m under a lease of ttl and returns a Registration whose
// Run keeps it alive (re-registering after a lost lease) until ctx is done.
func Register(ctx context.Context, cli *clientv3.Client, cluster string, m Member, ttl time.Duration, log *slog.Logger) (*Registration, error) {
	if m.ID == "" || m.Role == "" || m.Region == "" {
		return nil, errors.New("membership: member needs id, role and region")
	}
	if m.StartedAt.IsZero() {
		m.StartedAt = time.Now().UTC()
	}
	r := &Registration{cli: cli, cluster: cluster, ttl: int64(ttl / time.Second), member: m, log: log}
	if r.ttl < 1 {
		r.ttl = 1
	}
	if err := r.put(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Registration) put(ctx context.Context) error {
	r.mu.Lock()
	m := r.member
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lease, err := r.cli.Grant(ctx, r.ttl)
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	val, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode member: %w", err)
	}
	if _, err := r.cli.Put(ctx, key(r.cluster, m), string(val), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("put member: %w", err)
	}
	r.mu.Lock()
	r.leaseID = lease.ID
	r.mu.Unlock()
	return nil
}

// Update changes the registered value (capacity figures, say) under the
// current lease.
func (r *Registration) Update(ctx context.Context, fn func(*Member)) error {
	r.mu.Lock()
	fn(&r.member)
	m, lease := r.member, r.leaseID
	r.mu.Unlock()
	val, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode member: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.cli.Put(ctx, key(r.cluster, m), string(val), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("update member: %w", err)
	}
	return nil
}

// Registered reports whether the member's key is present in etcd now.
func (r *Registration) Registered(ctx context.Context) error {
	r.mu.Lock()
	m := r.member
	r.mu.Unlock()
	resp, err := r.cli.Get(ctx, key(r.cluster, m), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("read registration: %w", err)
	}
	if resp.Count == 0 {
		return errors.New("membership: not registered")
	}
	return nil
}

// Run keeps the lease alive until ctx is done, re-registering when the lease
// is lost (etcd restarted or unreachable longer than the ttl), and revokes it
// on the way out so peers see the member leave at once.
func (r *Registration) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		r.mu.Lock()
		lease := r.leaseID
		r.mu.Unlock()
		ch, err := r.cli.KeepAlive(ctx, lease)
		if err == nil {
			for range ch {
			}
		}
		if ctx.Err() != nil {
			break
		}
		r.log.Warn("membership lease lost, registering again", "err", err)
		for ctx.Err() == nil {
			if err := r.put(ctx); err == nil {
				break
			} else {
				r.log.Warn("register member", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	r.mu.Lock()
	lease := r.leaseID
	r.mu.Unlock()
	revokeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = r.cli.Revoke(revokeCtx, lease)
	return nil
}

// View is a live, watched copy of the cluster's members.
type View struct {
	cli     *clientv3.Client
	cluster string
	log     *slog.Logger

	mu       sync.RWMutex
	members  map[string]Member // by etcd key
	draining map[string]bool   // storage node ids with a drain mark
	synced   bool
	onEvent  func(joined bool, m Member)
}

// NewView returns a View; call Run to fill and follow it. onEvent, when not
// nil, is told of every join and leave (for churn metrics).
func NewView(cli *clientv3.Client, cluster string, log *slog.Logger, onEvent func(joined bool, m Member)) *View {
	return &View{cli: cli, cluster: cluster, log: log, members: map[string]Member{}, draining: map[string]bool{}, onEvent: onEvent}
}

// Run loads the members and follows changes until ctx is done, starting over
// from a fresh load whenever the watch breaks.
func (v *View) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := v.follow(ctx); err != nil && ctx.Err() == nil {
			v.log.Warn("membership watch broke, reloading", "err", err)
			v.mu.Lock()
			v.synced = false
			v.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// follow loads the members and drain marks (one read of the cluster's
// prefix, so both are of one revision) and then follows their changes.
func (v *View) follow(ctx context.Context) error {
	r, p, dp := root(v.cluster), prefix(v.cluster), drainPrefix(v.cluster)
	getCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := v.cli.Get(getCtx, r, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return fmt.Errorf("load members: %w", err)
	}
	fresh := map[string]Member{}
	draining := map[string]bool{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case strings.HasPrefix(k, p):
			var m Member
			if json.Unmarshal(kv.Value, &m) == nil {
				fresh[k] = m
			}
		case strings.HasPrefix(k, dp):
			draining[strings.TrimPrefix(k, dp)] = true
		}
	}
	v.mu.Lock()
	old := v.members
	v.members, v.draining, v.synced = fresh, draining, true
	v.mu.Unlock()
	for k, m := range fresh {
		if _, ok := old[k]; !ok {
			v.notify(true, m)
		}
	}
	for k, m := range old {
		if _, ok := fresh[k]; !ok {
			v.notify(false, m)
		}
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	for wr := range v.cli.Watch(wctx, r, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch members: %w", err)
		}
		for _, ev := range wr.Events {
			k := string(ev.Kv.Key)
			switch {
			case strings.HasPrefix(k, dp):
				v.mu.Lock()
				if ev.Type == clientv3.EventTypePut {
					v.draining[strings.TrimPrefix(k, dp)] = true
				} else {
					delete(v.draining, strings.TrimPrefix(k, dp))
				}
				v.mu.Unlock()
			case strings.HasPrefix(k, p):
				v.apply(ev)
			}
		}
	}
	return errors.New("membership: watch closed")
}

// apply applies one watch event on a member key.
func (v *View) apply(ev *clientv3.Event) {
	k := string(ev.Kv.Key)
	switch ev.Type {
	case clientv3.EventTypePut:
		var m Member
		if json.Unmarshal(ev.Kv.Value, &m) != nil {
			return
		}
		v.mu.Lock()
		prev, existed := v.members[k]
		v.members[k] = m
		v.mu.Unlock()
		// A process that restarted before its old lease expired
		// re-registers under the same key: report it as leaving and
		// joining, so watchers drop state tied to the old process.
		if existed && !prev.StartedAt.Equal(m.StartedAt) {
			v.notify(false, prev)
		}
		if !existed || !prev.StartedAt.Equal(m.StartedAt) {
			v.notify(true, m)
		}
	case clientv3.EventTypeDelete:
		v.mu.Lock()
		m, existed := v.members[k]
		delete(v.members, k)
		v.mu.Unlock()
		if existed {
			v.notify(false, m)
		}
	}
}

func (v *View) notify(joined bool, m Member) {
	if v.onEvent != nil {
		v.onEvent(joined, m)
	}
}

// Synced reports whether the view has loaded the members since its last
// break: readiness uses it.
func (v *View) Synced() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.synced
}

// Members returns the members of a role ("" for all) in a region ("" for
// all), sorted by id, with Draining set.
func (v *View) Members(role, region string) []Member {
	v.mu.RLock()
	var out []Member
	for _, m := range v.members {
		if (role == "" || m.Role == role) && (region == "" || m.Region == region) {
			m.Draining = m.Role == RoleStorageNode && v.draining[m.ID]
			out = append(out, m)
		}
	}
	v.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the member of a role with the given id.
func (v *View) Lookup(role, id string) (Member, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, m := range v.members {
		if m.Role == role && m.ID == id {
			m.Draining = m.Role == RoleStorageNode && v.draining[m.ID]
			return m, true
		}
	}
	return Member{}, false
}

// Config holds the etcd connection settings shared by every service.
type Config struct {
	Endpoints string
	Cluster   string
	TTL       time.Duration
}

// Validate checks the settings.
func (c *Config) Validate() error {
	if c.Endpoints == "" {
		return errors.New("etcd.endpoints is required")
	}
	if c.Cluster == "" || strings.ContainsAny(c.Cluster, "/ ") {
		return fmt.Errorf("etcd.cluster %q: want a non-empty name without slashes or spaces", c.Cluster)
	}
	if c.TTL < time.Second {
		return errors.New("etcd.lease-ttl must be at least 1s")
	}
	return nil
}

// Client dials etcd.
func (c *Config) Client() (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(c.Endpoints, ","),
		DialTimeout: 5 * time.Second,
		Logger:      nil,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	return cli, nil
}

// RegisterFlags registers etcd.endpoints, etcd.cluster and etcd.lease-ttl.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoints, "etcd.endpoints", "127.0.0.1:2379", "comma-separated etcd endpoints")
	fs.StringVar(&c.Cluster, "etcd.cluster", "anvil", "cluster name; the etcd key prefix is /anvil/<cluster>/")
	fs.DurationVar(&c.TTL, "etcd.lease-ttl", 10*time.Second, "membership lease time-to-live")
}

// Healthy checks that etcd answers.
func Healthy(ctx context.Context, cli *clientv3.Client) error {
	if _, err := cli.Get(ctx, "/anvil/health", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	return nil
}
