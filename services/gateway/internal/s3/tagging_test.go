package s3

import (
	"errors"
	"strings"
	"testing"
)

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "non-s3 error"
	}
	return ""
}

func TestParseTaggingHeader(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   map[string]string
		code   string
	}{
		{"empty", "", nil, ""},
		{"one", "a=b", map[string]string{"a": "b"}, ""},
		{"encoded", "project%20x=blue%2Fgreen&team=%C3%A9t%C3%A9", map[string]string{"project x": "blue/green", "team": "été"}, ""},
		{"empty value", "a=", map[string]string{"a": ""}, ""},
		{"no equals", "a", map[string]string{"a": ""}, ""},
		{"allowed punctuation", "k=a+b-c.d_e:f/g=h@i", map[string]string{"k": "a b-c.d_e:f/g=h@i"}, ""},
		{"duplicate", "a=1&a=2", nil, ErrInvalidArgument},
		{"bad escape", "a=%zz", nil, ErrInvalidArgument},
		{"empty key", "=v", nil, ErrInvalidArgument},
		{"aws prefix", "aws:x=1", nil, ErrInvalidTag},
		{"AWS prefix", "AWS:x=1", nil, ErrInvalidTag},
		{"bad char in key", "a%21=1", nil, ErrInvalidTag},
		{"bad char in value", "a=%7B", nil, ErrInvalidTag},
		{"key too long", strings.Repeat("k", 129) + "=v", nil, ErrInvalidTag},
		{"key at limit", strings.Repeat("k", 128) + "=v", map[string]string{strings.Repeat("k", 128): "v"}, ""},
		{"value too long", "k=" + strings.Repeat("v", 257), nil, ErrInvalidTag},
		{"eleven tags", "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11", nil, ErrBadRequest},
		{"ten tags", "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9", "j": "10"}, ""},
		{"invalid utf8", "a=%ff", nil, ErrInvalidTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTaggingHeader(tt.header)
			if c := codeOf(err); c != tt.code {
				t.Fatalf("error code = %q, want %q (%v)", c, tt.code, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("tags = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("tags = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestParseTagging(t *testing.T) {
	doc := func(tags string) string {
		return `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>` + tags + `</TagSet></Tagging>`
	}
	many := ""
	for i := 0; i < 11; i++ {
		many += `<Tag><Key>k` + string(rune('a'+i)) + `</Key><Value>v</Value></Tag>`
	}
	tests := []struct {
		name  string
		body  string
		limit int
		want  int
		code  string
	}{
		{"two", doc(`<Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value></Value></Tag>`), 10, 2, ""},
		{"empty set", doc(``), 10, 0, ""},
		{"no namespace", `<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>`, 10, 1, ""},
		{"missing value", doc(`<Tag><Key>a</Key></Tag>`), 10, 0, ErrMalformedXML},
		{"missing key", doc(`<Tag><Value>a</Value></Tag>`), 10, 0, ErrMalformedXML},
		{"no tag set", `<Tagging></Tagging>`, 10, 0, ErrMalformedXML},
		{"wrong root", `<Foo><TagSet></TagSet></Foo>`, 10, 0, ErrMalformedXML},
		{"not xml", `{"a":1}`, 10, 0, ErrMalformedXML},
		{"truncated", doc(`<Tag><Key>a</Key>`), 10, 0, ErrMalformedXML},
		{"duplicate", doc(`<Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag>`), 10, 0, ErrInvalidTag},
		{"too many for object", doc(many), 10, 0, ErrBadRequest},
		{"fine for bucket", doc(many), 50, 11, ""},
		{"aws key", doc(`<Tag><Key>aws:cf</Key><Value>1</Value></Tag>`), 10, 0, ErrInvalidTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := parseTagging([]byte(tt.body), tt.limit, "Object")
			code := ""
			if e != nil {
				code = e.Code
			}
			if code != tt.code {
				t.Fatalf("code = %q, want %q (%v)", code, tt.code, e)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d tags, want %d", len(got), tt.want)
			}
		})
	}
}

func TestRenderTaggingRoundTrip(t *testing.T) {
	tags := map[string]string{"b": "2", "a": "1", "c d": "x/y"}
	body, err := marshalXML(renderTagging(tags))
	if err != nil {
		t.Fatal(err)
	}
	want := `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag><Tag><Key>c d</Key><Value>x/y</Value></Tag></TagSet></Tagging>`
	if !strings.HasSuffix(string(body), want) {
		t.Fatalf("rendered %s", body)
	}
	back, e := parseTagging(body, 10, "Object")
	if e != nil || len(back) != 3 || back["c d"] != "x/y" {
		t.Fatalf("round trip = %v, %v", back, e)
	}
	empty, _ := marshalXML(renderTagging(nil))
	if !strings.Contains(string(empty), "<TagSet></TagSet>") {
		t.Fatalf("empty tag set rendered as %s", empty)
	}
}

// FuzzParseTagging checks that no tagging header or document panics and
// that every refusal is an error from the table.
func FuzzParseTagging(f *testing.F) {
	for _, s := range []string{"", "a=b&c=d", "%zz", "=", "aws:x=1", `<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTaggingHeader(s)
		if err != nil {
			if _, ok := errorTable[codeOf(err)]; !ok {
				t.Fatalf("header %q: error %v not in the table", s, err)
			}
		} else if len(tags) > maxObjectTags {
			t.Fatalf("header %q: %d tags accepted", s, len(tags))
		}
		tags, e := parseTagging([]byte(s), maxBucketTags, "Bucket")
		if e != nil {
			if _, ok := errorTable[e.Code]; !ok {
				t.Fatalf("document %q: error %v not in the table", s, e)
			}
		} else if len(tags) > maxBucketTags {
			t.Fatalf("document %q: %d tags accepted", s, len(tags))
		}
	})
}
