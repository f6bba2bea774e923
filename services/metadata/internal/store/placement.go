package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Limits of the placement calls.
const (
	MaxScanLimit      = 1000
	MaxLocateDataIDs  = 1000
	MaxCollectLimit   = 10000
	DefaultScanLimit  = 100
	defaultCollectMax = 500
)

// SegmentOwner names the row holding a segment: a version (VersionID set) or
// a part of an upload in progress (UploadID and PartNumber set).
type SegmentOwner struct {
	BucketID   int64
	Key        string
	VersionID  string
	UploadID   string
	PartNumber int
}

func (o SegmentOwner) validate() error {
	if o.BucketID <= 0 {
		return invalid("bucket id %d", o.BucketID)
	}
	switch {
	case o.VersionID != "" && o.UploadID == "":
		if !isUUID(o.VersionID) {
			return invalid("version id %q is not a UUID", o.VersionID)
		}
	case o.UploadID != "" && o.VersionID == "":
		if !isUUID(o.UploadID) {
			return invalid("upload id %q is not a UUID", o.UploadID)
		}
		if o.PartNumber < 1 || o.PartNumber > MaxPartNumber {
			return invalid("part number %d", o.PartNumber)
		}
	default:
		return invalid("a segment owner is a version or a part, not both or neither")
	}
	return nil
}

// PlacedSegment is a segment with its owner.
type PlacedSegment struct {
	Owner   SegmentOwner
	Segment Segment
}

// ShardLocation is the placement of one data id's shards.
type ShardLocation struct {
	DataID  string
	NodeIDs []string
}

// Scan cursors: "v:<version id>" walks live versions in version id order,
// then "p:<upload id>:<part>" walks parts of uploads in progress.
const (
	cursorVersions = "v:"
	cursorParts    = "p:"
	nilUUID        = "00000000-0000-0000-0000-000000000000"
)

// ScanSegments returns the segments with shards of up to limit live
// versions, then of parts of uploads in progress, after cursor. Versions
// written or parts uploaded after the walk passed their place are missed
// until the next walk; a walk never returns an owner twice.
func (s *Store) ScanSegments(ctx context.Context, region, cursor string, limit int) (segs []PlacedSegment, next string, done bool, err error) {
	pool, err := s.regionalPool(region)
	if err != nil {
		return nil, "", false, err
	}
	if limit <= 0 {
		limit = DefaultScanLimit
	}
	if limit > MaxScanLimit {
		return nil, "", false, invalid("limit %d: at most %d", limit, MaxScanLimit)
	}
	if cursor == "" {
		cursor = cursorVersions + nilUUID
	}
	switch {
	case strings.HasPrefix(cursor, cursorVersions):
		after := strings.TrimPrefix(cursor, cursorVersions)
		if !isUUID(after) {
			return nil, "", false, invalid("cursor %q", cursor)
		}
		rows, err := pool.Query(ctx, `
			SELECT bucket_id, key, version_id::text, segments FROM object_versions
			 WHERE state = 'live' AND NOT delete_marker AND version_id > $1::uuid
			 ORDER BY version_id LIMIT $2`, after, limit)
		if err != nil {
			return nil, "", false, fmt.Errorf("scan versions: %w", err)
		}
		n := 0
		last := after
		for rows.Next() {
			var o SegmentOwner
			var raw []byte
			if err := rows.Scan(&o.BucketID, &o.Key, &o.VersionID, &raw); err != nil {
				rows.Close()
				return nil, "", false, fmt.Errorf("scan versions: %w", err)
			}
			n++
			last = o.VersionID
			var list []Segment
			if err := json.Unmarshal(raw, &list); err != nil {
				rows.Close()
				return nil, "", false, fmt.Errorf("decode segments of version %s: %w", o.VersionID, err)
			}
			for _, seg := range list {
				if seg.DataID != "" {
					segs = append(segs, PlacedSegment{Owner: o, Segment: seg})
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", false, fmt.Errorf("scan versions: %w", err)
		}
		if n < limit {
			return segs, cursorParts + nilUUID + ":0", false, nil
		}
		return segs, cursorVersions + last, false, nil
	case strings.HasPrefix(cursor, cursorParts):
		upload, part, ok := strings.Cut(strings.TrimPrefix(cursor, cursorParts), ":")
		partNumber, perr := strconv.Atoi(part)
		if !ok || !isUUID(upload) || perr != nil {
			return nil, "", false, invalid("cursor %q", cursor)
		}
		rows, err := pool.Query(ctx, `
			SELECT u.bucket_id, u.key, p.upload_id::text, p.part_number, p.segment
			  FROM multipart_parts p JOIN multipart_uploads u ON u.upload_id = p.upload_id
			 WHERE u.state = 'in_progress' AND (p.upload_id, p.part_number) > ($1::uuid, $2)
			 ORDER BY p.upload_id, p.part_number LIMIT $3`, upload, partNumber, limit)
		if err != nil {
			return nil, "", false, fmt.Errorf("scan parts: %w", err)
		}
		n := 0
		for rows.Next() {
			var ps PlacedSegment
			var raw []byte
			if err := rows.Scan(&ps.Owner.BucketID, &ps.Owner.Key, &ps.Owner.UploadID, &ps.Owner.PartNumber, &raw); err != nil {
				rows.Close()
				return nil, "", false, fmt.Errorf("scan parts: %w", err)
			}
			n++
			upload, partNumber = ps.Owner.UploadID, ps.Owner.PartNumber
			if err := json.Unmarshal(raw, &ps.Segment); err != nil {
				rows.Close()
				return nil, "", false, fmt.Errorf("decode segment of upload %s part %d: %w", upload, partNumber, err)
			}
			if ps.Segment.DataID != "" {
				segs = append(segs, ps)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", false, fmt.Errorf("scan parts: %w", err)
		}
		return segs, cursorParts + upload + ":" + strconv.Itoa(partNumber), n < limit, nil
	}
	return nil, "", false, invalid("cursor %q", cursor)
}

// lockOwner reads (and row-locks, for the rest of tx) the segments of a live
// owner; ErrNoSuchSegment when it is gone or not live.
func lockOwner(ctx context.Context, tx pgx.Tx, o SegmentOwner) ([]Segment, error) {
	var raw []byte
	var err error
	if o.VersionID != "" {
		err = tx.QueryRow(ctx, `
			SELECT segments FROM object_versions
			 WHERE version_id = $1::uuid AND bucket_id = $2 AND key = $3 AND state = 'live'
			 FOR NO KEY UPDATE`, o.VersionID, o.BucketID, o.Key).Scan(&raw)
	} else {
		// The upload row first: Complete and PutPart lock it too, so a
		// placement change and the copy of a part into an object serialize.
		err = tx.QueryRow(ctx, `
			SELECT p.segment FROM multipart_uploads u JOIN multipart_parts p ON p.upload_id = u.upload_id
			 WHERE u.upload_id = $1::uuid AND u.bucket_id = $2 AND u.key = $3 AND u.state = 'in_progress'
			   AND p.part_number = $4
			 FOR NO KEY UPDATE`, o.UploadID, o.BucketID, o.Key, o.PartNumber).Scan(&raw)
		if err == nil {
			raw = append(append([]byte("["), raw...), ']')
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSuchSegment
	}
	if err != nil {
		return nil, fmt.Errorf("read segments: %w", err)
	}
	var segs []Segment
	if err := json.Unmarshal(raw, &segs); err != nil {
		return nil, fmt.Errorf("decode segments: %w", err)
	}
	return segs, nil
}

// GetSegment returns the current placement of one segment.
func (s *Store) GetSegment(ctx context.Context, region string, o SegmentOwner, dataID string) (PlacedSegment, error) {
	pool, err := s.regionalPool(region)
	if err != nil {
		return PlacedSegment{}, err
	}
	if err := o.validate(); err != nil {
		return PlacedSegment{}, err
	}
	var out PlacedSegment
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		segs, err := lockOwner(ctx, tx, o)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(segs, func(s Segment) bool { return s.DataID == dataID })
		if i < 0 || dataID == "" {
			return ErrNoSuchSegment
		}
		out = PlacedSegment{Owner: o, Segment: segs[i]}
		return nil
	})
	if err != nil {
		return PlacedSegment{}, fmt.Errorf("get segment %s: %w", dataID, err)
	}
	return out, nil
}

// ReplaceShard places shard index of a segment on node to instead of from,
// when the owner is live and the shard is still on from; replaced is false
// otherwise (the caller's new shard is then garbage). A node may hold one
// shard of a segment at most.
func (s *Store) ReplaceShard(ctx context.Context, region string, o SegmentOwner, dataID string, index int, from, to string) (replaced bool, err error) {
	pool, err := s.regionalPool(region)
	if err != nil {
		return false, err
	}
	if err := o.validate(); err != nil {
		return false, err
	}
	if to == "" || from == to {
		return false, invalid("replace shard %d of %s: target node %q", index, dataID, to)
	}
	if err := checkText("node id", to); err != nil {
		return false, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		segs, err := lockOwner(ctx, tx, o)
		if errors.Is(err, ErrNoSuchSegment) {
			return nil
		}
		if err != nil {
			return err
		}
		si := slices.IndexFunc(segs, func(s Segment) bool { return s.DataID == dataID })
		if si < 0 || dataID == "" {
			return nil
		}
		nodes := segs[si].NodeIDs
		if index < 0 || index >= len(nodes) {
			return invalid("shard index %d of %s: the segment has %d shards", index, dataID, len(nodes))
		}
		if nodes[index] != from {
			return nil
		}
		if slices.Contains(nodes, to) {
			return invalid("node %s already holds a shard of %s", to, dataID)
		}
		nodes[index] = to
		if o.VersionID != "" {
			raw, err := json.Marshal(segs)
			if err != nil {
				return fmt.Errorf("encode segments: %w", err)
			}
			_, err = tx.Exec(ctx, "UPDATE object_versions SET segments = $2::jsonb WHERE version_id = $1::uuid", o.VersionID, string(raw))
			if err != nil {
				return fmt.Errorf("update placement: %w", err)
			}
		} else {
			raw, err := json.Marshal(segs[0])
			if err != nil {
				return fmt.Errorf("encode segment: %w", err)
			}
			_, err = tx.Exec(ctx, "UPDATE multipart_parts SET segment = $3::jsonb WHERE upload_id = $1::uuid AND part_number = $2",
				o.UploadID, o.PartNumber, string(raw))
			if err != nil {
				return fmt.Errorf("update placement: %w", err)
			}
		}
		replaced = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("replace shard %d of %s: %w", index, dataID, err)
	}
	return replaced, nil
}

// LocateShards returns the placements of the known data ids among ids: in
// any version row not yet purged (live or soft-deleted) and in any part.
// Unknown ids are left out.
func (s *Store) LocateShards(ctx context.Context, region string, ids []string) ([]ShardLocation, error) {
	pool, err := s.regionalPool(region)
	if err != nil {
		return nil, err
	}
	if len(ids) > MaxLocateDataIDs {
		return nil, invalid("%d data ids: at most %d", len(ids), MaxLocateDataIDs)
	}
	for _, id := range ids {
		if err := checkText("data id", id); err != nil {
			return nil, err
		}
	}
	rows, err := pool.Query(ctx, `
		SELECT d.id, x.seg -> 'node_ids'
		  FROM unnest($1::text[]) AS d(id)
		 CROSS JOIN LATERAL (
		       SELECT seg FROM object_versions v, jsonb_array_elements(v.segments) seg
		        WHERE v.segments @> jsonb_build_array(jsonb_build_object('data_id', d.id))
		          AND seg ->> 'data_id' = d.id) x
		UNION ALL
		SELECT segment ->> 'data_id', segment -> 'node_ids'
		  FROM multipart_parts WHERE segment ->> 'data_id' = ANY($1::text[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("locate shards: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ShardLocation, error) {
		var l ShardLocation
		var raw []byte
		if err := row.Scan(&l.DataID, &raw); err != nil {
			return l, err
		}
		return l, json.Unmarshal(raw, &l.NodeIDs)
	})
	if err != nil {
		return nil, fmt.Errorf("locate shards: %w", err)
	}
	return out, nil
}

// CollectBucket soft-deletes up to limit live versions of a deleted bucket
// and queues their data for collection in the same transaction; done is
// true when none are left. The bucket's uploads went when it was deleted.
func (s *Store) CollectBucket(ctx context.Context, region string, bucketID int64, limit int) (collected int, done bool, err error) {
	pool, err := s.regionalPool(region)
	if err != nil {
		return 0, false, err
	}
	if limit <= 0 {
		limit = defaultCollectMax
	}
	if limit > MaxCollectLimit {
		return 0, false, invalid("limit %d: at most %d", limit, MaxCollectLimit)
	}
	var name string
	err = s.global.QueryRow(ctx, "SELECT name FROM buckets WHERE id = $1 AND deleted_at IS NOT NULL", bucketID).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("%w: bucket %d is not a deleted bucket", ErrPreconditionFailed, bucketID)
	}
	if err != nil {
		return 0, false, fmt.Errorf("collect bucket %d: %w", bucketID, err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var tombstoned bool
		if err := tx.QueryRow(ctx, sqlTombstoned, bucketID).Scan(&tombstoned); err != nil {
			return fmt.Errorf("check tombstone: %w", err)
		}
		if !tombstoned {
			return fmt.Errorf("%w: bucket %d has no tombstone in region %s", ErrPreconditionFailed, bucketID, region)
		}
		tag, err := tx.Exec(ctx, `
			WITH old AS (
				UPDATE object_versions
				   SET is_latest = false, state = 'deleted', deleted_at = clock_timestamp()
				 WHERE version_id IN (SELECT version_id FROM object_versions
				                       WHERE bucket_id = $1 AND state = 'live'
				                       LIMIT $3 FOR UPDATE)
				RETURNING version_id, key, segments
			)
			INSERT INTO outbox (type, payload)
			SELECT '`+TaskDeleteObject+`', jsonb_build_object(
				'bucket_id', $1::bigint, 'bucket', $2::text, 'key', key,
				'version_id', version_id, 'segments', segments)
			  FROM old`, bucketID, name, limit)
		if err != nil {
			return fmt.Errorf("retire versions: %w", err)
		}
		collected = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("collect bucket %d: %w", bucketID, err)
	}
	if collected > 0 {
		s.written(region)
	}
	return collected, collected < limit, nil
}

// AbortIdleUploads aborts up to limit uploads in progress that were started
// before idleSince and have had no part uploaded since, as
// AbortMultipartUpload does, and returns how many it aborted. An upload
// that completes or is aborted meanwhile is skipped.
func (s *Store) AbortIdleUploads(ctx context.Context, region string, idleSince time.Time, limit int) (int, error) {
	pool, err := s.regionalPool(region)
	if err != nil {
		return 0, err
	}
	if limit <= 0 || limit > MaxScanLimit {
		return 0, invalid("limit %d: want 1 to %d", limit, MaxScanLimit)
	}
	rows, err := pool.Query(ctx, `
		SELECT u.upload_id::text, u.bucket_id, u.key FROM multipart_uploads u
		 WHERE u.state = 'in_progress' AND u.initiated < $1
		   AND NOT EXISTS (SELECT 1 FROM multipart_parts p WHERE p.upload_id = u.upload_id AND p.last_modified >= $1)
		 ORDER BY u.initiated LIMIT $2`, idleSince, limit)
	if err != nil {
		return 0, fmt.Errorf("find idle uploads: %w", err)
	}
	type idle struct {
		id, key  string
		bucketID int64
	}
	uploads, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (idle, error) {
		var u idle
		return u, row.Scan(&u.id, &u.bucketID, &u.key)
	})
	if err != nil {
		return 0, fmt.Errorf("find idle uploads: %w", err)
	}
	aborted := 0
	for _, u := range uploads {
		var name string
		err := s.global.QueryRow(ctx, "SELECT name FROM buckets WHERE id = $1 AND deleted_at IS NULL", u.bucketID).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // a deleted bucket's uploads go with it
		}
		if err != nil {
			return aborted, fmt.Errorf("find bucket %d: %w", u.bucketID, err)
		}
		err = s.AbortMultipartUpload(ctx, name, u.key, u.id)
		if errors.Is(err, ErrNoSuchUpload) {
			continue
		}
		if err != nil {
			return aborted, err
		}
		s.log.Info("aborted idle multipart upload", "bucket", name, "key", u.key, "upload_id", u.id)
		aborted++
	}
	return aborted, nil
}

// hasMissingShards reports whether a segment records a shard without a node.
func hasMissingShards(segs []Segment) bool {
	for _, seg := range segs {
		if seg.DataID != "" && slices.Contains(seg.NodeIDs, "") {
			return true
		}
	}
	return false
}

// queueMissingShards queues, in the caller's transaction, a RepairShard task
// (through the outbox) for every shard the segments record without a node,
// so an object written while a node was down regains full redundancy
// without waiting for the scanner. The payload is the worker's repair
// payload.
func queueMissingShards(ctx context.Context, tx pgx.Tx, o SegmentOwner, segs []Segment) error {
	for _, seg := range segs {
		for i, node := range seg.NodeIDs {
			if node != "" || seg.DataID == "" {
				continue
			}
			payload, err := json.Marshal(map[string]any{
				"owner": map[string]any{
					"bucket_id": o.BucketID, "key": o.Key, "version_id": o.VersionID,
					"upload_id": o.UploadID, "part_number": o.PartNumber,
				},
				"data_id": seg.DataID, "index": i, "from_node": "", "reason": "missing",
			})
			if err != nil {
				return fmt.Errorf("encode repair payload: %w", err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO outbox (type, payload) VALUES ($1, $2::jsonb)", TaskRepairShard, string(payload)); err != nil {
				return fmt.Errorf("queue repair of shard %d of %s: %w", i, seg.DataID, err)
			}
		}
	}
	return nil
}
