-- Whether a legal hold was ever set on a version: S3 reads a released hold
-- back as OFF but a version never held as having no hold at all. Existing
-- rows cannot tell the two apart and read as never held, as they did.
ALTER TABLE object_versions ADD COLUMN legal_hold_set boolean NOT NULL DEFAULT false;
