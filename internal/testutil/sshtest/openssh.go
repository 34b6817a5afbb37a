package sshtest

import (
	"fmt"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is where Debian's openssh-server installs the daemon.
const SSHDPath = "/usr/sbin/sshd"

// sshdPath is the daemon StartOpenSSH runs; tests of the missing-sshd path
// change it.
var sshdPath = SSHDPath

// OpenSSH is a running OpenSSH server started by StartOpenSSH, and what a
// client needs to reach it.
type OpenSSH struct {
	Host       string // 127.0.0.1
	Port       int
	User       string // the current user
	KeyFile    string // the client's private key (OpenSSH format)
	KnownHosts string // a known_hosts file listing the server's host key
	PID        int
	log        *syncbuf.Buffer
}

// Log returns what sshd printed so far.
func (o *OpenSSH) Log() string { return o.log.String() }

// InCI reports whether the tests run in continuous integration: the CI
// environment variable is "true" (any case) or "1", as GitHub Actions,
// GitLab CI and most other runners set it. There, a test that needs a
// tool the runner is supposed to provide fails instead of skipping, so a
// broken runner image cannot silently turn end-to-end tests into no-ops.
func InCI() bool {
	v := os.Getenv("CI")
	return strings.EqualFold(v, "true") || v == "1"
}

// verdict is what a test does about a prerequisite.
type verdict int

const (
	run  verdict = iota // the prerequisite is there
	skip                // missing, outside CI
	fail                // missing, in CI
)

// sshdVerdict decides whether a test can run sshd at path: run when the
// file exists, otherwise skip, or fail when ci is set. The message says
// what is missing.
func sshdVerdict(path string, ci bool) (verdict, string) {
	if _, err := os.Stat(path); err != nil {
		return missing(ci), fmt.Sprintf("%s not found: install openssh-server to run the end-to-end test against a real sshd (%v)", path, err)
	}
	return run, ""
}

func missing(ci bool) verdict {
	if ci {
		return fail
	}
	return skip
}

// require stops t as v says: Skip, or Fatal (naming CI) for fail.
func require(t testing.TB, v verdict, msg string) {
	t.Helper()
	switch v {
	case skip:
		t.Skip(msg)
	case fail:
		t.Fatalf("%s (CI is set: not skipping)", msg)
	}
}

// StartOpenSSH runs Debian's OpenSSH server (sshd -D -e) on a free loopback
// port with a generated ed25519 host key, accepting clientKey for the
// current user. When sshd is not installed the test is skipped, with the
// reason, or fails under CI (see InCI). sshd is killed and reaped at
// cleanup.
func StartOpenSSH(t testing.TB, dir string, clientKey any) *OpenSSH {
	t.Helper()
	ci := InCI()
	v, msg := sshdVerdict(sshdPath, ci)
	require(t, v, msg)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		require(t, missing(ci), fmt.Sprintf("sshd needs its privilege separation directory /run/sshd: %v", err))
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	hostKey := Ed25519Key(t)
	hostKeyFile := WriteOpenSSHKey(t, dir, "ssh_host_ed25519_key", hostKey, "")
	authorized := write("authorized_keys", string(ssh.MarshalAuthorizedKey(Signer(t, clientKey).PublicKey())))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	config := write("sshd_config", fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
LogLevel VERBOSE
`, port, hostKeyFile, authorized, filepath.Join(dir, "sshd.pid")))

	log := &syncbuf.Buffer{}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", config)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("sshd exited before listening: %v\n%s", err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s:\n%s", addr, log.String())
		}
	}
	return &OpenSSH{
		Host:       "127.0.0.1",
		Port:       port,
		User:       u.Username,
		KeyFile:    WriteOpenSSHKey(t, dir, "id_ed25519", clientKey, ""),
		KnownHosts: write("known_hosts", knownhosts.Line([]string{knownhosts.Normalize(addr)}, Signer(t, hostKey).PublicKey())+"\n"),
		PID:        cmd.Process.Pid,
		log:        log,
	}
}
