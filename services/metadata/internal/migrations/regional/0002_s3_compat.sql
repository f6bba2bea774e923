-- S3 compatibility (issue 3): versioning, tags and checksums of versions,
-- multipart uploads.

-- The null version of a key is the one written while the bucket was
-- unversioned or suspended (S3 shows its id as "null"); at most one is live
-- per key. Internally it keeps its uuid, so version ids stay unique and task
-- payloads keep naming rows by uuid. Every version written so far was written
-- unversioned.
ALTER TABLE object_versions
    ADD COLUMN null_version  boolean NOT NULL DEFAULT true,
    ADD COLUMN tags          jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN checksums     jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN checksum_type text NOT NULL DEFAULT '',
    ADD COLUMN parts_count   integer NOT NULL DEFAULT 0 CHECK (parts_count >= 0);
ALTER TABLE object_versions ALTER COLUMN null_version SET DEFAULT false;

CREATE UNIQUE INDEX object_versions_null ON object_versions (bucket_id, key)
    WHERE null_version AND state = 'live';

-- ListObjectVersions (keys in byte order, newest first within a key) and
-- promotion of the next newest version when the latest is deleted.
CREATE INDEX object_versions_versions ON object_versions (bucket_id, key COLLATE "C", seq DESC)
    WHERE state = 'live';

-- The versioning state object writes obey; no row means unversioned. Written
-- under the bucket's exclusive advisory lock, read under the shared one.
CREATE TABLE bucket_versioning (
    bucket_id  bigint PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('enabled', 'suspended')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Upload ids are time-ordered (UUIDv7), so (key, upload_id) is (key,
-- initiation) order for ListMultipartUploads. Completed uploads stay as
-- 'completed' so a repeated Complete can answer with the object.
CREATE TABLE multipart_uploads (
    upload_id          uuid PRIMARY KEY,
    bucket_id          bigint NOT NULL,
    key                text COLLATE "C" NOT NULL,
    initiated          timestamptz NOT NULL,
    template           jsonb NOT NULL,
    checksum_algorithm text NOT NULL DEFAULT '',
    checksum_type      text NOT NULL DEFAULT '',
    state              text NOT NULL DEFAULT 'in_progress' CHECK (state IN ('in_progress', 'completed')),
    completed_at       timestamptz,
    -- The completed version and the part list that made it.
    version_id         uuid,
    completed_parts    jsonb
);

CREATE INDEX multipart_uploads_listing ON multipart_uploads (bucket_id, key COLLATE "C", upload_id)
    WHERE state = 'in_progress';

CREATE TABLE multipart_parts (
    upload_id     uuid NOT NULL REFERENCES multipart_uploads (upload_id) ON DELETE CASCADE,
    part_number   integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    segment       jsonb NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    etag          text NOT NULL,
    checksums     jsonb NOT NULL DEFAULT '{}',
    last_modified timestamptz NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
