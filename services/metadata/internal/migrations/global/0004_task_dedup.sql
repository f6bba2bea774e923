-- The scanner enqueues the same repair on every pass until a worker runs it:
-- a dedup key makes the second enqueue of an unfinished task a no-op.
ALTER TABLE tasks ADD COLUMN dedup_key text;

CREATE UNIQUE INDEX tasks_dedup ON tasks (dedup_key)
    WHERE dedup_key IS NOT NULL AND status IN ('pending', 'leased');
