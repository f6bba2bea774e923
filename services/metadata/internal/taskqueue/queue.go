// Package taskqueue is the task queue in the global database: workers lease
// tasks, extend their leases while working, and complete or fail them;
// operators list, retry and cancel them. It also purges the version rows
// whose data the workers collected, from the regional databases.
//
// A lease is a (lease_owner, lease_expires_at) pair written by one UPDATE
// over the rows picked with FOR UPDATE SKIP LOCKED, so concurrent leasers
// never share a task. Every lease counts an attempt; a task whose lease
// expires is runnable again and is leased by the next worker that asks. All
// times come from the database clock, so workers' clocks do not matter.
package taskqueue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Status is the state of a task.
type Status string

// Task states. A task moves pending -> leased -> done, or back to pending
// with a backoff after a retryable failure, or to dead once its attempts are
// spent (or at once after a permanent failure). Operators move dead tasks
// back to pending (Retry) or anything unfinished to cancelled (Cancel).
const (
	StatusPending   Status = "pending"
	StatusLeased    Status = "leased"
	StatusDone      Status = "done"
	StatusDead      Status = "dead"
	StatusCancelled Status = "cancelled"
)

// Limits on requests.
const (
	MaxLeaseBatch      = 1000
	MaxLease           = time.Hour
	DefaultMaxAttempts = 10
	MaxMaxAttempts     = 1000
	DefaultListLimit   = 100
	MaxListLimit       = 1000
	// MaxPayloadBytes bounds an enqueued payload.
	MaxPayloadBytes = 1 << 20
	// MaxErrorBytes bounds a stored error text; longer ones are cut.
	MaxErrorBytes = 4096
	// MaxDedupKeyBytes bounds EnqueueRequest.DedupKey.
	MaxDedupKeyBytes = 512
)

// Defaults of Options.
const (
	DefaultBackoffBase   = time.Second
	DefaultBackoffCap    = 10 * time.Minute
	DefaultStatsInterval = 10 * time.Second
	DefaultRetention     = 7 * 24 * time.Hour
)

// Task is a row of the tasks table.
type Task struct {
	ID          int64
	Type        string
	Region      string
	Payload     json.RawMessage
	Priority    int32
	Status      Status
	Attempts    int32
	MaxAttempts int32
	RunAfter    time.Time
	// LeaseOwner is the current holder of a leased task, and the last holder
	// of a done or dead one.
	LeaseOwner     string
	LeaseExpiresAt time.Time // zero when not leased
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Options configure a Queue.
type Options struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// BackoffBase and BackoffCap shape the retry delay after the n-th failed
	// attempt: min(cap, base*2^(n-1)) times a jitter factor.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// Jitter returns the factor applied to a retry delay, in [0.5, 1.5);
	// random when nil.
	Jitter func() float64
	// StatsInterval is how often RunMaintenance refreshes the queue gauges.
	StatsInterval time.Duration
	// Retention is how long done and cancelled tasks are kept. Dead tasks
	// stay until an operator retries or cancels them.
	Retention time.Duration
}

// Queue is the task queue.
type Queue struct {
	global   *pgxpool.Pool
	regional map[string]*pgxpool.Pool
	log      *slog.Logger
	metrics  *metrics
	base     time.Duration
	cap      time.Duration
	jitter   func() float64
	interval time.Duration
	keep     time.Duration
}

// New returns a Queue over the global pool, purging versions in the
// regional pools. The schema must already be migrated.
func New(global *pgxpool.Pool, regional map[string]*pgxpool.Pool, opts Options) *Queue {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffCap <= 0 {
		opts.BackoffCap = DefaultBackoffCap
	}
	if opts.Jitter == nil {
		opts.Jitter = func() float64 { return 0.5 + rand.Float64() }
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = DefaultStatsInterval
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	return &Queue{
		global:   global,
		regional: maps.Clone(regional),
		log:      opts.Log,
		metrics:  newMetrics(opts.Registerer),
		base:     opts.BackoffBase,
		cap:      opts.BackoffCap,
		jitter:   opts.Jitter,
		interval: opts.StatsInterval,
		keep:     opts.Retention,
	}
}

// columns lists a task row's columns in scanTask order, each prefixed with p
// (a table alias and dot, or "").
func columns(p string) string {
	return strings.NewReplacer("$.", p).Replace(`$.id, $.type, $.region, $.payload, $.priority, $.status,
		$.attempts, $.max_attempts, $.run_after, coalesce($.lease_owner, ''), $.lease_expires_at,
		coalesce($.last_error, ''), $.created_at, $.updated_at`)
}

var taskColumns = columns("")

func scanTask(row pgx.Row) (Task, error) {
	var t Task
	var status string
	var expires *time.Time
	var payload []byte
	err := row.Scan(&t.ID, &t.Type, &t.Region, &payload, &t.Priority, &status, &t.Attempts, &t.MaxAttempts,
		&t.RunAfter, &t.LeaseOwner, &expires, &t.LastError, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return Task{}, err
	}
	t.Payload = payload
	t.Status = Status(status)
	if expires != nil {
		t.LeaseExpiresAt = *expires
	}
	return t, nil
}

func collectTasks(rows pgx.Rows) ([]Task, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return scanTask(r) })
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// Task types and regions are metric labels and log fields: short names only.
var (
	typeRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	regionRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func validOwner(owner string) error {
	if owner == "" || len(owner) > 200 || !utf8.ValidString(owner) || strings.ContainsRune(owner, 0) {
		return invalid("lease owner must be 1 to 200 bytes of UTF-8 text")
	}
	return nil
}

func validLease(d time.Duration) error {
	if d < time.Second || d > MaxLease {
		return invalid("lease of %s: want 1s to %s", d, MaxLease)
	}
	return nil
}

// LeaseRequest asks for runnable tasks.
type LeaseRequest struct {
	Owner string
	// Types the worker handles; empty for all.
	Types []string
	// Region to lease for; empty for all.
	Region string
	Max    int
	Lease  time.Duration
}

// sqlExhaust parks tasks whose last lease expired with no attempts left: a
// task that kills its workers must not be leased for ever.
const sqlExhaust = `
	UPDATE tasks
	   SET status = 'dead', lease_expires_at = NULL, updated_at = now(),
	       last_error = left('lease expired after ' || attempts || ' attempts' || coalesce('; last error: ' || last_error, ''), 4096)
	 WHERE status = 'leased' AND lease_expires_at < now() AND attempts >= max_attempts`

// sqlLease claims runnable tasks. The CTE is materialised, so the locking
// subquery runs once. The status IN list matches the tasks_runnable index.
var sqlLease = `
	WITH picked AS MATERIALIZED (
		SELECT id FROM tasks
		 WHERE status IN ('pending', 'leased')
		   AND ((status = 'pending' AND run_after <= now())
		        OR (status = 'leased' AND lease_expires_at < now() AND attempts < max_attempts))
		   AND (cardinality($2::text[]) = 0 OR type = ANY ($2::text[]))
		   AND ($3::text = '' OR region = $3::text)
		 ORDER BY priority DESC, id
		 LIMIT $4
		   FOR UPDATE SKIP LOCKED
	)
	UPDATE tasks t
	   SET status = 'leased', lease_owner = $1, attempts = t.attempts + 1,
	       lease_expires_at = now() + make_interval(secs => $5::float8), updated_at = now()
	  FROM picked
	 WHERE t.id = picked.id
	RETURNING ` + columns("t.")

// Lease claims up to req.Max runnable tasks for req.Owner, highest priority
// first, then oldest. Each lease counts an attempt.
func (q *Queue) Lease(ctx context.Context, req LeaseRequest) ([]Task, error) {
	if err := validOwner(req.Owner); err != nil {
		return nil, err
	}
	if err := validLease(req.Lease); err != nil {
		return nil, err
	}
	if req.Max < 1 || req.Max > MaxLeaseBatch {
		return nil, invalid("max tasks %d: want 1 to %d", req.Max, MaxLeaseBatch)
	}
	for _, typ := range req.Types {
		if !typeRE.MatchString(typ) {
			return nil, invalid("task type %q", typ)
		}
	}
	types := req.Types
	if types == nil {
		types = []string{}
	}
	rows, err := q.global.Query(ctx, sqlExhaust+" RETURNING type")
	if err != nil {
		return nil, fmt.Errorf("park exhausted tasks: %w", err)
	}
	exhausted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("park exhausted tasks: %w", err)
	}
	for _, typ := range exhausted {
		q.metrics.dead.WithLabelValues(typ).Inc()
	}
	rows, err = q.global.Query(ctx, sqlLease, req.Owner, types, req.Region, req.Max, req.Lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("lease tasks: %w", err)
	}
	tasks, err := collectTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("lease tasks: %w", err)
	}
	// RETURNING follows no order; hand them out in claim order.
	sortTasks(tasks)
	return tasks, nil
}

func sortTasks(ts []Task) {
	slices.SortFunc(ts, func(a, b Task) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// Extend pushes the lease expiry of the tasks owner still holds and returns
// their ids; tasks owner no longer holds are left out. A lease that expired
// but was not claimed by anyone else is still owner's and is extended.
func (q *Queue) Extend(ctx context.Context, owner string, ids []int64, lease time.Duration) ([]int64, error) {
	if err := validOwner(owner); err != nil {
		return nil, err
	}
	if err := validLease(lease); err != nil {
		return nil, err
	}
	if len(ids) > MaxLeaseBatch {
		return nil, invalid("%d task ids: at most %d", len(ids), MaxLeaseBatch)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.global.Query(ctx, `
		UPDATE tasks
		   SET lease_expires_at = now() + make_interval(secs => $3::float8), updated_at = now()
		 WHERE id = ANY ($2::bigint[]) AND status = 'leased' AND lease_owner = $1
		RETURNING id`, owner, ids, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("extend leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("extend leases: %w", err)
	}
	return out, nil
}

// Complete marks a task owner holds done. Completing a task owner already
// completed succeeds again (a retried call whose answer was lost); a task
// held by someone else, cancelled or back to pending fails with ErrLeaseLost.
func (q *Queue) Complete(ctx context.Context, owner string, id int64) error {
	if err := validOwner(owner); err != nil {
		return err
	}
	tag, err := q.global.Exec(ctx, `
		UPDATE tasks SET status = 'done', lease_expires_at = NULL, updated_at = now()
		 WHERE id = $1 AND status = 'leased' AND lease_owner = $2`, id, owner)
	if err != nil {
		return fmt.Errorf("complete task %d: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	t, err := q.Get(ctx, id)
	if err != nil {
		return err
	}
	if t.Status == StatusDone && t.LeaseOwner == owner {
		return nil
	}
	return fmt.Errorf("%w: task %d is %s (owner %q)", ErrLeaseLost, id, t.Status, t.LeaseOwner)
}

// sqlFail records a failure: back to pending after a backoff while attempts
// remain and the error is retryable, else dead. $4 base and $5 cap are
// seconds, $6 the jitter factor.
var sqlFail = `
	UPDATE tasks
	   SET status = CASE WHEN $3::boolean AND attempts < max_attempts THEN 'pending' ELSE 'dead' END,
	       run_after = CASE WHEN $3::boolean AND attempts < max_attempts
	                   THEN now() + make_interval(secs =>
	                        least($5::float8, $4::float8 * power(2, least(greatest(attempts - 1, 0), 40))) * $6::float8)
	                   ELSE run_after END,
	       lease_owner = CASE WHEN $3::boolean AND attempts < max_attempts THEN NULL ELSE lease_owner END,
	       lease_expires_at = NULL, last_error = $7, updated_at = now()
	 WHERE id = $1 AND status = 'leased' AND lease_owner = $2
	RETURNING ` + taskColumns

// Fail records a failed attempt of a task owner holds. A retryable failure
// with attempts left returns the task to pending, runnable after the
// backoff; otherwise the task is parked as dead with its error.
func (q *Queue) Fail(ctx context.Context, owner string, id int64, msg string, retryable bool) (Task, error) {
	if err := validOwner(owner); err != nil {
		return Task{}, err
	}
	msg = cleanError(msg)
	t, err := scanTask(q.global.QueryRow(ctx, sqlFail, id, owner, retryable,
		q.base.Seconds(), q.cap.Seconds(), q.jitter(), msg))
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := q.Get(ctx, id)
		if gerr != nil {
			return Task{}, gerr
		}
		return Task{}, fmt.Errorf("%w: task %d is %s (owner %q)", ErrLeaseLost, id, cur.Status, cur.LeaseOwner)
	}
	if err != nil {
		return Task{}, fmt.Errorf("fail task %d: %w", id, err)
	}
	q.metrics.failed.WithLabelValues(t.Type).Inc()
	if t.Status == StatusDead {
		q.metrics.dead.WithLabelValues(t.Type).Inc()
		q.log.Warn("task dead", "task_id", t.ID, "type", t.Type, "attempts", t.Attempts, "err", msg)
	}
	return t, nil
}

// cleanError makes an error text storable: valid UTF-8, no NUL, bounded.
func cleanError(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) > MaxErrorBytes {
		cut := MaxErrorBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// EnqueueRequest describes a new task.
type EnqueueRequest struct {
	Type     string
	Region   string
	Payload  []byte
	Priority int32
	// MaxAttempts: DefaultMaxAttempts when zero.
	MaxAttempts int32
	// DedupKey, when set, makes the enqueue a no-op while an unfinished
	// (pending or leased) task has the same key; that task is returned.
	DedupKey string
}

// Enqueue inserts a pending task, runnable at once.
func (q *Queue) Enqueue(ctx context.Context, req EnqueueRequest) (Task, error) {
	if !typeRE.MatchString(req.Type) {
		return Task{}, invalid("task type %q: want a letter then up to 63 letters, digits, '_', '.' or '-'", req.Type)
	}
	if !regionRE.MatchString(req.Region) {
		return Task{}, invalid("region %q: want lower-case letters, digits and hyphens", req.Region)
	}
	if len(req.Payload) > MaxPayloadBytes {
		return Task{}, invalid("payload of %d bytes: at most %d", len(req.Payload), MaxPayloadBytes)
	}
	payload := req.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	// jsonb refuses \u0000 in strings, which json.Valid accepts.
	if !json.Valid(payload) || strings.Contains(string(payload), `\u0000`) {
		return Task{}, invalid("payload is not storable JSON")
	}
	if req.MaxAttempts == 0 {
		req.MaxAttempts = DefaultMaxAttempts
	}
	if req.MaxAttempts < 1 || req.MaxAttempts > MaxMaxAttempts {
		return Task{}, invalid("max attempts %d: want 1 to %d", req.MaxAttempts, MaxMaxAttempts)
	}
	if len(req.DedupKey) > MaxDedupKeyBytes || !utf8.ValidString(req.DedupKey) || strings.ContainsRune(req.DedupKey, 0) {
		return Task{}, invalid("dedup key: want at most %d bytes of text", MaxDedupKeyBytes)
	}
	var dedup *string
	if req.DedupKey != "" {
		dedup = &req.DedupKey
		// A holder of the key whose last lease lapsed with no attempts left
		// would never run again: park it as dead first, as leasing would.
		if _, err := q.global.Exec(ctx, sqlExhaust+" AND dedup_key = $1", req.DedupKey); err != nil {
			return Task{}, fmt.Errorf("enqueue task: park exhausted duplicate: %w", err)
		}
	}
	// Two enqueues with one key may race: the loser's insert does nothing and
	// its select finds the winner's row (or, when that task finished in
	// between, the insert is retried once more).
	for range 3 {
		t, err := scanTask(q.global.QueryRow(ctx, `
			INSERT INTO tasks (type, region, payload, priority, max_attempts, dedup_key)
			VALUES ($1, $2, $3::jsonb, $4, $5, $6)
			ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL AND status IN ('pending', 'leased') DO NOTHING
			RETURNING `+taskColumns, req.Type, req.Region, string(payload), req.Priority, req.MaxAttempts, dedup))
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Task{}, fmt.Errorf("enqueue task: %w", err)
		}
		t, err = scanTask(q.global.QueryRow(ctx, "SELECT "+taskColumns+
			" FROM tasks WHERE dedup_key = $1 AND status IN ('pending', 'leased')", req.DedupKey))
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Task{}, fmt.Errorf("enqueue task: find duplicate: %w", err)
		}
	}
	return Task{}, fmt.Errorf("enqueue task: dedup key %q keeps changing hands", req.DedupKey)
}

// Get returns one task.
func (q *Queue) Get(ctx context.Context, id int64) (Task, error) {
	t, err := scanTask(q.global.QueryRow(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Task{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return Task{}, fmt.Errorf("read task %d: %w", id, err)
	}
	return t, nil
}

// ListFilter selects a page of tasks in id order.
type ListFilter struct {
	// Status and Type filter when not empty.
	Status Status
	Type   string
	// AfterID: tasks with larger ids.
	AfterID int64
	// Limit: DefaultListLimit when zero, at most MaxListLimit.
	Limit int
}

// List returns a page of tasks in id order.
func (q *Queue) List(ctx context.Context, f ListFilter) ([]Task, error) {
	switch f.Status {
	case "", StatusPending, StatusLeased, StatusDone, StatusDead, StatusCancelled:
	default:
		return nil, invalid("status %q", f.Status)
	}
	if f.Limit == 0 {
		f.Limit = DefaultListLimit
	}
	if f.Limit < 0 || f.Limit > MaxListLimit {
		return nil, invalid("limit %d: want 1 to %d", f.Limit, MaxListLimit)
	}
	rows, err := q.global.Query(ctx, "SELECT "+taskColumns+` FROM tasks
		 WHERE ($1::text = '' OR status = $1::text) AND ($2::text = '' OR type = $2::text) AND id > $3
		 ORDER BY id LIMIT $4`, string(f.Status), f.Type, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	out, err := collectTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return out, nil
}

// Retry puts a dead, cancelled or waiting task back to pending, runnable at
// once, with its attempts reset. Leased and done tasks are refused.
func (q *Queue) Retry(ctx context.Context, id int64) (Task, error) {
	t, err := scanTask(q.global.QueryRow(ctx, `
		UPDATE tasks
		   SET status = 'pending', attempts = 0, run_after = now(), lease_owner = NULL,
		       lease_expires_at = NULL, updated_at = now()
		 WHERE id = $1 AND status IN ('dead', 'cancelled', 'pending')
		RETURNING `+taskColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := q.Get(ctx, id)
		if gerr != nil {
			return Task{}, gerr
		}
		return Task{}, fmt.Errorf("%w: task %d is %s", ErrWrongState, id, cur.Status)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation: tasks_dedup
		return Task{}, fmt.Errorf("%w: task %d: a newer unfinished task does the same work (same dedup key)", ErrWrongState, id)
	}
	if err != nil {
		return Task{}, fmt.Errorf("retry task %d: %w", id, err)
	}
	return t, nil
}

// Cancel stops a task from running again: pending, leased (its holder's
// Complete, Fail and Extend then fail) or dead. Cancelling a cancelled task
// succeeds; a done task is refused.
func (q *Queue) Cancel(ctx context.Context, id int64) (Task, error) {
	t, err := scanTask(q.global.QueryRow(ctx, `
		UPDATE tasks SET status = 'cancelled', lease_expires_at = NULL, updated_at = now()
		 WHERE id = $1 AND status IN ('pending', 'leased', 'dead')
		RETURNING `+taskColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := q.Get(ctx, id)
		if gerr != nil {
			return Task{}, gerr
		}
		if cur.Status == StatusCancelled {
			return cur, nil
		}
		return Task{}, fmt.Errorf("%w: task %d is %s", ErrWrongState, id, cur.Status)
	}
	if err != nil {
		return Task{}, fmt.Errorf("cancel task %d: %w", id, err)
	}
	return t, nil
}

// Stat is the number of tasks of one type in one state.
type Stat struct {
	Type   string
	Status Status
	Count  int64
	// OldestAge is the age of the oldest task of the group.
	OldestAge time.Duration
}

// Stats groups the tasks by type and state.
func (q *Queue) Stats(ctx context.Context) ([]Stat, error) {
	rows, err := q.global.Query(ctx, `
		SELECT type, status, count(*), extract(epoch FROM now() - min(created_at))::float8
		  FROM tasks GROUP BY type, status ORDER BY type, status`)
	if err != nil {
		return nil, fmt.Errorf("read queue stats: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stat, error) {
		var s Stat
		var status string
		var age float64
		err := r.Scan(&s.Type, &status, &s.Count, &age)
		s.Status = Status(status)
		s.OldestAge = time.Duration(max(age, 0) * float64(time.Second))
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read queue stats: %w", err)
	}
	return out, nil
}

// oldestDue returns how long the longest-waiting runnable pending task has
// been runnable.
func (q *Queue) oldestDue(ctx context.Context) (time.Duration, error) {
	var age float64
	err := q.global.QueryRow(ctx, `
		SELECT coalesce(extract(epoch FROM now() - min(run_after))::float8, 0)
		  FROM tasks WHERE status = 'pending' AND run_after <= now()`).Scan(&age)
	if err != nil {
		return 0, fmt.Errorf("read oldest pending task: %w", err)
	}
	return time.Duration(max(age, 0) * float64(time.Second)), nil
}

// PurgeVersion deletes a soft-deleted version's row from its region's
// database. Only a row that is deleted and not the latest version of its key
// is removed, so a purge can never remove live data. A missing (or already
// purged) version is not an error: purged is false. A version that exists
// but is live, or belongs to another bucket or key, is refused with
// ErrWrongState.
func (q *Queue) PurgeVersion(ctx context.Context, region string, bucketID int64, key, versionID string) (purged bool, err error) {
	pool, ok := q.regional[region]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrRegionNotServed, region)
	}
	if bucketID <= 0 {
		return false, invalid("bucket id %d", bucketID)
	}
	if !uuidRE.MatchString(versionID) {
		return false, invalid("version id %q is not a UUID", versionID)
	}
	if !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
		return false, invalid("key is not storable text")
	}
	tag, err := pool.Exec(ctx, `
		DELETE FROM object_versions
		 WHERE version_id = $1::uuid AND bucket_id = $2 AND key = $3
		   AND state = 'deleted' AND NOT is_latest`, versionID, bucketID, key)
	if err != nil {
		return false, fmt.Errorf("purge version %s: %w", versionID, err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var exists bool
	if err := pool.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM object_versions WHERE version_id = $1::uuid)", versionID).Scan(&exists); err != nil {
		return false, fmt.Errorf("check version %s: %w", versionID, err)
	}
	if exists {
		return false, fmt.Errorf("%w: version %s is live or not of bucket %d and that key; not purged", ErrWrongState, versionID, bucketID)
	}
	return false, nil
}
