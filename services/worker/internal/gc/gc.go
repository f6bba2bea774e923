// Package gc collects the data of deleted and replaced versions and of
// unused multipart parts: it deletes their shards from the storage nodes
// and purges the version rows.
//
// Task payloads (JSON, written by the metadata service's outbox):
//
//	DeleteObject: {"bucket_id": 7, "bucket": "b", "key": "k", "version_id": "<uuid>",
//	               "segments": [{"data_id": "...", "node_ids": ["sn-1", "", ...], ...}]}
//	DeleteParts:  {"bucket_id": 7, "bucket": "b", "key": "k", "upload_id": "<uuid>",
//	               "segments": [...]}
//
// Shard i of a segment is "<data_id>.<i>" on node node_ids[i]; an empty
// node id is a shard that was never written. A payload with a version_id
// has its version row purged.
//
// Order: the version row is purged first, then the shards are deleted. The
// metadata service purges only a soft-deleted row, so a task that would
// name live data is refused before a single shard is touched. A crash after
// the purge leaves the task leased; it runs again, finds the row gone
// (purging twice succeeds) and deletes the shards. Deleting a missing shard
// succeeds, so every step may be repeated.
package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"sync"
	"time"

	"github.com/anvil-store/anvil/pkg/shardclient"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Task types collected here: each has a payload with segments.
const (
	TaskDeleteObject = "DeleteObject"
	TaskDeleteParts  = "DeleteParts"
)

// Types lists the task types Handle serves.
func Types() []string { return []string{TaskDeleteObject, TaskDeleteParts} }

// Segment is the part of a stored segment the collector needs.
type Segment struct {
	DataID  string   `json:"data_id"`
	NodeIDs []string `json:"node_ids"`
}

// Payload is the payload of the task types collected here.
type Payload struct {
	BucketID  int64     `json:"bucket_id"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	VersionID string    `json:"version_id,omitempty"`
	UploadID  string    `json:"upload_id,omitempty"`
	Segments  []Segment `json:"segments"`
}

// maxShardsPerSegment matches the erasure limit of k+m <= 256.
const maxShardsPerSegment = 256

// ShardDeleter deletes shards by node id.
type ShardDeleter interface {
	DeleteShard(ctx context.Context, nodeID, shardID string) (existed bool, err error)
}

// Purger purges version rows; metadatav1.TaskServiceClient satisfies it.
type Purger interface {
	PurgeVersion(ctx context.Context, in *metadatav1.PurgeVersionRequest, opts ...grpc.CallOption) (*metadatav1.PurgeVersionResponse, error)
}

// Options tune a Collector.
type Options struct {
	// Parallel bounds the shard deletions in flight per task.
	Parallel int
	// CallTimeout bounds a PurgeVersion call.
	CallTimeout time.Duration
}

// Collector is the handler of the collected task types.
type Collector struct {
	shards  ShardDeleter
	purger  Purger
	log     *slog.Logger
	opts    Options
	deleted prometheus.Counter
	purged  prometheus.Counter
}

// New returns a Collector.
func New(shards ShardDeleter, purger Purger, log *slog.Logger, reg prometheus.Registerer, opts Options) *Collector {
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	f := promauto.With(reg)
	return &Collector{
		shards: shards, purger: purger, log: log, opts: opts,
		deleted: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_shards_deleted_total",
			Help: "Shard files deleted from storage nodes by garbage collection.",
		}),
		purged: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_worker_versions_purged_total",
			Help: "Soft-deleted version rows purged after collection.",
		}),
	}
}

// ParsePayload decodes and checks a payload. Errors are permanent: the
// same bytes will never parse.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Payload{}, fmt.Errorf("decode payload: %w", err)
	}
	if p.VersionID != "" && p.BucketID <= 0 {
		return Payload{}, fmt.Errorf("payload: version %s without a bucket id", p.VersionID)
	}
	for i, s := range p.Segments {
		if s.DataID == "" {
			return Payload{}, fmt.Errorf("payload: segment %d has no data id", i)
		}
		if len(s.NodeIDs) > maxShardsPerSegment {
			return Payload{}, fmt.Errorf("payload: segment %d has %d shards, at most %d", i, len(s.NodeIDs), maxShardsPerSegment)
		}
	}
	return p, nil
}

// Handle collects one task.
func (c *Collector) Handle(ctx context.Context, task *metadatav1.Task) error {
	p, err := ParsePayload(task.GetPayload())
	if err != nil {
		return runner.Permanent(err)
	}
	if p.VersionID != "" {
		if err := c.purge(ctx, task.GetRegion(), p); err != nil {
			return err
		}
	}
	return c.deleteShards(ctx, p)
}

func (c *Collector) purge(ctx context.Context, region string, p Payload) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	resp, err := c.purger.PurgeVersion(ctx, &metadatav1.PurgeVersionRequest{
		Region: region, BucketId: p.BucketID, Key: p.Key, VersionId: p.VersionID,
	})
	if err != nil {
		err = fmt.Errorf("purge version %s: %w", p.VersionID, err)
		// Refused (live data, bad ids, region not served): retrying the
		// same request cannot help; the task goes dead for an operator.
		switch status.Code(err) {
		case codes.InvalidArgument, codes.FailedPrecondition:
			return runner.Permanent(err)
		}
		return err
	}
	if resp.GetPurged() {
		c.purged.Inc()
	}
	return nil
}

// deleteShards deletes every written shard of the payload's segments, a
// bounded number at a time, and returns the errors of those that failed.
func (c *Collector) deleteShards(ctx context.Context, p Payload) error {
	type job struct{ node, shard string }
	var jobs []job
	for _, s := range p.Segments {
		for i, node := range s.NodeIDs {
			if node != "" {
				jobs = append(jobs, job{node, shardclient.ShardID(s.DataID, i)})
			}
		}
	}
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, c.opts.Parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			existed, err := c.shards.DeleteShard(ctx, j.node, j.shard)
			if err != nil {
				// A refused shard id will be refused again.
				if status.Code(err) == codes.InvalidArgument {
					err = runner.Permanent(err)
				}
				errs[i] = err
				return
			}
			if existed {
				c.deleted.Inc()
			}
		})
	}
	wg.Wait()
	var retry, permanent []error
	for _, err := range errs {
		switch {
		case err == nil:
		case runner.IsPermanent(err):
			permanent = append(permanent, err)
		default:
			retry = append(retry, err)
		}
	}
	failed := len(retry) + len(permanent)
	if failed == 0 {
		return nil
	}
	if len(retry) == 0 {
		return runner.Permanent(fmt.Errorf("delete %d of %d shards: %w", failed, len(jobs), errors.Join(permanent...)))
	}
	// Worth retrying while any shard may still go: the refused ones stay in
	// the message, not as permanent errors that would park the task now.
	for _, err := range permanent {
		retry = append(retry, errors.New(err.Error()))
	}
	return fmt.Errorf("delete %d of %d shards: %w", failed, len(jobs), errors.Join(retry...))
}
