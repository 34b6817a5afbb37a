package ssh

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/testutil/sshtest"
)

// startSSHD runs Debian's OpenSSH server (see sshtest.StartOpenSSH) and
// returns the HostConfig to reach it.
func startSSHD(t *testing.T, dir string, clientKey any) HostConfig {
	t.Helper()
	o := sshtest.StartOpenSSH(t, dir, clientKey)
	return HostConfig{Host: o.Host, Port: o.Port, User: o.User, KeyFile: o.KeyFile, KnownHosts: o.KnownHosts, Timeout: 20 * time.Second}
}

// End to end against OpenSSH: the real sshd runs the command through the
// user's shell, so quoting, exit statuses, stdout/stderr and session reuse are
// exercised for real.
func TestSSHDEndToEnd(t *testing.T) {
	dir := t.TempDir()
	host := startSSHD(t, dir, sshtest.Ed25519Key(t))

	const topics, parts = 6, 3
	home := filepath.Join(dir, "kafka 3.7")
	counter := filepath.Join(dir, "runs")
	argsFile := filepath.Join(dir, "args")
	writeFile(t, home, "bin/kafka-consumer-groups.sh", fmt.Sprintf(`#!/bin/sh
echo run >> %s
printf '%%s\0' "$@" > %s
cat <<'TABLE'
%s
TABLE
echo "Consumer group 'mm1' has no active members." >&2
`, shellQuote(counter), shellQuote(argsFile), describeTable("mm1", topics, parts)), 0o755)

	cfg := MirrorConfig{Host: host, Group: "mm1", KafkaHome: home, BootstrapServer: "kafka-a:9092,kafka-b:9092"}
	p := newPool(t)
	src, err := NewSource(p, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	tick := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const ticks = 2
	for k := 1; k <= ticks; k++ {
		tick = tick.Add(10 * time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, topics)
		for i := 0; i < topics; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := src.Collect(ctx, tick, topicName(i))
				switch {
				case err != nil:
					errs <- err
				case !slices.Equal(s.Lags, wantLags(i, parts)):
					errs <- fmt.Errorf("%s: lags %v, want %v", topicName(i), s.Lags, wantLags(i, parts))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		b, err := os.ReadFile(counter)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "run\n"); n != k {
			t.Fatalf("after tick %d the script ran %d times, want %d", k, n, k)
		}
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{"--bootstrap-server", "kafka-a:9092,kafka-b:9092", "--describe", "--group", "mm1"}
	if got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"); !slices.Equal(got, wantArgs) {
		t.Errorf("script arguments = %q, want %q", got, wantArgs)
	}
	if st := p.Stats(); len(st) != 1 || st[0].Dials != 1 {
		t.Errorf("pool stats = %+v, want one connection for every tick", st)
	}
	if st := src.Stats(); st.Commands != ticks || st.Failures != 0 {
		t.Errorf("source stats = %+v", st)
	}
	t.Logf("real sshd: %d topics, %d ticks, %d script runs", topics, ticks, src.Stats().Commands)

	t.Run("missing script", func(t *testing.T) {
		bad := cfg
		bad.KafkaHome = filepath.Join(dir, "nowhere")
		s, err := NewSource(p, bad, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Collect(ctx, tick, topicName(0))
		if err == nil || !strings.Contains(err.Error(), "exit status 127") {
			t.Fatalf("err = %v, want exit status 127", err)
		}
	})

	t.Run("probe", func(t *testing.T) {
		for _, c := range Probe(ctx, cfg, testLogger(t)) {
			if !c.OK {
				t.Errorf("check %s failed: %s", c.Name, c.Detail)
			}
		}
	})

	// On timeout the client sends SIGKILL and closes the session. OpenSSH
	// refuses the signal when the session is not privilege separated (a
	// root login, or an sshd not started as root, as here) and older
	// releases ignore it; closing the session still closes the command's
	// stdout, so a command that writes dies of SIGPIPE. The script below
	// writes until it is cut off: it only ends if the session was closed.
	t.Run("timeout closes the command", func(t *testing.T) {
		slow := filepath.Join(dir, "slow")
		pidFile := filepath.Join(dir, "slow.pid")
		writeFile(t, slow, "bin/kafka-consumer-groups.sh", fmt.Sprintf(
			"#!/bin/sh\necho $$ > %s\nwhile echo still running; do sleep 0.1; done\n", shellQuote(pidFile)), 0o755)
		hc := host
		hc.Timeout = 2 * time.Second
		scfg := MirrorConfig{Host: hc, Group: "mm1", KafkaHome: slow, BootstrapServer: "k:9092"}
		sp := newPool(t)
		s, err := NewSource(sp, scfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Collect(ctx, tick, topicName(0))
		if err == nil || !strings.Contains(err.Error(), "timed out after 2s; killed") {
			t.Fatalf("err = %v, want a timeout", err)
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) }) // only if the test failed
		waitFor(t, "the remote command to end", func() bool {
			return syscall.Kill(pid, 0) != nil || isZombie(pid)
		})
		// The connection is still usable.
		if out, err := sp.Run(ctx, hc, "echo alive"); err != nil || string(out.Stdout) != "alive\n" {
			t.Fatalf("after timeout: %q, %v", out.Stdout, err)
		}
		if st := sp.Stats(); st[0].Dials != 1 {
			t.Errorf("pool redialed after a command timeout: %+v", st)
		}
	})
}

// isZombie reports whether pid has exited but is not yet reaped by sshd.
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
