// Package monitoring checks deploy/monitoring: the alert rules pass
// `promtool check rules`, the dashboard is valid JSON whose panels query
// something, and every anvil_* metric either one names is one the services
// export, every alert has a runbook.
package monitoring

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anvil-store/anvil/pkg/membership"
)

// root is the repository root (this package is test/monitoring).
const root = "../.."

var metricRE = regexp.MustCompile(`\banvil_[a-z0-9_]+`)

// exported returns every anvil_* metric name the Go sources register.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	nameRE := regexp.MustCompile(`(?:Name:\s+|NewDesc\()"(anvil_[a-z0-9_]+)"`)
	for _, dir := range []string{"services", "pkg"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
				names[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Names built at run time rather than written as literals.
	for _, svc := range []string{"gateway", "worker"} {
		for _, n := range membership.MetricNames(svc) {
			names[n] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d metric names in the sources: the scan is broken", len(names))
	}
	return names
}

// checkNames fails for anvil_* names in text that no service exports
// (histogram series suffixes allowed).
func checkNames(t *testing.T, what, text string, names map[string]bool) {
	t.Helper()
	used := metricRE.FindAllString(text, -1)
	if len(used) == 0 {
		t.Fatalf("%s names no anvil_* metric", what)
	}
	for _, n := range used {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if !names[base] && strings.HasSuffix(base, suffix) {
				base = strings.TrimSuffix(base, suffix)
			}
		}
		if !names[base] {
			t.Errorf("%s uses %s, which no service exports", what, n)
		}
	}
}

func TestAlertRules(t *testing.T) {
	path := filepath.Join(root, "deploy/monitoring/alerts.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, "alerts.yml", string(b), exported(t))

	// Every alert has a runbook that exists.
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(b), -1)
	runbooks := regexp.MustCompile(`(?m)^\s*runbook_url: "([^"]+)"`).FindAllStringSubmatch(string(b), -1)
	if len(alerts) == 0 || len(alerts) != len(runbooks) {
		t.Fatalf("%d alerts, %d runbook_url annotations: every alert needs one", len(alerts), len(runbooks))
	}
	for _, rb := range runbooks {
		if _, err := os.Stat(filepath.Join(root, rb[1])); err != nil {
			t.Errorf("runbook %s: %v", rb[1], err)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if p := filepath.Join(root, ".tools/bin/promtool"); fileExists(p) {
			promtool = p
		} else if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (make tools installs it into .tools/bin)")
		} else {
			t.Skip("promtool not found: run make tools")
		}
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/monitoring/anvil-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Fatal("dashboard has no title or uid")
	}
	names := exported(t)
	graphs := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			checkNames(t, "panel "+p.Title, q.Expr, names)
		}
	}
	if graphs < 10 {
		t.Fatalf("%d graph panels: the dashboard should cover every area of the operations chapter", graphs)
	}
}
