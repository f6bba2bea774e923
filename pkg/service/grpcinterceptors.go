package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/anvil-store/anvil/pkg/requestid"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GRPCInterceptors are what every Anvil gRPC server and client runs: the
// request id carried across services (package requestid), the standard gRPC
// metrics (grpc_server_handled_total, grpc_server_handling_seconds,
// grpc_client_handled_total, grpc_client_handling_seconds, ... by service,
// method and code), and a log line per served call.
type GRPCInterceptors struct {
	server *grpcprom.ServerMetrics
	client *grpcprom.ClientMetrics
	log    *slog.Logger
}

// NewGRPCInterceptors registers the gRPC metrics with reg; served calls are
// logged to log.
func NewGRPCInterceptors(reg prometheus.Registerer, log *slog.Logger) *GRPCInterceptors {
	buckets := grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30})
	m := &GRPCInterceptors{
		server: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(buckets)),
		client: grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(buckets)),
		log:    log,
	}
	reg.MustRegister(m.server, m.client)
	return m
}

// ServerOptions instrument a gRPC server; pass them first to grpc.NewServer.
// The request id goes into the context first, so later steps log it.
func (m *GRPCInterceptors) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(requestid.UnaryServerInterceptor(), m.server.UnaryServerInterceptor(), m.logUnary),
		grpc.ChainStreamInterceptor(requestid.StreamServerInterceptor(), m.server.StreamServerInterceptor(), m.logStream),
	}
}

// DialOptions instrument a gRPC client connection.
func (m *GRPCInterceptors) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(requestid.UnaryClientInterceptor(), m.client.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(requestid.StreamClientInterceptor(), m.client.StreamClientInterceptor()),
	}
}

func (m *GRPCInterceptors) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (m *GRPCInterceptors) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}

// logCall logs a served call at debug level, or at warn when the server
// failed it (a caller's mistake such as NotFound stays at debug).
func (m *GRPCInterceptors) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelDebug
	switch code {
	case codes.Unknown, codes.Internal, codes.Unavailable, codes.DataLoss, codes.DeadlineExceeded, codes.ResourceExhausted:
		level = slog.LevelWarn
	}
	if !m.log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"method", method, "code", code.String(), "duration", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "err", status.Convert(err).Message())
	}
	m.log.Log(ctx, level, "grpc call", attrs...)
}
