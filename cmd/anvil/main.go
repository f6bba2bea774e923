// Command anvil is the Anvil dev launcher and admin CLI.
//
//	anvil dev [flags]   start a whole local cluster (see `anvil dev -h`)
//	anvil admin ...     operate a cluster: tasks and the task queue (see `anvil admin help`)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/anvil-store/anvil/pkg/devcluster"
	"github.com/anvil-store/anvil/pkg/service"
)

const usage = `usage: anvil <command> [flags]

commands:
  dev      start a local cluster: private Postgres, embedded etcd, storage nodes,
           metadata, gateway and worker, each service its own process
  admin    operate a cluster: list, show, retry and cancel tasks; queue stats
  help     show this help
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "dev":
		err = runDev(os.Args[2:], os.Stdout, os.Stderr)
	case "admin":
		ctx, stop := service.SignalContext()
		err = runAdmin(ctx, os.Args[2:], adminEnv{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
		stop()
		if errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "anvil:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
			os.Exit(2)
		}
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "anvil: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "anvil:", err)
		os.Exit(1)
	}
}

func runDev(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("anvil dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts devcluster.Options
	fs.StringVar(&opts.DataDir, "data-dir", ".anvil/dev", "where the cluster keeps its data; reused across restarts")
	fs.StringVar(&opts.BinDir, "bin-dir", "", "directory holding the service binaries (default: next to this binary)")
	fs.IntVar(&opts.StorageNodes, "storage-nodes", 6, "number of storage nodes")
	fs.IntVar(&opts.DataShards, "data-shards", 4, "erasure data shards (k)")
	fs.IntVar(&opts.ParityShards, "parity-shards", 2, "erasure parity shards (m)")
	fs.IntVar(&opts.PortBase, "port-base", 9000, "first port: S3 on port-base, other services above it; 0 picks free ports")
	fs.StringVar(&opts.Region, "region", "us-east-1", "region name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts.Log = slog.New(slog.NewTextHandler(stderr, nil))
	// A dev cluster is small: scan it often, so a corrupted or deleted shard
	// is repaired within a minute, not an hour.
	opts.WorkerArgs = []string{"-scanner.interval=30s"}
	ctx, stop := service.SignalContext()
	defer stop()
	c, err := devcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	ak, _ := c.Credentials()
	envFile := filepath.Join(c.DataDir(), "env")
	fmt.Fprintf(stdout, "anvil dev cluster ready: S3 endpoint %s, access key %s, region %s\n", c.Endpoint(), ak, c.Region())
	fmt.Fprintf(stdout, "  source %s && aws s3 ls      # Ctrl-C stops the cluster; processes in %s\n", envFile, filepath.Join(c.DataDir(), "cluster.json"))
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping the cluster")
	c.Stop()
	return nil
}
