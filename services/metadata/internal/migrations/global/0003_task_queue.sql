-- Task queue: operators can cancel tasks, and leasing reads runnable tasks in
-- the order it claims them.

ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('pending', 'leased', 'done', 'dead', 'cancelled'));

-- Claim order of LeaseTasks; finished tasks stay out of the index.
CREATE INDEX tasks_runnable ON tasks (priority DESC, id) WHERE status IN ('pending', 'leased');

-- Retention of finished tasks and the per-type stats.
CREATE INDEX tasks_finished ON tasks (updated_at) WHERE status IN ('done', 'cancelled');

-- ListTasks by type.
CREATE INDEX tasks_type ON tasks (type, id);
