package taskqueue

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// dedupRows counts the tasks stored with a dedup key.
func (e *env) dedupRows(t *testing.T, key string) int {
	t.Helper()
	var n int
	if err := e.global.QueryRow(testCtx(t), "SELECT count(*) FROM tasks WHERE dedup_key = $1", key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEnqueueDedup: a second enqueue with a key returns the first task while
// it is unfinished, and makes a new task once it is finished.
func TestEnqueueDedup(t *testing.T) {
	const key = "collect-bucket/42"
	tests := []struct {
		name string
		// advance moves the first task on, through the queue's API.
		advance     func(t *testing.T, e *env, task Task)
		maxAttempts int32
		wantStatus  Status
		wantSame    bool
	}{
		{"pending", func(*testing.T, *env, Task) {}, 0, StatusPending, true},
		{"leased", func(t *testing.T, e *env, _ Task) { e.lease(t, "w", 1) }, 0, StatusLeased, true},
		{"lease expired, attempts left", func(t *testing.T, e *env, task Task) {
			e.lease(t, "w", 1)
			e.expireLease(t, task.ID)
		}, 0, StatusLeased, true},
		{"back to pending after a retryable failure", func(t *testing.T, e *env, task Task) {
			e.lease(t, "w", 1)
			if _, err := e.q.Fail(testCtx(t), "w", task.ID, "later", true); err != nil {
				t.Fatal(err)
			}
		}, 0, StatusPending, true},
		{"done", func(t *testing.T, e *env, task Task) {
			e.lease(t, "w", 1)
			if err := e.q.Complete(testCtx(t), "w", task.ID); err != nil {
				t.Fatal(err)
			}
		}, 0, StatusDone, false},
		{"dead after a permanent failure", func(t *testing.T, e *env, task Task) {
			e.lease(t, "w", 1)
			if _, err := e.q.Fail(testCtx(t), "w", task.ID, "never", false); err != nil {
				t.Fatal(err)
			}
		}, 0, StatusDead, false},
		{"dead after its last lease expired", func(t *testing.T, e *env, task Task) {
			e.lease(t, "w", 1)
			e.expireLease(t, task.ID)
			if got := e.lease(t, "w2", 1); len(got) != 0 {
				t.Fatalf("leased %v", ids(got))
			}
		}, 1, StatusDead, false},
		{"last lease expired, not yet parked", func(t *testing.T, e *env, task Task) {
			// A crashed worker held the last attempt: the enqueue parks it
			// rather than return a task that would never run again.
			e.lease(t, "w", 1)
			e.expireLease(t, task.ID)
		}, 1, StatusLeased, false},
		{"cancelled while pending", func(t *testing.T, e *env, task Task) {
			if _, err := e.q.Cancel(testCtx(t), task.ID); err != nil {
				t.Fatal(err)
			}
		}, 0, StatusCancelled, false},
		{"cancelled while leased", func(t *testing.T, e *env, task Task) {
			e.lease(t, "w", 1)
			if _, err := e.q.Cancel(testCtx(t), task.ID); err != nil {
				t.Fatal(err)
			}
		}, 0, StatusCancelled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			first := e.enqueue(t, EnqueueRequest{Payload: []byte(`{"n":1}`), MaxAttempts: tt.maxAttempts, DedupKey: key})
			if first.Status != StatusPending {
				t.Fatalf("enqueued %+v", first)
			}
			tt.advance(t, e, first)
			if got := e.get(t, first.ID); got.Status != tt.wantStatus {
				t.Fatalf("first task is %s, want %s", got.Status, tt.wantStatus)
			}

			second := e.enqueue(t, EnqueueRequest{Payload: []byte(`{"n":2}`), Priority: 7, DedupKey: key})
			if same := second.ID == first.ID; same != tt.wantSame {
				t.Fatalf("second enqueue returned task %d, first was %d (want same: %v)", second.ID, first.ID, tt.wantSame)
			}
			if tt.wantSame {
				// The first task, untouched: its payload, its state.
				if string(second.Payload) != `{"n": 1}` || second.Priority != 0 || second.Status != tt.wantStatus {
					t.Fatalf("deduplicated enqueue returned %+v", second)
				}
				if n := e.dedupRows(t, key); n != 1 {
					t.Fatalf("%d tasks with the key, want 1", n)
				}
				return
			}
			if second.Status != StatusPending || string(second.Payload) != `{"n": 2}` || second.Priority != 7 {
				t.Fatalf("new task %+v", second)
			}
			if got := e.get(t, first.ID); got.Status != tt.wantStatus && got.Status != StatusDead {
				t.Fatalf("the finished task became %s", got.Status)
			}
			// The new task holds the key now.
			if third := e.enqueue(t, EnqueueRequest{DedupKey: key}); third.ID != second.ID {
				t.Fatalf("third enqueue made task %d, want the unfinished %d", third.ID, second.ID)
			}
			if n := e.dedupRows(t, key); n != 2 {
				t.Fatalf("%d tasks with the key, want 2", n)
			}
			if got := e.lease(t, "w3", 10); len(got) != 1 || got[0].ID != second.ID {
				t.Fatalf("leased %v, want only %d", ids(got), second.ID)
			}
		})
	}
}

func TestEnqueueDedupKeys(t *testing.T) {
	e := newEnv(t, Options{})
	t.Run("empty key never dedups", func(t *testing.T) {
		a := e.enqueue(t, EnqueueRequest{Type: "NoKey"})
		b := e.enqueue(t, EnqueueRequest{Type: "NoKey"})
		if a.ID == b.ID {
			t.Fatalf("two enqueues without a key returned task %d", a.ID)
		}
		var n int
		if err := e.global.QueryRow(testCtx(t), "SELECT count(*) FROM tasks WHERE type = 'NoKey' AND dedup_key IS NULL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("%d keyless tasks stored, want 2", n)
		}
	})
	t.Run("distinct keys", func(t *testing.T) {
		a := e.enqueue(t, EnqueueRequest{DedupKey: "a"})
		b := e.enqueue(t, EnqueueRequest{DedupKey: "b"})
		upper := e.enqueue(t, EnqueueRequest{DedupKey: "A"})
		if a.ID == b.ID || a.ID == upper.ID {
			t.Fatalf("distinct keys shared tasks: %d %d %d", a.ID, b.ID, upper.ID)
		}
	})
	t.Run("the key alone decides", func(t *testing.T) {
		// As documented: an unfinished task with the key is returned,
		// whatever its type and region.
		a := e.enqueue(t, EnqueueRequest{Type: "RepairShard", DedupKey: "shared"})
		b := e.enqueue(t, EnqueueRequest{Type: "DeleteObject", Region: "eu-west-1", DedupKey: "shared"})
		if b.ID != a.ID || b.Type != "RepairShard" || b.Region != region {
			t.Fatalf("second enqueue returned %+v, want task %d", b, a.ID)
		}
	})
	t.Run("longest key", func(t *testing.T) {
		for _, key := range []string{
			strings.Repeat("k", MaxDedupKeyBytes),
			strings.Repeat("é", MaxDedupKeyBytes/2), // 2 bytes each
		} {
			a := e.enqueue(t, EnqueueRequest{DedupKey: key})
			b := e.enqueue(t, EnqueueRequest{DedupKey: key})
			if a.ID != b.ID {
				t.Fatalf("key of %d bytes: tasks %d and %d", len(key), a.ID, b.ID)
			}
		}
	})
}

func TestEnqueueDedupValidation(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := testCtx(t)
	tests := []struct {
		name string
		key  string
	}{
		{"one byte too long", strings.Repeat("k", MaxDedupKeyBytes+1)},
		{"too long in runes", strings.Repeat("é", MaxDedupKeyBytes/2+1)},
		{"invalid UTF-8", "a\xffb"},
		{"NUL", "a\x00b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.q.Enqueue(ctx, EnqueueRequest{Type: "X", Region: region, DedupKey: tt.key}); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("got %v, want ErrInvalidArgument", err)
			}
		})
	}
	var n int
	if err := e.global.QueryRow(ctx, "SELECT count(*) FROM tasks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tasks stored by refused enqueues", n)
	}
}

// TestEnqueueDedupConcurrent: enqueues racing on one key make one task.
func TestEnqueueDedupConcurrent(t *testing.T) {
	e := newEnv(t, Options{})
	const enqueuers = 8
	for _, key := range []string{"race-1", "race-2", "race-3"} {
		t.Run(key, func(t *testing.T) {
			got := make([]Task, enqueuers)
			errs := make([]error, enqueuers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range enqueuers {
				wg.Go(func() {
					<-start
					got[i], errs[i] = e.q.Enqueue(testCtx(t), EnqueueRequest{Type: "DeleteBucket", Region: region, DedupKey: key})
				})
			}
			close(start)
			wg.Wait()
			for i := range enqueuers {
				if errs[i] != nil {
					t.Fatalf("enqueuer %d: %v", i, errs[i])
				}
				if got[i].ID != got[0].ID {
					t.Fatalf("enqueuers 0 and %d got tasks %d and %d", i, got[0].ID, got[i].ID)
				}
			}
			if n := e.dedupRows(t, key); n != 1 {
				t.Fatalf("%d tasks with the key, want 1", n)
			}
		})
	}
}

// Retrying a finished task whose dedup key a newer unfinished task holds is
// refused as a wrong state, not an internal error: the newer task does the
// work.
func TestRetryWithKeyHeldElsewhere(t *testing.T) {
	e := newEnv(t, Options{})
	const key = "shard:abc.1"
	first := e.enqueue(t, EnqueueRequest{DedupKey: key})
	e.lease(t, "w", 1)
	if _, err := e.q.Fail(testCtx(t), "w", first.ID, "never", false); err != nil {
		t.Fatal(err)
	}
	second := e.enqueue(t, EnqueueRequest{DedupKey: key})
	if second.ID == first.ID {
		t.Fatal("the dead task kept its key")
	}
	if _, err := e.q.Retry(testCtx(t), first.ID); !errors.Is(err, ErrWrongState) {
		t.Fatalf("retry: %v, want ErrWrongState", err)
	}
	if got := e.get(t, first.ID); got.Status != StatusDead {
		t.Fatalf("the refused retry left the task %s", got.Status)
	}
	if err := e.q.Complete(testCtx(t), "w2", second.ID); err == nil {
		t.Fatal("completed a task nobody leased")
	}
	e.lease(t, "w2", 1)
	if err := e.q.Complete(testCtx(t), "w2", second.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := e.q.Retry(testCtx(t), first.ID); err != nil || got.Status != StatusPending {
		t.Fatalf("retry once the key is free: %+v, %v", got, err)
	}
}
