package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/membership"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/pkg/testenv"
	"github.com/anvil-store/anvil/services/gateway/internal/fake"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

func validConfig(t *testing.T) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-metadata.addr=127.0.0.1:1", "-auth.access-key-id=AK", "-auth.secret-access-key=SK", "-gateway.id=gw-1"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no metadata", func(c *Config) { c.MetadataAddr = "" }, "metadata.addr is required"},
		{"blank metadata list", func(c *Config) { c.MetadataAddr = " , " }, "holds no address"},
		{"no access key", func(c *Config) { c.AccessKeyID = "" }, "auth.access-key-id is required"},
		{"no secret", func(c *Config) { c.SecretAccessKey = "" }, "auth.secret-access-key is required"},
		{"no region", func(c *Config) { c.Region = "" }, "s3.region is required"},
		{"bad region", func(c *Config) { c.Region = "a/b" }, "s3.region"},
		{"bad domain", func(c *Config) { c.Domains = []string{"http://x"} }, "s3.domain"},
		{"no id", func(c *Config) { c.ID = "" }, "gateway.id is required"},
		{"zero skew", func(c *Config) { c.MaxSkew = 0 }, "auth.max-skew"},
		{"zero parity", func(c *Config) { c.ParityShards = 0 }, "parity shards"},
		{"too many shards", func(c *Config) { c.DataShards, c.ParityShards = 200, 100 }, "at most 256"},
		{"tiny block", func(c *Config) { c.BlockSize = 1000 }, "block size"},
		{"odd block", func(c *Config) { c.BlockSize = 4096 + 1 }, "multiple of 64"},
		{"quorum below k", func(c *Config) { c.WriteQuorum = 3 }, "erasure.write-quorum"},
		{"quorum above k+m", func(c *Config) { c.WriteQuorum = 7 }, "erasure.write-quorum"},
		{"quorum k+m", func(c *Config) { c.WriteQuorum = 6 }, ""},
		{"no etcd", func(c *Config) { c.Etcd.Endpoints = "" }, "etcd.endpoints"},
		{"bad log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaultsAndEnv(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	t.Setenv("ANVIL_S3_DOMAIN", "s3.a.test,s3.b.test")
	t.Setenv("ANVIL_AUTH_SECRET_ACCESS_KEY", "from-env")
	if err := flagenv.Parse(fs, nil); err != nil {
		t.Fatal(err)
	}
	if c.S3ListenAddr != "127.0.0.1:9000" || c.OpsListenAddr != "127.0.0.1:9001" || c.GRPCListenAddr != "127.0.0.1:9002" ||
		c.Region != "us-east-1" || c.DataShards != 4 || c.ParityShards != 2 || c.BlockSize != 256<<10 ||
		c.WriteQuorum != 0 || c.MaxSkew != 15*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
	if strings.Join(c.Domains, "|") != "s3.a.test|s3.b.test" || c.SecretAccessKey.Reveal() != "from-env" {
		t.Fatalf("env: domains %v", c.Domains)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	c := validConfig(t)
	c.SecretAccessKey = "super-secret-value"
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", c, "secret", c.SecretAccessKey)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", c, "secret", c.SecretAccessKey)
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var usage bytes.Buffer
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&usage)
	var c2 Config
	c2.RegisterFlags(fs)
	_ = fs.Parse([]string{"-auth.secret-access-key=super-secret-value"})
	fs.PrintDefaults()
	fs.VisitAll(func(f *flag.Flag) { fmt.Fprintln(&usage, f.Name, f.Value.String()) })
	for name, out := range map[string]string{
		"fmt %v": fmt.Sprintf("%v", c), "fmt %+v": fmt.Sprintf("%+v", c), "slog": logs.String(), "json": string(j), "flags": usage.String(),
	} {
		if strings.Contains(out, "super-secret-value") {
			t.Errorf("%s output reveals the secret: %s", name, out)
		}
	}
	if c.SecretAccessKey.Reveal() != "super-secret-value" {
		t.Fatal("Reveal")
	}
}

// TestRun starts a whole gateway in process against a real etcd, with a fake
// metadata service and six fake storage nodes registered in membership, and
// drives it with aws-sdk-go-v2 until shutdown.
func TestRun(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	etcd := testenv.Etcd(t)
	meta := fake.NewMetadata(time.Now)
	metaAddr := meta.Listen(t)

	cfg := validConfig(t)
	cfg.MetadataAddr = metaAddr
	cfg.Etcd.Endpoints = etcd.Endpoint()
	cfg.Etcd.Cluster = "gwtest"
	cfg.S3ListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.OpsListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.GRPCListenAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.BlockSize = 4096
	reg := service.NewRegistry()
	gw, err := New(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- gw.Run(ctx) }()

	ready := func() (int, string) {
		resp, err := http.Get("http://" + cfg.OpsListenAddr + "/ready")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			select {
			case err := <-runErr:
				t.Fatalf("gateway stopped: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// Up but not ready: no storage nodes yet.
	waitFor("unready storage_nodes", func() bool {
		code, body := ready()
		return code == 503 && strings.Contains(body, "0 live storage nodes in region us-east-1, need 5")
	})

	cli, err := cfg.Etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	regCtx, regCancel := context.WithCancel(context.Background())
	defer regCancel()
	for i := range 6 {
		_, addr := fake.ServeShards(t)
		_, err := membership.Register(regCtx, cli, cfg.Etcd.Cluster, membership.Member{
			ID: fmt.Sprintf("sn-%d", i), Role: membership.RoleStorageNode, Region: "us-east-1",
			Zone: fmt.Sprintf("z%d", i%3), GRPCAddr: addr, FreeBytes: 1 << 30,
		}, 10*time.Second, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor("ready", func() bool { code, _ := ready(); return code == 200 })

	client := awss3.New(awss3.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AK", "SK", ""),
		BaseEndpoint:     aws.String("http://" + cfg.S3ListenAddr),
		UsePathStyle:     true,
		RetryMaxAttempts: 1,
	})
	if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("run")}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("anvil!"), 20000)
	if _, err := client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("run"), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("run"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	_ = out.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip through the gateway: %v", err)
	}
	if b := meta.Object("run", "k"); b == nil || len(b.GetSegments()) != 1 || b.GetSegments()[0].GetBlockSize() != 4096 {
		t.Fatalf("committed version: %v", b)
	}

	resp, err := http.Get("http://" + cfg.OpsListenAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{
		`anvil_gateway_membership_peers{region="us-east-1",role="storagenode"} 6`,
		`anvil_gateway_membership_peers{region="us-east-1",role="gateway"} 1`,
		`anvil_gateway_membership_changes_total{event="join",role="storagenode"} 6`,
		`anvil_gateway_membership_changes_total{event="join",role="gateway"} 1`,
		`anvil_gateway_s3_requests_total{operation="PutObject",status_class="2xx"} 1`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}

	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// The gateway revoked its lease on the way out.
	getCtx, getCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer getCancel()
	resp2, err := cli.Get(getCtx, "/anvil/gwtest/members/us-east-1/gateway/gw-1")
	if err != nil || resp2.Count != 0 {
		t.Fatalf("gateway still registered after shutdown: %v %v", resp2, err)
	}
}
