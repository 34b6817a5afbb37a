package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is returned when a host's key is not accepted: the host is
// missing from the known_hosts file, or it presented a key the file does not
// list for it (which may be a man in the middle). No command is run on such
// a host.
type HostKeyError struct {
	Host       string // host:port as dialed
	KnownHosts string // the known_hosts file consulted
	Key        ssh.PublicKey
	// Want lists the keys the file holds for the host; empty when the
	// host is unknown.
	Want []knownhosts.KnownKey
	Err  error // underlying knownhosts error
}

func (e *HostKeyError) Error() string {
	fp := ssh.FingerprintSHA256(e.Key)
	if len(e.Want) == 0 {
		var re *knownhosts.RevokedError
		if errors.As(e.Err, &re) {
			return fmt.Sprintf("host key of %s (%s %s) is revoked in %s", e.Host, e.Key.Type(), fp, e.KnownHosts)
		}
		return fmt.Sprintf("host %s is not in known_hosts file %s (it offered %s %s)", e.Host, e.KnownHosts, e.Key.Type(), fp)
	}
	w := e.Want[0]
	return fmt.Sprintf("host key mismatch for %s: it offered %s %s but known_hosts file %s lists another key (line %d, %s %s); refusing to connect",
		e.Host, e.Key.Type(), fp, e.KnownHosts, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key))
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// hostKeyCheck returns the host key callback for hc and the host key
// algorithms to offer, in preference order, derived from the key types the
// known_hosts file holds for that host and port. Offering only those types
// matters: a server with both an RSA and an ed25519 key would otherwise
// negotiate whichever the client prefers, and the check would fail when the
// file records only the other one.
//
// The types are found by asking the knownhosts matcher itself about a key
// it cannot know, so plain, wildcard and hashed (|1|...) entries all count.
// @cert-authority lines are not reported that way; when the file holds only
// those for the host, the default algorithms are offered.
func hostKeyCheck(hc HostConfig) (ssh.HostKeyCallback, []string, error) {
	if hc.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	kh, err := knownhosts.New(hc.KnownHosts)
	if err != nil {
		return nil, nil, fmt.Errorf("reading known_hosts file %s: %w", hc.KnownHosts, err)
	}
	addr := hc.Addr()
	algos, err := knownAlgorithms(kh, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("looking up %s in known_hosts file %s: %w", addr, hc.KnownHosts, err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := kh(hostname, remote, key)
		if err == nil {
			return nil
		}
		hke := &HostKeyError{Host: hostname, KnownHosts: hc.KnownHosts, Key: key, Err: err}
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			hke.Want = ke.Want
		}
		return hke
	}
	return cb, algos, nil
}

var (
	probeKeyOnce sync.Once
	probeKey     ssh.PublicKey
	probeKeyErr  error
)

// knownAlgorithms lists the host key algorithms matching the key types the
// known_hosts callback holds for addr (host:port). It presents a freshly
// generated key, which no file can list, so the callback answers with every
// key it has for the address.
func knownAlgorithms(kh ssh.HostKeyCallback, addr string) ([]string, error) {
	probeKeyOnce.Do(func() {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			probeKeyErr = err
			return
		}
		probeKey, probeKeyErr = ssh.NewPublicKey(pub)
	})
	if probeKeyErr != nil {
		return nil, probeKeyErr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if ip == nil {
		ip = net.IPv4zero // only the hostname is matched when one is given
	}
	err = kh(addr, &net.TCPAddr{IP: ip, Port: p}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil, nil // nothing to learn (no entry, or revoked probe: impossible)
	}
	types := map[string]bool{}
	for _, k := range ke.Want {
		types[k.Key.Type()] = true
	}
	return algorithmsFor(types), nil
}

// hostKeyPreference orders the algorithms offered; RSA keys are offered with
// SHA-2 signatures first and SHA-1 last, for old hosts.
var hostKeyPreference = []struct {
	keyType string
	algos   []string
}{
	{ssh.KeyAlgoED25519, []string{ssh.KeyAlgoED25519}},
	{ssh.KeyAlgoECDSA521, []string{ssh.KeyAlgoECDSA521}},
	{ssh.KeyAlgoECDSA384, []string{ssh.KeyAlgoECDSA384}},
	{ssh.KeyAlgoECDSA256, []string{ssh.KeyAlgoECDSA256}},
	{ssh.KeyAlgoRSA, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
}

func algorithmsFor(types map[string]bool) []string {
	var out []string
	for _, p := range hostKeyPreference {
		if types[p.keyType] {
			out = append(out, p.algos...)
			delete(types, p.keyType)
		}
	}
	// Other types (security keys, post-quantum) keep their own name, in a
	// stable order.
	return append(out, slices.Sorted(maps.Keys(types))...)
}
