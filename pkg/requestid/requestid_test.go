package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// serve starts a gRPC server with the request id interceptors; seen receives
// the id each served call's context carries.
func serve(t *testing.T) (healthpb.HealthClient, <-chan string) {
	t.Helper()
	seen := make(chan string, 8)
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		seen <- From(ctx)
		return handler(ctx, req)
	}
	recordStream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		seen <- From(ss.Context())
		return handler(srv, ss)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(UnaryServerInterceptor(), record),
		grpc.ChainStreamInterceptor(StreamServerInterceptor(), recordStream),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn), seen
}

func TestIDCrossesGRPC(t *testing.T) {
	client, seen := serve(t)
	id := New()
	if len(id) != 16 || !valid(id) {
		t.Fatalf("New() = %q: want 16 valid characters", id)
	}
	ctx := With(context.Background(), id)

	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != id {
		t.Errorf("unary call: server saw id %q, want %q", got, id)
	}

	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != id {
		t.Errorf("stream: server saw id %q, want %q", got, id)
	}

	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "" {
		t.Errorf("call without an id: server saw %q", got)
	}
}

func TestForgedIDsAreDropped(t *testing.T) {
	client, seen := serve(t)
	for _, bad := range []string{"a\"b", "x y", "a=b", "<id>", strings.Repeat("A", 65)} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), MetadataKey, bad)
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := <-seen; got != "" {
			t.Errorf("id %q was accepted as %q", bad, got)
		}
	}
}

func TestLogHandlerAddsID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler{slog.NewJSONHandler(&buf, nil)}).With("service", "test")
	log.InfoContext(With(context.Background(), "ABC123"), "with id")
	log.InfoContext(context.Background(), "without id")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &second); err != nil {
		t.Fatal(err)
	}
	if first[LogKey] != "ABC123" || first["service"] != "test" {
		t.Errorf("first line = %v: want request_id ABC123 and service test", first)
	}
	if _, ok := second[LogKey]; ok {
		t.Errorf("second line = %v: want no request_id", second)
	}
}
