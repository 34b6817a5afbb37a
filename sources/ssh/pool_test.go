package ssh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/lagship/lagship/internal/testutil/sshtest"
)

func echoExec(_ context.Context, cmd string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "ran: %s", cmd)
	return 0
}

func TestKeyTypes(t *testing.T) {
	dir := t.TempDir()
	rsaKey := sshtest.RSAKey(t)
	edKey := sshtest.Ed25519Key(t)
	encKey := sshtest.Ed25519Key(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey := sshtest.Signer(t, sshtest.Ed25519Key(t))
	srv := sshtest.Start(t, sshtest.Options{
		HostKeys: []ssh.Signer{hostKey},
		AuthorizedKeys: []ssh.PublicKey{
			sshtest.Signer(t, rsaKey).PublicKey(),
			sshtest.Signer(t, edKey).PublicKey(),
			sshtest.Signer(t, encKey).PublicKey(),
			sshtest.Signer(t, ecKey).PublicKey(),
		},
		Exec: echoExec,
	})
	knownHosts := srv.WriteKnownHosts(dir)
	rsaPEM := sshtest.WriteRSAPEM(t, dir, "ec2.pem", rsaKey)
	if b, _ := os.ReadFile(rsaPEM); !strings.HasPrefix(string(b), "-----BEGIN RSA PRIVATE KEY-----") {
		t.Fatalf("fixture is not a PKCS#1 PEM key: %.40q", b)
	}
	edFile := sshtest.WriteOpenSSHKey(t, dir, "id_ed25519", edKey, "")
	ecFile := sshtest.WriteOpenSSHKey(t, dir, "id_ecdsa", ecKey, "")
	encFile := sshtest.WriteOpenSSHKey(t, dir, "id_enc", encKey, "s3cret pass")
	passFile := writeFile(t, dir, "pass", "s3cret pass\n", 0o600)
	wrongPass := writeFile(t, dir, "wrong", "nope\n", 0o600)
	otherKey := sshtest.WriteOpenSSHKey(t, dir, "id_other", sshtest.Ed25519Key(t), "")

	tests := []struct {
		name     string
		key      string
		pass     string
		wantErr  string // substring; empty = success
		noSecret bool
	}{
		{name: "rsa pem (ec2)", key: rsaPEM},
		{name: "ed25519 openssh", key: edFile},
		{name: "ecdsa openssh", key: ecFile},
		{name: "encrypted with passphrase file", key: encFile, pass: passFile},
		{name: "encrypted without passphrase file", key: encFile, wantErr: "is encrypted and no passphrase_file"},
		{name: "encrypted with wrong passphrase", key: encFile, pass: wrongPass, wantErr: "decrypting key_file " + encFile},
		{name: "missing key file", key: filepath.Join(dir, "absent"), wantErr: "reading key_file"},
		{name: "key not authorized", key: otherKey, wantErr: "unable to authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t)
			hc := HostConfig{Host: srv.Host(), Port: srv.Port(), User: "ec2-user", KeyFile: tt.key,
				PassphraseFile: tt.pass, KnownHosts: knownHosts, Timeout: 10 * time.Second}
			out, err := p.Run(testCtx(t), hc, "uptime")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error reveals the passphrase: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out.Stdout); got != "ran: uptime" {
				t.Fatalf("stdout = %q", got)
			}
		})
	}
}

func TestKnownHosts(t *testing.T) {
	e := newEnv(t, echoExec)
	other := sshtest.Signer(t, sshtest.Ed25519Key(t))
	addr := knownhosts.Normalize(e.srv.Addr())

	mismatch := writeFile(t, e.dir, "kh-mismatch", knownhosts.Line([]string{addr}, other.PublicKey())+"\n", 0o600)
	unknown := writeFile(t, e.dir, "kh-unknown", knownhosts.Line([]string{"[127.0.0.1]:1"}, e.hostKey.PublicKey())+"\n", 0o600)
	hashed := writeFile(t, e.dir, "kh-hashed",
		knownhosts.Line([]string{knownhosts.HashHostname(addr)}, e.hostKey.PublicKey())+"\n", 0o600)
	empty := writeFile(t, e.dir, "kh-empty", "", 0o600)

	tests := []struct {
		name    string
		file    string
		wantErr []string // substrings; nil = success
	}{
		{name: "accept", file: e.host.KnownHosts},
		{name: "accept hashed entry", file: hashed},
		{name: "mismatch", file: mismatch, wantErr: []string{"host key mismatch", e.srv.Addr(), mismatch}},
		{name: "unknown host", file: unknown, wantErr: []string{"not in known_hosts file", e.srv.Addr(), unknown}},
		{name: "empty file", file: empty, wantErr: []string{"not in known_hosts file", e.srv.Addr(), empty}},
		{name: "missing file", file: filepath.Join(e.dir, "absent"), wantErr: []string{"reading known_hosts file", filepath.Join(e.dir, "absent")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.srv.Commands())
			hc := e.host
			hc.KnownHosts = tt.file
			_, err := newPool(t).Run(testCtx(t), hc, "id")
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("connected despite the host key check")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if got := len(e.srv.Commands()); got != before {
				t.Errorf("%d commands ran on a host that failed the key check", got-before)
			}
		})
	}
	t.Run("insecure ignores host key", func(t *testing.T) {
		hc := e.host
		hc.KnownHosts = mismatch
		hc.InsecureIgnoreHostKey = true
		if _, err := newPool(t).Run(testCtx(t), hc, "id"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("host key error type", func(t *testing.T) {
		hc := e.host
		hc.KnownHosts = mismatch
		_, err := newPool(t).Run(testCtx(t), hc, "id")
		var hke *HostKeyError
		if !errors.As(err, &hke) || len(hke.Want) != 1 || hke.KnownHosts != mismatch {
			t.Fatalf("err = %#v, want a *HostKeyError listing the one known key", err)
		}
	})
}

// A server with RSA and ed25519 host keys whose known_hosts entry holds only
// one of them: the client must negotiate that one.
func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	rsaHost := sshtest.Signer(t, sshtest.RSAKey(t))
	edHost := sshtest.Signer(t, sshtest.Ed25519Key(t))
	clientKey := sshtest.Ed25519Key(t)
	srv := sshtest.Start(t, sshtest.Options{
		HostKeys:       []ssh.Signer{rsaHost, edHost},
		AuthorizedKeys: []ssh.PublicKey{sshtest.Signer(t, clientKey).PublicKey()},
		Exec:           echoExec,
	})
	dir := t.TempDir()
	keyFile := sshtest.WriteOpenSSHKey(t, dir, "id", clientKey, "")
	addr := knownhosts.Normalize(srv.Addr())

	for _, tt := range []struct {
		name      string
		line      string
		wantAlgos []string
	}{
		{"rsa only", knownhosts.Line([]string{addr}, rsaHost.PublicKey()),
			[]string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
		{"ed25519 only", knownhosts.Line([]string{addr}, edHost.PublicKey()),
			[]string{ssh.KeyAlgoED25519}},
		{"rsa only, hashed", knownhosts.Line([]string{knownhosts.HashHostname(addr)}, rsaHost.PublicKey()),
			[]string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
		{"both", knownhosts.Line([]string{addr}, rsaHost.PublicKey()) + "\n" + knownhosts.Line([]string{"other.example", addr}, edHost.PublicKey()),
			[]string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kh := writeFile(t, t.TempDir(), "known_hosts", tt.line+"\n", 0o600)
			hc := HostConfig{Host: srv.Host(), Port: srv.Port(), User: "u", KeyFile: keyFile, KnownHosts: kh, Timeout: 10 * time.Second}
			_, algos, err := hostKeyCheck(hc)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(algos, tt.wantAlgos) {
				t.Fatalf("algorithms = %v, want %v", algos, tt.wantAlgos)
			}
			if _, err := newPool(t).Run(testCtx(t), hc, "id"); err != nil {
				t.Fatalf("connect: %v", err)
			}
		})
	}

	// Control: without HostKeyAlgorithms the client negotiates RSA (its
	// default preference) and the ed25519-only known_hosts rejects it.
	// This is the failure the algorithm selection prevents.
	t.Run("control without algorithms", func(t *testing.T) {
		kh := writeFile(t, t.TempDir(), "known_hosts", knownhosts.Line([]string{addr}, edHost.PublicKey())+"\n", 0o600)
		cb, err := knownhosts.New(kh)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
			User:            "u",
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(sshtest.Signer(t, clientKey))},
			HostKeyCallback: cb,
			Timeout:         10 * time.Second,
		})
		if err == nil {
			c.Close()
			t.Fatal("default algorithms connected: the client does not prefer RSA, so this test proves nothing")
		}
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) || len(ke.Want) == 0 {
			t.Fatalf("control failed for another reason: %v", err)
		}
	})
}

func TestCommandTimeoutKillsCommand(t *testing.T) {
	var stopped atomic.Int32
	e := newEnv(t, func(ctx context.Context, cmd string, stdout, _ io.Writer) int {
		if cmd == "quick" {
			io.WriteString(stdout, "ok")
			return 0
		}
		<-ctx.Done() // a hung JVM: runs until killed
		stopped.Add(1)
		return 137
	})
	e.host.Timeout = 300 * time.Millisecond
	p := newPool(t)
	_, err := p.Run(testCtx(t), e.host, "hang")
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms; killed") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	waitFor(t, "the command to be stopped on the server", func() bool { return stopped.Load() == 1 })
	if got := e.srv.Signals(); !slices.Equal(got, []string{"KILL"}) {
		t.Errorf("signals = %v, want [KILL]", got)
	}
	// The connection survives a killed command.
	out, err := p.Run(testCtx(t), e.host, "quick")
	if err != nil || string(out.Stdout) != "ok" {
		t.Fatalf("after timeout: %q, %v", out.Stdout, err)
	}
	if n := e.srv.Connections(); n != 1 {
		t.Errorf("%d connections, want the one kept open", n)
	}
}

func TestCancelledContext(t *testing.T) {
	started := make(chan struct{})
	e := newEnv(t, func(ctx context.Context, _ string, _, _ io.Writer) int {
		close(started)
		<-ctx.Done()
		return 1
	})
	p := newPool(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		<-started
		cancel()
	}()
	_, err := p.Run(ctx, e.host, "hang")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled; killed") {
		t.Fatalf("err = %v, want cancellation", err)
	}
}

func TestStdoutStderrSplit(t *testing.T) {
	e := newEnv(t, func(_ context.Context, _ string, stdout, stderr io.Writer) int {
		io.WriteString(stdout, "out 1\n")
		io.WriteString(stderr, "err 1\n")
		io.WriteString(stdout, "out 2\n")
		io.WriteString(stderr, "err 2\n")
		return 3
	})
	out, err := newPool(t).Run(testCtx(t), e.host, "x")
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Stdout) != "out 1\nout 2\n" || string(out.Stderr) != "err 1\nerr 2\n" || out.ExitStatus != 3 {
		t.Fatalf("got stdout %q stderr %q exit %d", out.Stdout, out.Stderr, out.ExitStatus)
	}
}

func TestReconnectAfterDrop(t *testing.T) {
	e := newEnv(t, echoExec)
	p := newPool(t)
	ctx := testCtx(t)
	if _, err := p.Run(ctx, e.host, "one"); err != nil {
		t.Fatal(err)
	}
	e.srv.DropAll()
	out, err := p.Run(ctx, e.host, "two")
	if err != nil {
		t.Fatalf("after drop: %v", err)
	}
	if string(out.Stdout) != "ran: two" {
		t.Fatalf("stdout = %q", out.Stdout)
	}
	if n := e.srv.Connections(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
	st := p.Stats()
	if len(st) != 1 || st[0].Reconnects != 1 || st[0].Drops != 1 || !st[0].Connected || st[0].Commands != 2 {
		t.Errorf("stats = %+v, want one reconnect after one drop, two commands", st)
	}
	want := fmt.Sprintf(`# HELP lagship_ssh_commands_total Commands started on the host (each kafka-consumer-groups.sh is one JVM launch there).
# TYPE lagship_ssh_commands_total counter
lagship_ssh_commands_total{host=%[1]q} 2
# HELP lagship_ssh_connection_drops_total Established connections to the host that were lost.
# TYPE lagship_ssh_connection_drops_total counter
lagship_ssh_connection_drops_total{host=%[1]q} 1
# HELP lagship_ssh_connected 1 while a connection to the host is open.
# TYPE lagship_ssh_connected gauge
lagship_ssh_connected{host=%[1]q} 1
`, st[0].Host)
	if err := testutil.CollectAndCompare(p, strings.NewReader(want), "lagship_ssh_commands_total", "lagship_ssh_connection_drops_total", "lagship_ssh_connected"); err != nil {
		t.Error(err)
	}
}

func TestReconnectBackoff(t *testing.T) {
	e := newEnv(t, echoExec)
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	p := newPool(t)
	p.backoffMin, p.backoffMax = time.Hour, 2*time.Hour
	hc := e.host
	hc.Port = dead
	ctx := testCtx(t)
	if _, err := p.Run(ctx, hc, "x"); err == nil {
		t.Fatal("connected to a closed port")
	}
	_, err = p.Run(ctx, hc, "x")
	if err == nil || !strings.Contains(err.Error(), "1 attempts failed, next in") {
		t.Fatalf("second attempt: %v, want a backoff error", err)
	}
	st := p.Stats()
	if len(st) != 1 || st[0].Dials != 1 || st[0].DialFailures != 1 {
		t.Fatalf("stats = %+v, want one dial during backoff", st)
	}
	// Another host of the same pool is not affected.
	if _, err := p.Run(ctx, e.host, "x"); err != nil {
		t.Fatalf("healthy host: %v", err)
	}
	// Once the backoff is over the host is tried again.
	p.backoffMin = 0
	func() {
		h, _ := p.host(hc.WithDefaults())
		h.mu.Lock()
		h.retryAt = time.Time{}
		h.mu.Unlock()
	}()
	if _, err := p.Run(ctx, hc, "x"); err == nil || strings.Contains(err.Error(), "next in") {
		t.Fatalf("third attempt: %v, want a fresh dial error", err)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	// Checked through the pool's own bookkeeping: 1s, 2s, 4s ... 1m.
	p := newPool(t)
	hc := HostConfig{Host: "127.0.0.1", Port: 1, User: "u", KeyFile: "/nonexistent", KnownHosts: "/nonexistent", Timeout: time.Second}
	h, err := p.host(hc.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for i := 0; i < 9; i++ {
		h.mu.Lock()
		h.retryAt = time.Time{}
		h.mu.Unlock()
		p.Run(testCtx(t), hc, "x")
		h.mu.Lock()
		got = append(got, time.Until(h.retryAt).Round(time.Second))
		h.mu.Unlock()
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(got, want) {
		t.Fatalf("backoffs = %v, want %v", got, want)
	}
}

func TestKeepalive(t *testing.T) {
	e := newEnv(t, echoExec)
	p := newPool(t)
	p.keepalive = 10 * time.Millisecond
	if _, err := p.Run(testCtx(t), e.host, "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "keepalives", func() bool { return e.srv.Keepalives() >= 3 })
}

// A peer that stops answering keepalives is dropped, and the next command
// reconnects.
func TestKeepaliveDetectsHungPeer(t *testing.T) {
	e := newEnv(t, echoExec)
	e.host.Timeout = time.Second // also the keepalive reply timeout
	p := newPool(t)
	p.keepalive = 10 * time.Millisecond
	if _, err := p.Run(testCtx(t), e.host, "x"); err != nil {
		t.Fatal(err)
	}
	e.srv.SetUnresponsive(true)
	waitFor(t, "the hung connection to be dropped", func() bool { st := p.Stats()[0]; return st.Drops == 1 && !st.Connected })
	e.srv.SetUnresponsive(false)
	if _, err := p.Run(testCtx(t), e.host, "y"); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats()[0]; st.Reconnects != 1 || !st.Connected {
		t.Fatalf("stats = %+v, want one reconnect", st)
	}
}

func TestJumpHost(t *testing.T) {
	target := newEnv(t, echoExec)
	jumpKey := sshtest.Ed25519Key(t)
	jumpHostKey := sshtest.Signer(t, sshtest.RSAKey(t))
	bastion := sshtest.Start(t, sshtest.Options{
		HostKeys:       []ssh.Signer{jumpHostKey},
		AuthorizedKeys: []ssh.PublicKey{sshtest.Signer(t, jumpKey).PublicKey()},
		AllowForward:   true,
	})
	jdir := t.TempDir()
	hc := target.host
	hc.JumpHost = &HostConfig{
		Host:       bastion.Host(),
		Port:       bastion.Port(),
		User:       "bastion",
		KeyFile:    sshtest.WriteOpenSSHKey(t, jdir, "id", jumpKey, ""),
		KnownHosts: bastion.WriteKnownHosts(jdir),
	}
	if err := hc.Validate(); err != nil {
		t.Fatal(err)
	}
	p := newPool(t)
	for i := 0; i < 3; i++ {
		out, err := p.Run(testCtx(t), hc, fmt.Sprint("cmd", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("ran: cmd", i); string(out.Stdout) != want {
			t.Fatalf("stdout = %q, want %q", out.Stdout, want)
		}
	}
	if got := bastion.Forwards(); !slices.Equal(got, []string{target.srv.Addr()}) {
		t.Errorf("bastion forwards = %v, want one to %s", got, target.srv.Addr())
	}
	if n := len(bastion.Commands()); n != 0 {
		t.Errorf("%d commands ran on the bastion", n)
	}
	if n := target.srv.Connections(); n != 1 {
		t.Errorf("target saw %d connections, want 1 reused", n)
	}

	t.Run("jump host key checked", func(t *testing.T) {
		bad := hc
		j := *hc.JumpHost
		j.KnownHosts = target.host.KnownHosts // lists the target, not the bastion
		bad.JumpHost = &j
		_, err := newPool(t).Run(testCtx(t), bad, "x")
		if err == nil || !strings.Contains(err.Error(), bastion.Addr()) || !strings.Contains(err.Error(), "not in known_hosts file") {
			t.Fatalf("err = %v, want the bastion's host key rejected", err)
		}
	})
}

func TestPoolClose(t *testing.T) {
	e := newEnv(t, echoExec)
	p := NewPool(testLogger(t))
	if _, err := p.Run(testCtx(t), e.host, "x"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := p.Run(testCtx(t), e.host, "x"); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("after Close: %v", err)
	}
	p.Close() // idempotent
}
