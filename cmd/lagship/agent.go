package main

import (
	"context"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sources"
	kafkasrc "github.com/lagship/lagship/sources/kafka"
)

// planner turns a config into the tasks of every mirror's topics through
// the methods' own Build, over one sources.Env that keeps what did not
// change across reloads: unchanged mirrors keep their connections and
// their workers. It knows no method.
type planner struct {
	env *sources.Env
	log zerolog.Logger

	mu      sync.Mutex
	watches map[*sources.Mirror]*watch
	pending []func() // registrations to drop at release
	mirrors []*sources.Mirror
	byName  map[string]*sources.Mirror // the last build's mirrors

	done chan struct{} // closed when a background Run ended (newSources)
	stop context.CancelFunc
}

// watch is a mirror's registration of topics for the shared fetch.
type watch struct {
	topics  string
	unwatch func()
	used    bool
}

// Describe and Collect serve the shared resources' metrics (Kafka requests,
// SSH commands, offsets records).
func (p *planner) Describe(ch chan<- *prometheus.Desc) { p.env.Describe(ch) }

// Collect implements prometheus.Collector.
func (p *planner) Collect(ch chan<- prometheus.Metric) { p.env.Collect(ch) }

func newPlanner(log zerolog.Logger) *planner {
	return &planner{env: sources.NewEnv(log), log: log, watches: map[*sources.Mirror]*watch{}}
}

// newSources returns a planner whose shared resources run in the
// background until ctx ends or Close is called (once, check, tests; run
// puts Run under its errgroup instead).
func newSources(ctx context.Context, log zerolog.Logger) *planner {
	p := newPlanner(log)
	ctx, p.stop = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		_ = p.Run(ctx)
	}()
	return p
}

// Run runs the background parts of the shared resources (offsets readers)
// until ctx ends, then closes every resource.
func (p *planner) Run(ctx context.Context) error { return p.env.Run(ctx) }

// Health reports the shared resources of the running mirrors (cluster
// connections, SSH hosts, offsets readers).
func (p *planner) Health() []health.Status { return p.env.Health() }

// plan builds the tasks of cfg, reusing every resource whose configuration
// did not change, and registers all their topics for the shared per-tick
// fetch (once, check: an agent that collects everything it plans).
func (p *planner) plan(cfg *config.Config) ([]pipeline.Task, error) {
	tasks, err := p.build(cfg)
	if err != nil {
		return nil, err
	}
	p.watch(tasks)
	return tasks, nil
}

// build builds the tasks of cfg, reusing every resource whose configuration
// did not change, without registering any topic: run registers those of the
// tasks it runs (watch), which in an agent group are its own units' only.
func (p *planner) build(cfg *config.Config) ([]pipeline.Task, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.env.Begin()
	kafkasrc.DefineClusters(p.env, cfg.Clusters)
	var mirrors []*sources.Mirror
	byName := map[string]*sources.Mirror{}
	var tasks []pipeline.Task
	for i := range cfg.Mirrors {
		m := &cfg.Mirrors[i]
		spec := cfg.Spec(m)
		built, err := m.Settings.Build(p.env, spec)
		if err != nil {
			return nil, err
		}
		mirrors = append(mirrors, built)
		byName[spec.Name] = built
		topics := spec.Topics
		if built.Topics != nil {
			topics = built.Topics()
		}
		for _, t := range topics {
			tasks = append(tasks, pipeline.Task{Target: built.Target(spec, t), Interval: spec.Interval, Source: built.Source})
		}
	}
	p.mirrors, p.byName = mirrors, byName
	return tasks, nil
}

// watch registers, for the shared per-tick fetch, the topics of tasks (of
// the last build) and no others: a mirror's registration is replaced when
// its topics changed and left as it is otherwise; a mirror none of whose
// topics is in tasks keeps none. What is replaced or no longer used is
// dropped at release, once the workers of removed topics have stopped.
// Call it before the workers of tasks start, so their first tick is one
// shared request set.
func (p *planner) watch(tasks []pipeline.Task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.watches {
		w.used = false
	}
	topics := map[string][]string{}
	for _, t := range tasks {
		topics[t.Target.Mirror] = append(topics[t.Target.Mirror], t.Target.Topic)
	}
	for name, ts := range topics {
		if m := p.byName[name]; m != nil {
			p.rewatch(m, ts)
		}
	}
}

// watched is every topic registered for the shared fetch now, by mirror
// (tests).
func (p *planner) watched() map[*sources.Mirror]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[*sources.Mirror]string{}
	for m, w := range p.watches {
		out[m] = w.topics
	}
	return out
}

// rewatch registers topics for the shared per-tick fetch, replacing the
// mirror's previous registration, so a topic list change does not restart
// its other topics. The previous registration is dropped at release, once
// the workers of removed topics have stopped.
func (p *planner) rewatch(m *sources.Mirror, topics []string) {
	if m.Watch == nil {
		return
	}
	key := strings.Join(topics, ",")
	w := p.watches[m]
	if w == nil {
		w = &watch{}
		p.watches[m] = w
	}
	w.used = true
	if w.unwatch != nil && w.topics == key {
		return
	}
	if w.unwatch != nil {
		p.pending = append(p.pending, w.unwatch)
	}
	w.unwatch, w.topics = m.Watch(topics), key
}

// release drops what the last plan no longer uses: call it after the
// workers of the previous plan were stopped, so none of them collects from
// a closed client.
func (p *planner) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
}

func (p *planner) releaseLocked() {
	for _, f := range p.pending {
		f()
	}
	p.pending = nil
	for m, w := range p.watches {
		if !w.used {
			w.unwatch()
			delete(p.watches, m)
		}
	}
	p.env.Release()
}

// waitReady waits, within ctx, until every mirror's source can be read
// (MirrorMaker 2 offsets readers caught up); it returns the first error.
func (p *planner) waitReady(ctx context.Context) error {
	p.mu.Lock()
	ms := append([]*sources.Mirror(nil), p.mirrors...)
	p.mu.Unlock()
	var first error
	for _, m := range ms {
		if m.Ready == nil {
			continue
		}
		if err := m.Ready(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close stops the background parts and closes every connection.
func (p *planner) Close() {
	p.mu.Lock()
	for _, w := range p.watches {
		w.used = false
	}
	p.env.Begin()
	p.releaseLocked()
	p.mu.Unlock()
	if p.stop != nil {
		p.stop()
		<-p.done
	}
}

// sameTask: a task is unchanged when it collects the same target on the same
// interval from the same source object.
func sameTask(a, b pipeline.Task) bool {
	return a.Target == b.Target && a.Interval == b.Interval && a.Source == b.Source
}
