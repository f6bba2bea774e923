// Package shards reaches storage nodes by node id: it resolves ids to
// addresses through the membership view and calls them through a shared
// shardclient.Pool.
package shards

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/shardclient"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	"google.golang.org/grpc"
)

// ErrNodeUnknown is returned for a node id absent from membership: the node
// is down (or gone for good).
var ErrNodeUnknown = errors.New("shards: storage node not in membership")

// Nodes resolves node ids; *membership.View satisfies it.
type Nodes interface {
	Lookup(role, id string) (membership.Member, bool)
}

// Client calls storage nodes by id. It is safe for concurrent use; Close
// releases its connections.
type Client struct {
	nodes Nodes
	pool  *shardclient.Pool
}

// New returns a Client; timeout bounds each small call to a node and each
// send or acknowledgement of an upload. opts are added to every connection.
func New(nodes Nodes, timeout time.Duration, opts ...grpc.DialOption) *Client {
	return &Client{nodes: nodes, pool: shardclient.New(shardclient.Config{WriteTimeout: timeout, AckTimeout: timeout, DialOptions: opts})}
}

func (c *Client) addr(nodeID string) (string, error) {
	m, ok := c.nodes.Lookup(membership.RoleStorageNode, nodeID)
	if !ok || m.GRPCAddr == "" {
		return "", fmt.Errorf("%w: %s", ErrNodeUnknown, nodeID)
	}
	return m.GRPCAddr, nil
}

// DeleteShard deletes a shard from a node; existed is false when the node
// did not hold it, which is not an error.
func (c *Client) DeleteShard(ctx context.Context, nodeID, shardID string) (existed bool, err error) {
	addr, err := c.addr(nodeID)
	if err != nil {
		return false, err
	}
	return c.pool.DeleteShard(ctx, addr, shardID)
}

// StatShard stats (with verify: reads and checks) a shard on a node.
func (c *Client) StatShard(ctx context.Context, nodeID, shardID string, verify bool) (*storagev1.StatShardResponse, error) {
	addr, err := c.addr(nodeID)
	if err != nil {
		return nil, err
	}
	return c.pool.StatShard(ctx, addr, shardID, verify)
}

// ListShards pages through the shards a node holds.
func (c *Client) ListShards(ctx context.Context, nodeID, after string, limit int) (*storagev1.ListShardsResponse, error) {
	addr, err := c.addr(nodeID)
	if err != nil {
		return nil, err
	}
	return c.pool.ListShards(ctx, addr, after, limit)
}

// GetShard streams bytes [offset, offset+length) of a shard on a node.
func (c *Client) GetShard(ctx context.Context, nodeID, shardID string, offset, length int64) (io.ReadCloser, error) {
	addr, err := c.addr(nodeID)
	if err != nil {
		return nil, err
	}
	return c.pool.GetShard(ctx, addr, shardID, offset, length)
}

// PutShard opens an upload of a shard of size bytes to a node.
func (c *Client) PutShard(ctx context.Context, nodeID, shardID string, size int64) (shardclient.Writer, error) {
	addr, err := c.addr(nodeID)
	if err != nil {
		return nil, err
	}
	return c.pool.PutShard(ctx, addr, shardID, size)
}

// Forget closes the connection to a member that left, so a node that comes
// back on another address is dialled afresh.
func (c *Client) Forget(m membership.Member) {
	_ = c.pool.Forget(m.GRPCAddr)
}

// Close closes every connection.
func (c *Client) Close() error { return c.pool.Close() }
