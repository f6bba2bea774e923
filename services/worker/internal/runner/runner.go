// Package runner is the worker's lease loop: it leases tasks of the types it
// has handlers for from the metadata service's TaskService, runs them with
// bounded concurrency, keeps their leases alive while they run, and
// completes or fails them.
//
// Stopping is graceful: once Run's context is done no more tasks are leased,
// in-flight handlers keep running (and their leases keep being extended) for
// up to StopTimeout; then their contexts are cancelled and their leases are
// left to lapse, so another worker takes them over. Handlers must be
// idempotent: a task may run again after a lost lease or a crash.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Handler runs one task. A nil error completes the task; an error fails it,
// retryably unless wrapped with Permanent. The context is cancelled when
// the task's lease is lost or the worker gives up waiting at a stop.
type Handler func(ctx context.Context, task *metadatav1.Task) error

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the task goes dead at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Config tunes the loop.
type Config struct {
	// Owner names this process in leases; unique per process.
	Owner string
	// Region to lease tasks of; empty for all.
	Region string
	// Concurrency bounds the tasks running at once.
	Concurrency int
	// Lease is the lease requested (rounded up to whole seconds) and renewed
	// every Lease/3.
	Lease time.Duration
	// PollInterval is the wait after finding the queue empty or failing to
	// reach it.
	PollInterval time.Duration
	// MaxBatch bounds the tasks leased per call (never more than free
	// slots).
	MaxBatch int
	// StopTimeout bounds the wait for in-flight tasks once stopped.
	StopTimeout time.Duration
	// CallTimeout bounds each TaskService call.
	CallTimeout time.Duration
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.Owner == "":
		return errors.New("runner: owner is required")
	case c.Concurrency < 1:
		return fmt.Errorf("worker.concurrency %d: want at least 1", c.Concurrency)
	case c.Lease <= 0 || c.Lease > time.Hour:
		return fmt.Errorf("worker.lease %s: want more than 0 and at most 1h", c.Lease)
	case c.PollInterval <= 0:
		return fmt.Errorf("worker.poll-interval %s: want more than 0", c.PollInterval)
	case c.MaxBatch < 1 || c.MaxBatch > 1000:
		return fmt.Errorf("worker.max-batch %d: want 1 to 1000", c.MaxBatch)
	case c.StopTimeout < 0:
		return fmt.Errorf("worker.stop-timeout %s: want 0 or more", c.StopTimeout)
	}
	return nil
}

// Outcomes of a task run, the outcome label of anvil_worker_tasks_total.
const (
	OutcomeCompleted = "completed"
	OutcomeRetry     = "retry"
	OutcomePermanent = "permanent"
	OutcomeLeaseLost = "lease_lost"
	OutcomeAbandoned = "abandoned"
)

type metrics struct {
	tasks    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	errors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tasks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_worker_tasks_total",
			Help: "Task runs by type and outcome (completed, retry, permanent, lease_lost, abandoned).",
		}, []string{"type", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "anvil_worker_task_duration_seconds",
			Help:    "Time handlers took to run a task, by type.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"type"}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_worker_tasks_in_flight",
			Help: "Tasks this worker is running now.",
		}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_worker_queue_errors_total",
			Help: "Failed calls to the task queue, by call.",
		}, []string{"call"}),
	}
}

// inflight is one running task.
type inflight struct {
	task   *metadatav1.Task
	cancel context.CancelFunc
	lost   atomic.Bool
}

// Runner is the lease loop.
type Runner struct {
	cfg      Config
	client   metadatav1.TaskServiceClient
	handlers map[string]Handler
	types    []string
	log      *slog.Logger
	metrics  *metrics

	mu       sync.Mutex
	running  map[int64]*inflight
	finished chan struct{} // poked whenever a task ends, waking the loop
}

// New returns a Runner leasing the types in handlers.
func New(cfg Config, client metadatav1.TaskServiceClient, handlers map[string]Handler, log *slog.Logger, reg prometheus.Registerer) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(handlers) == 0 {
		return nil, errors.New("runner: no handlers")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	types := make([]string, 0, len(handlers))
	for t := range handlers {
		types = append(types, t)
	}
	slices.Sort(types)
	return &Runner{
		cfg: cfg, client: client, handlers: handlers, types: types, log: log,
		metrics:  newMetrics(reg),
		running:  map[int64]*inflight{},
		finished: make(chan struct{}, 1),
	}, nil
}

// Run leases and runs tasks until ctx is done, then stops gracefully. It
// returns nil once every task it started has ended.
func (r *Runner) Run(ctx context.Context) error {
	// Handlers outlive ctx by up to StopTimeout.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	extendCtx, stopExtending := context.WithCancel(workCtx)
	extendDone := make(chan struct{})
	go func() {
		defer close(extendDone)
		r.extendLoop(extendCtx)
	}()

	var wg sync.WaitGroup
	r.leaseLoop(ctx, workCtx, &wg)

	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	if n := r.inFlight(); n > 0 {
		r.log.Info("worker stopping, waiting for tasks in flight", "tasks", n, "timeout", r.cfg.StopTimeout)
	}
	timer := time.NewTimer(r.cfg.StopTimeout)
	select {
	case <-drained:
		timer.Stop()
	case <-timer.C:
		r.log.Warn("tasks still running at stop: cancelling them, their leases will lapse", "tasks", r.inFlight())
		cancelWork()
		<-drained
	}
	stopExtending()
	<-extendDone
	return nil
}

func (r *Runner) inFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// leaseLoop leases into free slots until ctx is done.
func (r *Runner) leaseLoop(ctx, workCtx context.Context, wg *sync.WaitGroup) {
	failing := false
	for ctx.Err() == nil {
		free := r.cfg.Concurrency - r.inFlight()
		if free <= 0 {
			select {
			case <-ctx.Done():
			case <-r.finished:
			}
			continue
		}
		want := min(free, r.cfg.MaxBatch)
		tasks, err := r.lease(ctx, want)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			r.metrics.errors.WithLabelValues("lease").Inc()
			if !failing {
				// Logged once per outage, not every poll.
				r.log.Warn("lease tasks failing", "err", err)
				failing = true
			}
		case failing:
			r.log.Info("lease tasks recovered")
			failing = false
		}
		for _, t := range tasks {
			r.start(workCtx, wg, t)
		}
		if err != nil || len(tasks) < want {
			r.sleep(ctx, r.cfg.PollInterval)
		}
	}
}

// sleep waits for d or ctx, whichever ends first.
func (r *Runner) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *Runner) leaseSeconds() int64 {
	return int64((r.cfg.Lease + time.Second - 1) / time.Second)
}

func (r *Runner) lease(ctx context.Context, n int) ([]*metadatav1.Task, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	resp, err := r.client.LeaseTasks(ctx, &metadatav1.LeaseTasksRequest{
		Owner: r.cfg.Owner, Types: r.types, Region: r.cfg.Region,
		MaxTasks: int32(n), LeaseSeconds: r.leaseSeconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("lease tasks: %w", err)
	}
	return resp.GetTasks(), nil
}

// start runs a leased task in its own goroutine, owned by wg.
func (r *Runner) start(workCtx context.Context, wg *sync.WaitGroup, t *metadatav1.Task) {
	taskCtx, cancel := context.WithCancel(workCtx)
	inf := &inflight{task: t, cancel: cancel}
	r.mu.Lock()
	if _, dup := r.running[t.GetId()]; dup {
		// Our own lease lapsed and we leased the task again: the run in
		// progress goes on under the new lease (same owner).
		r.mu.Unlock()
		cancel()
		return
	}
	r.running[t.GetId()] = inf
	r.mu.Unlock()
	r.metrics.inFlight.Inc()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.finish(t.GetId(), cancel)
		start := time.Now()
		err := r.call(taskCtx, t)
		r.metrics.duration.WithLabelValues(t.GetType()).Observe(time.Since(start).Seconds())
		r.report(workCtx, inf, err)
	}()
}

func (r *Runner) finish(id int64, cancel context.CancelFunc) {
	cancel()
	r.mu.Lock()
	delete(r.running, id)
	r.mu.Unlock()
	r.metrics.inFlight.Dec()
	select {
	case r.finished <- struct{}{}:
	default:
	}
}

// call runs the task's handler, turning a panic into a permanent error.
func (r *Runner) call(ctx context.Context, t *metadatav1.Task) (err error) {
	h, ok := r.handlers[t.GetType()]
	if !ok {
		return Permanent(fmt.Errorf("no handler for task type %q", t.GetType()))
	}
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("panic in task handler", "task_id", t.GetId(), "type", t.GetType(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = Permanent(fmt.Errorf("handler panicked: %v", p))
		}
	}()
	return h(ctx, t)
}

// report completes or fails a task, unless its lease is gone or the worker
// gave up on it.
func (r *Runner) report(workCtx context.Context, inf *inflight, err error) {
	t := inf.task
	log := r.log.With("task_id", t.GetId(), "type", t.GetType(), "attempt", t.GetAttempts())
	outcome := func(o string) { r.metrics.tasks.WithLabelValues(t.GetType(), o).Inc() }
	switch {
	case inf.lost.Load():
		log.Warn("task lease lost while running; another worker owns it now", "err", err)
		outcome(OutcomeLeaseLost)
		return
	case err != nil && workCtx.Err() != nil:
		log.Warn("task abandoned at stop; its lease will lapse", "err", err)
		outcome(OutcomeAbandoned)
		return
	}
	// Reporting must not be cut short by the stop: the work is done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(workCtx), r.cfg.CallTimeout)
	defer cancel()
	if err == nil {
		_, rerr := r.client.CompleteTask(ctx, &metadatav1.CompleteTaskRequest{Owner: r.cfg.Owner, TaskId: t.GetId()})
		switch {
		case status.Code(rerr) == codes.FailedPrecondition:
			log.Warn("task done but its lease moved on", "err", rerr)
			outcome(OutcomeLeaseLost)
		case rerr != nil:
			// The lease lapses and the task runs again: handlers are
			// idempotent.
			r.metrics.errors.WithLabelValues("complete").Inc()
			log.Warn("complete task", "err", rerr)
			outcome(OutcomeCompleted)
		default:
			log.Debug("task completed")
			outcome(OutcomeCompleted)
		}
		return
	}
	retryable := !IsPermanent(err)
	resp, rerr := r.client.FailTask(ctx, &metadatav1.FailTaskRequest{
		Owner: r.cfg.Owner, TaskId: t.GetId(), Error: err.Error(), Retryable: retryable,
	})
	switch {
	case status.Code(rerr) == codes.FailedPrecondition:
		log.Warn("task failed but its lease moved on", "err", err)
		outcome(OutcomeLeaseLost)
		return
	case rerr != nil:
		r.metrics.errors.WithLabelValues("fail").Inc()
		log.Warn("fail task", "err", rerr, "task_err", err)
	case resp.GetTask().GetStatus() == metadatav1.TaskStatus_TASK_STATUS_DEAD:
		log.Error("task dead", "err", err, "attempts", resp.GetTask().GetAttempts())
	default:
		log.Warn("task failed, will retry", "err", err, "run_after", resp.GetTask().GetRunAfter().AsTime())
	}
	if retryable {
		outcome(OutcomeRetry)
	} else {
		outcome(OutcomePermanent)
	}
}

// extendLoop renews the leases of running tasks every Lease/3 until ctx is
// done, cancelling tasks whose lease is gone.
func (r *Runner) extendLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.extend(ctx)
	}
}

func (r *Runner) extend(ctx context.Context) {
	r.mu.Lock()
	ids := make([]int64, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	resp, err := r.client.ExtendLease(callCtx, &metadatav1.ExtendLeaseRequest{
		Owner: r.cfg.Owner, TaskIds: ids, LeaseSeconds: r.leaseSeconds(),
	})
	if err != nil {
		// Try again next tick: the lease is three ticks long.
		if ctx.Err() == nil {
			r.metrics.errors.WithLabelValues("extend").Inc()
			r.log.Warn("extend task leases", "err", err, "tasks", len(ids))
		}
		return
	}
	kept := map[int64]bool{}
	for _, id := range resp.GetExtended() {
		kept[id] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if inf, ok := r.running[id]; ok && !kept[id] {
			inf.lost.Store(true)
			inf.cancel()
		}
	}
}
