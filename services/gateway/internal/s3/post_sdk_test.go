package s3_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// postForm is a browser upload form under construction.
type postForm struct {
	fields     [][2]string
	conditions []any
	expiration time.Time
	secret     string
	keyID      string
	// noFinalCRLF drops the CRLF after the closing boundary.
	noFinalCRLF bool
	// after are fields placed after the file.
	after [][2]string
}

func newPostForm(bucket string, extra ...[2]string) *postForm {
	f := &postForm{expiration: time.Now().Add(time.Hour), secret: testSecret, keyID: testKey}
	f.conditions = append(f.conditions, map[string]string{"bucket": bucket})
	for _, kv := range extra {
		f.fields = append(f.fields, kv)
		f.conditions = append(f.conditions, []any{"eq", "$" + kv[0], kv[1]})
	}
	return f
}

// body renders the signed form with file as its last part.
func (f *postForm) body(t *testing.T, filename string, file []byte) ([]byte, string) {
	t.Helper()
	now := time.Now().UTC()
	date := now.Format("20060102T150405Z")
	cred := f.keyID + "/" + now.Format("20060102") + "/" + testRegion + "/s3/aws4_request"
	conds := append([]any{}, f.conditions...)
	conds = append(conds,
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": cred},
		map[string]string{"x-amz-date": date},
	)
	doc, err := json.Marshal(map[string]any{"expiration": f.expiration.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		t.Fatal(err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	k := hmacSHA256([]byte("AWS4"+f.secret), now.Format("20060102"))
	k = hmacSHA256(k, testRegion)
	k = hmacSHA256(k, "s3")
	k = hmacSHA256(k, "aws4_request")
	sig := hex.EncodeToString(hmacSHA256(k, policy))

	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	all := append([][2]string{}, f.fields...)
	all = append(all, [2]string{"x-amz-algorithm", "AWS4-HMAC-SHA256"}, [2]string{"x-amz-credential", cred},
		[2]string{"x-amz-date", date}, [2]string{"policy", policy}, [2]string{"x-amz-signature", sig})
	for _, kv := range all {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	for _, kv := range f.after {
		w.WriteField(kv[0], kv[1])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if f.noFinalCRLF {
		out = bytes.TrimSuffix(out, []byte("\r\n"))
	}
	return out, w.FormDataContentType()
}

func (e *testEnv) post(t *testing.T, target string, body []byte, contentType string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

func TestPostObject(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "forms")
	ctx := ctxT(t)

	t.Run("streamed file with 201", func(t *testing.T) {
		file := randBytes(300<<10, 7)
		f := newPostForm("forms", [2]string{"key", "uploads/${filename}"}, [2]string{"Content-Type", "image/png"},
			[2]string{"x-amz-meta-owner", "eric"}, [2]string{"success_action_status", "201"})
		f.conditions = append(f.conditions, []any{"content-length-range", 1, 1 << 20})
		body, ct := f.body(t, "cat.png", file)
		resp, rb := e.post(t, "/forms", body, ct)
		if resp.StatusCode != 201 {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		var pr struct {
			Location, Bucket, Key, ETag string
		}
		if err := xml.Unmarshal(rb, &pr); err != nil {
			t.Fatal(err)
		}
		if pr.Bucket != "forms" || pr.Key != "uploads/cat.png" || pr.ETag != `"`+md5Hex(file)+`"` || !strings.HasSuffix(pr.Location, "/forms/uploads/cat.png") {
			t.Fatalf("response %+v", pr)
		}
		if resp.Header.Get("ETag") != pr.ETag || resp.Header.Get("x-amz-version-id") != "" {
			t.Fatalf("headers %v", resp.Header)
		}
		got, out, err := e.get(t, "forms", "uploads/cat.png", "")
		if err != nil || !bytes.Equal(got, file) {
			t.Fatalf("stored object differs: %v", err)
		}
		if aws.ToString(out.ContentType) != "image/png" || out.Metadata["owner"] != "eric" {
			t.Fatalf("object headers %v %v", out.ContentType, out.Metadata)
		}
		if segs := e.meta.Object("forms", "uploads/cat.png").GetSegments(); len(segs) != 1 {
			t.Fatalf("%d segments, want 1", len(segs))
		}
	})

	t.Run("small file with 204", func(t *testing.T) {
		f := newPostForm("forms", [2]string{"key", "small"})
		body, ct := f.body(t, "s.txt", []byte("hello"))
		resp, rb := e.post(t, "/forms", body, ct)
		if resp.StatusCode != 204 || len(rb) != 0 || resp.Header.Get("ETag") != `"`+md5Hex([]byte("hello"))+`"` {
			t.Fatalf("status %d %v: %s", resp.StatusCode, resp.Header, rb)
		}
		if got, _, err := e.get(t, "forms", "small", ""); err != nil || string(got) != "hello" {
			t.Fatalf("%q %v", got, err)
		}
	})

	t.Run("website redirect location", func(t *testing.T) {
		f := newPostForm("forms", [2]string{"key", "moved"}, [2]string{"x-amz-website-redirect-location", "/new/page.html"})
		body, ct := f.body(t, "m", []byte("m"))
		if resp, rb := e.post(t, "/forms", body, ct); resp.StatusCode != 204 {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		out, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("moved")})
		if err != nil || aws.ToString(out.WebsiteRedirectLocation) != "/new/page.html" {
			t.Fatalf("head: %+v %v", out, err)
		}
	})

	t.Run("empty file", func(t *testing.T) {
		f := newPostForm("forms", [2]string{"key", "empty"})
		body, ct := f.body(t, "e", nil)
		if resp, rb := e.post(t, "/forms", body, ct); resp.StatusCode != 204 {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		if got, _, err := e.get(t, "forms", "empty", ""); err != nil || len(got) != 0 {
			t.Fatalf("%q %v", got, err)
		}
	})

	t.Run("redirect", func(t *testing.T) {
		f := newPostForm("forms", [2]string{"key", "r"}, [2]string{"success_action_redirect", "https://app.example.com/done?x=1"})
		body, ct := f.body(t, "r", []byte("r"))
		resp, rb := e.post(t, "/forms", body, ct)
		if resp.StatusCode != 303 {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || u.Host != "app.example.com" || u.Query().Get("x") != "1" || u.Query().Get("bucket") != "forms" ||
			u.Query().Get("key") != "r" || u.Query().Get("etag") != `"`+md5Hex([]byte("r"))+`"` {
			t.Fatalf("location %q", resp.Header.Get("Location"))
		}
	})

	t.Run("closing boundary without CRLF", func(t *testing.T) {
		file := randBytes(200<<10, 9)
		f := newPostForm("forms", [2]string{"key", "nocrlf"})
		f.noFinalCRLF = true
		body, ct := f.body(t, "f", file)
		if resp, rb := e.post(t, "/forms", body, ct); resp.StatusCode != 204 {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		got, out, err := e.get(t, "forms", "nocrlf", "")
		if err != nil || !bytes.Equal(got, file) || aws.ToString(out.ETag) != `"`+md5Hex(file)+`"` {
			t.Fatalf("stored object differs: %v", err)
		}
		// The two bytes the size arithmetic did not expect became a second segment.
		if segs := e.meta.Object("forms", "nocrlf").GetSegments(); len(segs) != 2 || segs[1].GetSize() != 2 {
			t.Fatalf("segments %v", segs)
		}
		rng, _, err := e.get(t, "forms", "nocrlf", "bytes=204790-204799")
		if err != nil || !bytes.Equal(rng, file[204790:]) {
			t.Fatalf("range across the segments: %v", err)
		}
	})

	t.Run("fields after a small file are ignored", func(t *testing.T) {
		f := newPostForm("forms", [2]string{"key", "after"})
		f.after = [][2]string{{"x-ignore-late", "1"}}
		body, ct := f.body(t, "f", []byte("data"))
		if resp, rb := e.post(t, "/forms", body, ct); resp.StatusCode != 204 {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		if got, _, err := e.get(t, "forms", "after", ""); err != nil || string(got) != "data" {
			t.Fatalf("%q %v", got, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		stored := e.shards.Count()
		big := randBytes(100<<10, 3)
		tests := []struct {
			name   string
			mutate func(f *postForm)
			file   []byte
			status int
			code   string
		}{
			{"wrong secret", func(f *postForm) { f.secret = "other" }, []byte("x"), 403, "SignatureDoesNotMatch"},
			{"unknown key", func(f *postForm) { f.keyID = "AKIDNOBODY" }, []byte("x"), 403, "InvalidAccessKeyId"},
			{"expired", func(f *postForm) { f.expiration = time.Now().Add(-time.Minute) }, []byte("x"), 403, "AccessDenied"},
			{"condition fails", func(f *postForm) { f.conditions = append(f.conditions, []any{"starts-with", "$key", "other/"}) }, []byte("x"), 403, "AccessDenied"},
			{"field not in policy", func(f *postForm) { f.fields = append(f.fields, [2]string{"x-amz-meta-extra", "1"}) }, []byte("x"), 403, "AccessDenied"},
			{"too large", func(f *postForm) { f.conditions = append(f.conditions, []any{"content-length-range", 0, 10}) }, big, 400, "EntityTooLarge"},
			{"too small", func(f *postForm) { f.conditions = append(f.conditions, []any{"content-length-range", 2, 10}) }, []byte("x"), 400, "EntityTooSmall"},
			{"fields after a large file", func(f *postForm) { f.after = [][2]string{{"x-ignore-late", strings.Repeat("z", 70<<10)}} }, big, 400, "MalformedPOSTRequest"},
			{"bad website redirect location", func(f *postForm) {
				f.fields = append(f.fields, [2]string{"x-amz-website-redirect-location", "ftp://example.com/x"})
				f.conditions = append(f.conditions, []any{"starts-with", "$x-amz-website-redirect-location", ""})
			}, []byte("x"), 400, "InvalidRedirectLocation"},
			{"bad tagging", func(f *postForm) {
				f.fields = append(f.fields, [2]string{"tagging", "<Tagging>"})
				f.conditions = append(f.conditions, []any{"starts-with", "$tagging", ""})
			}, []byte("x"), 400, "MalformedXML"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newPostForm("forms", [2]string{"key", "refused"})
				tt.mutate(f)
				body, ct := f.body(t, "f", tt.file)
				resp, rb := e.post(t, "/forms", body, ct)
				checkXMLError(t, resp, rb, tt.status, tt.code)
			})
		}
		if e.meta.Object("forms", "refused") != nil {
			t.Fatal("a refused upload was stored")
		}
		// Only the large-file case, refused after streaming, wrote shards;
		// they are uncommitted and left to orphan reconciliation.
		if n := e.shards.Count() - stored; n > 6 {
			t.Fatalf("%d shards written by refused uploads", n)
		}

		resp, rb := e.post(t, "/forms", []byte("key=x"), "application/x-www-form-urlencoded")
		checkXMLError(t, resp, rb, 412, "PreconditionFailed")
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.WriteField("key", "anon")
		fw, _ := w.CreateFormFile("file", "f")
		fw.Write([]byte("x"))
		w.Close()
		resp, rb = e.post(t, "/forms", buf.Bytes(), w.FormDataContentType())
		if xe := checkXMLError(t, resp, rb, 403, "AccessDenied"); xe.Message != "Access Denied" {
			t.Fatalf("anonymous form: message %q, want AWS's \"Access Denied\"", xe.Message)
		}
		buf.Reset()
		w = multipart.NewWriter(&buf)
		w.WriteField("key", "nofile")
		w.Close()
		resp, rb = e.post(t, "/forms", buf.Bytes(), w.FormDataContentType())
		checkXMLError(t, resp, rb, 400, "IncorrectNumberOfFilesInPostRequest")
		f := newPostForm("nobucket", [2]string{"key", "k"})
		body, ct := f.body(t, "f", []byte("x"))
		resp, rb = e.post(t, "/nobucket", body, ct)
		checkXMLError(t, resp, rb, 404, "NoSuchBucket")
	})

	t.Run("versioned bucket", func(t *testing.T) {
		e.createBucket(t, "vforms")
		e.setVersioning(t, "vforms", types.BucketVersioningStatusEnabled)
		f := newPostForm("vforms", [2]string{"key", "v"}, [2]string{"tagging", "<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"})
		body, ct := f.body(t, "f", []byte("v1"))
		resp, rb := e.post(t, "/vforms", body, ct)
		if resp.StatusCode != 204 || resp.Header.Get("x-amz-version-id") == "" {
			t.Fatalf("status %d %v: %s", resp.StatusCode, resp.Header, rb)
		}
		tags, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vforms"), Key: aws.String("v")})
		if err != nil {
			t.Fatal(err)
		}
		sameTags(t, tags.TagSet, map[string]string{"a": "b"})
	})
}

func TestPostObjectChecksums(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "formsums")
	crc32cOf := func(b []byte) string {
		sum := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
	}
	sha256Of := func(b []byte) string {
		s := sha256.Sum256(b)
		return base64.StdEncoding.EncodeToString(s[:])
	}
	for _, size := range []int{5, 300 << 10} { // in memory, and streamed
		file := randBytes(size, uint64(size))
		t.Run(fmt.Sprintf("verified and stored, %d bytes", size), func(t *testing.T) {
			key := fmt.Sprintf("ok-%d", size)
			f := newPostForm("formsums", [2]string{"key", key}, [2]string{"x-amz-checksum-crc32c", crc32cOf(file)})
			body, ct := f.body(t, "f", file)
			resp, rb := e.post(t, "/formsums", body, ct)
			if resp.StatusCode != 204 || resp.Header.Get("x-amz-checksum-crc32c") != crc32cOf(file) {
				t.Fatalf("status %d %v: %s", resp.StatusCode, resp.Header, rb)
			}
			out, err := e.client.HeadObject(ctxT(t), &awss3.HeadObjectInput{Bucket: aws.String("formsums"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil || aws.ToString(out.ChecksumCRC32C) != crc32cOf(file) {
				t.Fatalf("head: %v %v", err, out)
			}
		})
		t.Run(fmt.Sprintf("mismatch stores nothing, %d bytes", size), func(t *testing.T) {
			key := fmt.Sprintf("bad-%d", size)
			f := newPostForm("formsums", [2]string{"key", key}, [2]string{"x-amz-checksum-sha256", sha256Of([]byte("other"))})
			body, ct := f.body(t, "f", file)
			resp, rb := e.post(t, "/formsums", body, ct)
			xe := checkXMLError(t, resp, rb, 400, "BadDigest")
			if xe.Message != "The SHA256 you specified did not match the calculated checksum." {
				t.Fatalf("message %q", xe.Message)
			}
			if _, _, err := e.get(t, "formsums", key, ""); apiCode(err) != "NoSuchKey" {
				t.Fatalf("object after a bad checksum: %v", err)
			}
		})
	}
	t.Run("no checksum field gets the default CRC64NVME", func(t *testing.T) {
		f := newPostForm("formsums", [2]string{"key", "plain"})
		body, ct := f.body(t, "f", []byte("plain"))
		if resp, rb := e.post(t, "/formsums", body, ct); resp.StatusCode != 204 || resp.Header.Get("x-amz-checksum-crc64nvme") == "" {
			t.Fatalf("status %d %v: %s", resp.StatusCode, resp.Header, rb)
		}
	})
	for _, tc := range []struct {
		name   string
		fields [][2]string
		msg    string
	}{
		{"bad value", [][2]string{{"x-amz-checksum-crc32", "invalid"}}, "Value for x-amz-checksum-crc32 header is invalid."},
		{"unknown algorithm", [][2]string{{"x-amz-checksum-invalid", "invalid"}}, "The algorithm type you specified in x-amz-checksum- header is invalid."},
		{"two checksums", [][2]string{{"x-amz-checksum-crc32", "0wiusg=="}, {"x-amz-checksum-crc32c", "M3m0yg=="}},
			"Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPostForm("formsums", append([][2]string{{"key", "refused"}}, tc.fields...)...)
			body, ct := f.body(t, "f", []byte("data"))
			resp, rb := e.post(t, "/formsums", body, ct)
			if xe := checkXMLError(t, resp, rb, 400, "InvalidRequest"); xe.Message != tc.msg {
				t.Fatalf("message %q", xe.Message)
			}
		})
	}
	t.Run("a failed condition is quoted as AWS quotes it", func(t *testing.T) {
		f := newPostForm("formsums", [2]string{"key", "cond"})
		f.fields = append(f.fields, [2]string{"x-amz-checksum-crc32c", crc32cOf([]byte("other"))})
		f.conditions = append(f.conditions, []any{"eq", "$x-amz-checksum-crc32c", "8TDyHg=="})
		body, ct := f.body(t, "f", []byte("data"))
		resp, rb := e.post(t, "/formsums", body, ct)
		checkXMLError(t, resp, rb, 403, "AccessDenied")
		// Literal quotes in the raw body, as AWS sends them.
		if !bytes.Contains(rb, []byte(`Invalid according to Policy: Policy Condition failed: ["eq", "$x-amz-checksum-crc32c", "8TDyHg=="]`)) {
			t.Fatalf("body %s", rb)
		}
	})
	t.Run("content-length-range names the sizes", func(t *testing.T) {
		f := newPostForm("formsums", [2]string{"key", "range"})
		f.conditions = append(f.conditions, []any{"content-length-range", 100, 200})
		body, ct := f.body(t, "f", []byte("ab"))
		resp, rb := e.post(t, "/formsums", body, ct)
		checkXMLError(t, resp, rb, 400, "EntityTooSmall")
		if !bytes.Contains(rb, []byte("<ProposedSize>2</ProposedSize><MinSizeAllowed>100</MinSizeAllowed>")) {
			t.Fatalf("body %s", rb)
		}
	})
}
