package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const upperhex = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func writeEscaped(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte(upperhex[c>>4])
	b.WriteByte(upperhex[c&15])
}

// encode percent-encodes s with the SigV4 rules: only unreserved bytes stay.
func encode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; unreserved(c) {
			b.WriteByte(c)
		} else {
			writeEscaped(&b, c)
		}
	}
	return b.String()
}

// canonicalURI normalises an escaped path the way S3 clients sign it: each
// octet as sent (decoded if it was %XX) is re-encoded with the SigV4 rules,
// '/' stays, and nothing is encoded twice. Decoding octet by octet, rather
// than the whole path, keeps an escaped "%2F" inside a key distinct from "/".
func canonicalURI(escaped string) (string, bool) {
	if escaped == "" {
		return "/", true
	}
	var b strings.Builder
	b.Grow(len(escaped) + 16)
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			if i+2 >= len(escaped) {
				return "", false
			}
			hi, ok1 := unhex(escaped[i+1])
			lo, ok2 := unhex(escaped[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			d := hi<<4 | lo
			if unreserved(d) {
				b.WriteByte(d)
			} else {
				writeEscaped(&b, d)
			}
			i += 2
		case c == '/' || unreserved(c):
			b.WriteByte(c)
		default:
			writeEscaped(&b, c)
		}
	}
	return b.String(), true
}

// requestPath returns the path exactly as the client sent it: the request
// target when the request came from a server, else the URL's escaped path.
func requestPath(r *http.Request) string {
	if uri := r.RequestURI; uri != "" && uri != "*" {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		if rest, ok := strings.CutPrefix(uri, "http://"); ok {
			uri = pathOf(rest)
		} else if rest, ok := strings.CutPrefix(uri, "https://"); ok {
			uri = pathOf(rest)
		}
		return uri
	}
	if r.URL == nil {
		return "/"
	}
	return r.URL.EscapedPath()
}

// pathOf strips the authority of an absolute-form request target.
func pathOf(hostAndPath string) string {
	if i := strings.IndexByte(hostAndPath, '/'); i >= 0 {
		return hostAndPath[i:]
	}
	return "/"
}

type queryParam struct {
	key, value string // decoded
}

// maxQueryParams bounds the work spent on a hostile query string.
const maxQueryParams = 1000

// parseQuery splits a raw query into decoded pairs in their original order.
// Unlike url.ParseQuery it keeps ';' as data and reports bad escapes.
func parseQuery(raw string) ([]queryParam, bool) {
	if raw == "" {
		return nil, true
	}
	var out []queryParam
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		if len(out) == maxQueryParams {
			return nil, false
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, false
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, false
		}
		out = append(out, queryParam{key: dk, value: dv})
	}
	return out, true
}

// canonicalQuery encodes params with the SigV4 rules and sorts them by
// encoded key, then encoded value, skipping the key named skip.
func canonicalQuery(params []queryParam, skip string) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if skip != "" && p.key == skip {
			continue
		}
		enc = append(enc, queryParam{key: encode(p.key), value: encode(p.value)})
	}
	slices.SortFunc(enc, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// lowerHeaders indexes the request's headers by lower-case name.
func lowerHeaders(h http.Header) map[string][]string {
	m := make(map[string][]string, len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		m[lk] = append(m[lk], vs...)
	}
	return m
}

// headerValues returns the values the client saw for a signed header. Go's
// server moves Host and Transfer-Encoding out of the header map, and a
// client-side request keeps its length in ContentLength.
func headerValues(r *http.Request, hdrs map[string][]string, name string) []string {
	switch name {
	case "host":
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		return []string{host}
	case "content-length":
		if vs, ok := hdrs[name]; ok {
			return vs
		}
		if r.ContentLength >= 0 && !(r.ContentLength == 0 && r.Body != nil && r.Body != http.NoBody) {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if vs, ok := hdrs[name]; ok {
			return vs
		}
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
		return nil
	}
	return hdrs[name]
}

// canonicalValue trims a header value and folds inner runs of spaces.
func canonicalValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

func canonicalHeaders(r *http.Request, hdrs map[string][]string, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, hdrs, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(canonicalValue(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
