package sshtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dial(t *testing.T, s *Server, client ssh.Signer, knownHosts string) (*ssh.Client, error) {
	t.Helper()
	cb, err := knownhosts.New(knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            "test",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(client)},
		HostKeyCallback: cb,
		Timeout:         10 * time.Second,
	})
}

func TestServer(t *testing.T) {
	client := Signer(t, Ed25519Key(t))
	s := Start(t, Options{
		HostKeys:       []ssh.Signer{Signer(t, Ed25519Key(t))},
		AuthorizedKeys: []ssh.PublicKey{client.PublicKey()},
		Exec: func(ctx context.Context, cmd string, stdout, stderr io.Writer) int {
			if cmd == "block" {
				<-ctx.Done()
				return 9
			}
			io.WriteString(stdout, "out:"+cmd)
			io.WriteString(stderr, "err:"+cmd)
			return 4
		},
	})
	kh := s.WriteKnownHosts(t.TempDir())
	c, err := dial(t, s, client, kh)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	err = sess.Run("hello 'x'")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 4 {
		t.Fatalf("Run = %v, want exit status 4", err)
	}
	if out.String() != "out:hello 'x'" || errb.String() != "err:hello 'x'" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}

	// A signal stops a blocked handler and is recorded.
	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("block"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return len(s.Commands()) == 2 })
	if err := sess.Signal(ssh.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); !errors.As(err, &exit) || exit.ExitStatus() != 9 {
		t.Fatalf("Wait = %v, want exit status 9", err)
	}
	if got := s.Signals(); !slices.Equal(got, []string{"KILL"}) {
		t.Fatalf("signals = %v", got)
	}
	if got := s.Commands(); !slices.Equal(got, []string{"hello 'x'", "block"}) {
		t.Fatalf("commands = %v", got)
	}

	// Keepalives are answered (with a failure reply, as OpenSSH does).
	if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatal(err)
	}
	if s.Keepalives() != 1 {
		t.Fatalf("keepalives = %d", s.Keepalives())
	}

	// DropAll ends the connection.
	s.DropAll()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open after DropAll")
	}
	if s.Connections() != 1 {
		t.Fatalf("connections = %d", s.Connections())
	}
}

func TestServerRejects(t *testing.T) {
	hostKey := Signer(t, RSAKey(t))
	client := Signer(t, Ed25519Key(t))
	s := Start(t, Options{HostKeys: []ssh.Signer{hostKey}, AuthorizedKeys: []ssh.PublicKey{client.PublicKey()}})
	dir := t.TempDir()
	kh := s.WriteKnownHosts(dir)
	if line, _ := os.ReadFile(kh); !strings.HasPrefix(string(line), "[127.0.0.1]:") {
		t.Fatalf("known_hosts line %q does not name the server", line)
	}

	if _, err := dial(t, s, Signer(t, Ed25519Key(t)), kh); err == nil {
		t.Fatal("an unauthorized key logged in")
	}
	c, err := dial(t, s, client, kh)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Without an Exec handler every command is "not found".
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var exit *ssh.ExitError
	if err := sess.Run("kafka-consumer-groups.sh"); !errors.As(err, &exit) || exit.ExitStatus() != 127 {
		t.Fatalf("Run = %v, want exit status 127", err)
	}
	// Forwarding is off unless asked for.
	if _, err := c.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("direct-tcpip allowed without AllowForward")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k := RSAKey(t)
	p := WriteRSAPEM(t, dir, "k.pem", k)
	b, _ := os.ReadFile(p)
	if _, err := ssh.ParsePrivateKey(b); err != nil || !bytes.HasPrefix(b, []byte("-----BEGIN RSA PRIVATE KEY-----")) {
		t.Fatalf("RSA PEM: %v", err)
	}
	p = WriteOpenSSHKey(t, dir, "enc", Ed25519Key(t), "pw")
	b, _ = os.ReadFile(p)
	var missing *ssh.PassphraseMissingError
	if _, err := ssh.ParsePrivateKey(b); !errors.As(err, &missing) {
		t.Fatalf("encrypted key parsed without passphrase: %v", err)
	}
	if _, err := ssh.ParsePrivateKeyWithPassphrase(b, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p) != dir {
		t.Fatalf("written to %s", p)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CloseSession ends only the handler's session; DropConnection ends every
// session of the connection. Neither sends an exit status.
func TestCloseSessionAndDropConnection(t *testing.T) {
	client := Signer(t, Ed25519Key(t))
	blocked := make(chan struct{}, 1)
	s := Start(t, Options{
		HostKeys:       []ssh.Signer{Signer(t, Ed25519Key(t))},
		AuthorizedKeys: []ssh.PublicKey{client.PublicKey()},
		Exec: func(ctx context.Context, cmd string, stdout, _ io.Writer) int {
			switch cmd {
			case "cut":
				if !CloseSession(ctx) {
					return 100
				}
			case "drop":
				if !DropConnection(ctx) {
					return 100
				}
			case "block":
				blocked <- struct{}{}
				<-ctx.Done()
			default:
				io.WriteString(stdout, "ok")
			}
			return 0
		},
	})
	c, err := dial(t, s, client, s.WriteKnownHosts(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(cmd string) (string, error) {
		sess, err := c.NewSession()
		if err != nil {
			return "", err
		}
		defer sess.Close()
		out, err := sess.Output(cmd)
		return string(out), err
	}
	var missing *ssh.ExitMissingError
	if _, err := run("cut"); !errors.As(err, &missing) {
		t.Fatalf("cut: %v, want a session closed without exit status", err)
	}
	if out, err := run("echo"); err != nil || out != "ok" {
		t.Fatalf("after cut: %q, %v; the connection should still work", out, err)
	}
	if s.Connections() != 1 {
		t.Fatalf("connections = %d", s.Connections())
	}

	// A command blocked on the same connection ends with it.
	other, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start("block"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("block did not start")
	}
	if _, err := run("drop"); !errors.As(err, &missing) {
		t.Fatalf("drop: %v, want a session closed without exit status", err)
	}
	if err := other.Wait(); !errors.As(err, &missing) {
		t.Fatalf("the other session: %v, want it closed without exit status", err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open after DropConnection")
	}
	if DropConnection(context.Background()) || CloseSession(context.Background()) {
		t.Fatal("a context that is not a handler's was accepted")
	}
}
