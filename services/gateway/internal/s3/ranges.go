package s3

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// byteRange is a resolved, satisfiable range [Start, Start+Length) of an
// object.
type byteRange struct {
	Start, Length int64
}

// errRangeNotSatisfiable marks a well-formed range that lies outside the
// object: 416 InvalidRange.
var errRangeNotSatisfiable = errors.New("s3: range not satisfiable")

// parseRange interprets a Range header against an object of size bytes the
// way S3 does. ranged=false means serve the whole object with 200: no
// header, a header S3 ignores (not "bytes=", malformed — whitespace inside
// the range spec included, as RFC 9110's grammar has none — or several
// ranges). A well-formed single range outside the object returns
// errRangeNotSatisfiable. On an empty object a suffix range of n > 0 bytes
// is served as the whole (empty) object, as S3 does.
func parseRange(header string, size int64) (r byteRange, ranged bool, err error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return byteRange{}, false, nil
	}
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return byteRange{}, false, nil
	}
	if strings.Contains(spec, ",") {
		// S3 does not serve multipart/byteranges: it returns the whole object.
		return byteRange{}, false, nil
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, false, nil
	}
	switch {
	case first == "" && last == "":
		return byteRange{}, false, nil
	case first == "":
		// Suffix range: the last n bytes.
		n, ok := parseDigits(last)
		if !ok {
			return byteRange{}, false, nil
		}
		if n == 0 {
			return byteRange{}, false, errRangeNotSatisfiable
		}
		if size == 0 {
			return byteRange{}, false, nil
		}
		n = min(n, size)
		return byteRange{Start: size - n, Length: n}, true, nil
	default:
		start, ok := parseDigits(first)
		if !ok {
			return byteRange{}, false, nil
		}
		end := int64(math.MaxInt64)
		if last != "" {
			if end, ok = parseDigits(last); !ok || end < start {
				return byteRange{}, false, nil
			}
		}
		if start >= size {
			return byteRange{}, false, errRangeNotSatisfiable
		}
		end = min(end, size-1)
		return byteRange{Start: start, Length: end - start + 1}, true, nil
	}
}

// parseDigits parses a non-empty run of ASCII digits; values beyond int64
// saturate, since they only ever mean "past the end".
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true
	}
	return n, true
}

// contentRange formats the Content-Range header of a 206 response.
func contentRange(r byteRange, size int64) string {
	return "bytes " + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.Start+r.Length-1, 10) + "/" + strconv.FormatInt(size, 10)
}
