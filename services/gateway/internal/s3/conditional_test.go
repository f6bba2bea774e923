package s3

import (
	"net/http"
	"testing"
	"time"
)

func TestConditions(t *testing.T) {
	modified := time.Date(2025, 3, 4, 5, 6, 7, 500e6, time.UTC)
	before := modified.Add(-time.Hour).Format(http.TimeFormat)
	after := modified.Add(time.Hour).Format(http.TimeFormat)
	same := modified.Format(http.TimeFormat) // sub-second part dropped
	const etag = "abc"
	// The matrix of If-Match / If-None-Match / If-Modified-Since /
	// If-Unmodified-Since being absent, true or false, in RFC 7232 order.
	tests := []struct {
		name string
		c    conditions
		want string
	}{
		{"none", conditions{}, ""},
		{"if-match true", conditions{ifMatch: `"abc"`}, ""},
		{"if-match unquoted", conditions{ifMatch: "abc"}, ""},
		{"if-match list", conditions{ifMatch: `"x", "abc"`}, ""},
		{"if-match star", conditions{ifMatch: "*"}, ""},
		{"if-match false", conditions{ifMatch: `"x"`}, ErrPreconditionFailed},
		{"if-unmodified-since false", conditions{ifUnmodifiedSince: before}, ErrPreconditionFailed},
		{"if-unmodified-since true", conditions{ifUnmodifiedSince: after}, ""},
		{"if-unmodified-since same second", conditions{ifUnmodifiedSince: same}, ""},
		{"if-match true beats if-unmodified-since false", conditions{ifMatch: etag, ifUnmodifiedSince: before}, ""},
		{"if-none-match matches", conditions{ifNoneMatch: `"abc"`}, ErrNotModified},
		{"if-none-match weak", conditions{ifNoneMatch: `W/"abc"`}, ErrNotModified},
		{"if-none-match differs", conditions{ifNoneMatch: `"x"`}, ""},
		{"if-modified-since false", conditions{ifModifiedSince: after}, ErrNotModified},
		{"if-modified-since same second", conditions{ifModifiedSince: same}, ErrNotModified},
		{"if-modified-since true", conditions{ifModifiedSince: before}, ""},
		{"if-none-match differs beats if-modified-since false", conditions{ifNoneMatch: "x", ifModifiedSince: after}, ""},
		{"if-match false before if-none-match", conditions{ifMatch: "x", ifNoneMatch: etag}, ErrPreconditionFailed},
		{"if-unmodified-since false before if-modified-since", conditions{ifUnmodifiedSince: before, ifModifiedSince: after}, ErrPreconditionFailed},
		{"if-match true, if-none-match matches", conditions{ifMatch: etag, ifNoneMatch: etag}, ErrNotModified},
		{"bad dates ignored", conditions{ifModifiedSince: "yesterday", ifUnmodifiedSince: "soon"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.c.evaluate(etag, modified)
			if (e == nil) != (tt.want == "") || (e != nil && e.Code != tt.want) {
				t.Fatalf("evaluate = %v, want %q", e, tt.want)
			}
			// A copy answers every failed condition with 412.
			hdr := http.Header{}
			for k, v := range map[string]string{
				"x-amz-copy-source-if-match": tt.c.ifMatch, "x-amz-copy-source-if-none-match": tt.c.ifNoneMatch,
				"x-amz-copy-source-if-modified-since": tt.c.ifModifiedSince, "x-amz-copy-source-if-unmodified-since": tt.c.ifUnmodifiedSince,
			} {
				if v != "" {
					hdr.Set(k, v)
				}
			}
			ce := checkCopySourceConditions(hdr, etag, modified)
			if (ce == nil) != (tt.want == "") || (ce != nil && ce.Code != ErrPreconditionFailed) {
				t.Fatalf("copy conditions = %v", ce)
			}
		})
	}
}

func TestWritePreconditions(t *testing.T) {
	tests := []struct {
		name        string
		hdr         http.Header
		ifMatch     string
		ifNoneMatch bool
		nilPre      bool
		code        string
	}{
		{"none", http.Header{}, "", false, true, ""},
		{"if-none-match star", http.Header{"If-None-Match": {"*"}}, "", true, false, ""},
		{"if-match quoted", http.Header{"If-Match": {`"abc"`}}, "abc", false, false, ""},
		{"if-match bare", http.Header{"If-Match": {"abc-3"}}, "abc-3", false, false, ""},
		{"if-none-match etag", http.Header{"If-None-Match": {`"abc"`}}, "", false, true, ErrNotImplemented},
		{"both", http.Header{"If-None-Match": {"*"}, "If-Match": {"abc"}}, "", false, true, ErrNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pre, e := writePreconditions(tt.hdr)
			if tt.code != "" {
				if e == nil || e.Code != tt.code {
					t.Fatalf("error %v, want %s", e, tt.code)
				}
				return
			}
			if e != nil || (pre == nil) != tt.nilPre || pre.GetIfMatch() != tt.ifMatch || pre.GetIfNoneMatch() != tt.ifNoneMatch {
				t.Fatalf("got %v %v", pre, e)
			}
		})
	}
}
