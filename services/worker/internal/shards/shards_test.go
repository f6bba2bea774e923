package shards

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is a storage node's ShardService over loopback holding ids in memory.
type node struct {
	storagev1.UnimplementedShardServiceServer
	mu     sync.Mutex
	shards map[string]bool
}

func (n *node) DeleteShard(_ context.Context, req *storagev1.DeleteShardRequest) (*storagev1.DeleteShardResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	existed := n.shards[req.GetShardId()]
	delete(n.shards, req.GetShardId())
	return &storagev1.DeleteShardResponse{Existed: existed}, nil
}

func serveNode(t *testing.T, n *node) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	storagev1.RegisterShardServiceServer(srv, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

type members map[string]membership.Member

func (m members) Lookup(role, id string) (membership.Member, bool) {
	mem, ok := m[id]
	return mem, ok && mem.Role == role
}

func TestDeleteShard(t *testing.T) {
	n := &node{shards: map[string]bool{"d.0": true}}
	addr := serveNode(t, n)
	view := members{
		"sn-1": {ID: "sn-1", Role: membership.RoleStorageNode, GRPCAddr: addr},
		"gw-1": {ID: "gw-1", Role: membership.RoleGateway, GRPCAddr: addr},
	}
	c := New(view, 5*time.Second)
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()

	tests := []struct {
		name        string
		node, shard string
		wantExisted bool
		wantErr     error
	}{
		{"held shard", "sn-1", "d.0", true, nil},
		{"missing shard", "sn-1", "d.0", false, nil},
		{"unknown node", "sn-9", "d.1", false, ErrNodeUnknown},
		{"not a storage node", "gw-1", "d.1", false, ErrNodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existed, err := c.DeleteShard(ctx, tt.node, tt.shard)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if existed != tt.wantExisted {
				t.Fatalf("existed %v, want %v", existed, tt.wantExisted)
			}
		})
	}

	// A node that left is dialled afresh when it is back.
	c.Forget(view["sn-1"])
	if _, err := c.DeleteShard(ctx, "sn-1", "d.0"); err != nil {
		t.Fatalf("after forget: %v", err)
	}
}
