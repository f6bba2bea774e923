package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/devcluster"
	"github.com/anvil-store/anvil/pkg/shardclient"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/status"
)

// healCluster is a dedicated cluster for the self-healing tests: they kill
// storage nodes for good, add and drain nodes, and want a scanner that
// passes every half second.
type healCluster struct {
	*devcluster.Cluster
	t        *testing.T
	s3       *s3.Client
	regional *pgxpool.Pool
	pool     *shardclient.Pool
	dead     map[string]bool // storage nodes killed for good
}

// healArgs tune worker-1 of the self-healing cluster: a scanner pass every
// half second, short grace periods.
var healArgs = []string{
	"-scanner.interval=500ms", "-scanner.rate=5000", "-scanner.node-lost-after=3s",
	"-orphans.grace=5s", "-rebalance.bytes-per-second=0", "-worker.poll-interval=100ms",
	"-multipart.abort-idle-after=3s",
}

// startHealCluster starts a dedicated cluster of storageNodes nodes (4+2)
// whose worker-1 runs with workerArgs.
func startHealCluster(t *testing.T, storageNodes int, workerArgs ...string) *healCluster {
	t.Helper()
	// Postgres runs as the postgres user when the tests run as root.
	dir, err := os.MkdirTemp("", "anvil-heal-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	c, err := devcluster.Start(ctx(t), devcluster.Options{
		DataDir: dir, BinDir: sharedBinDir, StorageNodes: storageNodes, DataShards: 4, ParityShards: 2,
		Log:        slog.New(slog.DiscardHandler),
		WorkerArgs: workerArgs,
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		c.Stop()
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("cluster data and logs kept in %s", dir)
		}
	})
	pool, err := pgxpool.New(ctx(t), c.Postgres().DSN(c.RegionalDB()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sc := shardclient.New(shardclient.Config{})
	t.Cleanup(func() { _ = sc.Close() })
	ak, sk := c.Credentials()
	return &healCluster{Cluster: c, t: t, s3: s3Client(c.Endpoint(), ak, sk), regional: pool, pool: sc, dead: map[string]bool{}}
}

// admin runs `anvil admin args...` against this cluster.
func (h *healCluster) admin(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(anvilBinary(t), append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), "ANVIL_METADATA_ADDR="+h.MetadataAddr(),
		"ANVIL_ETCD_ENDPOINTS="+h.EtcdEndpoint(), "ANVIL_ETCD_CLUSTER="+devcluster.EtcdCluster)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("anvil admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// placed is one shard a version row places on a node.
type placed struct {
	key, shardID, node string
}

// placements returns every shard placed by any version row, live or not.
func (h *healCluster) placements() []placed {
	h.t.Helper()
	rows, err := h.regional.Query(ctx(h.t), "SELECT key, segments FROM object_versions")
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []placed
	for rows.Next() {
		var key string
		var raw []byte
		if err := rows.Scan(&key, &raw); err != nil {
			h.t.Fatal(err)
		}
		var segs []struct {
			DataID  string   `json:"data_id"`
			NodeIDs []string `json:"node_ids"`
		}
		if err := json.Unmarshal(raw, &segs); err != nil {
			h.t.Fatal(err)
		}
		for _, s := range segs {
			for i, n := range s.NodeIDs {
				out = append(out, placed{key: key, shardID: shardclient.ShardID(s.DataID, i), node: n})
			}
		}
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// grpcAddr returns a storage node's gRPC address.
func (h *healCluster) grpcAddr(node string) string {
	p := h.Process(node)
	if p == nil {
		return ""
	}
	return "127.0.0.1:" + strconv.Itoa(p.Ports["grpc"])
}

// degraded says what keeps the objects from full redundancy: a shard with
// no node, on a dead node, missing, or failing its checksums. "" when every
// shard of every version is present and verifies.
func (h *healCluster) degraded() string {
	h.t.Helper()
	var bad []string
	for _, p := range h.placements() {
		switch {
		case p.node == "":
			bad = append(bad, p.shardID+" has no node")
		case h.dead[p.node]:
			bad = append(bad, p.shardID+" is on dead "+p.node)
		default:
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := h.pool.StatShard(c, h.grpcAddr(p.node), p.shardID, true)
			cancel()
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s on %s: %s", p.shardID, p.node, status.Code(err)))
			}
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%d shards degraded, e.g. %v", len(bad), bad[:min(3, len(bad))])
}

// nodeFiles returns the shard files on one node's disk.
func (h *healCluster) nodeFiles(node string) []string {
	h.t.Helper()
	var out []string
	p := h.Process(node)
	err := filepath.WalkDir(filepath.Join(p.DataDir, "shards"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name()[0] != '.' {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// unreferenced returns shard files on live nodes that no version row places
// there.
func (h *healCluster) unreferenced() []string {
	h.t.Helper()
	want := map[string]bool{}
	for _, p := range h.placements() {
		want[p.node+"/"+p.shardID] = true
	}
	var out []string
	for _, p := range h.Processes() {
		if p.Role != "storagenode" || h.dead[p.ID] {
			continue
		}
		for _, f := range h.nodeFiles(p.ID) {
			if !want[p.ID+"/"+filepath.Base(f)] {
				out = append(out, p.ID+"/"+filepath.Base(f))
			}
		}
	}
	return out
}

// readAll GETs every object and compares it with what was written.
func (h *healCluster) readAll(bucket string, objects map[string][]byte) error {
	for key, want := range objects {
		out, err := h.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(out.Body)
		_ = out.Body.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			return fmt.Errorf("get %s: %d bytes differ from the %d written", key, buf.Len(), len(want))
		}
	}
	return nil
}

// readWhile GETs every object over and over until stop is closed and
// returns the first failure.
func (h *healCluster) readWhile(bucket string, objects map[string][]byte, stop <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := h.readAll(bucket, objects); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// The worker fleet heals a cluster without an operator: corrupt and deleted
// shard files are found by the scanner and rebuilt; a node killed for good
// has its shards rebuilt elsewhere and a fresh node takes a share; a drained
// node ends empty under load; the shards of a gateway that crashed before
// its commit are reclaimed. Reads stay byte-exact throughout.
func TestWorkerSelfHealing(t *testing.T) {
	h := startHealCluster(t, 7, healArgs...)
	bucket := "heal"
	if _, err := h.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	sizes := []int{1, 1000, 300_000, 1<<20 + 5, 3<<20 + 7}
	for i := range 40 {
		key := fmt.Sprintf("obj-%02d", i)
		objects[key] = payload(uint64(9000+i), sizes[i%len(sizes)])
		if _, err := h.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(objects[key])}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	eventually(t, time.Minute, h.degraded)

	t.Run("corrupt and deleted shards", func(t *testing.T) {
		// Damage one shard of 12 different segments, on several nodes:
		// flip a byte in six, delete six.
		rng := rand.New(rand.NewPCG(1, 2))
		seen := map[string]bool{}
		var damaged []string
		all := h.placements()
		for _, i := range rng.Perm(len(all)) {
			p := all[i]
			dataID := p.shardID[:strings.LastIndexByte(p.shardID, '.')]
			if seen[dataID] || p.node == "" {
				continue
			}
			seen[dataID] = true
			path := filepath.Join(h.Process(p.node).DataDir, "shards")
			var file string
			_ = filepath.WalkDir(path, func(f string, d os.DirEntry, err error) error {
				if err == nil && d.Name() == p.shardID {
					file = f
				}
				return nil
			})
			if file == "" {
				t.Fatalf("shard %s not found on %s", p.shardID, p.node)
			}
			if len(damaged)%2 == 0 {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 0xff
				if err := os.WriteFile(file, b, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			damaged = append(damaged, p.node+"/"+p.shardID)
			if len(damaged) == 12 {
				break
			}
		}
		if h.degraded() == "" {
			t.Fatal("damage not visible")
		}
		stop := make(chan struct{})
		reads := h.readWhile(bucket, objects, stop)
		eventually(t, 2*time.Minute, h.degraded)
		close(stop)
		if err := <-reads; err != nil {
			t.Fatalf("a read failed during repair: %v", err)
		}
		// The metrics tell the same story: corrupt shards found, repaired.
		ops := h.Process("worker-1").Ports["ops"]
		for _, series := range []string{
			`anvil_worker_scanner_shards_found_total{state="corrupt"}`, `anvil_worker_shard_repairs_total{reason="corrupt"}`,
			`anvil_worker_scanner_shards_found_total{state="missing"}`, `anvil_worker_shard_repairs_total{reason="missing"}`,
		} {
			if n := metricsAt(t, ops)[series]; n < 6 {
				t.Errorf("%s is %v, want at least 6", series, n)
			}
		}
		t.Logf("repaired %d damaged shards: %v", len(damaged), damaged)
	})

	t.Run("node lost for good", func(t *testing.T) {
		victim := "storagenode-3"
		if err := h.Kill(victim); err != nil {
			t.Fatal(err)
		}
		h.dead[victim] = true
		fresh, err := h.StartStorageNode(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		reads := h.readWhile(bucket, objects, stop)
		eventually(t, 2*time.Minute, h.degraded)
		// Placement now ranks the fresh node for some objects: the
		// rebalancer moves shards onto it.
		eventually(t, 2*time.Minute, func() string {
			if n := len(h.nodeFiles(fresh)); n == 0 {
				return "the fresh node holds no shards"
			}
			return h.degraded()
		})
		close(stop)
		if err := <-reads; err != nil {
			t.Fatalf("a read failed while %s was gone: %v", victim, err)
		}
	})

	t.Run("drain under load", func(t *testing.T) {
		victim := "storagenode-5"
		if n := len(h.nodeFiles(victim)); n == 0 {
			t.Fatalf("%s holds no shards before the drain", victim)
		}
		stop := make(chan struct{})
		var failures atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		var written sync.Map
		for w := range 3 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("load-%d-%d", w, i)
					body := payload(uint64(w*100000+i), 1+(i*7919)%(2<<20))
					if _, err := h.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Errorf("put %s: %w", key, err))
						continue
					}
					written.Store(key, body)
				}
			})
		}
		reads := h.readWhile(bucket, objects, stop)
		if out := h.admin(t, "node", "drain", victim); !strings.Contains(out, "draining") {
			t.Fatalf("anvil admin node drain: %q", out)
		}
		eventually(t, 3*time.Minute, func() string {
			if n := len(h.nodeFiles(victim)); n > 0 {
				return fmt.Sprintf("%s still holds %d shards", victim, n)
			}
			return ""
		})
		close(stop)
		wg.Wait()
		if err := <-reads; err != nil {
			t.Fatalf("a read failed during the drain: %v", err)
		}
		if n := failures.Load(); n > 0 {
			t.Fatalf("%d writes failed during the drain, first: %v", n, firstErr.Load())
		}
		all := map[string][]byte{}
		maps := 0
		written.Range(func(k, v any) bool { all[k.(string)] = v.([]byte); maps++; return true })
		for k, v := range objects {
			all[k] = v
		}
		if err := h.readAll(bucket, all); err != nil {
			t.Fatal(err)
		}
		for _, p := range h.placements() {
			if p.node == victim {
				t.Fatalf("%s still placed on the drained node", p.shardID)
			}
		}
		if d := h.degraded(); d != "" {
			t.Fatalf("after the drain: %s", d)
		}
		list := h.admin(t, "node", "list")
		// (Its SHARDS column is the node's own count, which the file the
		// first subtest removed behind its back still skews.)
		if !regexp.MustCompile(`(?m)^` + victim + `\s.*\strue\s`).MatchString(list) {
			t.Fatalf("anvil admin node list does not show %s draining:\n%s", victim, list)
		}
		t.Logf("drained %s while writing %d objects", victim, maps)
	})

	t.Run("orphans of a crashed gateway", func(t *testing.T) {
		before := h.unreferenced()
		url, err := h.StartGateway(ctx(t), "-testing.crash-before-commit-key=crash-me")
		if err != nil {
			t.Fatal(err)
		}
		ak, sk := h.Credentials()
		crashing := s3Client(url, ak, sk, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		body := payload(77, 2<<20)
		if _, err := crashing.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("crash-me"), Body: bytes.NewReader(body)}); err == nil {
			t.Fatal("the PUT through the crashing gateway succeeded")
		}
		orphans := slices.DeleteFunc(h.unreferenced(), func(f string) bool { return slices.Contains(before, f) })
		if len(orphans) < 5 {
			t.Fatalf("want the crashed PUT's shards on disk, unreferenced; found %v", orphans)
		}
		eventually(t, 2*time.Minute, func() string {
			if left := h.unreferenced(); len(left) > 0 {
				return fmt.Sprintf("%d unreferenced shard files left, e.g. %v", len(left), left[:min(3, len(left))])
			}
			return ""
		})
		if _, err := h.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("crash-me")}); err == nil {
			t.Fatal("the crashed PUT's object exists")
		}
		if err := h.readAll(bucket, objects); err != nil {
			t.Fatal(err)
		}
		t.Logf("reclaimed %d orphan shards", len(orphans))
	})

	t.Run("idle multipart upload aborted", func(t *testing.T) {
		key := "idle-upload"
		up, err := h.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		part, err := h.s3.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(payload(5, 5<<20))})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, func() string {
			list, err := h.s3.ListMultipartUploads(ctx(t), &s3.ListMultipartUploadsInput{Bucket: &bucket})
			if err != nil {
				return err.Error()
			}
			if len(list.Uploads) > 0 {
				return fmt.Sprintf("%d uploads in progress", len(list.Uploads))
			}
			if left := h.unreferenced(); len(left) > 0 {
				return fmt.Sprintf("%d unreferenced shard files", len(left))
			}
			return ""
		})
		_, err = h.s3.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
		wantCode(t, err, "NoSuchUpload", 404)
	})
}
