package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Multipart limits.
const (
	// MaxPartNumber is the highest part number (S3's limit).
	MaxPartNumber = 10000
	// DefaultMinPartSize is the smallest size of every part of a completed
	// upload but the last, unless the caller says otherwise.
	DefaultMinPartSize = 5 << 20
	// DefaultMaxParts is the default and largest page size of ListParts.
	DefaultMaxParts = 1000
	// DefaultMaxUploads is the default and largest page size of
	// ListMultipartUploads.
	DefaultMaxUploads = 1000
)

// Upload is a multipart upload.
type Upload struct {
	Bucket    string
	Key       string
	UploadID  string
	Initiated time.Time
	// Template holds the content headers, user metadata and tags the
	// object will get; its other fields are unused.
	Template Version
	// ChecksumAlgorithm requested at create, or empty; ChecksumType is then
	// COMPOSITE or FULL_OBJECT.
	ChecksumAlgorithm string
	ChecksumType      string
}

// Part is an uploaded part. Its segment holds its size, ETag (hex MD5),
// checksums and placement.
type Part struct {
	PartNumber   int
	LastModified time.Time
	Segment      Segment
}

// CompletedPart is a part as a CompleteMultipartUpload request lists it.
type CompletedPart struct {
	PartNumber int
	ETag       string
	// Checksums the client listed for the part, by algorithm; each must
	// match the part's.
	Checksums map[string]string
}

// PartListResult is one page of ListParts.
type PartListResult struct {
	Upload    Upload
	Parts     []Part
	Truncated bool
	// NextPartNumberMarker is the last part number returned.
	NextPartNumberMarker int
}

// UploadListOptions select a page of ListMultipartUploads.
type UploadListOptions struct {
	Prefix    string
	Delimiter string
	// KeyMarker alone: list keys after it. With UploadIDMarker: list the
	// uploads of KeyMarker initiated after that one, then later keys.
	KeyMarker      string
	UploadIDMarker string
	// MaxUploads counts uploads and common prefixes; 0 means
	// DefaultMaxUploads, and larger values are capped at it.
	MaxUploads int
}

// UploadListResult is one page of ListMultipartUploads.
type UploadListResult struct {
	// Uploads in progress by key, then by initiation.
	Uploads        []Upload
	CommonPrefixes []string
	Truncated      bool
	// Set when Truncated: the last key (or common prefix) returned and, for
	// an upload, its id.
	NextKeyMarker      string
	NextUploadIDMarker string
}

// uploadTemplate is the jsonb form of Upload.Template.
type uploadTemplate struct {
	ContentType        string            `json:"content_type,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	CacheControl       string            `json:"cache_control,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	ContentLanguage    string            `json:"content_language,omitempty"`
	Expires            string            `json:"expires,omitempty"`
	WebsiteRedirect    string            `json:"website_redirect_location,omitempty"`
	UserMetadata       map[string]string `json:"user_metadata,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	LockMode           string            `json:"lock_mode,omitempty"`
	LockRetainUntil    *time.Time        `json:"lock_retain_until,omitempty"`
	LegalHold          bool              `json:"legal_hold,omitempty"`
	LegalHoldSet       bool              `json:"legal_hold_set,omitempty"`
}

func templateOf(v Version) uploadTemplate {
	return uploadTemplate{
		ContentType: v.ContentType, ContentEncoding: v.ContentEncoding, CacheControl: v.CacheControl,
		ContentDisposition: v.ContentDisposition, ContentLanguage: v.ContentLanguage, Expires: v.Expires,
		WebsiteRedirect: v.WebsiteRedirectLocation, UserMetadata: v.UserMetadata, Tags: v.Tags,
		LockMode: v.LockMode, LockRetainUntil: v.LockRetainUntil, LegalHold: v.LegalHold, LegalHoldSet: v.LegalHoldSet,
	}
}

func (t uploadTemplate) version(bucket, key string) Version {
	return Version{
		Bucket: bucket, Key: key,
		ContentType: t.ContentType, ContentEncoding: t.ContentEncoding, CacheControl: t.CacheControl,
		ContentDisposition: t.ContentDisposition, ContentLanguage: t.ContentLanguage, Expires: t.Expires,
		WebsiteRedirectLocation: t.WebsiteRedirect, UserMetadata: t.UserMetadata, Tags: t.Tags,
		LockMode: t.LockMode, LockRetainUntil: t.LockRetainUntil, LegalHold: t.LegalHold, LegalHoldSet: t.LegalHoldSet,
	}
}

// newUploadID returns a UUIDv7 for now: its first 48 bits are the Unix time
// in milliseconds, so upload ids sort in initiation order. The initiation
// time returned is the one the id holds.
func newUploadID(now time.Time) (string, time.Time, error) {
	var u [16]byte
	if _, err := rand.Read(u[6:]); err != nil {
		return "", time.Time{}, fmt.Errorf("generate upload id: %w", err)
	}
	ms := now.UnixMilli()
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(ms))
	copy(u[:6], ts[2:])
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], time.UnixMilli(ms), nil
}

const uploadColumns = "upload_id::text, key, initiated, template, checksum_algorithm, checksum_type"

func scanUpload(row pgx.Row, bucket string) (Upload, error) {
	u := Upload{Bucket: bucket}
	var t uploadTemplate
	if err := row.Scan(&u.UploadID, &u.Key, &u.Initiated, &t, &u.ChecksumAlgorithm, &u.ChecksumType); err != nil {
		return Upload{}, err
	}
	u.Template = t.version(bucket, u.Key)
	return u, nil
}

func noSuchUpload(bucket, key, uploadID string) error {
	return fmt.Errorf("%w: %s/%s upload %s", ErrNoSuchUpload, bucket, key, uploadID)
}

// CreateMultipartUpload starts a multipart upload of u.Key with u's
// template and checksum settings and returns it with its id and initiation
// time.
func (s *Store) CreateMultipartUpload(ctx context.Context, u Upload) (Upload, error) {
	tmpl := templateOf(u.Template).version(u.Bucket, u.Key)
	if err := validateVersion(&tmpl); err != nil {
		return Upload{}, err
	}
	if err := validateUploadChecksum(&u.ChecksumAlgorithm, &u.ChecksumType); err != nil {
		return Upload{}, err
	}
	b, pool, err := s.servedBucket(ctx, u.Bucket)
	if err != nil {
		return Upload{}, err
	}
	id, initiated, err := newUploadID(s.now())
	if err != nil {
		return Upload{}, err
	}
	tjson, err := json.Marshal(templateOf(tmpl))
	if err != nil {
		return Upload{}, fmt.Errorf("encode upload template: %w", err)
	}
	// Under the bucket's shared lock, as a commit: an upload never starts
	// in a bucket DeleteBucket has tombstoned.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		hi, lo := bucketLockKey(b.ID)
		batch.Queue(sqlLockBucketShared, hi, lo)
		batch.Queue(`
			INSERT INTO multipart_uploads (upload_id, bucket_id, key, initiated, template, checksum_algorithm, checksum_type)
			SELECT $1, $2, $3, $4, $5::jsonb, $6, $7
			 WHERE NOT EXISTS (SELECT 1 FROM bucket_tombstones WHERE bucket_id = $2)`,
			id, b.ID, u.Key, initiated, string(tjson), u.ChecksumAlgorithm, u.ChecksumType)
		br := tx.SendBatch(ctx, batch)
		_, err := br.Exec()
		if err == nil {
			tag, insertErr := br.Exec()
			switch {
			case insertErr != nil:
				err = fmt.Errorf("insert upload: %w", insertErr)
			case tag.RowsAffected() == 0:
				err = fmt.Errorf("%w: %s", ErrNoSuchBucket, b.Name)
			}
		}
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = closeErr
		}
		return err
	})
	if err != nil {
		return Upload{}, fmt.Errorf("create upload of %s/%s: %w", u.Bucket, u.Key, err)
	}
	u.Bucket, u.UploadID, u.Initiated, u.Template = b.Name, id, initiated, tmpl
	s.log.Debug("created multipart upload", "bucket", b.Name, "key", u.Key, "upload_id", id)
	return u, nil
}

// GetMultipartUpload returns an upload in progress.
func (s *Store) GetMultipartUpload(ctx context.Context, bucket, key, uploadID string) (Upload, error) {
	if err := ValidateKey(key); err != nil {
		return Upload{}, err
	}
	// The bucket first: a missing bucket is NoSuchBucket whatever the id.
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return Upload{}, err
	}
	if !isUUID(uploadID) {
		return Upload{}, noSuchUpload(bucket, key, uploadID)
	}
	u, err := scanUpload(pool.QueryRow(ctx, "SELECT "+uploadColumns+` FROM multipart_uploads
		WHERE upload_id = $1 AND bucket_id = $2 AND key = $3 AND state = 'in_progress'`, uploadID, b.ID, key), b.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Upload{}, noSuchUpload(bucket, key, uploadID)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("read upload %s: %w", uploadID, err)
	}
	return u, nil
}

// lockUpload locks an upload in progress of bucket b and key for the rest
// of tx: PutPart, Complete and Abort of one upload queue up on it.
func lockUpload(ctx context.Context, tx pgx.Tx, b Bucket, key, uploadID string) (Upload, error) {
	u, err := scanUpload(tx.QueryRow(ctx, "SELECT "+uploadColumns+` FROM multipart_uploads
		WHERE upload_id = $1 AND bucket_id = $2 AND key = $3 AND state = 'in_progress'
		FOR NO KEY UPDATE`, uploadID, b.ID, key), b.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Upload{}, noSuchUpload(b.Name, key, uploadID)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("lock upload: %w", err)
	}
	return u, nil
}

// sqlQueueParts queues the segments of parts, as one DeleteParts outbox
// row, from a CTE "gone" of (part_number, segment).
const sqlQueueParts = `
	INSERT INTO outbox (type, payload)
	SELECT '` + TaskDeleteParts + `', jsonb_build_object(
		'bucket_id', $2::bigint, 'bucket', $3::text, 'key', $4::text,
		'upload_id', $1::text, 'segments', jsonb_agg(segment ORDER BY part_number))
	  FROM gone HAVING count(*) > 0`

// PutPart records part partNumber of an upload, replacing (and queueing for
// collection) a part uploaded before under that number.
func (s *Store) PutPart(ctx context.Context, bucket, key, uploadID string, partNumber int, seg Segment) (Part, error) {
	if err := ValidateKey(key); err != nil {
		return Part{}, err
	}
	if partNumber < 1 || partNumber > MaxPartNumber {
		return Part{}, invalid("part number %d is not between 1 and %d", partNumber, MaxPartNumber)
	}
	if err := validateSegment(seg); err != nil {
		return Part{}, fmt.Errorf("part %d: %w", partNumber, err)
	}
	if !isHexMD5(seg.ETag) {
		return Part{}, invalid("part %d: etag %q is not a hex MD5", partNumber, seg.ETag)
	}
	if err := checkPartChecksums(seg.Checksums); err != nil {
		return Part{}, fmt.Errorf("part %d: %w", partNumber, err)
	}
	// The bucket first: a missing bucket is NoSuchBucket whatever the id.
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return Part{}, err
	}
	if !isUUID(uploadID) {
		return Part{}, noSuchUpload(bucket, key, uploadID)
	}
	seg.PartNumber = partNumber
	segJSON, err := json.Marshal(seg)
	if err != nil {
		return Part{}, fmt.Errorf("encode part: %w", err)
	}
	sumsJSON, err := json.Marshal(seg.Checksums)
	if err != nil {
		return Part{}, fmt.Errorf("encode part checksums: %w", err)
	}
	if seg.Checksums == nil {
		sumsJSON = []byte("{}")
	}
	p := Part{PartNumber: partNumber, Segment: seg}
	var replaced int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := lockUpload(ctx, tx, b, key, uploadID); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		batch.Queue(`
			WITH gone AS (
				DELETE FROM multipart_parts WHERE upload_id = $1::uuid AND part_number = $5
				RETURNING part_number, segment
			)`+sqlQueueParts, uploadID, b.ID, b.Name, key, partNumber)
		batch.Queue(`
			INSERT INTO multipart_parts (upload_id, part_number, segment, size, etag, checksums, last_modified)
			VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb, clock_timestamp())
			RETURNING last_modified`, uploadID, partNumber, string(segJSON), seg.Size, seg.ETag, string(sumsJSON))
		br := tx.SendBatch(ctx, batch)
		tag, err := br.Exec()
		if err == nil {
			replaced = tag.RowsAffected()
			err = br.QueryRow().Scan(&p.LastModified)
		}
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = closeErr
		}
		if err != nil {
			return fmt.Errorf("write part: %w", err)
		}
		return queueMissingShards(ctx, tx, SegmentOwner{BucketID: b.ID, Key: key, UploadID: uploadID, PartNumber: partNumber}, []Segment{seg})
	})
	if err != nil {
		return Part{}, fmt.Errorf("put part %d of %s/%s upload %s: %w", partNumber, bucket, key, uploadID, err)
	}
	if replaced > 0 || hasMissingShards([]Segment{seg}) {
		s.written(b.Region)
	}
	return p, nil
}

const partColumns = "part_number, segment, last_modified"

func scanPart(row pgx.CollectableRow) (Part, error) {
	var p Part
	err := row.Scan(&p.PartNumber, &p.Segment, &p.LastModified)
	return p, err
}

// ListParts returns a page of the parts of an upload in progress, by part
// number, after marker.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, marker, maxParts int) (PartListResult, error) {
	if marker < 0 {
		return PartListResult{}, invalid("part number marker %d is negative", marker)
	}
	if maxParts < 0 {
		return PartListResult{}, invalid("max parts %d is negative", maxParts)
	}
	if maxParts == 0 || maxParts > DefaultMaxParts {
		maxParts = DefaultMaxParts
	}
	u, err := s.GetMultipartUpload(ctx, bucket, key, uploadID)
	if err != nil {
		return PartListResult{}, err
	}
	_, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return PartListResult{}, err
	}
	rows, err := pool.Query(ctx, "SELECT "+partColumns+` FROM multipart_parts
		WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3`, uploadID, marker, maxParts+1)
	if err != nil {
		return PartListResult{}, fmt.Errorf("list parts of %s: %w", uploadID, err)
	}
	parts, err := pgx.CollectRows(rows, scanPart)
	if err != nil {
		return PartListResult{}, fmt.Errorf("list parts of %s: %w", uploadID, err)
	}
	res := PartListResult{Upload: u, Parts: parts}
	if len(parts) > maxParts {
		res.Parts, res.Truncated = parts[:maxParts], true
	}
	if len(res.Parts) > 0 {
		res.NextPartNumberMarker = res.Parts[len(res.Parts)-1].PartNumber
	}
	return res, nil
}

// completedPartRef is how a completed upload remembers its part list, to
// answer a repeated Complete with the same list.
type completedPartRef struct {
	PartNumber int    `json:"part_number"`
	ETag       string `json:"etag"`
}

// CompleteMultipartUpload makes the object of an upload's listed parts the
// key's current version, in one transaction: the listed parts must be in
// ascending order (ErrInvalidPartOrder), exist with the listed ETags and
// checksums (ErrInvalidPart), and all but the last hold at least
// minPartSize bytes (ErrEntityTooSmall; 0 means DefaultMinPartSize). The
// object's segments are the parts' segments in order; its ETag is the
// multipart ETag; when the upload has a checksum algorithm and every part a
// checksum of it, its checksum is the composite (or combined full-object)
// one. The write then follows CommitObject: preconditions, versioning, a
// replaced version queued for collection. Unlisted parts are queued for
// collection.
//
// Completing a completed upload again with the same part list returns the
// object it made; otherwise a completed upload is ErrNoSuchUpload.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletedPart, opts CompleteOptions) (Version, error) {
	pre, minPartSize := opts.Preconditions, opts.MinPartSize
	if err := ValidateKey(key); err != nil {
		return Version{}, err
	}
	if len(parts) == 0 {
		return Version{}, invalid("no parts listed")
	}
	if len(parts) > MaxPartNumber {
		return Version{}, invalid("%d parts listed, at most %d allowed", len(parts), MaxPartNumber)
	}
	for i, p := range parts {
		if p.PartNumber < 1 || p.PartNumber > MaxPartNumber {
			return Version{}, fmt.Errorf("%w: part number %d is not between 1 and %d", ErrInvalidPart, p.PartNumber, MaxPartNumber)
		}
		if i > 0 && p.PartNumber <= parts[i-1].PartNumber {
			return Version{}, fmt.Errorf("%w: part %d listed after part %d", ErrInvalidPartOrder, p.PartNumber, parts[i-1].PartNumber)
		}
	}
	if minPartSize < 0 {
		return Version{}, invalid("min part size %d is negative", minPartSize)
	}
	if err := validateRetention(opts.DefaultLockMode, opts.DefaultLockRetainUntil); err != nil {
		return Version{}, err
	}
	if minPartSize == 0 {
		minPartSize = DefaultMinPartSize
	}
	// The bucket first: a missing bucket is NoSuchBucket whatever the id.
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return Version{}, err
	}
	if !isUUID(uploadID) {
		return Version{}, noSuchUpload(bucket, key, uploadID)
	}
	var v Version
	var queued int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		queued = 0
		st, err := lockKey(ctx, tx, b, key)
		if err != nil {
			return err
		}
		var state string
		var doneID *string
		var doneParts []completedPartRef
		var t uploadTemplate
		u := Upload{Bucket: b.Name, Key: key, UploadID: uploadID}
		err = tx.QueryRow(ctx, `SELECT template, checksum_algorithm, checksum_type, state, version_id::text, completed_parts
			  FROM multipart_uploads
			 WHERE upload_id = $1 AND bucket_id = $2 AND key = $3 FOR NO KEY UPDATE`,
			uploadID, b.ID, key).Scan(&t, &u.ChecksumAlgorithm, &u.ChecksumType, &state, &doneID, &doneParts)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return noSuchUpload(b.Name, key, uploadID)
		case err != nil:
			return fmt.Errorf("lock upload: %w", err)
		case state == "completed":
			if doneID == nil || !sameParts(doneParts, parts) {
				return noSuchUpload(b.Name, key, uploadID)
			}
			v, err = readVersionByID(ctx, tx, b, key, *doneID, st.versioning)
			return err
		}
		u.Template = t.version(b.Name, key)
		// The object is created now, so the bucket's default retention
		// counts from now (an upload's own retention was set at Create).
		if u.Template.LockMode == "" && opts.DefaultLockMode != "" {
			u.Template.LockMode, u.Template.LockRetainUntil = opts.DefaultLockMode, opts.DefaultLockRetainUntil
		}
		rows, err := tx.Query(ctx, "SELECT "+partColumns+" FROM multipart_parts WHERE upload_id = $1 ORDER BY part_number", uploadID)
		if err != nil {
			return fmt.Errorf("read parts: %w", err)
		}
		stored, err := pgx.CollectRows(rows, scanPart)
		if err != nil {
			return fmt.Errorf("read parts: %w", err)
		}
		v, err = assemble(u, stored, parts, minPartSize)
		if err != nil {
			return err
		}
		if err := st.check(pre, b.Name, key); err != nil {
			return err
		}
		enc, err := encodeVersion(&v)
		if err != nil {
			return err
		}
		id, retired, err := writeVersion(ctx, tx, b, st, &v, enc)
		if err != nil {
			return err
		}
		listed := make([]int32, len(parts))
		refs := make([]completedPartRef, len(parts))
		for i, p := range parts {
			listed[i] = int32(p.PartNumber)
			refs[i] = completedPartRef{PartNumber: p.PartNumber, ETag: strings.ToLower(unquote(p.ETag))}
		}
		refsJSON, err := json.Marshal(refs)
		if err != nil {
			return fmt.Errorf("encode part list: %w", err)
		}
		batch := &pgx.Batch{}
		// Listed parts now belong to the version; the others are garbage.
		batch.Queue(`
			WITH gone AS (
				DELETE FROM multipart_parts WHERE upload_id = $1::uuid AND NOT part_number = ANY($5::int4[])
				RETURNING part_number, segment
			)`+sqlQueueParts, uploadID, b.ID, b.Name, key, listed)
		batch.Queue("DELETE FROM multipart_parts WHERE upload_id = $1", uploadID)
		batch.Queue(`UPDATE multipart_uploads
			SET state = 'completed', completed_at = clock_timestamp(), version_id = $2, completed_parts = $3::jsonb
			WHERE upload_id = $1`, uploadID, id, string(refsJSON))
		br := tx.SendBatch(ctx, batch)
		tag, err := br.Exec()
		if err == nil {
			queued = retired + tag.RowsAffected()
			for range 2 {
				if _, err = br.Exec(); err != nil {
					break
				}
			}
		}
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = closeErr
		}
		if err != nil {
			return fmt.Errorf("finish upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return Version{}, fmt.Errorf("complete %s/%s upload %s: %w", bucket, key, uploadID, err)
	}
	if queued > 0 {
		s.written(b.Region)
	}
	s.log.Debug("completed multipart upload", "bucket", b.Name, "key", key, "upload_id", uploadID, "version_id", v.VersionID)
	return v, nil
}

// CompleteOptions are CompleteMultipartUpload's settings beyond the parts.
type CompleteOptions struct {
	// Preconditions are checked against the key's current version.
	Preconditions Preconditions
	// MinPartSize is the smallest size of every part but the last; 0 is
	// DefaultMinPartSize.
	MinPartSize int64
	// DefaultLockMode and DefaultLockRetainUntil are the bucket's default
	// retention as of this Complete, given to an upload created without
	// retention of its own.
	DefaultLockMode        string
	DefaultLockRetainUntil *time.Time
}

// sameParts reports whether a repeated Complete lists the parts of the
// completed one.
func sameParts(done []completedPartRef, parts []CompletedPart) bool {
	return slices.EqualFunc(done, parts, func(d completedPartRef, p CompletedPart) bool {
		return d.PartNumber == p.PartNumber && strings.EqualFold(d.ETag, unquote(p.ETag))
	})
}

// assemble checks the listed parts against the stored ones and builds the
// object version they make.
func assemble(u Upload, stored []Part, listed []CompletedPart, minPartSize int64) (Version, error) {
	byNumber := make(map[int]Part, len(stored))
	for _, p := range stored {
		byNumber[p.PartNumber] = p
	}
	v := u.Template
	v.Segments = make([]Segment, 0, len(listed))
	etags := make([]string, 0, len(listed))
	for i, lp := range listed {
		p, ok := byNumber[lp.PartNumber]
		if !ok {
			return Version{}, fmt.Errorf("%w: part %d was not uploaded", ErrInvalidPart, lp.PartNumber)
		}
		if !strings.EqualFold(unquote(lp.ETag), p.Segment.ETag) {
			return Version{}, fmt.Errorf("%w: part %d has etag %s, not %s", ErrInvalidPart, lp.PartNumber, p.Segment.ETag, lp.ETag)
		}
		for alg, sum := range lp.Checksums {
			if have, ok := p.Segment.Checksums[alg]; !ok || have != sum {
				return Version{}, fmt.Errorf("%w: part %d %s checksum does not match", ErrInvalidPart, lp.PartNumber, alg)
			}
		}
		if i < len(listed)-1 && p.Segment.Size < minPartSize {
			return Version{}, fmt.Errorf("%w: part %d has %d bytes, less than %d", ErrEntityTooSmall, lp.PartNumber, p.Segment.Size, minPartSize)
		}
		seg := p.Segment
		seg.PartNumber = p.PartNumber
		v.Segments = append(v.Segments, seg)
		v.Size += seg.Size
		etags = append(etags, seg.ETag)
	}
	etag, err := multipartETag(etags)
	if err != nil {
		return Version{}, err
	}
	v.ETag, v.PartsCount = etag, len(listed)
	if u.ChecksumAlgorithm != "" {
		sum, ok, err := multipartChecksum(u.ChecksumAlgorithm, u.ChecksumType, v.Segments)
		if err != nil {
			return Version{}, err
		}
		if ok {
			v.Checksums = map[string]string{u.ChecksumAlgorithm: sum}
			v.ChecksumType = u.ChecksumType
		}
	}
	return v, nil
}

// readVersionByID reads a version by its uuid, live or not.
func readVersionByID(ctx context.Context, tx pgx.Tx, b Bucket, key, id string, vs Versioning) (Version, error) {
	v := Version{Bucket: b.Name, Key: key}
	id, null, err := scanVersion(tx.QueryRow(ctx, "SELECT "+versionColumns+
		" FROM object_versions WHERE version_id = $1::uuid", id), &v)
	if errors.Is(err, pgx.ErrNoRows) {
		// Collected since: the upload is as gone as an aborted one.
		return Version{}, fmt.Errorf("%w: %s/%s: its object was deleted", ErrNoSuchUpload, b.Name, key)
	}
	if err != nil {
		return Version{}, fmt.Errorf("read completed version: %w", err)
	}
	v.VersionID = displayID(id, null, vs)
	return v, nil
}

// AbortMultipartUpload removes an upload in progress and queues its parts
// for collection.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	// The bucket first: a missing bucket is NoSuchBucket whatever the id.
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return err
	}
	if !isUUID(uploadID) {
		return noSuchUpload(bucket, key, uploadID)
	}
	var queued int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := lockUpload(ctx, tx, b, key, uploadID); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		batch.Queue(`
			WITH gone AS (
				DELETE FROM multipart_parts WHERE upload_id = $1::uuid
				RETURNING part_number, segment
			)`+sqlQueueParts, uploadID, b.ID, b.Name, key)
		batch.Queue("DELETE FROM multipart_uploads WHERE upload_id = $1", uploadID)
		br := tx.SendBatch(ctx, batch)
		tag, err := br.Exec()
		if err == nil {
			queued = tag.RowsAffected()
			_, err = br.Exec()
		}
		if closeErr := br.Close(); err == nil && closeErr != nil {
			err = closeErr
		}
		if err != nil {
			return fmt.Errorf("remove upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("abort %s/%s upload %s: %w", bucket, key, uploadID, err)
	}
	if queued > 0 {
		s.written(b.Region)
	}
	s.log.Debug("aborted multipart upload", "bucket", b.Name, "key", key, "upload_id", uploadID)
	return nil
}

// ListMultipartUploads returns a page of the uploads in progress of a
// bucket, by key and then initiation, with delimiter roll-up.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, o UploadListOptions) (UploadListResult, error) {
	if o.MaxUploads < 0 {
		return UploadListResult{}, invalid("max_uploads %d is negative", o.MaxUploads)
	}
	if o.MaxUploads == 0 || o.MaxUploads > DefaultMaxUploads {
		o.MaxUploads = DefaultMaxUploads
	}
	for _, f := range []struct{ name, value string }{
		{"prefix", o.Prefix}, {"delimiter", o.Delimiter}, {"key_marker", o.KeyMarker},
	} {
		if err := checkText(f.name, f.value); err != nil {
			return UploadListResult{}, err
		}
	}
	var after *string
	// As on S3, an upload id marker without a key marker is ignored.
	if o.UploadIDMarker != "" && o.KeyMarker != "" {
		if !isUUID(o.UploadIDMarker) {
			return UploadListResult{}, invalid("invalid upload id marker %q", o.UploadIDMarker)
		}
		m := strings.ToLower(o.UploadIDMarker)
		after = &m
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return UploadListResult{}, err
	}
	l := rowLister[Upload, string]{
		prefix: o.Prefix, delimiter: o.Delimiter, marker: o.KeyMarker, max: o.MaxUploads,
		key:   func(u Upload) string { return u.Key },
		pos:   func(u Upload) string { return u.UploadID },
		fetch: fetchUploads(pool, b),
	}
	l.start(after)
	items, truncated, err := l.run(ctx)
	if err != nil {
		return UploadListResult{}, fmt.Errorf("list uploads of %s: %w", bucket, err)
	}
	res := UploadListResult{Truncated: truncated}
	for _, it := range items {
		if it.prefix != "" {
			res.CommonPrefixes = append(res.CommonPrefixes, it.prefix)
		} else {
			res.Uploads = append(res.Uploads, it.row)
		}
	}
	if truncated {
		last := items[len(items)-1]
		if last.prefix != "" {
			res.NextKeyMarker = last.prefix
		} else {
			res.NextKeyMarker, res.NextUploadIDMarker = last.row.Key, last.row.UploadID
		}
	}
	return res, nil
}

// fetchUploads seeks the uploads listing index of a bucket.
func fetchUploads(pool *pgxpool.Pool, b Bucket) rowFetch[Upload, string] {
	scan := func(rows pgx.Rows) ([]Upload, error) {
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Upload, error) { return scanUpload(row, b.Name) })
	}
	return func(ctx context.Context, from rowPos[string], upper string, bounded bool, limit int) ([]Upload, error) {
		var out []Upload
		if from.after != nil {
			rows, err := pool.Query(ctx, "SELECT "+uploadColumns+` FROM multipart_uploads
				WHERE bucket_id = $1 AND state = 'in_progress' AND key = $2 AND upload_id > $3::uuid
				ORDER BY upload_id LIMIT $4`, b.ID, from.key, *from.after, limit)
			if err != nil {
				return nil, fmt.Errorf("query uploads: %w", err)
			}
			if out, err = scan(rows); err != nil {
				return nil, fmt.Errorf("read uploads: %w", err)
			}
			if len(out) == limit {
				return out, nil
			}
			from = rowPos[string]{key: from.key}
		}
		cond, args := keyRange(from.key, from.inclusive, upper, bounded, 3)
		rows, err := pool.Query(ctx, "SELECT "+uploadColumns+` FROM multipart_uploads
			WHERE bucket_id = $1 AND state = 'in_progress' AND `+cond+`
			ORDER BY key COLLATE "C", upload_id LIMIT $2`,
			append([]any{b.ID, limit - len(out)}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("query uploads: %w", err)
		}
		more, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read uploads: %w", err)
		}
		return append(out, more...), nil
	}
}
