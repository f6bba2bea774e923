// Package devcluster starts a whole Anvil cluster on one machine, each
// service as its own OS process from the built binaries: a private
// PostgreSQL, an embedded etcd, storage nodes, metadata, gateway and worker.
// `anvil dev` and the end-to-end tests both use it.
package devcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anvil-store/anvil/pkg/localetcd"
	"github.com/anvil-store/anvil/pkg/localpg"
)

// Options configure a dev cluster.
type Options struct {
	// DataDir holds everything the cluster stores; reused across restarts.
	DataDir string
	// BinDir holds anvil-gateway, anvil-storagenode, anvil-metadata and anvil-worker.
	BinDir       string
	StorageNodes int
	DataShards   int
	ParityShards int
	// PortBase fixes the ports (gateway S3 on PortBase); 0 picks free ports.
	PortBase int
	Region   string
	// WorkerArgs are extra flags of worker-1 (tests tune the scanner).
	WorkerArgs []string
	// LogLevel is every service's log level (default info).
	LogLevel string
	// Log receives the launcher's own messages.
	Log *slog.Logger
}

// Process is one OS process of the cluster, as recorded in cluster.json.
type Process struct {
	Role    string         `json:"role"`
	ID      string         `json:"id"`
	PID     int            `json:"pid"`
	Ports   map[string]int `json:"ports"`
	DataDir string         `json:"data_dir,omitempty"`
	LogFile string         `json:"log_file,omitempty"`
	Args    []string       `json:"args,omitempty"`

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Cluster is a running dev cluster.
type Cluster struct {
	opts      Options
	log       *slog.Logger
	pg        *localpg.Cluster
	pgOpts    localpg.Options
	etcd      *localetcd.Server
	accessKey string
	secretKey string
	ports     *portPlan
	mu        sync.Mutex
	procs     []*Process
	// started counts the processes started per role, to name extra ones.
	started map[string]int
}

// Binaries the launcher starts.
const (
	BinGateway     = "anvil-gateway"
	BinStorageNode = "anvil-storagenode"
	BinMetadata    = "anvil-metadata"
	BinWorker      = "anvil-worker"
)

// EtcdCluster is the etcd cluster name the dev services share.
const EtcdCluster = "dev"

func (o *Options) defaults() error {
	if o.DataDir == "" {
		return errors.New("devcluster: data dir is required")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("resolve data dir: %w", err)
	}
	o.DataDir = abs
	if o.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own binary: %w", err)
		}
		o.BinDir = filepath.Dir(exe)
	}
	if o.StorageNodes == 0 {
		o.StorageNodes = 6
	}
	if o.DataShards == 0 {
		o.DataShards = 4
	}
	if o.ParityShards == 0 {
		o.ParityShards = 2
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.DataShards+o.ParityShards > o.StorageNodes {
		return fmt.Errorf("devcluster: %d+%d erasure shards need at least %d storage nodes, have %d",
			o.DataShards, o.ParityShards, o.DataShards+o.ParityShards, o.StorageNodes)
	}
	for _, b := range []string{BinGateway, BinStorageNode, BinMetadata, BinWorker} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return fmt.Errorf("devcluster: binary %s not found in %s (run `make build`): %w", b, o.BinDir, err)
		}
	}
	return nil
}

// portPlan hands out the cluster's ports: fixed offsets from a base, or free
// ports picked once and remembered so restarts of a process keep its ports.
type portPlan struct {
	base int
	used map[string]int
}

func (p *portPlan) port(name string, offset int) (int, error) {
	if v, ok := p.used[name]; ok {
		return v, nil
	}
	v := p.base + offset
	if p.base == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		v = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	p.used[name] = v
	return v, nil
}

// Start brings the whole cluster up and returns once every service is ready.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(opts.DataDir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	c := &Cluster{opts: opts, log: opts.Log, ports: &portPlan{base: opts.PortBase, used: map[string]int{}}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := c.loadCredentials(); err != nil {
		return nil, err
	}

	pgPort, err := c.ports.port("postgres", 50)
	if err != nil {
		return nil, err
	}
	pgLog, err := os.OpenFile(filepath.Join(opts.DataDir, "logs", "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open postgres log: %w", err)
	}
	c.log.Info("starting postgres", "port", pgPort)
	c.pgOpts = localpg.Options{DataDir: filepath.Join(opts.DataDir, "postgres"), Port: pgPort, Log: pgLog}
	c.pg, err = localpg.Start(ctx, c.pgOpts)
	if err != nil {
		return nil, err
	}
	for _, db := range []string{c.GlobalDB(), c.RegionalDB()} {
		if err := c.pg.CreateDatabase(ctx, db); err != nil {
			return nil, err
		}
	}

	etcdClient, err := c.ports.port("etcd-client", 60)
	if err != nil {
		return nil, err
	}
	etcdPeer, err := c.ports.port("etcd-peer", 61)
	if err != nil {
		return nil, err
	}
	c.log.Info("starting embedded etcd", "port", etcdClient)
	c.etcd, err = localetcd.Start(filepath.Join(opts.DataDir, "etcd"), etcdClient, etcdPeer)
	if err != nil {
		return nil, err
	}

	if err := c.startAndWait(ctx, c.metadataSpec()); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, opts.StorageNodes)
	for i := range opts.StorageNodes {
		spec, err := c.storageNodeSpec(i)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.startAndWait(ctx, spec) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	gw, err := c.gatewaySpec("gateway-1")
	if err != nil {
		return nil, err
	}
	if err := c.startAndWait(ctx, gw); err != nil {
		return nil, err
	}
	wk, err := c.workerSpec("worker-1", opts.WorkerArgs...)
	if err != nil {
		return nil, err
	}
	if err := c.startAndWait(ctx, wk); err != nil {
		return nil, err
	}
	if err := c.writeFiles(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) loadCredentials() error {
	path := filepath.Join(c.opts.DataDir, "credentials")
	if b, err := os.ReadFile(path); err == nil {
		parts := strings.Fields(string(b))
		if len(parts) == 2 {
			c.accessKey, c.secretKey = parts[0], parts[1]
			return nil
		}
	}
	c.accessKey = "AK" + strings.ToUpper(randomHex(9))
	c.secretKey = randomHex(20)
	if err := os.WriteFile(path, []byte(c.accessKey+" "+c.secretKey+"\n"), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// GlobalDB and RegionalDB name the dev cluster's databases.
func (c *Cluster) GlobalDB() string   { return "anvil_global" }
func (c *Cluster) RegionalDB() string { return "anvil_" + strings.ReplaceAll(c.opts.Region, "-", "_") }

// Postgres returns the private PostgreSQL cluster.
func (c *Cluster) Postgres() *localpg.Cluster { return c.pg }

// EtcdEndpoint returns etcd's client address.
func (c *Cluster) EtcdEndpoint() string { return c.etcd.Endpoint() }

// Credentials returns the root access key pair.
func (c *Cluster) Credentials() (accessKey, secretKey string) { return c.accessKey, c.secretKey }

// Region returns the cluster's region.
func (c *Cluster) Region() string { return c.opts.Region }

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return c.opts.DataDir }

// Endpoint returns the first gateway's S3 URL.
func (c *Cluster) Endpoint() string {
	return "http://127.0.0.1:" + strconv.Itoa(c.ports.used["gateway-1.s3"])
}

// spec describes how to start one process.
type spec struct {
	role, id, bin string
	args          []string
	ports         map[string]int
	dataDir       string
}

func (c *Cluster) common() []string {
	return []string{
		"-etcd.endpoints=" + c.etcd.Endpoint(),
		"-etcd.cluster=" + EtcdCluster,
		"-etcd.lease-ttl=5s",
		"-log.format=json",
		"-log.level=" + c.opts.LogLevel,
	}
}

func (c *Cluster) metadataSpec() spec {
	grpcPort, _ := c.ports.port("metadata.grpc", 10)
	opsPort, _ := c.ports.port("metadata.ops", 11)
	return spec{
		role: "metadata", id: "metadata-1", bin: BinMetadata,
		ports: map[string]int{"grpc": grpcPort, "ops": opsPort},
		args: append(c.common(),
			fmt.Sprintf("-grpc.listen-addr=127.0.0.1:%d", grpcPort),
			fmt.Sprintf("-ops.listen-addr=127.0.0.1:%d", opsPort),
			"-db.global-dsn="+c.pg.DSN(c.GlobalDB()),
			"-db.regional-dsn="+c.opts.Region+"="+c.pg.DSN(c.RegionalDB()),
			// Collect garbage soon after a delete: a dev cluster shows it at once.
			"-gc.grace=1s",
		),
	}
}

// MetadataAddr returns the metadata service's gRPC address.
func (c *Cluster) MetadataAddr() string {
	return "127.0.0.1:" + strconv.Itoa(c.ports.used["metadata.grpc"])
}

var zones = []string{"zone-a", "zone-b", "zone-c"}

func (c *Cluster) storageNodeSpec(i int) (spec, error) {
	id := fmt.Sprintf("storagenode-%d", i+1)
	grpcPort, err := c.ports.port(id+".grpc", 100+2*i)
	if err != nil {
		return spec{}, err
	}
	opsPort, err := c.ports.port(id+".ops", 101+2*i)
	if err != nil {
		return spec{}, err
	}
	dir := filepath.Join(c.opts.DataDir, id)
	return spec{
		role: "storagenode", id: id, bin: BinStorageNode, dataDir: dir,
		ports: map[string]int{"grpc": grpcPort, "ops": opsPort},
		args: append(c.common(),
			fmt.Sprintf("-grpc.listen-addr=127.0.0.1:%d", grpcPort),
			fmt.Sprintf("-ops.listen-addr=127.0.0.1:%d", opsPort),
			"-node.id="+id,
			"-node.data-dirs="+dir,
			"-node.region="+c.opts.Region,
			"-node.zone="+zones[i%len(zones)],
		),
	}, nil
}

func (c *Cluster) gatewaySpec(id string) (spec, error) {
	n := extraOffset(id, 1000)
	s3Port, err := c.ports.port(id+".s3", n)
	if err != nil {
		return spec{}, err
	}
	opsPort, err := c.ports.port(id+".ops", n+1)
	if err != nil {
		return spec{}, err
	}
	grpcPort, err := c.ports.port(id+".grpc", n+2)
	if err != nil {
		return spec{}, err
	}
	return spec{
		role: "gateway", id: id, bin: BinGateway,
		ports: map[string]int{"s3": s3Port, "ops": opsPort, "grpc": grpcPort},
		args: append(c.common(),
			fmt.Sprintf("-s3.listen-addr=127.0.0.1:%d", s3Port),
			fmt.Sprintf("-ops.listen-addr=127.0.0.1:%d", opsPort),
			fmt.Sprintf("-grpc.listen-addr=127.0.0.1:%d", grpcPort),
			"-s3.region="+c.opts.Region,
			"-s3.domain=localhost",
			"-metadata.addr="+c.MetadataAddr(),
			"-gateway.id="+id,
			fmt.Sprintf("-erasure.data-shards=%d", c.opts.DataShards),
			fmt.Sprintf("-erasure.parity-shards=%d", c.opts.ParityShards),
		),
	}, nil
}

func (c *Cluster) workerSpec(id string, extraArgs ...string) (spec, error) {
	n := extraOffset(id, 2000)
	grpcPort, err := c.ports.port(id+".grpc", n+20)
	if err != nil {
		return spec{}, err
	}
	opsPort, err := c.ports.port(id+".ops", n+21)
	if err != nil {
		return spec{}, err
	}
	return spec{
		role: "worker", id: id, bin: BinWorker,
		ports: map[string]int{"grpc": grpcPort, "ops": opsPort},
		args: append(append(c.common(),
			fmt.Sprintf("-grpc.listen-addr=127.0.0.1:%d", grpcPort),
			fmt.Sprintf("-ops.listen-addr=127.0.0.1:%d", opsPort),
			"-metadata.addr="+c.MetadataAddr(),
			"-worker.id="+id,
		), extraArgs...),
	}, nil
}

func (c *Cluster) startAndWait(ctx context.Context, s spec) error {
	p, err := c.start(s)
	if err != nil {
		return err
	}
	return c.waitReady(ctx, p)
}

func (c *Cluster) start(s spec) (*Process, error) {
	logPath := filepath.Join(c.opts.DataDir, "logs", s.id+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", s.id, err)
	}
	args := s.args
	cmd := exec.Command(filepath.Join(c.opts.BinDir, s.bin), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Secrets reach the gateway through its environment, not its argv.
	cmd.Env = append(os.Environ(), "ANVIL_AUTH_ACCESS_KEY_ID="+c.accessKey, "ANVIL_AUTH_SECRET_ACCESS_KEY="+c.secretKey)
	// Own process group (Ctrl-C reaches only the launcher, which stops the
	// services in order) and die with the launcher.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", s.id, err)
	}
	p := &Process{Role: s.role, ID: s.id, PID: cmd.Process.Pid, Ports: s.ports, DataDir: s.dataDir, LogFile: logPath, Args: args, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	c.log.Info("started", "role", s.role, "id", s.id, "pid", p.PID)
	return p, nil
}

func (c *Cluster) waitReady(ctx context.Context, p *Process) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/ready", p.Ports["ops"])
	deadline := time.Now().Add(90 * time.Second)
	client := &http.Client{Timeout: 3 * time.Second}
	var last string
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up (%v); see %s:\n%s", p.ID, p.err, p.LogFile, tail(p.LogFile))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = strings.TrimSpace(string(body))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 90s: %s; see %s:\n%s", p.ID, last, p.LogFile, tail(p.LogFile))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// clusterFile is the shape of <data-dir>/cluster.json.
type clusterFile struct {
	DataDir   string     `json:"data_dir"`
	Region    string     `json:"region"`
	Endpoint  string     `json:"s3_endpoint"`
	Processes []*Process `json:"processes"`
}

func (c *Cluster) writeFiles() error {
	c.mu.Lock()
	procs := []*Process{
		{Role: "postgres", ID: "postgres", PID: c.pg.PID(), Ports: map[string]int{"sql": c.pg.Port()}, DataDir: c.pg.DataDir(),
			LogFile: filepath.Join(c.opts.DataDir, "logs", "postgres.log")},
		{Role: "etcd", ID: "etcd", PID: os.Getpid(), Ports: map[string]int{"client": c.ports.used["etcd-client"], "peer": c.ports.used["etcd-peer"]},
			DataDir: filepath.Join(c.opts.DataDir, "etcd")},
	}
	for _, p := range c.procs {
		select {
		case <-p.done:
		default:
			procs = append(procs, p)
		}
	}
	c.mu.Unlock()
	b, err := json.MarshalIndent(clusterFile{DataDir: c.opts.DataDir, Region: c.opts.Region, Endpoint: c.Endpoint(), Processes: procs}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.opts.DataDir, "cluster.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write cluster.json: %w", err)
	}
	// The ANVIL_* lines point `anvil admin` at this cluster.
	env := fmt.Sprintf("export AWS_ENDPOINT_URL=%s\nexport AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_REGION=%s\nexport AWS_DEFAULT_REGION=%s\n"+
		"export ANVIL_METADATA_ADDR=%s\nexport ANVIL_ETCD_ENDPOINTS=%s\nexport ANVIL_ETCD_CLUSTER=%s\n",
		c.Endpoint(), c.accessKey, c.secretKey, c.opts.Region, c.opts.Region, c.MetadataAddr(), c.etcd.Endpoint(), EtcdCluster)
	if err := os.WriteFile(filepath.Join(c.opts.DataDir, "env"), []byte(env), 0o600); err != nil {
		return fmt.Errorf("write env: %w", err)
	}
	return nil
}

// Processes returns the service processes started so far (alive or not).
func (c *Cluster) Processes() []*Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Process(nil), c.procs...)
}

// Process returns the most recent process with the given id.
func (c *Cluster) Process(id string) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.procs) - 1; i >= 0; i-- {
		if c.procs[i].ID == id {
			return c.procs[i]
		}
	}
	return nil
}

// Kill sends SIGKILL to a process and waits for it to exit.
func (c *Cluster) Kill(id string) error {
	p := c.Process(id)
	if p == nil {
		return fmt.Errorf("devcluster: no process %s", id)
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// Restart starts a stopped process again with its previous arguments and
// ports, and waits until it is ready.
func (c *Cluster) Restart(ctx context.Context, id string) error {
	p := c.Process(id)
	if p == nil {
		return fmt.Errorf("devcluster: no process %s", id)
	}
	select {
	case <-p.done:
	default:
		return fmt.Errorf("devcluster: %s is still running", id)
	}
	bin := map[string]string{"gateway": BinGateway, "storagenode": BinStorageNode, "metadata": BinMetadata, "worker": BinWorker}[p.Role]
	np, err := c.start(spec{role: p.Role, id: p.ID, bin: bin, args: p.Args, ports: p.Ports, dataDir: p.DataDir})
	if err != nil {
		return err
	}
	return c.waitReady(ctx, np)
}

// StartGateway starts one more gateway process with extra flags and
// returns its S3 URL.
func (c *Cluster) StartGateway(ctx context.Context, extraArgs ...string) (string, error) {
	s, err := c.gatewaySpec(c.nextID("gateway"))
	if err != nil {
		return "", err
	}
	s.args = append(s.args, extraArgs...)
	if err := c.startAndWait(ctx, s); err != nil {
		return "", err
	}
	return "http://127.0.0.1:" + strconv.Itoa(s.ports["s3"]), nil
}

// StopPostgres stops the private Postgres (tests of what services do
// without their database); StartPostgres starts it again.
func (c *Cluster) StopPostgres() error { return c.pg.Stop() }

// StartPostgres starts the private Postgres again after StopPostgres, on
// the same port and data.
func (c *Cluster) StartPostgres(ctx context.Context) error {
	pg, err := localpg.Start(ctx, c.pgOpts)
	if err != nil {
		return err
	}
	c.pg = pg
	return nil
}

// StopEtcd stops the embedded etcd; StartEtcd starts it again.
func (c *Cluster) StopEtcd() { c.etcd.Close() }

// StartEtcd starts the embedded etcd again after StopEtcd, on the same
// ports and data.
func (c *Cluster) StartEtcd() error {
	e, err := localetcd.Start(filepath.Join(c.opts.DataDir, "etcd"), c.ports.used["etcd-client"], c.ports.used["etcd-peer"])
	if err != nil {
		return err
	}
	c.etcd = e
	return nil
}

// StartStorageNode starts one more (empty) storage node and returns its id.
func (c *Cluster) StartStorageNode(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.started == nil {
		c.started = map[string]int{}
	}
	c.started["storagenode"]++
	i := c.opts.StorageNodes + c.started["storagenode"] - 1
	c.mu.Unlock()
	s, err := c.storageNodeSpec(i)
	if err != nil {
		return "", err
	}
	if err := c.startAndWait(ctx, s); err != nil {
		return "", err
	}
	return s.id, c.writeFiles()
}

// StartWorker starts one more worker process with extra flags and returns
// its id.
func (c *Cluster) StartWorker(ctx context.Context, extraArgs ...string) (string, error) {
	s, err := c.workerSpec(c.nextID("worker"), extraArgs...)
	if err != nil {
		return "", err
	}
	if err := c.startAndWait(ctx, s); err != nil {
		return "", err
	}
	return s.id, nil
}

// nextID names the next extra process of a role: <role>-2, <role>-3, ...
func (c *Cluster) nextID(role string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started == nil {
		c.started = map[string]int{}
	}
	c.started[role]++
	return fmt.Sprintf("%s-%d", role, c.started[role]+1)
}

// extraOffset places the fixed ports of <role>-N (N >= 2) in a block of ten
// per process above base; <role>-1 keeps the plain offsets.
func extraOffset(id string, base int) int {
	i := strings.LastIndexByte(id, '-')
	n, _ := strconv.Atoi(id[i+1:])
	if n <= 1 {
		return 0
	}
	return base + 10*(n-2)
}

// Stop stops every service in reverse start order, then etcd and Postgres.
func (c *Cluster) Stop() {
	c.mu.Lock()
	procs := append([]*Process(nil), c.procs...)
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	if c.pg != nil {
		_ = c.pg.Stop()
	}
}
