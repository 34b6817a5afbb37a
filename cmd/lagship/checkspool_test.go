package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/spool"
)

// TestProbeSpool: check says whether run could open the spool, and
// leaves nothing behind.
func TestProbeSpool(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(tmp, "existing")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(tmp, "locked")
	sp, err := spool.Open(locked, spool.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	released := filepath.Join(tmp, "released")
	sp2, err := spool.Open(released, spool.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	sp2.Close()

	type want struct {
		ok     bool
		detail string
	}
	for _, tc := range []struct {
		name     string
		dir      string
		maxBytes int64
		want     []want // the spool line, then the free space line
		root     bool   // false: skipped as root, who may write anywhere
	}{
		{"to be created", filepath.Join(tmp, "new", "spool"), 1 << 20, []want{{true, "does not exist yet; run creates it"}, {true, "free; spool_max_bytes 1.0 MiB"}}, true},
		{"existing", existing, 1 << 20, []want{{true, "writable by "}, {true, " free"}}, true},
		{"held by a running agent", locked, 1 << 20, []want{{true, "in use by a running lagship"}, {true, " free"}}, true},
		{"left by a stopped agent", released, 1 << 20, []want{{true, "writable by "}, {true, " free"}}, true},
		{"a file", file, 1 << 20, []want{{false, "is not a directory"}}, true},
		{"under a file", filepath.Join(file, "spool"), 1 << 20, []want{{false, "cannot be created: " + file + " is not a directory"}}, true},
		{"disk too small", existing, 1 << 62, []want{{true, "writable"}, {false, "less than spool_max_bytes 4.0 EiB"}}, true},
		{"not writable", filepath.Join(readOnlyDir(t, tmp), "spool"), 1 << 20, []want{{false, "cannot be created by "}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.root && os.Geteuid() == 0 {
				t.Skip("root writes anywhere")
			}
			got := probeSpool(tc.dir, tc.maxBytes)
			if len(got) != len(tc.want) {
				t.Fatalf("%d lines, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				if got[i].ok != w.ok || !strings.Contains(got[i].detail, w.detail) || got[i].scope != "spool" {
					t.Errorf("line %d: %+v, want ok=%v and %q", i, got[i], w.ok, w.detail)
				}
			}
		})
	}
	// Nothing was created or left behind.
	if _, err := os.Stat(filepath.Join(tmp, "new")); !os.IsNotExist(err) {
		t.Errorf("check created %s/new: %v", tmp, err)
	}
	for _, d := range []string{tmp, existing, locked} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".lagship-check") {
				t.Errorf("left %s in %s", e.Name(), d)
			}
		}
	}
}

// TestProbeSpoolUnwritableAsRoot: a file system no one may write, which
// stops root too.
func TestProbeSpoolUnwritableAsRoot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sysfs is Linux's")
	}
	if st, err := os.Stat("/sys/kernel"); err != nil || !st.IsDir() {
		t.Skip("no /sys here")
	}
	got := probeSpool("/sys/kernel/lagship-spool", 1<<20)
	if len(got) != 1 || got[0].ok || !strings.Contains(got[0].detail, "cannot be created by ") {
		t.Errorf("%+v", got)
	}
}

// readOnlyDir is a directory its owner may not write to.
func readOnlyDir(t *testing.T, parent string) string {
	d := filepath.Join(parent, "read-only")
	if err := os.Mkdir(d, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(d, 0o700) })
	return d
}

// TestCheckSpoolLine: check prints the spool's lines and fails on them.
func TestCheckSpoolLine(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders", "payments"}, 2)
	path := checkConfig(t, "http://127.0.0.1:1", kf.ListenAddrs(), "mirrormaker")
	_, out, _ := runCLI(t, "check", "-timeout", "2s", "-config", path)
	spoolDir := filepath.Join(filepath.Dir(path), "spool")
	if !strings.Contains(out, "OK    spool                    "+spoolDir) || !strings.Contains(out, "does not exist yet; run creates it") ||
		!strings.Contains(out, "OK    spool                    free space") {
		t.Errorf("check output:\n%s", out)
	}
	// A spool_dir under a file fails the check.
	if err := os.WriteFile(spoolDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "check", "-timeout", "2s", "-config", path)
	if code != 1 || !strings.Contains(out, "FAIL  spool                    "+spoolDir) {
		t.Errorf("code %d, output:\n%s", code, out)
	}
}
