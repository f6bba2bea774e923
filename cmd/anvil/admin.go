package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const adminUsage = `usage: anvil admin <command> [flags]

commands:
  tasks list [--status S] [--type T] [--after ID] [--limit N]
                        list tasks in id order (S: pending, leased, done, dead, cancelled)
  tasks show ID         one task with its payload and last error
  tasks retry ID        put a dead or cancelled task back to pending, attempts reset
  tasks cancel ID       stop a task from running again
  queue stats           task counts by type and status, with the oldest age
  bucket delete NAME [--force]
                        delete a bucket; --force also when it holds objects
                        (the worker fleet collects them in batches)
  node list             storage nodes: zone, draining, capacity, shard count
  node drain ID         stop placing shards on a node and move its shards away
  node undrain ID       undo a drain

node commands take --etcd-endpoints (default $ANVIL_ETCD_ENDPOINTS, else
127.0.0.1:9060) and --etcd-cluster (default $ANVIL_ETCD_CLUSTER, else dev).

common flags:
  --metadata-addr ADDR  gRPC address of the metadata service
                        (default: $ANVIL_METADATA_ADDR, else 127.0.0.1:9010)
  -o table|json         output format (default table)
  --timeout D           deadline of the call (default 10s)
`

// defaultMetadataAddr is the dev cluster's metadata gRPC port (port base
// 9000 + 10).
const defaultMetadataAddr = "127.0.0.1:9010"

// adminEnv is what the admin commands read from outside their arguments.
type adminEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// commonFlags are the flags every admin command takes.
type commonFlags struct {
	addr    string
	output  string
	timeout time.Duration
}

func (c *commonFlags) register(fs *flag.FlagSet, env adminEnv) {
	def := env.getenv("ANVIL_METADATA_ADDR")
	if def == "" {
		def = defaultMetadataAddr
	}
	fs.StringVar(&c.addr, "metadata-addr", def, "gRPC address of the metadata service")
	fs.StringVar(&c.output, "o", "table", "output format: table or json")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "deadline of the call")
}

func (c *commonFlags) validate() error {
	if c.output != "table" && c.output != "json" {
		return fmt.Errorf("-o %q: want table or json", c.output)
	}
	if c.addr == "" {
		return errors.New("--metadata-addr is required")
	}
	if c.timeout <= 0 {
		return fmt.Errorf("--timeout %s: want more than 0", c.timeout)
	}
	return nil
}

// errUsage marks an error caused by the command line: main exits with 2.
var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments ("tasks show 12 -o json" as well as "tasks show -o json 12").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// runAdmin runs `anvil admin ...`.
func runAdmin(ctx context.Context, args []string, env adminEnv) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.stdout, adminUsage)
		if len(args) == 0 {
			return usageError("no admin command")
		}
		return nil
	}
	if len(args) < 2 {
		return usageError("anvil admin %s: want a subcommand\n\n%s", args[0], adminUsage)
	}
	group, cmd, rest := args[0], args[1], args[2:]
	switch group + " " + cmd {
	case "tasks list":
		return tasksList(ctx, rest, env)
	case "tasks show", "tasks retry", "tasks cancel":
		return taskByID(ctx, cmd, rest, env)
	case "queue stats":
		return queueStats(ctx, rest, env)
	case "bucket delete":
		return bucketDelete(ctx, rest, env)
	case "node list", "node drain", "node undrain":
		return nodeCommand(ctx, cmd, rest, env)
	}
	return usageError("unknown admin command %q\n\n%s", group+" "+cmd, adminUsage)
}

// dial connects to the metadata service's TaskService.
func dial(c commonFlags) (metadatav1.TaskServiceClient, func(), error) {
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("dial metadata at %s: %w", c.addr, err)
	}
	return metadatav1.NewTaskServiceClient(conn), func() { _ = conn.Close() }, nil
}

// callError words a failed call for a person: the status message, not the
// gRPC plumbing.
func callError(what, addr string, err error) error {
	st := status.Convert(err)
	return fmt.Errorf("%s (metadata at %s): %s: %s", what, addr, st.Code(), st.Message())
}

var statusNames = map[string]metadatav1.TaskStatus{
	"pending":   metadatav1.TaskStatus_TASK_STATUS_PENDING,
	"leased":    metadatav1.TaskStatus_TASK_STATUS_LEASED,
	"done":      metadatav1.TaskStatus_TASK_STATUS_DONE,
	"dead":      metadatav1.TaskStatus_TASK_STATUS_DEAD,
	"cancelled": metadatav1.TaskStatus_TASK_STATUS_CANCELLED,
}

func statusName(s metadatav1.TaskStatus) string {
	for name, v := range statusNames {
		if v == s {
			return name
		}
	}
	return "unknown"
}

func tasksList(ctx context.Context, args []string, env adminEnv) error {
	fs := flag.NewFlagSet("anvil admin tasks list", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var c commonFlags
	c.register(fs, env)
	statusFlag := fs.String("status", "", "only tasks in this status: pending, leased, done, dead, cancelled")
	typeFlag := fs.String("type", "", "only tasks of this type")
	after := fs.Int64("after", 0, "only tasks with a larger id (the next page)")
	limit := fs.Int("limit", 100, "most tasks to list (at most 1000)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError("%v", err)
	}
	if len(pos) > 0 {
		return usageError("tasks list takes no arguments, got %q", pos)
	}
	if err := c.validate(); err != nil {
		return usageError("%v", err)
	}
	req := &metadatav1.ListTasksRequest{Type: *typeFlag, AfterId: *after, Limit: int32(*limit)}
	if *statusFlag != "" {
		st, ok := statusNames[*statusFlag]
		if !ok {
			return usageError("--status %q: want pending, leased, done, dead or cancelled", *statusFlag)
		}
		req.Status = st
	}
	if *limit < 1 || *limit > 1000 {
		return usageError("--limit %d: want 1 to 1000", *limit)
	}
	client, closeConn, err := dial(c)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := client.ListTasks(ctx, req)
	if err != nil {
		return callError("list tasks", c.addr, err)
	}
	tasks := resp.GetTasks()
	if len(tasks) == *limit {
		// On stderr, so it never mixes into the output.
		defer fmt.Fprintf(env.stderr, "more tasks may follow: --after %d\n", tasks[len(tasks)-1].GetId())
	}
	if c.output == "json" {
		out := make([]taskJSON, len(tasks))
		for i, t := range tasks {
			out[i] = toJSON(t)
		}
		return writeJSON(env.stdout, out)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tREGION\tSTATUS\tATTEMPTS\tRUN AFTER\tOWNER\tLAST ERROR")
	for _, t := range tasks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", t.GetId(), t.GetType(), t.GetRegion(),
			statusName(t.GetStatus()), t.GetAttempts(), t.GetMaxAttempts(), timeText(t.GetRunAfter()),
			dash(t.GetLeaseOwner()), dash(oneLine(t.GetLastError(), 60)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func taskByID(ctx context.Context, cmd string, args []string, env adminEnv) error {
	fs := flag.NewFlagSet("anvil admin tasks "+cmd, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var c commonFlags
	c.register(fs, env)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError("%v", err)
	}
	if len(pos) != 1 {
		return usageError("tasks %s takes one task id", cmd)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError("task id %q: want a positive number", pos[0])
	}
	if err := c.validate(); err != nil {
		return usageError("%v", err)
	}
	client, closeConn, err := dial(c)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var task *metadatav1.Task
	switch cmd {
	case "show":
		var resp *metadatav1.GetTaskResponse
		resp, err = client.GetTask(ctx, &metadatav1.GetTaskRequest{TaskId: id})
		task = resp.GetTask()
	case "retry":
		var resp *metadatav1.RetryTaskResponse
		resp, err = client.RetryTask(ctx, &metadatav1.RetryTaskRequest{TaskId: id})
		task = resp.GetTask()
	case "cancel":
		var resp *metadatav1.CancelTaskResponse
		resp, err = client.CancelTask(ctx, &metadatav1.CancelTaskRequest{TaskId: id})
		task = resp.GetTask()
	}
	if err != nil {
		return callError(cmd+" task "+pos[0], c.addr, err)
	}
	if c.output == "json" {
		return writeJSON(env.stdout, toJSON(task))
	}
	return writeTask(env.stdout, task)
}

func queueStats(ctx context.Context, args []string, env adminEnv) error {
	fs := flag.NewFlagSet("anvil admin queue stats", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var c commonFlags
	c.register(fs, env)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError("%v", err)
	}
	if len(pos) > 0 {
		return usageError("queue stats takes no arguments, got %q", pos)
	}
	if err := c.validate(); err != nil {
		return usageError("%v", err)
	}
	client, closeConn, err := dial(c)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := client.QueueStats(ctx, &metadatav1.QueueStatsRequest{})
	if err != nil {
		return callError("queue stats", c.addr, err)
	}
	type statJSON struct {
		Type             string  `json:"type"`
		Status           string  `json:"status"`
		Count            int64   `json:"count"`
		OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	}
	stats := resp.GetStats()
	if c.output == "json" {
		out := make([]statJSON, len(stats))
		for i, s := range stats {
			out[i] = statJSON{s.GetType(), statusName(s.GetStatus()), s.GetCount(), s.GetOldestAgeSeconds()}
		}
		return writeJSON(env.stdout, out)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tSTATUS\tCOUNT\tOLDEST")
	for _, s := range stats {
		age := time.Duration(s.GetOldestAgeSeconds() * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.GetType(), statusName(s.GetStatus()), s.GetCount(), age)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// taskJSON is a task as `-o json` prints it: the payload as JSON, times in
// RFC 3339, the status by name.
type taskJSON struct {
	ID             int64           `json:"id"`
	Type           string          `json:"type"`
	Region         string          `json:"region"`
	Status         string          `json:"status"`
	Priority       int32           `json:"priority"`
	Attempts       int32           `json:"attempts"`
	MaxAttempts    int32           `json:"max_attempts"`
	RunAfter       *time.Time      `json:"run_after,omitempty"`
	LeaseOwner     string          `json:"lease_owner,omitempty"`
	LeaseExpiresAt *time.Time      `json:"lease_expires_at,omitempty"`
	LastError      string          `json:"last_error,omitempty"`
	CreatedAt      *time.Time      `json:"created_at,omitempty"`
	UpdatedAt      *time.Time      `json:"updated_at,omitempty"`
	Payload        json.RawMessage `json:"payload"`
}

func timePtr(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime().UTC()
	return &t
}

func toJSON(t *metadatav1.Task) taskJSON {
	payload := json.RawMessage(t.GetPayload())
	if !json.Valid(payload) {
		// Never produced by the service; quote rather than emit broken JSON.
		payload, _ = json.Marshal(string(t.GetPayload()))
	}
	return taskJSON{
		ID: t.GetId(), Type: t.GetType(), Region: t.GetRegion(), Status: statusName(t.GetStatus()),
		Priority: t.GetPriority(), Attempts: t.GetAttempts(), MaxAttempts: t.GetMaxAttempts(),
		RunAfter: timePtr(t.GetRunAfter()), LeaseOwner: t.GetLeaseOwner(), LeaseExpiresAt: timePtr(t.GetLeaseExpiresAt()),
		LastError: t.GetLastError(), CreatedAt: timePtr(t.GetCreatedAt()), UpdatedAt: timePtr(t.GetUpdatedAt()),
		Payload: payload,
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeTask prints one task as aligned fields, then its last error and
// payload in full.
func writeTask(w io.Writer, t *metadatav1.Task) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"ID", strconv.FormatInt(t.GetId(), 10)},
		{"Type", t.GetType()},
		{"Region", t.GetRegion()},
		{"Status", statusName(t.GetStatus())},
		{"Priority", strconv.Itoa(int(t.GetPriority()))},
		{"Attempts", fmt.Sprintf("%d of %d", t.GetAttempts(), t.GetMaxAttempts())},
		{"Run after", timeText(t.GetRunAfter())},
		{"Lease owner", dash(t.GetLeaseOwner())},
		{"Lease expires", timeText(t.GetLeaseExpiresAt())},
		{"Created", timeText(t.GetCreatedAt())},
		{"Updated", timeText(t.GetUpdatedAt())},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	fmt.Fprintf(w, "Last error:\n  %s\n", strings.ReplaceAll(dash(t.GetLastError()), "\n", "\n  "))
	payload := t.GetPayload()
	var pretty bytes.Buffer
	if json.Indent(&pretty, payload, "  ", "  ") == nil {
		payload = pretty.Bytes()
	}
	if _, err := fmt.Fprintf(w, "Payload:\n  %s\n", payload); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func timeText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine shortens text for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
