-- S3 Object Lock: each version's retention (mode and retain-until date) and
-- legal hold. The store refuses to remove a version while either holds it.
ALTER TABLE object_versions
    ADD COLUMN lock_mode         text NOT NULL DEFAULT '' CHECK (lock_mode IN ('', 'GOVERNANCE', 'COMPLIANCE')),
    ADD COLUMN lock_retain_until timestamptz,
    ADD COLUMN legal_hold        boolean NOT NULL DEFAULT false,
    ADD CHECK ((lock_mode = '') = (lock_retain_until IS NULL));
