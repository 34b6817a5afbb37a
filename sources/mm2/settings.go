package mm2

import (
	"context"
	"regexp"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/sources"
	kafkasrc "github.com/lagship/lagship/sources/kafka"
)

// MethodName is the name of the MirrorMaker 2 method in the config.
const MethodName = "mm2"

// Method reads MirrorMaker 2's offsets topic and the source cluster's log
// ends.
var Method = sources.Method{Name: MethodName, New: func() sources.Settings { return &Settings{} }}

// Settings is an mm2 mirror's part of the file.
type Settings struct {
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

// Alias is the MirrorMaker 2 source alias of the mirror.
func (s *Settings) Alias() string {
	if s.SourceAlias != "" {
		return s.SourceAlias
	}
	return s.SourceCluster
}

// OffsetsTopicName is the offsets topic the mirror reads.
func (s *Settings) OffsetsTopicName() string {
	if s.OffsetsTopic != "" {
		return s.OffsetsTopic
	}
	return "mm2-offsets." + s.Alias() + ".internal"
}

// ListsTopics: with topics_regex the offsets topic lists the mirror's topics.
func (s *Settings) ListsTopics() bool { return s.TopicsRegex != "" }

// Validate checks the mirror's mm2 keys.
func (s *Settings) Validate(r configkit.Reporter, spec sources.Spec) {
	kafkasrc.CheckReference(r, MethodName, "source_cluster", s.SourceCluster)
	kafkasrc.CheckReference(r, MethodName, "offsets_cluster", s.OffsetsCluster)
	if s.SourceAlias != "" && !configkit.NameRE.MatchString(s.SourceAlias) {
		r.Errorf([]any{"source_alias"}, "%q may contain only letters, digits, '.', '_' and '-'", s.SourceAlias)
	}
	if s.OffsetsTopic != "" {
		if why := configkit.ValidTopic(s.OffsetsTopic); why != "" {
			r.Errorf([]any{"offsets_topic"}, "topic name %q %s", s.OffsetsTopic, why)
		}
	}
	if s.TopicsRegex != "" {
		if len(spec.Topics) > 0 {
			r.Errorf([]any{"topics_regex"}, "use topics or topics_regex, not both")
		}
		if _, err := regexp.Compile(s.TopicsRegex); err != nil {
			r.Errorf([]any{"topics_regex"}, "invalid regular expression: %v", err)
		}
	} else if len(spec.Topics) == 0 {
		r.Errorf(nil, "topics or topics_regex is required")
	}
}

// reader is the one running reader of the mirror's offsets topic.
func (s *Settings) reader(env *sources.Env) (*Reader, error) {
	client, err := kafkasrc.SharedClient(env, s.OffsetsCluster)
	if err != nil {
		return nil, err
	}
	cs, err := kafkasrc.ClusterNamed(env, s.OffsetsCluster)
	if err != nil {
		return nil, err
	}
	topic := s.OffsetsTopicName()
	return sources.Shared(env, "mm2-reader/"+configkit.Fingerprint(cs.Config(), topic), func() (*Reader, error) {
		r := NewReader(client, topic, env.Log.With().Str("cluster", s.OffsetsCluster).Logger())
		r.gated = true // read while a mirror run here needs it (Watch, topics_regex)
		return r, nil
	})
}

// Build returns the mirror: the shared offsets reader and the source
// cluster's log ends.
func (s *Settings) Build(env *sources.Env, spec sources.Spec) (*sources.Mirror, error) {
	src, err := kafkasrc.SharedCluster(env, s.SourceCluster)
	if err != nil {
		return nil, err
	}
	rd, err := s.reader(env)
	if err != nil {
		return nil, err
	}
	cs, _ := kafkasrc.ClusterNamed(env, s.SourceCluster)
	key := "mm2/" + configkit.Fingerprint(cs.Config(), rd.Topic(), spec.Name, *s)
	return sources.Shared(env, key, func() (*sources.Mirror, error) {
		var opts []Option
		if s.Connector != "" {
			opts = append(opts, WithConnector(s.Connector))
		}
		alias := s.Alias()
		m := &sources.Mirror{
			Source:  NewSource(rd, src, alias, env.Log.With().Str("mirror", spec.Name).Logger(), opts...),
			Group:   GroupName("", alias),
			Cluster: s.SourceCluster,
			// The offsets topic is read while some topic of the mirror is
			// collected here: in an agent group, by its owner only.
			Watch: func(topics []string) func() {
				unwatch, release := src.Watch(topics...), rd.Use()
				return func() { unwatch(); release() }
			},
			Ready: rd.WaitReady,
		}
		if s.TopicsRegex != "" {
			// Every agent lists the mirror's topics from the offsets
			// topic, so every agent reads it while the mirror exists.
			re := regexp.MustCompile(s.TopicsRegex) // validated
			m.Topics = func() []string { return rd.Topics(alias, re) }
			m.Release = rd.Use()
		}
		return m, nil
	})
}

// Probe checks the source cluster, the offsets topic and the alias's
// offsets in it.
func (s *Settings) Probe(ctx context.Context, env *sources.Env, spec sources.Spec) []health.Check {
	var checks []health.Check
	src, err := kafkasrc.SharedCluster(env, s.SourceCluster)
	if err != nil {
		return []health.Check{{Name: "source cluster " + s.SourceCluster, Detail: err.Error()}}
	}
	for _, pc := range src.Probe(ctx, "", spec.Topics) {
		pc.Name = "source " + pc.Name
		checks = append(checks, pc)
	}
	client, err := kafkasrc.SharedClient(env, s.OffsetsCluster)
	if err != nil {
		return append(checks, health.Check{Name: "offsets cluster " + s.OffsetsCluster, Detail: err.Error()})
	}
	return append(checks, Probe(ctx, client, s.OffsetsTopicName(), s.Alias(), spec.Topics, env.Log)...)
}
