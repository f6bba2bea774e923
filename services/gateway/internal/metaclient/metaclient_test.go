package metaclient_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/fake"
	"github.com/anvil-store/anvil/services/gateway/internal/metaclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestParseAddrs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a:1", "a:1"},
		{"a:1,b:2", "a:1|b:2"},
		{" a:1 , ,b:2,", "a:1|b:2"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := strings.Join(metaclient.ParseAddrs(tt.in), "|"); got != tt.want {
				t.Fatalf("ParseAddrs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDialRoundRobin(t *testing.T) {
	a, b := fake.NewMetadata(time.Now), fake.NewMetadata(time.Now)
	cc, err := metaclient.Dial([]string{a.Listen(t), b.Listen(t)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := metadatav1.NewMetadataServiceClient(cc)
	// The second address may connect a little after the first; once both
	// are up, calls alternate. Bounded so a broken balancer fails the test.
	for i := 0; a.Calls() == 0 || b.Calls() == 0; i++ {
		if i == 500 {
			t.Fatalf("calls split %d/%d after %d calls, want both addresses used", a.Calls(), b.Calls(), i)
		}
		if _, err := client.ListBuckets(context.Background(), &metadatav1.ListBucketsRequest{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDialNoAddresses(t *testing.T) {
	if _, err := metaclient.Dial(nil, time.Second); err == nil {
		t.Fatal("Dial with no addresses succeeded")
	}
}

// blockingMetadata never answers until the call's context ends.
type blockingMetadata struct {
	metadatav1.UnimplementedMetadataServiceServer
}

func (blockingMetadata) ListBuckets(ctx context.Context, _ *metadatav1.ListBucketsRequest) (*metadatav1.ListBucketsResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestDialDefaultDeadline(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	metadatav1.RegisterMetadataServiceServer(srv, blockingMetadata{})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()

	cc, err := metaclient.Dial([]string{lis.Addr().String()}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	// No deadline on the context: the connection's default applies.
	_, err = metadatav1.NewMetadataServiceClient(cc).ListBuckets(context.Background(), &metadatav1.ListBucketsRequest{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}
