package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/coord"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/internal/notify"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
	kafkasrc "github.com/lagship/lagship/sources/kafka"
)

// coordination connects run to the agents' group: the planned tasks are
// cut into units, the group's leader assigns them, and run applies only
// the tasks of this agent's units. A nil *coordination is an agent on its
// own: every method then passes the tasks through.
type coordination struct {
	m   *coord.Member
	log zerolog.Logger

	// ev judges the topics this agent collects: it forgets those handed
	// to another agent (so /status and /metrics stop showing them) and
	// knows the partition counts that weigh this agent's units.
	ev *status.Evaluator

	// state is the group's shared state: where the notifiers keep the
	// incidents of this agent's units for their next owner.
	state *groupState

	mu      sync.Mutex
	planned []pipeline.Task // the last full plan
	hash    string
	others  []pipeline.Target // planned, owned by another agent

	unplanned string // the assigned units last said to be missing from the plan
}

// newCoordination returns nil when cfg has no coordination section.
func newCoordination(cfg *config.Config, log zerolog.Logger, abandon <-chan struct{}, ev *status.Evaluator) (*coordination, error) {
	s := cfg.Coordination
	if s == nil {
		return nil, nil
	}
	cs := cfg.ClusterByName(s.Cluster)
	if cs == nil {
		return nil, fmt.Errorf("coordination: cluster %q is not defined", s.Cluster)
	}
	client, err := kafkasrc.NewClient(cs.Config())
	if err != nil {
		return nil, fmt.Errorf("coordination: %w", err)
	}
	host, _ := os.Hostname()
	log = log.With().Str("component", "coordination").Logger()
	// Heartbeats twice per tick of the fastest mirror: the others then
	// notice a dead agent's expiry within half a tick and take its units
	// within session timeout + 2 ticks (noticing, rebalancing, the next
	// aligned tick), and a leaver's within about a tick.
	var heartbeat time.Duration
	for i := range cfg.Mirrors {
		if iv := cfg.EffectiveInterval(&cfg.Mirrors[i]); heartbeat == 0 || iv < heartbeat {
			heartbeat = iv
		}
	}
	heartbeat /= 2
	c := &coordination{log: log, ev: ev, state: &groupState{st: coord.NewState(client, s.Group)}}
	c.m = coord.New(coord.Config{Settings: *s, Client: client, Host: host, Version: version, Log: log, Abandon: abandon, Heartbeat: heartbeat, Measure: c.measure})
	c.configure(cfg)
	return c, nil
}

// configure takes a (re)loaded config: its hash goes to the group with the
// next plan.
func (c *coordination) configure(cfg *config.Config) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hash = configHash(cfg)
	if s := cfg.Coordination; s == nil || *s != c.m.Settings() {
		c.log.Warn().Msg("coordination settings changed; they apply at the next start (the new config hash applies now)")
	}
}

// Run keeps the agent in the group until ctx ends (then leaves it).
func (c *coordination) Run(ctx context.Context) error {
	if c == nil {
		return nil
	}
	return c.m.Run(ctx)
}

// changed fires when this agent's units may have changed (nil: never).
func (c *coordination) changed() <-chan struct{} {
	if c == nil {
		return nil
	}
	return c.m.Changed()
}

// own records the full plan, tells the group its units and returns the
// tasks of the units this agent owns now.
func (c *coordination) own(tasks []pipeline.Task) []pipeline.Task {
	if c == nil {
		return tasks
	}
	c.mu.Lock()
	c.planned = tasks
	hash := c.hash
	c.mu.Unlock()
	units := unitsOf(tasks, c.partitions())
	c.m.SetPlan(hash, units)
	owns := c.m.Owns()
	c.noteUnplanned(owns, units)
	var out []pipeline.Task
	var others []pipeline.Target
	for _, t := range tasks {
		if owns[unitKey(t)] {
			out = append(out, t)
		} else {
			others = append(others, t.Target)
		}
	}
	c.mu.Lock()
	c.others = others
	c.mu.Unlock()
	return out
}

// noteUnplanned warns, once per change, of the units assigned to this agent
// that its plan lacks (configs that differ for a while, during a reload):
// nothing runs for them here until the next assignment.
func (c *coordination) noteUnplanned(owns map[string]bool, units []coord.Unit) {
	planned := make(map[string]bool, len(units))
	for _, u := range units {
		planned[u.Key] = true
	}
	var missing []string
	for k := range owns {
		if !planned[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	key := strings.Join(missing, "\x00")
	c.mu.Lock()
	said := c.unplanned == key
	c.unplanned = key
	c.mu.Unlock()
	if said || len(missing) == 0 {
		return
	}
	shown := missing
	if len(shown) > 10 {
		shown = shown[:10]
	}
	c.log.Warn().Int("units", len(missing)).Strs("first", shown).Msg("units assigned to this agent are not in its plan; none of their topics runs here until the next assignment (said once until they change)")
}

// shared is where the notifiers keep their incidents for the units' next
// owners (nil for an agent on its own).
func (c *coordination) shared() notify.Shared {
	if c == nil {
		return nil
	}
	return c.state
}

// ownTopics tells the notifiers the topics of the units this agent owns
// (tasks, as own returned them) and of those the others own, before the
// workers start, so a gained topic's incidents are loaded before its first
// judgement.
func (c *coordination) ownTopics(nt *notify.Service, tasks []pipeline.Task) {
	if c == nil {
		return
	}
	keys := make([]notify.Key, len(tasks))
	for i, t := range tasks {
		keys[i] = notify.Key{Mirror: t.Target.Mirror, Topic: t.Target.Topic}
	}
	if !c.m.View().Joined {
		// Before the first assignment nobody owns anything yet: the
		// notifiers keep what they restored until this agent knows its
		// units and the others'.
		return
	}
	c.mu.Lock()
	others := make([]notify.Key, len(c.others))
	for i, t := range c.others {
		others[i] = notify.Key{Mirror: t.Mirror, Topic: t.Topic}
	}
	c.mu.Unlock()
	nt.Own(keys, others)
}

// groupState is the group's state topic, created on first use. Creating it
// may fail where it exists already (a user without the right to create
// topics, the topic made by an operator): reads and writes are tried
// anyway, and the creation's error is told only when they fail too. A
// failed creation is tried again after a minute.
type groupState struct {
	st      *coord.State
	mu      sync.Mutex
	ok      bool
	err     error     // the last creation's failure
	retryAt time.Time // when to try creating it again
}

func (g *groupState) ensure(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ok || time.Now().Before(g.retryAt) {
		return g.err
	}
	if err := g.st.Ensure(ctx); err != nil {
		g.err, g.retryAt = err, time.Now().Add(time.Minute)
		return err
	}
	g.ok, g.err = true, nil
	return nil
}

// withCreateErr joins the creation's failure, if any, to a read's or write's.
func withCreateErr(err, created error) error {
	if err != nil && created != nil {
		return fmt.Errorf("%w (creating the state topic failed too: %v)", err, created)
	}
	return err
}

func (g *groupState) Put(ctx context.Context, key string, value []byte) error {
	created := g.ensure(ctx)
	return withCreateErr(g.st.Put(ctx, key, value), created)
}

func (g *groupState) Load(ctx context.Context) (map[string][]byte, error) {
	created := g.ensure(ctx)
	all, err := g.st.Load(ctx)
	return all, withCreateErr(err, created)
}

// leaving hands every planned topic to the others as the agent stops: it
// is leaving the group, so the new owners judge its topics and send their
// messages, with the incidents they take over from the shared state. The
// notifiers here judge nothing from now on (their in-flight tick and what
// is still queued is delivered as usual), so a topic whose firing was
// still settling here when it moved is not told twice.
func (c *coordination) leaving(nt *notify.Service) {
	if c == nil || nt == nil {
		return
	}
	c.mu.Lock()
	all := make([]notify.Key, len(c.planned))
	for i, t := range c.planned {
		all[i] = notify.Key{Mirror: t.Target.Mirror, Topic: t.Target.Topic}
	}
	c.mu.Unlock()
	nt.Own(nil, all)
	c.log.Info().Int("topics", len(all)).Msg("stopping: the topics' new owners judge and notify them from now on")
}

// applied is called once the tasks own returned run (the others' workers
// have stopped): the evaluator forgets the topics other agents collect.
func (c *coordination) applied() {
	if c == nil || c.ev == nil {
		return
	}
	c.mu.Lock()
	others := c.others
	c.mu.Unlock()
	for _, t := range others {
		c.ev.Forget(t.Mirror, t.Topic)
	}
}

// measure weighs units by the partitions this agent collected of their
// topics (1 per topic not collected here; 0 for a unit none of whose
// topics were).
func (c *coordination) measure(units []string) []int {
	parts := c.partitions()
	weight := map[string]int{}
	known := map[string]bool{}
	for _, t := range c.plan() {
		k := unitKey(t)
		n, ok := parts[t.Key()]
		weight[k] += max(n, 1)
		known[k] = known[k] || ok
	}
	out := make([]int, len(units))
	for i, u := range units {
		if known[u] {
			out[i] = weight[u]
		}
	}
	return out
}

// partitions is the partition count of every topic this agent judged
// (mirror/topic), for the weights of its units.
func (c *coordination) partitions() map[string]int {
	out := map[string]int{}
	if c.ev == nil {
		return out
	}
	for _, ts := range c.ev.Latest() {
		out[ts.Target.Mirror+"/"+ts.Target.Topic] = len(ts.Partitions)
	}
	return out
}

// plan is the last full plan.
func (c *coordination) plan() []pipeline.Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.planned
}

// collectors are the group's metrics, whose view /status also shows
// (none for an agent on its own).
func (c *coordination) collectors() []prometheus.Collector {
	if c == nil {
		return nil
	}
	return []prometheus.Collector{groupView{c.m}}
}

// groupView is the member's metrics and its view of the group.
type groupView struct{ *coord.Member }

// CoordinationView is the group as /status shows it.
func (g groupView) CoordinationView() any { return g.View() }

// Health is the group as the status page and the summary show it.
func (g groupView) Health() []health.Status { return []health.Status{groupHealth(g.View())} }

// count writes n things: "1 agent", "3 agents".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// groupHealth says in words how this agent stands in its group.
func groupHealth(v coord.View) health.Status {
	st := health.Status{Component: "agent group " + v.Group, State: health.Up}
	hosts := make([]string, 0, len(v.Members))
	for _, m := range v.Members {
		hosts = append(hosts, m.Host)
	}
	role := ""
	if v.IsLeader {
		role = ", the leader,"
	}
	st.Detail = fmt.Sprintf("%s (%s), generation %d; this agent%s owns %s", count(len(v.Members), "agent"), strings.Join(hosts, ", "), v.Generation, role, count(len(v.Units), "unit"))
	switch {
	case !v.Joined:
		st.State, st.Detail = health.Starting, "joining the group"
	case v.LeaderHash != "" && v.LeaderHash != v.Hash:
		st.State = health.Degraded
		st.LastError = fmt.Sprintf("this agent's config (hash %s) differs from the group leader's (hash %s): it gets no units until the files are equal", v.Hash, v.LeaderHash)
	}
	return st
}

// unitKey is the unit a task belongs to: its mirror and topic, except for
// SSH mirrors, whose topics on one host form one unit (one agent runs that
// host's kafka-consumer-groups.sh per group and tick).
func unitKey(t pipeline.Task) string {
	if t.Target.Method == config.MethodSSH {
		return "ssh:" + t.Target.Cluster
	}
	return t.Key()
}

// unitsOf is the plan's units, sorted. A unit weighs the partitions of its
// topics, as far as parts (mirror/topic -> partitions, what this agent
// collected) knows them, and 1 per topic otherwise; the leader takes each
// owner's figures. A MirrorMaker 2 mirror's topics form a group (one
// offsets-topic reader serves them), kept on one agent when balance allows.
func unitsOf(tasks []pipeline.Task, parts map[string]int) []coord.Unit {
	weight := map[string]int{}
	group := map[string]string{}
	for _, t := range tasks {
		k := unitKey(t)
		weight[k] += max(parts[t.Key()], 1)
		if t.Target.Method == config.MethodMM2 {
			group[k] = "mm2:" + t.Target.Mirror
		}
	}
	out := make([]coord.Unit, 0, len(weight))
	for k, w := range weight {
		out = append(out, coord.Unit{Key: k, Weight: w, Group: group[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// configHash is the hash of what decides the work, its documents and who is
// told: the interval, the clusters, the mirrors, the status rules, the
// notifiers and the coordination section. Elasticsearch, Kibana and HTTP settings may differ
// from agent to agent (a spool directory, a listen address).
func configHash(cfg *config.Config) string {
	type mirror struct {
		config.Mirror
		Settings any
	}
	ms := make([]mirror, len(cfg.Mirrors))
	for i, m := range cfg.Mirrors {
		ms[i] = mirror{Mirror: m, Settings: m.Settings}
	}
	return configkit.Fingerprint(cfg.Interval, cfg.Clusters, ms, cfg.Status, cfg.Notify, cfg.Coordination)
}

// probeCoordination is lagship check's look at the coordination cluster
// and group (nothing without a coordination section).
func probeCoordination(ctx context.Context, cfg *config.Config) []check {
	s := cfg.Coordination
	if s == nil {
		return nil
	}
	scope := "coordination " + s.Group
	cs := cfg.ClusterByName(s.Cluster)
	if cs == nil {
		return []check{{scope: scope, name: "cluster", detail: fmt.Sprintf("cluster %q is not defined", s.Cluster)}}
	}
	client, err := kafkasrc.NewClient(cs.Config())
	if err != nil {
		return []check{{scope: scope, name: "client", detail: err.Error()}}
	}
	defer client.Transport.(*kafkago.Transport).CloseIdleConnections()
	var out []check
	for _, pc := range coord.Probe(ctx, client, *s, configHash(cfg)) {
		out = append(out, check{scope: scope, name: pc.Name, ok: pc.OK, detail: pc.Detail})
	}
	return out
}
