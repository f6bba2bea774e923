package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgPool opens a pool on one of the dev cluster's databases, closed at the
// end of the test.
func pgPool(t *testing.T, db string) *pgxpool.Pool {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(c, cluster.Postgres().DSN(db))
	if err != nil {
		t.Fatalf("open %s: %v", db, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func queryInt(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int64
	if err := pool.QueryRow(c, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// storageFiles returns the shard file names on every storage node, by node
// id (in-progress temp files left out).
func storageFiles(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, p := range cluster.Processes() {
		if p.Role != "storagenode" || out[p.ID] != nil {
			continue
		}
		files := map[string]bool{}
		err := filepath.WalkDir(filepath.Join(p.DataDir, "shards"), func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				files[d.Name()] = true
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", p.DataDir, err)
		}
		out[p.ID] = files
	}
	return out
}

// eventually polls cond until it returns "" (done) or the limit passes; the
// last non-empty answer says what was still missing.
func eventually(t *testing.T, limit time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		missing := cond()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after %s: %s", limit, missing)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Deleting 1,000 objects frees everything: every shard file leaves the
// storage nodes' disks, every version row is purged, every task is done.
func TestWorkerCollectsDeletedObjects(t *testing.T) {
	const objects = 1000
	c := rootClient()
	bucket := newBucket(t, c)
	global, regional := pgPool(t, cluster.GlobalDB()), pgPool(t, cluster.RegionalDB())
	bucketID := queryInt(t, global, "SELECT id FROM buckets WHERE name = $1 AND deleted_at IS NULL", bucket)

	keys := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, objects)
	for range 16 {
		wg.Go(func() {
			for key := range keys {
				n, _ := strconv.Atoi(strings.TrimPrefix(key, "obj-"))
				body := payload(uint64(5000+n), 1+n*37%5000)
				if _, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
				}
			}
		})
	}
	for i := range objects {
		keys <- fmt.Sprintf("obj-%04d", i)
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Where the shards are, from the version rows.
	rows, err := regional.Query(ctx(t), "SELECT segments FROM object_versions WHERE bucket_id = $1 AND state = 'live'", bucketID)
	if err != nil {
		t.Fatal(err)
	}
	type segment struct {
		DataID  string   `json:"data_id"`
		NodeIDs []string `json:"node_ids"`
	}
	want := map[string][]string{} // node id -> shard ids
	versions := 0
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var segs []segment
		if err := json.Unmarshal(raw, &segs); err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			for i, node := range s.NodeIDs {
				if node != "" {
					want[node] = append(want[node], fmt.Sprintf("%s.%d", s.DataID, i))
				}
			}
		}
		versions++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if versions != objects {
		t.Fatalf("%d live versions, want %d", versions, objects)
	}
	total := 0
	files := storageFiles(t)
	for node, shards := range want {
		for _, id := range shards {
			if !files[node][id] {
				t.Fatalf("shard %s is not on %s before the delete", id, node)
			}
			total++
		}
	}

	delKeys := make(chan string)
	delErrs := make(chan error, objects)
	for range 16 {
		wg.Go(func() {
			for key := range delKeys {
				if _, err := c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(key)}); err != nil {
					delErrs <- fmt.Errorf("delete %s: %w", key, err)
				}
			}
		})
	}
	for i := range objects {
		delKeys <- fmt.Sprintf("obj-%04d", i)
	}
	close(delKeys)
	wg.Wait()
	close(delErrs)
	for err := range delErrs {
		t.Fatal(err)
	}

	start := time.Now()
	eventually(t, 2*time.Minute, func() string {
		left := 0
		files := storageFiles(t)
		for node, shards := range want {
			for _, id := range shards {
				if files[node][id] {
					left++
				}
			}
		}
		if left > 0 {
			return fmt.Sprintf("%d of %d shard files still on disk", left, total)
		}
		if n := queryInt(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1", bucketID); n > 0 {
			return fmt.Sprintf("%d version rows not purged", n)
		}
		if n := queryInt(t, global, `SELECT count(*) FROM tasks
			WHERE type = 'DeleteObject' AND payload->>'bucket' = $1 AND status <> 'done'`, bucket); n > 0 {
			return fmt.Sprintf("%d DeleteObject tasks not done", n)
		}
		return ""
	})
	done := queryInt(t, global, `SELECT count(*) FROM tasks
		WHERE type = 'DeleteObject' AND payload->>'bucket' = $1 AND status = 'done'`, bucket)
	if done < objects {
		t.Fatalf("%d DeleteObject tasks done, want at least %d", done, objects)
	}
	t.Logf("collected %d objects (%d shard files) in %s", objects, total, time.Since(start).Round(100*time.Millisecond))
}
