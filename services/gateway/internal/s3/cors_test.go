package s3

import (
	"net/http"
	"strings"
	"testing"
)

const testCORS = `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
 <CORSRule><ID>site</ID><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>
  <AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>
 <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>
</CORSConfiguration>`

func TestParseCORS(t *testing.T) {
	rule := func(s string) string { return `<CORSConfiguration>` + s + `</CORSConfiguration>` }
	tests := []struct {
		name string
		body string
		code string
	}{
		{"valid", testCORS, ""},
		{"no rules", rule(``), ErrMalformedXML},
		{"no origin", rule(`<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>`), ErrMalformedXML},
		{"no method", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>`), ErrMalformedXML},
		{"bad method", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule>`), ErrInvalidRequest},
		{"lower-case method", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod></CORSRule>`), ErrInvalidRequest},
		{"two wildcards", rule(`<CORSRule><AllowedOrigin>https://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`), ErrInvalidRequest},
		{"header two wildcards", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>*a*</AllowedHeader></CORSRule>`), ErrInvalidRequest},
		{"header with space", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>bad header</AllowedHeader></CORSRule>`), ErrInvalidRequest},
		{"expose header with colon", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>X-Custom:Header</ExposeHeader></CORSRule>`), ErrInvalidRequest},
		{"negative max age", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-1</MaxAgeSeconds></CORSRule>`), ""},
		{"max age not a number", rule(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>x</MaxAgeSeconds></CORSRule>`), ErrMalformedXML},
		{"wrong root", `<Foo><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></Foo>`, ErrMalformedXML},
		{"too many rules", rule(strings.Repeat(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`, 101)), ErrMalformedXML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := parseCORS([]byte(tt.body))
			code := ""
			if e != nil {
				code = e.Code
			}
			if code != tt.code {
				t.Fatalf("code = %q, want %q (%v)", code, tt.code, e)
			}
		})
	}
}

func TestCORSMatch(t *testing.T) {
	cfg, e := parseCORS([]byte(testCORS))
	if e != nil {
		t.Fatal(e)
	}
	tests := []struct {
		name    string
		origin  string
		method  string
		headers []string
		rule    string // "site", "any" or "" for no match
	}{
		{"site get", "https://app.example.com", "GET", nil, "site"},
		{"site put with headers", "https://app.example.com", "PUT", []string{"x-amz-date", "content-type"}, "site"},
		{"header case folds", "https://app.example.com", "PUT", []string{"X-Amz-Meta-A", "CONTENT-TYPE"}, "site"},
		{"unlisted header", "https://app.example.com", "PUT", []string{"authorization"}, ""},
		{"other origin get falls to wildcard", "https://evil.test", "GET", nil, "any"},
		{"other origin put", "https://evil.test", "PUT", nil, ""},
		{"scheme matters", "http://app.example.com", "PUT", nil, ""},
		{"delete not allowed", "https://app.example.com", "DELETE", nil, ""},
		{"wildcard rule has no headers", "https://evil.test", "GET", []string{"x-amz-date"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cfg.match(tt.origin, tt.method, tt.headers)
			got := ""
			switch {
			case r == nil:
			case r.ID == "site":
				got = "site"
			default:
				got = "any"
			}
			if got != tt.rule {
				t.Fatalf("matched %q, want %q", got, tt.rule)
			}
		})
	}
}

func TestSetCORSHeaders(t *testing.T) {
	cfg, _ := parseCORS([]byte(testCORS))
	hdr := http.Header{}
	setCORSHeaders(hdr, &cfg.Rules[0], "https://app.example.com", []string{"x-amz-date"})
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example.com",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, PUT",
		"Access-Control-Allow-Headers":     "x-amz-date",
		"Access-Control-Expose-Headers":    "ETag",
		"Access-Control-Max-Age":           "600",
	}
	for k, v := range want {
		if got := hdr.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	hdr = http.Header{}
	setCORSHeaders(hdr, &cfg.Rules[1], "https://evil.test", nil)
	if hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Access-Control-Allow-Credentials") != "" || hdr.Get("Access-Control-Max-Age") != "" {
		t.Fatalf("wildcard rule headers = %v", hdr)
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "a", true},
		{"a*c", "abc", true},
		{"a*c", "ac", true},
		{"a*ca", "aca", true},
		{"a*ca", "ac", false},
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"*.x", "a.x", true},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

func TestSplitHeaderList(t *testing.T) {
	tests := []struct {
		in   string
		want string
		msg  string // the error message, empty when the list is valid
	}{
		{"", "", ""},
		{"X-Amz-Date, Content-Type", "x-amz-date,content-type", ""},
		{"a,,b", "a,b", ""},
		{"invalid header", "", `Access-Control-Request-Headers "invalid header" contains invalid character.`},
		{"X-Custom:Header", "", `Access-Control-Request-Headers "X-Custom:Header" contains invalid character.`},
		{"NonAsciiŁ", "", `Access-Control-Request-Headers "NonAsciiŁ" contains invalid character.`},
		{"tab\tchar,X-Ok", "", "Access-Control-Request-Headers \"tab\tchar\" contains invalid character."},
		// The name is quoted as sent, with the space after the comma.
		{"Content-Encoding, Bad/Header", "", `Access-Control-Request-Headers " Bad/Header" contains invalid character.`},
	}
	for _, tt := range tests {
		got, e := splitHeaderList(tt.in)
		msg := ""
		if e != nil {
			if e.Code != ErrBadRequest {
				t.Errorf("splitHeaderList(%q) code = %s, want BadRequest", tt.in, e.Code)
			}
			msg = e.Message
		}
		if msg != tt.msg || strings.Join(got, ",") != tt.want {
			t.Errorf("splitHeaderList(%q) = %v, %v; want %q, %q", tt.in, got, e, tt.want, tt.msg)
		}
	}
}
