package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// segmentsOf asks the metadata service where an object's shards live.
func segmentsOf(t *testing.T, bucket, key string) []*metadatav1.Segment {
	t.Helper()
	conn, err := grpc.NewClient(cluster.MetadataAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := metadatav1.NewMetadataServiceClient(conn).GetObject(c, &metadatav1.GetObjectRequest{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("metadata GetObject %s/%s: %v", bucket, key, err)
	}
	return resp.Version.Segments
}

// shardFile finds the file holding shardID under a storage node's data dir.
func shardFile(t *testing.T, nodeID, shardID string) string {
	t.Helper()
	p := cluster.Process(nodeID)
	if p == nil {
		t.Fatalf("no process %s", nodeID)
	}
	var found string
	_ = filepath.WalkDir(p.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), shardID) && !strings.Contains(d.Name(), "tmp") {
			found = path
		}
		return nil
	})
	if found == "" {
		t.Fatalf("shard %s not found under %s", shardID, p.DataDir)
	}
	return found
}

// flipByte corrupts one byte in the middle of a file.
func flipByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	off := st.Size() / 2
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptShardIsReconstructed(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	body := payload(7, 2*stripe+99)
	put(t, c, bucket, "victim", body)
	seg := segmentsOf(t, bucket, "victim")[0]
	// Corrupt data shards 0 and 1: reads must fall back to parity.
	for i := range 2 {
		flipByte(t, shardFile(t, seg.NodeIds[i], fmt.Sprintf("%s.%d", seg.DataId, i)))
	}
	for _, rng := range []string{"", "bytes=0-99", fmt.Sprintf("bytes=%d-%d", stripe-5, stripe+5)} {
		got, err := get(t, c, bucket, "victim", rng)
		if err != nil {
			t.Fatalf("GET %q after corruption: %v", rng, err)
		}
		want := body
		switch rng {
		case "bytes=0-99":
			want = body[:100]
		case "":
		default:
			want = body[stripe-5 : stripe+6]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("GET %q after corruption returned wrong bytes", rng)
		}
	}
}

func TestNodeLoss(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	sizes := []int{1, stripe + 1, 5*stripe + 3}
	bodies := map[string][]byte{}
	for i, size := range sizes {
		key := fmt.Sprintf("obj-%d", i)
		bodies[key] = payload(uint64(100+i), size)
		put(t, c, bucket, key, bodies[key])
	}
	readAll := func(t *testing.T) {
		t.Helper()
		for key, body := range bodies {
			got, err := get(t, c, bucket, key, "")
			if err != nil {
				t.Fatalf("GET %s: %v", key, err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("GET %s: wrong bytes", key)
			}
		}
	}
	// Kill the nodes holding the first object's first two data shards, so
	// the happy path is impossible and reads must reconstruct.
	seg := segmentsOf(t, bucket, "obj-1")[0]
	victims := []string{seg.NodeIds[0], seg.NodeIds[1]}
	var third string
	for _, id := range seg.NodeIds {
		if id != victims[0] && id != victims[1] {
			third = id
			break
		}
	}
	t.Cleanup(func() {
		for _, id := range append(victims, third) {
			if p := cluster.Process(id); p != nil {
				_ = cluster.Restart(context.Background(), id) // no-op error when still running
			}
		}
	})
	for _, id := range victims {
		if err := cluster.Kill(id); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("two nodes down: every object reads byte-exact", readAll)

	if err := cluster.Kill(third); err != nil {
		t.Fatal(err)
	}
	t.Run("three nodes down: reads fail with 503, never wrong bytes", func(t *testing.T) {
		for key, body := range bodies {
			got, err := get(t, c, bucket, key, "")
			if err == nil {
				// A read that needs only data shards on live nodes (a tiny
				// object lives in shard 0) may succeed, with the right bytes.
				if len(body) >= stripe || !bytes.Equal(got, body) {
					t.Fatalf("GET %s with 3 of 6 nodes down succeeded with %d bytes (equal: %v)", key, len(got), bytes.Equal(got, body))
				}
				continue
			}
			if _, status := apiCode(err); status != 503 {
				t.Fatalf("GET %s: want a 503 S3 error, got %v", key, err)
			}
		}
	})

	for _, id := range victims {
		if err := cluster.Restart(ctx(t), id); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("one node down: PUT succeeds and reads back", func(t *testing.T) {
		// Wait until the gateway has dropped the dead node (its lease
		// expired), so the write really has only five live nodes.
		eventually(t, time.Minute, func() string {
			if n := metrics(t, "gateway-1")[`anvil_gateway_membership_peers{region="`+cluster.Region()+`",role="storagenode"}`]; n != 5 {
				return fmt.Sprintf("gateway sees %v storage nodes", n)
			}
			return ""
		})
		body := payload(999, 2*stripe+17)
		put(t, c, bucket, "written-degraded", body)
		bodies["written-degraded"] = body
		readAll(t)
	})
	if err := cluster.Restart(ctx(t), third); err != nil {
		t.Fatal(err)
	}
	t.Run("all nodes back", readAll)
	t.Run("the degraded write regains its missing shard", func(t *testing.T) {
		// Its commit queued a repair; it succeeds once a node free of the
		// object's shards is back.
		eventually(t, 3*time.Minute, func() string {
			for _, seg := range segmentsOf(t, bucket, "written-degraded") {
				for i, node := range seg.GetNodeIds() {
					if node == "" {
						return fmt.Sprintf("shard %d of %s still has no node", i, seg.GetDataId())
					}
				}
			}
			return ""
		})
		for _, seg := range segmentsOf(t, bucket, "written-degraded") {
			for i, node := range seg.GetNodeIds() {
				if shardFile(t, node, fmt.Sprintf("%s.%d", seg.GetDataId(), i)) == "" {
					t.Fatalf("shard %d of %s is not on %s", i, seg.GetDataId(), node)
				}
			}
		}
		readAll(t)
	})
}
