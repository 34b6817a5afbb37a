package sshtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{
		{"true", true}, {"TRUE", true}, {"True", true}, {"1", true},
		{"", false}, {"false", false}, {"0", false}, {"yes", false},
	} {
		t.Setenv("CI", tc.val)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %t, want %t", tc.val, got, tc.want)
		}
	}
	os.Unsetenv("CI") // restored by t.Setenv's cleanup
	if InCI() {
		t.Error("CI unset: InCI() = true")
	}
}

// recorder is a testing.TB that records Skip and Fatalf instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestSSHDVerdict(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "sshd")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "no-such-sshd")
	for _, tc := range []struct {
		path        string
		ci          bool
		want        verdict
		skip, fatal bool
	}{
		{present, false, run, false, false},
		{present, true, run, false, false},
		{absent, false, skip, true, false},
		{absent, true, fail, false, true},
	} {
		v, msg := sshdVerdict(tc.path, tc.ci)
		if v != tc.want {
			t.Errorf("sshdVerdict(%s, ci=%t) = %d, want %d", filepath.Base(tc.path), tc.ci, v, tc.want)
		}
		if v != run && !strings.Contains(msg, tc.path) {
			t.Errorf("message %q does not name %s", msg, tc.path)
		}
		r := &recorder{TB: t}
		require(r, v, msg)
		if (r.skipped != "") != tc.skip || (r.failed != "") != tc.fatal {
			t.Errorf("%s, ci=%t: skipped %q, failed %q; want skip %t, fail %t", filepath.Base(tc.path), tc.ci, r.skipped, r.failed, tc.skip, tc.fatal)
		}
		if tc.fatal && !strings.Contains(r.failed, "CI is set") {
			t.Errorf("failure %q does not say CI made it fail", r.failed)
		}
	}
}

const childEnv = "LAGSHIP_SSHTEST_MISSING_SSHD"

// TestStartOpenSSHMissing runs StartOpenSSH with a missing daemon in a child
// process, once with CI=true and once without: the child fails in CI and is
// skipped otherwise.
func TestStartOpenSSHMissing(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		sshdPath = filepath.Join(t.TempDir(), "no-such-sshd")
		StartOpenSSH(t, t.TempDir(), Ed25519Key(t))
		t.Log("StartOpenSSH returned")
		return
	}
	for _, tc := range []struct {
		ci       string
		fail     bool
		wantLine string
	}{
		{"true", true, "--- FAIL: TestStartOpenSSHMissing"},
		{"", false, "--- SKIP: TestStartOpenSSHMissing"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStartOpenSSHMissing$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case tc.fail && !errors.As(err, &exit):
			t.Errorf("CI=%q: child did not fail (%v):\n%s", tc.ci, err, out)
		case !tc.fail && err != nil:
			t.Errorf("CI=%q: child failed (%v):\n%s", tc.ci, err, out)
		case !strings.Contains(string(out), tc.wantLine) || !strings.Contains(string(out), "no-such-sshd not found"):
			t.Errorf("CI=%q: child output lacks %q and the reason:\n%s", tc.ci, tc.wantLine, out)
		case strings.Contains(string(out), "StartOpenSSH returned"):
			t.Errorf("CI=%q: StartOpenSSH returned without sshd:\n%s", tc.ci, out)
		}
	}
}
