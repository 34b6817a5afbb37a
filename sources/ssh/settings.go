package ssh

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/sources"
)

// MethodName is the name of the SSH method in the config.
const MethodName = "ssh"

// DefaultInterval is an ssh mirror's interval when neither the mirror nor
// the file sets a longer one: each tick starts a JVM on the host.
const DefaultInterval = 10 * time.Second

// Method runs kafka-consumer-groups.sh on the MirrorMaker host over SSH.
var Method = sources.Method{Name: MethodName, New: func() sources.Settings { return &Settings{} }}

// Settings is an ssh mirror's part of the file.
type Settings struct {
	Group           string        `yaml:"group"`
	SSH             *HostSettings `yaml:"ssh"`
	KafkaHome       string        `yaml:"kafka_home"`
	BootstrapServer string        `yaml:"bootstrap_server"`
	CommandConfig   string        `yaml:"command_config"`
}

// HostSettings is how the file describes an SSH host.
type HostSettings struct {
	Host                  string             `yaml:"host"`
	Port                  int                `yaml:"port"`
	User                  string             `yaml:"user"`
	KeyFile               string             `yaml:"key_file"`
	PassphraseFile        string             `yaml:"passphrase_file"`
	KnownHosts            string             `yaml:"known_hosts"`
	InsecureIgnoreHostKey bool               `yaml:"insecure_ignore_host_key"`
	Timeout               configkit.Duration `yaml:"timeout"`
	JumpHost              JumpHost           `yaml:"jump_host"`
}

// JumpHost is an optional bastion: empty ("" or absent) or a host mapping.
type JumpHost struct {
	*HostSettings
}

// UnmarshalYAML accepts "" / null (no jump host) or a host mapping.
func (j *JumpHost) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && (n.Value == "" || n.Tag == "!!null") {
		j.HostSettings = nil
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: jump_host must be empty or a mapping with host, user, key_file, known_hosts", n.Line)}}
	}
	var s HostSettings
	if err := n.Decode(&s); err != nil {
		return err
	}
	j.HostSettings = &s
	return nil
}

// SetDefaults fills the port and timeout of the host and its jump host.
func (s *Settings) SetDefaults() {
	for h := s.SSH; h != nil; h = h.JumpHost.HostSettings {
		if h.Port == 0 {
			h.Port = DefaultPort
		}
		if h.Timeout == 0 {
			h.Timeout = configkit.Duration(DefaultTimeout)
		}
	}
}

// DefaultInterval: at least DefaultInterval unless the mirror sets one.
func (s *Settings) DefaultInterval(fileDefault time.Duration) time.Duration {
	return max(fileDefault, DefaultInterval)
}

// Config is the runtime host configuration.
func (h *HostSettings) Config() HostConfig {
	if h == nil {
		return HostConfig{}
	}
	c := HostConfig{
		Host: h.Host, Port: h.Port, User: h.User, KeyFile: h.KeyFile, PassphraseFile: h.PassphraseFile,
		KnownHosts: h.KnownHosts, InsecureIgnoreHostKey: h.InsecureIgnoreHostKey, Timeout: time.Duration(h.Timeout),
	}
	if h.JumpHost.HostSettings != nil {
		j := h.JumpHost.Config()
		c.JumpHost = &j
	}
	return c
}

// Config is the runtime mirror configuration.
func (s *Settings) Config() MirrorConfig {
	return MirrorConfig{
		Host:            s.SSH.Config(),
		Group:           s.Group,
		KafkaHome:       s.KafkaHome,
		BootstrapServer: s.BootstrapServer,
		CommandConfig:   s.CommandConfig,
	}
}

// Validate reports the rules of MirrorConfig.Problems at the file's lines:
// one rule set for the file and for the runtime configuration.
func (s *Settings) Validate(r configkit.Reporter, _ sources.Spec) {
	if s.SSH == nil {
		r.Errorf(nil, "ssh (host, user, key_file, known_hosts) is required for method ssh")
	}
	for _, p := range s.Config().Problems() {
		if s.SSH == nil && strings.HasPrefix(p.Field, "ssh.") {
			continue // said once above
		}
		path := fieldPath(p.Field)
		key := path[len(path)-1].(string)
		if p.Missing {
			r.Errorf(path[:len(path)-1], "%s is %s", key, p.Msg)
			continue
		}
		r.Errorf(path, "%s", p.Msg)
	}
}

func fieldPath(f string) []any {
	parts := strings.Split(f, ".")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// pool is the shared pool of SSH connections: one per host for every
// mirror of the agent.
func pool(env *sources.Env) (*Pool, error) {
	return sources.Shared(env, "ssh/pool", func() (*Pool, error) {
		return NewPool(env.Log.With().Str("component", "ssh").Logger()), nil
	})
}

// Build returns the mirror: one command per group per tick on the host's
// pooled connection.
func (s *Settings) Build(env *sources.Env, spec sources.Spec) (*sources.Mirror, error) {
	p, err := pool(env)
	if err != nil {
		return nil, err
	}
	cfg := s.Config()
	return sources.Shared(env, "ssh/"+configkit.Fingerprint(cfg, spec.Name), func() (*sources.Mirror, error) {
		log := env.Log.With().Str("mirror", spec.Name).Logger()
		if spec.Interval < DefaultInterval {
			log.Warn().Dur("interval", spec.Interval).Msg("each tick of an ssh mirror starts a JVM (kafka-consumer-groups.sh) on the MirrorMaker host; an interval below 10s costs it noticeable CPU")
		}
		src, err := NewSource(p, cfg, log)
		if err != nil {
			return nil, sources.Errorf(spec, "%v", err)
		}
		return &sources.Mirror{Source: src, Group: cfg.Group, Cluster: cfg.Host.Host, Release: src.Close}, nil
	})
}

// Probe connects to the host, verifies its key and runs the command once.
func (s *Settings) Probe(ctx context.Context, env *sources.Env, _ sources.Spec) []health.Check {
	return Probe(ctx, s.Config(), env.Log)
}
