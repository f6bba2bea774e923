package store

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ListObjects returns a page of the current objects of a bucket in byte order
// of their keys, with keys that share a common prefix up to the delimiter
// rolled up into that prefix (S3 ListObjects semantics).
//
// It walks the listing index with keyset seeks, never OFFSET: each query
// starts after the last key seen, and a common prefix is skipped whole by
// seeking to the successor of the prefix, so a directory of any size costs
// one seek.
func (s *Store) ListObjects(ctx context.Context, bucket string, o ListOptions) (ListResult, error) {
	if err := validateListOptions(&o); err != nil {
		return ListResult{}, err
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return ListResult{}, err
	}
	l := lister{opts: o, fetch: fetchFromDB(pool, b, o.WithUserMetadata)}
	res, err := l.run(ctx)
	if err != nil {
		return ListResult{}, fmt.Errorf("list %s: %w", bucket, err)
	}
	return res, nil
}

// fetchFunc returns up to limit current objects in key order with keys
// above lower (or equal to it when inclusive) and, when bounded, below upper.
type fetchFunc func(ctx context.Context, lower string, inclusive bool, upper string, bounded bool, limit int) ([]Version, error)

type lister struct {
	opts  ListOptions
	fetch fetchFunc

	// The scan resumes at keys > after, or >= from when from is larger.
	after string
	from  string

	items []listItem
}

type listItem struct {
	prefix string // a common prefix, or "" for an object
	obj    Version
}

func (it listItem) name() string {
	if it.prefix != "" {
		return it.prefix
	}
	return it.obj.Key
}

func (l *lister) run(ctx context.Context) (ListResult, error) {
	want := l.opts.MaxKeys + 1 // one more than a page tells whether it is truncated
	l.after, l.from = l.opts.StartAfter, l.opts.Prefix
	upper, bounded := successor(l.opts.Prefix)
	// Without a delimiter one query fills the page. With one, a batch may end
	// in a roll-up that makes the rest of it useless, so batches start small
	// and grow only while rows are taken as plain keys.
	batch := want
	if l.opts.Delimiter != "" {
		batch = min(want, 16)
	}
	for len(l.items) < want {
		limit := min(batch, want-len(l.items))
		n, rolledUp, done, err := l.scan(ctx, upper, bounded, limit)
		if err != nil {
			return ListResult{}, err
		}
		if done || !rolledUp && n < limit {
			break
		}
		if rolledUp {
			batch = 2
		} else {
			batch *= 2
		}
	}
	var res ListResult
	if len(l.items) > l.opts.MaxKeys {
		res.Truncated = true
		l.items = l.items[:l.opts.MaxKeys]
		res.NextMarker = l.items[len(l.items)-1].name()
	}
	for _, it := range l.items {
		if it.prefix != "" {
			res.CommonPrefixes = append(res.CommonPrefixes, it.prefix)
		} else {
			res.Objects = append(res.Objects, it.obj)
		}
	}
	return res, nil
}

// listColumns end with what the version id S3 shows depends on: the null
// version flag and the bucket's versioning state (computed once per query).
const listColumns = `key, version_id::text, size, etag, last_modified, content_type,
	content_encoding, cache_control, content_disposition, content_language, expires,
	checksums, checksum_type, null_version, ` + sqlVersioningState

// fetchFromDB seeks the listing index of a bucket, reading each object's user
// metadata too when withMeta is set.
func fetchFromDB(pool *pgxpool.Pool, b Bucket, withMeta bool) fetchFunc {
	columns := listColumns
	if withMeta {
		columns += ", user_metadata"
	}
	return func(ctx context.Context, lower string, inclusive bool, upper string, bounded bool, limit int) ([]Version, error) {
		var sql strings.Builder
		sql.WriteString("SELECT " + columns + ` FROM object_versions
			WHERE bucket_id = $1 AND is_latest AND NOT delete_marker`)
		if inclusive {
			sql.WriteString(` AND key COLLATE "C" >= $2`)
		} else {
			sql.WriteString(` AND key COLLATE "C" > $2`)
		}
		args := []any{b.ID, lower, limit}
		if bounded {
			sql.WriteString(` AND key COLLATE "C" < $4`)
			args = append(args, upper)
		}
		sql.WriteString(` ORDER BY key COLLATE "C" LIMIT $3`)
		rows, err := pool.Query(ctx, sql.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("query listing: %w", err)
		}
		out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Version, error) {
			v := Version{Bucket: b.Name, IsLatest: true}
			var null bool
			var vs Versioning
			dest := []any{&v.Key, &v.VersionID, &v.Size, &v.ETag, &v.LastModified, &v.ContentType,
				&v.ContentEncoding, &v.CacheControl, &v.ContentDisposition, &v.ContentLanguage, &v.Expires,
				&v.Checksums, &v.ChecksumType, &null, &vs}
			if withMeta {
				dest = append(dest, &v.UserMetadata)
			}
			err := row.Scan(dest...)
			v.VersionID = displayID(v.VersionID, null, vs)
			return v, err
		})
		if err != nil {
			return nil, fmt.Errorf("read listing: %w", err)
		}
		return out, nil
	}
}

// scan fetches at most limit objects after the scan position and consumes
// them. It stops at the first key that rolls up into a common prefix, moving
// the scan past that prefix. It returns the objects fetched, whether it
// rolled up, and whether the listing is exhausted.
func (l *lister) scan(ctx context.Context, upper string, bounded bool, limit int) (n int, rolledUp, done bool, err error) {
	lower, inclusive := l.after, false
	if l.from > l.after {
		lower, inclusive = l.from, true
	}
	objs, err := l.fetch(ctx, lower, inclusive, upper, bounded, limit)
	if err != nil {
		return 0, false, false, err
	}
	for _, v := range objs {
		if !strings.HasPrefix(v.Key, l.opts.Prefix) {
			return len(objs), false, false, fmt.Errorf("listing returned key %q outside prefix %q", v.Key, l.opts.Prefix)
		}
		if cp, ok := l.commonPrefix(v.Key); ok {
			// A common prefix is after the marker unless the marker lies
			// inside it; the previous page may have ended on it.
			if !strings.HasPrefix(l.opts.StartAfter, cp) {
				l.items = append(l.items, listItem{prefix: cp})
			}
			next, ok := successor(cp)
			if !ok {
				return len(objs), true, true, nil
			}
			l.from = next
			return len(objs), true, false, nil
		}
		l.items = append(l.items, listItem{obj: v})
		l.after = v.Key
	}
	return len(objs), false, false, nil
}

func (l *lister) commonPrefix(key string) (string, bool) {
	return commonPrefix(l.opts.Prefix, l.opts.Delimiter, key)
}

// successor returns the smallest valid UTF-8 string that is greater, in byte
// order, than every string starting with p, or false when there is none (p is
// empty or all U+10FFFF). It increments the last code point that can be
// incremented: UTF-8 byte order is code point order, so p with its last code
// point raised sorts after p followed by anything.
func successor(p string) (string, bool) {
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r == 0xD800 { // surrogates are not valid in UTF-8
			r = 0xE000
		}
		return p + string(r), true
	}
	return "", false
}
