package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anvil-store/anvil/pkg/membership"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	storagev1 "github.com/anvil-store/anvil/proto/anvil/storage/v1"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The dev cluster's etcd (port base 9000 + 60) and cluster name.
const (
	defaultEtcdEndpoints = "127.0.0.1:9060"
	defaultEtcdCluster   = "dev"
)

// etcdFlags locate the cluster's etcd for the node commands.
type etcdFlags struct {
	endpoints string
	cluster   string
}

func (e *etcdFlags) register(fs *flag.FlagSet, env adminEnv) {
	endpoints, cluster := env.getenv("ANVIL_ETCD_ENDPOINTS"), env.getenv("ANVIL_ETCD_CLUSTER")
	if endpoints == "" {
		endpoints = defaultEtcdEndpoints
	}
	if cluster == "" {
		cluster = defaultEtcdCluster
	}
	fs.StringVar(&e.endpoints, "etcd-endpoints", endpoints, "comma-separated etcd endpoints")
	fs.StringVar(&e.cluster, "etcd-cluster", cluster, "cluster name (etcd key prefix /anvil/<cluster>/)")
}

func (e *etcdFlags) client() (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(e.endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd at %s: %w", e.endpoints, err)
	}
	return cli, nil
}

// bucketDelete runs `anvil admin bucket delete NAME [--force]`.
func bucketDelete(ctx context.Context, args []string, env adminEnv) error {
	fs := flag.NewFlagSet("anvil admin bucket delete", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var c commonFlags
	c.register(fs, env)
	force := fs.Bool("force", false, "delete the bucket with everything in it (collected in the background)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError("%v", err)
	}
	if len(pos) != 1 {
		return usageError("bucket delete takes one bucket name")
	}
	if err := c.validate(); err != nil {
		return usageError("%v", err)
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial metadata at %s: %w", c.addr, err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if _, err := metadatav1.NewMetadataServiceClient(conn).DeleteBucket(ctx, &metadatav1.DeleteBucketRequest{Name: pos[0], Force: *force}); err != nil {
		return callError("delete bucket "+pos[0], c.addr, err)
	}
	fmt.Fprintf(env.stdout, "bucket %s deleted\n", pos[0])
	return nil
}

// nodeCommand runs `anvil admin node list|drain|undrain`.
func nodeCommand(ctx context.Context, cmd string, args []string, env adminEnv) error {
	fs := flag.NewFlagSet("anvil admin node "+cmd, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var e etcdFlags
	e.register(fs, env)
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of the command")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError("%v", err)
	}
	if cmd == "list" && len(pos) != 0 {
		return usageError("node list takes no arguments")
	}
	if cmd != "list" && len(pos) != 1 {
		return usageError("node %s takes one storage node id", cmd)
	}
	cli, err := e.client()
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if cmd != "list" {
		if err := membership.SetDraining(ctx, cli, e.cluster, pos[0], cmd == "drain"); err != nil {
			return err
		}
		if cmd == "drain" {
			fmt.Fprintf(env.stdout, "storage node %s is draining: no new shards go to it; the worker fleet moves its shards away\n", pos[0])
		} else {
			fmt.Fprintf(env.stdout, "storage node %s takes new shards again\n", pos[0])
		}
		return nil
	}
	return nodeList(ctx, cli, e.cluster, env)
}

// nodeList prints the storage nodes with their capacity and shard counts.
func nodeList(ctx context.Context, cli *clientv3.Client, cluster string, env adminEnv) error {
	view := membership.NewView(cli, cluster, slog.New(slog.DiscardHandler), nil)
	vctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = view.Run(vctx) }()
	for !view.Synced() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read members from etcd: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREGION\tZONE\tADDRESS\tDRAINING\tCAPACITY\tFREE\tSHARDS")
	for _, m := range view.Members(membership.RoleStorageNode, "") {
		shards := "?"
		if info, err := nodeInfo(ctx, m.GRPCAddr); err == nil {
			shards = fmt.Sprint(info.GetShardCount())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%d\t%d\t%s\n", m.ID, m.Region, dash(m.Zone), m.GRPCAddr, m.Draining, m.CapacityBytes, m.FreeBytes, shards)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func nodeInfo(ctx context.Context, addr string) (*storagev1.NodeInfoResponse, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return storagev1.NewShardServiceClient(conn).NodeInfo(ctx, &storagev1.NodeInfoRequest{})
}
