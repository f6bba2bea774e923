package s3

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"time"
)

// buildForm writes fields (in order) then the file with Go's multipart
// writer, which ends the body with "\r\n--boundary--\r\n".
func buildForm(t testing.TB, fields [][2]string, filename string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Boundary()
}

func TestFormReader(t *testing.T) {
	file := bytes.Repeat([]byte("0123456789\r\n--"), 5000) // crosses buffer edges, looks boundary-ish
	body, boundary := buildForm(t, [][2]string{{"key", "a/${filename}"}, {"Content-Type", "text/plain"}, {"x-amz-meta-A", "1"}}, "f.txt", file)

	fr := newFormReader(bytes.NewReader(body), boundary)
	form, err := readPostForm(fr)
	if err != nil {
		t.Fatal(err)
	}
	if form.fields["key"] != "a/${filename}" || form.fields["content-type"] != "text/plain" || form.fields["x-amz-meta-a"] != "1" {
		t.Fatalf("fields = %v", form.fields)
	}
	if strings.Join(form.names, ",") != "key,Content-Type,x-amz-meta-A" || form.filename != "f.txt" {
		t.Fatalf("names %v filename %q", form.names, form.filename)
	}
	// The size arithmetic postObject relies on.
	closing := int64(len(fr.delim) + len("--\r\n"))
	if got := int64(len(body)) - fr.consumed() - closing; got != int64(len(file)) {
		t.Fatalf("predicted file size %d, want %d", got, len(file))
	}
	got, err := io.ReadAll(form.file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, file) {
		t.Fatalf("file bytes differ: %d vs %d", len(got), len(file))
	}
	if !fr.done {
		t.Fatal("closing delimiter not seen")
	}
}

func TestFormReaderShapes(t *testing.T) {
	const b = "XyZ"
	tests := []struct {
		name string
		body string
		key  string
		file string
		code string
	}{
		{"plain", "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nDATA\r\n--XyZ--\r\n", "k1", "DATA", ""},
		{"preamble", "ignored preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nDATA\r\n--XyZ--", "k1", "DATA", ""},
		{"space after boundary", "--XyZ  \r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--XyZ--\r\n", "k1", "", ""},
		{"field after file", "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nDATA\r\n--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--XyZ--\r\n", "k1", "DATA", ""},
		{"no file", "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1\r\n--XyZ--\r\n", "", "", ErrIncorrectNumberOfFilesInPostRequest},
		{"truncated field", "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1", "", "", ErrMalformedPOSTRequest},
		{"no name", "--XyZ\r\nContent-Disposition: form-data\r\n\r\nk1\r\n--XyZ--\r\n", "", "", ErrMalformedPOSTRequest},
		{"garbage after boundary", "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1\r\n--XyZjunk\r\n", "", "", ErrMalformedPOSTRequest},
		{"duplicate field", "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"KEY\"\r\n\r\nk2\r\n--XyZ--\r\n", "", "", ErrInvalidArgument},
		{"empty", "", "", "", ErrMalformedPOSTRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := readPostForm(newFormReader(strings.NewReader(tt.body), b))
			if codeOf(err) != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			if err != nil {
				return
			}
			data, err := io.ReadAll(form.file)
			if err != nil {
				t.Fatal(err)
			}
			if form.fields["key"] != tt.key || string(data) != tt.file {
				t.Fatalf("key %q file %q", form.fields["key"], data)
			}
		})
	}
}

func TestFormReaderFieldLimit(t *testing.T) {
	body, boundary := buildForm(t, [][2]string{{"key", "k"}, {"x-ignore-pad", strings.Repeat("p", maxPostPreData+1)}}, "f", []byte("x"))
	_, err := readPostForm(newFormReader(bytes.NewReader(body), boundary))
	if codeOf(err) != ErrMalformedPOSTRequest {
		t.Fatalf("error %v, want MalformedPOSTRequest", err)
	}
}

// FuzzFormReader checks that no form body panics the parser, loops or
// yields a non-table error.
func FuzzFormReader(f *testing.F) {
	body, _ := buildForm(f, [][2]string{{"key", "k"}, {"policy", "p"}}, "f", []byte("data\r\n--b"))
	f.Add(string(body))
	f.Add("--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nDATA\r\n--XyZ--")
	f.Add("--XyZ--")
	f.Add("--XyZ\r\n\r\n\r\n--XyZ")
	f.Fuzz(func(t *testing.T, s string) {
		boundary := "XyZ"
		if i := strings.Index(s, "\r\n"); i > 2 && strings.HasPrefix(s, "--") && i-2 <= 70 {
			boundary = s[2:i]
		}
		form, err := readPostForm(newFormReader(strings.NewReader(s), boundary))
		if err != nil {
			if _, ok := errorTable[codeOf(err)]; !ok {
				t.Fatalf("error %v not in the table", err)
			}
			return
		}
		if _, err := io.ReadAll(form.file); err != nil {
			if _, ok := errorTable[codeOf(err)]; !ok {
				t.Fatalf("file error %v not in the table", err)
			}
		}
	})
}

func policyB64(t testing.TB, exp time.Time, conds ...any) string {
	t.Helper()
	doc, err := json.Marshal(map[string]any{"expiration": exp.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(doc)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestPolicy(t *testing.T) {
	future := time.Now().Add(time.Hour)
	form := &postForm{
		fields: map[string]string{"key": "user/eric/photo.jpg", "content-type": "image/jpeg", "x-amz-meta-tag": "v", "policy": "p", "x-amz-signature": "s", "x-ignore-me": "1"},
		names:  []string{"key", "Content-Type", "x-amz-meta-tag", "policy", "x-amz-signature", "x-ignore-me"},
	}
	base := []any{map[string]string{"bucket": "photos"}, []any{"starts-with", "$key", "user/eric/"}, []any{"eq", "$Content-Type", "image/jpeg"}, map[string]string{"x-amz-meta-tag": "v"}}
	tests := []struct {
		name   string
		policy string
		code   string
	}{
		{"ok", policyB64(t, future, base...), ""},
		{"wrong bucket", policyB64(t, future, map[string]string{"bucket": "other"}, []any{"starts-with", "$key", ""}, []any{"starts-with", "$content-type", ""}, []any{"starts-with", "$x-amz-meta-tag", ""}), ErrAccessDenied},
		{"key prefix fails", policyB64(t, future, []any{"starts-with", "$key", "user/bob/"}, []any{"starts-with", "$content-type", ""}, []any{"starts-with", "$x-amz-meta-tag", ""}), ErrAccessDenied},
		{"extra field", policyB64(t, future, []any{"starts-with", "$key", ""}, []any{"starts-with", "$content-type", ""}), ErrAccessDenied},
		{"missing field must be empty", policyB64(t, future, append(base, []any{"eq", "$x-amz-meta-other", "x"})...), ErrAccessDenied},
		{"content-type list", policyB64(t, future, []any{"starts-with", "$key", ""}, []any{"starts-with", "$Content-Type", "image/"}, []any{"starts-with", "$x-amz-meta-tag", ""}), ""},
		{"bad op", policyB64(t, future, []any{"matches", "$key", "x"}), ErrInvalidPolicyDocument},
		{"bad range", policyB64(t, future, []any{"content-length-range", 10, 1}), ErrInvalidPolicyDocument},
		{"field without dollar cannot hold", policyB64(t, future, []any{"eq", "key", "x"}), ErrAccessDenied},
		{"unexpected policy key", base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2999-01-01T00:00:00Z","conditions":[],"extra":"field"}`)), ErrInvalidPolicyDocument},
		{"short array", policyB64(t, future, []any{"eq", "$key"}), ErrInvalidPolicyDocument},
		{"not base64", "%%%", ErrInvalidPolicyDocument},
		{"empty", "", ErrInvalidPolicyDocument},
		{"no conditions", b64(`{"expiration":"2030-01-01T00:00:00Z"}`), ErrInvalidPolicyDocument},
		{"conditions not a list", b64(`{"expiration":"2030-01-01T00:00:00Z","conditions":{}}`), ErrInvalidPolicyDocument},
		{"condition is a number", b64(`{"expiration":"2030-01-01T00:00:00Z","conditions":[1]}`), ErrInvalidPolicyDocument},
		{"two-property simple condition", b64(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{"a":"1","b":"2"}]}`), ErrInvalidPolicyDocument},
		{"simple condition not a string", b64(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{"a":1}]}`), ErrInvalidPolicyDocument},
		{"empty condition list", b64(`{"expiration":"2030-01-01T00:00:00Z","conditions":[[]]}`), ErrInvalidPolicyDocument},
		{"not json", base64.StdEncoding.EncodeToString([]byte("{")), ErrInvalidPolicyDocument},
		{"no expiration", base64.StdEncoding.EncodeToString([]byte(`{"conditions":[]}`)), ErrInvalidPolicyDocument},
		{"bad expiration", base64.StdEncoding.EncodeToString([]byte(`{"expiration":"tomorrow","conditions":[]}`)), ErrInvalidPolicyDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conds, e := parsePolicy(tt.policy)
			if e == nil {
				e = checkPolicy(conds, form, "photos")
			}
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

func TestPolicyBucketField(t *testing.T) {
	_, conds, e := parsePolicy(policyB64(t, time.Now().Add(time.Hour), map[string]string{"bucket": "signed-for"}, []any{"starts-with", "$key", ""}))
	if e != nil {
		t.Fatal(e)
	}
	forged := &postForm{fields: map[string]string{"key": "k", "bucket": "signed-for"}, names: []string{"key", "bucket"}}
	if e := checkPolicy(conds, forged, "posted-to"); e == nil || e.Code != ErrAccessDenied {
		t.Fatalf("a bucket field naming the signed bucket passed for another: %v", e)
	}
	honest := &postForm{fields: map[string]string{"key": "k", "bucket": "signed-for"}, names: []string{"key", "bucket"}}
	if e := checkPolicy(conds, honest, "signed-for"); e != nil {
		t.Fatalf("matching bucket field: %v", e)
	}
}

func TestContentLengthRange(t *testing.T) {
	_, conds, e := parsePolicy(policyB64(t, time.Now().Add(time.Hour), []any{"content-length-range", 10, "20"}))
	if e != nil {
		t.Fatal(e)
	}
	for _, tt := range []struct {
		size int64
		code string
	}{{9, ErrEntityTooSmall}, {10, ""}, {20, ""}, {21, ErrEntityTooLarge}} {
		code := ""
		if e := checkLength(conds, tt.size); e != nil {
			code = e.Code
		}
		if code != tt.code {
			t.Errorf("size %d: code %q, want %q", tt.size, code, tt.code)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key",""],["content-length-range",1,2]]}`)
	f.Add(`{"expiration":"x","conditions":[[1,2,3]]}`)
	f.Add(`{"conditions":[{}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		_, conds, e := parsePolicy(base64.StdEncoding.EncodeToString([]byte(doc)))
		if e != nil {
			if _, ok := errorTable[e.Code]; !ok {
				t.Fatalf("error %v not in the table", e)
			}
			return
		}
		form := &postForm{fields: map[string]string{"key": "k"}, names: []string{"key"}}
		if e := checkPolicy(conds, form, "b"); e != nil {
			if _, ok := errorTable[e.Code]; !ok {
				t.Fatalf("error %v not in the table", e)
			}
		}
	})
}
