package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"
	"github.com/segmentio/kafka-go/sasl"

	// Message types this package sends; importing them registers their
	// encoders with the protocol package.
	_ "github.com/segmentio/kafka-go/protocol/findcoordinator"
	_ "github.com/segmentio/kafka-go/protocol/listoffsets"
	_ "github.com/segmentio/kafka-go/protocol/metadata"
	_ "github.com/segmentio/kafka-go/protocol/offsetfetch"
)

// ErrClosed is returned by every call on a closed Cluster.
var ErrClosed = errors.New("kafka cluster client closed")

// ErrUnsupportedBroker is wrapped by the error of a connection to a broker
// that offers no version lagship speaks of an API a tick needs.
var ErrUnsupportedBroker = errors.New("broker version not supported")

// oldestKafka is the oldest Kafka release lagship reads lag from: the first
// with ListOffsets v1.
const oldestKafka = "Kafka 0.10.1"

// versionRecheck is how long a broker that offered no usable version is
// taken at its word before it is dialled again (it may have been upgraded).
const versionRecheck = 5 * time.Minute

// versionError says that a broker offers no version of key that lagship
// speaks. It wraps ErrUnsupportedBroker.
type versionError struct {
	addr                 string
	key                  protocol.ApiKey
	offered              bool  // the broker lists key at all
	brokerMin, brokerMax int16 // the broker's range, when offered
	min, max             int16 // the range lagship speaks
}

func (e *versionError) Error() string {
	offers := "does not offer " + e.key.String()
	if e.offered {
		offers = fmt.Sprintf("offers %s v%d-v%d", e.key, e.brokerMin, e.brokerMax)
	}
	hint := oldestKafka + " or later"
	if e.offered && e.brokerMin > e.max {
		hint = "the broker is newer than this lagship"
	}
	return fmt.Sprintf("broker %s %s; lagship speaks v%d-v%d (%s)", e.addr, offers, e.min, e.max, hint)
}

func (e *versionError) Unwrap() error { return ErrUnsupportedBroker }

// negotiateVersions picks, for every API the broker offers, the version
// requests of that API are sent at: for the APIs this package encodes
// itself, the highest version the broker, kafka-go and the codec all speak
// (a versionError when there is none); for the others, kafka-go's choice.
func negotiateVersions(addr string, offered []apiversions.ApiKeyResponse) (map[protocol.ApiKey]int16, error) {
	versions := make(map[protocol.ApiKey]int16, len(offered))
	ranges := make(map[protocol.ApiKey][2]int16, len(offered))
	for _, k := range offered {
		key := protocol.ApiKey(k.ApiKey)
		versions[key] = key.SelectVersion(k.MinVersion, k.MaxVersion)
		ranges[key] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for _, key := range []protocol.ApiKey{protocol.ListOffsets, protocol.OffsetFetch} {
		lo, hi, _ := codecRange(key)
		lo, hi = max(lo, key.MinVersion()), min(hi, key.MaxVersion())
		r, ok := ranges[key]
		if !ok || max(lo, r[0]) > min(hi, r[1]) {
			return nil, &versionError{addr: addr, key: key, offered: ok, brokerMin: r[0], brokerMax: r[1], min: lo, max: hi}
		}
		versions[key] = min(hi, r[1])
	}
	return versions, nil
}

// dialer opens authenticated connections to brokers the way kafka-go's
// Transport does: TCP, optional TLS, ApiVersions, optional SASL.
type dialer struct {
	clientID string
	timeout  time.Duration
	tls      *tls.Config
	mech     sasl.Mechanism
	count    func(protocol.ApiKey) // called once per request written
}

// brokerConn is one connection to one broker, dialled on first use and
// redialled after any failure. Requests on it are serialised: Kafka answers
// in order and lagship sends at most a few requests per broker per tick.
type brokerConn struct {
	addr string
	d    *dialer

	mu sync.Mutex // held for a whole exchange: one request at a time

	// Guarded by mu: the versions negotiated when pc was dialled, the last
	// correlation id of call, and call's frame buffers, kept across ticks.
	versions map[protocol.ApiKey]int16
	corr     int32
	wbuf     []byte
	rbuf     []byte
	// kept is, by API, the frame of the last callSame: the next call
	// with the same request and version sends it again with a new
	// correlation id instead of encoding it anew. encodes counts the
	// frames encoded.
	kept    map[protocol.ApiKey]*keptFrame
	encodes uint64
	// Also guarded by mu: the versionError of the last dial, if it failed
	// so, and when; connecting fails with it until versionRecheck passes.
	refused   error
	refusedAt time.Time

	state  sync.Mutex     // guards pc and closed; never held while waiting on the network
	pc     *protocol.Conn // nil until dialled, and after a failure
	closed bool
}

// maxKeptBuffer bounds the frame buffers a connection keeps between calls.
const maxKeptBuffer = 4 << 20

// call sends one request of type key: enc appends its body for the
// negotiated version, and dec reads the answer's body (after the
// correlation id). body is reused by the next call: dec must not keep it.
// Transport errors drop the connection, as in roundTrip; an answer dec
// refuses does not, since the connection is still in step.
func (b *brokerConn) call(ctx context.Context, key protocol.ApiKey, enc func(w []byte, v int16) ([]byte, error), dec func(body []byte, v int16) error) error {
	return b.callSame(ctx, key, nil, enc, dec)
}

// keptFrame is a request frame that callSame may send again.
type keptFrame struct {
	req   any // what the frame encodes (a pointer, compared by identity)
	v     int16
	frame []byte
}

// callSame is call for a request that a plan keeps from tick to tick:
// req, when not nil, stands for what enc encodes, and must not change
// while a caller may pass it. While req and the negotiated version are
// those of the connection's last callSame for key, its frame is sent again
// with a new correlation id (at 10,000 topics of 8 partitions, encoding
// the ListOffsets requests took 0.14 s of a 4.2 s CPU profile of 30 ticks).
func (b *brokerConn) callSame(ctx context.Context, key protocol.ApiKey, req any, enc func(w []byte, v int16) ([]byte, error), dec func(body []byte, v int16) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	pc, err := b.connectLocked(ctx)
	if err != nil {
		return err
	}
	v := b.versions[key]
	b.corr++
	corr := b.corr
	var kf *keptFrame
	if req != nil {
		if kf = b.kept[key]; kf == nil {
			if b.kept == nil {
				b.kept = make(map[protocol.ApiKey]*keptFrame)
			}
			kf = &keptFrame{}
			b.kept[key] = kf
		}
	}
	var w []byte
	if kf != nil && kf.req == req && kf.v == v && len(kf.frame) >= 12 {
		w = kf.frame
		binary.BigEndian.PutUint32(w[8:12], uint32(corr)) // after size, key and version
	} else {
		buf := b.wbuf[:0]
		if kf != nil {
			buf, kf.req = kf.frame[:0], nil
		}
		b.encodes++
		w = appendRequestHeader(buf, key, v, corr, b.d.clientID)
		if w, err = enc(w, v); err != nil {
			return fmt.Errorf("broker %s: %s: %w", b.addr, key, err)
		}
		w = finishFrame(w)
		if kf != nil && cap(w) <= maxKeptBuffer {
			kf.req, kf.v, kf.frame = req, v, w
		}
	}
	var body []byte
	err = b.d.guard(ctx, pc, key, func() error {
		if _, err := pc.Write(w); err != nil {
			return err
		}
		var err error
		body, err = readFrame(pc, b.rbuf, corr)
		return err
	})
	if kf == nil && cap(w) <= maxKeptBuffer {
		b.wbuf = w
	}
	if err != nil {
		b.drop(pc)
		return fmt.Errorf("broker %s: %s: %w", b.addr, key, err)
	}
	if cap(body) <= maxKeptBuffer {
		b.rbuf = body
	}
	if err := dec(body, v); err != nil {
		return fmt.Errorf("broker %s: %w", b.addr, err)
	}
	return nil
}

// readFrame reads one answer: its size, its correlation id (which must be
// corr), and its body, into buf when it is large enough.
func readFrame(r io.Reader, buf []byte, corr int32) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > maxResponseSize {
		return nil, fmt.Errorf("response size %d out of range", size)
	}
	n := int(size) - 4
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if id := int32(binary.BigEndian.Uint32(hdr[4:])); id != corr {
		return nil, fmt.Errorf("correlation id mismatch (expected=%d, found=%d)", corr, id)
	}
	return buf, nil
}

// roundTrip sends msg and returns the broker's answer. Any transport error
// drops the connection so the next call starts afresh.
func (b *brokerConn) roundTrip(ctx context.Context, msg protocol.Message) (protocol.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pc, err := b.connectLocked(ctx)
	if err != nil {
		return nil, err
	}
	res, err := b.d.exchange(ctx, pc, msg)
	if err != nil {
		b.drop(pc)
		return nil, fmt.Errorf("broker %s: %s: %w", b.addr, msg.ApiKey(), err)
	}
	return res, nil
}

// connect dials the broker unless a connection is already open.
func (b *brokerConn) connect(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.connectLocked(ctx)
	return err
}

// connectLocked returns the open connection, dialling if there is none.
// b.mu must be held.
func (b *brokerConn) connectLocked(ctx context.Context) (*protocol.Conn, error) {
	b.state.Lock()
	pc, closed := b.pc, b.closed
	b.state.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if pc != nil {
		return pc, nil
	}
	if b.refused != nil && time.Since(b.refusedAt) < versionRecheck {
		return nil, b.refused
	}
	pc, versions, err := b.d.dial(ctx, b.addr)
	if err != nil {
		if errors.Is(err, ErrUnsupportedBroker) {
			// Names the broker already; redialling will not help soon.
			b.refused, b.refusedAt = err, time.Now()
			return nil, err
		}
		return nil, fmt.Errorf("connecting to broker %s: %w", b.addr, err)
	}
	b.versions, b.refused = versions, nil
	b.state.Lock()
	defer b.state.Unlock()
	if b.closed { // Close ran while dialling
		pc.Close()
		return nil, ErrClosed
	}
	b.pc = pc
	return pc, nil
}

// version returns the version of key negotiated on the latest connection,
// false before the first.
func (b *brokerConn) version(key protocol.ApiKey) (int16, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.versions[key]
	return v, ok
}

// drop closes pc and forgets it so that the next request redials.
func (b *brokerConn) drop(pc *protocol.Conn) {
	pc.Close()
	b.state.Lock()
	if b.pc == pc {
		b.pc = nil
	}
	b.state.Unlock()
}

// close closes the connection for good; a request in flight fails at once.
func (b *brokerConn) close() {
	b.state.Lock()
	b.closed = true
	pc := b.pc
	b.pc = nil
	b.state.Unlock()
	if pc != nil {
		pc.Close()
	}
}

// dial opens a connection, negotiates API versions and authenticates.
func (d *dialer) dial(ctx context.Context, addr string) (_ *protocol.Conn, _ map[protocol.ApiKey]int16, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	nd := net.Dialer{}
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			nc.Close()
		}
	}()
	host, portStr, _ := net.SplitHostPort(addr)
	if d.tls != nil {
		cfg := d.tls
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	pc := protocol.NewConn(nc, d.clientID)

	r, err := d.exchange(ctx, pc, &apiversions.Request{})
	if err != nil {
		return nil, nil, fmt.Errorf("negotiating api versions: %w", err)
	}
	av := r.(*apiversions.Response)
	if av.ErrorCode != 0 {
		return nil, nil, fmt.Errorf("negotiating api versions: %w", kafkago.Error(av.ErrorCode))
	}
	versions, err := negotiateVersions(addr, av.ApiKeys)
	if err != nil {
		return nil, nil, err
	}
	pc.SetVersions(versions)

	if d.mech != nil {
		port, _ := strconv.Atoi(portStr)
		actx := sasl.WithMetadata(ctx, &sasl.Metadata{Host: host, Port: port})
		if err := d.authenticate(actx, pc); err != nil {
			return nil, nil, fmt.Errorf("sasl %s: %w", d.mech.Name(), err)
		}
	}
	return pc, versions, nil
}

// authenticate runs SaslHandshake then SaslAuthenticate until the mechanism
// is done.
func (d *dialer) authenticate(ctx context.Context, pc *protocol.Conn) error {
	r, err := d.exchange(ctx, pc, &saslhandshake.Request{Mechanism: d.mech.Name()})
	if err != nil {
		return err
	}
	if code := r.(*saslhandshake.Response).ErrorCode; code != 0 {
		return kafkago.Error(code)
	}
	sess, state, err := d.mech.Start(ctx)
	if err != nil {
		return err
	}
	for done := false; !done; {
		r, err := d.exchange(ctx, pc, &saslauthenticate.Request{AuthBytes: state})
		if err != nil {
			if errors.Is(err, io.EOF) {
				return kafkago.SASLAuthenticationFailed
			}
			return err
		}
		res := r.(*saslauthenticate.Response)
		if res.ErrorCode != 0 {
			if res.ErrorMessage != "" {
				return fmt.Errorf("%w: %s", kafkago.Error(res.ErrorCode), res.ErrorMessage)
			}
			return kafkago.Error(res.ErrorCode)
		}
		done, state, err = sess.Next(ctx, res.AuthBytes)
		if err != nil {
			return err
		}
	}
	return nil
}

// exchange is one request/response on pc, bounded by the dialer timeout and
// by ctx: cancelling ctx unblocks the read at once.
func (d *dialer) exchange(ctx context.Context, pc *protocol.Conn, msg protocol.Message) (protocol.Message, error) {
	var res protocol.Message
	err := d.guard(ctx, pc, msg.ApiKey(), func() error {
		var err error
		res, err = pc.RoundTrip(msg)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// guard runs one request/response f on pc, bounded by the dialer timeout
// and by ctx: cancelling ctx unblocks f at once.
func (d *dialer) guard(ctx context.Context, pc *protocol.Conn, key protocol.ApiKey, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(d.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := pc.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { pc.SetDeadline(time.Unix(1, 0)) })
	if d.count != nil {
		d.count(key)
	}
	err := f()
	if !stop() {
		// ctx ended while the request was in flight: the deadline was
		// (or is being) moved to the past, so the connection is unusable.
		pc.Close()
		return ctx.Err()
	}
	return err
}
