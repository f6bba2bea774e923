package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type failure struct {
	id        int64
	msg       string
	retryable bool
}

// fakeQueue is an in-memory TaskService client. Methods the runner does not
// call are left to the nil embedded interface.
type fakeQueue struct {
	metadatav1.TaskServiceClient

	mu        sync.Mutex
	pending   []*metadatav1.Task
	leased    map[int64]*metadatav1.Task
	completed []int64
	failed    []failure
	extended  map[int64]int
	refuse    map[int64]bool // extensions refused: the lease moved on
	leaseErrs int            // LeaseTasks calls to fail first
	requests  []*metadatav1.LeaseTasksRequest
	changed   chan struct{} // closed and replaced on every call
}

func newFake(types ...string) *fakeQueue {
	f := &fakeQueue{leased: map[int64]*metadatav1.Task{}, extended: map[int64]int{}, refuse: map[int64]bool{}, changed: make(chan struct{})}
	for i, typ := range types {
		f.pending = append(f.pending, &metadatav1.Task{Id: int64(i + 1), Type: typ, Region: "r1", Payload: []byte("{}")})
	}
	return f
}

// poke wakes every waiter; f.mu is held.
func (f *fakeQueue) poke() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeQueue) LeaseTasks(_ context.Context, in *metadatav1.LeaseTasksRequest, _ ...grpc.CallOption) (*metadatav1.LeaseTasksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.poke()
	f.requests = append(f.requests, in)
	if f.leaseErrs > 0 {
		f.leaseErrs--
		return nil, status.Error(codes.Unavailable, "metadata down")
	}
	n := min(int(in.GetMaxTasks()), len(f.pending))
	out := f.pending[:n]
	f.pending = f.pending[n:]
	for _, t := range out {
		t.Attempts++
		t.LeaseOwner = in.GetOwner()
		t.Status = metadatav1.TaskStatus_TASK_STATUS_LEASED
		f.leased[t.GetId()] = t
	}
	return &metadatav1.LeaseTasksResponse{Tasks: out}, nil
}

func (f *fakeQueue) ExtendLease(_ context.Context, in *metadatav1.ExtendLeaseRequest, _ ...grpc.CallOption) (*metadatav1.ExtendLeaseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.poke()
	var out []int64
	for _, id := range in.GetTaskIds() {
		if _, ok := f.leased[id]; ok && !f.refuse[id] {
			f.extended[id]++
			out = append(out, id)
		}
	}
	return &metadatav1.ExtendLeaseResponse{Extended: out}, nil
}

func (f *fakeQueue) CompleteTask(_ context.Context, in *metadatav1.CompleteTaskRequest, _ ...grpc.CallOption) (*metadatav1.CompleteTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.poke()
	if f.refuse[in.GetTaskId()] {
		return nil, status.Error(codes.FailedPrecondition, "lease moved on")
	}
	delete(f.leased, in.GetTaskId())
	f.completed = append(f.completed, in.GetTaskId())
	return &metadatav1.CompleteTaskResponse{}, nil
}

func (f *fakeQueue) FailTask(_ context.Context, in *metadatav1.FailTaskRequest, _ ...grpc.CallOption) (*metadatav1.FailTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.poke()
	t := f.leased[in.GetTaskId()]
	delete(f.leased, in.GetTaskId())
	f.failed = append(f.failed, failure{in.GetTaskId(), in.GetError(), in.GetRetryable()})
	st := metadatav1.TaskStatus_TASK_STATUS_PENDING
	if !in.GetRetryable() {
		st = metadatav1.TaskStatus_TASK_STATUS_DEAD
	}
	return &metadatav1.FailTaskResponse{Task: &metadatav1.Task{Id: t.GetId(), Status: st}}, nil
}

// await blocks until cond holds, re-checking after every call to the fake;
// it gives up after a generous limit.
func (f *fakeQueue) await(what string, cond func(f *fakeQueue) bool) error {
	deadline := time.After(30 * time.Second)
	for {
		f.mu.Lock()
		ok := cond(f)
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return errors.New("timed out waiting for " + what)
		}
	}
}

func (f *fakeQueue) waitFor(t *testing.T, what string, cond func(f *fakeQueue) bool) {
	t.Helper()
	if err := f.await(what, cond); err != nil {
		t.Fatal(err)
	}
}

func testConfig() Config {
	return Config{
		Owner: "w1/test", Region: "r1", Concurrency: 3, Lease: 30 * time.Second,
		PollInterval: time.Millisecond, MaxBatch: 10, StopTimeout: 30 * time.Second,
	}
}

type started struct {
	r    *Runner
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, cfg Config, f *fakeQueue, handlers map[string]Handler) *started {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(cfg, f, handlers, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{r: r, reg: reg, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// stopAndWait stops the runner and waits for Run to return.
func (s *started) stopAndWait(t *testing.T) {
	t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		s.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after stop")
	}
}

func (s *started) outcome(typ, outcome string) float64 {
	return testutil.ToFloat64(s.r.metrics.tasks.WithLabelValues(typ, outcome))
}

func TestRunsEveryTaskWithBoundedConcurrency(t *testing.T) {
	types := make([]string, 20)
	for i := range types {
		types[i] = "A"
	}
	f := newFake(types...)
	var mu sync.Mutex
	running, peak := 0, 0
	release := make(chan struct{})
	handler := func(ctx context.Context, task *metadatav1.Task) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	s := start(t, testConfig(), f, map[string]Handler{"A": handler, "B": handler})
	// Let the runner fill its slots, then let everything through.
	f.waitFor(t, "three tasks leased", func(f *fakeQueue) bool { return len(f.leased) == 3 })
	close(release)
	f.waitFor(t, "all tasks completed", func(f *fakeQueue) bool { return len(f.completed) == 20 })
	s.stopAndWait(t)

	if peak > 3 {
		t.Fatalf("%d tasks ran at once, concurrency is 3", peak)
	}
	slices.Sort(f.completed)
	for i, id := range f.completed {
		if id != int64(i+1) {
			t.Fatalf("completed %v, want each of 1..20 once", f.completed)
		}
	}
	for _, req := range f.requests {
		if req.GetOwner() != "w1/test" || req.GetRegion() != "r1" || !slices.Equal(req.GetTypes(), []string{"A", "B"}) ||
			req.GetMaxTasks() < 1 || req.GetMaxTasks() > 3 || req.GetLeaseSeconds() != 30 {
			t.Fatalf("lease request %v", req)
		}
	}
	if v := s.outcome("A", OutcomeCompleted); v != 20 {
		t.Fatalf("completed outcome %v, want 20", v)
	}
	if v := testutil.ToFloat64(s.r.metrics.inFlight); v != 0 {
		t.Fatalf("in-flight gauge %v after stop", v)
	}
}

func TestFailureClassification(t *testing.T) {
	boom := errors.New("node down")
	tests := []struct {
		name          string
		typ           string
		handler       Handler
		wantRetryable bool
		wantMsg       string
		wantOutcome   string
	}{
		{"plain error retries", "A", func(context.Context, *metadatav1.Task) error { return boom }, true, "node down", OutcomeRetry},
		{"wrapped error retries", "A", func(context.Context, *metadatav1.Task) error { return errors.Join(errors.New("x"), boom) }, true, "x\nnode down", OutcomeRetry},
		{"permanent error", "A", func(context.Context, *metadatav1.Task) error { return Permanent(errors.New("bad payload")) }, false, "bad payload", OutcomePermanent},
		{"wrapped permanent error", "A", func(context.Context, *metadatav1.Task) error {
			return errors.Join(Permanent(errors.New("bad payload")))
		}, false, "bad payload", OutcomePermanent},
		{"panic", "A", func(context.Context, *metadatav1.Task) error { panic("nil map") }, false, "handler panicked: nil map", OutcomePermanent},
		{"no handler", "Z", nil, false, `no handler for task type "Z"`, OutcomePermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(tt.typ)
			handlers := map[string]Handler{"A": tt.handler}
			if tt.handler == nil {
				handlers = map[string]Handler{"A": func(context.Context, *metadatav1.Task) error { return nil }}
			}
			s := start(t, testConfig(), f, handlers)
			f.waitFor(t, "a failure", func(f *fakeQueue) bool { return len(f.failed) == 1 })
			s.stopAndWait(t)
			got := f.failed[0]
			if got.retryable != tt.wantRetryable || got.msg != tt.wantMsg {
				t.Fatalf("failed with (%q, retryable %v), want (%q, %v)", got.msg, got.retryable, tt.wantMsg, tt.wantRetryable)
			}
			if len(f.completed) != 0 {
				t.Fatalf("completed %v", f.completed)
			}
			if v := s.outcome(tt.typ, tt.wantOutcome); v != 1 {
				t.Fatalf("outcome %s counted %v times", tt.wantOutcome, v)
			}
		})
	}
}

func TestPermanentNil(t *testing.T) {
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
	if IsPermanent(errors.New("x")) {
		t.Fatal("a plain error is not permanent")
	}
}

func TestExtendsLeasesWhileRunning(t *testing.T) {
	f := newFake("A")
	cfg := testConfig()
	cfg.Lease = 30 * time.Millisecond // extended every 10ms
	handler := func(ctx context.Context, task *metadatav1.Task) error {
		// Finish only after the lease was renewed twice.
		return f.await("two extensions", func(f *fakeQueue) bool { return f.extended[task.GetId()] >= 2 })
	}
	s := start(t, cfg, f, map[string]Handler{"A": handler})
	f.waitFor(t, "completion", func(f *fakeQueue) bool { return len(f.completed) == 1 })
	s.stopAndWait(t)
	if v := s.outcome("A", OutcomeCompleted); v != 1 {
		t.Fatalf("completed outcome %v", v)
	}
}

func TestLostLeaseCancelsHandler(t *testing.T) {
	f := newFake("A")
	f.refuse[1] = true // another worker took the task over
	cfg := testConfig()
	cfg.Lease = 30 * time.Millisecond
	cancelled := make(chan struct{})
	handler := func(ctx context.Context, task *metadatav1.Task) error {
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}
	s := start(t, cfg, f, map[string]Handler{"A": handler})
	select {
	case <-cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("handler not cancelled after its lease was lost")
	}
	s.stopAndWait(t)
	if len(f.completed) != 0 || len(f.failed) != 0 {
		t.Fatalf("a lost task was reported: completed %v, failed %v", f.completed, f.failed)
	}
	if v := s.outcome("A", OutcomeLeaseLost); v != 1 {
		t.Fatalf("lease_lost outcome %v", v)
	}
}

func TestCompleteAfterLeaseMovedOn(t *testing.T) {
	f := newFake("A")
	handler := func(ctx context.Context, task *metadatav1.Task) error {
		f.mu.Lock()
		f.refuse[task.GetId()] = true // lapsed and re-leased elsewhere mid-run
		f.mu.Unlock()
		return nil
	}
	s := start(t, testConfig(), f, map[string]Handler{"A": handler})
	f.waitFor(t, "the task to end", func(*fakeQueue) bool { return s.outcome("A", OutcomeLeaseLost) == 1 })
	s.stopAndWait(t)
	if len(f.completed) != 0 {
		t.Fatalf("completed %v", f.completed)
	}
}

func TestGracefulStopFinishesTasksInFlight(t *testing.T) {
	f := newFake("A", "A", "A")
	cfg := testConfig()
	cfg.Concurrency = 1
	entered := make(chan struct{})
	release := make(chan struct{})
	handler := func(ctx context.Context, task *metadatav1.Task) error {
		close(entered)
		<-release
		return ctx.Err() // nil unless the runner gave up on it
	}
	s := start(t, cfg, f, map[string]Handler{"A": handler})
	<-entered
	s.stop()
	close(release)
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
	s.done <- nil
	if !slices.Equal(f.completed, []int64{1}) {
		t.Fatalf("completed %v, want the task in flight [1]", f.completed)
	}
	if len(f.pending) != 2 {
		t.Fatalf("%d tasks pending after stop, want 2: nothing is leased once stopped", len(f.pending))
	}
}

func TestStopTimeoutAbandonsTasks(t *testing.T) {
	f := newFake("A")
	cfg := testConfig()
	cfg.StopTimeout = 0
	entered := make(chan struct{})
	handler := func(ctx context.Context, task *metadatav1.Task) error {
		close(entered)
		<-ctx.Done()
		return ctx.Err()
	}
	s := start(t, cfg, f, map[string]Handler{"A": handler})
	<-entered
	s.stopAndWait(t)
	if len(f.completed) != 0 || len(f.failed) != 0 {
		t.Fatalf("an abandoned task was reported: completed %v, failed %v", f.completed, f.failed)
	}
	if v := s.outcome("A", OutcomeAbandoned); v != 1 {
		t.Fatalf("abandoned outcome %v", v)
	}
}

func TestLeaseErrorsAreRetried(t *testing.T) {
	f := newFake("A")
	f.leaseErrs = 3
	s := start(t, testConfig(), f, map[string]Handler{"A": func(context.Context, *metadatav1.Task) error { return nil }})
	f.waitFor(t, "completion", func(f *fakeQueue) bool { return len(f.completed) == 1 })
	s.stopAndWait(t)
	if v := testutil.ToFloat64(s.r.metrics.errors.WithLabelValues("lease")); v != 3 {
		t.Fatalf("lease errors %v, want 3", v)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no owner", func(c *Config) { c.Owner = "" }},
		{"no concurrency", func(c *Config) { c.Concurrency = 0 }},
		{"no lease", func(c *Config) { c.Lease = 0 }},
		{"long lease", func(c *Config) { c.Lease = 2 * time.Hour }},
		{"no poll interval", func(c *Config) { c.PollInterval = 0 }},
		{"no batch", func(c *Config) { c.MaxBatch = 0 }},
		{"negative stop timeout", func(c *Config) { c.StopTimeout = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.mutate(&c)
			if err := c.Validate(); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if _, err := New(testConfig(), newFake(), nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err == nil {
		t.Fatal("New without handlers: want an error")
	}
}
