// Package conformance runs third-party S3 conformance suites and real S3
// tools against one Anvil dev cluster of real processes: minio-go's
// functional tests, versitygw's integration suite, rclone, s3cmd, the aws
// CLI and boto3. Each suite with many tests has an expected-pass list under
// expected/; a test on a list that fails (or does not run) fails the suite.
package conformance

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

// cluster is shared by every suite of this package; reports collects their
// results for the summary and the failure files. Both are set once by
// TestMain before any test runs.
var (
	cluster *devcluster.Cluster
	reports *reportBook
)

func TestMain(m *testing.M) {
	// aws-sdk-go-v2 (inside versitygw too) cannot set up its client with it.
	os.Unsetenv("AWS_CA_BUNDLE")
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binDir, cleanup, err := binaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance: build binaries:", err)
		return 1
	}
	defer cleanup()
	dataDir, err := os.MkdirTemp("", "anvil-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	_ = os.Chmod(dataDir, 0o755)
	reports = newReportBook(filepath.Join(dataDir, "conformance"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err = devcluster.Start(ctx, devcluster.Options{
		DataDir: dataDir, BinDir: binDir, StorageNodes: 6, DataShards: 4, ParityShards: 2,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		// Postgres and etcd are required: fail, never skip.
		fmt.Fprintln(os.Stderr, "conformance: start dev cluster:", err)
		return 1
	}
	code := m.Run()
	cluster.Stop()
	reports.printSummary(os.Stderr)
	if code == 0 {
		// Keep only the reports: the failing tests of each suite are worth
		// reading even when every listed test passed.
		keepOnly(dataDir, "conformance")
		fmt.Fprintln(os.Stderr, "conformance: reports kept in", reports.dir)
	} else {
		fmt.Fprintln(os.Stderr, "conformance: cluster data, logs and reports kept in", dataDir)
	}
	return code
}

// keepOnly removes everything in dir except the entry named keep.
func keepOnly(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() != keep {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
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
