package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/stdout"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// unsetConfigEnv makes the -config default independent of the caller's
// environment.
func unsetConfigEnv(t *testing.T) {
	t.Helper()
	t.Setenv(configEnv, "")
	os.Unsetenv(configEnv)
}

// TestHelp: help in every form goes to stdout with exit 0; the texts are
// golden files, so a changed flag or default shows in review.
func TestHelp(t *testing.T) {
	unsetConfigEnv(t)
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"help"}, "usage.golden"},
		{[]string{"-h"}, "usage.golden"},
		{[]string{"--help"}, "usage.golden"},
		{[]string{"help", "run"}, "help/run.golden"},
		{[]string{"run", "-h"}, "help/run.golden"},
		{[]string{"run", "--help"}, "help/run.golden"},
		{[]string{"run", "-config", "x.yaml", "-help"}, "help/run.golden"},
		{[]string{"help", "check"}, "help/check.golden"},
		{[]string{"check", "-h"}, "help/check.golden"},
		{[]string{"once", "-h"}, "help/once.golden"},
		{[]string{"demo", "--help"}, "help/demo.golden"},
		{[]string{"mapping", "-h"}, "help/mapping.golden"},
		{[]string{"help", "healthcheck"}, "help/healthcheck.golden"},
		{[]string{"version", "-h"}, "help/version.golden"},
		{[]string{"help", "version"}, "help/version.golden"},
		{[]string{"help", "notify"}, "help/notify.golden"},
		{[]string{"notify", "-h"}, "help/notify.golden"},
		{[]string{"notify", "test", "-h"}, "help/notify-test.golden"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != 0 || errs != "" {
				t.Fatalf("code %d, stderr %q", code, errs)
			}
			golden(t, tc.golden, out)
		})
	}
}

// TestHelpDefaults: each command's help states its own log defaults.
func TestHelpDefaults(t *testing.T) {
	for _, tc := range []struct {
		cmd, want string
	}{
		{"run", `log format on stderr: json, console (for a terminal) or ecs (Elastic Common Schema JSON) (default "json")`},
		{"once", `(default "json")`},
		{"demo", `(default "console")`},
		{"check", `log level: debug, info, warn or error (default "error")`},
	} {
		_, out, _ := runCLI(t, tc.cmd, "-h")
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s -h lacks %q:\n%s", tc.cmd, tc.want, out)
		}
	}
}

// TestUsageErrors: a wrong command line exits 2 with the message and the
// command's usage on stderr, nothing on stdout.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // in stderr
	}{
		{[]string{"run", "-bogus"}, []string{"flag provided but not defined: -bogus", "Usage: lagship run [-config FILE]", "-reload-poll duration"}},
		{[]string{"once", "--json=maybe"}, []string{`invalid boolean value "maybe" for -json`, "Usage: lagship once"}},
		{[]string{"version", "extra"}, []string{`lagship version: unexpected argument "extra"`, "Usage: lagship version [-json]"}},
		{[]string{"healthcheck", "-timeout"}, []string{"flag needs an argument: -timeout", "Usage: lagship healthcheck"}},
		{[]string{"help", "nope"}, []string{`lagship help: unknown command "nope"`, "Usage:\n  lagship run"}},
		{[]string{"help", "run", "check"}, []string{`unknown command "run check"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != 2 || out != "" {
				t.Errorf("code %d, stdout %q", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

// TestHelpKibana: 'lagship help kibana' is what the kibana command says of
// itself, and its subcommands' -h goes to stdout like every other.
func TestHelpKibana(t *testing.T) {
	code, out, errs := runCLI(t, "help", "kibana")
	if code != 0 || errs != "" || out != kibanaUsage {
		t.Errorf("help kibana: code %d (want 0)\nstdout %q (want the kibana usage)\nstderr %q (want empty)", code, out, errs)
	}
	for _, sub := range []string{"export", "import"} {
		code, out, errs := runCLI(t, "kibana", sub, "-h")
		if code != 0 || errs != "" || !strings.HasPrefix(out, "Usage: lagship kibana "+sub) {
			t.Errorf("kibana %s -h: code %d\nstdout %q\nstderr %q", sub, code, out, errs)
		}
	}
}

// TestVersionCommand: text and -json carry the same four facts.
func TestVersionCommand(t *testing.T) {
	code, out, _ := runCLI(t, "version", "-json")
	if code != 0 {
		t.Fatalf("code %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if v != buildInfo() || v.GoVersion == "" || v.Version == "" || v.Commit == "" || v.Date == "" || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -json: %+v, build info %+v", v, buildInfo())
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ = runCLI(t, args...)
		for _, w := range []string{"lagship " + v.Version + "\n", "commit:  " + v.Commit, "built:   " + v.Date, "go:      " + v.GoVersion} {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("%v: code %d, output lacks %q:\n%s", args, code, w, out)
			}
		}
	}
}

// TestResolveVersion: -ldflags win over the embedded build information,
// which fills what they leave unset.
func TestResolveVersion(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	devel := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  versionInfo
	}{
		{"ldflags", "v2.0.0", "def456", "2026-12-07T00:00:00Z", vcs, versionInfo{Version: "v2.0.0", Commit: "def456", Date: "2026-12-07T00:00:00Z", GoVersion: "go1.99"}},
		{"go install and vcs", "dev", "", "", vcs, versionInfo{Version: "v1.4.0", Commit: "abc123-dirty", Date: "2026-12-01T10:00:00Z", GoVersion: "go1.99"}},
		{"nothing known", "dev", "", "", devel, versionInfo{Version: "dev", Commit: "unknown", Date: "unknown", GoVersion: "go1.99"}},
		{"no build info", "dev", "", "", nil, versionInfo{Version: "dev", Commit: "unknown", Date: "unknown", GoVersion: runtime.Version()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveVersion(tc.version, tc.commit, tc.date, tc.bi)
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestConfigDefault: without -config, run, once and check read
// $LAGSHIP_CONFIG or the default file, and a file that cannot be read is
// "reading config" with where its name came from, not "invalid config".
func TestConfigDefault(t *testing.T) {
	if _, err := os.Stat(defaultConfig); err == nil {
		t.Skipf("%s exists on this machine", defaultConfig)
	}
	absent := filepath.Join(t.TempDir(), "absent.yaml")
	invalid := writeFile(t, "invalid.yaml", "intervall: 5s\n")
	for _, tc := range []struct {
		name    string
		env     string // LAGSHIP_CONFIG
		args    []string
		want    []string // in stderr (stdout for check)
		notWant []string
	}{
		{"default missing", "", nil,
			[]string{"reading config: open " + defaultConfig + ": no such file or directory", "no -config given: " + defaultConfig + " is the default; pass -config FILE or set LAGSHIP_CONFIG"},
			[]string{"invalid config"}},
		{"env missing", absent, nil,
			[]string{"reading config: open " + absent + ": no such file or directory", "no -config given: LAGSHIP_CONFIG names this file"},
			[]string{"invalid config", defaultConfig}},
		{"env invalid", invalid, nil,
			[]string{"invalid config:", invalid + ":1: intervall: unknown key"},
			[]string{"reading config", "no -config given"}},
		{"flag wins over env", absent, []string{"-config", invalid},
			[]string{invalid + ":1: intervall: unknown key"},
			[]string{absent}},
	} {
		for _, cmd := range []string{"run", "once", "check"} {
			t.Run(tc.name+"/"+cmd, func(t *testing.T) {
				t.Setenv(configEnv, tc.env)
				code, out, errs := runCLI(t, append([]string{cmd}, tc.args...)...)
				text, wantCode := errs, exitConfig
				if cmd == "check" {
					text, wantCode = out, 1
				}
				if code != wantCode {
					t.Errorf("code %d, want %d", code, wantCode)
				}
				for _, w := range tc.want {
					if !strings.Contains(text, w) {
						t.Errorf("output lacks %q:\n%s", w, text)
					}
				}
				for _, w := range tc.notWant {
					if strings.Contains(text, w) {
						t.Errorf("output has %q:\n%s", w, text)
					}
				}
			})
		}
	}
}

// TestVersionEverywhere: lagship version, the status page and
// lagship_build_info show the same version, set as -ldflags -X sets it.
func TestVersionEverywhere(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v7.7.7-test"
	_, out, _ := runCLI(t, "version", "-json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version != "v7.7.7-test" {
		t.Fatalf("version -json %q: %v", out, err)
	}
	kf, _ := kafkaWithLag(t, []string{"orders"}, 1)
	path := writeFile(t, "lagship.yaml", fmt.Sprintf("http: {listen: \"127.0.0.1:0\"}\nclusters: [{name: dc1, brokers: [%q]}]\n"+
		"mirrors: [{name: mm, cluster: dc1, group: mirrormaker, topics: [orders]}]\n", kf.ListenAddrs()[0]))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, cfg, zerolog.Nop(), agentOptions{
			grace: 5 * time.Second,
			newSink: func(context.Context, *config.Config) (pipeline.Sink, error) {
				return stdout.New(io.Discard, stdout.JSON), nil
			},
			onHTTP: func(u string) { urls <- u },
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("agent stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no status page URL")
	}
	get := func(path string) string {
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if m := get("metrics"); !strings.Contains(m, `lagship_build_info{goversion="`+runtime.Version()+`",version="v7.7.7-test"} 1`) {
		t.Errorf("/metrics lagship_build_info:\n%s", grepLines(m, "lagship_build_info"))
	}
	if page := get(""); !strings.Contains(page, "v7.7.7-test") {
		t.Errorf("the status page does not show the version")
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
