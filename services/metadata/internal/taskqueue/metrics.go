package taskqueue

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	tasks  *prometheus.GaugeVec
	oldest prometheus.Gauge
	failed *prometheus.CounterVec
	dead   *prometheus.CounterVec

	mu        sync.Mutex
	published map[[2]string]bool // label pairs of tasks set by the last refresh
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tasks: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anvil_metadata_tasks",
			Help: "Tasks in the queue by type and status, refreshed periodically.",
		}, []string{"type", "status"}),
		oldest: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_metadata_task_oldest_pending_seconds",
			Help: "How long the longest-waiting runnable pending task has waited, refreshed periodically.",
		}),
		failed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_metadata_tasks_failed_total",
			Help: "Failed task attempts reported by workers.",
		}, []string{"type"}),
		dead: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_metadata_tasks_dead_total",
			Help: "Tasks parked as dead: attempts spent or a permanent failure.",
		}, []string{"type"}),
		published: map[[2]string]bool{},
	}
}

// maintenanceTimeout bounds one round of RunMaintenance's queries.
const maintenanceTimeout = 30 * time.Second

// retentionBatch bounds the finished tasks deleted per round.
const retentionBatch = 1000

// RunMaintenance refreshes the queue gauges and deletes finished tasks past
// their retention every StatsInterval until ctx is done. Gauges are
// refreshed here rather than on scrape, so scrapes never wait on the
// database.
func (q *Queue) RunMaintenance(ctx context.Context) error {
	t := time.NewTicker(q.interval)
	defer t.Stop()
	failing := false
	for {
		err := q.maintain(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			q.log.Warn("task queue maintenance failing", "err", err)
			failing = true
		case err == nil && failing:
			q.log.Info("task queue maintenance recovered")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (q *Queue) maintain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, maintenanceTimeout)
	defer cancel()
	if err := q.RefreshMetrics(ctx); err != nil {
		return err
	}
	_, err := q.DeleteFinished(ctx)
	return err
}

// RefreshMetrics sets the queue gauges from the database.
func (q *Queue) RefreshMetrics(ctx context.Context) error {
	stats, err := q.Stats(ctx)
	if err != nil {
		return err
	}
	oldest, err := q.oldestDue(ctx)
	if err != nil {
		return err
	}
	q.metrics.mu.Lock()
	defer q.metrics.mu.Unlock()
	seen := map[[2]string]bool{}
	for _, s := range stats {
		k := [2]string{s.Type, string(s.Status)}
		seen[k] = true
		q.metrics.tasks.WithLabelValues(k[0], k[1]).Set(float64(s.Count))
	}
	// Groups that emptied drop out rather than freeze at their last count.
	for k := range q.metrics.published {
		if !seen[k] {
			q.metrics.tasks.DeleteLabelValues(k[0], k[1])
		}
	}
	q.metrics.published = seen
	q.metrics.oldest.Set(oldest.Seconds())
	return nil
}

// DeleteFinished deletes up to one batch of done and cancelled tasks older
// than the retention and returns how many it deleted.
func (q *Queue) DeleteFinished(ctx context.Context) (int64, error) {
	tag, err := q.global.Exec(ctx, `
		DELETE FROM tasks WHERE id IN (
			SELECT id FROM tasks
			 WHERE status IN ('done', 'cancelled') AND updated_at < now() - make_interval(secs => $1::float8)
			 LIMIT $2)`, q.keep.Seconds(), retentionBatch)
	if err != nil {
		return 0, fmt.Errorf("delete finished tasks: %w", err)
	}
	return tag.RowsAffected(), nil
}
