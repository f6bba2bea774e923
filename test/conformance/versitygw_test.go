package conformance

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/testenv"
)

const (
	versityModule  = "github.com/versity/versitygw"
	versityVersion = "v1.8.0"
	// versityBudget bounds one full-flow run, resumption included.
	versityBudget = 6 * time.Minute
	// versityStall is how long a run may print nothing before the test in
	// progress is declared hung and the run resumes after it.
	versityStall = 90 * time.Second
	// versityTestTimeout bounds one test run on its own.
	versityTestTimeout = time.Minute
)

// TestVersitygw runs `versitygw test full-flow` against the cluster.
func TestVersitygw(t *testing.T) { runVersitygw(t, "versitygw", false) }

// TestVersitygwVersioning runs the same flow with --versioning-enabled,
// which adds the versioning tests and runs the others on versioned buckets.
func TestVersitygwVersioning(t *testing.T) { runVersitygw(t, "versitygw-versioning", true) }

func runVersitygw(t *testing.T, suite string, versioning bool) {
	bin, srcDir := installVersitygw(t)
	flow, err := versityFullFlow(filepath.Join(srcDir, "tests", "integration"), map[string]bool{"versioningEnabled": versioning})
	if err != nil {
		t.Fatalf("read versitygw's full-flow test list: %v", err)
	}
	ak, sk := cluster.Credentials()
	base := []string{"test", "-a", ak, "-s", sk, "-e", cluster.Endpoint()}
	var extra []string
	if versioning {
		extra = []string{"--versioning-enabled"}
	}
	deadline := time.Now().Add(versityBudget)
	s3c := rootClient()
	clean := func() {
		// versitygw names its buckets test-bucket-1, -2, ... in every process.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if left := removeBuckets(ctx, s3c, "test-bucket-"); len(left) > 0 {
			t.Logf("%s: could not remove buckets an earlier run left (later tests may collide with them): %s", suite, strings.Join(left, ", "))
		}
	}
	clean()
	run := runVersity(bin, deadline, append(append(append([]string{}, base...), "full-flow"), extra...)...)
	results := run.results
	if !run.completed {
		t.Logf("%s: full-flow stopped before its end (%s); running the remaining tests one by one", suite, run.why)
		seen := map[string]bool{}
		for _, r := range results {
			seen[r.name] = true
		}
		for _, name := range flow {
			if seen[name] {
				continue
			}
			seen[name] = true
			if time.Now().After(deadline) {
				results = append(results, result{name: name, status: statusFail,
					detail: fmt.Sprintf("not run: the %s budget of the run was used up", versityBudget)})
				continue
			}
			clean()
			one := runVersity(bin, time.Now().Add(versityTestTimeout), append(append(append([]string{}, base...), name), extra...)...)
			if len(one.results) == 0 {
				one.results = []result{{name: name, status: statusFail, detail: "full-flow stopped before this test, and alone it reported nothing: " + one.why}}
			}
			results = append(results, one.results...)
		}
	}
	checkList(t, suite, results)
}

// versityRun is the outcome of one versitygw process.
type versityRun struct {
	results   []result
	completed bool   // it printed its final RAN: line
	why       string // why it did not complete
}

// runVersity runs versitygw from its own folder (some tests exec
// ./versitygw), killing it when it passes deadline or prints nothing for
// versityStall. A test that was running when the process died is a failure
// carrying the process's last words.
func runVersity(bin string, deadline time.Time, args ...string) versityRun {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	out := &activityWriter{}
	out.touch()
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		return versityRun{why: err.Error()}
	}
	var stalled atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the stall watchdog; stops when the process is done
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if out.idle() > versityStall {
					stalled.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	waitErr := cmd.Wait()
	close(done)
	wg.Wait()

	text := out.String()
	results, running, stray := parseVersityOutput(text)
	run := versityRun{results: results, completed: strings.Contains(text, "\nRAN: ")}
	switch {
	case stalled.Load():
		run.why = fmt.Sprintf("printed nothing for %s", versityStall)
	case ctx.Err() != nil:
		run.why = "ran out of time"
	case !run.completed:
		run.why = fmt.Sprintf("exited: %v", waitErr)
	}
	if running != "" {
		detail := strings.TrimSpace(stray)
		if !run.completed {
			detail = strings.TrimSpace(fmt.Sprintf("%s\nthe run stopped during this test (%s):\n%s", detail, run.why, tail(stderr.String(), 3000)))
		}
		run.results = append(run.results, result{name: running, status: statusFail, detail: detail})
	}
	return run
}

// activityWriter collects a process's output and when it last wrote.
type activityWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	last time.Time
}

func (w *activityWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = time.Now()
	return w.buf.Write(p)
}

func (w *activityWriter) touch() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = time.Now()
}

func (w *activityWriter) idle() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Since(w.last)
}

func (w *activityWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// versityMarker matches the coloured status words versitygw prints.
var versityMarker = regexp.MustCompile("\x1b\\[3[0-9]m(RUN  |PASS |FAIL |SKIP )\x1b\\[0m")

// parseVersityOutput reads versitygw's test output. It returns the results
// and, when the last test that started reported nothing (it was running
// when the output ends, or it failed only in its bucket teardown), its name
// and the text printed since it started.
func parseVersityOutput(out string) (results []result, running, stray string) {
	locs := versityMarker.FindAllStringSubmatchIndex(out, -1)
	finish := func() {
		if running != "" {
			// A test that started but reported no outcome: only the last one
			// may still have been running.
			results = append(results, result{name: running, status: statusFail,
				detail: strings.TrimSpace("no PASS or FAIL reported\n" + stray)})
		}
		running, stray = "", ""
	}
	for i, loc := range locs {
		word := strings.TrimSpace(out[loc[2]:loc[3]])
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		seg := out[loc[1]:end]
		first, rest, _ := strings.Cut(seg, "\n")
		first = strings.TrimSpace(first)
		switch word {
		case "RUN":
			finish()
			running, stray = first, rest
		case "PASS":
			if first == running {
				running, stray = "", ""
			}
			results = append(results, result{name: first, status: statusPass})
		case "FAIL", "SKIP":
			name, msg, _ := strings.Cut(first, ": ")
			if name == running {
				running, stray = "", ""
			}
			st := statusFail
			if word == "SKIP" {
				st = statusNA
			}
			results = append(results, result{name: name, status: st, detail: strings.TrimSpace(msg + "\n" + trimSummary(rest))})
		}
	}
	// The last test's own text ends where the final summary starts.
	stray = trimSummary(stray)
	return results, running, stray
}

// trimSummary drops versitygw's closing "RAN: ..." summary from s.
func trimSummary(s string) string {
	if i := strings.Index(s, "\nRAN: "); i >= 0 {
		return s[:i]
	}
	if strings.HasPrefix(s, "RAN: ") {
		return ""
	}
	return s
}

// installVersitygw installs the versitygw binary into a cache directory
// (it is large; a cached binary is reused) and returns it with the module's
// source directory.
func installVersitygw(t *testing.T) (bin, srcDir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srcDir = moduleDir(ctx, t, versityModule, versityVersion)
	dir := cacheDir(t, "versitygw-"+versityVersion)
	bin = filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, srcDir
	}
	cmd := exec.CommandContext(ctx, "go", "install", versityModule+"/cmd/versitygw@"+versityVersion)
	cmd.Dir = t.TempDir()
	// go install path@version builds outside any module: no -mod flag.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Unavailable(t, "go install versitygw: %v\n%s", err, out)
	}
	return bin, srcDir
}

// versityFullFlow lists the tests TestFullFlow runs, in order (tests queued
// with ts.Sync run last), by reading the integration package's source with
// the given ts.conf flags. It is used only to resume a run that stopped.
func versityFullFlow(dir string, conf map[string]bool) ([]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Body != nil {
				funcs[fn.Name.Name] = fn
			}
		}
	}
	root, ok := funcs["TestFullFlow"]
	if !ok {
		return nil, fmt.Errorf("no TestFullFlow in %s", dir)
	}
	w := flowWalker{funcs: funcs, conf: conf, visiting: map[string]bool{}}
	if err := w.block(root.Body); err != nil {
		return nil, err
	}
	return append(w.run, w.sync...), nil
}

type flowWalker struct {
	funcs     map[string]*ast.FuncDecl
	conf      map[string]bool
	visiting  map[string]bool
	run, sync []string
}

func (w *flowWalker) block(b *ast.BlockStmt) error {
	for _, st := range b.List {
		switch st := st.(type) {
		case *ast.ExprStmt:
			if err := w.call(st.X); err != nil {
				return err
			}
		case *ast.IfStmt:
			ok, err := w.eval(st.Cond)
			if err != nil {
				return err
			}
			switch {
			case ok:
				if err := w.block(st.Body); err != nil {
					return err
				}
			case st.Else != nil:
				els, isBlock := st.Else.(*ast.BlockStmt)
				if !isBlock {
					return fmt.Errorf("unsupported else-if in the test groups")
				}
				if err := w.block(els); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (w *flowWalker) call(e ast.Expr) error {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return nil
	}
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr: // ts.Run(Test) or ts.Sync(Test)
		if len(call.Args) != 1 {
			return nil
		}
		arg, ok := call.Args[0].(*ast.Ident)
		if !ok {
			return nil
		}
		switch fn.Sel.Name {
		case "Run":
			w.run = append(w.run, arg.Name)
		case "Sync":
			w.sync = append(w.sync, arg.Name)
		}
	case *ast.Ident: // a group: TestXxx(ts)
		group, ok := w.funcs[fn.Name]
		if !ok || w.visiting[fn.Name] {
			return nil
		}
		w.visiting[fn.Name] = true
		defer delete(w.visiting, fn.Name)
		return w.block(group.Body)
	}
	return nil
}

// eval evaluates a condition over ts.conf flags.
func (w *flowWalker) eval(e ast.Expr) (bool, error) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return w.eval(e.X)
	case *ast.UnaryExpr:
		if e.Op == token.NOT {
			v, err := w.eval(e.X)
			return !v, err
		}
	case *ast.BinaryExpr:
		l, err := w.eval(e.X)
		if err != nil {
			return false, err
		}
		r, err := w.eval(e.Y)
		if err != nil {
			return false, err
		}
		switch e.Op {
		case token.LAND:
			return l && r, nil
		case token.LOR:
			return l || r, nil
		}
	case *ast.SelectorExpr:
		if inner, ok := e.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "conf" {
			return w.conf[e.Sel.Name], nil
		}
	}
	return false, fmt.Errorf("unsupported condition at offset %d", e.Pos())
}
