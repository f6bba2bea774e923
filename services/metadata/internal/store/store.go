// Package store is the metadata service's access to PostgreSQL: buckets,
// their configuration documents and the task queue in the global database;
// object versions, multipart uploads and the outbox in one database per
// region.
//
// Cross-database steps never use distributed transactions. A regional commit
// that must queue a global task writes an outbox row in its own transaction;
// the Relay moves outbox rows to the global tasks table idempotently.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultBucketCacheTTL bounds how long a bucket looked up in the global
// database is reused. A stale entry is safe: object writes re-check the
// bucket against regional tombstones under a lock.
const DefaultBucketCacheTTL = 2 * time.Second

// Options configure a Store.
type Options struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock for the bucket cache; time.Now when nil.
	Now func() time.Time
	// BucketCacheTTL: DefaultBucketCacheTTL when zero, no caching when
	// negative.
	BucketCacheTTL time.Duration
	// OutboxWritten, when not nil, is called after a commit or delete wrote
	// an outbox row in a region: the process pokes that region's relay.
	OutboxWritten func(region string)
	// GCGrace delays relayed tasks: a GET or copy that is still streaming a
	// replaced version keeps its shards for at least this long.
	GCGrace time.Duration
}

// Store reads and writes metadata.
type Store struct {
	global   *pgxpool.Pool
	regional map[string]*pgxpool.Pool
	log      *slog.Logger
	now      func() time.Time
	ttl      time.Duration
	metrics  *metrics
	written  func(region string)
	gcGrace  time.Duration

	mu    sync.Mutex
	cache map[string]cachedBucket
}

type cachedBucket struct {
	b       Bucket
	expires time.Time
}

type metrics struct {
	tasksEnqueued *prometheus.CounterVec
	outboxPending *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tasksEnqueued: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_metadata_tasks_enqueued_total",
			Help: "Tasks inserted into the global task queue by the outbox relay.",
		}, []string{"region", "type"}),
		outboxPending: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anvil_metadata_outbox_pending",
			Help: "Outbox rows of a region not yet relayed to the global task queue.",
		}, []string{"region"}),
	}
}

// New returns a Store over the global pool and one pool per served region.
// The schema must already be migrated.
func New(global *pgxpool.Pool, regional map[string]*pgxpool.Pool, opts Options) *Store {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BucketCacheTTL == 0 {
		opts.BucketCacheTTL = DefaultBucketCacheTTL
	}
	if opts.OutboxWritten == nil {
		opts.OutboxWritten = func(string) {}
	}
	s := &Store{
		global:   global,
		regional: maps.Clone(regional),
		log:      opts.Log,
		now:      opts.Now,
		ttl:      opts.BucketCacheTTL,
		metrics:  newMetrics(opts.Registerer),
		written:  opts.OutboxWritten,
		gcGrace:  opts.GCGrace,
		cache:    map[string]cachedBucket{},
	}
	opts.Registerer.MustRegister(usageCollector{s})
	return s
}

// Regions returns the served regions, sorted.
func (s *Store) Regions() []string {
	return slices.Sorted(maps.Keys(s.regional))
}

// EnsureRegions records the served regions in the global regions table.
func (s *Store) EnsureRegions(ctx context.Context) error {
	for _, r := range s.Regions() {
		if _, err := s.global.Exec(ctx, "INSERT INTO regions (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", r); err != nil {
			return fmt.Errorf("record region %s: %w", r, err)
		}
	}
	return nil
}

// PingGlobal checks that the global database answers.
func (s *Store) PingGlobal(ctx context.Context) error {
	if err := s.global.Ping(ctx); err != nil {
		return fmt.Errorf("ping global database: %w", err)
	}
	return nil
}

// PingRegional checks that a region's database answers.
func (s *Store) PingRegional(ctx context.Context, region string) error {
	pool, ok := s.regional[region]
	if !ok {
		return fmt.Errorf("%w: %s", ErrRegionNotServed, region)
	}
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping regional database %s: %w", region, err)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// CreateBucket creates a bucket in a served region.
func (s *Store) CreateBucket(ctx context.Context, name, region string, dataShards, parityShards int) (Bucket, error) {
	if err := ValidateBucketName(name); err != nil {
		return Bucket{}, err
	}
	if err := validateShards(dataShards, parityShards); err != nil {
		return Bucket{}, err
	}
	if _, ok := s.regional[region]; !ok {
		return Bucket{}, fmt.Errorf("%w: %q", ErrNoSuchRegion, region)
	}
	b := Bucket{Name: name, Region: region, DataShards: dataShards, ParityShards: parityShards, Versioning: Unversioned}
	err := s.global.QueryRow(ctx, `
		INSERT INTO buckets (name, region, data_shards, parity_shards)
		VALUES ($1, $2, $3, $4)
		RETURNING id, created_at`, name, region, dataShards, parityShards).Scan(&b.ID, &b.CreatedAt)
	if isUniqueViolation(err) {
		return Bucket{}, fmt.Errorf("%w: %s", ErrBucketExists, name)
	}
	if err != nil {
		return Bucket{}, fmt.Errorf("insert bucket %s: %w", name, err)
	}
	s.remember(b)
	return b, nil
}

const bucketColumns = "id, name, region, data_shards, parity_shards, created_at, versioning, " +
	"EXISTS (SELECT 1 FROM bucket_configs c WHERE c.bucket_id = buckets.id AND c.kind = '" + BucketConfigObjectLock + "')"

func scanBucket(row pgx.Row) (Bucket, error) {
	var b Bucket
	err := row.Scan(&b.ID, &b.Name, &b.Region, &b.DataShards, &b.ParityShards, &b.CreatedAt, &b.Versioning, &b.ObjectLock)
	return b, err
}

// GetBucket reads a bucket from the global database.
func (s *Store) GetBucket(ctx context.Context, name string) (Bucket, error) {
	if checkText("bucket name", name) != nil {
		// Cannot be stored, so cannot exist; the database would reject it.
		return Bucket{}, fmt.Errorf("%w: %q", ErrNoSuchBucket, name)
	}
	b, err := scanBucket(s.global.QueryRow(ctx,
		"SELECT "+bucketColumns+" FROM buckets WHERE name = $1 AND deleted_at IS NULL", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Bucket{}, fmt.Errorf("%w: %s", ErrNoSuchBucket, name)
	}
	if err != nil {
		return Bucket{}, fmt.Errorf("read bucket %s: %w", name, err)
	}
	s.remember(b)
	return b, nil
}

// ListBuckets returns every bucket, by name.
func (s *Store) ListBuckets(ctx context.Context) ([]Bucket, error) {
	rows, err := s.global.Query(ctx,
		"SELECT "+bucketColumns+" FROM buckets WHERE deleted_at IS NULL ORDER BY name COLLATE \"C\"")
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bucket, error) { return scanBucket(r) })
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return out, nil
}

// DeleteBucket deletes an empty bucket, freeing its name. Any version,
// current or not, delete markers included, makes a bucket non-empty;
// multipart uploads in progress do not (as on AWS): they are aborted, their
// parts queued for collection. With force a bucket with objects is deleted
// too: its objects are retired later, in batches, by the worker fleet
// (CollectBucket). The name is free at once either way: objects are keyed
// by the bucket's id, which a new bucket of the same name does not share.
//
// The regional step comes first: under the bucket's exclusive lock it checks
// emptiness, aborts the uploads and writes a tombstone that every later
// commit sees, then the global row is marked deleted and its configuration
// documents dropped. A crash between the two leaves a bucket that refuses
// writes until DeleteBucket is retried, never a version in a deleted bucket.
func (s *Store) DeleteBucket(ctx context.Context, name string, force bool) error {
	b, err := s.GetBucket(ctx, name)
	if err != nil {
		return err
	}
	pool, ok := s.regional[b.Region]
	if !ok {
		return fmt.Errorf("%w: bucket %s is in region %s", ErrRegionNotServed, name, b.Region)
	}
	var queued int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		hi, lo := bucketLockKey(b.ID)
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", hi, lo); err != nil {
			return fmt.Errorf("lock bucket: %w", err)
		}
		var live bool
		if err := tx.QueryRow(ctx,
			"SELECT EXISTS (SELECT 1 FROM object_versions WHERE bucket_id = $1 AND state = 'live')", b.ID).Scan(&live); err != nil {
			return fmt.Errorf("check bucket is empty: %w", err)
		}
		if live && !force {
			return fmt.Errorf("%w: %s", ErrBucketNotEmpty, name)
		}
		if live {
			// Not even an operator's forced delete may end retention or a
			// legal hold early: that is what object lock promises.
			var locked bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM object_versions
				WHERE bucket_id = $1 AND state = 'live' AND (legal_hold OR lock_retain_until > now()))`, b.ID).Scan(&locked); err != nil {
				return fmt.Errorf("check object lock: %w", err)
			}
			if locked {
				return fmt.Errorf("%w: bucket %s holds versions under retention or legal hold", ErrObjectLocked, name)
			}
		}
		var err error
		queued, err = abortBucketUploads(ctx, tx, b)
		if err != nil {
			return err
		}
		if live {
			// The tombstone below stops new writes; the worker retires
			// what is left in batches (CollectBucket).
			if _, err := tx.Exec(ctx, `INSERT INTO outbox (type, payload)
				VALUES ('`+TaskDeleteBucket+`', jsonb_build_object('bucket_id', $1::bigint, 'bucket', $2::text))`, b.ID, b.Name); err != nil {
				return fmt.Errorf("queue bucket collection: %w", err)
			}
			queued++
		}
		if _, err := tx.Exec(ctx,
			"INSERT INTO bucket_tombstones (bucket_id) VALUES ($1) ON CONFLICT (bucket_id) DO NOTHING", b.ID); err != nil {
			return fmt.Errorf("write bucket tombstone: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	if queued > 0 {
		s.written(b.Region)
	}
	err = pgx.BeginFunc(ctx, s.global, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			"UPDATE buckets SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL", b.ID); err != nil {
			return fmt.Errorf("mark bucket deleted: %w", err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM bucket_configs WHERE bucket_id = $1", b.ID); err != nil {
			return fmt.Errorf("delete bucket configuration: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	s.forget(name)
	return nil
}

// abortBucketUploads removes every multipart upload of a bucket, queueing
// the parts of those in progress for collection, and returns the number of
// outbox rows written. The caller holds the bucket's exclusive lock, so no
// upload starts meanwhile; locking the upload rows first waits for PutPart
// calls in flight, whose parts the next statement then sees.
func abortBucketUploads(ctx context.Context, tx pgx.Tx, b Bucket) (int64, error) {
	if _, err := tx.Exec(ctx,
		"SELECT 1 FROM multipart_uploads WHERE bucket_id = $1 FOR UPDATE", b.ID); err != nil {
		return 0, fmt.Errorf("lock uploads: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		WITH parts AS (
			DELETE FROM multipart_parts p USING multipart_uploads u
			 WHERE p.upload_id = u.upload_id AND u.bucket_id = $1
			RETURNING u.upload_id, u.key, p.part_number, p.segment
		)
		INSERT INTO outbox (type, payload)
		SELECT '`+TaskDeleteParts+`', jsonb_build_object(
			'bucket_id', $1::bigint, 'bucket', $2::text, 'key', key,
			'upload_id', upload_id::text, 'segments', jsonb_agg(segment ORDER BY part_number))
		  FROM parts GROUP BY upload_id, key`, b.ID, b.Name)
	if err != nil {
		return 0, fmt.Errorf("queue parts of aborted uploads: %w", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM multipart_uploads WHERE bucket_id = $1", b.ID); err != nil {
		return 0, fmt.Errorf("delete uploads: %w", err)
	}
	return tag.RowsAffected(), nil
}

// bucketLockKey splits a bucket id into the two-int advisory lock key space,
// which does not overlap the single-bigint space the per-key locks use.
func bucketLockKey(id int64) (int32, int32) {
	return int32(id >> 32), int32(id)
}

// bucket returns a bucket, from the cache when fresh. Misses go to the
// global database, so a bucket created anywhere is visible at once; missing
// buckets are never cached.
func (s *Store) bucket(ctx context.Context, name string) (Bucket, error) {
	if s.ttl > 0 {
		s.mu.Lock()
		c, ok := s.cache[name]
		s.mu.Unlock()
		if ok && s.now().Before(c.expires) {
			return c.b, nil
		}
	}
	return s.GetBucket(ctx, name)
}

// servedBucket returns a bucket and its region's pool.
func (s *Store) servedBucket(ctx context.Context, name string) (Bucket, *pgxpool.Pool, error) {
	b, err := s.bucket(ctx, name)
	if err != nil {
		return Bucket{}, nil, err
	}
	pool, ok := s.regional[b.Region]
	if !ok {
		return Bucket{}, nil, fmt.Errorf("%w: bucket %s is in region %s", ErrRegionNotServed, name, b.Region)
	}
	return b, pool, nil
}

func (s *Store) remember(b Bucket) {
	if s.ttl <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Drop expired entries now and then so deleted buckets do not pile up.
	if len(s.cache) > 10000 {
		for k, c := range s.cache {
			if !now.Before(c.expires) {
				delete(s.cache, k)
			}
		}
	}
	s.cache[b.Name] = cachedBucket{b: b, expires: now.Add(s.ttl)}
}

func (s *Store) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, name)
}

// regionalPool returns the pool of a served region.
func (s *Store) regionalPool(region string) (*pgxpool.Pool, error) {
	pool, ok := s.regional[region]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrRegionNotServed, region)
	}
	return pool, nil
}
