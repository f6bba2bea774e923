// Package e2e runs Anvil end to end: a dev cluster of real processes (private
// Postgres, embedded etcd, storage nodes, metadata, gateway, worker) driven by
// real S3 clients (aws-sdk-go-v2 and the aws CLI).
package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/devcluster"
)

// cluster is shared by the tests of this package; tests that stop processes
// restore them before they return.
var cluster *devcluster.Cluster

// sharedBinDir holds the service binaries the clusters of this package run.
var sharedBinDir string

func TestMain(m *testing.M) {
	os.Unsetenv("AWS_CA_BUNDLE")
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binDir, cleanup, err := binaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build binaries:", err)
		return 1
	}
	defer cleanup()
	sharedBinDir = binDir
	dataDir, err := os.MkdirTemp("", "anvil-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	_ = os.Chmod(dataDir, 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err = devcluster.Start(ctx, devcluster.Options{
		DataDir: dataDir, BinDir: binDir, StorageNodes: 6, DataShards: 4, ParityShards: 2,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Debug logs every gRPC call with its request id (TestRequestIDFollowsRequest).
		LogLevel: "debug",
	})
	if err != nil {
		// Postgres and etcd are required: this fails (it does not skip) so a
		// machine without them cannot pass the suite silently.
		fmt.Fprintln(os.Stderr, "e2e: start dev cluster:", err)
		return 1
	}
	code := m.Run()
	cluster.Stop()
	if code == 0 {
		_ = os.RemoveAll(dataDir)
	} else {
		fmt.Fprintln(os.Stderr, "e2e: cluster data and logs kept in", dataDir)
	}
	return code
}

// binaries returns the directory of the service binaries: ANVIL_BIN_DIR when
// set (make test builds them), else a fresh build.
func binaries() (string, func(), error) {
	if dir := os.Getenv("ANVIL_BIN_DIR"); dir != "" {
		return dir, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "anvil-bin-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/anvil-store/anvil/services/gateway/cmd/anvil-gateway",
		"github.com/anvil-store/anvil/services/storagenode/cmd/anvil-storagenode",
		"github.com/anvil-store/anvil/services/metadata/cmd/anvil-metadata",
		"github.com/anvil-store/anvil/services/worker/cmd/anvil-worker",
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}
