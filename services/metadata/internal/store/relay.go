package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Relay settings.
const (
	// RelayInterval is how often a relay looks at its outbox when nobody
	// pokes it.
	RelayInterval = 200 * time.Millisecond
	// relayBatch bounds the rows moved per round.
	relayBatch = 500
	// relayTimeout bounds one round's database calls.
	relayTimeout = 10 * time.Second
)

// Relay moves one region's outbox rows into the global tasks table.
//
// A round takes a batch of outbox rows with FOR UPDATE SKIP LOCKED (so
// replicas relaying the same region split the work), inserts them as tasks
// keyed by (source_region, source_id) with ON CONFLICT DO NOTHING, and only
// then deletes them from the outbox in the same regional transaction. A crash
// after the insert leaves the rows in the outbox; the next round inserts
// nothing new for them and deletes them. Outbox ids come from a sequence and
// are never reused, so the key is unique for good.
type Relay struct {
	store  *Store
	region string
	log    *slog.Logger
	poke   chan struct{}
}

// NewRelay returns the relay of a served region.
func (s *Store) NewRelay(region string) (*Relay, error) {
	if _, err := s.regionalPool(region); err != nil {
		return nil, err
	}
	return &Relay{
		store:  s,
		region: region,
		log:    s.log.With("region", region),
		poke:   make(chan struct{}, 1),
	}, nil
}

// Poke asks the relay to run a round soon. It never blocks.
func (r *Relay) Poke() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Run relays every RelayInterval and whenever poked, until ctx is done.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTicker(RelayInterval)
	defer t.Stop()
	failing := false
	for {
		_, err := r.Drain(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			// Logged once per outage, not every interval.
			r.log.Warn("relay outbox failing", "err", err)
			failing = true
		case err == nil && failing:
			r.log.Info("relay outbox recovered")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.poke:
		}
	}
}

// Drain relays rounds until the outbox is empty and returns the number of
// outbox rows moved.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.round(ctx, nil)
		total += n
		if err != nil {
			return total, err
		}
		if n < relayBatch {
			break
		}
	}
	return total, r.updatePending(ctx)
}

func (r *Relay) updatePending(ctx context.Context) error {
	pool, err := r.store.regionalPool(r.region)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	var pending int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&pending); err != nil {
		return fmt.Errorf("count outbox: %w", err)
	}
	r.store.metrics.outboxPending.WithLabelValues(r.region).Set(float64(pending))
	return nil
}

type outboxRow struct {
	id      int64
	typ     string
	payload json.RawMessage
}

// round moves one batch. beforeDelete, when not nil, runs after the tasks
// are inserted and before the outbox rows are deleted; an error from it
// aborts the round as a crash would.
func (r *Relay) round(ctx context.Context, beforeDelete func() error) (int, error) {
	pool, err := r.store.regionalPool(r.region)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	moved := 0
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx,
			"SELECT id, type, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", relayBatch)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
			var o outboxRow
			err := row.Scan(&o.id, &o.typ, &o.payload)
			return o, err
		})
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		if err := r.enqueue(ctx, batch); err != nil {
			return err
		}
		if beforeDelete != nil {
			if err := beforeDelete(); err != nil {
				return err
			}
		}
		ids := make([]int64, len(batch))
		for i, o := range batch {
			ids[i] = o.id
		}
		if _, err := tx.Exec(ctx, "DELETE FROM outbox WHERE id = ANY($1)", ids); err != nil {
			return fmt.Errorf("delete relayed outbox rows: %w", err)
		}
		moved = len(batch)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return moved, nil
}

// enqueue inserts outbox rows as global tasks, once per (region, outbox id).
func (r *Relay) enqueue(ctx context.Context, batch []outboxRow) error {
	ids := make([]int64, len(batch))
	types := make([]string, len(batch))
	payloads := make([]string, len(batch))
	for i, o := range batch {
		ids[i], types[i], payloads[i] = o.id, o.typ, string(o.payload)
	}
	rows, err := r.store.global.Query(ctx, `
		INSERT INTO tasks (type, region, payload, source_region, source_id, run_after, priority)
		SELECT t.type, $1, t.payload::jsonb, $1, t.id,
		       now() + CASE WHEN t.type IN ('`+TaskDeleteObject+`', '`+TaskDeleteParts+`') THEN $5 ELSE 0 END * interval '1 millisecond',
		       CASE WHEN t.type = '`+TaskRepairShard+`' THEN `+repairPriority+` ELSE 0 END
		  FROM unnest($2::bigint[], $3::text[], $4::text[]) AS t (id, type, payload)
		ON CONFLICT (source_region, source_id) DO NOTHING
		RETURNING type`, r.region, ids, types, payloads, r.store.gcGrace.Milliseconds())
	if err != nil {
		return fmt.Errorf("insert tasks: %w", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("insert tasks: %w", err)
	}
	for _, typ := range inserted {
		r.store.metrics.tasksEnqueued.WithLabelValues(r.region, typ).Inc()
	}
	return nil
}
