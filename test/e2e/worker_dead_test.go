package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var anvilCLI struct {
	once sync.Once
	path string
	err  error
}

// anvilBinary returns the anvil CLI: from ANVIL_BIN_DIR when make built it,
// else built once into a temp dir.
func anvilBinary(t *testing.T) string {
	t.Helper()
	anvilCLI.once.Do(func() {
		if dir := os.Getenv("ANVIL_BIN_DIR"); dir != "" {
			if _, err := os.Stat(filepath.Join(dir, "anvil")); err == nil {
				anvilCLI.path = filepath.Join(dir, "anvil")
				return
			}
		}
		dir, err := os.MkdirTemp("", "anvil-cli-")
		if err != nil {
			anvilCLI.err = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "anvil"), "github.com/anvil-store/anvil/cmd/anvil")
		out, err := cmd.CombinedOutput()
		if err != nil {
			anvilCLI.err = err
			t.Logf("go build anvil: %s", out)
			return
		}
		anvilCLI.path = filepath.Join(dir, "anvil")
	})
	if anvilCLI.err != nil {
		t.Fatalf("build the anvil CLI: %v", anvilCLI.err)
	}
	return anvilCLI.path
}

// anvilAdmin runs `anvil admin args...` against the cluster's metadata
// service and returns its standard output.
func anvilAdmin(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(anvilBinary(t), append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), "ANVIL_METADATA_ADDR="+cluster.MetadataAddr())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("anvil admin %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func taskClient(t *testing.T) metadatav1.TaskServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(cluster.MetadataAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return metadatav1.NewTaskServiceClient(conn)
}

// A task that always fails ends dead after its attempts, with its error
// visible through `anvil admin tasks show`; an operator can retry or cancel
// it.
func TestWorkerFailingTaskEndsDead(t *testing.T) {
	tests := []struct {
		name         string
		payload      string
		maxAttempts  int32
		wantAttempts int32
		wantErr      string
	}{
		{
			// The node never joins: retryable, so both attempts run.
			name:         "retryable failure spends its attempts",
			payload:      `{"bucket_id": 900000000001, "bucket": "none", "key": "k", "segments": [{"data_id": "e2e-dead-1", "node_ids": ["storagenode-404"]}]}`,
			maxAttempts:  2,
			wantAttempts: 2,
			wantErr:      "storage node not in membership: storagenode-404",
		},
		{
			// A payload that cannot be collected: dead at the first attempt.
			name:         "permanent failure",
			payload:      `{"bucket_id": 900000000001, "segments": [{"node_ids": ["storagenode-1"]}]}`,
			maxAttempts:  5,
			wantAttempts: 1,
			wantErr:      "segment 0 has no data id",
		},
	}
	// Bucket ids in the payloads are far above any real bucket's.
	tasks := taskClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := tasks.EnqueueTask(c, &metadatav1.EnqueueTaskRequest{
				Type: "DeleteObject", Region: cluster.Region(), Payload: []byte(tt.payload), MaxAttempts: tt.maxAttempts,
			})
			if err != nil {
				t.Fatal(err)
			}
			id := strconv.FormatInt(resp.GetTask().GetId(), 10)

			var shown struct {
				Status     string `json:"status"`
				Attempts   int32  `json:"attempts"`
				LastError  string `json:"last_error"`
				LeaseOwner string `json:"lease_owner"`
			}
			eventually(t, 2*time.Minute, func() string {
				if err := json.Unmarshal([]byte(anvilAdmin(t, "tasks", "show", id, "-o", "json")), &shown); err != nil {
					t.Fatal(err)
				}
				if shown.Status != "dead" {
					return "task " + id + " is " + shown.Status
				}
				return ""
			})
			if shown.Attempts != tt.wantAttempts || !strings.Contains(shown.LastError, tt.wantErr) ||
				!strings.HasPrefix(shown.LeaseOwner, "worker-1/") {
				t.Fatalf("dead task: %+v; want %d attempts and an error containing %q", shown, tt.wantAttempts, tt.wantErr)
			}
			table := anvilAdmin(t, "tasks", "show", id)
			if !strings.Contains(table, "dead") || !strings.Contains(table, tt.wantErr) {
				t.Fatalf("anvil admin tasks show %s:\n%s", id, table)
			}
			if list := anvilAdmin(t, "tasks", "list", "--status", "dead", "--type", "DeleteObject", "--limit", "1000"); !strings.Contains(list, "\n"+id+" ") {
				t.Fatalf("task %s missing from the dead list:\n%s", id, list)
			}
			if stats := anvilAdmin(t, "queue", "stats"); !strings.Contains(stats, "dead") {
				t.Fatalf("queue stats show no dead tasks:\n%s", stats)
			}

			// The operator gives it another go, then gives up on it.
			anvilAdmin(t, "tasks", "retry", id)
			eventually(t, 2*time.Minute, func() string {
				if err := json.Unmarshal([]byte(anvilAdmin(t, "tasks", "show", id, "-o", "json")), &shown); err != nil {
					t.Fatal(err)
				}
				if shown.Status != "dead" || shown.Attempts != tt.wantAttempts {
					return "retried task " + id + " is " + shown.Status
				}
				return ""
			})
			if out := anvilAdmin(t, "tasks", "cancel", id); !strings.Contains(out, "cancelled") {
				t.Fatalf("cancel:\n%s", out)
			}
		})
	}
}
