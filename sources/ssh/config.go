package ssh

import (
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults applied by NewSource, Probe and the Pool to zero fields.
const (
	DefaultPort    = 22
	DefaultTimeout = 30 * time.Second
)

// HostConfig says how to reach one SSH host.
type HostConfig struct {
	Host string // name or IP address
	Port int    // default 22
	User string

	// KeyFile is the private key: OpenSSH format or PEM (an EC2 .pem RSA
	// key works as is); RSA, ed25519 and ECDSA keys are accepted.
	KeyFile string
	// PassphraseFile holds the key's passphrase when the key is
	// encrypted. One trailing newline is ignored.
	PassphraseFile string

	// KnownHosts is an OpenSSH known_hosts file that must list the host's
	// key. Required unless InsecureIgnoreHostKey is set.
	KnownHosts string
	// InsecureIgnoreHostKey accepts any host key. It exposes the session
	// to a man in the middle and is logged as a warning at each connect.
	InsecureIgnoreHostKey bool

	// Timeout bounds connecting and each command; default 30s.
	Timeout time.Duration

	// JumpHost, when set, is a bastion the connection goes through.
	JumpHost *HostConfig
}

// MirrorConfig is one MirrorMaker 1 mirror observed over SSH.
type MirrorConfig struct {
	Host HostConfig
	// Group is the MirrorMaker consumer group.
	Group string
	// KafkaHome is the Kafka installation on the host; the command run is
	// KafkaHome/bin/kafka-consumer-groups.sh.
	KafkaHome string
	// BootstrapServer is the source cluster as a host:port[,host:port]
	// list, as seen from the host.
	BootstrapServer string
	// CommandConfig is an optional client properties file on the host
	// (TLS, SASL), passed as --command-config.
	CommandConfig string
}

// WithDefaults returns c with zero Port and Timeout set to their defaults,
// in the jump host too.
func (c HostConfig) WithDefaults() HostConfig {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.JumpHost != nil {
		j := c.JumpHost.WithDefaults()
		c.JumpHost = &j
	}
	return c
}

// Addr is host:port.
func (c HostConfig) Addr() string {
	port := c.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(port))
}

// String names the host as user@host:port, with the jump host if any.
func (c HostConfig) String() string {
	s := c.User + "@" + c.Addr()
	if c.JumpHost != nil {
		s += " via " + c.JumpHost.String()
	}
	return s
}

// Problem is one invalid setting: Field is its key path below the
// mirror ("host", "jump_host.user"); Missing says the key is absent or
// empty, so a config file reports it on the mapping that lacks it.
type Problem struct {
	Field   string
	Missing bool
	Msg     string
}

func (p Problem) String() string { return p.Field + ": " + p.Msg }

// Validate checks the host settings; errors name the field.
func (c HostConfig) Validate() error {
	return joinProblems(c.Problems())
}

// Problems lists what is wrong with the host settings. It is the one rule
// set for SSH hosts: the config file's validation and Validate both use
// it.
func (c HostConfig) Problems() []Problem {
	return c.problems("")
}

func (c HostConfig) problems(prefix string) []Problem {
	var ps []Problem
	add := func(name string, missing bool, format string, args ...any) {
		ps = append(ps, Problem{Field: prefix + name, Missing: missing, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Host == "":
		add("host", true, "required")
	case hasSpaceOrControl(c.Host) || strings.HasPrefix(c.Host, "-") || strings.ContainsAny(c.Host, "/@"):
		add("host", false, "%q is not a host name or address", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		add("port", false, "%d is out of range 1-65535", c.Port)
	}
	if c.User == "" {
		add("user", true, "required")
	} else if hasControl(c.User) || strings.HasPrefix(c.User, "-") {
		add("user", false, "%q contains control characters or starts with -", c.User)
	}
	if c.KeyFile == "" {
		add("key_file", true, "required (a private key: OpenSSH, PEM/EC2 .pem, ed25519, ecdsa)")
	}
	if c.KnownHosts == "" && !c.InsecureIgnoreHostKey {
		add("known_hosts", true, "required unless insecure_ignore_host_key is set: host keys are verified (insecure_ignore_host_key: true disables the check, which is unsafe)")
	}
	if c.KnownHosts != "" && c.InsecureIgnoreHostKey {
		add("insecure_ignore_host_key", false, "known_hosts is set too; choose one")
	}
	if c.Timeout < 0 {
		add("timeout", false, "must not be negative")
	}
	if c.JumpHost != nil {
		if c.JumpHost.JumpHost != nil {
			add("jump_host.jump_host", false, "only one jump host is supported: a jump host cannot have a jump host of its own")
		} else {
			ps = append(ps, c.JumpHost.problems(prefix+"jump_host.")...)
		}
	}
	return ps
}

func joinProblems(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = errors.New(p.String())
	}
	return errors.Join(errs...)
}

// Validate checks the mirror settings; errors name the field. Every value
// that goes into the remote command is checked here and quoted when the
// command is built.
func (c MirrorConfig) Validate() error {
	return joinProblems(c.Problems())
}

// Problems lists what is wrong with the mirror settings, host included.
func (c MirrorConfig) Problems() []Problem {
	ps := c.Host.problems("ssh.")
	add := func(name string, missing bool, format string, args ...any) {
		ps = append(ps, Problem{Field: name, Missing: missing, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Group == "":
		add("group", true, "required")
	case !utf8.ValidString(c.Group):
		add("group", false, "not valid UTF-8")
	case hasControl(c.Group):
		add("group", false, "%q contains control characters or a newline", c.Group)
	}
	if err := checkAbsPath(c.KafkaHome); err != nil {
		add("kafka_home", c.KafkaHome == "", "%v", err)
	}
	if err := checkBootstrap(c.BootstrapServer); err != nil {
		add("bootstrap_server", c.BootstrapServer == "", "%v", err)
	}
	if c.CommandConfig != "" {
		if err := checkAbsPath(c.CommandConfig); err != nil {
			add("command_config", false, "%v", err)
		}
	}
	return ps
}

func checkAbsPath(p string) error {
	switch {
	case p == "":
		return errors.New("required")
	case !path.IsAbs(p):
		return fmt.Errorf("%q is not an absolute path", p)
	case hasControl(p) || !utf8.ValidString(p):
		return fmt.Errorf("%q contains control characters", p)
	}
	return nil
}

// checkBootstrap accepts host:port[,host:port...] where host is a DNS name,
// an IPv4 address or a bracketed IPv6 address.
func checkBootstrap(s string) error {
	if s == "" {
		return errors.New("required")
	}
	for _, hp := range strings.Split(s, ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return fmt.Errorf("%q is not host:port", hp)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port must be 1-65535", hp)
		}
		if net.ParseIP(host) == nil && !isHostname(host) {
			return fmt.Errorf("%q: %q is not a host name or IP address", hp, host)
		}
	}
	return nil
}

func isHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

func hasSpaceOrControl(s string) bool {
	return hasControl(s) || strings.ContainsAny(s, " \t")
}

// shellQuote quotes s for a POSIX shell: the result is one word whose value
// is exactly s, with no expansion of any kind.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Command returns the remote command line for c. c must be valid.
func (c MirrorConfig) Command() string {
	var b strings.Builder
	b.WriteString(shellQuote(c.script()))
	b.WriteString(" --bootstrap-server ")
	b.WriteString(shellQuote(c.BootstrapServer))
	b.WriteString(" --describe --group ")
	b.WriteString(shellQuote(c.Group))
	if c.CommandConfig != "" {
		b.WriteString(" --command-config ")
		b.WriteString(shellQuote(c.CommandConfig))
	}
	return b.String()
}

// RemoteCommand is Command as lagship sends it: under coreutils timeout when
// the host has it, so that the host itself kills a JVM that hangs past the
// timeout. Closing the SSH session alone cannot: sshd often refuses signals
// from the client, and a silent JVM never notices its output is gone.
func (c MirrorConfig) RemoteCommand() string {
	t := c.Host.WithDefaults().Timeout
	secs := int64((t + time.Second - 1) / time.Second)
	return fmt.Sprintf("if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 %d %s; else exec %s; fi",
		secs, c.Command(), c.Command())
}

// script is the path of kafka-consumer-groups.sh on the host.
func (c MirrorConfig) script() string {
	return path.Join(c.KafkaHome, "bin", "kafka-consumer-groups.sh")
}
