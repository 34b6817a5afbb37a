package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
)

// chromium finds Debian's Chromium; a test that needs it skips without it,
// except in CI (CI=true), where .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if v := os.Getenv("CI"); v == "true" || v == "1" {
		t.Fatal("chromium is not installed, and CI must run the browser test (.ci/run installs Debian's chromium)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// headless runs Chromium headless on url with extra flags and returns its
// stdout. Every process it starts is killed when it returns.
func headless(t *testing.T, bin, url string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers it left behind
	}
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
	}
	return out.String()
}

// artifacts is where browser tests leave their screenshots.
func artifacts(t *testing.T) string {
	dir := os.Getenv("LAGSHIP_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "lagship-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusPageInBrowser runs the agent on kfake and the fake
// Elasticsearch, opens its status page in headless Chromium, checks the
// rendered DOM (every topic row, its status text, its lag) and saves
// screenshots at a desktop and a phone width.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	topics := []string{"orders", "payments", "clicks"}
	kf, want := kafkaWithLag(t, topics, 4)
	es := esfake.NewTB(t)
	dir := t.TempDir()
	path := writeFile(t, "lagship.yaml", fmt.Sprintf(`interval: 1s
status: {window: 3s}
http: {listen: "127.0.0.1:0"}
elasticsearch: {addresses: [%q], spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders, payments, clicks]}
`, es.URL(), filepath.Join(dir, "spool"), kf.ListenAddrs()[0]))
	url := startHTTPAgent(t, path)
	// Ready, and every topic judged: the group's offsets do not move and it
	// has no member, so STOP once 3 observations span half the window.
	var last string
	if !await.Within(30*time.Second, func() bool {
		res, err := http.Get(url + "status")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var doc struct {
			Mirrors []struct {
				Topics []struct{ Status string }
			}
		}
		b, _ := io.ReadAll(res.Body)
		last = string(b)
		if json.Unmarshal(b, &doc) != nil || len(doc.Mirrors) != 1 || len(doc.Mirrors[0].Topics) != len(topics) {
			return false
		}
		for _, tp := range doc.Mirrors[0].Topics {
			if tp.Status != "STOP" { // WARN until 3 observations span half the window
				return false
			}
		}
		ready, err := http.Get(url + "readyz")
		if err != nil {
			return false
		}
		rb, _ := io.ReadAll(ready.Body)
		ready.Body.Close()
		last += "\nreadyz: " + string(rb)
		return ready.StatusCode == 200
	}) {
		t.Fatalf("not every topic judged, or not ready:\n%s", last)
	}

	dom := headless(t, bin, url, "--dump-dom")
	_ = os.WriteFile(filepath.Join(artifacts(t), "status-page.html"), []byte(dom), 0o644)
	for _, topic := range topics {
		// The group's offsets do not move and nobody is a member: STOP.
		row := fmt.Sprintf(`data-topic="%s" data-status="STOP"`, topic)
		if !strings.Contains(dom, row) {
			i := strings.Index(dom, "<tbody>")
			t.Errorf("rendered page lacks the row %s; its table: %.1500s", row, dom[max(i, 0):])
		}
		var total int64
		for _, l := range want[topic] {
			if l > 0 {
				total += l
			}
		}
		if !strings.Contains(dom, fmt.Sprintf(`<td class="num">%d</td>`, total)) {
			t.Errorf("rendered page lacks %s's total lag %d", topic, total)
		}
	}
	for _, text := range []string{">STOP<", "elasticsearch: up", "version " + version} {
		if !strings.Contains(dom, text) {
			t.Errorf("rendered page lacks %q", text)
		}
	}
	out := artifacts(t)
	for _, shot := range []struct{ name, size string }{{"status-page-desktop.png", "1280,800"}, {"status-page-phone.png", "390,844"}} {
		file := filepath.Join(out, shot.name)
		_ = os.Remove(file)
		headless(t, bin, url, "--screenshot="+file, "--window-size="+shot.size, "--hide-scrollbars")
		st, err := os.Stat(file)
		if err != nil || st.Size() < 5000 {
			t.Fatalf("screenshot %s: %v (size %v)", file, err, st)
		}
		t.Logf("screenshot %s (%d bytes)", file, st.Size())
	}
}
