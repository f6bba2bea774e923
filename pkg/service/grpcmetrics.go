package service

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// GRPCMetrics are the standard gRPC server and client metrics
// (grpc_server_handled_total, grpc_server_handling_seconds,
// grpc_client_handled_total, grpc_client_handling_seconds, ... by service,
// method and code), registered with a service's registry.
type GRPCMetrics struct {
	server *grpcprom.ServerMetrics
	client *grpcprom.ClientMetrics
}

// NewGRPCMetrics registers the gRPC metrics with reg.
func NewGRPCMetrics(reg prometheus.Registerer) *GRPCMetrics {
	buckets := grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30})
	m := &GRPCMetrics{
		server: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(buckets)),
		client: grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(buckets)),
	}
	reg.MustRegister(m.server, m.client)
	return m
}

// ServerOptions instrument a gRPC server; pass them first to grpc.NewServer.
func (m *GRPCMetrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.server.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.server.StreamServerInterceptor()),
	}
}

// DialOptions instrument a gRPC client connection.
func (m *GRPCMetrics) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(m.client.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(m.client.StreamClientInterceptor()),
	}
}
