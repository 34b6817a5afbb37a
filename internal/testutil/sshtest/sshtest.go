// Package sshtest runs an in-process SSH server on 127.0.0.1 for tests.
//
// The server is a real golang.org/x/crypto/ssh server: it offers the host
// keys it is given, accepts public-key authentication for the client keys it
// is given, runs "exec" requests through a Go callback (so a test can act as
// kafka-consumer-groups.sh), records every command, answers keepalive global
// requests, forwards direct-tcpip channels to loopback when asked (to act as a
// jump host) and can drop every connection on demand. An exec handler can cut
// off its own session or its whole connection mid-command (CloseSession,
// DropConnection), as a host that kills a session or closes the connection
// would.
package sshtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ExecFunc handles one exec request. cmd is the exact command string the
// client sent. ctx is done when the client closes the channel, sends a signal
// or the connection drops, so a handler that blocks must watch it; the
// handler may pass it to CloseSession or DropConnection. The returned value
// is sent as the exit status (if the session is still open).
type ExecFunc func(ctx context.Context, cmd string, stdout, stderr io.Writer) (exitStatus int)

// Options configures a Server.
type Options struct {
	// HostKeys are offered to clients; at least one is required.
	HostKeys []ssh.Signer
	// AuthorizedKeys are the client public keys accepted.
	AuthorizedKeys []ssh.PublicKey
	// Exec handles exec requests. Nil answers every command with exit
	// status 127 and "command not found" on stderr.
	Exec ExecFunc
	// AllowForward lets clients open direct-tcpip channels to 127.0.0.1,
	// which makes the server usable as a jump host.
	AllowForward bool
}

// Server is a running in-process SSH server.
type Server struct {
	t    testing.TB
	opts Options
	ln   net.Listener
	addr string

	mu         sync.Mutex
	conns      map[net.Conn]struct{} // raw connections, handshake or not
	commands   []string
	signals    []string
	forwards   []string
	keepalives int
	closed     bool
	silent     bool
	handshakes int

	wg sync.WaitGroup
}

// Start starts a server and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if len(opts.HostKeys) == 0 {
		t.Fatal("sshtest: at least one host key is required")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: listen: %v", err)
	}
	s := &Server{t: t, opts: opts, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Host is the server's IP address.
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.addr)
	return h
}

// Port is the server's TCP port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops accepting, drops every connection and waits for all handlers.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.DropAll()
	s.wg.Wait()
}

// DropAll closes every open connection, as a network failure would. The
// listener keeps accepting new ones.
func (s *Server) DropAll() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// SetUnresponsive makes the server stop answering keepalive requests (true)
// or answer them again (false), as a hung host would.
func (s *Server) SetUnresponsive(v bool) {
	s.mu.Lock()
	s.silent = v
	s.mu.Unlock()
}

// Commands returns every exec command received, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Signals returns every signal name received on a session ("KILL", ...).
func (s *Server) Signals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.signals...)
}

// Forwards returns the destinations of direct-tcpip channels opened.
func (s *Server) Forwards() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.forwards...)
}

// Keepalives returns how many keepalive@openssh.com requests were answered.
func (s *Server) Keepalives() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keepalives
}

// Connections returns how many SSH connections completed authentication.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handshakes
}

// KnownHostsLine returns a known_hosts line naming this server with key.
func (s *Server) KnownHostsLine(key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, key)
}

// WriteKnownHosts writes a known_hosts file in dir listing this server with
// the public halves of keys (all host keys when keys is empty) and returns
// its path.
func (s *Server) WriteKnownHosts(dir string, keys ...ssh.Signer) string {
	s.t.Helper()
	if len(keys) == 0 {
		keys = s.opts.HostKeys
	}
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(s.KnownHostsLine(k.PublicKey()))
		b.WriteByte('\n')
	}
	p := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		s.t.Fatalf("sshtest: writing known_hosts: %v", err)
	}
	return p
}

func (s *Server) config() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range s.opts.AuthorizedKeys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, errors.New("sshtest: key not authorized")
		},
	}
	for _, k := range s.opts.HostKeys {
		cfg.AddHostKey(k)
	}
	return cfg
}

func (s *Server) accept() {
	defer s.wg.Done()
	cfg := s.config()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(nc, cfg)
		}()
	}
}

func (s *Server) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[nc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	s.mu.Lock()
	s.handshakes++
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), connKey{}, nc))
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range reqs {
			if r.Type == "keepalive@openssh.com" {
				s.mu.Lock()
				s.keepalives++
				silent := s.silent
				s.mu.Unlock()
				if silent {
					continue // a hung peer: never answers
				}
				// OpenSSH answers keepalives with a failure reply; any
				// reply proves the peer alive.
				r.Reply(false, nil)
				continue
			}
			r.Reply(false, nil)
		}
	}()
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			ch, creqs, err := nch.Accept()
			if err != nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.session(ctx, ch, creqs)
			}()
		case "direct-tcpip":
			if !s.opts.AllowForward {
				nch.Reject(ssh.Prohibited, "forwarding disabled")
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.forward(ctx, nch)
			}()
		default:
			nch.Reject(ssh.UnknownChannelType, "unknown channel type")
		}
	}
	// The connection is gone: stop running handlers.
	cancel()
}

func (s *Server) session(connCtx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	ctx, cancel := context.WithCancel(context.WithValue(connCtx, chanKey{}, ch))
	defer cancel()
	defer ch.Close()
	done := make(chan int, 1)
	started := false
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				// Channel closed by the client: stop the command.
				cancel()
				if started {
					<-done
				}
				return
			}
			switch r.Type {
			case "exec":
				var p struct{ Command string }
				if started || ssh.Unmarshal(r.Payload, &p) != nil {
					r.Reply(false, nil)
					continue
				}
				s.mu.Lock()
				s.commands = append(s.commands, p.Command)
				s.mu.Unlock()
				r.Reply(true, nil)
				started = true
				go func() {
					done <- s.exec(ctx, p.Command, ch)
				}()
			case "signal":
				var p struct{ Signal string }
				if ssh.Unmarshal(r.Payload, &p) == nil {
					s.mu.Lock()
					s.signals = append(s.signals, p.Signal)
					s.mu.Unlock()
				}
				cancel()
				if r.WantReply {
					r.Reply(true, nil)
				}
			default:
				if r.WantReply {
					r.Reply(false, nil)
				}
			}
		case status := <-done:
			started = false
			ch.CloseWrite()
			var p struct{ Status uint32 }
			p.Status = uint32(status)
			ch.SendRequest("exit-status", false, ssh.Marshal(&p))
			return
		}
	}
}

type (
	connKey struct{}
	chanKey struct{}
)

// DropConnection closes the whole connection that the command of ctx (an
// ExecFunc's context) runs on, without a word to the client, as a host
// closing it or a network failure would: every session on it ends without
// an exit status. It reports whether ctx was an exec handler's.
func DropConnection(ctx context.Context) bool {
	nc, ok := ctx.Value(connKey{}).(net.Conn)
	if ok {
		nc.Close()
	}
	return ok
}

// CloseSession closes the session channel of the command of ctx (an
// ExecFunc's context) without sending an exit status, as a host killing
// only that session would. The connection and its other sessions stay up.
// It reports whether ctx was an exec handler's.
func CloseSession(ctx context.Context) bool {
	ch, ok := ctx.Value(chanKey{}).(ssh.Channel)
	if ok {
		ch.Close()
	}
	return ok
}

func (s *Server) exec(ctx context.Context, cmd string, ch ssh.Channel) int {
	if s.opts.Exec == nil {
		fmt.Fprintf(ch.Stderr(), "sh: 1: %s: not found\n", cmd)
		return 127
	}
	return s.opts.Exec(ctx, cmd, ch, ch.Stderr())
}

func (s *Server) forward(ctx context.Context, nch ssh.NewChannel) {
	var p struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
		nch.Reject(ssh.ConnectionFailed, "bad payload")
		return
	}
	if ip := net.ParseIP(p.Host); ip == nil || !ip.IsLoopback() {
		nch.Reject(ssh.Prohibited, "only loopback destinations")
		return
	}
	dst := net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
	var d net.Dialer
	out, err := d.DialContext(ctx, "tcp", dst)
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		out.Close()
		return
	}
	s.mu.Lock()
	s.forwards = append(s.forwards, dst)
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	stop := context.AfterFunc(ctx, func() {
		ch.Close()
		out.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		io.Copy(out, ch)
		if tc, ok := out.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	go func() {
		defer wg.Done()
		io.Copy(ch, out)
		ch.CloseWrite()
	}()
	wg.Wait()
	ch.Close()
	out.Close()
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

// RSAKey returns a 2048-bit RSA key generated once per test binary:
// generating one takes seconds under the race detector. Use Ed25519Key where
// two keys must differ.
func RSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() { rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048) })
	if rsaErr != nil {
		t.Fatalf("sshtest: generating RSA key: %v", rsaErr)
	}
	return rsaKey
}

// Ed25519Key generates an ed25519 key.
func Ed25519Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshtest: generating ed25519 key: %v", err)
	}
	return k
}

// Signer wraps a private key (*rsa.PrivateKey, ed25519.PrivateKey,
// *ecdsa.PrivateKey) as an ssh.Signer.
func Signer(t testing.TB, key any) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatalf("sshtest: signer: %v", err)
	}
	return s
}

// WriteRSAPEM writes key as a PKCS#1 "RSA PRIVATE KEY" PEM file, the format
// of EC2 .pem key pairs, and returns its path.
func WriteRSAPEM(t testing.TB, dir, name string, key *rsa.PrivateKey) string {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return writeFile(t, dir, name, b)
}

// WriteOpenSSHKey writes key in OpenSSH private key format, encrypted when
// passphrase is not empty, and returns its path.
func WriteOpenSSHKey(t testing.TB, dir, name string, key any, passphrase string) string {
	t.Helper()
	var (
		blk *pem.Block
		err error
	)
	if passphrase == "" {
		blk, err = ssh.MarshalPrivateKey(key, "lagship-test")
	} else {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(key, "lagship-test", []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("sshtest: marshalling private key: %v", err)
	}
	return writeFile(t, dir, name, pem.EncodeToMemory(blk))
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatalf("sshtest: writing %s: %v", p, err)
	}
	return p
}
