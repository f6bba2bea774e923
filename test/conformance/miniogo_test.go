package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/testenv"
)

const (
	minioGoModule  = "github.com/minio/minio-go/v7"
	minioGoVersion = "v7.4.1"
	// minioGoBudget bounds the whole functional run; tests not started by
	// then are reported as failures, never dropped.
	minioGoBudget = 6 * time.Minute
	// minioGoTestTimeout bounds one test (the largest moves 129 MiB a few
	// times).
	minioGoTestTimeout = 3 * time.Minute
	// minioGoParallel tests run at once: each is its own process with its
	// own buckets.
	minioGoParallel = 2
)

// TestMinioGo builds minio-go's functional test program from the module
// cache and runs every test of its MINT_MODE=full run that does not need
// TLS or KMS, each in its own process so that one test's panic or hang
// cannot hide the others.
func TestMinioGo(t *testing.T) {
	bin, tests, skipped, sigV2 := buildMinioGoFunctional(t)
	t.Logf("minio-go: %d tests to run (%d of them use SigV2, which Anvil does not speak); %d need TLS or KMS and are not run: %s",
		len(tests), len(sigV2), len(skipped), strings.Join(skipped, " "))
	ak, sk := cluster.Credentials()
	env := append(cleanEnv(),
		"SERVER_ENDPOINT="+endpointHostPort(t), "ACCESS_KEY="+ak, "SECRET_KEY="+sk,
		"ENABLE_HTTPS=0", "ENABLE_KMS=0", "MINT_MODE=full",
		// Log a failure and go on, instead of panicking at the first one.
		"RUN_ON_FAIL=1",
		"MINT_DATA_DIR=",
	)
	deadline := time.Now().Add(minioGoBudget)
	results := make([][]result, len(tests))
	var wg sync.WaitGroup
	sem := make(chan struct{}, minioGoParallel)
	for i, name := range tests {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = runMinioGoTest(bin, env, name, deadline)
		}()
	}
	wg.Wait()
	var all []result
	for _, rs := range results {
		all = append(all, rs...)
	}
	checkList(t, "minio-go", all)

	// The measure: every test that needs neither TLS, KMS nor SigV2.
	byName, _ := merge(all)
	var v4Pass, v4 int
	var v4Failing []string
	for _, name := range tests {
		if sigV2[name] {
			continue
		}
		v4++
		if byName[name].status == statusPass {
			v4Pass++
		} else {
			v4Failing = append(v4Failing, fmt.Sprintf("%s (%s)", name, byName[name].status))
		}
	}
	t.Logf("minio-go: %d of the %d tests that need neither TLS, KMS nor SigV2 pass; not passing: %s",
		v4Pass, v4, strings.Join(v4Failing, ", "))
}

// runMinioGoTest runs one functional test and parses its JSON log lines.
func runMinioGoTest(bin string, env []string, name string, deadline time.Time) []result {
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return []result{{name: name, status: statusFail, detail: fmt.Sprintf("not run: the %s budget of the minio-go run was used up", minioGoBudget)}}
	}
	timeout := min(remaining, minioGoTestTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, name)
	cmd.Env = env
	// Some tests write scratch files into their working directory.
	cmd.Dir = filepath.Dir(bin)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	// One result per test function main() runs: a test logs under the
	// names of the helpers it calls too, and two tests may share a helper.
	results := parseMinioGoLog(stdout.Bytes())
	for i := range results {
		if results[i].name != name {
			results[i].detail = strings.TrimSpace(results[i].name + ": " + results[i].detail)
			results[i].name = name
		}
	}
	switch {
	case ctx.Err() != nil:
		results = append(results, result{name: name, status: statusFail,
			detail: fmt.Sprintf("timed out after %s\n%s", timeout.Round(time.Second), tail(stderr.String(), 2000))})
	case err != nil:
		// A panic in the test (or in the client under test).
		results = append(results, result{name: name, status: statusFail,
			detail: fmt.Sprintf("exited after %.1fs: %v\n%s", time.Since(start).Seconds(), err, tail(stderr.String(), 3000))})
	case len(results) == 0:
		// Some tests (testGetObjectWithRange) log only their failures.
		results = append(results, result{name: name, status: statusPass, detail: "logged nothing and exited cleanly"})
	}
	return results
}

// minioGoLine is one JSON log line of the functional tests.
type minioGoLine struct {
	Name     string `json:"name"`
	Function string `json:"function"`
	Status   string `json:"status"`
	Alert    string `json:"alert"`
	Message  string `json:"message"`
	Error    string `json:"error"`
}

func parseMinioGoLog(out []byte) []result {
	var results []result
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var l minioGoLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Name == "" || l.Status == "" {
			continue
		}
		r := result{name: strings.TrimPrefix(l.Name, "minio-go: "), status: status(l.Status)}
		if r.status != statusPass {
			var parts []string
			for _, s := range []string{l.Function, l.Alert, l.Message, l.Error} {
				if s != "" {
					parts = append(parts, s)
				}
			}
			r.detail = strings.Join(parts, " | ")
		}
		if r.status != statusPass && r.status != statusNA {
			r.status = statusFail
		}
		results = append(results, r)
	}
	return results
}

// buildMinioGoFunctional copies functional_tests.go out of the minio-go
// module, drops its build-tag line, adds a main that runs one named test,
// and builds it. It returns the binary, the tests main runs in MINT_MODE=full
// without TLS or KMS, in order, and the ones that need TLS or KMS.
func buildMinioGoFunctional(t *testing.T) (bin string, tests, skipped []string, sigV2 map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src, err := os.ReadFile(filepath.Join(moduleDir(ctx, t, minioGoModule, minioGoVersion), "functional_tests.go"))
	if err != nil {
		t.Fatalf("read functional_tests.go: %v", err)
	}
	tests, skipped, err = minioGoFullModeTests(src)
	if err != nil {
		t.Fatalf("find the tests of functional_tests.go: %v", err)
	}
	sigV2, err = minioGoSigV2Tests(src)
	if err != nil {
		t.Fatalf("find the SigV2 tests of functional_tests.go: %v", err)
	}
	text := string(src)
	if first, rest, ok := strings.Cut(text, "\n"); ok && strings.HasPrefix(first, "//go:build") {
		text = rest
	}
	const mainDecl = "\nfunc main() {\n"
	if strings.Count(text, mainDecl) != 1 {
		t.Fatalf("functional_tests.go: want exactly one %q", strings.TrimSpace(mainDecl))
	}
	text = strings.Replace(text, mainDecl, "\nfunc mintMain() {\n", 1)

	dir := t.TempDir()
	files := map[string]string{
		"functional_tests.go": text,
		"runner.go":           minioGoRunner(tests),
		"go.mod":              fmt.Sprintf("module functional\n\ngo 1.26\n\nrequire %s %s\n", minioGoModule, minioGoVersion),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin = filepath.Join(dir, "functional")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", bin, "."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = goEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			testenv.Unavailable(t, "go %s in the minio-go functional copy: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return bin, tests, skipped, sigV2
}

// minioGoSigV2Tests returns the test functions that build a SigV2 client
// (ClientConfig{CredsV2: true}).
func minioGoSigV2Tests(src []byte) (map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "functional_tests.go", src, 0)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	v2 := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "test") {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			k, kok := kv.Key.(*ast.Ident)
			v, vok := kv.Value.(*ast.Ident)
			if kok && vok && k.Name == "CredsV2" && v.Name == "true" {
				v2[fn.Name.Name] = true
			}
			return true
		})
	}
	return v2, nil
}

// minioGoFullModeTests reads main() of functional_tests.go: the test calls
// directly inside `if isFullMode() {` run here; those under a nested if
// (SSE-C over TLS, KMS) are returned as skipped.
func minioGoFullModeTests(src []byte) (tests, skipped []string, err error) {
	f, err := parser.ParseFile(token.NewFileSet(), "functional_tests.go", src, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	var full *ast.BlockStmt
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "main" || fn.Recv != nil {
			continue
		}
		for _, st := range fn.Body.List {
			ifs, ok := st.(*ast.IfStmt)
			if !ok {
				continue
			}
			if call, ok := ifs.Cond.(*ast.CallExpr); ok {
				if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "isFullMode" {
					full = ifs.Body
				}
			}
		}
	}
	if full == nil {
		return nil, nil, fmt.Errorf("no `if isFullMode()` block in main")
	}
	for _, st := range full.List {
		switch st := st.(type) {
		case *ast.ExprStmt:
			if name := testCall(st); name != "" {
				tests = append(tests, name)
			}
		case *ast.IfStmt:
			ast.Inspect(st.Body, func(n ast.Node) bool {
				if es, ok := n.(*ast.ExprStmt); ok {
					if name := testCall(es); name != "" {
						skipped = append(skipped, name)
					}
				}
				return true
			})
		}
	}
	if len(tests) == 0 {
		return nil, nil, fmt.Errorf("no test calls in the full-mode block")
	}
	return tests, skipped, nil
}

// testCall returns the name of a call statement `testXxx()`.
func testCall(st *ast.ExprStmt) string {
	call, ok := st.X.(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return ""
	}
	id, ok := call.Fun.(*ast.Ident)
	if !ok || !strings.HasPrefix(id.Name, "test") {
		return ""
	}
	return id.Name
}

// minioGoRunner is the main of the copied program: it sets up the same JSON
// logging as the original main and runs the one test named on the command
// line.
func minioGoRunner(tests []string) string {
	var b strings.Builder
	b.WriteString(`// Code generated by Anvil's conformance harness. DO NOT EDIT.

package main

import (
	"fmt"
	"log/slog"
	"os"
)

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(
		os.Stdout,
		&slog.HandlerOptions{
			Level: slog.LevelInfo,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.MessageKey || a.Value.String() == "" {
					return slog.Attr{}
				}
				return a
			},
		},
	)))
	tests := map[string]func(){
`)
	for _, name := range tests {
		fmt.Fprintf(&b, "\t\t%q: %s,\n", name, name)
	}
	b.WriteString(`	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: functional TEST")
		os.Exit(2)
	}
	test, ok := tests[os.Args[1]]
	if !ok {
		fmt.Fprintln(os.Stderr, "no test named", os.Args[1])
		os.Exit(2)
	}
	test()
}
`)
	return b.String()
}
