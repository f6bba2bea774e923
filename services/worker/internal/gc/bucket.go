package gc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/worker/internal/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TaskDeleteBucket is queued when a bucket is deleted with objects in it.
const TaskDeleteBucket = "DeleteBucket"

// BucketPayload is the DeleteBucket payload.
type BucketPayload struct {
	BucketID int64  `json:"bucket_id"`
	Bucket   string `json:"bucket"`
}

// bucketBatch is how many versions one CollectBucket call retires: one
// regional transaction each, so a huge bucket never holds locks for long.
const bucketBatch = 500

// BucketRetirer retires a deleted bucket's versions in batches;
// metadatav1.PlacementServiceClient satisfies it.
type BucketRetirer interface {
	CollectBucket(ctx context.Context, in *metadatav1.CollectBucketRequest, opts ...grpc.CallOption) (*metadatav1.CollectBucketResponse, error)
}

// BucketCollector retires the objects of a deleted bucket in batches; each
// batch queues a DeleteObject task per version in the same transaction, and
// those collect the data.
type BucketCollector struct {
	placement   BucketRetirer
	log         *slog.Logger
	callTimeout time.Duration
}

// NewBucketCollector returns a BucketCollector.
func NewBucketCollector(pl BucketRetirer, log *slog.Logger, callTimeout time.Duration) *BucketCollector {
	return &BucketCollector{placement: pl, log: log, callTimeout: callTimeout}
}

// Handle runs one DeleteBucket task. Retiring is idempotent: a second run
// finds fewer (or no) live versions.
func (c *BucketCollector) Handle(ctx context.Context, task *metadatav1.Task) error {
	var p BucketPayload
	if err := json.Unmarshal(task.GetPayload(), &p); err != nil || p.BucketID <= 0 {
		return runner.Permanent(fmt.Errorf("payload: want {\"bucket_id\": ...}: %v", err))
	}
	total := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, c.callTimeout)
		resp, err := c.placement.CollectBucket(cctx, &metadatav1.CollectBucketRequest{Region: task.GetRegion(), BucketId: p.BucketID, Limit: bucketBatch})
		cancel()
		if status.Code(err) == codes.InvalidArgument {
			return runner.Permanent(fmt.Errorf("collect bucket %d: %w", p.BucketID, err))
		}
		if err != nil {
			// FailedPrecondition included: the deletion may still be
			// finishing its global step.
			return fmt.Errorf("collect bucket %d after %d versions: %w", p.BucketID, total, err)
		}
		total += int(resp.GetCollected())
		if resp.GetDone() {
			c.log.Info("bucket collected", "bucket", p.Bucket, "bucket_id", p.BucketID, "versions", total)
			return nil
		}
	}
}
