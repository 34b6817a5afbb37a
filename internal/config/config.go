// Package config loads and validates lagship.yaml.
//
// Loading is strict: unknown keys, wrong types, missing required fields,
// unknown cluster references, duplicate mirrors or topics, invalid names and
// undefined ${VAR} references are all errors, each naming file:line and the
// field. Every error found is reported at once, so an operator fixes the file
// in one pass. The agent never starts half-configured.
package config

import (
	"time"
)

// Defaults.
const (
	DefaultInterval      = 10 * time.Second
	MinInterval          = time.Second
	DefaultIndex         = "consumer_lag"
	DefaultFlushInterval = time.Second
	DefaultSSHPort       = 22
	DefaultSSHTimeout    = 30 * time.Second
	DefaultSSHInterval   = 10 * time.Second
	DefaultKafkaTimeout  = 10 * time.Second
	DefaultSpoolDir      = "/var/lib/lagship/spool"
	DefaultSpoolMaxBytes = 1 << 30
	DefaultESTimeout     = 30 * time.Second
)

// Methods a mirror can use.
const (
	MethodNative = "native"
	MethodSSH    = "ssh"
	MethodMM2    = "mm2"
)

// Config is the whole file.
type Config struct {
	// Interval is the default collection tick of every mirror.
	Interval      Duration      `yaml:"interval"`
	Elasticsearch Elasticsearch `yaml:"elasticsearch"`
	Kibana        Kibana        `yaml:"kibana"`
	Clusters      []Cluster     `yaml:"clusters"`
	Mirrors       []Mirror      `yaml:"mirrors"`

	// File is the path the config was read from.
	File string `yaml:"-"`
}

// Elasticsearch is where documents go.
type Elasticsearch struct {
	Addresses          []string `yaml:"addresses"`
	Username           string   `yaml:"username"`
	Password           Secret   `yaml:"password"`
	APIKey             Secret   `yaml:"api_key"`
	CAFile             string   `yaml:"ca_file"`
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	Index              string   `yaml:"index"`
	MappingFile        string   `yaml:"mapping_file"`
	FlushInterval      Duration `yaml:"flush_interval"`
	FlushBytes         ByteSize `yaml:"flush_bytes"`
	Compress           *bool    `yaml:"compress"`
	SpoolDir           string   `yaml:"spool_dir"`
	SpoolMaxBytes      ByteSize `yaml:"spool_max_bytes"`
	// Timeout bounds every request to Elasticsearch (default 30s).
	Timeout Duration `yaml:"timeout"`
}

// Kibana is where the saved objects go (lagship kibana import).
type Kibana struct {
	URL                string `yaml:"url"`
	Username           string `yaml:"username"`
	Password           Secret `yaml:"password"`
	APIKey             Secret `yaml:"api_key"`
	Space              string `yaml:"space"`
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	ImportOnStart      bool   `yaml:"import_on_start"`
}

// Cluster is a Kafka cluster lagship talks to natively.
type Cluster struct {
	Name     string   `yaml:"name"`
	Brokers  []string `yaml:"brokers"`
	SASL     *SASL    `yaml:"sasl"`
	TLS      *TLS     `yaml:"tls"`
	ClientID string   `yaml:"client_id"`
	Timeout  Duration `yaml:"timeout"`
}

// SASL authenticates to a cluster.
type SASL struct {
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
}

// TLS secures a connection to a cluster.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Mirror is one MirrorMaker deployment and the topics it mirrors.
type Mirror struct {
	Name     string   `yaml:"name"`
	Method   string   `yaml:"method"`
	Interval Duration `yaml:"interval"`
	Topics   []string `yaml:"topics"`

	// native and ssh
	Group string `yaml:"group"`
	// native
	Cluster string `yaml:"cluster"`

	// ssh
	SSH             *SSH   `yaml:"ssh"`
	KafkaHome       string `yaml:"kafka_home"`
	BootstrapServer string `yaml:"bootstrap_server"`
	CommandConfig   string `yaml:"command_config"`

	// mm2
	SourceCluster  string `yaml:"source_cluster"`
	OffsetsCluster string `yaml:"offsets_cluster"`
	SourceAlias    string `yaml:"source_alias"`
	OffsetsTopic   string `yaml:"offsets_topic"`
	TopicsRegex    string `yaml:"topics_regex"`
	// Connector picks one MirrorSourceConnector when several replicate the
	// same source alias into one offsets topic (several flows in one
	// Connect cluster).
	Connector string `yaml:"connector"`
}

// SSH reaches a MirrorMaker host.
type SSH struct {
	Host                  string   `yaml:"host"`
	Port                  int      `yaml:"port"`
	User                  string   `yaml:"user"`
	KeyFile               string   `yaml:"key_file"`
	PassphraseFile        string   `yaml:"passphrase_file"`
	KnownHosts            string   `yaml:"known_hosts"`
	InsecureIgnoreHostKey bool     `yaml:"insecure_ignore_host_key"`
	Timeout               Duration `yaml:"timeout"`
	JumpHost              JumpHost `yaml:"jump_host"`
}

// JumpHost is an optional bastion: empty ("" or absent) or an SSH mapping.
type JumpHost struct {
	*SSH
}

// EffectiveInterval is the mirror's interval, or else the file's default —
// except for ssh mirrors, which default to DefaultSSHInterval: each of their
// ticks starts a JVM on the MirrorMaker host.
func (c *Config) EffectiveInterval(m *Mirror) time.Duration {
	if m.Interval > 0 {
		return time.Duration(m.Interval)
	}
	if m.Method == MethodSSH {
		return max(time.Duration(c.Interval), DefaultSSHInterval)
	}
	return time.Duration(c.Interval)
}

// ClusterByName returns the named cluster or nil.
func (c *Config) ClusterByName(name string) *Cluster {
	for i := range c.Clusters {
		if c.Clusters[i].Name == name {
			return &c.Clusters[i]
		}
	}
	return nil
}

// OffsetsTopicName is the MirrorMaker 2 offsets topic of a mirror.
func (m *Mirror) OffsetsTopicName() string {
	if m.OffsetsTopic != "" {
		return m.OffsetsTopic
	}
	return "mm2-offsets." + m.Alias() + ".internal"
}

// Alias is the MirrorMaker 2 source alias of a mirror.
func (m *Mirror) Alias() string {
	if m.SourceAlias != "" {
		return m.SourceAlias
	}
	return m.SourceCluster
}
