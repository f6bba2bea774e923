package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// VersionListOptions select a page of ListObjectVersions.
type VersionListOptions struct {
	Prefix    string
	Delimiter string
	// KeyMarker alone: list keys after it. With VersionIDMarker: list the
	// versions of KeyMarker older than that one, then later keys.
	KeyMarker       string
	VersionIDMarker string
	// MaxKeys counts versions, delete markers and common prefixes; 0 means
	// DefaultMaxKeys, and larger values are capped at it.
	MaxKeys int
}

// VersionListResult is one page of ListObjectVersions. Versions carry no
// segments, user metadata or tags.
type VersionListResult struct {
	// Versions and delete markers, keys in byte order, newest first
	// within a key, IsLatest set.
	Versions       []Version
	CommonPrefixes []string
	Truncated      bool
	// Set when Truncated: the last key (or common prefix) returned and, for
	// a version, its id. Pass them as the markers of the next page.
	NextKeyMarker       string
	NextVersionIDMarker string
}

const versionListColumns = `key, version_id::text, null_version, seq, is_latest, delete_marker,
	size, etag, last_modified, checksums, checksum_type`

// ListObjectVersions returns a page of every live version and delete marker
// of a bucket, with delimiter roll-up. It seeks the versions index by
// (key, seq), never OFFSET.
func (s *Store) ListObjectVersions(ctx context.Context, bucket string, o VersionListOptions) (VersionListResult, error) {
	if o.MaxKeys < 0 {
		return VersionListResult{}, invalid("max_keys %d is negative", o.MaxKeys)
	}
	if o.MaxKeys == 0 || o.MaxKeys > DefaultMaxKeys {
		o.MaxKeys = DefaultMaxKeys
	}
	for _, f := range []struct{ name, value string }{
		{"prefix", o.Prefix}, {"delimiter", o.Delimiter}, {"key_marker", o.KeyMarker}, {"version_id_marker", o.VersionIDMarker},
	} {
		if err := checkText(f.name, f.value); err != nil {
			return VersionListResult{}, err
		}
	}
	if o.VersionIDMarker != "" && o.KeyMarker == "" {
		return VersionListResult{}, invalid("a version id marker needs a key marker")
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return VersionListResult{}, err
	}
	var vs Versioning
	if err := pool.QueryRow(ctx, "SELECT "+sqlVersioningState, b.ID).Scan(&vs); err != nil {
		return VersionListResult{}, fmt.Errorf("list versions of %s: read versioning state: %w", bucket, err)
	}
	var after *int64
	if o.VersionIDMarker != "" {
		seq, err := markerSeq(ctx, pool, b.ID, o.KeyMarker, o.VersionIDMarker)
		if err != nil {
			return VersionListResult{}, fmt.Errorf("list versions of %s: %w", bucket, err)
		}
		after = &seq
	}
	l := rowLister[Version, int64]{
		prefix: o.Prefix, delimiter: o.Delimiter, marker: o.KeyMarker, max: o.MaxKeys,
		key:   func(v Version) string { return v.Key },
		pos:   func(v Version) int64 { return v.seq },
		fetch: fetchVersions(pool, b, vs),
	}
	l.start(after)
	items, truncated, err := l.run(ctx)
	if err != nil {
		return VersionListResult{}, fmt.Errorf("list versions of %s: %w", bucket, err)
	}
	res := VersionListResult{Truncated: truncated}
	for _, it := range items {
		if it.prefix != "" {
			res.CommonPrefixes = append(res.CommonPrefixes, it.prefix)
		} else {
			res.Versions = append(res.Versions, it.row)
		}
	}
	if truncated {
		last := items[len(items)-1]
		if last.prefix != "" {
			res.NextKeyMarker = last.prefix
		} else {
			res.NextKeyMarker, res.NextVersionIDMarker = last.row.Key, last.row.VersionID
		}
	}
	return res, nil
}

// markerSeq returns the seq of the version a version id marker names. The
// version may have been deleted since the previous page: soft-deleted rows
// keep their seq until purged.
func markerSeq(ctx context.Context, pool *pgxpool.Pool, bucketID int64, key, versionID string) (int64, error) {
	var row pgx.Row
	switch {
	case versionID == NullVersionID:
		row = pool.QueryRow(ctx, `SELECT seq FROM object_versions
			WHERE bucket_id = $1 AND key = $2 AND null_version
			ORDER BY state = 'live' DESC, seq DESC LIMIT 1`, bucketID, key)
	case isUUID(versionID):
		row = pool.QueryRow(ctx, `SELECT seq FROM object_versions
			WHERE version_id = $3::uuid AND bucket_id = $1 AND key = $2`, bucketID, key, versionID)
	default:
		return 0, invalidVersionID(versionID)
	}
	var seq int64
	err := row.Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, invalid("version id marker %q is not a version of key %q", versionID, key)
	}
	if err != nil {
		return 0, fmt.Errorf("read version id marker: %w", err)
	}
	return seq, nil
}

// fetchVersions seeks the versions index of a bucket.
func fetchVersions(pool *pgxpool.Pool, b Bucket, vs Versioning) rowFetch[Version, int64] {
	scan := func(rows pgx.Rows) ([]Version, error) {
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Version, error) {
			v := Version{Bucket: b.Name}
			var id string
			var null bool
			err := row.Scan(&v.Key, &id, &null, &v.seq, &v.IsLatest, &v.DeleteMarker,
				&v.Size, &v.ETag, &v.LastModified, &v.Checksums, &v.ChecksumType)
			v.VersionID = displayID(id, null, vs)
			return v, err
		})
	}
	return func(ctx context.Context, from rowPos[int64], upper string, bounded bool, limit int) ([]Version, error) {
		var out []Version
		if from.after != nil {
			// The rest of the key, then the keys after it.
			rows, err := pool.Query(ctx, "SELECT "+versionListColumns+` FROM object_versions
				WHERE bucket_id = $1 AND state = 'live' AND key = $2 AND seq < $3
				ORDER BY seq DESC LIMIT $4`, b.ID, from.key, *from.after, limit)
			if err != nil {
				return nil, fmt.Errorf("query versions: %w", err)
			}
			if out, err = scan(rows); err != nil {
				return nil, fmt.Errorf("read versions: %w", err)
			}
			if len(out) == limit {
				return out, nil
			}
			from = rowPos[int64]{key: from.key}
		}
		cond, args := keyRange(from.key, from.inclusive, upper, bounded, 3)
		rows, err := pool.Query(ctx, "SELECT "+versionListColumns+` FROM object_versions
			WHERE bucket_id = $1 AND state = 'live' AND `+cond+`
			ORDER BY key COLLATE "C", seq DESC LIMIT $2`,
			append([]any{b.ID, limit - len(out)}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("query versions: %w", err)
		}
		more, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read versions: %w", err)
		}
		return append(out, more...), nil
	}
}
