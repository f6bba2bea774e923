-- S3 compatibility (issue 3): bucket versioning state and bucket configuration
-- documents.

-- What GetBucket reports. Object writes do not read it: they read the
-- regional bucket_versioning row under the bucket's lock, which
-- SetBucketVersioning writes first.
ALTER TABLE buckets ADD COLUMN versioning text NOT NULL DEFAULT 'unversioned'
    CHECK (versioning IN ('unversioned', 'enabled', 'suspended'));

-- Opaque documents by kind ("cors", "tagging", ...): the gateway validates
-- and renders them. Deleted with their bucket.
CREATE TABLE bucket_configs (
    bucket_id  bigint NOT NULL REFERENCES buckets (id),
    kind       text NOT NULL,
    document   bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket_id, kind)
);
