-- Global database: regions, buckets and the task queue.

CREATE TABLE regions (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE buckets (
    id            bigserial PRIMARY KEY,
    name          text COLLATE "C" NOT NULL,
    region        text NOT NULL REFERENCES regions (name),
    data_shards   integer NOT NULL CHECK (data_shards >= 1),
    parity_shards integer NOT NULL CHECK (parity_shards >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    CHECK (data_shards + parity_shards <= 256)
);

-- A name is taken only while its bucket is not deleted.
CREATE UNIQUE INDEX buckets_name_live ON buckets (name) WHERE deleted_at IS NULL;

CREATE TABLE tasks (
    id               bigserial PRIMARY KEY,
    type             text NOT NULL,
    region           text NOT NULL,
    payload          jsonb NOT NULL,
    priority         integer NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'leased', 'done', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 10,
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    -- Where a relayed task came from (region, outbox id): the relay inserts
    -- with ON CONFLICT DO NOTHING, so relaying twice enqueues once.
    source_region    text,
    source_id        bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_region, source_id)
);

CREATE INDEX tasks_claim ON tasks (status, run_after, priority);
