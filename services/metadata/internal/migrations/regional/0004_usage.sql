-- Usage per bucket, kept current by a trigger on object_versions so that
-- metrics read a few rows per bucket instead of scanning versions.
--
-- A version counts while it is live and not a delete marker: noncurrent
-- versions count (they hold data), soft-deleted ones stop counting when they
-- are marked. Each bucket has up to 16 rows ("slots"); a transaction adds its
-- delta to the slot of its backend, so concurrent commits to one bucket do
-- not queue on one row. The totals are the sums over slots.
CREATE TABLE bucket_usage (
    bucket_id bigint NOT NULL,
    slot      smallint NOT NULL,
    objects   bigint NOT NULL DEFAULT 0,
    bytes     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_id, slot)
);

CREATE FUNCTION object_versions_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_counts boolean := TG_OP <> 'INSERT' AND OLD.state = 'live' AND NOT OLD.delete_marker;
    new_counts boolean := TG_OP <> 'DELETE' AND NEW.state = 'live' AND NOT NEW.delete_marker;
    my_slot smallint := pg_backend_pid() % 16;
BEGIN
    IF old_counts AND (NOT new_counts OR OLD.bucket_id <> NEW.bucket_id OR OLD.size <> NEW.size) THEN
        INSERT INTO bucket_usage AS u (bucket_id, slot, objects, bytes) VALUES (OLD.bucket_id, my_slot, -1, -OLD.size)
        ON CONFLICT (bucket_id, slot) DO UPDATE SET objects = u.objects - 1, bytes = u.bytes - OLD.size;
        old_counts := false;
    END IF;
    IF new_counts AND NOT old_counts THEN
        INSERT INTO bucket_usage AS u (bucket_id, slot, objects, bytes) VALUES (NEW.bucket_id, my_slot, 1, NEW.size)
        ON CONFLICT (bucket_id, slot) DO UPDATE SET objects = u.objects + 1, bytes = u.bytes + NEW.size;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER object_versions_usage AFTER INSERT OR UPDATE OF state, delete_marker, size, bucket_id OR DELETE
    ON object_versions FOR EACH ROW EXECUTE FUNCTION object_versions_usage();

-- Versions written before this migration.
INSERT INTO bucket_usage (bucket_id, slot, objects, bytes)
SELECT bucket_id, 0, count(*), coalesce(sum(size), 0)
FROM object_versions WHERE state = 'live' AND NOT delete_marker
GROUP BY bucket_id;
