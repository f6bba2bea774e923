package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// awsCLI runs the aws command line client against the cluster.
func awsCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the aws CLI is not installed")
		}
		t.Skip("the aws CLI is not installed")
	}
	ak, sk := cluster.Credentials()
	cfg := filepath.Join(t.TempDir(), "config")
	// Multipart uploads come with the S3-compatibility issue; keep the CLI on single PUTs.
	_ = os.WriteFile(cfg, []byte("[default]\ns3 =\n  multipart_threshold = 1GB\n"), 0o600)
	cmd := exec.Command("aws", args...)
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL="+cluster.Endpoint(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk,
		"AWS_REGION="+cluster.Region(), "AWS_DEFAULT_REGION="+cluster.Region(), "AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CA_BUNDLE=", "AWS_PAGER=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

func TestAWSCLI(t *testing.T) {
	bucket := "cli-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if out, err := awsCLI(t, "s3", "mb", "s3://"+bucket); err != nil {
		t.Fatalf("mb: %v\n%s", err, out)
	}
	dir := t.TempDir()
	sizes := map[string]int{"empty": 0, "one": 1, "stripe-1": stripe - 1, "stripe": stripe, "stripe+1": stripe + 1, "big": 64<<20 + 7}
	i := 0
	for name, size := range sizes {
		i++
		body := payload(uint64(500+i), size)
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := awsCLI(t, "s3", "cp", src, "s3://"+bucket+"/files/"+name); err != nil {
			t.Fatalf("cp up %s: %v\n%s", name, err, out)
		}
		dst := filepath.Join(dir, name+".back")
		if out, err := awsCLI(t, "s3", "cp", "s3://"+bucket+"/files/"+name, dst); err != nil {
			t.Fatalf("cp down %s: %v\n%s", name, err, out)
		}
		got, _ := os.ReadFile(dst)
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: round trip through the aws CLI changed the bytes (%d vs %d)", name, len(got), len(body))
		}
	}
	out, err := awsCLI(t, "s3", "ls", "s3://"+bucket+"/files/")
	if err != nil {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	for name := range sizes {
		if !strings.Contains(out, " "+name+"\n") {
			t.Fatalf("ls does not list %s:\n%s", name, out)
		}
	}
	rangeOut := filepath.Join(dir, "range")
	if out, err := awsCLI(t, "s3api", "get-object", "--bucket", bucket, "--key", "files/big", "--range", "bytes=100-199", rangeOut); err != nil {
		t.Fatalf("ranged get-object: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(rangeOut)
	big, _ := os.ReadFile(filepath.Join(dir, "big"))
	if !bytes.Equal(got, big[100:200]) {
		t.Fatal("ranged get-object returned the wrong bytes")
	}
	if out, err := awsCLI(t, "s3", "rm", "--recursive", "s3://"+bucket+"/files/"); err != nil {
		t.Fatalf("rm: %v\n%s", err, out)
	}
	if out, err := awsCLI(t, "s3", "rb", "s3://"+bucket); err != nil {
		t.Fatalf("rb: %v\n%s", err, out)
	}
	if out, err := awsCLI(t, "s3api", "head-bucket", "--bucket", bucket); err == nil {
		t.Fatalf("head-bucket after rb succeeded:\n%s", out)
	}
}
