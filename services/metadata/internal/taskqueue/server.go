package taskqueue

import (
	"context"
	"log/slog"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server serves TaskService over a Queue. Errors leave it as gRPC statuses
// translated through errorTable.
type Server struct {
	metadatav1.UnimplementedTaskServiceServer
	q   *Queue
	log *slog.Logger
}

// NewServer returns a Server over q.
func NewServer(q *Queue, log *slog.Logger) *Server {
	return &Server{q: q, log: log}
}

// fail translates err once, at the boundary, logging the unexpected ones.
func (s *Server) fail(method string, err error) error {
	st, expected := toStatus(err)
	if !expected {
		s.log.Warn("task service call failed", "method", method, "err", err)
	}
	return st.Err()
}

var toStatusProto = map[Status]metadatav1.TaskStatus{
	StatusPending:   metadatav1.TaskStatus_TASK_STATUS_PENDING,
	StatusLeased:    metadatav1.TaskStatus_TASK_STATUS_LEASED,
	StatusDone:      metadatav1.TaskStatus_TASK_STATUS_DONE,
	StatusDead:      metadatav1.TaskStatus_TASK_STATUS_DEAD,
	StatusCancelled: metadatav1.TaskStatus_TASK_STATUS_CANCELLED,
}

func statusFromProto(st metadatav1.TaskStatus) (Status, bool) {
	if st == metadatav1.TaskStatus_TASK_STATUS_UNSPECIFIED {
		return "", true
	}
	for k, v := range toStatusProto {
		if v == st {
			return k, true
		}
	}
	return "", false
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// ToProto converts a task to its wire form.
func ToProto(t Task) *metadatav1.Task {
	return &metadatav1.Task{
		Id:             t.ID,
		Type:           t.Type,
		Region:         t.Region,
		Payload:        t.Payload,
		Priority:       t.Priority,
		Status:         toStatusProto[t.Status],
		Attempts:       t.Attempts,
		MaxAttempts:    t.MaxAttempts,
		RunAfter:       ts(t.RunAfter),
		LeaseOwner:     t.LeaseOwner,
		LeaseExpiresAt: ts(t.LeaseExpiresAt),
		LastError:      t.LastError,
		CreatedAt:      ts(t.CreatedAt),
		UpdatedAt:      ts(t.UpdatedAt),
	}
}

func toProtos(ts []Task) []*metadatav1.Task {
	out := make([]*metadatav1.Task, len(ts))
	for i, t := range ts {
		out[i] = ToProto(t)
	}
	return out
}

// leaseDuration converts a lease in seconds, refusing values that overflow.
func leaseDuration(secs int64) time.Duration {
	if secs < 0 || secs > int64(MaxLease/time.Second) {
		return -1 // refused by validLease
	}
	return time.Duration(secs) * time.Second
}

// LeaseTasks implements TaskService.
func (s *Server) LeaseTasks(ctx context.Context, req *metadatav1.LeaseTasksRequest) (*metadatav1.LeaseTasksResponse, error) {
	tasks, err := s.q.Lease(ctx, LeaseRequest{
		Owner: req.GetOwner(), Types: req.GetTypes(), Region: req.GetRegion(),
		Max: int(req.GetMaxTasks()), Lease: leaseDuration(req.GetLeaseSeconds()),
	})
	if err != nil {
		return nil, s.fail("LeaseTasks", err)
	}
	return &metadatav1.LeaseTasksResponse{Tasks: toProtos(tasks)}, nil
}

// ExtendLease implements TaskService.
func (s *Server) ExtendLease(ctx context.Context, req *metadatav1.ExtendLeaseRequest) (*metadatav1.ExtendLeaseResponse, error) {
	ids, err := s.q.Extend(ctx, req.GetOwner(), req.GetTaskIds(), leaseDuration(req.GetLeaseSeconds()))
	if err != nil {
		return nil, s.fail("ExtendLease", err)
	}
	return &metadatav1.ExtendLeaseResponse{Extended: ids}, nil
}

// CompleteTask implements TaskService.
func (s *Server) CompleteTask(ctx context.Context, req *metadatav1.CompleteTaskRequest) (*metadatav1.CompleteTaskResponse, error) {
	if err := s.q.Complete(ctx, req.GetOwner(), req.GetTaskId()); err != nil {
		return nil, s.fail("CompleteTask", err)
	}
	return &metadatav1.CompleteTaskResponse{}, nil
}

// FailTask implements TaskService.
func (s *Server) FailTask(ctx context.Context, req *metadatav1.FailTaskRequest) (*metadatav1.FailTaskResponse, error) {
	t, err := s.q.Fail(ctx, req.GetOwner(), req.GetTaskId(), req.GetError(), req.GetRetryable())
	if err != nil {
		return nil, s.fail("FailTask", err)
	}
	return &metadatav1.FailTaskResponse{Task: ToProto(t)}, nil
}

// EnqueueTask implements TaskService.
func (s *Server) EnqueueTask(ctx context.Context, req *metadatav1.EnqueueTaskRequest) (*metadatav1.EnqueueTaskResponse, error) {
	t, err := s.q.Enqueue(ctx, EnqueueRequest{
		Type: req.GetType(), Region: req.GetRegion(), Payload: req.GetPayload(),
		Priority: req.GetPriority(), MaxAttempts: req.GetMaxAttempts(), DedupKey: req.GetDedupKey(),
	})
	if err != nil {
		return nil, s.fail("EnqueueTask", err)
	}
	return &metadatav1.EnqueueTaskResponse{Task: ToProto(t)}, nil
}

// GetTask implements TaskService.
func (s *Server) GetTask(ctx context.Context, req *metadatav1.GetTaskRequest) (*metadatav1.GetTaskResponse, error) {
	t, err := s.q.Get(ctx, req.GetTaskId())
	if err != nil {
		return nil, s.fail("GetTask", err)
	}
	return &metadatav1.GetTaskResponse{Task: ToProto(t)}, nil
}

// ListTasks implements TaskService.
func (s *Server) ListTasks(ctx context.Context, req *metadatav1.ListTasksRequest) (*metadatav1.ListTasksResponse, error) {
	st, ok := statusFromProto(req.GetStatus())
	if !ok {
		return nil, s.fail("ListTasks", invalid("status %d", req.GetStatus()))
	}
	tasks, err := s.q.List(ctx, ListFilter{Status: st, Type: req.GetType(), AfterID: req.GetAfterId(), Limit: int(req.GetLimit())})
	if err != nil {
		return nil, s.fail("ListTasks", err)
	}
	return &metadatav1.ListTasksResponse{Tasks: toProtos(tasks)}, nil
}

// RetryTask implements TaskService.
func (s *Server) RetryTask(ctx context.Context, req *metadatav1.RetryTaskRequest) (*metadatav1.RetryTaskResponse, error) {
	t, err := s.q.Retry(ctx, req.GetTaskId())
	if err != nil {
		return nil, s.fail("RetryTask", err)
	}
	s.log.Info("task retried by operator", "task_id", t.ID, "type", t.Type)
	return &metadatav1.RetryTaskResponse{Task: ToProto(t)}, nil
}

// CancelTask implements TaskService.
func (s *Server) CancelTask(ctx context.Context, req *metadatav1.CancelTaskRequest) (*metadatav1.CancelTaskResponse, error) {
	t, err := s.q.Cancel(ctx, req.GetTaskId())
	if err != nil {
		return nil, s.fail("CancelTask", err)
	}
	s.log.Info("task cancelled by operator", "task_id", t.ID, "type", t.Type)
	return &metadatav1.CancelTaskResponse{Task: ToProto(t)}, nil
}

// QueueStats implements TaskService.
func (s *Server) QueueStats(ctx context.Context, _ *metadatav1.QueueStatsRequest) (*metadatav1.QueueStatsResponse, error) {
	stats, err := s.q.Stats(ctx)
	if err != nil {
		return nil, s.fail("QueueStats", err)
	}
	out := make([]*metadatav1.QueueStat, len(stats))
	for i, st := range stats {
		out[i] = &metadatav1.QueueStat{
			Type: st.Type, Status: toStatusProto[st.Status], Count: st.Count,
			OldestAgeSeconds: st.OldestAge.Seconds(),
		}
	}
	return &metadatav1.QueueStatsResponse{Stats: out}, nil
}

// PurgeVersion implements TaskService.
func (s *Server) PurgeVersion(ctx context.Context, req *metadatav1.PurgeVersionRequest) (*metadatav1.PurgeVersionResponse, error) {
	purged, err := s.q.PurgeVersion(ctx, req.GetRegion(), req.GetBucketId(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, s.fail("PurgeVersion", err)
	}
	return &metadatav1.PurgeVersionResponse{Purged: purged}, nil
}
