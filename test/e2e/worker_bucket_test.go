package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Deleting a bucket that holds 10,000 objects (`anvil admin bucket delete
// --force`) frees everything: the name at once, then every version row and
// every shard file, collected in batches by the worker fleet.
func TestWorkerCollectsDeletedBucket(t *testing.T) {
	const objects = 10000
	c := rootClient()
	bucket := newBucket(t, c)
	global, regional := pgPool(t, cluster.GlobalDB()), pgPool(t, cluster.RegionalDB())
	bucketID := queryInt(t, global, "SELECT id FROM buckets WHERE name = $1 AND deleted_at IS NULL", bucket)

	keys := make(chan int)
	errs := make(chan error, objects)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range keys {
				key := fmt.Sprintf("dir-%02d/obj-%05d", i%50, i)
				body := payload(uint64(20000+i), 1+i*53%3000)
				if _, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
				}
			}
		})
	}
	start := time.Now()
	for i := range objects {
		keys <- i
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("wrote %d objects in %s", objects, time.Since(start).Round(time.Second))
	shardFiles := func() int {
		rows, err := regional.Query(ctx(t), `SELECT s->>'data_id' FROM object_versions, jsonb_array_elements(segments) s WHERE bucket_id = $1`, bucketID)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids[id] = true
		}
		rows.Close()
		n := 0
		for _, files := range storageFiles(t) {
			for f := range files {
				if ids[f[:strings.LastIndexByte(f, '.')]] {
					n++
				}
			}
		}
		return n
	}
	before := shardFiles()
	if before < objects*6 {
		t.Fatalf("%d shard files for %d objects before the delete, want %d", before, objects, objects*6)
	}

	if _, err := c.DeleteBucket(ctx(t), &s3.DeleteBucketInput{Bucket: &bucket}); err == nil {
		t.Fatal("S3 DeleteBucket of a full bucket succeeded")
	}
	out := anvilAdmin(t, "bucket", "delete", bucket, "--force")
	if !strings.Contains(out, "deleted") {
		t.Fatalf("anvil admin bucket delete: %q", out)
	}
	// The name is free at once; the new bucket is a different one.
	if _, err := c.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		t.Fatal("the deleted bucket still answers HEAD")
	}
	if _, err := c.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create a bucket of the freed name: %v", err)
	}
	list, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil || len(list.Contents) != 0 {
		t.Fatalf("the new bucket of that name lists %d objects (%v)", len(list.Contents), err)
	}

	start = time.Now()
	eventually(t, 8*time.Minute, func() string {
		if n := queryInt(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1", bucketID); n > 0 {
			return fmt.Sprintf("%d version rows left", n)
		}
		// Rows go first, then the shards: count files by data id from
		// the collection tasks' payloads.
		if n := queryInt(t, global, `SELECT count(*) FROM tasks
			WHERE type IN ('DeleteBucket', 'DeleteObject') AND (payload->>'bucket_id')::bigint = $1 AND status <> 'done'`, bucketID); n > 0 {
			return fmt.Sprintf("%d collection tasks not done", n)
		}
		return ""
	})
	left := 0
	ids := map[string]bool{}
	rows, err := global.Query(ctx(t), `SELECT s->>'data_id' FROM tasks, jsonb_array_elements(payload->'segments') s
		WHERE type = 'DeleteObject' AND (payload->>'bucket_id')::bigint = $1`, bucketID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	rows.Close()
	if len(ids) != objects {
		t.Fatalf("collection tasks name %d data ids, want %d", len(ids), objects)
	}
	for _, files := range storageFiles(t) {
		for f := range files {
			if ids[f[:strings.LastIndexByte(f, '.')]] {
				left++
			}
		}
	}
	if left > 0 {
		t.Fatalf("%d shard files of the deleted bucket left on disk", left)
	}
	t.Logf("collected a bucket of %d objects (%d shard files) in %s", objects, before, time.Since(start).Round(time.Second))
}
