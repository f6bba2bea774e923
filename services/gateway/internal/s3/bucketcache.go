package s3

import (
	"sync"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/protobuf/proto"
)

// bucketCacheTTL bounds how stale a cached bucket record or bucket policy
// may be. Bucket records serve presentation only (whether to show version
// ids on reads); every decision that changes data is made by the metadata
// service. A policy written through another gateway takes effect here
// within this time.
const bucketCacheTTL = 2 * time.Second

// maxCachedBuckets bounds each cache's memory; when full it starts over.
const maxCachedBuckets = 4096

type cacheEntry[T any] struct {
	v       T
	fetched time.Time
}

// ttlCache keeps per-bucket values briefly so that requests need not fetch
// them from the metadata service every time.
type ttlCache[T any] struct {
	mu      sync.Mutex
	entries map[string]cacheEntry[T]
}

func newTTLCache[T any]() *ttlCache[T] {
	return &ttlCache[T]{entries: map[string]cacheEntry[T]{}}
}

func (c *ttlCache[T]) get(name string, now time.Time) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || now.Sub(e.fetched) > bucketCacheTTL || now.Before(e.fetched) {
		var zero T
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[T]) put(name string, v T, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedBuckets {
		c.entries = map[string]cacheEntry[T]{}
	}
	c.entries[name] = cacheEntry[T]{v: v, fetched: now}
}

func (c *ttlCache[T]) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, name)
}

// cachedBucket returns the addressed bucket's record, from the cache when
// it is fresh. Callers must not modify it.
func (h *Handler) cachedBucket(req *request) (*metadatav1.Bucket, error) {
	now := h.now()
	if b, ok := h.buckets.get(req.route.Bucket, now); ok {
		return b, nil
	}
	b, err := h.bucket(req)
	if err != nil {
		return nil, err
	}
	h.cacheBucket(b, now)
	return b, nil
}

// cacheBucket keeps a copy of a bucket record fetched at now.
func (h *Handler) cacheBucket(b *metadatav1.Bucket, now time.Time) {
	h.buckets.put(b.GetName(), proto.Clone(b).(*metadatav1.Bucket), now)
}
