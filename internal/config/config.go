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

	"github.com/lagship/lagship/internal/coord"
	"github.com/lagship/lagship/internal/httpapi"
	"github.com/lagship/lagship/internal/notify"
	"github.com/lagship/lagship/pipeline/status"
	"github.com/lagship/lagship/sinks/delivery"
	"github.com/lagship/lagship/sinks/elasticsearch"
	"github.com/lagship/lagship/sources"
	"github.com/lagship/lagship/sources/kafka"
	"github.com/lagship/lagship/sources/mm2"
	"github.com/lagship/lagship/sources/ssh"
)

// Defaults.
const (
	DefaultInterval      = 10 * time.Second
	MinInterval          = time.Second
	DefaultIndex         = elasticsearch.DefaultIndex
	DefaultFlushInterval = delivery.DefaultFlushInterval
	DefaultSSHPort       = ssh.DefaultPort
	DefaultSSHTimeout    = ssh.DefaultTimeout
	DefaultSSHInterval   = ssh.DefaultInterval
	DefaultKafkaTimeout  = kafka.DefaultTimeout
	DefaultSpoolDir      = elasticsearch.DefaultSpoolDir
	DefaultSpoolMaxBytes = elasticsearch.DefaultSpoolMaxBytes
	DefaultESTimeout     = elasticsearch.DefaultTimeout
)

// Methods a mirror can use.
const (
	MethodNative = kafka.MethodName
	MethodSSH    = ssh.MethodName
	MethodMM2    = mm2.MethodName
)

// Config is the whole file.
type Config struct {
	// Interval is the default collection tick of every mirror.
	Interval      Duration      `yaml:"interval"`
	Elasticsearch Elasticsearch `yaml:"elasticsearch"`
	Kibana        Kibana        `yaml:"kibana"`
	Clusters      []Cluster     `yaml:"clusters"`
	Mirrors       []Mirror      `yaml:"mirrors"`
	// Status holds the defaults of every mirror's judgement.
	Status status.Settings `yaml:"status"`
	// HTTP is the agent's HTTP server (metrics, status, health, page).
	HTTP httpapi.Settings `yaml:"http"`
	// Notify lists who is told of incidents (webhooks, Alertmanager).
	Notify notify.Settings `yaml:"notify"`
	// Coordination, when set, makes the agent share the mirrors with the
	// other agents of its group.
	Coordination *coord.Settings `yaml:"coordination"`

	// Methods is the registry the mirrors were decoded with.
	Methods sources.Registry `yaml:"-"`

	// File is the path the config was read from.
	File string `yaml:"-"`
}

// Elasticsearch is where documents go; the sink owns its settings.
type Elasticsearch = elasticsearch.Settings

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

// Cluster is a Kafka cluster lagship talks to natively; the native
// source owns its settings.
type Cluster = kafka.ClusterSettings

// Mirror is one MirrorMaker deployment and the topics it mirrors: the keys
// every mirror has, and the settings of its method, decoded from the same
// mapping by the method's own type.
type Mirror struct {
	Name     string   `yaml:"name"`
	Method   string   `yaml:"method"`
	Interval Duration `yaml:"interval"`
	Topics   []string `yaml:"topics"`
	// Status overrides the file's status keys for this mirror.
	Status status.Settings `yaml:"status"`

	// Settings is the method's part of the mirror (kafka.Settings,
	// ssh.Settings, mm2.Settings, ...).
	Settings sources.Settings `yaml:"-"`
}

// Spec is what every method is told of the mirror.
func (c *Config) Spec(m *Mirror) sources.Spec {
	return sources.Spec{Name: m.Name, Method: m.Method, Interval: c.EffectiveInterval(m), Topics: m.Topics}
}

// EffectiveInterval is the mirror's interval, or else the file's default —
// or the method's own default (ssh mirrors default to DefaultSSHInterval:
// each of their ticks starts a JVM on the MirrorMaker host).
func (c *Config) EffectiveInterval(m *Mirror) time.Duration {
	if m.Interval > 0 {
		return time.Duration(m.Interval)
	}
	if d, ok := m.Settings.(sources.IntervalDefaulter); ok {
		return d.DefaultInterval(time.Duration(c.Interval))
	}
	return time.Duration(c.Interval)
}

// StatusRules are the rules the mirror is judged by: the defaults, the
// file's status section, then the mirror's own. A window set nowhere is
// status.DefaultWindow, or 3 intervals for a mirror that ticks slower than
// every 200 s.
func (c *Config) StatusRules(m *Mirror) status.Rules {
	def := status.DefaultRules()
	def.Window = max(def.Window, status.MinTicksPerWindow*c.EffectiveInterval(m))
	return m.Status.Over(c.Status.Over(def))
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
