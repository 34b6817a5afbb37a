package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/mappings"
)

// runCLI runs the command line in-process and returns exit code, stdout, stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIUsage(t *testing.T) {
	unsetConfigEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"version"}, 0, "lagship ", ""},
		{[]string{"help"}, 0, "Usage:", ""},
		{[]string{"run", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"run", "--config"}, 2, "", "flag needs an argument"},
		{[]string{"once", "-log-format", "xml", "-config", "x"}, 1, "", `-log-format "xml"`},
		{[]string{"mapping", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"kibana"}, 2, "", "lagship kibana export"},
		{[]string{"kibana", "import"}, 2, "", "-url (or -config, or $LAGSHIP_CONFIG, with kibana.url) is required"},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
			t.Errorf("%v: code %d (want %d)\nstdout %q\nstderr %q", tc.args, code, tc.code, out, errs)
		}
	}
}

func TestMappingCommand(t *testing.T) {
	code, out, _ := runCLI(t, "mapping")
	if code != 0 || out != string(mappings.JSON) {
		t.Fatalf("code %d, out %q", code, out)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	p := writeFile(t, "lagship.yaml", "interval: 5s\nmirrors:\n  - name: m\n    cluster: nowhere\n    group: g\n    topics: [ok, \"not ok\"]\n")
	for _, cmd := range []string{"run", "once"} {
		code, out, errs := runCLI(t, cmd, "-config", p)
		if code != exitConfig || out != "" || !strings.Contains(errs, "invalid config:") {
			t.Errorf("%s: code %d, stdout %q", cmd, code, out)
		}
		for _, want := range []string{p + `:4: mirrors[0].cluster: cluster "nowhere" is not defined`, p + `:6: mirrors[0].topics[1]: invalid topic name "not ok"`} {
			if !strings.Contains(errs, want) {
				t.Errorf("%s: stderr %q lacks %q", cmd, errs, want)
			}
		}
	}
	code, out, _ := runCLI(t, "check", "-config", p)
	if code != 1 || !strings.Contains(out, "FAIL  config") || !strings.Contains(out, ":4: mirrors[0].cluster") {
		t.Errorf("check: code %d out %q", code, out)
	}
}

func TestRunMissingConfig(t *testing.T) {
	code, _, errs := runCLI(t, "run", "-config", filepath.Join(t.TempDir(), "absent.yaml"))
	if code != exitConfig || !strings.Contains(errs, "reading config: open ") || !strings.Contains(errs, "absent.yaml: no such file") ||
		strings.Contains(errs, "invalid config") || strings.Contains(errs, "no -config given") {
		t.Errorf("code %d stderr %q", code, errs)
	}
}

func TestKibanaExport(t *testing.T) {
	code, out, _ := runCLI(t, "kibana", "export")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 3 {
		t.Fatalf("code %d, %d lines", code, len(lines))
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
}

var _ = context.Background

// TestDemo runs the demo as a newcomer would and, with -es, into the strict
// Elasticsearch.
func TestDemo(t *testing.T) {
	es := esfake.NewTB(t)
	code, out, errs := runCLI(t, "demo", "-json", "-duration", "7500ms", "-es", es.URL())
	if code != 0 {
		t.Fatalf("code %d\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	topics := map[string]int{}
	statuses := map[string]bool{}
	for _, l := range lines {
		var d map[string]any
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		topics[d["topic"].(string)]++
		if s, ok := d["status"].(string); ok {
			statuses[d["mirror"].(string)+"/"+d["topic"].(string)+"="+s] = true
		}
		if d["topic"] == "clicks" {
			if _, ok := d["p11"]; ok || d["partition_count"] != 12.0 {
				t.Errorf("clicks p11 has no committed offset and must be absent: %s", l)
			}
		}
	}
	if topics["orders"] < 2 || topics["payments"] < 2 || topics["clicks"] < 2 || topics["orders-v2"] != 0 {
		t.Errorf("documents per topic: %v", topics)
	}
	// A newcomer sees a mirror falling behind and a stuck one.
	for _, want := range []string{"mm-demo/orders=WARN", "mm-stuck/payments=STALL"} {
		if !statuses[want] {
			t.Errorf("no %s in the demo's documents; statuses seen: %v", want, statuses)
		}
	}
	if got := len(es.DocIDs("consumer_lag")); got != len(lines) {
		t.Errorf("printed %d documents, indexed %d", len(lines), got)
	}
}
