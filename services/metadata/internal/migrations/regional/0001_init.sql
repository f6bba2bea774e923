-- Regional database: object versions and the outbox of tasks for the global
-- queue.

-- Segments are a jsonb array rather than a child table: they are always
-- written and read whole with their version (one row per commit, one index
-- lookup per read) and nothing queries them on their own yet.
CREATE TABLE object_versions (
    bucket_id           bigint NOT NULL,
    key                 text COLLATE "C" NOT NULL,
    version_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                 bigserial NOT NULL,
    is_latest           boolean NOT NULL,
    delete_marker       boolean NOT NULL DEFAULT false,
    state               text NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'deleted')),
    size                bigint NOT NULL CHECK (size >= 0),
    etag                text NOT NULL DEFAULT '',
    last_modified       timestamptz NOT NULL,
    content_type        text NOT NULL DEFAULT '',
    content_encoding    text NOT NULL DEFAULT '',
    cache_control       text NOT NULL DEFAULT '',
    content_disposition text NOT NULL DEFAULT '',
    content_language    text NOT NULL DEFAULT '',
    expires             text NOT NULL DEFAULT '',
    user_metadata       jsonb NOT NULL DEFAULT '{}',
    segments            jsonb NOT NULL DEFAULT '[]',
    deleted_at          timestamptz,
    CHECK (NOT is_latest OR state = 'live')
);

-- At most one current version per key.
CREATE UNIQUE INDEX object_versions_latest ON object_versions (bucket_id, key) WHERE is_latest;

-- Listing: current objects in byte order of their keys.
CREATE INDEX object_versions_listing ON object_versions (bucket_id, key COLLATE "C")
    WHERE is_latest AND NOT delete_marker;

-- DeleteBucket's emptiness check.
CREATE INDEX object_versions_live ON object_versions (bucket_id) WHERE state = 'live';

-- Buckets being or having been deleted. Written under the bucket's exclusive
-- advisory lock; commits hold the shared lock and refuse a tombstoned bucket,
-- so a commit racing DeleteBucket (or working from a stale bucket cache)
-- cannot leave a version in a deleted bucket.
CREATE TABLE bucket_tombstones (
    bucket_id  bigint PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    type       text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
