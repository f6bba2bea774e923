package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SetBucketVersioning enables or suspends versioning of a bucket. There is
// no way back to unversioned.
//
// The regional state, which object writes obey, is written first under the
// bucket's exclusive lock: writes in flight finish under the old state and
// every later one sees the new state. Then the global row GetBucket reports
// is updated. A crash between the two leaves GetBucket reporting the old
// state until the call is retried.
func (s *Store) SetBucketVersioning(ctx context.Context, name string, v Versioning) (Bucket, error) {
	if v != VersioningEnabled && v != VersioningSuspended {
		return Bucket{}, invalid("versioning can only be set to %s or %s, not %q", VersioningEnabled, VersioningSuspended, v)
	}
	b, pool, err := s.servedBucket(ctx, name)
	if err != nil {
		return Bucket{}, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		hi, lo := bucketLockKey(b.ID)
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", hi, lo); err != nil {
			return fmt.Errorf("lock bucket: %w", err)
		}
		if v == VersioningSuspended {
			// Read under the bucket's lock, as putObjectLockConfig writes.
			var locked bool
			if err := s.global.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bucket_configs WHERE bucket_id = $1 AND kind = $2)",
				b.ID, BucketConfigObjectLock).Scan(&locked); err != nil {
				return fmt.Errorf("read object lock of %s: %w", name, err)
			}
			if locked {
				return fmt.Errorf("%w: versioning of %s cannot be suspended: it has object lock", ErrInvalidBucketState, name)
			}
		}
		var tombstoned bool
		if err := tx.QueryRow(ctx, sqlTombstoned, b.ID).Scan(&tombstoned); err != nil {
			return fmt.Errorf("check bucket tombstone: %w", err)
		}
		if tombstoned {
			return fmt.Errorf("%w: %s", ErrNoSuchBucket, name)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO bucket_versioning (bucket_id, state) VALUES ($1, $2)
			ON CONFLICT (bucket_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
			b.ID, string(v)); err != nil {
			return fmt.Errorf("write versioning state: %w", err)
		}
		return nil
	})
	if err != nil {
		return Bucket{}, fmt.Errorf("set versioning of %s: %w", name, err)
	}
	b, err = scanBucket(s.global.QueryRow(ctx,
		"UPDATE buckets SET versioning = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING "+bucketColumns, b.ID, string(v)))
	if errors.Is(err, pgx.ErrNoRows) {
		s.forget(name)
		return Bucket{}, fmt.Errorf("%w: %s", ErrNoSuchBucket, name)
	}
	if err != nil {
		return Bucket{}, fmt.Errorf("set versioning of %s: %w", name, err)
	}
	s.remember(b)
	s.log.Info("set bucket versioning", "bucket", name, "versioning", string(v))
	return b, nil
}

// MaxBucketConfigSize bounds a bucket configuration document.
const MaxBucketConfigSize = 1 << 20

func validateConfigKind(kind string) error {
	if kind == "" || len(kind) > 64 {
		return invalid("configuration kind %q must be 1 to 64 characters long", kind)
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return invalid("configuration kind %q may hold only lower-case letters, digits, '-' and '_'", kind)
		}
	}
	return nil
}

// PutBucketConfig stores (or replaces) a bucket's configuration document of
// a kind ("cors", "tagging", ...). The document is opaque here.
func (s *Store) PutBucketConfig(ctx context.Context, bucket, kind string, doc []byte) error {
	if err := validateConfigKind(kind); err != nil {
		return err
	}
	if len(doc) > MaxBucketConfigSize {
		return invalid("configuration document of %d bytes is larger than %d", len(doc), MaxBucketConfigSize)
	}
	if doc == nil {
		doc = []byte{}
	}
	if kind == BucketConfigObjectLock {
		return s.putObjectLockConfig(ctx, bucket, doc)
	}
	b, err := s.bucket(ctx, bucket)
	if err != nil {
		return err
	}
	return s.writeBucketConfig(ctx, b, kind, doc)
}

// putObjectLockConfig turns object lock on (or replaces its document) under
// the bucket's regional lock, where SetBucketVersioning decides too: lock
// goes only over Enabled versioning, and a suspend cannot slip in between.
func (s *Store) putObjectLockConfig(ctx context.Context, bucket string, doc []byte) error {
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		hi, lo := bucketLockKey(b.ID)
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", hi, lo); err != nil {
			return fmt.Errorf("lock bucket: %w", err)
		}
		var state string
		err := tx.QueryRow(ctx, "SELECT state FROM bucket_versioning WHERE bucket_id = $1", b.ID).Scan(&state)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read versioning of %s: %w", bucket, err)
		}
		if Versioning(state) != VersioningEnabled {
			return fmt.Errorf("%w: object lock needs versioning Enabled on %s", ErrInvalidBucketState, bucket)
		}
		return s.writeBucketConfig(ctx, b, BucketConfigObjectLock, doc)
	})
}

// writeBucketConfig writes a configuration document of a live bucket.
func (s *Store) writeBucketConfig(ctx context.Context, b Bucket, kind string, doc []byte) error {
	bucket := b.Name
	err := pgx.BeginFunc(ctx, s.global, func(tx pgx.Tx) error {
		// The share lock makes a concurrent DeleteBucket wait for this
		// write (and then drop it), or this write see the bucket gone.
		var live bool
		err := tx.QueryRow(ctx, "SELECT true FROM buckets WHERE id = $1 AND deleted_at IS NULL FOR SHARE", b.ID).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
		}
		if err != nil {
			return fmt.Errorf("lock bucket: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO bucket_configs (bucket_id, kind, document) VALUES ($1, $2, $3)
			ON CONFLICT (bucket_id, kind) DO UPDATE SET document = EXCLUDED.document, updated_at = now()`,
			b.ID, kind, doc); err != nil {
			return fmt.Errorf("write configuration: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put %s configuration of %s: %w", kind, bucket, err)
	}
	return nil
}

// GetBucketConfig returns a bucket's configuration document of a kind, or
// ErrNoSuchBucketConfig.
func (s *Store) GetBucketConfig(ctx context.Context, bucket, kind string) ([]byte, error) {
	if err := validateConfigKind(kind); err != nil {
		return nil, err
	}
	b, err := s.bucket(ctx, bucket)
	if err != nil {
		return nil, err
	}
	var doc []byte
	err = s.global.QueryRow(ctx,
		"SELECT document FROM bucket_configs WHERE bucket_id = $1 AND kind = $2", b.ID, kind).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s of %s", ErrNoSuchBucketConfig, kind, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s configuration of %s: %w", kind, bucket, err)
	}
	return doc, nil
}

// DeleteBucketConfig removes a bucket's configuration document of a kind;
// removing a missing one succeeds.
func (s *Store) DeleteBucketConfig(ctx context.Context, bucket, kind string) error {
	if err := validateConfigKind(kind); err != nil {
		return err
	}
	b, err := s.bucket(ctx, bucket)
	if err != nil {
		return err
	}
	if _, err := s.global.Exec(ctx,
		"DELETE FROM bucket_configs WHERE bucket_id = $1 AND kind = $2", b.ID, kind); err != nil {
		return fmt.Errorf("delete %s configuration of %s: %w", kind, bucket, err)
	}
	return nil
}
