package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Object Lock. A version's retention and legal hold are columns of its
// row. Every removal of a version by a client (DeleteObject with a version
// id) and every change of retention is checked here, under the key's lock,
// against the lock state read in the same transaction; the database clock
// decides whether a retention period has passed.

// Retention modes.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
)

// BucketConfigObjectLock is the bucket configuration kind holding a
// bucket's object lock configuration. Object lock cannot be turned off, so
// the document's existence means the bucket has object lock: its versioning
// cannot be suspended.
const BucketConfigObjectLock = "object-lock"

func validateRetention(mode string, until *time.Time) error {
	switch mode {
	case "":
		if until != nil {
			return invalid("a retain-until date needs a retention mode")
		}
	case LockGovernance, LockCompliance:
		if until == nil {
			return invalid("retention mode %s needs a retain-until date", mode)
		}
	default:
		return invalid("unknown retention mode %q", mode)
	}
	return nil
}

// sqlVersionLock selects a version's lock state for scanning into
// versionLock.scanTargets.
const sqlVersionLock = "lock_mode, lock_retain_until, COALESCE(lock_retain_until > clock_timestamp(), false), legal_hold"

// versionLock is a version's lock state.
type versionLock struct {
	mode  string
	until *time.Time
	// active: the retain-until date has not passed.
	active    bool
	legalHold bool
}

func (l *versionLock) scanTargets() []any {
	return []any{&l.mode, &l.until, &l.active, &l.legalHold}
}

func (l versionLock) locked(why string) error {
	if l.legalHold && why == "" {
		return fmt.Errorf("%w: under legal hold", ErrObjectLocked)
	}
	return fmt.Errorf("%w: %s retention until %s%s", ErrObjectLocked, l.mode, l.until.UTC().Format(time.RFC3339), why)
}

// checkRemove refuses to remove a version under legal hold or unexpired
// retention; GOVERNANCE retention yields to bypassGovernance.
func (l versionLock) checkRemove(bypassGovernance bool) error {
	switch {
	case l.legalHold:
		return l.locked("")
	case l.active && (l.mode == LockCompliance || !bypassGovernance):
		return l.locked("")
	}
	return nil
}

// checkRetentionChange allows replacing unexpired retention only by the
// same mode with the same or a later date; GOVERNANCE retention can be
// changed in any way (shortened, removed, made COMPLIANCE) with
// bypassGovernance, COMPLIANCE retention never.
func (l versionLock) checkRetentionChange(mode string, until *time.Time, bypassGovernance bool) error {
	if !l.active {
		return nil
	}
	if mode == l.mode && until != nil && !until.Before(*l.until) {
		return nil
	}
	if l.mode == LockGovernance && bypassGovernance {
		return nil
	}
	return l.locked(": it can only be extended")
}

// PutObjectRetention sets (or, with mode "", removes) the retention of a
// version (the current one when versionID is empty) and returns the
// version's id as S3 shows it.
func (s *Store) PutObjectRetention(ctx context.Context, bucket, key, versionID, mode string, until *time.Time, bypassGovernance bool) (string, error) {
	if err := validateRetention(mode, until); err != nil {
		return "", err
	}
	return s.updateVersion(ctx, bucket, key, versionID, func(tx pgx.Tx, id string, l versionLock) error {
		if err := l.checkRetentionChange(mode, until, bypassGovernance); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE object_versions SET lock_mode = $2, lock_retain_until = $3 WHERE version_id = $1::uuid",
			id, mode, until); err != nil {
			return fmt.Errorf("write retention: %w", err)
		}
		return nil
	})
}

// PutObjectLegalHold turns a version's legal hold on or off and returns the
// version's id as S3 shows it.
func (s *Store) PutObjectLegalHold(ctx context.Context, bucket, key, versionID string, on bool) (string, error) {
	return s.updateVersion(ctx, bucket, key, versionID, func(tx pgx.Tx, id string, _ versionLock) error {
		if _, err := tx.Exec(ctx, "UPDATE object_versions SET legal_hold = $2, legal_hold_set = true WHERE version_id = $1::uuid", id, on); err != nil {
			return fmt.Errorf("write legal hold: %w", err)
		}
		return nil
	})
}
