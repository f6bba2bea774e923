package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// metrics scrapes a process of the shared cluster.
func metrics(t *testing.T, id string) map[string]float64 {
	t.Helper()
	return metricsAt(t, cluster.Process(id).Ports["ops"])
}

// metricsAt scrapes the /metrics of the process with that ops port into
// series -> value.
func metricsAt(t *testing.T, opsPort int) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(opsPort) + "/metrics")
	if err != nil {
		t.Fatalf("scrape port %d: %v", opsPort, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// family reports whether any series of the family is present.
func family(m map[string]float64, name string) bool {
	for s := range m {
		if s == name || strings.HasPrefix(s, name+"{") {
			return true
		}
	}
	return false
}

// Every service exports the metric families of the operations chapter, and
// they move when their event happens.
func TestMetricsFamilies(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	put(t, c, bucket, "k", []byte("metrics"))
	if _, err := get(t, c, bucket, "k", ""); err != nil {
		t.Fatal(err)
	}

	want := map[string][]string{
		"gateway-1": {
			"anvil_gateway_s3_requests_total", "anvil_gateway_s3_request_duration_seconds_bucket",
			"anvil_gateway_s3_bytes_received_total", "anvil_gateway_s3_bytes_sent_total",
			"anvil_gateway_membership_peers", "anvil_gateway_membership_changes_total",
			"anvil_gateway_cluster_capacity_bytes", "anvil_gateway_cluster_free_bytes",
			"grpc_client_handled_total", "grpc_client_handling_seconds_bucket",
			"go_goroutines", "process_resident_memory_bytes",
		},
		"metadata-1": {
			"anvil_metadata_grpc_request_duration_seconds_bucket", "grpc_server_handled_total",
			"anvil_metadata_task_oldest_pending_seconds", "anvil_metadata_database_up",
			"go_goroutines", "process_resident_memory_bytes",
		},
		"worker-1": {
			"anvil_worker_membership_peers", "anvil_worker_membership_changes_total",
			"anvil_worker_scanner_leader", "anvil_worker_scanner_segments_checked_total",
			"grpc_client_handled_total", "go_goroutines",
		},
		"storagenode-1": {
			"anvil_storagenode_capacity_bytes", "anvil_storagenode_free_bytes", "anvil_storagenode_used_bytes",
			"anvil_storagenode_shards", "grpc_server_handled_total", "go_goroutines",
		},
	}
	for id, families := range want {
		m := metrics(t, id)
		for _, f := range families {
			if !family(m, f) {
				t.Errorf("%s does not export %s", id, f)
			}
		}
	}
	if m := metrics(t, "metadata-1"); m[`anvil_metadata_database_up{database="global"}`] != 1 {
		t.Errorf("anvil_metadata_database_up{database=\"global\"} is %v, want 1", m[`anvil_metadata_database_up{database="global"}`])
	}

	// A 404 raises the 4xx counter of its operation.
	series := `anvil_gateway_s3_requests_total{operation="GetObject",status_class="4xx"}`
	before := metrics(t, "gateway-1")[series]
	if _, err := get(t, c, bucket, "missing", ""); err == nil {
		t.Fatal("GET of a missing key succeeded")
	}
	if after := metrics(t, "gateway-1")[series]; after != before+1 {
		t.Fatalf("%s went from %v to %v after one 404", series, before, after)
	}

	// The bucket's usage counts the object, kept by the metadata service.
	objects := fmt.Sprintf(`anvil_metadata_bucket_objects{bucket=%q,region=%q}`, bucket, cluster.Region())
	usedBytes := fmt.Sprintf(`anvil_metadata_bucket_bytes{bucket=%q,region=%q}`, bucket, cluster.Region())
	if m := metrics(t, "metadata-1"); m[objects] != 1 || m[usedBytes] != float64(len("metrics")) {
		t.Errorf("%s = %v and %s = %v, want 1 and %d", objects, m[objects], usedBytes, m[usedBytes], len("metrics"))
	}

	// A delete queues a collection task: with the worker stopped the pending
	// gauge rises, and falls once a worker runs again (the queue gauges are
	// refreshed every few seconds).
	enq := fmt.Sprintf(`anvil_metadata_tasks_enqueued_total{region=%q,type="DeleteObject"}`, cluster.Region())
	pending := `anvil_metadata_tasks{status="pending",type="DeleteObject"}`
	before = metrics(t, "metadata-1")[enq]
	if err := cluster.Kill("worker-1"); err != nil {
		t.Fatal(err)
	}
	workerBack := false
	defer func() {
		if !workerBack {
			_ = cluster.Restart(ctx(t), "worker-1")
		}
	}()
	if _, err := c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if m := metrics(t, "metadata-1"); m[objects] != 0 || m[usedBytes] != 0 {
		t.Errorf("after the delete %s = %v and %s = %v, want 0 and 0", objects, m[objects], usedBytes, m[usedBytes])
	}
	eventually(t, time.Minute, func() string {
		m := metrics(t, "metadata-1")
		if after := m[enq]; after <= before {
			return fmt.Sprintf("%s still %v after a delete", enq, after)
		}
		if m[pending] < 1 {
			return fmt.Sprintf("%s is %v with the worker stopped", pending, m[pending])
		}
		return ""
	})
	if err := cluster.Restart(ctx(t), "worker-1"); err != nil {
		t.Fatal(err)
	}
	workerBack = true
	eventually(t, time.Minute, func() string {
		if n := metrics(t, "metadata-1")[pending]; n != 0 {
			return fmt.Sprintf("%s is %v with the worker back", pending, n)
		}
		return ""
	})

	// Storage figures agree between a node and the gateway's cluster view.
	g := metrics(t, "gateway-1")
	capacity := g[fmt.Sprintf(`anvil_gateway_cluster_capacity_bytes{region=%q}`, cluster.Region())]
	if node := metrics(t, "storagenode-1")["anvil_storagenode_capacity_bytes"]; capacity < node || node <= 0 {
		t.Fatalf("cluster capacity %v, one node's %v", capacity, node)
	}
}
