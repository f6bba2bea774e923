package s3

import (
	"sync"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/protobuf/proto"
)

// bucketCacheTTL bounds how stale a cached bucket record may be. Only
// presentation uses the cache (whether to show version ids on reads); every
// decision that changes data is made by the metadata service.
const bucketCacheTTL = 2 * time.Second

// maxCachedBuckets bounds the cache's memory; when full it starts over.
const maxCachedBuckets = 4096

type cachedBucket struct {
	b       *metadatav1.Bucket
	fetched time.Time
}

// bucketCache keeps bucket records briefly so that reads need not fetch the
// bucket for every object.
type bucketCache struct {
	mu      sync.Mutex
	entries map[string]cachedBucket
}

func newBucketCache() *bucketCache {
	return &bucketCache{entries: map[string]cachedBucket{}}
}

func (c *bucketCache) get(name string, now time.Time) *metadatav1.Bucket {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || now.Sub(e.fetched) > bucketCacheTTL || now.Before(e.fetched) {
		return nil
	}
	return e.b
}

func (c *bucketCache) put(b *metadatav1.Bucket, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedBuckets {
		c.entries = map[string]cachedBucket{}
	}
	c.entries[b.GetName()] = cachedBucket{b: proto.Clone(b).(*metadatav1.Bucket), fetched: now}
}

func (c *bucketCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, name)
}

// cachedBucket returns the addressed bucket's record, from the cache when
// it is fresh. Callers must not modify it.
func (h *Handler) cachedBucket(req *request) (*metadatav1.Bucket, error) {
	now := h.now()
	if b := h.buckets.get(req.route.Bucket, now); b != nil {
		return b, nil
	}
	b, err := h.bucket(req)
	if err != nil {
		return nil, err
	}
	h.buckets.put(b, now)
	return b, nil
}
