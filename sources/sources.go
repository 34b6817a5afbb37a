// Package sources is the seam between the configuration and the collection
// methods. Each method (native, ssh, mm2, and any later one) is a package
// that owns its part of a mirror's YAML (a Settings type decoded from the
// mirror's mapping), its validation, the construction of its
// pipeline.Source, the identity its documents carry, its probes for
// `lagship check`, and the release of what it holds. internal/config
// decodes every mirror through a Registry; cmd/lagship loops over the
// mirrors and knows no method's internals.
//
// Methods share connections through an Env: Shared returns the resource
// under a key (a cluster client, an SSH pool, an offsets reader), building
// it once. Across config reloads, Begin marks every resource unused, the
// new plan marks what it still uses, and Release closes the rest, so an
// unchanged mirror keeps its connections and its workers.
package sources

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
)

// Spec is what every mirror has, whatever its method.
type Spec struct {
	Name     string
	Method   string
	Interval time.Duration // effective interval
	Topics   []string
}

// Settings is one method's part of a mirror: a pointer to a struct with
// yaml tags for the keys the method reads on the mirror's mapping.
type Settings interface {
	// Validate reports problems through r, whose paths are relative to
	// the mirror's mapping. It may normalise values (upper-case a SASL
	// mechanism) but reads no file and opens no connection.
	Validate(r configkit.Reporter, spec Spec)
	// Build returns the running mirror, reusing what env already holds
	// for the same settings.
	Build(env *Env, spec Spec) (*Mirror, error)
	// Probe runs the checks of `lagship check` for this mirror.
	Probe(ctx context.Context, env *Env, spec Spec) []health.Check
}

// Defaulter is implemented by settings that fill defaults after decoding.
type Defaulter interface{ SetDefaults() }

// IntervalDefaulter is implemented by methods whose default interval is not
// the file's (ssh: each tick starts a JVM on the host).
type IntervalDefaulter interface {
	DefaultInterval(fileDefault time.Duration) time.Duration
}

// TopicsOptional is implemented by settings that can list a mirror's topics
// themselves (mm2's topics_regex), so `topics` may be absent.
type TopicsOptional interface{ ListsTopics() bool }

// Method is one way of collecting lag, registered under its name.
type Method struct {
	Name string
	// New returns empty settings to decode a mirror's mapping into.
	New func() Settings
}

// Registry is the set of methods a config may name.
type Registry []Method

// Lookup returns the named method.
func (r Registry) Lookup(name string) (Method, bool) {
	for _, m := range r {
		if m.Name == name {
			return m, true
		}
	}
	return Method{}, false
}

// Names lists the methods, for error messages.
func (r Registry) Names() []string {
	out := make([]string, len(r))
	for i, m := range r {
		out[i] = m.Name
	}
	return out
}

// Mirror is a built mirror: its source and what its documents say.
type Mirror struct {
	Source pipeline.Source
	// Group and Cluster as documents show them.
	Group, Cluster string
	// Topics, when set, lists the mirror's topics now (topics_regex);
	// nil means the spec's list.
	Topics func() []string
	// Watch registers topics that this agent collects (for the shared
	// per-tick fetch, and what else their collection needs running, such
	// as an offsets reader) and returns the function that drops the
	// registration; nil when the method needs none.
	Watch func(topics []string) (unwatch func())
	// Ready waits until the source's numbers mean something (an offsets
	// reader that caught up); nil means ready at once.
	Ready func(ctx context.Context) error
	// Health, when set, reports the mirror's dependencies.
	Health func() []health.Status
	// Release, when set, frees what the mirror holds of its own (the
	// SSH source's claim on its pooled connection).
	Release func()
}

// Close releases the mirror; Env calls it when a plan no longer uses it.
func (m *Mirror) Close() {
	if m.Release != nil {
		m.Release()
	}
}

// Target is the target of one topic of the mirror.
func (m *Mirror) Target(spec Spec, topic string) pipeline.Target {
	return pipeline.Target{Mirror: spec.Name, Topic: topic, Group: m.Group, Cluster: m.Cluster, Method: spec.Method}
}

// Runner is a resource with a background loop (an offsets reader). Env
// runs it from the moment it is first shared until it is released.
type Runner interface {
	Run(ctx context.Context) error
}

// Env holds the resources that mirrors share and keep across reloads, and
// what a method may look up in the rest of the file.
type Env struct {
	Log zerolog.Logger

	mu      sync.Mutex
	defs    map[string]any // "<kind>/<name>" -> settings defined in the file
	res     map[string]*resource
	order   int
	pending []*resource   // runners waiting for Run to start them
	wake    chan struct{} // signalled when pending grows
	wg      sync.WaitGroup
}

type resource struct {
	key    string
	v      any
	used   bool
	seq    int
	cancel context.CancelFunc // set once its Runner started
	done   chan struct{}
}

// NewEnv returns an empty environment.
func NewEnv(log zerolog.Logger) *Env {
	return &Env{Log: log, defs: map[string]any{}, res: map[string]*resource{}, wake: make(chan struct{}, 1)}
}

// Define makes settings of the file available to methods under kind and
// name (the config defines every cluster as "cluster"/<name>).
func (e *Env) Define(kind, name string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.defs[kind+"/"+name] = v
}

// Lookup returns what Define stored.
func (e *Env) Lookup(kind, name string) (any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.defs[kind+"/"+name]
	return v, ok
}

// Shared returns the resource under key, opening it when there is none,
// and marks it used by the current plan. A resource that is an io.Closer
// is closed at release; one that is a Runner runs until then.
func Shared[T any](e *Env, key string, open func() (T, error)) (T, error) {
	e.mu.Lock()
	if r, ok := e.res[key]; ok {
		r.used = true
		e.mu.Unlock()
		return r.v.(T), nil
	}
	e.mu.Unlock()
	v, err := open()
	if err != nil {
		var zero T
		return zero, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.res[key]; ok { // opened meanwhile by another caller
		r.used = true
		closeValue(v)
		return r.v.(T), nil
	}
	e.order++
	r := &resource{key: key, v: v, used: true, seq: e.order}
	e.res[key] = r
	if _, ok := any(v).(Runner); ok {
		r.done = make(chan struct{})
		e.pending = append(e.pending, r)
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
	return v, nil
}

// Begin starts a plan: every resource is unused until the plan uses it.
// Defined settings are cleared too; the config defines them again.
func (e *Env) Begin() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.res {
		r.used = false
	}
	e.defs = map[string]any{}
}

// Release closes what the last plan did not use, newest first (a reader
// before the client it reads with). Call it after the workers of the
// previous plan stopped.
func (e *Env) Release() {
	e.mu.Lock()
	var drop []*resource
	for k, r := range e.res {
		if !r.used {
			drop = append(drop, r)
			delete(e.res, k)
		}
	}
	e.mu.Unlock()
	sort.Slice(drop, func(i, j int) bool { return drop[i].seq > drop[j].seq })
	for _, r := range drop {
		e.stop(r)
		closeValue(r.v)
	}
}

func (e *Env) stop(r *resource) {
	if r.done == nil {
		return
	}
	e.mu.Lock()
	cancel := r.cancel
	e.mu.Unlock()
	if cancel == nil {
		// Not started yet: Run will see it released and skip it.
		return
	}
	cancel()
	<-r.done
}

// Run runs the background loops of shared resources until ctx ends, then
// stops them all and closes every resource.
func (e *Env) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			e.mu.Lock()
			for _, r := range e.res {
				r.used = false
			}
			e.mu.Unlock()
			e.Release()
			e.wg.Wait()
			return nil
		case <-e.wake:
			e.mu.Lock()
			start := e.pending
			e.pending = nil
			for _, r := range start {
				if e.res[r.key] != r {
					close(r.done) // released before it started
					continue
				}
				rctx, cancel := context.WithCancel(ctx)
				r.cancel = cancel
				e.wg.Add(1)
				go func() {
					defer e.wg.Done()
					defer close(r.done)
					if err := r.v.(Runner).Run(rctx); err != nil && rctx.Err() == nil {
						e.Log.Error().Err(err).Str("resource", r.key).Msg("background reader stopped")
					}
				}()
			}
			e.mu.Unlock()
		}
	}
}

// Len is the number of resources held.
func (e *Env) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.res)
}

// Each calls f with every resource held, for health reports.
func (e *Env) Each(f func(key string, v any)) {
	e.mu.Lock()
	vals := make([]*resource, 0, len(e.res))
	for _, r := range e.res {
		vals = append(vals, r)
	}
	e.mu.Unlock()
	sort.Slice(vals, func(i, j int) bool { return vals[i].seq < vals[j].seq })
	for _, r := range vals {
		f(r.key, r.v)
	}
}

func closeValue(v any) {
	switch c := v.(type) {
	case io.Closer:
		_ = c.Close()
	case interface{ Close() }:
		c.Close()
	}
}

// Errorf is fmt.Errorf naming the mirror, for Build errors.
func Errorf(spec Spec, format string, args ...any) error {
	return fmt.Errorf("mirror %q: %s", spec.Name, fmt.Sprintf(format, args...))
}

// Health reports every shared resource that reports its own status; a
// status without a component name is named after the resource's key.
func (e *Env) Health() []health.Status {
	var out []health.Status
	e.Each(func(key string, v any) {
		r, ok := v.(health.Reporter)
		if !ok {
			return
		}
		for _, st := range r.Health() {
			if st.Component == "" {
				st.Component = key
			}
			out = append(out, st)
		}
	})
	return out
}

// Describe sends nothing: the resources an Env holds change with the
// config, so it is an unchecked collector.
func (e *Env) Describe(chan<- *prometheus.Desc) {}

// Collect collects every shared resource that has metrics (cluster
// connections, SSH pools, offsets readers).
func (e *Env) Collect(ch chan<- prometheus.Metric) {
	e.Each(func(_ string, v any) {
		if c, ok := v.(prometheus.Collector); ok {
			c.Collect(ch)
		}
	})
}
