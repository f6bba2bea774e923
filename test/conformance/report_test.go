package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// status is a suite test's outcome as the suite reports it.
type status string

const (
	statusPass status = "PASS"
	statusFail status = "FAIL"
	// statusNA: the suite itself decided the test does not apply (minio-go
	// logs NA when the server answers NotImplemented).
	statusNA status = "NA"
	// statusMissing: the test never reported (the suite crashed or ran out
	// of time before it).
	statusMissing status = "MISSING"
)

// result is one test's outcome; detail holds its error lines.
type result struct {
	name   string
	status status
	detail string
}

// updateListsEnv, when "1", adds tests that pass but are not listed to the
// expected lists (it never removes a name).
const updateListsEnv = "ANVIL_CONFORMANCE_UPDATE_LISTS"

// merge folds several results for one name into one: any failure wins, then
// a pass, then NA. Order is that of each name's first appearance.
func merge(results []result) (map[string]result, []string) {
	rank := map[status]int{statusNA: 1, statusPass: 2, statusMissing: 3, statusFail: 4}
	byName := map[string]result{}
	var order []string
	for _, r := range results {
		prev, seen := byName[r.name]
		switch {
		case !seen:
			order = append(order, r.name)
			byName[r.name] = r
		case rank[r.status] > rank[prev.status]:
			byName[r.name] = r
		case r.status == prev.status && r.detail != "" && r.status != statusPass:
			prev.detail = strings.TrimSpace(prev.detail + "\n" + r.detail)
			byName[r.name] = prev
		}
	}
	return byName, order
}

// readList reads an expected-pass list: one test name per line; blank lines
// and lines starting with # are ignored.
func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		names = append(names, line)
	}
	return names, sc.Err()
}

// growList adds names to the list file, keeping its comment header and
// every name already on it, sorted.
func growList(path string, add []string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var header, names []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			header = append(header, line)
		default:
			names = append(names, line)
		}
	}
	names = append(names, add...)
	slices.Sort(names)
	names = slices.Compact(names)
	out := strings.Join(append(header, names...), "\n") + "\n"
	return os.WriteFile(path, []byte(out), 0o644)
}

// checkList compares a suite's results with its expected-pass list: every
// listed test must pass; passing tests that are not listed are reported so
// the list can grow. It writes the suite's results and failures under the
// report directory and records the suite in the summary.
func checkList(t *testing.T, suite string, results []result) {
	t.Helper()
	listPath := filepath.Join("expected", suite+".txt")
	expected, err := readList(listPath)
	if err != nil {
		t.Fatalf("read expected list: %v", err)
	}
	byName, order := merge(results)
	listed := map[string]bool{}
	var regressed []result
	for _, name := range expected {
		listed[name] = true
		r, ok := byName[name]
		if !ok {
			r = result{name: name, status: statusMissing, detail: "the suite never reported this test"}
		}
		if r.status != statusPass {
			regressed = append(regressed, r)
		}
	}
	var unlisted []string
	counts := map[status]int{}
	for _, name := range order {
		r := byName[name]
		counts[r.status]++
		if r.status == statusPass && !listed[name] {
			unlisted = append(unlisted, name)
		}
	}
	slices.Sort(unlisted)

	if err := reports.writeSuite(suite, order, byName, regressed); err != nil {
		t.Errorf("write reports: %v", err)
	}
	s := summary{suite: suite, pass: counts[statusPass], fail: counts[statusFail] + counts[statusMissing],
		na: counts[statusNA], listed: len(expected), regressed: len(regressed), unlisted: len(unlisted)}
	reports.add(s)
	t.Logf("%s: %s", suite, s)
	t.Logf("%s: all results in %s, failures with their errors in %s", suite,
		reports.path(suite+"-results.txt"), reports.path(suite+"-failures.txt"))
	if len(unlisted) > 0 {
		t.Logf("%s: %d tests pass but are not on %s (add them; %s=1 does):\n  %s", suite, len(unlisted), listPath,
			updateListsEnv, strings.Join(unlisted, "\n  "))
		if os.Getenv(updateListsEnv) == "1" {
			if err := growList(listPath, unlisted); err != nil {
				t.Errorf("grow %s: %v", listPath, err)
			} else {
				t.Logf("%s: added %d tests to %s", suite, len(unlisted), listPath)
			}
		}
	}
	for _, r := range regressed {
		t.Errorf("%s: listed test %s: %s\n    %s", suite, r.name, r.status, indent(firstLines(r.detail, 6), "    "))
	}
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... (%d more lines in the failures file)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// summary is one suite's line in the package summary.
type summary struct {
	suite                       string
	pass, fail, na              int
	listed, regressed, unlisted int
	// tool marks a single pass/fail round trip rather than a listed suite.
	tool bool
}

func (s summary) String() string {
	if s.tool {
		return fmt.Sprintf("%d passed, %d failed", s.pass, s.fail)
	}
	return fmt.Sprintf("%d passed, %d failed, %d NA; %d listed, %d of them not passing; %d passing but not listed",
		s.pass, s.fail, s.na, s.listed, s.regressed, s.unlisted)
}

// reportBook collects the suites' summaries and writes their reports.
type reportBook struct {
	dir string

	mu    sync.Mutex
	lines []summary
}

func newReportBook(dir string) *reportBook { return &reportBook{dir: dir} }

func (b *reportBook) path(name string) string { return filepath.Join(b.dir, name) }

func (b *reportBook) add(s summary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, s)
}

// recordTool adds a tool round trip to the summary once t and its subtests
// are done.
func (b *reportBook) recordTool(t *testing.T, suite string) {
	t.Cleanup(func() {
		s := summary{suite: suite, tool: true, pass: 1}
		if t.Failed() {
			s.pass, s.fail = 0, 1
		}
		b.add(s)
	})
}

// appendFailure records a tool's failing step with its output.
func (b *reportBook) appendFailure(suite, step, output string) error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(b.path(suite+"-failures.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintf(f, "== %s\n%s\n\n", step, strings.TrimSpace(output))
	if err := f.Close(); err != nil && werr == nil {
		werr = err
	}
	return werr
}

func (b *reportBook) writeSuite(suite string, order []string, byName map[string]result, regressed []result) error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	var all, failures strings.Builder
	for _, name := range order {
		r := byName[name]
		fmt.Fprintf(&all, "%s %s\n", r.status, name)
		if r.status == statusFail || r.status == statusMissing {
			fmt.Fprintf(&failures, "== %s %s\n%s\n\n", r.status, name, strings.TrimSpace(r.detail))
		}
	}
	// Tests the suite judged not applicable (the server answered
	// NotImplemented) come last: they are the next features to build.
	for _, name := range order {
		if r := byName[name]; r.status == statusNA {
			fmt.Fprintf(&failures, "== %s %s\n%s\n\n", r.status, name, strings.TrimSpace(r.detail))
		}
	}
	for _, r := range regressed {
		if r.status == statusMissing {
			fmt.Fprintf(&failures, "== %s %s (listed)\n%s\n\n", r.status, r.name, r.detail)
		}
	}
	if err := os.WriteFile(b.path(suite+"-results.txt"), []byte(all.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(b.path(suite+"-failures.txt"), []byte(failures.String()), 0o644)
}

// printSummary writes one line per suite, and the same to summary.txt.
func (b *reportBook) printSummary(w io.Writer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) == 0 {
		return
	}
	var sb strings.Builder
	sb.WriteString("conformance summary:\n")
	for _, s := range b.lines {
		fmt.Fprintf(&sb, "  %-22s %s\n", s.suite, s)
	}
	fmt.Fprint(w, sb.String())
	if err := os.MkdirAll(b.dir, 0o755); err == nil {
		_ = os.WriteFile(b.path("summary.txt"), []byte(sb.String()), 0o644)
	}
}
