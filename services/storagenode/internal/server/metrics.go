package server

import (
	"context"
	"path"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/anvil-store/anvil/services/storagenode/internal/shardstore"
)

// Metrics are the storage node's Prometheus metrics.
type Metrics struct {
	bytesWritten     prometheus.Counter
	bytesRead        prometheus.Counter
	shardsWritten    prometheus.Counter
	checksumFailures prometheus.Counter
	capacity         prometheus.Gauge
	free             prometheus.Gauge
	used             prometheus.Gauge
	shards           prometheus.Gauge
	duration         *prometheus.HistogramVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		bytesWritten: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_storagenode_bytes_written_total",
			Help: "Shard data bytes committed to disk.",
		}),
		bytesRead: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_storagenode_bytes_read_total",
			Help: "Shard data bytes sent to readers.",
		}),
		shardsWritten: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_storagenode_shards_written_total",
			Help: "Shards committed.",
		}),
		checksumFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_storagenode_checksum_failures_total",
			Help: "Reads or verifications that found a corrupt shard (checksum mismatch, truncated or malformed file).",
		}),
		capacity: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_storagenode_capacity_bytes",
			Help: "Total size of the filesystems holding the data dirs.",
		}),
		free: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_storagenode_free_bytes",
			Help: "Bytes available on the filesystems holding the data dirs.",
		}),
		used: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_storagenode_used_bytes",
			Help: "Bytes in use on the filesystems holding the data dirs (capacity minus free).",
		}),
		shards: f.NewGauge(prometheus.GaugeOpts{
			Name: "anvil_storagenode_shards",
			Help: "Shards held by the node.",
		}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "anvil_storagenode_request_duration_seconds",
			Help:    "Duration of ShardService calls by method and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"method", "code"}),
	}
}

// ObserveCapacity sets the capacity gauges.
func (m *Metrics) ObserveCapacity(c shardstore.Capacity) {
	m.capacity.Set(float64(c.TotalBytes))
	m.free.Set(float64(c.FreeBytes))
	m.used.Set(float64(c.TotalBytes - min(c.FreeBytes, c.TotalBytes)))
	m.shards.Set(float64(c.Shards))
}

// methodLabel keeps the label set bounded to the service's own methods.
func methodLabel(fullMethod string) string {
	switch m := path.Base(fullMethod); m {
	case "PutShard", "GetShard", "DeleteShard", "StatShard", "ListShards", "NodeInfo":
		return m
	default:
		return "other"
	}
}

func (m *Metrics) observe(fullMethod string, start time.Time, err error) {
	m.duration.WithLabelValues(methodLabel(fullMethod), status.Code(err).String()).Observe(time.Since(start).Seconds())
}

func (m *Metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *Metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}
