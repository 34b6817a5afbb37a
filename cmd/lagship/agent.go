package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/pipeline"
	kafkasrc "github.com/lagship/lagship/sources/kafka"
	"github.com/lagship/lagship/sources/mm2"
	sshsrc "github.com/lagship/lagship/sources/ssh"
)

// sources owns every connection the agent keeps (Kafka clusters, the SSH
// pool, MirrorMaker 2 offsets readers) and the pipeline.Source of every
// mirror. Across config reloads it keeps what did not change, so unchanged
// mirrors keep their connections and their workers.
type sources struct {
	log zerolog.Logger
	bg  context.Context // lifetime of background readers

	mu       sync.Mutex
	clusters map[string]*clusterRes // by cluster fingerprint
	readers  map[string]*readerRes  // by offsets cluster fingerprint + topic
	mirrors  map[string]*mirrorRes  // by mirror fingerprint
	pending  []func()               // watch registrations to drop at release
	pool     *sshsrc.Pool
	wg       sync.WaitGroup
}

type clusterRes struct {
	c      *kafkasrc.Cluster
	client *kafkago.Client // for MirrorMaker 2 readers; nil until needed
	name   string
	used   bool
}

type readerRes struct {
	r      *mm2.Reader
	cancel context.CancelFunc
	used   bool
}

type mirrorRes struct {
	src     pipeline.Source
	watch   func(topics []string) func() // registers topics for the shared fetch
	topics  string                       // topics currently watched, joined
	unwatch func()
	close   func()      // releases the source (ssh: its pooled connection)
	reader  *mm2.Reader // mm2 only
	re      *regexp.Regexp
	used    bool
}

// rewatch registers topics for the shared per-tick fetch, replacing the
// previous registration, so a topic list change does not restart the
// mirror's other topics. The previous registration is returned, to be
// dropped once the workers of removed topics have stopped.
func (r *mirrorRes) rewatch(topics []string) (old func()) {
	if r.watch == nil {
		return nil
	}
	key := strings.Join(topics, ",")
	if r.unwatch != nil && key == r.topics {
		return nil
	}
	old = r.unwatch
	r.unwatch = r.watch(topics)
	r.topics = key
	return old
}

func newSources(bg context.Context, log zerolog.Logger) *sources {
	return &sources{
		log:      log,
		bg:       bg,
		clusters: map[string]*clusterRes{},
		readers:  map[string]*readerRes{},
		mirrors:  map[string]*mirrorRes{},
		pool:     sshsrc.NewPool(log.With().Str("component", "ssh").Logger()),
	}
}

// kafkaConfig maps a cluster of the file onto the native source's config.
func kafkaConfig(c *config.Cluster) kafkasrc.Config {
	kc := kafkasrc.Config{Name: c.Name, Brokers: c.Brokers, ClientID: c.ClientID, Timeout: time.Duration(c.Timeout)}
	if c.SASL != nil {
		kc.SASL = &kafkasrc.SASL{Mechanism: c.SASL.Mechanism, Username: c.SASL.Username, Password: c.SASL.Password.Reveal()}
	}
	if c.TLS != nil {
		kc.TLS = &kafkasrc.TLS{Enabled: c.TLS.Enabled, CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, InsecureSkipVerify: c.TLS.InsecureSkipVerify}
	}
	return kc
}

// sshConfig maps an ssh mirror of the file onto the SSH source's config.
func sshConfig(m *config.Mirror) sshsrc.MirrorConfig {
	return sshsrc.MirrorConfig{
		Host:            hostConfig(m.SSH),
		Group:           m.Group,
		KafkaHome:       m.KafkaHome,
		BootstrapServer: m.BootstrapServer,
		CommandConfig:   m.CommandConfig,
	}
}

func hostConfig(s *config.SSH) sshsrc.HostConfig {
	if s == nil {
		return sshsrc.HostConfig{}
	}
	h := sshsrc.HostConfig{
		Host: s.Host, Port: s.Port, User: s.User, KeyFile: s.KeyFile, PassphraseFile: s.PassphraseFile,
		KnownHosts: s.KnownHosts, InsecureIgnoreHostKey: s.InsecureIgnoreHostKey, Timeout: time.Duration(s.Timeout),
	}
	if s.JumpHost.SSH != nil {
		j := hostConfig(s.JumpHost.SSH)
		h.JumpHost = &j
	}
	return h
}

// fingerprint hashes configuration values, following pointers and with
// secrets in clear (so a changed password reconnects); the hash is compared,
// never printed.
func fingerprint(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		b, err := json.Marshal(reveal(p))
		if err != nil {
			panic("lagship: fingerprinting config: " + err.Error())
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// reveal maps config values that hold secrets onto plain structs, whose JSON
// carries the secret itself rather than "[redacted]".
func reveal(v any) any {
	if c, ok := v.(*config.Cluster); ok && c != nil {
		return kafkaConfig(c)
	}
	return v
}

// cluster returns the shared native client of a cluster of the file.
func (s *sources) cluster(c *config.Cluster) (*clusterRes, error) {
	fp := fingerprint(c)
	if r, ok := s.clusters[fp]; ok {
		r.used = true
		return r, nil
	}
	if c.TLS != nil && c.TLS.InsecureSkipVerify {
		s.log.Warn().Str("cluster", c.Name).Msg("tls.insecure_skip_verify is set: the brokers' TLS certificates are not verified")
	}
	kc, err := kafkasrc.NewCluster(kafkaConfig(c), s.log)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", c.Name, err)
	}
	r := &clusterRes{c: kc, name: c.Name, used: true}
	s.clusters[fp] = r
	return r, nil
}

// reader returns the shared, running offsets reader of one offsets topic.
func (s *sources) reader(c *config.Cluster, topic string) (*mm2.Reader, error) {
	cr, err := s.cluster(c)
	if err != nil {
		return nil, err
	}
	key := fingerprint(c) + "/" + topic
	if r, ok := s.readers[key]; ok {
		r.used = true
		return r.r, nil
	}
	if cr.client == nil {
		cl, err := kafkasrc.NewClient(kafkaConfig(c))
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", c.Name, err)
		}
		cr.client = cl
	}
	rd := mm2.NewReader(cr.client, topic, s.log.With().Str("cluster", c.Name).Logger())
	ctx, cancel := context.WithCancel(s.bg)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := rd.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error().Err(err).Str("offsets_topic", topic).Msg("offsets reader stopped")
		}
	}()
	s.readers[key] = &readerRes{r: rd, cancel: cancel, used: true}
	return rd, nil
}

// plan builds the tasks of cfg, reusing every source whose configuration did
// not change and releasing the ones no longer used.
func (s *sources) plan(cfg *config.Config) ([]pipeline.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.clusters {
		r.used = false
	}
	for _, r := range s.readers {
		r.used = false
	}
	for _, r := range s.mirrors {
		r.used = false
	}
	var tasks []pipeline.Task
	for i := range cfg.Mirrors {
		m := &cfg.Mirrors[i]
		mr, err := s.mirror(cfg, m)
		if err != nil {
			return nil, err
		}
		every := cfg.EffectiveInterval(m)
		topics := m.Topics
		if mr.re != nil {
			topics = mr.reader.Topics(m.Alias(), mr.re)
		}
		if old := mr.rewatch(topics); old != nil {
			s.pending = append(s.pending, old)
		}
		for _, t := range topics {
			target := pipeline.Target{Mirror: m.Name, Topic: t, Group: m.Group, Cluster: m.Cluster, Method: m.Method}
			if m.Method == config.MethodMM2 {
				target.Cluster = m.SourceCluster
				target.Group = mm2.GroupName("", m.Alias())
			}
			if m.Method == config.MethodSSH {
				target.Cluster = m.SSH.Host
			}
			tasks = append(tasks, pipeline.Task{Target: target, Interval: every, Source: mr.src})
		}
	}
	return tasks, nil
}

// release drops what the last plan no longer uses: call it after the
// workers of the previous plan were stopped, so none of them collects from
// a closed client.
func (s *sources) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseUnused()
}

func (s *sources) mirror(cfg *config.Config, m *config.Mirror) (r *mirrorRes, err error) {
	// The topic list and the interval are not part of a mirror's identity:
	// changing them keeps its source (and its other topics' workers).
	ident := *m
	ident.Topics, ident.Interval = nil, 0
	var deps []any
	deps = append(deps, &ident)
	for _, name := range []string{m.Cluster, m.SourceCluster, m.OffsetsCluster} {
		if name != "" {
			deps = append(deps, cfg.ClusterByName(name))
		}
	}
	fp := fingerprint(deps...)
	if r, ok := s.mirrors[fp]; ok {
		r.used = true
		// keep the resources it depends on
		for _, name := range []string{m.Cluster, m.SourceCluster, m.OffsetsCluster} {
			if name != "" {
				_, _ = s.cluster(cfg.ClusterByName(name))
			}
		}
		if m.Method == config.MethodMM2 {
			_, _ = s.reader(cfg.ClusterByName(m.OffsetsCluster), m.OffsetsTopicName())
		}
		return r, nil
	}
	log := s.log.With().Str("mirror", m.Name).Logger()
	r = &mirrorRes{used: true}
	switch m.Method {
	case config.MethodNative:
		cr, err := s.cluster(cfg.ClusterByName(m.Cluster))
		if err != nil {
			return nil, err
		}
		group := m.Group
		r.watch = func(topics []string) func() { return cr.c.WatchGroup(group, topics...) }
		r.src = cr.c.Source(m.Group)
	case config.MethodSSH:
		if every := cfg.EffectiveInterval(m); every < config.DefaultSSHInterval {
			log.Warn().Dur("interval", every).Msg("each tick of an ssh mirror starts a JVM (kafka-consumer-groups.sh) on the MirrorMaker host; an interval below 10s costs it noticeable CPU")
		}
		src, err := sshsrc.NewSource(s.pool, sshConfig(m), log)
		if err != nil {
			return nil, fmt.Errorf("mirror %q: %w", m.Name, err)
		}
		r.src = src
		r.close = src.Close
	case config.MethodMM2:
		srcCluster, err := s.cluster(cfg.ClusterByName(m.SourceCluster))
		if err != nil {
			return nil, err
		}
		rd, err := s.reader(cfg.ClusterByName(m.OffsetsCluster), m.OffsetsTopicName())
		if err != nil {
			return nil, err
		}
		r.reader = rd
		if m.TopicsRegex != "" {
			r.re = regexp.MustCompile(m.TopicsRegex) // validated by config
		}
		r.watch = func(topics []string) func() { return srcCluster.c.Watch(topics...) }
		var opts []mm2.Option
		if m.Connector != "" {
			opts = append(opts, mm2.WithConnector(m.Connector))
		}
		r.src = mm2.NewSource(rd, srcCluster.c, m.Alias(), log, opts...)
	default:
		return nil, fmt.Errorf("mirror %q: method %q", m.Name, m.Method)
	}
	s.mirrors[fp] = r
	return r, nil
}

func (s *sources) releaseUnused() {
	for _, f := range s.pending {
		f()
	}
	s.pending = nil
	for k, r := range s.mirrors {
		if !r.used {
			if r.unwatch != nil {
				r.unwatch()
			}
			if r.close != nil {
				r.close()
			}
			delete(s.mirrors, k)
		}
	}
	for k, r := range s.readers {
		if !r.used {
			r.cancel()
			delete(s.readers, k)
		}
	}
	for k, r := range s.clusters {
		if !r.used {
			r.c.Close()
			if r.client != nil {
				if tr, ok := r.client.Transport.(*kafkago.Transport); ok {
					tr.CloseIdleConnections()
				}
			}
			delete(s.clusters, k)
		}
	}
}

// readersList returns the running offsets readers.
func (s *sources) readersList() []*mm2.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*mm2.Reader
	for _, r := range s.readers {
		out = append(out, r.r)
	}
	return out
}

// Close stops readers and closes every connection.
func (s *sources) Close() {
	s.mu.Lock()
	for _, r := range s.mirrors {
		r.used = false
	}
	for _, r := range s.readers {
		r.used = false
	}
	for _, r := range s.clusters {
		r.used = false
	}
	s.releaseUnused()
	s.mu.Unlock()
	s.wg.Wait()
	_ = s.pool.Close()
}

// sameTask: a task is unchanged when it collects the same target on the same
// interval from the same source object.
func sameTask(a, b pipeline.Task) bool {
	return a.Target == b.Target && a.Interval == b.Interval && a.Source == b.Source
}
