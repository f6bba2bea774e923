package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Every write of a key's current version runs in one regional transaction
// that first takes, in this order:
//   - the bucket's shared advisory lock (DeleteBucket takes it exclusively),
//     then reads the bucket's tombstone;
//   - the key's exclusive advisory lock, so concurrent commits to one key
//     queue up instead of colliding on the one-latest-version index (row
//     locks cannot do it: there is no row to lock for a new key).
//
// The batch is pipelined: one round trip for locks, check and writes. When the
// bucket turns out to be tombstoned the transaction is rolled back.
const (
	sqlLockBucketShared = "SELECT pg_advisory_xact_lock_shared($1::int4, $2::int4)"
	sqlLockKey          = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, $2::bigint))"
	sqlTombstoned       = "SELECT EXISTS (SELECT 1 FROM bucket_tombstones WHERE bucket_id = $1)"

	// sqlRetire soft-deletes the current version of a key and queues its
	// data for collection through the outbox, returning its version id.
	sqlRetire = `
		WITH old AS (
			UPDATE object_versions
			   SET is_latest = false, state = 'deleted', deleted_at = clock_timestamp()
			 WHERE bucket_id = $1 AND key = $2 AND is_latest
			RETURNING version_id, segments
		)
		INSERT INTO outbox (type, payload)
		SELECT '` + TaskDeleteObject + `', jsonb_build_object(
			'bucket_id', $1::bigint, 'bucket', $3::text, 'key', $2::text,
			'version_id', version_id, 'segments', segments)
		  FROM old
		RETURNING payload->>'version_id'`

	// The last_modified time is read after the key lock is held, so it
	// follows the order in which commits to a key win.
	sqlInsertVersion = `
		INSERT INTO object_versions (
			bucket_id, key, is_latest, delete_marker, size, etag, last_modified,
			content_type, content_encoding, cache_control, content_disposition,
			content_language, expires, user_metadata, segments)
		VALUES ($1, $2, true, $3, $4, $5, clock_timestamp(), $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb)
		RETURNING version_id::text, last_modified`

	versionColumns = `version_id::text, size, etag, last_modified, content_type,
		content_encoding, cache_control, content_disposition, content_language,
		expires, user_metadata, segments, delete_marker`
)

// queueKeyLocks queues the locks of a key write and the bucket's tombstone
// check onto b.
func queueKeyLocks(b *pgx.Batch, bucketID int64, key string) {
	hi, lo := bucketLockKey(bucketID)
	b.Queue(sqlLockBucketShared, hi, lo)
	b.Queue(sqlLockKey, key, bucketID)
	b.Queue(sqlTombstoned, bucketID)
}

// readKeyLocks reads the results queued by queueKeyLocks.
func readKeyLocks(br pgx.BatchResults, bucket string) error {
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("lock key: %w", err)
		}
	}
	var tombstoned bool
	if err := br.QueryRow().Scan(&tombstoned); err != nil {
		return fmt.Errorf("check bucket tombstone: %w", err)
	}
	if tombstoned {
		return fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
	}
	return nil
}

// CommitObject makes v the current version of its key, replacing (and
// queueing for collection) the version it supersedes. The store assigns the
// version id and the last-modified time; the committed version is returned.
func (s *Store) CommitObject(ctx context.Context, v Version) (Version, error) {
	if err := validateVersion(&v); err != nil {
		return Version{}, err
	}
	b, pool, err := s.servedBucket(ctx, v.Bucket)
	if err != nil {
		return Version{}, err
	}
	meta := v.UserMetadata
	if meta == nil {
		meta = map[string]string{}
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return Version{}, fmt.Errorf("encode user metadata: %w", err)
	}
	segs := v.Segments
	if segs == nil {
		segs = []Segment{}
	}
	segsJSON, err := json.Marshal(segs)
	if err != nil {
		return Version{}, fmt.Errorf("encode segments: %w", err)
	}
	var replaced string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		queueKeyLocks(batch, b.ID, v.Key)
		batch.Queue(sqlRetire, b.ID, v.Key, b.Name)
		batch.Queue(sqlInsertVersion, b.ID, v.Key, v.DeleteMarker, v.Size, v.ETag,
			v.ContentType, v.ContentEncoding, v.CacheControl, v.ContentDisposition,
			v.ContentLanguage, v.Expires, string(metaJSON), string(segsJSON))
		br := tx.SendBatch(ctx, batch)
		err := readCommit(br, b.Name, &v, &replaced)
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = fmt.Errorf("run commit batch: %w", closeErr)
		}
		return err
	})
	if err != nil {
		return Version{}, fmt.Errorf("commit %s/%s: %w", v.Bucket, v.Key, err)
	}
	if replaced != "" {
		s.written(b.Region)
	}
	s.log.Debug("committed object", "bucket", v.Bucket, "key", v.Key, "version_id", v.VersionID, "replaced", replaced)
	v.Bucket = b.Name
	return v, nil
}

func readCommit(br pgx.BatchResults, bucket string, v *Version, replaced *string) error {
	if err := readKeyLocks(br, bucket); err != nil {
		return err
	}
	err := br.QueryRow().Scan(replaced)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("retire current version: %w", err)
	}
	if err := br.QueryRow().Scan(&v.VersionID, &v.LastModified); err != nil {
		return fmt.Errorf("insert version: %w", err)
	}
	return nil
}

// DeleteObject soft-deletes the current version of a key and queues its data
// for collection. It reports false when the key has no current version.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) (bool, error) {
	if err := ValidateKey(key); err != nil {
		return false, err
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return false, err
	}
	deleted := false
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		queueKeyLocks(batch, b.ID, key)
		batch.Queue(sqlRetire, b.ID, key, b.Name)
		br := tx.SendBatch(ctx, batch)
		err := readKeyLocks(br, b.Name)
		if err == nil {
			var id string
			err = br.QueryRow().Scan(&id)
			switch {
			case err == nil:
				deleted = true
			case errors.Is(err, pgx.ErrNoRows):
				err = nil
			default:
				err = fmt.Errorf("retire current version: %w", err)
			}
		}
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = fmt.Errorf("run delete batch: %w", closeErr)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if deleted {
		s.written(b.Region)
	}
	return deleted, nil
}

// GetObject returns the current version of a key, or the live version with
// the given id when versionID is not empty. A current version that is a
// delete marker counts as missing.
func (s *Store) GetObject(ctx context.Context, bucket, key, versionID string) (Version, error) {
	if err := ValidateKey(key); err != nil {
		return Version{}, err
	}
	if versionID != "" && !isUUID(versionID) {
		return Version{}, fmt.Errorf("%w: %q", ErrNoSuchVersion, versionID)
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return Version{}, err
	}
	var row pgx.Row
	if versionID == "" {
		row = pool.QueryRow(ctx, "SELECT "+versionColumns+
			" FROM object_versions WHERE bucket_id = $1 AND key = $2 AND is_latest", b.ID, key)
	} else {
		row = pool.QueryRow(ctx, "SELECT "+versionColumns+
			" FROM object_versions WHERE version_id = $3::uuid AND bucket_id = $1 AND key = $2 AND state = 'live'",
			b.ID, key, versionID)
	}
	v := Version{Bucket: b.Name, Key: key}
	err = row.Scan(&v.VersionID, &v.Size, &v.ETag, &v.LastModified, &v.ContentType,
		&v.ContentEncoding, &v.CacheControl, &v.ContentDisposition, &v.ContentLanguage,
		&v.Expires, &v.UserMetadata, &v.Segments, &v.DeleteMarker)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && versionID != "":
		return Version{}, fmt.Errorf("%w: %s/%s version %s", ErrNoSuchVersion, bucket, key, versionID)
	case errors.Is(err, pgx.ErrNoRows) || err == nil && versionID == "" && v.DeleteMarker:
		return Version{}, fmt.Errorf("%w: %s/%s", ErrNoSuchKey, bucket, key)
	case err != nil:
		return Version{}, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	return v, nil
}

// isUUID accepts the canonical textual form of a UUID, in either case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
