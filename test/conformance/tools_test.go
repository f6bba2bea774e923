package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/testenv"
)

// toolTimeout bounds one tool command (a whole sync of the tree).
const toolTimeout = 4 * time.Minute

// TestRclone syncs the tree up and back down with rclone, multipart above
// 5 MiB, and compares every file's sha256.
func TestRclone(t *testing.T) {
	const suite = "rclone"
	reports.recordTool(t, suite)
	rclone := needTool(t, "rclone")
	src, want := sourceTree(t)
	ak, sk := cluster.Credentials()
	cfg := filepath.Join(t.TempDir(), "rclone.conf")
	writeFile(t, cfg, fmt.Sprintf(`[anvil]
type = s3
provider = Other
env_auth = false
access_key_id = %s
secret_access_key = %s
endpoint = %s
region = %s
force_path_style = true
`, ak, sk, cluster.Endpoint(), cluster.Region()))
	const bucket = "conformance-rclone"
	common := []string{"--config", cfg, "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M",
		"--transfers", "8", "--checkers", "8", "--retries", "1", "--low-level-retries", "2", "--stats", "0"}
	rc := func(args ...string) {
		t.Helper()
		if out, err := runCmd(t, suite, toolTimeout, nil, rclone, append(args, common...)...); err != nil {
			t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, tail(out, 4000))
		}
	}
	rc("mkdir", "anvil:"+bucket)
	rc("sync", src, "anvil:"+bucket+"/tree")
	wantMultipart(t, bucket, "tree/")
	dst := t.TempDir()
	rc("sync", "anvil:"+bucket+"/tree", dst)
	compareTrees(t, "rclone round trip", want, treeSums(t, dst))
	rc("check", src, "anvil:"+bucket+"/tree")
	rc("purge", "anvil:"+bucket)
}

// TestS3cmd does the same with s3cmd and 5 MiB multipart chunks.
func TestS3cmd(t *testing.T) {
	const suite = "s3cmd"
	reports.recordTool(t, suite)
	s3cmd := needTool(t, "s3cmd")
	src, want := sourceTree(t)
	ak, sk := cluster.Credentials()
	host := endpointHostPort(t)
	cfg := filepath.Join(t.TempDir(), "s3cfg")
	writeFile(t, cfg, fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
bucket_location = %s
use_https = False
signature_v2 = False
check_ssl_certificate = False
max_retries = 1
`, ak, sk, host, host, cluster.Region()))
	const bucket = "conformance-s3cmd"
	env := []string{"PYTHONIOENCODING=utf-8", "LC_ALL=C.UTF-8"}
	sc := func(args ...string) {
		t.Helper()
		args = append([]string{"-c", cfg, "--no-progress", "--multipart-chunk-size-mb=5"}, args...)
		if out, err := runCmd(t, suite, toolTimeout, env, s3cmd, args...); err != nil {
			t.Fatalf("s3cmd %s: %v\n%s", strings.Join(args, " "), err, tail(out, 4000))
		}
	}
	sc("mb", "s3://"+bucket)
	sc("sync", src+"/", "s3://"+bucket+"/tree/")
	wantMultipart(t, bucket, "tree/")
	dst := t.TempDir()
	sc("sync", "s3://"+bucket+"/tree/", dst+"/")
	compareTrees(t, "s3cmd round trip", want, treeSums(t, dst))
	sc("del", "--recursive", "--force", "s3://"+bucket+"/tree/")
	sc("rb", "s3://"+bucket)
}

// TestAWSCLI drives `aws s3 sync` both ways, `aws s3 cp --recursive` both
// ways, with a 5 MB multipart threshold and chunk size.
func TestAWSCLI(t *testing.T) {
	const suite = "aws-cli"
	reports.recordTool(t, suite)
	awsBin := needTool(t, "aws")
	src, want := sourceTree(t)
	ak, sk := cluster.Credentials()
	cfg := filepath.Join(t.TempDir(), "config")
	// One attempt: a retry would hide a broken response behind a stall.
	writeFile(t, cfg, "[default]\nmax_attempts = 1\nretry_mode = standard\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n  max_concurrent_requests = 8\n")
	env := []string{
		"AWS_ENDPOINT_URL=" + cluster.Endpoint(), "AWS_ACCESS_KEY_ID=" + ak, "AWS_SECRET_ACCESS_KEY=" + sk,
		"AWS_REGION=" + cluster.Region(), "AWS_DEFAULT_REGION=" + cluster.Region(), "AWS_CONFIG_FILE=" + cfg,
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		// botocore before 1.43.77 sends Expect: 100-continue on empty
		// bodies and, when the server answers without a 100 (as S3 now
		// does too), misreads the next response on that connection
		// (boto/botocore#3755): a read timeout and a silent retry.
		"BOTO_EXPERIMENTAL__NO_EMPTY_CONTINUE=true",
	}
	const bucket = "conformance-awscli"
	cli := func(t *testing.T, args ...string) string {
		t.Helper()
		if args[0] == "s3" && (args[1] == "sync" || args[1] == "cp") {
			args = append(args, "--no-progress")
		}
		args = append(args, "--cli-read-timeout", "30")
		out, err := runCmd(t, suite, toolTimeout, env, awsBin, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, tail(out, 4000))
		}
		return out
	}
	if out, err := runCmd(t, suite, time.Minute, env, awsBin, "s3", "mb", "s3://"+bucket); err != nil {
		t.Fatalf("aws s3 mb: %v\n%s", err, out)
	}

	t.Run("sync", func(t *testing.T) {
		cli(t, "s3", "sync", src, "s3://"+bucket+"/sync/")
		wantMultipart(t, bucket, "sync/")
		dst := t.TempDir()
		cli(t, "s3", "sync", "s3://"+bucket+"/sync/", dst)
		compareTrees(t, "aws s3 sync round trip", want, treeSums(t, dst))
		// Nothing changed: a second sync either way copies nothing.
		if out := cli(t, "s3", "sync", src, "s3://"+bucket+"/sync/"); strings.TrimSpace(out) != "" {
			t.Errorf("a second sync up copied again:\n%s", tail(out, 2000))
		}
		if out := cli(t, "s3", "sync", "s3://"+bucket+"/sync/", dst); strings.TrimSpace(out) != "" {
			t.Errorf("a second sync down copied again:\n%s", tail(out, 2000))
		}
	})
	t.Run("cp recursive", func(t *testing.T) {
		// A part of the tree (the aws CLI is slow per file; sync already
		// moved all of it): the multipart-sized files, the odd names and a
		// directory of small files.
		part, partWant := subTree(t, src, want, "big/", "mid/", "odd/", "small/d07/")
		cli(t, "s3", "cp", "--recursive", part, "s3://"+bucket+"/cp/")
		wantMultipart(t, bucket, "cp/")
		dst := t.TempDir()
		cli(t, "s3", "cp", "--recursive", "s3://"+bucket+"/cp/", dst)
		compareTrees(t, "aws s3 cp --recursive round trip", partWant, treeSums(t, dst))
	})
	cli(t, "s3", "rm", "--recursive", "s3://"+bucket+"/")
	cli(t, "s3", "rb", "s3://"+bucket)
}

// TestBoto3 runs boto3_roundtrip.py with the preinstalled python3's boto3,
// which sends trailing checksums (aws-chunked with a trailer) by default.
func TestBoto3(t *testing.T) {
	const suite = "boto3"
	reports.recordTool(t, suite)
	python := needTool(t, "python3")
	if out, err := runCmd(t, suite, time.Minute, nil, python, "-c", "import boto3"); err != nil {
		testenv.Unavailable(t, "python3 cannot import boto3:\n%s", out)
	}
	script, err := filepath.Abs("boto3_roundtrip.py")
	if err != nil {
		t.Fatal(err)
	}
	ak, sk := cluster.Credentials()
	env := []string{"ANVIL_ENDPOINT=" + cluster.Endpoint(), "ANVIL_ACCESS_KEY=" + ak, "ANVIL_SECRET_KEY=" + sk,
		"ANVIL_REGION=" + cluster.Region(), "ANVIL_WORK_DIR=" + t.TempDir()}
	out, err := runCmd(t, suite, toolTimeout, env, python, script)
	t.Logf("boto3_roundtrip.py:\n%s", tail(out, 6000))
	if err != nil {
		t.Fatalf("boto3 round trip: %v", err)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
