package taskqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anvil-store/anvil/services/metadata/internal/migrations"
	"github.com/anvil-store/anvil/services/metadata/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const region = "us-east-1"

type env struct {
	global   *pgxpool.Pool
	regional *pgxpool.Pool
	reg      *prometheus.Registry
	q        *Queue
}

// newEnv migrates a fresh global and regional database and returns a queue
// over them with a fixed jitter factor of 1 unless opts says otherwise.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	ctx := testCtx(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{
		global:   pgtest.Pool(t, pgtest.NewDB(t, "global")),
		regional: pgtest.Pool(t, pgtest.NewDB(t, "regional")),
		reg:      prometheus.NewRegistry(),
	}
	if _, err := migrations.Apply(ctx, e.global, migrations.Global, log); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Apply(ctx, e.regional, migrations.Regional, log); err != nil {
		t.Fatal(err)
	}
	if opts.Jitter == nil {
		opts.Jitter = func() float64 { return 1 }
	}
	opts.Registerer = e.reg
	e.q = New(e.global, map[string]*pgxpool.Pool{region: e.regional}, opts)
	return e
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) enqueue(t *testing.T, req EnqueueRequest) Task {
	t.Helper()
	if req.Type == "" {
		req.Type = "DeleteObject"
	}
	if req.Region == "" {
		req.Region = region
	}
	task, err := e.q.Enqueue(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func (e *env) lease(t *testing.T, owner string, max int, types ...string) []Task {
	t.Helper()
	tasks, err := e.q.Lease(testCtx(t), LeaseRequest{Owner: owner, Types: types, Max: max, Lease: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

func (e *env) get(t *testing.T, id int64) Task {
	t.Helper()
	task, err := e.q.Get(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.global.Exec(testCtx(t), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// expireLease stands for time passing beyond a task's lease.
func (e *env) expireLease(t *testing.T, id int64) {
	e.exec(t, "UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1", id)
}

// makeDue stands for time passing beyond a task's backoff.
func (e *env) makeDue(t *testing.T, id int64) {
	e.exec(t, "UPDATE tasks SET run_after = now() WHERE id = $1", id)
}

func ids(ts []Task) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestLeaseOrderAndComplete(t *testing.T) {
	e := newEnv(t, Options{})
	low := e.enqueue(t, EnqueueRequest{Payload: []byte(`{"n":1}`)})
	high := e.enqueue(t, EnqueueRequest{Priority: 5})
	low2 := e.enqueue(t, EnqueueRequest{})
	if low.Status != StatusPending || low.Attempts != 0 || low.MaxAttempts != DefaultMaxAttempts {
		t.Fatalf("enqueued task: %+v", low)
	}

	got := e.lease(t, "w1", 2)
	if want := []int64{high.ID, low.ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("leased %v, want %v (priority first, then oldest)", ids(got), want)
	}
	for _, task := range got {
		if task.Status != StatusLeased || task.LeaseOwner != "w1" || task.Attempts != 1 || !task.LeaseExpiresAt.After(task.UpdatedAt) {
			t.Fatalf("leased task: %+v", task)
		}
	}
	if string(got[1].Payload) != `{"n": 1}` {
		t.Fatalf("payload %s", got[1].Payload)
	}
	if rest := e.lease(t, "w2", 10); !slices.Equal(ids(rest), []int64{low2.ID}) {
		t.Fatalf("second leaser got %v, want only %d", ids(rest), low2.ID)
	}
	if none := e.lease(t, "w3", 10); len(none) != 0 {
		t.Fatalf("leased %v from an empty queue", ids(none))
	}

	ctx := testCtx(t)
	if err := e.q.Complete(ctx, "w2", high.ID); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("complete by a non-holder: got %v, want ErrLeaseLost", err)
	}
	if err := e.q.Complete(ctx, "w1", high.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.q.Complete(ctx, "w1", high.ID); err != nil {
		t.Fatalf("completing twice (a retried call) must succeed: %v", err)
	}
	if task := e.get(t, high.ID); task.Status != StatusDone || task.LeaseOwner != "w1" || !task.LeaseExpiresAt.IsZero() {
		t.Fatalf("completed task: %+v", task)
	}
	if err := e.q.Complete(ctx, "w1", 999999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete a missing task: got %v, want ErrNotFound", err)
	}
}

func TestLeaseFilters(t *testing.T) {
	e := newEnv(t, Options{})
	del := e.enqueue(t, EnqueueRequest{Type: "DeleteObject"})
	rep := e.enqueue(t, EnqueueRequest{Type: "RepairShard"})
	other := e.enqueue(t, EnqueueRequest{Type: "DeleteObject", Region: "eu-west-1"})
	ctx := testCtx(t)

	tests := []struct {
		name   string
		types  []string
		region string
		want   []int64
	}{
		{"type and region", []string{"DeleteObject"}, region, []int64{del.ID}},
		{"type only", []string{"RepairShard", "Nothing"}, "", []int64{rep.ID}},
		{"remaining", nil, "", []int64{other.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.q.Lease(ctx, LeaseRequest{Owner: "w", Types: tt.types, Region: tt.region, Max: 10, Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Fatalf("leased %v, want %v", ids(got), tt.want)
			}
		})
	}
}

func TestLeaseValidation(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := testCtx(t)
	tests := []struct {
		name string
		req  LeaseRequest
	}{
		{"no owner", LeaseRequest{Max: 1, Lease: time.Minute}},
		{"zero max", LeaseRequest{Owner: "w", Lease: time.Minute}},
		{"huge max", LeaseRequest{Owner: "w", Max: MaxLeaseBatch + 1, Lease: time.Minute}},
		{"short lease", LeaseRequest{Owner: "w", Max: 1, Lease: time.Millisecond}},
		{"long lease", LeaseRequest{Owner: "w", Max: 1, Lease: 2 * MaxLease}},
		{"bad type", LeaseRequest{Owner: "w", Max: 1, Lease: time.Minute, Types: []string{"a b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.q.Lease(ctx, tt.req); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("got %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestExtendAndExpiredLeaseReclaimed(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.enqueue(t, EnqueueRequest{})
	b := e.enqueue(t, EnqueueRequest{})
	ctx := testCtx(t)
	e.lease(t, "w1", 2)

	before := e.get(t, a.ID).LeaseExpiresAt
	got, err := e.q.Extend(ctx, "w1", []int64{a.ID, b.ID, 424242}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int64{a.ID, b.ID}) {
		t.Fatalf("extended %v, want %v", got, []int64{a.ID, b.ID})
	}
	if after := e.get(t, a.ID).LeaseExpiresAt; !after.After(before) {
		t.Fatalf("lease expiry %v did not move past %v", after, before)
	}

	// a's lease lapses (the worker hung): another worker claims it.
	e.expireLease(t, a.ID)
	re := e.lease(t, "w2", 10)
	if !slices.Equal(ids(re), []int64{a.ID}) {
		t.Fatalf("w2 leased %v, want the expired %d only", ids(re), a.ID)
	}
	if re[0].Attempts != 2 || re[0].LeaseOwner != "w2" {
		t.Fatalf("re-leased task: %+v", re[0])
	}
	// The first holder learns it lost the task.
	got, err = e.q.Extend(ctx, "w1", []int64{a.ID, b.ID}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{b.ID}) {
		t.Fatalf("w1 extended %v, want only %d", got, b.ID)
	}
	if err := e.q.Complete(ctx, "w1", a.ID); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("complete by the old holder: got %v, want ErrLeaseLost", err)
	}
	if _, err := e.q.Fail(ctx, "w1", a.ID, "boom", true); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("fail by the old holder: got %v, want ErrLeaseLost", err)
	}
	if err := e.q.Complete(ctx, "w2", a.ID); err != nil {
		t.Fatal(err)
	}

	// An expired lease nobody claimed is still its holder's to extend.
	e.expireLease(t, b.ID)
	if got, err := e.q.Extend(ctx, "w1", []int64{b.ID}, time.Minute); err != nil || !slices.Equal(got, []int64{b.ID}) {
		t.Fatalf("extend an expired unclaimed lease: %v, %v", got, err)
	}
	if got, err := e.q.Extend(ctx, "w1", nil, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("extend nothing: %v, %v", got, err)
	}
}

func TestFailBackoff(t *testing.T) {
	tests := []struct {
		name   string
		jitter float64
		// want is the delay after each failed attempt, 1st, 2nd, ...
		want []time.Duration
	}{
		{"doubling up to the cap", 1, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{"low jitter", 0.5, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}},
		{"high jitter", 1.5, []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 15 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{BackoffBase: 2 * time.Second, BackoffCap: 10 * time.Second, Jitter: func() float64 { return tt.jitter }})
			task := e.enqueue(t, EnqueueRequest{MaxAttempts: 100})
			for i, want := range tt.want {
				if got := e.lease(t, "w", 1); len(got) != 1 {
					t.Fatalf("attempt %d: leased %d tasks", i+1, len(got))
				}
				failed, err := e.q.Fail(testCtx(t), "w", task.ID, fmt.Sprintf("error %d", i+1), true)
				if err != nil {
					t.Fatal(err)
				}
				if failed.Status != StatusPending || failed.LeaseOwner != "" || failed.LastError != fmt.Sprintf("error %d", i+1) {
					t.Fatalf("attempt %d: failed task %+v", i+1, failed)
				}
				// run_after and updated_at come from one statement's now().
				if got := failed.RunAfter.Sub(failed.UpdatedAt); got != want {
					t.Fatalf("attempt %d: backoff %v, want %v", i+1, got, want)
				}
				if again := e.lease(t, "w", 1); len(again) != 0 {
					t.Fatalf("attempt %d: task leased again before its backoff ended", i+1)
				}
				e.makeDue(t, task.ID)
			}
		})
	}
}

func TestFailToDead(t *testing.T) {
	tests := []struct {
		name        string
		maxAttempts int32
		retryable   []bool // one failure per entry
	}{
		{"permanent failure", 10, []bool{false}},
		{"attempts spent", 2, []bool{true, true}},
		{"single attempt", 1, []bool{true}},
		{"permanent after a retry", 5, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			task := e.enqueue(t, EnqueueRequest{Type: "Boom", MaxAttempts: tt.maxAttempts})
			var last Task
			for i, retryable := range tt.retryable {
				e.makeDue(t, task.ID)
				if got := e.lease(t, "w", 1); len(got) != 1 {
					t.Fatalf("failure %d: nothing to lease", i+1)
				}
				var err error
				last, err = e.q.Fail(testCtx(t), "w", task.ID, "disk on fire", retryable)
				if err != nil {
					t.Fatal(err)
				}
				if final := i == len(tt.retryable)-1; !final && last.Status != StatusPending {
					t.Fatalf("failure %d: status %s, want pending", i+1, last.Status)
				}
			}
			if last.Status != StatusDead || last.LastError != "disk on fire" || last.LeaseOwner != "w" {
				t.Fatalf("final task: %+v", last)
			}
			e.makeDue(t, task.ID)
			if got := e.lease(t, "w", 1); len(got) != 0 {
				t.Fatal("a dead task was leased")
			}
			if v := testutil.ToFloat64(e.q.metrics.dead.WithLabelValues("Boom")); v != 1 {
				t.Fatalf("dead_total %v, want 1", v)
			}
			if v := testutil.ToFloat64(e.q.metrics.failed.WithLabelValues("Boom")); v != float64(len(tt.retryable)) {
				t.Fatalf("failed_total %v, want %d", v, len(tt.retryable))
			}
		})
	}
}

func TestExpiredLeaseWithoutAttemptsGoesDead(t *testing.T) {
	e := newEnv(t, Options{})
	task := e.enqueue(t, EnqueueRequest{MaxAttempts: 1})
	e.lease(t, "crashing-worker", 1)
	e.exec(t, "UPDATE tasks SET last_error = 'earlier' WHERE id = $1", task.ID)
	e.expireLease(t, task.ID)
	if got := e.lease(t, "w2", 1); len(got) != 0 {
		t.Fatalf("leased %v: a task with no attempts left must not run again", ids(got))
	}
	got := e.get(t, task.ID)
	if got.Status != StatusDead || !strings.Contains(got.LastError, "lease expired after 1 attempts") || !strings.Contains(got.LastError, "earlier") {
		t.Fatalf("task: %+v", got)
	}
}

func TestRetryAndCancel(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := testCtx(t)
	dead := e.enqueue(t, EnqueueRequest{MaxAttempts: 1})
	e.lease(t, "w", 1)
	if _, err := e.q.Fail(ctx, "w", dead.ID, "nope", false); err != nil {
		t.Fatal(err)
	}
	done := e.enqueue(t, EnqueueRequest{})
	e.lease(t, "w", 1)
	if err := e.q.Complete(ctx, "w", done.ID); err != nil {
		t.Fatal(err)
	}
	pending := e.enqueue(t, EnqueueRequest{})

	retried, err := e.q.Retry(ctx, dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if retried.Status != StatusPending || retried.Attempts != 0 || retried.LeaseOwner != "" || retried.LastError != "nope" {
		t.Fatalf("retried task: %+v", retried)
	}
	if _, err := e.q.Retry(ctx, done.ID); !errors.Is(err, ErrWrongState) {
		t.Fatalf("retry a done task: got %v, want ErrWrongState", err)
	}
	if _, err := e.q.Retry(ctx, 987654); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry a missing task: got %v, want ErrNotFound", err)
	}

	if c, err := e.q.Cancel(ctx, pending.ID); err != nil || c.Status != StatusCancelled {
		t.Fatalf("cancel pending: %+v, %v", c, err)
	}
	if c, err := e.q.Cancel(ctx, pending.ID); err != nil || c.Status != StatusCancelled {
		t.Fatalf("cancel twice: %+v, %v", c, err)
	}
	if _, err := e.q.Cancel(ctx, done.ID); !errors.Is(err, ErrWrongState) {
		t.Fatalf("cancel a done task: got %v, want ErrWrongState", err)
	}
	// Cancelling a leased task takes it from its holder.
	leased := e.lease(t, "w2", 10)
	if !slices.Equal(ids(leased), []int64{dead.ID}) {
		t.Fatalf("leased %v, want the retried %d", ids(leased), dead.ID)
	}
	if _, err := e.q.Cancel(ctx, dead.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.q.Complete(ctx, "w2", dead.ID); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("complete a cancelled task: got %v, want ErrLeaseLost", err)
	}
	if got, err := e.q.Extend(ctx, "w2", []int64{dead.ID}, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("extend a cancelled task: %v, %v", got, err)
	}
	// A cancelled task can be retried.
	if r, err := e.q.Retry(ctx, pending.ID); err != nil || r.Status != StatusPending {
		t.Fatalf("retry a cancelled task: %+v, %v", r, err)
	}
}

func TestConcurrentLeasersNeverShare(t *testing.T) {
	e := newEnv(t, Options{})
	const n = 300
	for range n {
		e.enqueue(t, EnqueueRequest{})
	}
	const workers = 6
	got := make([][]int64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := testCtx(t)
			for {
				tasks, err := e.q.Lease(ctx, LeaseRequest{Owner: fmt.Sprintf("w%d", w), Max: 7, Lease: time.Minute})
				if err != nil {
					errs[w] = err
					return
				}
				if len(tasks) == 0 {
					return
				}
				got[w] = append(got[w], ids(tasks)...)
			}
		})
	}
	wg.Wait()
	seen := map[int64]int{}
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		for _, id := range got[w] {
			if prev, dup := seen[id]; dup {
				t.Fatalf("task %d leased by workers %d and %d", id, prev, w)
			}
			seen[id] = w
		}
	}
	if len(seen) != n {
		t.Fatalf("leased %d distinct tasks, want %d", len(seen), n)
	}
}

func TestEnqueueValidation(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := testCtx(t)
	tests := []struct {
		name string
		req  EnqueueRequest
	}{
		{"no type", EnqueueRequest{Region: region}},
		{"type with space", EnqueueRequest{Type: "Delete Object", Region: region}},
		{"no region", EnqueueRequest{Type: "X"}},
		{"upper-case region", EnqueueRequest{Type: "X", Region: "US"}},
		{"not json", EnqueueRequest{Type: "X", Region: region, Payload: []byte("{")}},
		{"nul in json", EnqueueRequest{Type: "X", Region: region, Payload: []byte(`{"a":"\u0000"}`)}},
		{"huge payload", EnqueueRequest{Type: "X", Region: region, Payload: []byte(`"` + strings.Repeat("a", MaxPayloadBytes) + `"`)}},
		{"negative attempts", EnqueueRequest{Type: "X", Region: region, MaxAttempts: -1}},
		{"too many attempts", EnqueueRequest{Type: "X", Region: region, MaxAttempts: MaxMaxAttempts + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.q.Enqueue(ctx, tt.req); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("got %v, want ErrInvalidArgument", err)
			}
		})
	}
	task, err := e.q.Enqueue(ctx, EnqueueRequest{Type: "X", Region: region})
	if err != nil || string(task.Payload) != "{}" {
		t.Fatalf("empty payload stored as %q, %v; want {}", task.Payload, err)
	}
}

func TestFailStoresCleanErrors(t *testing.T) {
	e := newEnv(t, Options{})
	task := e.enqueue(t, EnqueueRequest{})
	e.lease(t, "w", 1)
	msg := "bad\x00byte \xff " + strings.Repeat("é", MaxErrorBytes)
	got, err := e.q.Fail(testCtx(t), "w", task.ID, msg, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.LastError) > MaxErrorBytes || strings.ContainsRune(got.LastError, 0) || !strings.HasPrefix(got.LastError, "badbyte \uFFFD") {
		t.Fatalf("stored error of %d bytes: %.40q", len(got.LastError), got.LastError)
	}
}

func TestListStatsAndMetrics(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := testCtx(t)
	var del []Task
	for range 3 {
		del = append(del, e.enqueue(t, EnqueueRequest{Type: "DeleteObject"}))
	}
	rep := e.enqueue(t, EnqueueRequest{Type: "RepairShard"})
	leased := e.lease(t, "w", 1, "RepairShard")
	if len(leased) != 1 {
		t.Fatal("nothing leased")
	}

	page, err := e.q.List(ctx, ListFilter{Type: "DeleteObject", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(page), ids(del[:2])) {
		t.Fatalf("first page %v, want %v", ids(page), ids(del[:2]))
	}
	page, err = e.q.List(ctx, ListFilter{Type: "DeleteObject", AfterID: page[1].ID})
	if err != nil || !slices.Equal(ids(page), ids(del[2:])) {
		t.Fatalf("second page %v, %v; want %v", ids(page), err, ids(del[2:]))
	}
	page, err = e.q.List(ctx, ListFilter{Status: StatusLeased})
	if err != nil || !slices.Equal(ids(page), []int64{rep.ID}) {
		t.Fatalf("leased tasks %v, %v; want [%d]", ids(page), err, rep.ID)
	}
	if _, err := e.q.List(ctx, ListFilter{Status: "sleeping"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad status: got %v, want ErrInvalidArgument", err)
	}
	if _, err := e.q.List(ctx, ListFilter{Limit: MaxListLimit + 1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("huge limit: got %v, want ErrInvalidArgument", err)
	}

	// The oldest pending task has waited an hour.
	e.exec(t, "UPDATE tasks SET created_at = now() - interval '2 hours', run_after = now() - interval '1 hour' WHERE id = $1", del[0].ID)
	stats, err := e.q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, s := range stats {
		counts[s.Type+"/"+string(s.Status)] = s.Count
		if s.Type == "DeleteObject" && (s.OldestAge < 2*time.Hour || s.OldestAge > 3*time.Hour) {
			t.Fatalf("DeleteObject oldest age %v, want about 2h", s.OldestAge)
		}
	}
	if want := map[string]int64{"DeleteObject/pending": 3, "RepairShard/leased": 1}; !mapsEqual(counts, want) {
		t.Fatalf("stats %v, want %v", counts, want)
	}

	if err := e.q.RefreshMetrics(ctx); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(e.q.metrics.tasks.WithLabelValues("DeleteObject", "pending")); v != 3 {
		t.Fatalf("tasks gauge %v, want 3", v)
	}
	if v := testutil.ToFloat64(e.q.metrics.oldest); v < 3600 || v > 7200 {
		t.Fatalf("oldest pending %v s, want about 3600", v)
	}
	// Once the repair is done its leased group disappears from the gauge.
	if err := e.q.Complete(ctx, "w", rep.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.q.RefreshMetrics(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(e.reg, "anvil_metadata_tasks"); err != nil || n != 2 {
		t.Fatalf("anvil_metadata_tasks has %d series (%v), want 2 (DeleteObject/pending, RepairShard/done)", n, err)
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP anvil_metadata_tasks Tasks in the queue by type and status, refreshed periodically.
# TYPE anvil_metadata_tasks gauge
anvil_metadata_tasks{status="done",type="RepairShard"} 1
anvil_metadata_tasks{status="pending",type="DeleteObject"} 3
`), "anvil_metadata_tasks"); err != nil {
		t.Fatal(err)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDeleteFinished(t *testing.T) {
	e := newEnv(t, Options{Retention: time.Hour})
	ctx := testCtx(t)
	oldDone := e.enqueue(t, EnqueueRequest{})
	newDone := e.enqueue(t, EnqueueRequest{})
	oldDead := e.enqueue(t, EnqueueRequest{})
	oldCancelled := e.enqueue(t, EnqueueRequest{})
	e.exec(t, "UPDATE tasks SET status = 'done' WHERE id IN ($1, $2)", oldDone.ID, newDone.ID)
	e.exec(t, "UPDATE tasks SET status = 'dead' WHERE id = $1", oldDead.ID)
	e.exec(t, "UPDATE tasks SET status = 'cancelled' WHERE id = $1", oldCancelled.ID)
	e.exec(t, "UPDATE tasks SET updated_at = now() - interval '2 hours' WHERE id IN ($1, $2, $3)", oldDone.ID, oldDead.ID, oldCancelled.ID)

	n, err := e.q.DeleteFinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("deleted %d tasks, want 2", n)
	}
	for _, id := range []int64{oldDone.ID, oldCancelled.ID} {
		if _, err := e.q.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("task %d: got %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []int64{newDone.ID, oldDead.ID} {
		e.get(t, id) // kept: recent, or dead (visible until an operator acts)
	}
}

func TestRunMaintenanceStops(t *testing.T) {
	e := newEnv(t, Options{StatsInterval: time.Millisecond})
	e.enqueue(t, EnqueueRequest{})
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error)
	go func() { done <- e.q.RunMaintenance(ctx) }()
	// Wait for a refresh to land, then stop.
	for testutil.ToFloat64(e.q.metrics.tasks.WithLabelValues("DeleteObject", "pending")) != 1 {
		select {
		case err := <-done:
			t.Fatalf("maintenance stopped early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// insertVersion writes an object_versions row directly, as a commit would.
func (e *env) insertVersion(t *testing.T, bucketID int64, key string, latest bool, state string) string {
	t.Helper()
	var id string
	err := e.regional.QueryRow(testCtx(t), `
		INSERT INTO object_versions (bucket_id, key, is_latest, state, size, last_modified, deleted_at)
		VALUES ($1, $2, $3, $4, 0, now(), CASE WHEN $4 = 'deleted' THEN now() END)
		RETURNING version_id::text`, bucketID, key, latest, state).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) versionExists(t *testing.T, id string) bool {
	t.Helper()
	var ok bool
	if err := e.regional.QueryRow(testCtx(t), "SELECT EXISTS (SELECT 1 FROM object_versions WHERE version_id = $1::uuid)", id).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestPurgeVersion(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := testCtx(t)
	deleted := e.insertVersion(t, 7, "photos/cat.jpg", false, "deleted")
	latest := e.insertVersion(t, 7, "photos/cat.jpg", true, "live")
	// A noncurrent version kept by versioning is live: never purged.
	noncurrent := e.insertVersion(t, 7, "photos/dog.jpg", false, "live")
	otherKey := e.insertVersion(t, 7, "photos/fox.jpg", false, "deleted")

	tests := []struct {
		name       string
		region     string
		bucketID   int64
		key        string
		versionID  string
		wantPurged bool
		wantErr    error
		wantKept   string // a version that must still exist afterwards
	}{
		{"latest live version refused", region, 7, "photos/cat.jpg", latest, false, ErrWrongState, latest},
		{"noncurrent live version refused", region, 7, "photos/dog.jpg", noncurrent, false, ErrWrongState, noncurrent},
		{"deleted version of another key refused", region, 7, "photos/cat.jpg", otherKey, false, ErrWrongState, otherKey},
		{"deleted version of another bucket refused", region, 8, "photos/fox.jpg", otherKey, false, ErrWrongState, otherKey},
		{"deleted version purged", region, 7, "photos/cat.jpg", deleted, true, nil, latest},
		{"purging twice succeeds", region, 7, "photos/cat.jpg", deleted, false, nil, latest},
		{"unknown version succeeds", region, 7, "x", "6f1c7a52-0000-4000-8000-000000000000", false, nil, ""},
		{"region not served", "eu-west-1", 7, "photos/fox.jpg", otherKey, false, ErrRegionNotServed, otherKey},
		{"not a uuid", region, 7, "x", "nope", false, ErrInvalidArgument, ""},
		{"bad bucket id", region, 0, "x", deleted, false, ErrInvalidArgument, ""},
		{"nul in key", region, 7, "a\x00b", deleted, false, ErrInvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			purged, err := e.q.PurgeVersion(ctx, tt.region, tt.bucketID, tt.key, tt.versionID)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if purged != tt.wantPurged {
				t.Fatalf("purged %v, want %v", purged, tt.wantPurged)
			}
			if tt.wantKept != "" && !e.versionExists(t, tt.wantKept) {
				t.Fatalf("version %s was removed", tt.wantKept)
			}
		})
	}
	if e.versionExists(t, deleted) {
		t.Fatal("the purged version is still there")
	}
}
