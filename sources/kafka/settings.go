package kafka

import (
	"context"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/sources"
)

// ClusterSettings is one entry of the file's clusters: section: a Kafka
// cluster lagship talks to natively (native and mm2 mirrors refer to it by
// name).
type ClusterSettings struct {
	Name     string             `yaml:"name"`
	Brokers  []string           `yaml:"brokers"`
	SASL     *SASLSettings      `yaml:"sasl"`
	TLS      *TLSSettings       `yaml:"tls"`
	ClientID string             `yaml:"client_id"`
	Timeout  configkit.Duration `yaml:"timeout"`
}

// SASLSettings authenticates to a cluster.
type SASLSettings struct {
	Mechanism string           `yaml:"mechanism"`
	Username  string           `yaml:"username"`
	Password  configkit.Secret `yaml:"password"`
}

// TLSSettings secures the connections to a cluster.
type TLSSettings struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SetDefaults fills what the file left out.
func (c *ClusterSettings) SetDefaults() {
	if c.Timeout == 0 {
		c.Timeout = configkit.Duration(DefaultTimeout)
	}
}

// Validate checks one cluster entry; r's paths are relative to it.
func (c *ClusterSettings) Validate(r configkit.Reporter) {
	switch why := configkit.ValidTopic(c.Name); {
	case c.Name == "":
		r.Errorf(nil, "name is required")
	case why != "":
		r.Errorf([]any{"name"}, "cluster name %q %s", c.Name, why)
	}
	if len(c.Brokers) == 0 {
		r.Errorf([]any{"brokers"}, "at least one broker (host:port) is required")
	}
	for j, b := range c.Brokers {
		if why := configkit.HostPort(b); why != "" {
			r.Errorf([]any{"brokers", j}, "broker %q %s", b, why)
		}
	}
	if s := c.SASL; s != nil {
		switch strings.ToUpper(s.Mechanism) {
		case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
			s.Mechanism = strings.ToUpper(s.Mechanism)
		case "":
			r.Errorf([]any{"sasl", "mechanism"}, "is required (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		default:
			r.Errorf([]any{"sasl", "mechanism"}, "%q is not supported (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
		}
		if s.Username == "" {
			r.Errorf([]any{"sasl", "username"}, "is required with sasl")
		}
		if s.Password == "" {
			r.Errorf([]any{"sasl", "password"}, "is required with sasl (use ${VAR} to keep it out of the file)")
		}
	}
	if t := c.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			r.Errorf([]any{"tls"}, "cert_file and key_file go together")
		}
		if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify) {
			r.Errorf([]any{"tls", "enabled"}, "tls settings are given but enabled is false")
		}
	}
	if time.Duration(c.Timeout) < 0 {
		r.Errorf([]any{"timeout"}, "must be positive")
	}
}

// Config is the client configuration of the cluster, secrets in clear.
func (c *ClusterSettings) Config() Config {
	kc := Config{Name: c.Name, Brokers: c.Brokers, ClientID: c.ClientID, Timeout: time.Duration(c.Timeout)}
	if c.SASL != nil {
		kc.SASL = &SASL{Mechanism: c.SASL.Mechanism, Username: c.SASL.Username, Password: c.SASL.Password.Reveal()}
	}
	if c.TLS != nil {
		kc.TLS = &TLS{Enabled: c.TLS.Enabled, CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, InsecureSkipVerify: c.TLS.InsecureSkipVerify}
	}
	return kc
}

// clusterKind is the kind under which the config defines clusters in an
// Env (sources.Env.Define).
const clusterKind = "cluster"

// DefineClusters makes the file's clusters available to the methods.
func DefineClusters(env *sources.Env, clusters []ClusterSettings) {
	for i := range clusters {
		env.Define(clusterKind, clusters[i].Name, &clusters[i])
	}
}

// ClusterNamed returns the settings of the named cluster of the file.
func ClusterNamed(env *sources.Env, name string) (*ClusterSettings, error) {
	v, ok := env.Lookup(clusterKind, name)
	if !ok {
		return nil, fmt.Errorf("cluster %q is not defined", name)
	}
	return v.(*ClusterSettings), nil
}

// SharedCluster is the one Cluster client of the named cluster in env: a
// cluster used by several mirrors is one client with one request set per
// tick. It is reused across reloads while its settings do not change.
func SharedCluster(env *sources.Env, name string) (*Cluster, error) {
	cs, err := ClusterNamed(env, name)
	if err != nil {
		return nil, err
	}
	cfg := cs.Config()
	return sources.Shared(env, "kafka/"+configkit.Fingerprint(cfg), func() (*Cluster, error) {
		if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
			env.Log.Warn().Str("cluster", name).Msg("tls.insecure_skip_verify is set: the brokers' TLS certificates are not verified")
		}
		c, err := NewCluster(cfg, env.Log)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", name, err)
		}
		return c, nil
	})
}

// CheckReference reports a cluster reference of a mirror: key names the
// field (cluster, source_cluster, offsets_cluster).
func CheckReference(r configkit.Reporter, method, key, name string) {
	if name == "" {
		r.Errorf(nil, "%s is required for method %s", key, method)
		return
	}
	defined := r.Names("clusters")
	for _, d := range defined {
		if d == name {
			return
		}
	}
	list := "none"
	if len(defined) > 0 {
		list = strings.Join(defined, ", ")
	}
	r.Errorf([]any{key}, "cluster %q is not defined under clusters (defined: %s)", name, list)
}

// CheckGroup reports a missing or unusable consumer group.
func CheckGroup(r configkit.Reporter, method, group string) {
	if why := configkit.ValidGroup(group); why != "" {
		if group == "" {
			r.Errorf(nil, "group is required for method %s", method)
		} else {
			r.Errorf([]any{"group"}, "group %q %s", group, why)
		}
	}
}

// MethodName is the name of the native method in the config.
const MethodName = "native"

// Method is the native method: kafka-go reads committed offsets and log
// ends from the cluster that holds the group.
var Method = sources.Method{Name: MethodName, New: func() sources.Settings { return &Settings{} }}

// Settings is a native mirror's part of the file.
type Settings struct {
	// Cluster names the cluster (under clusters:) that holds the group.
	Cluster string `yaml:"cluster"`
	// Group is the MirrorMaker consumer group.
	Group string `yaml:"group"`
}

// Validate checks the mirror's native keys.
func (s *Settings) Validate(r configkit.Reporter, _ sources.Spec) {
	CheckReference(r, MethodName, "cluster", s.Cluster)
	CheckGroup(r, MethodName, s.Group)
}

// Build returns the mirror: the group's source on the shared cluster client.
func (s *Settings) Build(env *sources.Env, spec sources.Spec) (*sources.Mirror, error) {
	c, err := SharedCluster(env, s.Cluster)
	if err != nil {
		return nil, err
	}
	group := s.Group
	return sources.Shared(env, "native/"+configkit.Fingerprint(c.cfg, spec.Name, group), func() (*sources.Mirror, error) {
		return &sources.Mirror{
			Source:  c.Source(group),
			Group:   group,
			Cluster: s.Cluster,
			Watch:   func(topics []string) func() { return c.WatchGroup(group, topics...) },
		}, nil
	})
}

// Probe checks the brokers, the topics and the group's offsets.
func (s *Settings) Probe(ctx context.Context, env *sources.Env, spec sources.Spec) []health.Check {
	c, err := SharedCluster(env, s.Cluster)
	if err != nil {
		return []health.Check{{Name: "cluster " + s.Cluster, Detail: err.Error()}}
	}
	return c.Probe(ctx, s.Group, spec.Topics)
}

// sharedClient is a kafka-go client kept in an Env; closing it drops its
// idle connections.
type sharedClient struct{ c *kafkago.Client }

func (s sharedClient) Close() {
	if tr, ok := s.c.Transport.(*kafkago.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// SharedClient is the one kafka-go record-reading client of the named
// cluster in env (for MirrorMaker 2 offsets readers).
func SharedClient(env *sources.Env, name string) (*kafkago.Client, error) {
	cs, err := ClusterNamed(env, name)
	if err != nil {
		return nil, err
	}
	cfg := cs.Config()
	c, err := sources.Shared(env, "kafka-client/"+configkit.Fingerprint(cfg), func() (sharedClient, error) {
		cl, err := NewClient(cfg)
		if err != nil {
			return sharedClient{}, fmt.Errorf("cluster %q: %w", name, err)
		}
		return sharedClient{cl}, nil
	})
	return c.c, err
}
