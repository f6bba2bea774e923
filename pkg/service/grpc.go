package service

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc"
)

// ServeGRPC serves srv on lis until ctx is done, then stops gracefully,
// forcing the stop when in-flight calls take longer than a grace period.
func ServeGRPC(ctx context.Context, lis net.Listener, srv *grpc.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	<-errc
	return nil
}
