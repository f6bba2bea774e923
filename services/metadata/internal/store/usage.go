package store

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BucketUsage is what a bucket stores: its live versions (current and
// noncurrent; not delete markers, not parts of uploads in progress) and
// their bytes.
type BucketUsage struct {
	Bucket  string
	Region  string
	Objects int64
	Bytes   int64
}

// Usage returns every live bucket's usage, by name. It reads the
// bucket_usage rows that a trigger keeps current on every version change
// (regional migration 0004), never the versions themselves, so it is cheap
// enough to run on each metrics scrape.
func (s *Store) Usage(ctx context.Context) ([]BucketUsage, error) {
	buckets, err := s.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	type total struct{ objects, bytes int64 }
	byRegion := map[string]map[int64]total{}
	for _, region := range s.Regions() {
		pool, err := s.regionalPool(region)
		if err != nil {
			return nil, err
		}
		rows, err := pool.Query(ctx, "SELECT bucket_id, sum(objects)::bigint, sum(bytes)::bigint FROM bucket_usage GROUP BY bucket_id")
		if err != nil {
			return nil, fmt.Errorf("read usage of region %s: %w", region, err)
		}
		totals := map[int64]total{}
		for rows.Next() {
			var id int64
			var t total
			if err := rows.Scan(&id, &t.objects, &t.bytes); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read usage of region %s: %w", region, err)
			}
			totals[id] = t
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read usage of region %s: %w", region, err)
		}
		byRegion[region] = totals
	}
	out := make([]BucketUsage, 0, len(buckets))
	for _, b := range buckets {
		t := byRegion[b.Region][b.ID]
		out = append(out, BucketUsage{Bucket: b.Name, Region: b.Region, Objects: t.objects, Bytes: t.bytes})
	}
	return out, nil
}

// usageTimeout bounds the usage queries of one scrape.
const usageTimeout = 5 * time.Second

var (
	bucketObjectsDesc = prometheus.NewDesc("anvil_metadata_bucket_objects",
		"Live object versions (current and noncurrent, not delete markers) stored in a bucket.",
		[]string{"bucket", "region"}, nil)
	bucketBytesDesc = prometheus.NewDesc("anvil_metadata_bucket_bytes",
		"Bytes of a bucket's live object versions (logical size, before erasure coding).",
		[]string{"bucket", "region"}, nil)
)

// usageCollector reports every bucket's usage on scrape. Per-bucket series
// are the one unbounded label Anvil exports, and only here: one metadata
// service, not every gateway.
type usageCollector struct{ s *Store }

func (c usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bucketObjectsDesc
	ch <- bucketBytesDesc
}

func (c usageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), usageTimeout)
	defer cancel()
	usage, err := c.s.Usage(ctx)
	if err != nil {
		// The scrape goes on without usage; anvil_metadata_database_up
		// tells why.
		c.s.log.Warn("read bucket usage for metrics", "err", err)
		return
	}
	for _, u := range usage {
		ch <- prometheus.MustNewConstMetric(bucketObjectsDesc, prometheus.GaugeValue, float64(u.Objects), u.Bucket, u.Region)
		ch <- prometheus.MustNewConstMetric(bucketBytesDesc, prometheus.GaugeValue, float64(u.Bytes), u.Bucket, u.Region)
	}
}
