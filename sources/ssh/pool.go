package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
)

// Pool defaults.
const (
	// KeepaliveInterval is how often an idle connection is probed with a
	// keepalive@openssh.com request.
	KeepaliveInterval = 15 * time.Second
	// Reconnect backoff after failed connection attempts: the first retry
	// is immediate, then 1s, 2s, 4s... capped at one minute.
	minBackoff = time.Second
	maxBackoff = time.Minute
	// maxOutput caps what one command may print on stdout or stderr.
	maxOutput = 32 << 20
)

// ErrPoolClosed is returned by a closed Pool.
var ErrPoolClosed = errors.New("ssh pool closed")

// Pool keeps one SSH connection per host (user, address, key, known_hosts
// and jump host) and runs every command of that host as a session on it.
// Connections are opened on first use, probed with keepalives, and reopened
// when they drop; failed attempts back off exponentially (capped) so a dead
// host costs little and delays only its own mirrors. A Pool is safe for
// concurrent use; Close releases everything.
type Pool struct {
	log zerolog.Logger

	// Tunables; tests shorten them.
	keepalive  time.Duration
	backoffMin time.Duration
	backoffMax time.Duration

	mu     sync.Mutex
	hosts  map[string]*host
	groups map[string]*groupRun
	closed bool
	wg     sync.WaitGroup // connection watchers
}

// NewPool returns an empty pool.
func NewPool(log zerolog.Logger) *Pool {
	return &Pool{
		log:        log,
		keepalive:  KeepaliveInterval,
		backoffMin: minBackoff,
		backoffMax: maxBackoff,
		hosts:      map[string]*host{},
		groups:     map[string]*groupRun{},
	}
}

// host is the pooled connection to one host.
type host struct {
	cfg HostConfig
	log zerolog.Logger
	// dialing serialises connection attempts; a token is taken to check
	// or replace client. Waiting for it honours the caller's context.
	dialing chan struct{}

	mu            sync.Mutex
	client        *conn
	failures      int // consecutive failed attempts
	retryAt       time.Time
	lastErr       error
	everConnected bool
	stats         HostStats
}

// conn is one established connection to a host.
type conn struct {
	*ssh.Client
	done chan struct{} // closed once the connection has ended
}

// HostStats counts one host's connection events.
type HostStats struct {
	Host         string // user@host:port [via jump]
	Connected    bool
	Dials        int64 // connection attempts
	DialFailures int64
	Reconnects   int64 // successful connects after the first
	Drops        int64 // established connections lost
	Commands     int64 // commands started
	LastError    string
}

func hostKey(hc HostConfig) string {
	k := fmt.Sprintf("%s|%s|%s|%s|%t|%s", hc.String(), hc.KeyFile, hc.PassphraseFile, hc.KnownHosts, hc.InsecureIgnoreHostKey, hc.Timeout)
	if hc.JumpHost != nil {
		k += "|jump:" + hostKey(*hc.JumpHost)
	}
	return k
}

func (p *Pool) host(hc HostConfig) (*host, error) {
	key := hostKey(hc)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	h := p.hosts[key]
	if h == nil {
		h = &host{
			cfg:     hc,
			log:     p.log.With().Str("host", hc.String()).Logger(),
			dialing: make(chan struct{}, 1),
		}
		h.stats.Host = hc.String()
		p.hosts[key] = h
	}
	return h, nil
}

// client returns the pooled connection to hc, connecting if needed. Only one
// caller dials at a time: the others wait, then use what it connected.
func (p *Pool) client(ctx context.Context, hc HostConfig) (*host, *conn, error) {
	hc = hc.WithDefaults()
	h, err := p.host(hc)
	if err != nil {
		return nil, nil, err
	}
	select {
	case h.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("waiting to connect to %s: %w", hc, ctx.Err())
	}
	defer func() { <-h.dialing }()

	h.mu.Lock()
	c, retryAt, failures, lastErr := h.client, h.retryAt, h.failures, h.lastErr
	h.mu.Unlock()
	if c != nil {
		return h, c, nil
	}
	if wait := time.Until(retryAt); wait > 0 {
		return nil, nil, fmt.Errorf("connecting to %s: %d attempts failed, next in %s: %w", hc, failures, wait.Round(time.Millisecond), lastErr)
	}

	sc, err := p.dial(ctx, hc, h.log)

	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Dials++
	if err != nil {
		h.stats.DialFailures++
		h.failures++
		h.lastErr = err
		h.stats.LastError = err.Error()
		backoff := p.backoffMax
		if shift := h.failures - 1; shift < 16 {
			backoff = min(p.backoffMin<<shift, p.backoffMax)
		}
		h.retryAt = time.Now().Add(backoff)
		// Once when the host starts failing; later attempts at debug.
		if h.failures == 1 {
			h.log.Warn().Err(err).Dur("retry_in", backoff).Msg("ssh connect failed")
		} else {
			h.log.Debug().Err(err).Int("attempts", h.failures).Dur("retry_in", backoff).Msg("ssh connect failed")
		}
		return nil, nil, err
	}
	// The pool may have closed while dialing: do not leak the connection.
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if closed {
		sc.Close()
		return nil, nil, ErrPoolClosed
	}
	if h.everConnected {
		h.stats.Reconnects++
		h.log.Info().Msg("ssh reconnected")
	} else {
		h.log.Debug().Msg("ssh connected")
	}
	h.everConnected = true
	h.failures, h.retryAt, h.lastErr = 0, time.Time{}, nil
	c = &conn{Client: sc, done: make(chan struct{})}
	go func() {
		sc.Wait()
		close(c.done)
	}()
	h.client = c
	go p.watch(h, c)
	return h, c, nil
}

// dial opens a new connection to hc, through its jump host if any.
func (p *Pool) dial(ctx context.Context, hc HostConfig, log zerolog.Logger) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()

	cfg, err := clientConfig(hc)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", hc, err)
	}
	if hc.InsecureIgnoreHostKey {
		log.Warn().Msg("host key NOT verified (insecure_ignore_host_key is set): anyone on the network path can impersonate this host")
	}
	addr := hc.Addr()
	var conn net.Conn
	if hc.JumpHost != nil {
		_, jc, err := p.client(ctx, *hc.JumpHost)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: jump host: %w", hc, err)
		}
		conn, err = jc.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s through jump host %s: %w", addr, hc.JumpHost, err)
		}
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", hc, err)
		}
	}
	// Bound the handshake by ctx: closing the socket unblocks it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stop() {
		// ctx ended during the handshake and conn is closed.
		if err == nil {
			sc.Close()
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", hc, context.Cause(ctx))
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh handshake with %s: %w", hc, err)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

func clientConfig(hc HostConfig) (*ssh.ClientConfig, error) {
	signer, err := loadSigner(hc)
	if err != nil {
		return nil, err
	}
	cb, algos, err := hostKeyCheck(hc)
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{
		User:              hc.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   cb,
		HostKeyAlgorithms: algos,
		Timeout:           hc.Timeout,
		ClientVersion:     "SSH-2.0-lagship",
	}, nil
}

// watch sends keepalives on c until it closes, then forgets it so the next
// command reconnects.
func (p *Pool) watch(h *host, c *conn) {
	defer p.wg.Done()
	t := time.NewTicker(p.keepalive)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			h.drop(c, "connection closed")
			return
		case <-t.C:
			// A keepalive that gets no answer within the timeout means a
			// dead peer: close, and done fires.
			kill := time.AfterFunc(h.cfg.Timeout, func() { c.Close() })
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			kill.Stop()
			if err != nil {
				c.Close()
			}
		}
	}
}

// drop forgets c, so that the next use reconnects, and closes it. Whoever
// notices the loss first (the keepalive watcher, or one of the commands that
// ran on c) logs it, once per connection: the others find it already gone.
func (h *host) drop(c *conn, why string) {
	h.mu.Lock()
	if h.client == c {
		h.client = nil
		h.stats.Drops++
		h.log.Warn().Str("reason", why).Msg("ssh connection lost; reconnecting on next use")
	}
	h.mu.Unlock()
	c.Close()
}

// alive reports whether c still works: false when it has ended or does not
// answer a keepalive within the host timeout (then it is closed, as the
// watcher would). It tells a command cut off by the loss of its connection
// from one whose session alone ended without an exit status.
func (h *host) alive(c *conn) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	reply := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	t := time.NewTimer(h.cfg.Timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return false
	case err := <-reply:
		return err == nil
	case <-t.C:
		c.Close()
		return false
	}
}

// errConnLost marks a command that failed because its connection ended
// under it, not because of the command: it is worth running again on a new
// connection.
var errConnLost = errors.New("ssh connection lost")

// Output is what one remote command printed and how it exited.
type Output struct {
	Stdout, Stderr []byte
	// ExitStatus is the command's exit status; -1 when the command ended
	// without one (killed by a signal on the host).
	ExitStatus int
}

// Run runs cmd on hc over the pooled connection and returns its output.
// Connecting is bounded by hc.Timeout and so is the command: a command still
// running then is sent SIGKILL and its session closed. A non-zero exit is
// not an error here; transport failures and timeouts are. A command cut off
// because the connection ended (the host or the network closed it, maybe
// because of another command) runs once more on a new connection if ctx is
// not done; every command that lost the connection shares one reconnect.
func (p *Pool) Run(ctx context.Context, hc HostConfig, cmd string) (Output, error) {
	return p.run(ctx, hc, cmd, func() {})
}

// run is Run calling started each time the command is started on the host.
func (p *Pool) run(ctx context.Context, hc HostConfig, cmd string, started func()) (Output, error) {
	hc = hc.WithDefaults()
	for attempt := 0; ; attempt++ {
		h, c, err := p.client(ctx, hc)
		if err != nil {
			return Output{}, err
		}
		out, err := runSession(ctx, h, c, cmd, started)
		if errors.Is(err, errConnLost) && attempt == 0 && ctx.Err() == nil {
			h.log.Debug().Err(err).Msg("running the command again on a new connection")
			continue
		}
		return out, err
	}
}

func runSession(ctx context.Context, h *host, c *conn, cmd string, started func()) (Output, error) {
	sess, err := c.NewSession()
	if err != nil {
		// The connection died before the watcher noticed.
		h.drop(c, "opening a session failed: "+err.Error())
		return Output{}, fmt.Errorf("opening ssh session on %s: %w: %w", h.cfg, errConnLost, err)
	}
	defer sess.Close()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()

	stdout := &capped{max: maxOutput}
	stderr := &capped{max: maxOutput}
	sess.Stdout, sess.Stderr = stdout, stderr
	if err := sess.Start(cmd); err != nil {
		if !h.alive(c) {
			h.drop(c, "starting a command failed: "+err.Error())
			return Output{}, fmt.Errorf("starting command on %s: %w: %w", h.cfg, errConnLost, err)
		}
		return Output{}, fmt.Errorf("starting command on %s: %w", h.cfg, err)
	}
	h.mu.Lock()
	h.stats.Commands++
	h.mu.Unlock()
	started()
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()

	select {
	case err = <-waited:
	case <-ctx.Done():
		// Kill the command and close its channel. OpenSSH delivers the
		// signal only to privilege-separated sessions (not to root
		// logins) and old releases ignore it; closing the channel closes
		// the command's stdout in any case, which ends it at its next
		// write (SIGPIPE).
		_ = sess.Signal(ssh.SIGKILL)
		sess.Close()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			// The connection does not even carry the close: drop it.
			h.drop(c, "a timed out command's session does not close")
			<-waited
		}
		if parent.Err() != nil {
			return Output{}, fmt.Errorf("command on %s cancelled; killed: %w", h.cfg, parent.Err())
		}
		return Output{}, fmt.Errorf("command on %s timed out after %s; killed: %w", h.cfg, h.cfg.Timeout, ctx.Err())
	}
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if stdout.over || stderr.over {
		return out, fmt.Errorf("command on %s printed more than %d bytes", h.cfg, maxOutput)
	}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		out.ExitStatus = exit.ExitStatus()
		if exit.Signal() != "" {
			out.ExitStatus = -1
		}
	case !h.alive(c):
		// The session ended without an exit status, or broke, because
		// the whole connection went away.
		h.drop(c, "closed during a command")
		return out, fmt.Errorf("running command on %s: %w (%w)", h.cfg, errConnLost, err)
	case errors.As(err, &missing):
		// Only this session ended: the command was killed on the host.
		out.ExitStatus = -1
	default:
		return out, fmt.Errorf("running command on %s: %w", h.cfg, err)
	}
	return out, nil
}

// capped is a bytes.Buffer that stops growing at max bytes.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(b []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(b) > room {
		c.over = true
		c.buf.Write(b[:max(room, 0)])
		return len(b), nil
	}
	return c.buf.Write(b)
}

func (c *capped) Bytes() []byte { return c.buf.Bytes() }

// Stats returns a snapshot of every host's counters, sorted by host.
func (p *Pool) Stats() []HostStats {
	p.mu.Lock()
	hosts := make([]*host, 0, len(p.hosts))
	for _, h := range p.hosts {
		hosts = append(hosts, h)
	}
	p.mu.Unlock()
	out := make([]HostStats, 0, len(hosts))
	for _, h := range hosts {
		h.mu.Lock()
		s := h.stats
		s.Connected = h.client != nil
		h.mu.Unlock()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b HostStats) int { return strings.Compare(a.Host, b.Host) })
	return out
}

// Close closes every connection and waits for the pool's goroutines. Commands
// in flight fail. Close is idempotent.
// forget closes and drops the connection to a host no source uses any more.
// The caller holds p.mu.
func (p *Pool) forgetLocked(key string) {
	h := p.hosts[key]
	if h == nil {
		return
	}
	delete(p.hosts, key)
	go func() {
		h.mu.Lock()
		c := h.client
		h.client = nil
		h.mu.Unlock()
		if c != nil {
			c.Close()
		}
	}()
}

func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	hosts := make([]*host, 0, len(p.hosts))
	for _, h := range p.hosts {
		hosts = append(hosts, h)
	}
	p.mu.Unlock()
	for _, h := range hosts {
		h.mu.Lock()
		c := h.client
		h.client = nil
		h.mu.Unlock()
		if c != nil {
			c.Close()
		}
	}
	p.wg.Wait()
	return nil
}
