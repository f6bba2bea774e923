package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Every write of a key runs in one regional transaction that first takes,
// in this order:
//   - the bucket's shared advisory lock (DeleteBucket and
//     SetBucketVersioning take it exclusively), then reads the bucket's
//     tombstone and versioning state;
//   - the key's exclusive advisory lock, so concurrent writes to one key
//     queue up instead of colliding on the one-latest-version index (row
//     locks cannot do it: there is no row to lock for a new key), and
//     preconditions are checked against a current version nobody else can
//     change.
//
// The write statements read the versioning state themselves (it cannot
// change while the shared bucket lock is held), so a commit without
// preconditions is one pipelined round trip: locks, state, current version
// and writes. With preconditions the writes wait for a second round trip,
// after the check. When the bucket turns out to be tombstoned the
// transaction is rolled back.
const (
	sqlLockBucketShared = "SELECT pg_advisory_xact_lock_shared($1::int4, $2::int4)"
	sqlLockKey          = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, $2::bigint))"
	sqlTombstoned       = "SELECT EXISTS (SELECT 1 FROM bucket_tombstones WHERE bucket_id = $1)"
	sqlVersioningState  = "COALESCE((SELECT state FROM bucket_versioning WHERE bucket_id = $1), 'unversioned')"
	sqlBucketState      = "SELECT EXISTS (SELECT 1 FROM bucket_tombstones WHERE bucket_id = $1), " + sqlVersioningState
	sqlCurrent          = `SELECT version_id::text, etag, delete_marker, null_version
		FROM object_versions WHERE bucket_id = $1 AND key = $2 AND is_latest`

	// sqlRetireHead and sqlRetireTail wrap a condition into a statement
	// that soft-deletes the matching live versions of a key ($1 bucket id,
	// $2 key, $3 bucket name) and queues their data for collection through
	// the outbox, one row per version.
	sqlRetireHead = `
		WITH old AS (
			UPDATE object_versions
			   SET is_latest = false, state = 'deleted', deleted_at = clock_timestamp()
			 WHERE bucket_id = $1 AND key = $2 AND state = 'live' AND `
	sqlRetireTail = `
			RETURNING version_id, segments
		)
		INSERT INTO outbox (type, payload)
		SELECT '` + TaskDeleteObject + `', jsonb_build_object(
			'bucket_id', $1::bigint, 'bucket', $3::text, 'key', $2::text,
			'version_id', version_id, 'segments', segments)
		  FROM old`
	sqlRetireLatest = sqlRetireHead + "is_latest" + sqlRetireTail
	// $4: the version id.
	sqlRetireVersion = sqlRetireHead + "version_id = $4::uuid" + sqlRetireTail

	// The writes of a new current version, by the bucket's versioning
	// state: unversioned replaces the current version; suspended replaces
	// the null version and keeps the others, demoting the current one;
	// enabled keeps every version, demoting the current one.
	sqlWriteRetireLatest = sqlRetireHead + "is_latest AND " + sqlVersioningState + " = 'unversioned'" + sqlRetireTail
	sqlWriteRetireNull   = sqlRetireHead + "null_version AND " + sqlVersioningState + " = 'suspended'" + sqlRetireTail
	sqlWriteDemote       = `UPDATE object_versions SET is_latest = false
		WHERE bucket_id = $1 AND key = $2 AND is_latest AND ` + sqlVersioningState + " <> 'unversioned'"

	// sqlPromote makes the newest live version of a key current, after the
	// current one was removed.
	sqlPromote = `
		UPDATE object_versions SET is_latest = true
		 WHERE version_id = (SELECT version_id FROM object_versions
		                      WHERE bucket_id = $1 AND key = $2 AND state = 'live'
		                      ORDER BY seq DESC LIMIT 1)`

	// The last_modified time is read after the key lock is held, so it
	// follows the order in which commits to a key win. A version written
	// while the bucket is not versioning-enabled is the key's null version.
	sqlInsertVersion = `
		INSERT INTO object_versions (
			bucket_id, key, is_latest, null_version, delete_marker, size, etag, last_modified,
			content_type, content_encoding, cache_control, content_disposition,
			content_language, expires, user_metadata, segments, tags, checksums,
			checksum_type, parts_count, website_redirect_location, lock_mode, lock_retain_until, legal_hold,
			legal_hold_set)
		VALUES ($1, $2, true, ` + sqlVersioningState + ` <> 'enabled', $3, $4, $5, clock_timestamp(),
			$6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14::jsonb, $15::jsonb, $16, $17, $18,
			$19, $20, $21, $22)
		RETURNING version_id::text, null_version, last_modified, seq`

	versionColumns = `version_id::text, null_version, is_latest, size, etag, last_modified, content_type,
		content_encoding, cache_control, content_disposition, content_language,
		expires, user_metadata, segments, delete_marker, tags, checksums, checksum_type,
		parts_count, website_redirect_location, seq, lock_mode, lock_retain_until, legal_hold, legal_hold_set`
)

// scanVersion scans versionColumns into v, returning the version's uuid and
// whether it is the null version.
func scanVersion(row pgx.Row, v *Version) (id string, null bool, err error) {
	err = row.Scan(&id, &null, &v.IsLatest, &v.Size, &v.ETag, &v.LastModified, &v.ContentType,
		&v.ContentEncoding, &v.CacheControl, &v.ContentDisposition, &v.ContentLanguage,
		&v.Expires, &v.UserMetadata, &v.Segments, &v.DeleteMarker, &v.Tags, &v.Checksums,
		&v.ChecksumType, &v.PartsCount, &v.WebsiteRedirectLocation, &v.seq, &v.LockMode, &v.LockRetainUntil, &v.LegalHold, &v.LegalHoldSet)
	return id, null, err
}

// displayID is the version id S3 shows: "null" for the null version of a
// versioned (enabled or suspended) bucket, else the uuid. Unversioned
// buckets show no version ids at all; the uuid is returned for them.
func displayID(id string, null bool, v Versioning) string {
	if null && v != Unversioned {
		return NullVersionID
	}
	return id
}

// versionSelector returns the SQL condition picking a version of a key:
// the current one for "", the live null version for "null", else the live
// version with that id (bound to $3, returned in args). ok is false for an
// id that cannot name a version.
func versionSelector(versionID string) (cond string, args []any, ok bool) {
	switch {
	case versionID == "":
		return "is_latest", nil, true
	case versionID == NullVersionID:
		return "null_version AND state = 'live'", nil, true
	case isUUID(versionID):
		return "version_id = $3::uuid AND state = 'live'", []any{versionID}, true
	}
	return "", nil, false
}

func invalidVersionID(versionID string) error {
	return invalid("invalid version id %q", versionID)
}

// keyState is what a key write learns under its locks.
type keyState struct {
	versioning Versioning
	// current is the key's current version, nil when there is none.
	current *currentVersion
}

type currentVersion struct {
	id           string
	etag         string
	deleteMarker bool
	null         bool
}

// queueKeyLocks queues the locks of a write to key, the bucket's tombstone
// and versioning state and the key's current version onto batch.
func queueKeyLocks(batch *pgx.Batch, b Bucket, key string) {
	hi, lo := bucketLockKey(b.ID)
	batch.Queue(sqlLockBucketShared, hi, lo)
	batch.Queue(sqlLockKey, key, b.ID)
	batch.Queue(sqlBucketState, b.ID)
	batch.Queue(sqlCurrent, b.ID, key)
}

// lockKey takes the locks of a write to key in tx, refuses a tombstoned
// bucket and reads the bucket's versioning state and the key's current
// version.
func lockKey(ctx context.Context, tx pgx.Tx, b Bucket, key string) (keyState, error) {
	batch := &pgx.Batch{}
	queueKeyLocks(batch, b, key)
	br := tx.SendBatch(ctx, batch)
	st, err := readKeyState(br, b.Name)
	if closeErr := br.Close(); err == nil && closeErr != nil {
		err = fmt.Errorf("lock key: %w", closeErr)
	}
	return st, err
}

func readKeyState(br pgx.BatchResults, bucket string) (keyState, error) {
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return keyState{}, fmt.Errorf("lock key: %w", err)
		}
	}
	var st keyState
	var tombstoned bool
	if err := br.QueryRow().Scan(&tombstoned, &st.versioning); err != nil {
		return keyState{}, fmt.Errorf("check bucket tombstone: %w", err)
	}
	if tombstoned {
		return keyState{}, fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
	}
	var cur currentVersion
	err := br.QueryRow().Scan(&cur.id, &cur.etag, &cur.deleteMarker, &cur.null)
	switch {
	case err == nil:
		st.current = &cur
	case !errors.Is(err, pgx.ErrNoRows):
		return keyState{}, fmt.Errorf("read current version: %w", err)
	}
	return st, nil
}

// check evaluates write preconditions against the current version. If-Match
// on a key without a current object is NoSuchKey, as on AWS.
func (st keyState) check(pre Preconditions, bucket, key string) error {
	exists := st.current != nil && !st.current.deleteMarker
	if pre.IfNoneMatch && exists {
		return fmt.Errorf("%w: %s/%s exists", ErrPreconditionFailed, bucket, key)
	}
	if pre.IfMatch != "" {
		if !exists {
			return fmt.Errorf("%w: %s/%s (if-match)", ErrNoSuchKey, bucket, key)
		}
		if !etagMatches(pre.IfMatch, st.current.etag) {
			return fmt.Errorf("%w: %s/%s has another etag", ErrPreconditionFailed, bucket, key)
		}
	}
	return nil
}

// etagMatches reports whether an If-Match value (one or more ETags, quoted
// or not, or "*") matches etag.
func etagMatches(ifMatch, etag string) bool {
	for _, want := range strings.Split(ifMatch, ",") {
		want = strings.TrimSpace(want)
		if want == "*" || strings.EqualFold(unquote(want), unquote(etag)) {
			return true
		}
	}
	return false
}

func unquote(etag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(etag, `"`), `"`)
}

// encodedVersion holds the jsonb arguments of a version insert.
type encodedVersion struct {
	meta, segments, tags, checksums string
}

func encodeVersion(v *Version) (encodedVersion, error) {
	var e encodedVersion
	for _, f := range []struct {
		dst *string
		val any
		def string
	}{
		{&e.meta, v.UserMetadata, "{}"},
		{&e.segments, v.Segments, "[]"},
		{&e.tags, v.Tags, "{}"},
		{&e.checksums, v.Checksums, "{}"},
	} {
		b, err := json.Marshal(f.val)
		if err != nil {
			return encodedVersion{}, fmt.Errorf("encode version: %w", err)
		}
		*f.dst = string(b)
		if *f.dst == "null" {
			*f.dst = f.def
		}
	}
	return e, nil
}

// queueWrite queues the writes making v the key's current version onto
// batch, after queueKeyLocks: by the bucket's versioning state
//   - unversioned: the current version is replaced (queued for collection);
//   - suspended: the key's null version, current or not, is replaced and v
//     becomes the null version; other versions stay;
//   - enabled: the current version stays live as a noncurrent version.
func queueWrite(batch *pgx.Batch, b Bucket, v *Version, enc encodedVersion) {
	batch.Queue(sqlWriteRetireLatest, b.ID, v.Key, b.Name)
	batch.Queue(sqlWriteRetireNull, b.ID, v.Key, b.Name)
	batch.Queue(sqlWriteDemote, b.ID, v.Key)
	batch.Queue(sqlInsertVersion, b.ID, v.Key, v.DeleteMarker, v.Size, v.ETag,
		v.ContentType, v.ContentEncoding, v.CacheControl, v.ContentDisposition,
		v.ContentLanguage, v.Expires, enc.meta, enc.segments, enc.tags, enc.checksums,
		v.ChecksumType, v.PartsCount, v.WebsiteRedirectLocation, v.LockMode, v.LockRetainUntil, v.LegalHold, v.LegalHoldSet)
}

// readWrite reads the results queued by queueWrite, fills in v's version
// id (as S3 shows it), time and is_latest, and returns its uuid and the
// number of versions queued for collection.
func readWrite(br pgx.BatchResults, b Bucket, vs Versioning, v *Version) (id string, retired int64, err error) {
	for range 2 {
		tag, err := br.Exec()
		if err != nil {
			return "", 0, fmt.Errorf("retire replaced version: %w", err)
		}
		retired += tag.RowsAffected()
	}
	if _, err := br.Exec(); err != nil {
		return "", 0, fmt.Errorf("demote current version: %w", err)
	}
	var null bool
	if err := br.QueryRow().Scan(&id, &null, &v.LastModified, &v.seq); err != nil {
		return "", 0, fmt.Errorf("insert version: %w", err)
	}
	v.Bucket = b.Name
	v.VersionID = displayID(id, null, vs)
	v.IsLatest = true
	return id, retired, nil
}

// writeVersion makes v the key's current version in tx, after lockKey (see
// queueWrite), returning its uuid and the number of versions queued for
// collection.
func writeVersion(ctx context.Context, tx pgx.Tx, b Bucket, st keyState, v *Version, enc encodedVersion) (id string, retired int64, err error) {
	batch := &pgx.Batch{}
	queueWrite(batch, b, v, enc)
	br := tx.SendBatch(ctx, batch)
	id, retired, err = readWrite(br, b, st.versioning, v)
	if closeErr := br.Close(); err == nil && closeErr != nil {
		err = fmt.Errorf("run write batch: %w", closeErr)
	}
	return id, retired, err
}

// CommitObject makes v the current version of its key when the
// preconditions hold, following the bucket's versioning state (see
// writeVersion). The store assigns the version id and the last-modified
// time; the committed version is returned.
func (s *Store) CommitObject(ctx context.Context, v Version, pre Preconditions) (Version, error) {
	if err := validateVersion(&v); err != nil {
		return Version{}, err
	}
	b, pool, err := s.servedBucket(ctx, v.Bucket)
	if err != nil {
		return Version{}, err
	}
	enc, err := encodeVersion(&v)
	if err != nil {
		return Version{}, err
	}
	var retired int64
	var id string // the version's row id (v.VersionID is what S3 shows)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if pre != (Preconditions{}) {
			st, err := lockKey(ctx, tx, b, v.Key)
			if err != nil {
				return err
			}
			if err := st.check(pre, b.Name, v.Key); err != nil {
				return err
			}
			id, retired, err = writeVersion(ctx, tx, b, st, &v, enc)
			if err != nil {
				return err
			}
			return queueMissingShards(ctx, tx, SegmentOwner{BucketID: b.ID, Key: v.Key, VersionID: id}, v.Segments)
		}
		// Nothing to check first: locks and writes in one round trip.
		batch := &pgx.Batch{}
		queueKeyLocks(batch, b, v.Key)
		queueWrite(batch, b, &v, enc)
		br := tx.SendBatch(ctx, batch)
		st, err := readKeyState(br, b.Name)
		if err == nil {
			id, retired, err = readWrite(br, b, st.versioning, &v)
		}
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = fmt.Errorf("run commit batch: %w", closeErr)
		}
		if err != nil {
			return err
		}
		return queueMissingShards(ctx, tx, SegmentOwner{BucketID: b.ID, Key: v.Key, VersionID: id}, v.Segments)
	})
	if err != nil {
		return Version{}, fmt.Errorf("commit %s/%s: %w", v.Bucket, v.Key, err)
	}
	if retired > 0 || hasMissingShards(v.Segments) {
		s.written(b.Region)
	}
	s.log.Debug("committed object", "bucket", v.Bucket, "key", v.Key, "version_id", v.VersionID, "replaced", retired)
	return v, nil
}

// DeleteObject deletes a key or one of its versions.
//
// Without a version id: in an unversioned bucket the current version is
// soft-deleted and its data queued for collection (Deleted is false when
// there was none); in a versioned bucket a delete marker becomes the current
// version (in a suspended bucket it is the null version, replacing the old
// one), even when the key had no versions.
//
// With a version id ("null" for the null version) that version is removed
// for good; when it was the current one, the next newest version becomes
// current. Deleted is false when there was no such version.
//
// A version under object lock (legal hold, or retention not yet expired) is
// not removed: ErrObjectLocked, unless its retention is GOVERNANCE and
// bypassGovernance is set.
func (s *Store) DeleteObject(ctx context.Context, bucket, key, versionID string, bypassGovernance bool) (DeleteResult, error) {
	return s.DeleteObjectIf(ctx, bucket, key, versionID, Preconditions{}, bypassGovernance)
}

// DeleteObjectIf is DeleteObject when pre holds for the key's current
// version, checked under the key's lock (S3's If-Match on DELETE):
// ErrPreconditionFailed when the ETag differs, ErrNoSuchKey when there is
// no current version.
func (s *Store) DeleteObjectIf(ctx context.Context, bucket, key, versionID string, pre Preconditions, bypassGovernance bool) (DeleteResult, error) {
	if err := ValidateKey(key); err != nil {
		return DeleteResult{}, err
	}
	sel, selArgs, ok := versionSelector(versionID)
	if !ok {
		return DeleteResult{}, invalidVersionID(versionID)
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return DeleteResult{}, err
	}
	var res DeleteResult
	var retired int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		res, retired = DeleteResult{}, 0
		st, err := lockKey(ctx, tx, b, key)
		if err != nil {
			return err
		}
		if err := st.check(pre, b.Name, key); err != nil {
			return err
		}
		switch {
		case versionID != "":
			res, retired, err = deleteVersion(ctx, tx, b, st, key, sel, selArgs, bypassGovernance)
		case st.versioning == Unversioned:
			if st.current == nil {
				return nil
			}
			tag, err := tx.Exec(ctx, sqlRetireLatest, b.ID, key, b.Name)
			if err != nil {
				return fmt.Errorf("retire current version: %w", err)
			}
			retired = tag.RowsAffected()
			res = DeleteResult{Deleted: true, DeleteMarker: st.current.deleteMarker, VersionID: st.current.id}
		default:
			marker := Version{Key: key, DeleteMarker: true}
			_, retired, err = writeVersion(ctx, tx, b, st, &marker, encodedVersion{meta: "{}", segments: "[]", tags: "{}", checksums: "{}"})
			res = DeleteResult{Deleted: true, DeleteMarker: true, VersionID: marker.VersionID}
		}
		return err
	})
	if err != nil {
		return DeleteResult{}, fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if retired > 0 {
		s.written(b.Region)
	}
	return res, nil
}

// deleteVersion removes one version of a key for good, promoting the next
// newest when it was current, unless object lock holds it.
func deleteVersion(ctx context.Context, tx pgx.Tx, b Bucket, st keyState, key, sel string, selArgs []any, bypassGovernance bool) (DeleteResult, int64, error) {
	var id string
	var latest, marker, null bool
	var l versionLock
	err := tx.QueryRow(ctx, "SELECT version_id::text, is_latest, delete_marker, null_version, "+sqlVersionLock+
		" FROM object_versions WHERE bucket_id = $1 AND key = $2 AND "+sel,
		append([]any{b.ID, key}, selArgs...)...).Scan(append([]any{&id, &latest, &marker, &null}, l.scanTargets()...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return DeleteResult{}, 0, nil
	}
	if err != nil {
		return DeleteResult{}, 0, fmt.Errorf("read version: %w", err)
	}
	if err := l.checkRemove(bypassGovernance); err != nil {
		return DeleteResult{}, 0, err
	}
	batch := &pgx.Batch{}
	batch.Queue(sqlRetireVersion, b.ID, key, b.Name, id)
	if latest {
		batch.Queue(sqlPromote, b.ID, key)
	}
	br := tx.SendBatch(ctx, batch)
	tag, err := br.Exec()
	if err == nil && latest {
		_, err = br.Exec()
	}
	if closeErr := br.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil {
		return DeleteResult{}, 0, fmt.Errorf("remove version: %w", err)
	}
	return DeleteResult{Deleted: true, DeleteMarker: marker, VersionID: displayID(id, null, st.versioning)}, tag.RowsAffected(), nil
}

// GetObject returns the current version of a key, or the live version with
// the given id ("null" for the null version) when versionID is not empty.
// A current version that is a delete marker is ErrNoSuchKey (a
// *DeleteMarkerError); asked for by id, a delete marker is returned.
func (s *Store) GetObject(ctx context.Context, bucket, key, versionID string) (Version, error) {
	if err := ValidateKey(key); err != nil {
		return Version{}, err
	}
	sel, selArgs, ok := versionSelector(versionID)
	if !ok {
		return Version{}, invalidVersionID(versionID)
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return Version{}, err
	}
	v := Version{Bucket: b.Name, Key: key}
	var vs Versioning
	row := pool.QueryRow(ctx, "SELECT "+versionColumns+", "+sqlVersioningState+
		" FROM object_versions WHERE bucket_id = $1 AND key = $2 AND "+sel, append([]any{b.ID, key}, selArgs...)...)
	var id string
	var null bool
	err = row.Scan(&id, &null, &v.IsLatest, &v.Size, &v.ETag, &v.LastModified, &v.ContentType,
		&v.ContentEncoding, &v.CacheControl, &v.ContentDisposition, &v.ContentLanguage,
		&v.Expires, &v.UserMetadata, &v.Segments, &v.DeleteMarker, &v.Tags, &v.Checksums,
		&v.ChecksumType, &v.PartsCount, &v.WebsiteRedirectLocation, &v.seq, &v.LockMode, &v.LockRetainUntil, &v.LegalHold, &v.LegalHoldSet, &vs)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && versionID != "":
		return Version{}, fmt.Errorf("%w: %s/%s version %s", ErrNoSuchVersion, bucket, key, versionID)
	case errors.Is(err, pgx.ErrNoRows):
		return Version{}, fmt.Errorf("%w: %s/%s", ErrNoSuchKey, bucket, key)
	case err != nil:
		return Version{}, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	v.VersionID = displayID(id, null, vs)
	if versionID == "" && v.DeleteMarker {
		return Version{}, &DeleteMarkerError{Bucket: b.Name, Key: key, VersionID: v.VersionID}
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
