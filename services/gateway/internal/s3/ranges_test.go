package s3

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 100
	tests := []struct {
		name    string
		header  string
		size    int64
		want    byteRange
		ranged  bool
		unsatis bool
	}{
		{"none", "", size, byteRange{}, false, false},
		{"closed", "bytes=0-9", size, byteRange{0, 10}, true, false},
		{"single byte", "bytes=5-5", size, byteRange{5, 1}, true, false},
		{"last byte", "bytes=99-99", size, byteRange{99, 1}, true, false},
		{"end clamped", "bytes=90-1000", size, byteRange{90, 10}, true, false},
		{"open", "bytes=10-", size, byteRange{10, 90}, true, false},
		{"open from zero", "bytes=0-", size, byteRange{0, 100}, true, false},
		{"suffix", "bytes=-10", size, byteRange{90, 10}, true, false},
		{"suffix whole", "bytes=-100", size, byteRange{0, 100}, true, false},
		{"suffix beyond size", "bytes=-500", size, byteRange{0, 100}, true, false},
		{"outer spaces", " bytes=3-4 ", size, byteRange{3, 2}, true, false},
		{"space before suffix", "bytes= -1", size, byteRange{}, false, false},
		{"space inside", "bytes=0 -1", size, byteRange{}, false, false},
		{"leading zeros", "bytes=00-01", size, byteRange{0, 2}, true, false},
		{"huge end", "bytes=1-99999999999999999999999", size, byteRange{1, 99}, true, false},
		{"start at size", "bytes=100-", size, byteRange{}, false, true},
		{"start beyond size", "bytes=200-300", size, byteRange{}, false, true},
		{"huge start", "bytes=99999999999999999999999-", size, byteRange{}, false, true},
		{"zero suffix", "bytes=-0", size, byteRange{}, false, true},
		{"empty object", "bytes=0-", 0, byteRange{}, false, true},
		{"empty object suffix", "bytes=-5", 0, byteRange{}, false, false},
		{"empty object zero suffix", "bytes=-0", 0, byteRange{}, false, true},
		{"empty object first byte", "bytes=0-0", 0, byteRange{}, false, true},
		{"multiple ranges", "bytes=0-1,5-6", size, byteRange{}, false, false},
		{"not bytes", "items=0-1", size, byteRange{}, false, false},
		{"reversed", "bytes=9-2", size, byteRange{}, false, false},
		{"no dash", "bytes=5", size, byteRange{}, false, false},
		{"only dash", "bytes=-", size, byteRange{}, false, false},
		{"negative", "bytes=--5", size, byteRange{}, false, false},
		{"garbage", "bytes=a-b", size, byteRange{}, false, false},
		{"plus sign", "bytes=+1-2", size, byteRange{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ranged, err := parseRange(tt.header, tt.size)
			if tt.unsatis {
				if !errors.Is(err, errRangeNotSatisfiable) {
					t.Fatalf("err = %v, want not satisfiable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if ranged != tt.ranged || got != tt.want {
				t.Fatalf("parseRange(%q) = %+v, %v; want %+v, %v", tt.header, got, ranged, tt.want, tt.ranged)
			}
		})
	}
}

func TestContentRange(t *testing.T) {
	if got := contentRange(byteRange{Start: 10, Length: 5}, 100); got != "bytes 10-14/100" {
		t.Fatalf("contentRange = %q", got)
	}
}

// FuzzParseRange checks that any header either yields a range inside the
// object, the whole object, or a 416 — never a panic or a bad range.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-1", "bytes=5-", "bytes=1-2,3-4", "bytes=99999999999999999999-", "bytes= -", "bytes=0--1"} {
		f.Add(s, int64(100))
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				size = 0
			}
		}
		r, ranged, err := parseRange(header, size)
		if err != nil {
			if !errors.Is(err, errRangeNotSatisfiable) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !ranged {
			return
		}
		if r.Start < 0 || r.Length <= 0 || r.Start+r.Length > size {
			t.Fatalf("parseRange(%q, %d) = %+v outside the object", header, size, r)
		}
		if strings.Contains(header, ",") {
			t.Fatalf("multiple ranges must be ignored: %q", header)
		}
	})
}
