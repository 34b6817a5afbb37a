package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/lagship/lagship/internal/tlsconfig"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms lagship speaks.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Defaults applied by NewCluster to zero Config fields.
const (
	DefaultClientID       = "lagship"
	DefaultTimeout        = 10 * time.Second
	DefaultMetadataMaxAge = time.Minute
	DefaultUnknownBackoff = 10 * time.Second
	DefaultMembersMaxAge  = 10 * time.Second
)

// SASL holds the credentials of one cluster. Mechanism is PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512.
type SASL struct{ Mechanism, Username, Password string }

// TLS configures TLS towards the brokers. Verification is on unless
// InsecureSkipVerify is set; CAFile adds a CA bundle to the system pool;
// CertFile and KeyFile, both or neither, give a client certificate.
type TLS struct {
	Enabled            bool
	CAFile             string
	CertFile, KeyFile  string
	InsecureSkipVerify bool
}

// Config describes one Kafka cluster.
type Config struct {
	Name     string        // cluster name from the configuration, used in logs and errors
	Brokers  []string      // bootstrap host:port list
	SASL     *SASL         // nil: no authentication
	TLS      *TLS          // nil or !Enabled: plaintext
	ClientID string        // default "lagship"
	Timeout  time.Duration // dial and per-request timeout; default 10s

	// MetadataMaxAge is how old the partition and leader map may grow
	// before a tick refreshes it (new partitions show up within this
	// time). Default 1m. Ages are measured in tick time.
	MetadataMaxAge time.Duration
	// UnknownBackoff is how often a watched topic the cluster does not
	// know triggers a metadata refresh, so that a topic created later is
	// found within a few ticks. Default 10s.
	UnknownBackoff time.Duration
	// MembersMaxAge is how old a group's membership may grow, while the
	// group may be stalled (a partition with lag whose committed offset did
	// not move since the previous tick), before a tick describes the group
	// again. A group that commits is not described again at all. Default
	// 10s. Ages are measured in tick time.
	MembersMaxAge time.Duration
}

func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MetadataMaxAge <= 0 {
		c.MetadataMaxAge = DefaultMetadataMaxAge
	}
	if c.UnknownBackoff <= 0 {
		c.UnknownBackoff = DefaultUnknownBackoff
	}
	if c.MembersMaxAge <= 0 {
		c.MembersMaxAge = DefaultMembersMaxAge
	}
}

// Validate reports the first problem of the configuration, naming the field.
// It does not read any file.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("cluster %q: brokers: at least one host:port is required", c.Name)
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			return fmt.Errorf("cluster %q: broker %q: %w", c.Name, b, err)
		}
		if host == "" {
			return fmt.Errorf("cluster %q: broker %q: missing host", c.Name, b)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("cluster %q: broker %q: invalid port", c.Name, b)
		}
	}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		default:
			return fmt.Errorf("cluster %q: sasl.mechanism %q: want %s, %s or %s",
				c.Name, s.Mechanism, MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)
		}
		if s.Username == "" {
			return fmt.Errorf("cluster %q: sasl.username is required", c.Name)
		}
	}
	if t := c.TLS; t != nil && t.Enabled {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return fmt.Errorf("cluster %q: tls: cert_file and key_file go together", c.Name)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("cluster %q: timeout must not be negative", c.Name)
	}
	return nil
}

// tlsConfig builds the client TLS configuration, or nil for plaintext.
func (c *Config) tlsConfig() (*tls.Config, error) {
	t := c.TLS
	if t == nil || !t.Enabled {
		return nil, nil
	}
	cfg, err := tlsconfig.Client(tlsconfig.Options{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return cfg, nil
}

// mechanism returns the SASL mechanism, or nil without SASL.
func (c *Config) mechanism() (sasl.Mechanism, error) {
	s := c.SASL
	if s == nil {
		return nil, nil
	}
	switch s.Mechanism {
	case MechanismPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case MechanismScramSHA256:
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case MechanismScramSHA512:
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
	return nil, errors.New("unknown sasl mechanism " + strconv.Quote(s.Mechanism))
}
