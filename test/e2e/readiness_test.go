package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// readiness returns a process's /ready status code and the checks it names
// as failed.
func readiness(t *testing.T, opsPort int) (int, map[string]string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(opsPort) + "/ready")
	if err != nil {
		return 0, map[string]string{"request": err.Error()}
	}
	defer resp.Body.Close()
	var body struct {
		Failed map[string]string `json:"failed"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Failed
}

// Readiness follows the dependencies: with Postgres stopped the metadata
// service (naming the database check), and the gateway and worker that need
// it, answer 503; with etcd stopped every service does; each turns ready
// again when its dependency returns, without a restart. Liveness stays 200.
func TestReadinessFollowsDependencies(t *testing.T) {
	h := startHealCluster(t, 6)
	ops := map[string]int{}
	for _, id := range []string{"metadata-1", "gateway-1", "worker-1", "storagenode-1"} {
		ops[id] = h.Process(id).Ports["ops"]
	}
	waitAll := func(want int, ids ...string) {
		t.Helper()
		eventually(t, 90*time.Second, func() string {
			for _, id := range ids {
				if code, failed := readiness(t, ops[id]); code != want {
					return fmt.Sprintf("%s /ready is %d (failed: %v), want %d", id, code, failed, want)
				}
			}
			return ""
		})
	}
	all := []string{"metadata-1", "gateway-1", "worker-1", "storagenode-1"}
	waitAll(http.StatusOK, all...)

	if err := h.StopPostgres(); err != nil {
		t.Fatal(err)
	}
	waitAll(http.StatusServiceUnavailable, "metadata-1", "gateway-1", "worker-1")
	if _, failed := readiness(t, ops["metadata-1"]); failed["global_db"] == "" {
		t.Fatalf("metadata /ready does not name the global database: %v", failed)
	}
	if _, failed := readiness(t, ops["gateway-1"]); failed["metadata"] == "" {
		t.Fatalf("gateway /ready does not name the metadata service: %v", failed)
	}
	for id, port := range ops {
		if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/"); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s liveness without the database: %v %v", id, resp, err)
		}
	}
	if code, failed := readiness(t, ops["storagenode-1"]); code != http.StatusOK {
		t.Fatalf("a storage node needs no database, yet /ready is %d: %v", code, failed)
	}
	if err := h.StartPostgres(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitAll(http.StatusOK, all...)

	h.StopEtcd()
	waitAll(http.StatusServiceUnavailable, all...)
	if err := h.StartEtcd(); err != nil {
		t.Fatal(err)
	}
	waitAll(http.StatusOK, all...)

	// And the data path works again.
	bucket := "after-outages"
	if _, err := h.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
}
