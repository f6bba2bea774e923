package s3

import (
	"bytes"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/fake"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
	"github.com/prometheus/client_golang/prometheus"
)

// allowAll authenticates every request, so that fuzzing reaches the
// operations behind authentication.
type allowAll struct{}

func (allowAll) Verify(r *http.Request) (*sigv4.Result, error) {
	return &sigv4.Result{
		AccessKeyID:   "fuzz",
		Body:          io.NopCloser(r.Body),
		DecodedLength: r.ContentLength,
		Trailers:      func() http.Header { return nil },
	}, nil
}

// FuzzHandler sends arbitrary methods, paths, queries, ranges and bodies
// through the whole handler: it must always answer with a valid status and
// request id, and never panic.
func FuzzHandler(f *testing.F) {
	meta := fake.NewMetadata(time.Now)
	shards := fake.NewShards()
	nodes := fake.NewNodes(fake.StorageNodes("us-east-1", 6)...)
	log := slog.New(slog.DiscardHandler)
	store := datapath.New(datapath.Config{}, nodes, shards, log, prometheus.NewRegistry())
	h := New(Config{
		Region:  "us-east-1",
		Domains: []string{"s3.fuzz.test"},
		Erasure: erasure.Params{DataShards: 4, ParityShards: 2, BlockSize: 4096},
	}, metadatav1.NewMetadataServiceClient(meta.Serve(f)), store, allowAll{}, log, prometheus.NewRegistry())

	for _, s := range []struct{ method, host, target, rng, body string }{
		{"PUT", "localhost", "/fuzzbucket", "", ""},
		{"PUT", "localhost", "/fuzzbucket/k", "", "hello world"},
		{"GET", "localhost", "/fuzzbucket/k", "bytes=2-4", ""},
		{"GET", "localhost", "/fuzzbucket/k", "bytes=-3", ""},
		{"GET", "localhost", "/fuzzbucket/k", "bytes=99-", ""},
		{"HEAD", "localhost", "/fuzzbucket/k", "", ""},
		{"GET", "fuzzbucket.s3.fuzz.test", "/?list-type=2&delimiter=/&encoding-type=url", "", ""},
		{"GET", "localhost", "/fuzzbucket?continuation-token=zz&list-type=2", "", ""},
		{"GET", "localhost", "/fuzzbucket?max-keys=abc", "", ""},
		{"PUT", "localhost", "/fuzzbucket2", "", "<CreateBucketConfiguration><LocationConstraint>x</LocationConstraint></CreateBucketConfiguration>"},
		{"DELETE", "localhost", "/fuzzbucket/k", "", ""},
		{"DELETE", "localhost", "/fuzzbucket", "", ""},
		{"POST", "localhost", "/fuzzbucket?delete", "", "<Delete/>"},
		{"GET", "localhost", "/fuzzbucket?location", "", ""},
		{"POST", "localhost", "/fuzzbucket/mp?uploads", "", ""},
		{"PUT", "localhost", "/fuzzbucket/mp?partNumber=1&uploadId=00000000-0000-7000-8000-000000000001", "", "part"},
		{"GET", "localhost", "/fuzzbucket/mp?uploadId=00000000-0000-7000-8000-000000000001&max-parts=1&part-number-marker=0", "", ""},
		{"POST", "localhost", "/fuzzbucket/mp?uploadId=00000000-0000-7000-8000-000000000001", "", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"},
		{"DELETE", "localhost", "/fuzzbucket/mp?uploadId=00000000-0000-7000-8000-000000000001", "", ""},
		{"GET", "localhost", "/fuzzbucket?uploads&max-uploads=2&delimiter=/", "", ""},
		{"GET", "localhost", "/fuzzbucket/k?partNumber=1", "", ""},
		{"HEAD", "localhost", "/fuzzbucket/k?partNumber=2", "", ""},
		{"GET", "localhost", "/fuzzbucket/k?attributes", "", ""},
		{"GET", "localhost", "/", "", ""},
	} {
		f.Add(s.method, s.host, s.target, s.rng, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, host, target, rng string, body []byte) {
		r, err := http.NewRequest(http.MethodGet, "http://localhost/", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Method, r.Host = method, host
		path, query, _ := strings.Cut(target, "?")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r.URL.Path, r.URL.RawQuery = path, query
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		rec := httptest.NewRecorder()
		func() {
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					t.Fatalf("panic: %v", p)
				}
			}()
			h.ServeHTTP(rec, r)
		}()
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Header().Get("x-amz-request-id") == "" {
			t.Fatal("no request id")
		}
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("server error %d for %q %q %q: %s", rec.Code, method, host, target, rec.Body.String())
		}
	})
}

// FuzzErrorDocument checks that any message or element text renders as a
// well-formed error body that parses back to the same text (characters XML
// cannot carry become U+FFFD; a lone CR survives as &#xD;).
func FuzzErrorDocument(f *testing.F) {
	f.Add(`Policy Condition failed: ["eq", "$key", "a&b<c>"]`)
	f.Add("\x00\r\n\t\xff\ufffe")
	f.Add("]]>")
	f.Fuzz(func(t *testing.T, text string) {
		doc := errorResponse{Code: "AccessDenied", Message: text, Fields: []ErrorField{{Name: "Condition", Value: text}}, RequestID: "R", HostID: "H"}.marshal()
		var back struct {
			Message   string
			Condition string
		}
		if err := xml.Unmarshal(doc, &back); err != nil {
			t.Fatalf("%q renders as %q: %v", text, doc, err)
		}
		want := strings.Map(func(r rune) rune {
			if r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
				return r
			}
			return '\uFFFD'
		}, text) // each invalid byte maps to U+FFFD, as in the writer
		if back.Message != want || back.Condition != want {
			t.Fatalf("%q came back as %q / %q", text, back.Message, back.Condition)
		}
	})
}
