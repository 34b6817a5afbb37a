package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is where Debian's openssh-server installs the daemon.
const SSHDPath = "/usr/sbin/sshd"

// OpenSSH is a running OpenSSH server started by StartOpenSSH, and what a
// client needs to reach it.
type OpenSSH struct {
	Host       string // 127.0.0.1
	Port       int
	User       string // the current user
	KeyFile    string // the client's private key (OpenSSH format)
	KnownHosts string // a known_hosts file listing the server's host key
	PID        int
	log        *lockedBuffer
}

// Log returns what sshd printed so far.
func (o *OpenSSH) Log() string { return o.log.String() }

// StartOpenSSH runs Debian's OpenSSH server (sshd -D -e) on a free loopback
// port with a generated ed25519 host key, accepting clientKey for the
// current user. The test is skipped, with the reason, when sshd is not
// installed. sshd is killed and reaped at cleanup.
func StartOpenSSH(t testing.TB, dir string, clientKey any) *OpenSSH {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skipf("%s not found: install openssh-server to run the end-to-end test against a real sshd", SSHDPath)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skipf("sshd needs its privilege separation directory /run/sshd: %v", err)
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

	log := &lockedBuffer{}
	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", config)
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

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
