package store

import (
	"context"
	"fmt"
	"strings"
)

// rowLister pages through rows ordered by (key, position within the key),
// several rows per key (the versions of a key, the uploads of a key), with
// the S3 prefix filter and delimiter roll-up of ListObjects: a key that has
// the delimiter after the prefix is listed as its common prefix, once, and
// the scan seeks past the whole prefix.
//
// T is the row type and P a row's position within its key.
type rowLister[T any, P any] struct {
	prefix, delimiter string
	// marker is the key marker; a common prefix it starts with was listed
	// on an earlier page.
	marker string
	max    int
	key    func(T) string
	pos    func(T) P
	fetch  rowFetch[T, P]

	at    rowPos[P]
	items []rowItem[T]
}

// rowFetch returns up to limit rows in order from pos on, with keys below
// upper when bounded.
type rowFetch[T any, P any] func(ctx context.Context, from rowPos[P], upper string, bounded bool, limit int) ([]T, error)

// rowPos is where a scan resumes: after the row of key at position *after
// when after is set (the rest of that key, then later keys), else at keys
// above key (or equal to it when inclusive).
type rowPos[P any] struct {
	key       string
	inclusive bool
	after     *P
}

type rowItem[T any] struct {
	prefix string // a common prefix, or "" for a row
	row    T
}

// start positions the lister after the markers: after the row (marker,
// *after) when after is set, else after every row of key marker.
func (l *rowLister[T, P]) start(after *P) {
	l.at = rowPos[P]{key: l.marker, after: after}
	if !strings.HasPrefix(l.marker, l.prefix) {
		// Rows of the marker's own key are not listed anyway.
		l.at.after = nil
	}
	if l.prefix > l.at.key {
		l.at = rowPos[P]{key: l.prefix, inclusive: true}
	}
}

// run lists one page: at most max items, and whether more follow.
func (l *rowLister[T, P]) run(ctx context.Context) ([]rowItem[T], bool, error) {
	want := l.max + 1 // one more than a page tells whether it is truncated
	upper, bounded := successor(l.prefix)
	// As in ListObjects: with a delimiter a batch may end in a roll-up that
	// makes the rest of it useless, so batches start small and grow only
	// while rows are taken as they are.
	batch := want
	if l.delimiter != "" {
		batch = min(want, 16)
	}
	for len(l.items) < want {
		limit := min(batch, want-len(l.items))
		n, rolledUp, done, err := l.scan(ctx, upper, bounded, limit)
		if err != nil {
			return nil, false, err
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
	if len(l.items) > l.max {
		return l.items[:l.max], true, nil
	}
	return l.items, false, nil
}

func (l *rowLister[T, P]) scan(ctx context.Context, upper string, bounded bool, limit int) (n int, rolledUp, done bool, err error) {
	rows, err := l.fetch(ctx, l.at, upper, bounded, limit)
	if err != nil {
		return 0, false, false, err
	}
	for _, r := range rows {
		k := l.key(r)
		if !strings.HasPrefix(k, l.prefix) {
			return len(rows), false, false, fmt.Errorf("listing returned key %q outside prefix %q", k, l.prefix)
		}
		if cp, ok := commonPrefix(l.prefix, l.delimiter, k); ok {
			if !strings.HasPrefix(l.marker, cp) {
				l.items = append(l.items, rowItem[T]{prefix: cp})
			}
			next, ok := successor(cp)
			if !ok {
				return len(rows), true, true, nil
			}
			l.at = rowPos[P]{key: next, inclusive: true}
			return len(rows), true, false, nil
		}
		l.items = append(l.items, rowItem[T]{row: r})
		p := l.pos(r)
		l.at = rowPos[P]{key: k, after: &p}
	}
	return len(rows), false, false, nil
}

// commonPrefix returns the prefix plus everything up to and including the
// first delimiter after it, when key has a delimiter after the prefix.
func commonPrefix(prefix, delimiter, key string) (string, bool) {
	if delimiter == "" {
		return "", false
	}
	rest := key[len(prefix):]
	i := strings.Index(rest, delimiter)
	if i < 0 {
		return "", false
	}
	return prefix + rest[:i+len(delimiter)], true
}

// keyRange is the SQL condition and arguments of a fetch's key range over
// keys after (or from) lower and, when bounded, below upper; its parameters
// are numbered from n.
func keyRange(lower string, inclusive bool, upper string, bounded bool, n int) (string, []any) {
	var b strings.Builder
	op := ">"
	if inclusive {
		op = ">="
	}
	fmt.Fprintf(&b, `key COLLATE "C" %s $%d`, op, n)
	args := []any{lower}
	if bounded {
		fmt.Fprintf(&b, ` AND key COLLATE "C" < $%d`, n+1)
		args = append(args, upper)
	}
	return b.String(), args
}
