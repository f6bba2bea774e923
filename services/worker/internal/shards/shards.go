// Package shards reaches storage nodes by node id: it resolves ids to
// addresses through the membership view and keeps one gRPC connection per
// address.
package shards

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// ErrNodeUnknown is returned for a node id absent from membership: the node
// is down (or gone for good).
var ErrNodeUnknown = errors.New("shards: storage node not in membership")

// Nodes resolves node ids; *membership.View satisfies it.
type Nodes interface {
	Lookup(role, id string) (membership.Member, bool)
}

// Client deletes shards on storage nodes. It is safe for concurrent use;
// Close releases its connections.
type Client struct {
	nodes   Nodes
	timeout time.Duration

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// New returns a Client; timeout bounds each call to a node.
func New(nodes Nodes, timeout time.Duration) *Client {
	return &Client{nodes: nodes, timeout: timeout, conns: map[string]*grpc.ClientConn{}}
}

func (c *Client) client(nodeID string) (storagev1.ShardServiceClient, error) {
	m, ok := c.nodes.Lookup(membership.RoleStorageNode, nodeID)
	if !ok || m.GRPCAddr == "" {
		return nil, fmt.Errorf("%w: %s", ErrNodeUnknown, nodeID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("shards: client closed")
	}
	if cc, ok := c.conns[m.GRPCAddr]; ok {
		return storagev1.NewShardServiceClient(cc), nil
	}
	// Plaintext inside the cluster, as the gateway; reconnect quickly to a
	// node that comes back.
	cc, err := grpc.NewClient(m.GRPCAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second,
		}, MinConnectTimeout: 5 * time.Second}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial storage node %s: %w", nodeID, err)
	}
	c.conns[m.GRPCAddr] = cc
	return storagev1.NewShardServiceClient(cc), nil
}

// DeleteShard deletes a shard from a node; existed is false when the node
// did not hold it, which is not an error.
func (c *Client) DeleteShard(ctx context.Context, nodeID, shardID string) (existed bool, err error) {
	cl, err := c.client(nodeID)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := cl.DeleteShard(ctx, &storagev1.DeleteShardRequest{ShardId: shardID})
	if err != nil {
		return false, fmt.Errorf("delete shard %s on %s: %w", shardID, nodeID, err)
	}
	return resp.GetExisted(), nil
}

// Forget closes the connection to a member that left, so a node that comes
// back on another address is dialled afresh.
func (c *Client) Forget(m membership.Member) {
	c.mu.Lock()
	cc, ok := c.conns[m.GRPCAddr]
	delete(c.conns, m.GRPCAddr)
	c.mu.Unlock()
	if ok {
		_ = cc.Close()
	}
}

// Close closes every connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for addr, cc := range c.conns {
		errs = append(errs, cc.Close())
		delete(c.conns, addr)
	}
	return errors.Join(errs...)
}
