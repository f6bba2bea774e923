package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeTasks is a TaskService over loopback holding a fixed set of tasks.
type fakeTasks struct {
	metadatav1.UnimplementedTaskServiceServer
	mu    sync.Mutex
	tasks map[int64]*metadatav1.Task
	lists []*metadatav1.ListTasksRequest
	calls []string
}

func (f *fakeTasks) ListTasks(_ context.Context, req *metadatav1.ListTasksRequest) (*metadatav1.ListTasksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, req)
	var out []*metadatav1.Task
	for id := int64(1); id <= int64(len(f.tasks)); id++ {
		t := f.tasks[id]
		if id > req.GetAfterId() && (req.GetStatus() == 0 || t.GetStatus() == req.GetStatus()) && len(out) < int(req.GetLimit()) {
			out = append(out, t)
		}
	}
	return &metadatav1.ListTasksResponse{Tasks: out}, nil
}

func (f *fakeTasks) get(id int64, call string) (*metadatav1.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	t, ok := f.tasks[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "taskqueue: task not found: %d", id)
	}
	return t, nil
}

func (f *fakeTasks) GetTask(_ context.Context, req *metadatav1.GetTaskRequest) (*metadatav1.GetTaskResponse, error) {
	t, err := f.get(req.GetTaskId(), "get")
	return &metadatav1.GetTaskResponse{Task: t}, err
}

func (f *fakeTasks) RetryTask(_ context.Context, req *metadatav1.RetryTaskRequest) (*metadatav1.RetryTaskResponse, error) {
	t, err := f.get(req.GetTaskId(), "retry")
	return &metadatav1.RetryTaskResponse{Task: t}, err
}

func (f *fakeTasks) CancelTask(_ context.Context, req *metadatav1.CancelTaskRequest) (*metadatav1.CancelTaskResponse, error) {
	t, err := f.get(req.GetTaskId(), "cancel")
	return &metadatav1.CancelTaskResponse{Task: t}, err
}

func (f *fakeTasks) QueueStats(context.Context, *metadatav1.QueueStatsRequest) (*metadatav1.QueueStatsResponse, error) {
	return &metadatav1.QueueStatsResponse{Stats: []*metadatav1.QueueStat{
		{Type: "DeleteObject", Status: metadatav1.TaskStatus_TASK_STATUS_PENDING, Count: 12, OldestAgeSeconds: 90.4},
		{Type: "DeleteObject", Status: metadatav1.TaskStatus_TASK_STATUS_DEAD, Count: 1, OldestAgeSeconds: 3600},
	}}, nil
}

func serveFake(t *testing.T) (*fakeTasks, string) {
	t.Helper()
	created := timestamppb.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	f := &fakeTasks{tasks: map[int64]*metadatav1.Task{
		1: {Id: 1, Type: "DeleteObject", Region: "us-east-1", Status: metadatav1.TaskStatus_TASK_STATUS_DONE,
			Attempts: 1, MaxAttempts: 10, LeaseOwner: "worker-1/ab12", Payload: []byte(`{"key": "a", "segments": []}`),
			CreatedAt: created, RunAfter: created},
		2: {Id: 2, Type: "DeleteObject", Region: "us-east-1", Status: metadatav1.TaskStatus_TASK_STATUS_DEAD,
			Attempts: 2, MaxAttempts: 2, LastError: "delete 1 of 6 shards:\nnode sn-3 down", Payload: []byte(`{"key": "b"}`),
			CreatedAt: created, RunAfter: created},
	}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	metadatav1.RegisterTaskServiceServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return f, lis.Addr().String()
}

// admin runs `anvil admin args...` with ANVIL_METADATA_ADDR set to addr.
func admin(t *testing.T, addr string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := adminEnv{stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "ANVIL_METADATA_ADDR" {
			return addr
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = runAdmin(ctx, args, env)
	return out.String(), errOut.String(), err
}

func TestTasksList(t *testing.T) {
	f, addr := serveFake(t)
	out, _, err := admin(t, addr, "tasks", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[2], "dead") ||
		!strings.Contains(lines[2], "2/2") || !strings.Contains(lines[2], "delete 1 of 6 shards: node sn-3 down") {
		t.Fatalf("table:\n%s", out)
	}

	out, stderr, err := admin(t, addr, "tasks", "list", "--status", "dead", "-o", "json", "--limit", "1")
	if err != nil {
		t.Fatal(err)
	}
	var got []taskJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json output %q: %v", out, err)
	}
	var payload bytes.Buffer
	if len(got) == 1 {
		_ = json.Compact(&payload, got[0].Payload)
	}
	if len(got) != 1 || got[0].ID != 2 || got[0].Status != "dead" || payload.String() != `{"key":"b"}` {
		t.Fatalf("json tasks %+v", got)
	}
	if !strings.Contains(stderr, "--after 2") {
		t.Fatalf("no paging hint on stderr: %q", stderr)
	}
	last := f.lists[len(f.lists)-1]
	if last.GetStatus() != metadatav1.TaskStatus_TASK_STATUS_DEAD || last.GetLimit() != 1 {
		t.Fatalf("request %v", last)
	}
}

func TestTaskShowRetryCancel(t *testing.T) {
	f, addr := serveFake(t)
	out, _, err := admin(t, addr, "tasks", "show", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Status:", "dead", "2 of 2", "Last error:\n  delete 1 of 6 shards:\n  node sn-3 down", `"key": "b"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("show output lacks %q:\n%s", want, out)
		}
	}
	// Flags after the id work too.
	out, _, err = admin(t, addr, "tasks", "show", "1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got taskJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.LeaseOwner != "worker-1/ab12" || got.CreatedAt == nil {
		t.Fatalf("json %q: %+v, %v", out, got, err)
	}
	for _, cmd := range []string{"retry", "cancel"} {
		if _, _, err := admin(t, addr, "tasks", cmd, "2"); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	if want := []string{"get", "get", "retry", "cancel"}; strings.Join(f.calls, ",") != strings.Join(want, ",") {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	_, _, err = admin(t, addr, "tasks", "show", "99")
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "NotFound") || !strings.Contains(err.Error(), "task not found") {
		t.Fatalf("missing task: %v", err)
	}
}

func TestQueueStats(t *testing.T) {
	_, addr := serveFake(t)
	out, _, err := admin(t, addr, "queue", "stats")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "DeleteObject  pending  12     1m30s") || !strings.Contains(out, "dead     1      1h0m0s") {
		t.Fatalf("table:\n%s", out)
	}
	out, _, err = admin(t, addr, "queue", "stats", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"oldest_age_seconds": 3600`) {
		t.Fatalf("json:\n%s", out)
	}
}

func TestAdminUsageErrors(t *testing.T) {
	_, addr := serveFake(t)
	tests := []struct {
		name string
		args []string
	}{
		{"nothing", nil},
		{"group only", []string{"tasks"}},
		{"unknown", []string{"tasks", "explode"}},
		{"no id", []string{"tasks", "show"}},
		{"bad id", []string{"tasks", "show", "x"}},
		{"two ids", []string{"tasks", "retry", "1", "2"}},
		{"bad status", []string{"tasks", "list", "--status", "sleeping"}},
		{"bad limit", []string{"tasks", "list", "--limit", "0"}},
		{"bad output", []string{"queue", "stats", "-o", "yaml"}},
		{"unknown flag", []string{"queue", "stats", "--colour"}},
		{"stray argument", []string{"tasks", "list", "dead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := admin(t, addr, tt.args...); !errors.Is(err, errUsage) {
				t.Fatalf("got %v, want a usage error", err)
			}
		})
	}
}

func TestMetadataAddrDefault(t *testing.T) {
	fs := newTestFlagSet()
	var c commonFlags
	c.register(fs, adminEnv{getenv: func(string) string { return "" }})
	if c.addr != defaultMetadataAddr {
		t.Fatalf("default addr %q", c.addr)
	}
	_, addr := serveFake(t)
	// The flag beats the environment.
	out, _, err := admin(t, "127.0.0.1:1", "queue", "stats", "--metadata-addr", addr)
	if err != nil || !strings.Contains(out, "DeleteObject") {
		t.Fatalf("with --metadata-addr: %q, %v", out, err)
	}
}

func newTestFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }
