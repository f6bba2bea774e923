-- The worker fleet (issue 4): orphan reconciliation asks which segments a
-- data id belongs to; the scanner walks live versions and parts in a stable
-- order (the primary keys).

-- LocateShards: segments @> '[{"data_id": ...}]' over every version row,
-- live or soft-deleted but not yet purged.
CREATE INDEX object_versions_segments ON object_versions USING gin (segments jsonb_path_ops);

-- LocateShards over parts of uploads in progress.
CREATE INDEX multipart_parts_data_id ON multipart_parts ((segment ->> 'data_id'));
