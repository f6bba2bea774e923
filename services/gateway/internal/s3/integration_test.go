package s3_test

// These tests run the whole S3 handler (real SigV4 verification, real data
// path and erasure coding, real gRPC to the metadata service) against
// in-memory fakes of the metadata service and the shard store, driven by
// aws-sdk-go-v2. They prove the HTTP layer; the cluster end-to-end tests in
// /test prove the real services.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/fake"
	"github.com/anvil-store/anvil/services/gateway/internal/s3"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	testRegion = "us-east-1"
	testKey    = "AKIDANVILTEST"
	testSecret = "anvil-test-secret-key"
	testDomain = "s3.anvil.test"
)

var testParams = erasure.Params{DataShards: 4, ParityShards: 2, BlockSize: 4096}

type testEnv struct {
	t      *testing.T
	srv    *httptest.Server
	client *awss3.Client
	meta   *fake.Metadata
	shards *fake.Shards
	nodes  *fake.Nodes
	reg    *prometheus.Registry
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvLog(t, io.Discard)
}

func newTestEnvLog(t *testing.T, logTo io.Writer) *testEnv {
	t.Helper()
	return newTestEnvConfig(t, logTo, nil)
}

// newTestEnvConfig is newTestEnv with the handler's Config adjusted by mut.
func newTestEnvConfig(t *testing.T, logTo io.Writer, mut func(*s3.Config)) *testEnv {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	e := &testEnv{
		t:      t,
		meta:   fake.NewMetadata(time.Now),
		shards: fake.NewShards(),
		nodes:  fake.NewNodes(fake.StorageNodes(testRegion, 6)...),
		reg:    prometheus.NewRegistry(),
	}
	log := slog.New(slog.NewJSONHandler(logTo, nil))
	store := datapath.New(datapath.Config{BlockTimeout: 5 * time.Second}, e.nodes, e.shards, log, e.reg)
	verifier := &sigv4.Verifier{
		Credentials: func(id string) (string, bool) { return testSecret, id == testKey },
		Region:      testRegion,
		Service:     "s3",
		Now:         time.Now,
		MaxSkew:     15 * time.Minute,
	}
	cfg := s3.Config{
		Region:  testRegion,
		Domains: []string{testDomain},
		Erasure: testParams,
		HostID:  "gw-test",
		OwnerID: testKey,
	}
	if mut != nil {
		mut(&cfg)
	}
	h := s3.New(cfg, metadatav1.NewMetadataServiceClient(e.meta.Serve(t)), store, verifier, log, e.reg)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.client = e.newClient(testKey, testSecret, true)
	return e
}

func (e *testEnv) newClient(key, secret string, pathStyle bool) *awss3.Client {
	opts := awss3.Options{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint:     aws.String(e.srv.URL),
		UsePathStyle:     pathStyle,
		RetryMaxAttempts: 1,
	}
	if !pathStyle {
		// Virtual-host style: bucket.s3.anvil.test, dialled to the test server.
		addr := e.srv.Listener.Addr().String()
		_, port, _ := net.SplitHostPort(addr)
		opts.BaseEndpoint = aws.String("http://" + testDomain + ":" + port)
		opts.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}}
	}
	return awss3.New(opts)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s (%d)", code, status)
	}
	if got := apiCode(err); got != code {
		t.Fatalf("error code = %q, want %q (%v)", got, code, err)
	}
	if got := httpStatus(err); got != status {
		t.Fatalf("status = %d, want %d (%v)", got, status, err)
	}
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func (e *testEnv) createBucket(t *testing.T, name string) {
	t.Helper()
	if _, err := e.client.CreateBucket(ctxT(t), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

func (e *testEnv) put(t *testing.T, bucket, key string, data []byte) *awss3.PutObjectOutput {
	t.Helper()
	out, err := e.client.PutObject(ctxT(t), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

func (e *testEnv) get(t *testing.T, bucket, key, rng string) ([]byte, *awss3.GetObjectOutput, error) {
	t.Helper()
	in := &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := e.client.GetObject(ctxT(t), in)
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out, err
}

// signedRequest builds a request signed with the test key.
func (e *testEnv) signedRequest(t *testing.T, method, target string, body []byte, hdr http.Header, payloadHash string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if payloadHash == "" {
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

type xmlError struct {
	Code      string
	Message   string
	Resource  string
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func checkXMLError(t *testing.T, resp *http.Response, body []byte, status int, code string) xmlError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	var xe xmlError
	if err := xml.Unmarshal(body, &xe); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if xe.Code != code {
		t.Fatalf("code = %q, want %q (%s)", xe.Code, code, xe.Message)
	}
	if id := resp.Header.Get("x-amz-request-id"); id == "" || id != xe.RequestID {
		t.Fatalf("x-amz-request-id %q vs RequestId %q", id, xe.RequestID)
	}
	if resp.Header.Get("x-amz-id-2") == "" || xe.HostID == "" {
		t.Fatal("missing x-amz-id-2 / HostId")
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/xml" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return xe
}

func TestBuckets(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	for _, b := range []string{"photos", "docs.example"} {
		e.createBucket(t, b)
	}
	t.Run("create twice", func(t *testing.T) {
		_, err := e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("photos")})
		wantAPIError(t, err, "BucketAlreadyOwnedByYou", 409)
	})
	t.Run("invalid name", func(t *testing.T) {
		resp, body := do(t, e.signedRequest(t, "PUT", "/Bad_Bucket", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidBucketName")
	})
	t.Run("location constraints", func(t *testing.T) {
		tests := []struct {
			loc  types.BucketLocationConstraint
			code string
		}{
			{"eu-west-1", "IllegalLocationConstraintException"},
			{"EU", "IllegalLocationConstraintException"},
		}
		for _, tt := range tests {
			_, err := e.client.CreateBucket(ctx, &awss3.CreateBucketInput{
				Bucket:                    aws.String("located"),
				CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: tt.loc},
			})
			wantAPIError(t, err, tt.code, 400)
		}
		// AWS never takes us-east-1 as a location constraint: a bucket there
		// is created without one.
		cfg := `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`
		resp, body := do(t, e.signedRequest(t, "PUT", "/located", []byte(cfg), nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidLocationConstraint")
		if !strings.Contains(string(body), "<LocationConstraint>us-east-1</LocationConstraint>") {
			t.Fatalf("error body lacks the constraint: %s", body)
		}
		resp, body = do(t, e.signedRequest(t, "PUT", "/located", []byte(`<CreateBucketConfiguration/>`), nil, ""))
		if resp.StatusCode != 200 || resp.Header.Get("Location") != "/located" {
			t.Fatalf("create without a constraint: %d %s", resp.StatusCode, body)
		}
		resp, body = do(t, e.signedRequest(t, "PUT", "/malformed", []byte("<CreateBucketConfiguration><Loc"), nil, ""))
		checkXMLError(t, resp, body, 400, "MalformedXML")
		resp, body = do(t, e.signedRequest(t, "PUT", "/weird", []byte(`<CreateBucketConfiguration><LocationConstraint>a/b</LocationConstraint></CreateBucketConfiguration>`), nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidLocationConstraint")
	})
	t.Run("head and location", func(t *testing.T) {
		out, err := e.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("photos")})
		if err != nil || aws.ToString(out.BucketRegion) != testRegion {
			t.Fatalf("head bucket: %v %v", out, err)
		}
		_, err = e.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("missing")})
		if httpStatus(err) != 404 {
			t.Fatalf("head missing bucket: %v", err)
		}
		loc, err := e.client.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: aws.String("photos")})
		if err != nil || loc.LocationConstraint != "" {
			t.Fatalf("location = %q, %v; want empty for us-east-1", loc.LocationConstraint, err)
		}
		resp, body := do(t, e.signedRequest(t, "GET", "/photos?location", nil, nil, ""))
		want := `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("location body %d %s", resp.StatusCode, body)
		}
		_, err = e.client.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: aws.String("missing")})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
	t.Run("list", func(t *testing.T) {
		out, err := e.client.ListBuckets(ctx, &awss3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
			if b.CreationDate == nil || b.CreationDate.IsZero() {
				t.Fatalf("bucket %s without creation date", aws.ToString(b.Name))
			}
		}
		if strings.Join(names, ",") != "docs.example,located,photos" {
			t.Fatalf("buckets = %v", names)
		}
		if out.Owner == nil || aws.ToString(out.Owner.ID) == "" {
			t.Fatal("no owner")
		}
	})
	t.Run("delete", func(t *testing.T) {
		e.put(t, "photos", "k", []byte("x"))
		_, err := e.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("photos")})
		wantAPIError(t, err, "BucketNotEmpty", 409)
		if got, want := apiMessage(err), "The bucket you tried to delete is not empty."; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
		if _, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
			t.Fatal(err)
		}
		_, err = e.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("photos")})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
}

func TestObjectRoundTrips(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "data")
	stripe := int(testParams.StripeSize())
	for _, size := range []int{0, 1, 1000, stripe, 3*stripe + 7, 300<<10 + 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randBytes(size, 1)
			key := fmt.Sprintf("obj/%d", size)
			out := e.put(t, "data", key, data)
			if aws.ToString(out.ETag) != `"`+md5Hex(data)+`"` {
				t.Fatalf("put etag = %s, want %q", aws.ToString(out.ETag), md5Hex(data))
			}
			got, gout, err := e.get(t, "data", key, "")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: err %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, data))
			}
			if aws.ToInt64(gout.ContentLength) != int64(size) || aws.ToString(gout.ETag) != `"`+md5Hex(data)+`"` ||
				aws.ToString(gout.AcceptRanges) != "bytes" || gout.LastModified == nil {
				t.Fatalf("get headers: len %d etag %s ranges %s lm %v", aws.ToInt64(gout.ContentLength), aws.ToString(gout.ETag), aws.ToString(gout.AcceptRanges), gout.LastModified)
			}
			if size == 0 && e.meta.Object("data", key).GetSegments() != nil {
				t.Fatal("an empty object has segments")
			}
		})
	}
	if e.shards.Open() != 0 {
		t.Fatalf("%d shard uploads left open", e.shards.Open())
	}
}

func TestObjectHeaders(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "hdr")
	ctx := ctxT(t)
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := e.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:             aws.String("hdr"),
		Key:                aws.String("doc.txt"),
		Body:               strings.NewReader("hello"),
		ContentType:        aws.String("text/plain; charset=utf-8"),
		ContentEncoding:    aws.String("identity"),
		CacheControl:       aws.String("max-age=60"),
		ContentDisposition: aws.String(`attachment; filename="doc.txt"`),
		ContentLanguage:    aws.String("en-GB"),
		Expires:            aws.Time(expires),
		Metadata:           map[string]string{"color": "blue", "Owner-Name": "Ada"},
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, ct, ce, cc, cd, cl string, exp *string, md map[string]string) {
		t.Helper()
		if ct != "text/plain; charset=utf-8" || ce != "identity" || cc != "max-age=60" ||
			cd != `attachment; filename="doc.txt"` || cl != "en-GB" {
			t.Fatalf("headers: %q %q %q %q %q", ct, ce, cc, cd, cl)
		}
		if exp == nil {
			t.Fatal("no Expires")
		}
		if pt, err := http.ParseTime(*exp); err != nil || !pt.Equal(expires) {
			t.Fatalf("Expires = %q", *exp)
		}
		if len(md) != 2 || md["color"] != "blue" || md["owner-name"] != "Ada" {
			t.Fatalf("metadata = %v", md)
		}
	}
	_, gout, err := e.get(t, "hdr", "doc.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, aws.ToString(gout.ContentType), aws.ToString(gout.ContentEncoding), aws.ToString(gout.CacheControl),
		aws.ToString(gout.ContentDisposition), aws.ToString(gout.ContentLanguage), gout.ExpiresString, gout.Metadata)
	hout, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("hdr"), Key: aws.String("doc.txt")})
	if err != nil {
		t.Fatal(err)
	}
	check(t, aws.ToString(hout.ContentType), aws.ToString(hout.ContentEncoding), aws.ToString(hout.CacheControl),
		aws.ToString(hout.ContentDisposition), aws.ToString(hout.ContentLanguage), hout.ExpiresString, hout.Metadata)
	if aws.ToInt64(hout.ContentLength) != 5 || aws.ToString(hout.ETag) != `"`+md5Hex([]byte("hello"))+`"` {
		t.Fatalf("head: len %d etag %s", aws.ToInt64(hout.ContentLength), aws.ToString(hout.ETag))
	}

	t.Run("default content type", func(t *testing.T) {
		req := e.signedRequest(t, "PUT", "/hdr/plain", []byte("x"), nil, "")
		req.Header.Del("Content-Type")
		if resp, body := do(t, req); resp.StatusCode != 200 {
			t.Fatalf("put: %d %s", resp.StatusCode, body)
		}
		hout, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("hdr"), Key: aws.String("plain")})
		if err != nil || aws.ToString(hout.ContentType) != "binary/octet-stream" {
			t.Fatalf("content type = %q, %v", aws.ToString(hout.ContentType), err)
		}
	})
	t.Run("raw headers", func(t *testing.T) {
		resp, _ := do(t, e.signedRequest(t, "GET", "/hdr/doc.txt", nil, nil, ""))
		if resp.Header.Get("Server") != "Anvil" || resp.Header.Get("x-amz-request-id") == "" || resp.Header.Get("x-amz-id-2") == "" {
			t.Fatalf("headers %v", resp.Header)
		}
		if _, err := time.Parse(http.TimeFormat, resp.Header.Get("Last-Modified")); err != nil {
			t.Fatalf("Last-Modified %q: %v", resp.Header.Get("Last-Modified"), err)
		}
		if _, ok := resp.Header["X-Amz-Meta-Color"]; !ok {
			t.Fatalf("user metadata header missing: %v", resp.Header)
		}
	})
	t.Run("response overrides", func(t *testing.T) {
		out, err := e.client.GetObject(ctx, &awss3.GetObjectInput{
			Bucket: aws.String("hdr"), Key: aws.String("doc.txt"),
			ResponseContentType:        aws.String("application/json"),
			ResponseContentDisposition: aws.String("inline"),
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = out.Body.Close()
		if aws.ToString(out.ContentType) != "application/json" || aws.ToString(out.ContentDisposition) != "inline" {
			t.Fatalf("overrides: %q %q", aws.ToString(out.ContentType), aws.ToString(out.ContentDisposition))
		}
	})
	t.Run("metadata too large", func(t *testing.T) {
		_, err := e.client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket: aws.String("hdr"), Key: aws.String("big-md"), Body: strings.NewReader("x"),
			Metadata: map[string]string{"k": strings.Repeat("v", 2100)},
		})
		wantAPIError(t, err, "MetadataTooLarge", 400)
	})
	t.Run("conditional", func(t *testing.T) {
		etag := `"` + md5Hex([]byte("hello")) + `"`
		_, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("hdr"), Key: aws.String("doc.txt"), IfNoneMatch: aws.String(etag)})
		if httpStatus(err) != 304 {
			t.Fatalf("If-None-Match: %v", err)
		}
		_, err = e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("hdr"), Key: aws.String("doc.txt"), IfMatch: aws.String(`"nope"`)})
		wantAPIError(t, err, "PreconditionFailed", 412)
		out, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("hdr"), Key: aws.String("doc.txt"), IfMatch: aws.String(etag)})
		if err != nil {
			t.Fatal(err)
		}
		_ = out.Body.Close()
		_, err = e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("hdr"), Key: aws.String("doc.txt"), IfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
		if httpStatus(err) != 304 {
			t.Fatalf("If-Modified-Since: %v", err)
		}
		_, err = e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("hdr"), Key: aws.String("doc.txt"), IfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))})
		wantAPIError(t, err, "PreconditionFailed", 412)
	})
}

func TestRanges(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "rng")
	data := randBytes(5*int(testParams.StripeSize())+11, 2)
	size := int64(len(data))
	e.put(t, "rng", "obj", data)
	e.put(t, "rng", "empty", nil)
	tests := []struct {
		name         string
		rng          string
		start, n     int64
		contentRange string
	}{
		{"first bytes", "bytes=0-9", 0, 10, fmt.Sprintf("bytes 0-9/%d", size)},
		{"middle across stripes", "bytes=16380-16400", 16380, 21, fmt.Sprintf("bytes 16380-16400/%d", size)},
		{"open", "bytes=70000-", 70000, size - 70000, fmt.Sprintf("bytes 70000-%d/%d", size-1, size)},
		{"suffix", "bytes=-10", size - 10, 10, fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size)},
		{"end clamped", fmt.Sprintf("bytes=%d-99999999", size-3), size - 3, 3, fmt.Sprintf("bytes %d-%d/%d", size-3, size-1, size)},
		{"last byte", fmt.Sprintf("bytes=%d-%d", size-1, size-1), size - 1, 1, fmt.Sprintf("bytes %d-%d/%d", size-1, size-1, size)},
		{"multiple ranges serve all", "bytes=0-1,5-6", 0, size, ""},
		{"malformed ignored", "bytes=x-y", 0, size, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out, err := e.get(t, "rng", "obj", tt.rng)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[tt.start:tt.start+tt.n]) {
				t.Fatalf("got %d bytes, want [%d,+%d)", len(got), tt.start, tt.n)
			}
			if aws.ToString(out.ContentRange) != tt.contentRange || aws.ToInt64(out.ContentLength) != tt.n {
				t.Fatalf("Content-Range %q length %d", aws.ToString(out.ContentRange), aws.ToInt64(out.ContentLength))
			}
		})
	}
	t.Run("status codes", func(t *testing.T) {
		req := e.signedRequest(t, "GET", "/rng/obj", nil, http.Header{"Range": {"bytes=0-0"}}, "")
		if resp, body := do(t, req); resp.StatusCode != 206 || len(body) != 1 {
			t.Fatalf("ranged status %d, %d bytes", resp.StatusCode, len(body))
		}
		req = e.signedRequest(t, "GET", "/rng/obj", nil, http.Header{"Range": {"bytes=0-0,2-3"}}, "")
		if resp, body := do(t, req); resp.StatusCode != 200 || int64(len(body)) != size {
			t.Fatalf("multi-range status %d, %d bytes", resp.StatusCode, len(body))
		}
	})
	t.Run("unsatisfiable", func(t *testing.T) {
		for _, target := range []struct{ key, rng string }{{"obj", fmt.Sprintf("bytes=%d-", size)}, {"obj", "bytes=-0"}, {"empty", "bytes=0-"}} {
			req := e.signedRequest(t, "GET", "/rng/"+target.key, nil, http.Header{"Range": {target.rng}}, "")
			resp, body := do(t, req)
			checkXMLError(t, resp, body, 416, "InvalidRange")
			want := "bytes */" + fmt.Sprint(size)
			if target.key == "empty" {
				want = "bytes */0"
			}
			if resp.Header.Get("Content-Range") != want {
				t.Fatalf("Content-Range = %q, want %q", resp.Header.Get("Content-Range"), want)
			}
		}
		_, _, err := e.get(t, "rng", "obj", fmt.Sprintf("bytes=%d-", size+10))
		wantAPIError(t, err, "InvalidRange", 416)
	})
	t.Run("head with range", func(t *testing.T) {
		out, err := e.client.HeadObject(ctxT(t), &awss3.HeadObjectInput{Bucket: aws.String("rng"), Key: aws.String("obj"), Range: aws.String("bytes=0-99")})
		if err != nil || aws.ToInt64(out.ContentLength) != 100 || aws.ToString(out.ContentRange) != fmt.Sprintf("bytes 0-99/%d", size) {
			t.Fatalf("head range: %v %v", out, err)
		}
	})
}

func TestListing(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "list")
	ctx := ctxT(t)
	keys := []string{"a/1", "a/2", "a/b/3", "b/1", "c", "d e/f", "x+y", "日本/語", "z%z"}
	for _, k := range keys {
		e.put(t, "list", k, []byte(k))
	}
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)

	t.Run("v2 delimiter", func(t *testing.T) {
		out, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		var objs, prefixes []string
		for _, o := range out.Contents {
			objs = append(objs, aws.ToString(o.Key))
			if aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) || aws.ToString(o.ETag) != `"`+md5Hex([]byte(aws.ToString(o.Key)))+`"` {
				t.Fatalf("entry %s: size %d etag %s", aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToString(o.ETag))
			}
			if o.Owner != nil {
				t.Fatal("owner without fetch-owner")
			}
		}
		for _, p := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
		if strings.Join(objs, "|") != "c|x+y|z%z" || strings.Join(prefixes, "|") != "a/|b/|d e/|日本/" {
			t.Fatalf("objects %v prefixes %v", objs, prefixes)
		}
		if aws.ToInt32(out.KeyCount) != 7 || aws.ToBool(out.IsTruncated) {
			t.Fatalf("key count %d truncated %v", aws.ToInt32(out.KeyCount), aws.ToBool(out.IsTruncated))
		}
	})
	t.Run("v2 pages", func(t *testing.T) {
		var got []string
		pages := 0
		p := awss3.NewListObjectsV2Paginator(e.client, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(2), FetchOwner: aws.Bool(true)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
				if o.Owner == nil || aws.ToString(o.Owner.ID) == "" {
					t.Fatal("fetch-owner without owner")
				}
			}
			if pages > 20 {
				t.Fatal("paginator does not end")
			}
		}
		if strings.Join(got, "|") != strings.Join(sorted, "|") || pages != 5 {
			t.Fatalf("%d pages: %v", pages, got)
		}
	})
	t.Run("v2 prefix delimiter pages", func(t *testing.T) {
		var got []string
		p := awss3.NewListObjectsV2Paginator(e.client, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("a/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
			}
			for _, cp := range out.CommonPrefixes {
				got = append(got, aws.ToString(cp.Prefix))
			}
		}
		if strings.Join(got, "|") != "a/1|a/2|a/b/" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("v2 start-after", func(t *testing.T) {
		out, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), StartAfter: aws.String("c")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 4 || aws.ToString(out.Contents[0].Key) != "d e/f" || aws.ToString(out.StartAfter) != "c" {
			t.Fatalf("start-after: %d entries", len(out.Contents))
		}
	})
	t.Run("v2 url encoding", func(t *testing.T) {
		out, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), EncodingType: types.EncodingTypeUrl, Prefix: aws.String("d e")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "d+e/f" || aws.ToString(out.Prefix) != "d+e" || out.EncodingType != types.EncodingTypeUrl {
			t.Fatalf("encoded listing: %+v", out)
		}
		all, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range all.Contents {
			k, err := url.QueryUnescape(aws.ToString(o.Key))
			if err != nil || k != sorted[i] {
				t.Fatalf("decoded key %d = %q, want %q", i, k, sorted[i])
			}
		}
	})
	t.Run("v2 bad token", func(t *testing.T) {
		_, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), ContinuationToken: aws.String("%%%")})
		wantAPIError(t, err, "InvalidArgument", 400)
	})
	t.Run("v1 marker pages", func(t *testing.T) {
		var got []string
		marker := ""
		for i := 0; ; i++ {
			out, err := e.client.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: aws.String("list"), MaxKeys: aws.Int32(4), Marker: aws.String(marker)})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
				if o.Owner == nil {
					t.Fatal("v1 entry without owner")
				}
			}
			if out.NextMarker != nil {
				t.Fatal("NextMarker without delimiter")
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			marker = got[len(got)-1]
			if i > 10 {
				t.Fatal("listing does not end")
			}
		}
		if strings.Join(got, "|") != strings.Join(sorted, "|") {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("v1 next marker with delimiter", func(t *testing.T) {
		out, err := e.client.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: aws.String("list"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextMarker) != "b/" {
			t.Fatalf("truncated %v next marker %q", aws.ToBool(out.IsTruncated), aws.ToString(out.NextMarker))
		}
		out, err = e.client.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: aws.String("list"), Delimiter: aws.String("/"), Marker: out.NextMarker})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.CommonPrefixes) != 2 || aws.ToString(out.CommonPrefixes[0].Prefix) != "d e/" || len(out.Contents) != 3 {
			t.Fatalf("second page: %d prefixes %d objects", len(out.CommonPrefixes), len(out.Contents))
		}
	})
	t.Run("max-keys", func(t *testing.T) {
		out, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 {
			t.Fatalf("max-keys 0: %v", err)
		}
		for q, want := range map[string]string{
			"max-keys=-1":             "Argument maxKeys must be an integer between 0 and 2147483647",
			"max-keys=x":              "Provided max-keys not an integer or within integer range",
			"versions&max-keys=-1":    "max-keys cannot be negative",
			"list-type=2&max-keys=-1": "Argument maxKeys must be an integer between 0 and 2147483647",
		} {
			resp, body := do(t, e.signedRequest(t, "GET", "/list?"+q, nil, nil, ""))
			if xe := checkXMLError(t, resp, body, 400, "InvalidArgument"); xe.Message != want {
				t.Fatalf("%s: message %q, want %q", q, xe.Message, want)
			}
		}
		resp, body := do(t, e.signedRequest(t, "GET", "/list?encoding-type=base64", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
		out2, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(5000)})
		if err != nil || aws.ToInt32(out2.MaxKeys) != 1000 {
			t.Fatalf("max-keys capped: %v %v", aws.ToInt32(out2.MaxKeys), err)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		_, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("nobucket")})
		wantAPIError(t, err, "NoSuchBucket", 404)
		_, err = e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("nobucket"), MaxKeys: aws.Int32(0)})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
}

func TestDeleteAndMissing(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "del")
	ctx := ctxT(t)
	e.put(t, "del", "k", []byte("v"))
	for range 2 { // the second delete finds nothing and still answers 204
		resp, body := do(t, e.signedRequest(t, "DELETE", "/del/k", nil, nil, ""))
		if resp.StatusCode != 204 {
			t.Fatalf("delete: %d %s", resp.StatusCode, body)
		}
	}
	_, _, err := e.get(t, "del", "k", "")
	wantAPIError(t, err, "NoSuchKey", 404)
	_, err = e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("del"), Key: aws.String("k")})
	if httpStatus(err) != 404 {
		t.Fatalf("head deleted: %v", err)
	}
	_, _, err = e.get(t, "nob", "k", "")
	wantAPIError(t, err, "NoSuchBucket", 404)
	_, err = e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("nob"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantAPIError(t, err, "NoSuchBucket", 404)

	resp, body := do(t, e.signedRequest(t, "GET", "/del/missing", nil, nil, ""))
	xe := checkXMLError(t, resp, body, 404, "NoSuchKey")
	if xe.Resource != "/del/missing" {
		t.Fatalf("Resource = %q", xe.Resource)
	}
	req := e.signedRequest(t, "HEAD", "/del/missing", nil, nil, "")
	resp, body = do(t, req)
	if resp.StatusCode != 404 || len(body) != 0 || resp.Header.Get("x-amz-request-id") == "" {
		t.Fatalf("HEAD missing: %d, %d body bytes", resp.StatusCode, len(body))
	}
}

func TestAuth(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "auth")
	ctx := ctxT(t)
	t.Run("wrong secret", func(t *testing.T) {
		_, err := e.newClient(testKey, "wrong", true).ListBuckets(ctx, &awss3.ListBucketsInput{})
		wantAPIError(t, err, "SignatureDoesNotMatch", 403)
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := e.newClient("AKIDUNKNOWN", testSecret, true).ListBuckets(ctx, &awss3.ListBucketsInput{})
		wantAPIError(t, err, "InvalidAccessKeyId", 403)
	})
	t.Run("anonymous", func(t *testing.T) {
		for _, target := range []string{"/", "/auth", "/auth/k", "/auth?versioning"} {
			req, _ := http.NewRequest("GET", e.srv.URL+target, nil)
			resp, body := do(t, req)
			checkXMLError(t, resp, body, 403, "AccessDenied")
		}
	})
	t.Run("presigned get", func(t *testing.T) {
		e.put(t, "auth", "shared", []byte("presigned body"))
		ps := awss3.NewPresignClient(e.client)
		preq, err := ps.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("shared")})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(preq.Method, preq.URL, nil)
		resp, body := do(t, req)
		if resp.StatusCode != 200 || string(body) != "presigned body" {
			t.Fatalf("presigned: %d %s", resp.StatusCode, body)
		}
	})
}

func TestUnsupported(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "unsup")
	ctx := ctxT(t)
	_, err := e.client.SelectObjectContent(ctx, &awss3.SelectObjectContentInput{Bucket: aws.String("unsup"), Key: aws.String("k"),
		Expression: aws.String("select * from s3object"), ExpressionType: types.ExpressionTypeSql,
		InputSerialization: &types.InputSerialization{}, OutputSerialization: &types.OutputSerialization{}})
	wantAPIError(t, err, "NotImplemented", 501)
	resp, body := do(t, e.signedRequest(t, "PATCH", "/unsup/k", nil, nil, ""))
	checkXMLError(t, resp, body, 501, "NotImplemented")
	resp, body = do(t, e.signedRequest(t, "PUT", "/", nil, nil, ""))
	checkXMLError(t, resp, body, 405, "MethodNotAllowed")
}

// Requests that fit no operation get S3's answer before authorization, so
// anonymous callers see it too; a 405 names the method and resource type.
func TestRequestShapeErrors(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "shape")
	for _, c := range []struct {
		method, target string
		hdr            http.Header
		status         int
		code           string
		fields         []string
		allow          string
	}{
		{"PUT", "/shape/k?partNumber=1", nil, 400, "InvalidArgument", []string{"<ArgumentName>partNumber</ArgumentName>"}, ""},
		{"PUT", "/shape/k?uploadId=u", nil, 405, "MethodNotAllowed", []string{"<Method>PUT</Method>", "<ResourceType>UPLOAD</ResourceType>"}, "DELETE, POST, GET"},
		{"POST", "/", nil, 405, "MethodNotAllowed", []string{"<Method>POST</Method>", "<ResourceType>SERVICE</ResourceType>"}, ""},
		{"POST", "/shape/k?upload", nil, 405, "MethodNotAllowed", []string{"<ResourceType>OBJECT</ResourceType>"}, ""},
		{"GET", "/shape/k?uploads", nil, 400, "InvalidRequest", nil, ""},
		{"GET", "/shape/k?versions", nil, 400, "InvalidRequest", nil, ""},
		{"DELETE", "/shape/k", http.Header{"X-Amz-Copy-Source": {"shape/other"}}, 400, "InvalidArgument", []string{"<ArgumentValue>shape/other</ArgumentValue>"}, ""},
	} {
		for _, signed := range []bool{true, false} {
			var req *http.Request
			if signed {
				req = e.signedRequest(t, c.method, c.target, nil, c.hdr, "")
			} else {
				req, _ = http.NewRequest(c.method, e.srv.URL+c.target, nil)
				for k, v := range c.hdr {
					req.Header[k] = v
				}
			}
			resp, body := do(t, req)
			checkXMLError(t, resp, body, c.status, c.code)
			for _, f := range c.fields {
				if !strings.Contains(string(body), f) {
					t.Errorf("%s %s (signed %v): body lacks %s: %s", c.method, c.target, signed, f, body)
				}
			}
			if got := resp.Header.Get("Allow"); got != c.allow {
				t.Errorf("%s %s: Allow %q, want %q", c.method, c.target, got, c.allow)
			}
		}
	}
}

func TestPutBodyChecks(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "body")
	data := randBytes(3*int(testParams.StripeSize())+1, 3)
	stored := e.shards.Count()

	t.Run("payload hash mismatch", func(t *testing.T) {
		other := sha256.Sum256([]byte("something else"))
		req := e.signedRequest(t, "PUT", "/body/k", data, nil, hex.EncodeToString(other[:]))
		resp, body := do(t, req)
		checkXMLError(t, resp, body, 400, "XAmzContentSHA256Mismatch")
	})
	t.Run("content-md5 mismatch", func(t *testing.T) {
		wrong := md5.Sum([]byte("nope"))
		req := e.signedRequest(t, "PUT", "/body/k", data, http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(wrong[:])}}, "")
		resp, body := do(t, req)
		checkXMLError(t, resp, body, 400, "BadDigest")
	})
	t.Run("content-md5 invalid", func(t *testing.T) {
		req := e.signedRequest(t, "PUT", "/body/k", data, http.Header{"Content-Md5": {"not base64!"}}, "")
		resp, body := do(t, req)
		checkXMLError(t, resp, body, 400, "InvalidDigest")
	})
	t.Run("missing content length", func(t *testing.T) {
		req := e.signedRequest(t, "PUT", "/body/k", nil, nil, "UNSIGNED-PAYLOAD")
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.ContentLength = -1 // chunked transfer coding, no length
		resp, body := do(t, req)
		checkXMLError(t, resp, body, 411, "MissingContentLength")
	})
	if e.meta.Object("body", "k") != nil {
		t.Fatal("a rejected PUT committed an object")
	}
	if e.shards.Count() != stored || e.shards.Open() != 0 {
		t.Fatalf("rejected PUTs left %d shards, %d uploads open", e.shards.Count()-stored, e.shards.Open())
	}
	t.Run("content-md5 match", func(t *testing.T) {
		sum := md5.Sum(data)
		req := e.signedRequest(t, "PUT", "/body/k", data, http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}, "")
		if resp, body := do(t, req); resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5Hex(data)+`"` {
			t.Fatalf("put: %d %s", resp.StatusCode, body)
		}
	})
}

func TestVirtualHostStyle(t *testing.T) {
	e := newTestEnv(t)
	vh := e.newClient(testKey, testSecret, false)
	ctx := ctxT(t)
	if _, err := vh.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("vhost")}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(20000, 4)
	if _, err := vh.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/file name.bin"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	// Written virtual-host style, read path style: the same object.
	got, _, err := e.get(t, "vhost", "dir/file name.bin", "bytes=100-")
	if err != nil || !bytes.Equal(got, data[100:]) {
		t.Fatalf("path-style read: %v", err)
	}
	out, err := vh.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("vhost")})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "dir/file name.bin" {
		t.Fatalf("virtual-host list: %v", err)
	}
}

func TestOddKeys(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "odd")
	for _, key := range []string{"a b", "a+b", "ü/ñ/日本", "x=y&z", "tilde~", "%41", "dots/../x", "semi;colon", "q?mark", "hash#tag", strings.Repeat("k", 1024)} {
		t.Run(key[:min(len(key), 20)], func(t *testing.T) {
			e.put(t, "odd", key, []byte(key))
			got, _, err := e.get(t, "odd", key, "")
			if err != nil || string(got) != key {
				t.Fatalf("round trip %q: %q %v", key, got, err)
			}
		})
	}
	_, err := e.client.PutObject(ctxT(t), &awss3.PutObjectInput{Bucket: aws.String("odd"), Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")})
	wantAPIError(t, err, "KeyTooLongError", 400)
}

func TestStorageFailures(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "fail")
	ctx := ctxT(t)
	data := randBytes(10*int(testParams.StripeSize())+5, 5)
	e.put(t, "fail", "obj", data)
	seg := e.meta.Object("fail", "obj").GetSegments()[0]
	ids := seg.GetNodeIds()

	t.Run("m nodes down: reconstruct", func(t *testing.T) {
		e.nodes.Remove(ids[0])
		e.nodes.Remove(ids[3])
		got, _, err := e.get(t, "fail", "obj", "")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("degraded read: %v", err)
		}
	})
	t.Run("put needs the write quorum of live nodes", func(t *testing.T) {
		_, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("fail"), Key: aws.String("new"), Body: strings.NewReader("x")})
		wantAPIError(t, err, "ServiceUnavailable", 503)
		var ae smithy.APIError
		errors.As(err, &ae)
		if !strings.Contains(ae.ErrorMessage(), "need 5 live storage nodes for a write (6 shards, write quorum 5), 4 live") {
			t.Fatalf("message = %q", ae.ErrorMessage())
		}
	})
	t.Run("m+1 nodes down: unavailable", func(t *testing.T) {
		e.nodes.Remove(ids[5])
		_, _, err := e.get(t, "fail", "obj", "")
		wantAPIError(t, err, "ServiceUnavailable", 503)
	})
	for _, i := range []int{0, 3, 5} {
		for _, m := range fake.StorageNodes(testRegion, 6) {
			if m.ID == ids[i] {
				e.nodes.Add(m)
			}
		}
	}
	t.Run("failure after the first byte aborts the response", func(t *testing.T) {
		for _, i := range []int{1, 2, 4} {
			m, _ := e.nodes.Lookup("storagenode", ids[i])
			e.shards.FailReadsAfter(m.GRPCAddr, int64(testParams.BlockSize))
		}
		out, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("fail"), Key: aws.String("obj")})
		if err != nil {
			t.Fatalf("headers should arrive before the failure: %v", err)
		}
		got, err := io.ReadAll(out.Body)
		_ = out.Body.Close()
		if err == nil {
			t.Fatalf("read %d of %d bytes without an error: a short body was sent silently", len(got), len(data))
		}
		if !bytes.Equal(got, data[:len(got)]) {
			t.Fatal("wrong bytes before the abort")
		}
	})
	t.Run("metadata unavailable", func(t *testing.T) {
		e.meta.SetUnavailable(true)
		defer e.meta.SetUnavailable(false)
		_, err := e.client.ListBuckets(ctx, &awss3.ListBucketsInput{})
		wantAPIError(t, err, "ServiceUnavailable", 503)
	})
}

func TestMetrics(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "met")
	e.put(t, "met", "k", []byte("12345"))
	if _, _, err := e.get(t, "met", "k", ""); err != nil {
		t.Fatal(err)
	}
	_, _, _ = e.get(t, "met", "missing", "")
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := []string{mf.GetName()}
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			found[strings.Join(labels, ",")] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	for _, want := range []string{
		"anvil_gateway_s3_requests_total,operation=PutObject,status_class=2xx",
		"anvil_gateway_s3_requests_total,operation=GetObject,status_class=2xx",
		"anvil_gateway_s3_requests_total,operation=GetObject,status_class=4xx",
		"anvil_gateway_s3_requests_total,operation=CreateBucket,status_class=2xx",
		"anvil_gateway_s3_request_duration_seconds,operation=PutObject",
	} {
		if found[want] < 1 {
			t.Errorf("metric %s = %v", want, found[want])
		}
	}
	if found["anvil_gateway_s3_bytes_received_total"] < 5 || found["anvil_gateway_s3_bytes_sent_total"] < 5 {
		t.Errorf("byte counters: %v / %v", found["anvil_gateway_s3_bytes_received_total"], found["anvil_gateway_s3_bytes_sent_total"])
	}
}

func TestRequestLog(t *testing.T) {
	var logs syncBuffer
	e := newTestEnvLog(t, &logs)
	e.createBucket(t, "logged")
	e.put(t, "logged", "dir/key", []byte("12345"))
	_, _, _ = e.get(t, "logged", "missing", "")
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "s3 request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d request log lines, want 3: %s", len(lines), logs.String())
	}
	put := lines[1]
	if put["operation"] != "PutObject" || put["bucket"] != "logged" || put["key"] != "dir/key" ||
		put["status"] != float64(200) || put["bytes_in"] != float64(5) || put["request_id"] == "" || put["duration"] == nil {
		t.Fatalf("put log line: %v", put)
	}
	if get := lines[2]; get["operation"] != "GetObject" || get["status"] != float64(404) {
		t.Fatalf("get log line: %v", get)
	}
	if out := logs.String(); strings.Contains(out, testSecret) || strings.Contains(out, "Signature=") || strings.Contains(out, "AWS4-HMAC-SHA256 Credential") {
		t.Fatal("logs contain credentials")
	}
}

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
