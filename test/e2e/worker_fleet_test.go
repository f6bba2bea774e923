package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// putAndDelete writes n objects of size bytes under prefix, then deletes
// them all, 16 requests at a time; every delete queues a DeleteObject task.
func putAndDelete(t *testing.T, c *s3.Client, bucket, prefix string, n, size int, beforeDelete func()) {
	t.Helper()
	run := func(op func(key string) error) {
		keys := make(chan string)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for k := range keys {
					if err := op(k); err != nil {
						errs <- fmt.Errorf("%s: %w", k, err)
					}
				}
			})
		}
		for i := range n {
			keys <- fmt.Sprintf("%s%05d", prefix, i)
		}
		close(keys)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	body := payload(77, size)
	run(func(k string) error {
		_, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: bytes.NewReader(body)})
		return err
	})
	if beforeDelete != nil {
		beforeDelete()
	}
	run(func(k string) error {
		_, err := c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)})
		return err
	})
}

// workerCompleted reads a worker's count of completed tasks of one type.
func workerCompleted(t *testing.T, workerID, taskType string) int64 {
	t.Helper()
	p := cluster.Process(workerID)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.Ports["ops"]))
	if err != nil {
		t.Fatalf("scrape %s: %v", workerID, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "anvil_worker_tasks_total{") && strings.Contains(line, `outcome="completed"`) &&
			strings.Contains(line, `type="`+taskType+`"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return int64(v)
		}
	}
	return 0
}

func waitQueueIdle(t *testing.T) {
	t.Helper()
	global := pgPool(t, cluster.GlobalDB())
	eventually(t, 3*time.Minute, func() string {
		if n := queryInt(t, global, "SELECT count(*) FROM tasks WHERE status IN ('pending', 'leased') AND run_after <= now()"); n > 0 {
			return fmt.Sprintf("%d runnable tasks left from earlier tests", n)
		}
		return ""
	})
}

// Three workers drain 5,000 tasks: every task completes exactly once, none
// is lost, and the work is shared.
func TestThreeWorkersDrain5000Tasks(t *testing.T) {
	const tasks = 5000
	waitQueueIdle(t)
	var workers []string
	for range 2 {
		id, err := cluster.StartWorker(ctx(t), "-worker.max-batch=32")
		if err != nil {
			t.Fatal(err)
		}
		workers = append(workers, id)
		t.Cleanup(func() { _ = cluster.Kill(id) })
	}
	workers = append(workers, "worker-1")
	before := map[string]int64{}
	for _, w := range workers {
		before[w] = workerCompleted(t, w, "DeleteObject")
	}
	c := rootClient()
	bucket := newBucket(t, c)
	putAndDelete(t, c, bucket, "t", tasks, 0, nil)

	global := pgPool(t, cluster.GlobalDB())
	regional := pgPool(t, cluster.RegionalDB())
	bucketID := queryInt(t, global, "SELECT id FROM buckets WHERE name = $1 AND deleted_at IS NULL", bucket)
	eventually(t, 4*time.Minute, func() string {
		done := queryInt(t, global, "SELECT count(*) FROM tasks WHERE type = 'DeleteObject' AND payload->>'bucket' = $1 AND status = 'done'", bucket)
		if done < tasks {
			return fmt.Sprintf("%d of %d tasks done", done, tasks)
		}
		return ""
	})
	if n := queryInt(t, global, "SELECT count(*) FROM tasks WHERE type = 'DeleteObject' AND payload->>'bucket' = $1", bucket); n != tasks {
		t.Fatalf("%d tasks for %d deletes: tasks were lost or duplicated", n, tasks)
	}
	if n := queryInt(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1", bucketID); n != 0 {
		t.Fatalf("%d version rows left after every task completed", n)
	}
	var total int64
	for _, w := range workers {
		delta := workerCompleted(t, w, "DeleteObject") - before[w]
		t.Logf("%s completed %d tasks", w, delta)
		if delta == 0 {
			t.Errorf("%s completed no task: the work was not shared", w)
		}
		total += delta
	}
	if total != tasks {
		t.Fatalf("workers completed %d tasks in all, want exactly %d", total, tasks)
	}
}

// kill -9 of a worker in the middle of its tasks: once its leases expire
// another worker runs them again, and the end state is as if each ran once.
func TestWorkerKilledMidTask(t *testing.T) {
	waitQueueIdle(t)
	global := pgPool(t, cluster.GlobalDB())
	regional := pgPool(t, cluster.RegionalDB())
	c := rootClient()
	bucket := newBucket(t, c)
	bucketID := queryInt(t, global, "SELECT id FROM buckets WHERE name = $1 AND deleted_at IS NULL", bucket)

	// Only the victim works; worker-1 comes back at the end.
	if err := cluster.Kill("worker-1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Restart(ctx(t), "worker-1") })
	victim, err := cluster.StartWorker(ctx(t), "-worker.lease=3s")
	if err != nil {
		t.Fatal(err)
	}
	// A frozen storage node makes the victim's shard deletes hang, so it is
	// caught holding leases. It freezes after the PUTs, before the deletes.
	frozen := cluster.Process("storagenode-1")
	thawed := true
	thaw := func() {
		if !thawed {
			thawed = true
			_ = syscall.Kill(frozen.PID, syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)

	var dataIDs []string
	putAndDelete(t, c, bucket, "k", 40, 4096, func() {
		if err := syscall.Kill(frozen.PID, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		thawed = false
		rows, err := regional.Query(ctx(t), `SELECT s->>'data_id' FROM object_versions, jsonb_array_elements(segments) s
			WHERE bucket_id = $1`, bucketID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			dataIDs = append(dataIDs, id)
		}
	})
	if len(dataIDs) != 40 {
		t.Fatalf("found %d data ids for 40 objects", len(dataIDs))
	}
	eventually(t, time.Minute, func() string {
		if n := queryInt(t, global, "SELECT count(*) FROM tasks WHERE status = 'leased' AND lease_owner LIKE $1", victim+"/%"); n == 0 {
			return "the victim holds no lease yet"
		}
		return ""
	})
	if err := cluster.Kill(victim); err != nil {
		t.Fatal(err)
	}
	held := queryInt(t, global, "SELECT count(*) FROM tasks WHERE status = 'leased' AND lease_owner LIKE $1", victim+"/%")
	t.Logf("killed %s holding %d leases", victim, held)
	thaw()
	if err := cluster.Restart(ctx(t), "worker-1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, func() string {
		if n := queryInt(t, global, "SELECT count(*) FROM tasks WHERE payload->>'bucket' = $1 AND status <> 'done'", bucket); n > 0 {
			return fmt.Sprintf("%d tasks not done", n)
		}
		return ""
	})
	if n := queryInt(t, global, "SELECT count(*) FROM tasks WHERE payload->>'bucket' = $1 AND attempts >= 2", bucket); n == 0 {
		t.Fatal("no task was run a second time after the kill")
	}
	if n := queryInt(t, regional, "SELECT count(*) FROM object_versions WHERE bucket_id = $1", bucketID); n != 0 {
		t.Fatalf("%d version rows left", n)
	}
	for node, names := range storageFiles(t) {
		for name := range names {
			for _, id := range dataIDs {
				if strings.HasPrefix(name, id+".") {
					t.Fatalf("shard %s of a collected object is still on %s", name, node)
				}
			}
		}
	}
}
