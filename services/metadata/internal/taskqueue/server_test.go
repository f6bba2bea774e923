package taskqueue

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestSentinelsComplete checks that Sentinels lists every exported Err
// variable of the package and that the error table maps each of them.
func TestSentinelsComplete(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, spec := range gd.Specs {
					for _, name := range spec.(*ast.ValueSpec).Names {
						if strings.HasPrefix(name.Name, "Err") {
							declared = append(declared, name.Name)
						}
					}
				}
			}
		}
	}
	listed := Sentinels()
	for _, name := range declared {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s is not in Sentinels()", name)
		}
	}
	if len(listed) != len(declared) {
		t.Errorf("Sentinels() has %d entries, the package declares %d", len(listed), len(declared))
	}
	for name, sentinel := range listed {
		t.Run(name, func(t *testing.T) {
			st, expected := toStatus(fmt.Errorf("wrapped: %w", sentinel))
			if !expected || st.Code() == codes.Internal || st.Code() == codes.Unknown {
				t.Fatalf("%s maps to %s (expected %v): add it to errorTable", name, st.Code(), expected)
			}
		})
	}
}

func TestUnmappedErrors(t *testing.T) {
	tests := []struct {
		err  error
		want codes.Code
	}{
		{context.Canceled, codes.Canceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{errors.New("relation tasks does not exist"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			st, _ := toStatus(tt.err)
			if st.Code() != tt.want {
				t.Fatalf("code %s, want %s", st.Code(), tt.want)
			}
			if tt.want == codes.Internal && strings.Contains(st.Message(), "relation") {
				t.Fatalf("database text leaked: %q", st.Message())
			}
		})
	}
}

// serve starts the TaskService on loopback and returns a client.
func serve(t *testing.T, q *Queue) metadatav1.TaskServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	metadatav1.RegisterTaskServiceServer(srv, NewServer(q, slog.New(slog.NewTextHandler(io.Discard, nil))))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return metadatav1.NewTaskServiceClient(conn)
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got %s (%v), want %s", got, err, want)
	}
}

func TestServerRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	c := serve(t, e.q)
	ctx := testCtx(t)

	enq, err := c.EnqueueTask(ctx, &metadatav1.EnqueueTaskRequest{Type: "Boom", Region: region, Payload: []byte(`{"a":1}`), MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	task := enq.GetTask()
	if task.GetStatus() != metadatav1.TaskStatus_TASK_STATUS_PENDING || task.GetMaxAttempts() != 2 || task.GetLeaseExpiresAt() != nil || task.GetCreatedAt() == nil {
		t.Fatalf("enqueued %v", task)
	}
	_, err = c.EnqueueTask(ctx, &metadatav1.EnqueueTaskRequest{Type: "", Region: region})
	wantCode(t, err, codes.InvalidArgument)

	leased, err := c.LeaseTasks(ctx, &metadatav1.LeaseTasksRequest{Owner: "w1", Types: []string{"Boom"}, MaxTasks: 5, LeaseSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(leased.GetTasks()) != 1 || leased.GetTasks()[0].GetLeaseOwner() != "w1" || leased.GetTasks()[0].GetLeaseExpiresAt() == nil {
		t.Fatalf("leased %v", leased.GetTasks())
	}
	_, err = c.LeaseTasks(ctx, &metadatav1.LeaseTasksRequest{Owner: "w1", MaxTasks: 5, LeaseSeconds: 1 << 40})
	wantCode(t, err, codes.InvalidArgument)

	ext, err := c.ExtendLease(ctx, &metadatav1.ExtendLeaseRequest{Owner: "w1", TaskIds: []int64{task.GetId()}, LeaseSeconds: 60})
	if err != nil || !slices.Equal(ext.GetExtended(), []int64{task.GetId()}) {
		t.Fatalf("extend: %v, %v", ext, err)
	}
	_, err = c.CompleteTask(ctx, &metadatav1.CompleteTaskRequest{Owner: "w2", TaskId: task.GetId()})
	wantCode(t, err, codes.FailedPrecondition)

	failed, err := c.FailTask(ctx, &metadatav1.FailTaskRequest{Owner: "w1", TaskId: task.GetId(), Error: "permanently broken", Retryable: false})
	if err != nil {
		t.Fatal(err)
	}
	if failed.GetTask().GetStatus() != metadatav1.TaskStatus_TASK_STATUS_DEAD {
		t.Fatalf("failed task %v", failed.GetTask())
	}
	got, err := c.GetTask(ctx, &metadatav1.GetTaskRequest{TaskId: task.GetId()})
	if err != nil || got.GetTask().GetLastError() != "permanently broken" {
		t.Fatalf("get: %v, %v", got, err)
	}
	_, err = c.GetTask(ctx, &metadatav1.GetTaskRequest{TaskId: 123456})
	wantCode(t, err, codes.NotFound)

	list, err := c.ListTasks(ctx, &metadatav1.ListTasksRequest{Status: metadatav1.TaskStatus_TASK_STATUS_DEAD})
	if err != nil || len(list.GetTasks()) != 1 {
		t.Fatalf("list dead: %v, %v", list, err)
	}
	_, err = c.ListTasks(ctx, &metadatav1.ListTasksRequest{Status: metadatav1.TaskStatus(99)})
	wantCode(t, err, codes.InvalidArgument)

	stats, err := c.QueueStats(ctx, &metadatav1.QueueStatsRequest{})
	if err != nil || len(stats.GetStats()) != 1 || stats.GetStats()[0].GetStatus() != metadatav1.TaskStatus_TASK_STATUS_DEAD || stats.GetStats()[0].GetCount() != 1 {
		t.Fatalf("stats: %v, %v", stats, err)
	}

	retried, err := c.RetryTask(ctx, &metadatav1.RetryTaskRequest{TaskId: task.GetId()})
	if err != nil || retried.GetTask().GetStatus() != metadatav1.TaskStatus_TASK_STATUS_PENDING || retried.GetTask().GetAttempts() != 0 {
		t.Fatalf("retry: %v, %v", retried, err)
	}
	cancelled, err := c.CancelTask(ctx, &metadatav1.CancelTaskRequest{TaskId: task.GetId()})
	if err != nil || cancelled.GetTask().GetStatus() != metadatav1.TaskStatus_TASK_STATUS_CANCELLED {
		t.Fatalf("cancel: %v, %v", cancelled, err)
	}

	v := e.insertVersion(t, 3, "k", false, "deleted")
	purged, err := c.PurgeVersion(ctx, &metadatav1.PurgeVersionRequest{Region: region, BucketId: 3, Key: "k", VersionId: v})
	if err != nil || !purged.GetPurged() {
		t.Fatalf("purge: %v, %v", purged, err)
	}
	live := e.insertVersion(t, 3, "k", true, "live")
	_, err = c.PurgeVersion(ctx, &metadatav1.PurgeVersionRequest{Region: region, BucketId: 3, Key: "k", VersionId: live})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.PurgeVersion(ctx, &metadatav1.PurgeVersionRequest{Region: "mars-1", BucketId: 3, Key: "k", VersionId: live})
	wantCode(t, err, codes.FailedPrecondition)
}
