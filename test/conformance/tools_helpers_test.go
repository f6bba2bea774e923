package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/testenv"
)

// goEnv is the environment for go commands that build third-party code
// outside this repository's workspace.
func goEnv() []string {
	return append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
}

// moduleDir downloads module@version into the module cache and returns its
// directory there.
func moduleDir(ctx context.Context, t *testing.T, module, version string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = t.TempDir()
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		testenv.Unavailable(t, "download %s@%s: %v\n%s%s", module, version, err, out, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		testenv.Unavailable(t, "download %s@%s: %s %v", module, version, info.Error, err)
	}
	return info.Dir
}

// cacheDir returns a directory that survives between runs for built tools.
func cacheDir(t *testing.T, name string) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "anvil-conformance", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create cache dir: %v", err)
	}
	return dir
}

// endpointHostPort returns the cluster's S3 endpoint as host:port.
func endpointHostPort(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(cluster.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// needTool fails under CI (skips elsewhere) when a program is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testenv.Unavailable(t, "%s is not installed (.ci/run installs it)", name)
	}
	return path
}

// runCmd runs a program with extra environment, returning its combined
// output; a failure is written to the suite's failures file.
func runCmd(t *testing.T, suite string, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	step := name + " " + strings.Join(args, " ")
	if err != nil {
		_ = reports.appendFailure(suite, step, fmt.Sprintf("%v\n%s", err, out.String()))
	}
	t.Logf("%s: %s (%.1fs)", suite, step, time.Since(start).Seconds())
	return out.String(), err
}

// cleanEnv is the process environment without variables that would point
// S3 tools somewhere else or break their TLS set-up.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "RCLONE_") || k == "S3CMD_CONFIG" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
