package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/metadata/internal/migrations"
	"github.com/anvil-store/anvil/services/metadata/internal/pgtest"
	"github.com/anvil-store/anvil/services/metadata/internal/store"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// reasonOf returns the ErrorInfo reason of a gRPC error, checking its
// domain.
func reasonOf(t *testing.T, err error) string {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.Domain != ErrorDomain {
				t.Fatalf("error info domain %q", info.Domain)
			}
			return info.Reason
		}
	}
	return ""
}

func TestErrorTableCoversEverySentinel(t *testing.T) {
	want := map[string]struct {
		code   codes.Code
		reason string
	}{
		"ErrNoSuchBucket":       {codes.NotFound, "REASON_NO_SUCH_BUCKET"},
		"ErrNoSuchKey":          {codes.NotFound, "REASON_NO_SUCH_KEY"},
		"ErrNoSuchVersion":      {codes.NotFound, "REASON_NO_SUCH_VERSION"},
		"ErrBucketExists":       {codes.AlreadyExists, "REASON_BUCKET_ALREADY_EXISTS"},
		"ErrBucketNotEmpty":     {codes.FailedPrecondition, "REASON_BUCKET_NOT_EMPTY"},
		"ErrNoSuchRegion":       {codes.InvalidArgument, "REASON_NO_SUCH_REGION"},
		"ErrRegionNotServed":    {codes.FailedPrecondition, "REASON_NO_SUCH_REGION"},
		"ErrInvalidArgument":    {codes.InvalidArgument, ""},
		"ErrPreconditionFailed": {codes.FailedPrecondition, "REASON_PRECONDITION_FAILED"},
		"ErrNoSuchBucketConfig": {codes.NotFound, "REASON_NO_SUCH_BUCKET_CONFIG"},
		"ErrNoSuchUpload":       {codes.NotFound, "REASON_NO_SUCH_UPLOAD"},
		"ErrInvalidPart":        {codes.FailedPrecondition, "REASON_INVALID_PART"},
		"ErrInvalidPartOrder":   {codes.InvalidArgument, "REASON_INVALID_PART_ORDER"},
		"ErrEntityTooSmall":     {codes.FailedPrecondition, "REASON_ENTITY_TOO_SMALL"},
		"ErrNoSuchSegment":      {codes.NotFound, ""},
		"ErrObjectLocked":       {codes.PermissionDenied, "REASON_OBJECT_LOCKED"},
		"ErrInvalidBucketState": {codes.FailedPrecondition, "REASON_INVALID_BUCKET_STATE"},
	}
	for name, sentinel := range store.Sentinels() {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("sentinel %s has no expectation in this test: add it to the error table and here", name)
			}
			st, expected := toStatus(fmt.Errorf("do something: %w", sentinel))
			if !expected {
				t.Fatalf("%s is not in the error table", name)
			}
			err := st.Err()
			if status.Code(err) != w.code || reasonOf(t, err) != w.reason {
				t.Fatalf("%s -> %v %q, want %v %q", name, status.Code(err), reasonOf(t, err), w.code, w.reason)
			}
			if st.Message() == "" {
				t.Fatal("empty message")
			}
		})
	}
	if len(want) != len(store.Sentinels()) {
		t.Fatalf("test expects %d sentinels, store has %d", len(want), len(store.Sentinels()))
	}
}

func TestUnmappedErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"canceled", fmt.Errorf("read: %w", context.Canceled), codes.Canceled},
		{"deadline", fmt.Errorf("read: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"anything else", errors.New(`ERROR: relation "x" does not exist`), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := toStatus(tt.err)
			if st.Code() != tt.code {
				t.Fatalf("got %v, want %v", st.Code(), tt.code)
			}
			if tt.code == codes.Internal && st.Message() != "internal error" {
				t.Fatalf("internal error leaks %q", st.Message())
			}
		})
	}
}

func TestInterceptor(t *testing.T) {
	reg := prometheus.NewRegistry()
	icpt := UnaryInterceptor(NewMetrics(reg), discard())
	info := &grpc.UnaryServerInfo{FullMethod: "/anvil.metadata.v1.MetadataService/GetObject"}
	tests := []struct {
		name    string
		handler grpc.UnaryHandler
		code    codes.Code
	}{
		{"ok, with a deadline", func(ctx context.Context, _ any) (any, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("no deadline")
			}
			return "ok", nil
		}, codes.OK},
		{"store error", func(context.Context, any) (any, error) {
			return nil, fmt.Errorf("get: %w", store.ErrNoSuchKey)
		}, codes.NotFound},
		{"status passes through", func(context.Context, any) (any, error) {
			return nil, status.Error(codes.InvalidArgument, "bad")
		}, codes.InvalidArgument},
		{"panic", func(context.Context, any) (any, error) { panic("boom") }, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := icpt(context.Background(), nil, info, tt.handler)
			if status.Code(err) != tt.code {
				t.Fatalf("got %v (%v), want %v", status.Code(err), err, tt.code)
			}
		})
	}
	if n := testutil.CollectAndCount(reg, "anvil_metadata_grpc_request_duration_seconds"); n != len(tests) {
		t.Fatalf("%d duration series, want %d (one per code)", n, len(tests))
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}
}

// serve starts the service over real databases on a loopback listener and
// returns a client.
func serve(t *testing.T, reg *prometheus.Registry) metadatav1.MetadataServiceClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	global := pgtest.Pool(t, pgtest.NewDB(t, "global"))
	regional := pgtest.Pool(t, pgtest.NewDB(t, "us_east_1"))
	if _, err := migrations.Apply(ctx, global, migrations.Global, discard()); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Apply(ctx, regional, migrations.Regional, discard()); err != nil {
		t.Fatal(err)
	}
	st := store.New(global, map[string]*pgxpool.Pool{"us-east-1": regional}, store.Options{Registerer: reg})
	if err := st.EnsureRegions(ctx); err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(UnaryInterceptor(NewMetrics(reg), discard())))
	metadatav1.RegisterMetadataServiceServer(srv, New(st, discard()))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return metadatav1.NewMetadataServiceClient(conn)
}

func TestRoundTrip(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := serve(t, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	expectErr := func(t *testing.T, err error, code codes.Code, reason string) {
		t.Helper()
		if status.Code(err) != code || reasonOf(t, err) != reason {
			t.Fatalf("got %v (reason %q), want %v (reason %q)", err, reasonOf(t, err), code, reason)
		}
	}

	created, err := c.CreateBucket(ctx, &metadatav1.CreateBucketRequest{Name: "media", Region: "us-east-1", DataShards: 4, ParityShards: 2})
	if err != nil {
		t.Fatal(err)
	}
	if b := created.GetBucket(); b.GetName() != "media" || b.GetDataShards() != 4 || b.GetParityShards() != 2 || b.GetCreatedAt() == nil {
		t.Fatalf("created %v", b)
	}

	version := &metadatav1.ObjectVersion{
		Bucket:             "media",
		Key:                "films/\u4e16/intro.mp4",
		Size:               300,
		Etag:               "0123456789abcdef0123456789abcdef",
		ContentType:        "video/mp4",
		ContentEncoding:    "identity",
		CacheControl:       "max-age=60",
		ContentDisposition: "inline",
		ContentLanguage:    "en",
		Expires:            "Thu, 01 Dec 2094 16:00:00 GMT",
		UserMetadata:       map[string]string{"camera": "x100", "empty": ""},
		Segments: []*metadatav1.Segment{
			{DataId: "obj-1.p1", Size: 200, DataShards: 4, ParityShards: 2, BlockSize: 65536, NodeIds: []string{"a", "b", "c", "d", "e", ""}, PartNumber: 1, Etag: "p1"},
			{DataId: "obj-1.p2", Size: 100, DataShards: 4, ParityShards: 2, BlockSize: 65536, NodeIds: []string{"a", "b", "c", "d", "e", "f"}, PartNumber: 2, Etag: "p2"},
		},
	}

	t.Run("errors", func(t *testing.T) {
		_, err := c.CreateBucket(ctx, &metadatav1.CreateBucketRequest{Name: "media", Region: "us-east-1", DataShards: 4, ParityShards: 2})
		expectErr(t, err, codes.AlreadyExists, "REASON_BUCKET_ALREADY_EXISTS")
		_, err = c.CreateBucket(ctx, &metadatav1.CreateBucketRequest{Name: "other", Region: "mars-1", DataShards: 4, ParityShards: 2})
		expectErr(t, err, codes.InvalidArgument, "REASON_NO_SUCH_REGION")
		_, err = c.CreateBucket(ctx, &metadatav1.CreateBucketRequest{Name: "other", Region: "us-east-1", DataShards: 0, ParityShards: 2})
		expectErr(t, err, codes.InvalidArgument, "")
		_, err = c.GetBucket(ctx, &metadatav1.GetBucketRequest{Name: "nope"})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_BUCKET")
		_, err = c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "nope", Key: "k"})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_BUCKET")
		_, err = c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "media", Key: "k"})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_KEY")
		_, err = c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "media", Key: "k", VersionId: "v1"})
		expectErr(t, err, codes.InvalidArgument, "")
		_, err = c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "media", Key: "k", VersionId: "00000000-0000-0000-0000-000000000000"})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_VERSION")
		_, err = c.CommitObject(ctx, &metadatav1.CommitObjectRequest{})
		expectErr(t, err, codes.InvalidArgument, "")
		_, err = c.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: &metadatav1.ObjectVersion{Bucket: "nope", Key: "k"}})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_BUCKET")
		_, err = c.ListObjects(ctx, &metadatav1.ListObjectsRequest{Bucket: "media", MaxKeys: -5})
		expectErr(t, err, codes.InvalidArgument, "")
	})

	var committed *metadatav1.ObjectVersion
	t.Run("commit and get", func(t *testing.T) {
		resp, err := c.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: version})
		if err != nil {
			t.Fatal(err)
		}
		committed = resp.GetVersion()
		if committed.GetVersionId() == "" || committed.GetLastModified() == nil {
			t.Fatalf("commit assigned no version id or time: %v", committed)
		}
		want := proto.Clone(version).(*metadatav1.ObjectVersion)
		want.VersionId, want.LastModified, want.IsLatest = committed.GetVersionId(), committed.GetLastModified(), true
		if !proto.Equal(committed, want) {
			t.Fatalf("commit returned\n%v\nwant\n%v", committed, want)
		}
		for _, versionID := range []string{"", committed.GetVersionId()} {
			got, err := c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "media", Key: version.GetKey(), VersionId: versionID})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got.GetVersion(), want) {
				t.Fatalf("get %q returned\n%v\nwant\n%v", versionID, got.GetVersion(), want)
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		for _, k := range []string{"films/a.mp4", "films/b.mp4", "notes.txt"} {
			if _, err := c.CommitObject(ctx, &metadatav1.CommitObjectRequest{Version: &metadatav1.ObjectVersion{Bucket: "media", Key: k}}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := c.ListObjects(ctx, &metadatav1.ListObjectsRequest{Bucket: "media", Prefix: "films/", Delimiter: "/", MaxKeys: 2})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range resp.GetObjects() {
			keys = append(keys, o.GetKey())
		}
		if !slices.Equal(keys, []string{"films/a.mp4", "films/b.mp4"}) || len(resp.GetCommonPrefixes()) != 0 ||
			!resp.GetTruncated() || resp.GetNextMarker() != "films/b.mp4" {
			t.Fatalf("page 1: %v", resp)
		}
		resp, err = c.ListObjects(ctx, &metadatav1.ListObjectsRequest{Bucket: "media", Prefix: "films/", Delimiter: "/", MaxKeys: 2, StartAfter: resp.GetNextMarker()})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetObjects()) != 0 || !slices.Equal(resp.GetCommonPrefixes(), []string{"films/\u4e16/"}) || resp.GetTruncated() || resp.GetNextMarker() != "" {
			t.Fatalf("page 2: %v", resp)
		}
	})

	t.Run("delete", func(t *testing.T) {
		_, err := c.DeleteBucket(ctx, &metadatav1.DeleteBucketRequest{Name: "media"})
		expectErr(t, err, codes.FailedPrecondition, "REASON_BUCKET_NOT_EMPTY")
		for _, k := range []string{version.GetKey(), "films/a.mp4", "films/b.mp4", "notes.txt"} {
			resp, err := c.DeleteObject(ctx, &metadatav1.DeleteObjectRequest{Bucket: "media", Key: k})
			if err != nil || !resp.GetDeleted() {
				t.Fatalf("delete %s: %v %v", k, resp, err)
			}
		}
		resp, err := c.DeleteObject(ctx, &metadatav1.DeleteObjectRequest{Bucket: "media", Key: "notes.txt"})
		if err != nil || resp.GetDeleted() {
			t.Fatalf("delete a missing key: %v %v", resp, err)
		}
		_, err = c.GetObject(ctx, &metadatav1.GetObjectRequest{Bucket: "media", Key: version.GetKey(), VersionId: committed.GetVersionId()})
		expectErr(t, err, codes.NotFound, "REASON_NO_SUCH_VERSION")
		if _, err := c.DeleteBucket(ctx, &metadatav1.DeleteBucketRequest{Name: "media"}); err != nil {
			t.Fatal(err)
		}
		list, err := c.ListBuckets(ctx, &metadatav1.ListBucketsRequest{})
		if err != nil || len(list.GetBuckets()) != 0 {
			t.Fatalf("buckets after delete: %v %v", list, err)
		}
	})

	if n := testutil.CollectAndCount(reg, "anvil_metadata_grpc_request_duration_seconds"); n == 0 {
		t.Fatal("no request durations recorded")
	}
}
