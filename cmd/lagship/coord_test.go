package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"

	"maps"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/coord"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline"
)

// idSink records every document written by any agent, by _id, in write
// order: an _id written twice is a tick collected by two agents.
type idSink struct {
	mu     sync.Mutex
	writes map[string]int
	ticks  map[string][]time.Time // mirror/topic -> ticks, as written
}

func newIDSink() *idSink {
	return &idSink{writes: map[string]int{}, ticks: map[string][]time.Time{}}
}

func (s *idSink) Write(_ context.Context, docs []pipeline.Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range docs {
		d := &docs[i]
		s.writes[d.ID()]++
		k := d.Mirror + "/" + d.Topic
		s.ticks[k] = append(s.ticks[k], d.Timestamp)
	}
	return nil
}

func (s *idSink) Close(context.Context) error { return nil }

// dups is the number of extra writes of an _id.
func (s *idSink) dups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.writes {
		n += c - 1
	}
	return n
}

// newest is the newest tick of key.
func (s *idSink) newest(key string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Time
	for _, x := range s.ticks[key] {
		if x.After(t) {
			t = x
		}
	}
	return t
}

// sortedTicks is key's distinct ticks, sorted.
func (s *idSink) sortedTicks(key string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[time.Time]bool{}
	var out []time.Time
	for _, x := range s.ticks[key] {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// commitAtEnds commits the group "mirrormaker" at the log end of every
// partition of topics: no lag anywhere.
func commitAtEnds(t *testing.T, kf *kfake.Cluster, topics []string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
	defer client.Transport.(*kafkago.Transport).CloseIdleConnections()
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for _, topic := range topics {
		for p := 0; p < partitions; p++ {
			req.Topics[topic] = append(req.Topics[topic], kafkago.LastOffsetOf(p))
		}
	}
	ends, err := client.ListOffsets(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	commits := map[string][]kafkago.OffsetCommit{}
	for topic, ps := range ends.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatal(p.Error)
			}
			commits[topic] = append(commits[topic], kafkago.OffsetCommit{Partition: p.Partition, Offset: p.LastOffset})
		}
	}
	if _, err := client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "mirrormaker", GenerationID: -1, Topics: commits}); err != nil {
		t.Fatal(err)
	}
}

// kafkaCounter counts the requests the brokers receive, by API name. A
// ListOffsets of the group's state topic alone (a new owner reading the
// notifiers' shared state: kafka-go asks for its first and its last offset
// in two requests) is counted apart, as stateRead: it is coordination,
// not collection.
type kafkaCounter struct {
	mu sync.Mutex
	n  map[string]int
}

const stateRead = "ListOffsets(state topic)"

func countKafka(kf *kfake.Cluster) *kafkaCounter {
	c := &kafkaCounter{n: map[string]int{}}
	for _, k := range []kmsg.Key{kmsg.ListOffsets, kmsg.Metadata, kmsg.OffsetFetch, kmsg.DescribeGroups, kmsg.FindCoordinator, kmsg.ApiVersions,
		kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup} {
		kf.ControlKey(int16(k), func(req kmsg.Request) (kmsg.Response, error, bool) {
			kf.KeepControl()
			name := kmsg.Key(req.Key()).Name()
			if lo, ok := req.(*kmsg.ListOffsetsRequest); ok && onlyStateTopic(lo) {
				name = stateRead
			}
			c.mu.Lock()
			c.n[name]++
			c.mu.Unlock()
			return nil, nil, false
		})
	}
	return c
}

// onlyStateTopic reports whether every topic of req is a group's state
// topic (<group>.state; the tests' mirrored topics never end so).
func onlyStateTopic(req *kmsg.ListOffsetsRequest) bool {
	for _, t := range req.Topics {
		if !strings.HasSuffix(t.Topic, coord.StateTopic("")) {
			return false
		}
	}
	return len(req.Topics) > 0
}

func (c *kafkaCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// requestsBetween splits the requests between two snapshots into
// collection, membership and discovery, and Metadata (refreshed once a
// minute and on errors), with the count of each API.
func requestsBetween(before, after map[string]int) (collect, group, meta int, detail []string) {
	for k, n := range after {
		d := n - before[k]
		switch {
		case groupAPIs[k]:
			group += d
		case k == kmsg.Metadata.Name():
			meta += d
		default:
			collect += d
		}
		if d > 0 {
			detail = append(detail, fmt.Sprintf("%s:%d", k, d))
		}
	}
	sort.Strings(detail)
	return collect, group, meta, detail
}

// groupAPIs are membership and discovery, not collection: the group's
// requests, the reads of its shared state, and the coordinator lookups and
// version handshakes a rebalance or a new connection brings.
var groupAPIs = map[string]bool{kmsg.JoinGroup.Name(): true, kmsg.SyncGroup.Name(): true, kmsg.Heartbeat.Name(): true, kmsg.LeaveGroup.Name(): true,
	kmsg.FindCoordinator.Name(): true, kmsg.ApiVersions.Name(): true, stateRead: true}

// coordAgent is one in-process agent of a group.
type coordAgent struct {
	name    string
	logs    *syncBuffer
	stop    context.CancelFunc
	abandon chan struct{}
	done    chan struct{} // closed when runAgent returned
	err     error
	mu      sync.Mutex
	keys    []string
	url     string
}

func (a *coordAgent) get(t *testing.T, path string) string {
	t.Helper()
	a.mu.Lock()
	u := a.url
	a.mu.Unlock()
	resp, err := http.Get(strings.TrimSuffix(u, "/") + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (a *coordAgent) owned() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...)
}

func startCoordAgent(t *testing.T, name, path string, sink pipeline.Sink) *coordAgent {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := &coordAgent{name: name, logs: &syncBuffer{}, abandon: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	log := zerolog.New(zerolog.SyncWriter(a.logs)).With().Str("agent", name).Logger()
	go func() {
		defer close(a.done)
		a.err = runAgent(ctx, cfg, log, agentOptions{
			path: path, poll: 50 * time.Millisecond, replan: time.Hour, grace: 5 * time.Second,
			newSink:      func(context.Context, *config.Config) (pipeline.Sink, error) { return sink, nil },
			coordAbandon: a.abandon,
			onHTTP: func(u string) {
				a.mu.Lock()
				a.url = u
				a.mu.Unlock()
			},
			onApply: func(k []string) {
				sort.Strings(k)
				a.mu.Lock()
				a.keys = k
				a.mu.Unlock()
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.done:
			if a.err != nil {
				t.Errorf("agent %s: %v", name, a.err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("agent %s did not stop", name)
		}
		if t.Failed() {
			t.Logf("agent %s log:\n%s", name, a.logs.String())
		}
	})
	return a
}

// exactlyOnce reports whether the agents' running tasks cover want, each
// on one agent.
func exactlyOnce(as []*coordAgent, want []string) bool {
	seen := map[string]int{}
	for _, a := range as {
		for _, k := range a.owned() {
			seen[k]++
		}
	}
	if len(seen) != len(want) {
		return false
	}
	for _, k := range want {
		if seen[k] != 1 {
			return false
		}
	}
	return true
}

func coordConfig(t *testing.T, dir string, brokers []string, topics []string, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "lagship.yaml")
	writeConfig(t, path, fmt.Sprintf(`interval: 1s
clusters:
  - name: dc1
    brokers: [%s]
coordination:
  cluster: dc1
  group: lagship-agents
  session_timeout: 6s
mirrors:
  - name: mm
    cluster: dc1
    group: mirrormaker
    topics: [%s]
%s`, strings.Join(brokers, ", "), strings.Join(topics, ", "), extra))
	return path
}

// startThreeAgents starts agents a, b and c on path and waits until each
// owns a third of keys (mirror/topic), every key on exactly one of them.
func startThreeAgents(t *testing.T, path string, sink *idSink, keys []string) []*coordAgent {
	t.Helper()
	as := []*coordAgent{startCoordAgent(t, "a", path, sink), startCoordAgent(t, "b", path, sink), startCoordAgent(t, "c", path, sink)}
	await.True(t, 30*time.Second, "every topic on exactly one of 3 agents", func() bool {
		if !exactlyOnce(as, keys) {
			return false
		}
		for _, a := range as {
			if len(a.owned()) != len(keys)/3 {
				return false
			}
		}
		return true
	})
	return as
}

// TestCoordThreeAgents: three agents of one group against kfake share the
// topics, each on exactly one agent; Kafka requests per tick stay within
// 3 × (brokers + groups); a crashed agent's topics resume on the others
// within the session timeout and two ticks, without a tick collected
// twice; a newcomer gets its share and the others keep theirs.
func TestCoordThreeAgents(t *testing.T) {
	topics := make([]string, 12)
	keys := make([]string, len(topics))
	for i := range topics {
		topics[i] = fmt.Sprintf("t%02d", i)
		keys[i] = "mm/" + topics[i]
	}
	kf, _ := kafkaWithLag(t, topics, 2)
	// The mirror keeps up: committed at the log ends, the group cannot be
	// stalled, so no agent describes it and steady state is exactly one
	// ListOffsets per broker and one OffsetFetch per group per agent.
	commitAtEnds(t, kf, topics, 2)
	kc := countKafka(kf)
	path := coordConfig(t, t.TempDir(), kf.ListenAddrs(), topics, "")
	sink := newIDSink()
	as := startThreeAgents(t, path, sink, keys)

	// /status and /metrics show the agent's units and the group.
	var st struct {
		Coordination coord.View `json:"coordination"`
	}
	if err := json.Unmarshal([]byte(as[0].get(t, "/status")), &st); err != nil {
		t.Fatal(err)
	}
	if v := st.Coordination; !v.Joined || len(v.Members) != 3 || !reflect.DeepEqual(v.Units, as[0].owned()) || v.Generation == 0 {
		t.Errorf("/status coordination %+v, running %v", v, as[0].owned())
	} else {
		owners := 0
		for _, m := range v.Members {
			owners += len(m.Owned)
		}
		if owners != len(keys) {
			t.Errorf("/status lists %d owned units in all, want %d", owners, len(keys))
		}
	}
	metrics := as[0].get(t, "/metrics")
	for _, want := range []string{"lagship_coordination_members 3", "lagship_coordination_own_units 4", fmt.Sprintf("lagship_coordination_generation %d", st.Coordination.Generation)} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := strings.Count(metrics, "lagship_coordination_units{"); n != 3 {
		t.Errorf("%d lagship_coordination_units series, want 3", n)
	}

	// Requests per tick, over ten ticks of steady state.
	since := func(ts time.Time) bool {
		for _, k := range keys {
			if !sink.newest(k).After(ts) {
				return false
			}
		}
		return true
	}
	from := pipeline.NextTick(time.Now(), time.Second).Add(time.Second)
	await.True(t, 10*time.Second, "every topic collected", func() bool { return since(from) })
	before := kc.snapshot()
	await.True(t, 20*time.Second, "ten more ticks", func() bool { return since(from.Add(10 * time.Second)) })
	collect, group, meta, detail := requestsBetween(before, kc.snapshot())
	// Each agent sends, per tick, one ListOffsets per broker and one
	// OffsetFetch per group. (A group that may be stalled would add one
	// DescribeGroups per agent at most every 10 s: sources/kafka's
	// TestStalledGroupDescribedPerMaxAge.)
	const brokers, groups, agents = 3, 1, 3
	limit := 10 * agents * (brokers + groups)
	t.Logf("3 agents, 12 topics, 4 per agent: %.1f Kafka requests per tick in all for collection (limit 3 x (brokers + groups) = %d), %.1f Metadata, %.1f for membership and discovery %v",
		float64(collect)/10, agents*(brokers+groups), float64(meta)/10, float64(group)/10, detail)
	if collect > limit {
		t.Errorf("%d collection requests in 10 ticks, want at most %d", collect, limit)
	}
	if d := sink.dups(); d != 0 {
		t.Errorf("%d ticks collected twice in steady state", d)
	}

	// A crash: c stops heartbeating and collecting, without leaving.
	crashed := as[2].owned()
	close(as[2].abandon)
	as[2].stop()
	<-as[2].done
	crashAt := time.Now()
	last := map[string]time.Time{}
	for _, k := range crashed {
		last[k] = sink.newest(k)
	}
	dupsBefore := sink.dups()
	await.True(t, 20*time.Second, "the crashed agent's topics on the others", func() bool { return exactlyOnce(as[:2], keys) })
	await.True(t, 10*time.Second, "its topics collected again", func() bool {
		for _, k := range crashed {
			if !sink.newest(k).After(crashAt) {
				return false
			}
		}
		return true
	})
	worst := 0
	for _, k := range crashed {
		ts := sink.sortedTicks(k)
		for i := 1; i < len(ts); i++ {
			if ts[i-1].Equal(last[k]) {
				worst = max(worst, int(ts[i].Sub(ts[i-1])/time.Second)-1)
			}
		}
	}
	t.Logf("crash of one agent (session timeout 6s, 1s ticks): its %d topics resumed elsewhere after %s; at most %d ticks missing per topic; %d ticks collected twice",
		len(crashed), time.Since(crashAt).Round(100*time.Millisecond), worst, sink.dups()-dupsBefore)
	if worst > 6+2 {
		t.Errorf("%d ticks missing for a moved topic, want at most session timeout + 2 ticks (8)", worst)
	}
	if d := sink.dups() - dupsBefore; d != 0 {
		t.Errorf("%d ticks collected twice after the crash", d)
	}

	// A comeback: a fourth agent joins; a and b only give units away.
	kept := [][]string{as[0].owned(), as[1].owned()}
	d := startCoordAgent(t, "d", path, sink)
	now := []*coordAgent{as[0], as[1], d}
	await.True(t, 30*time.Second, "rebalanced with the newcomer", func() bool {
		return exactlyOnce(now, keys) && len(d.owned()) == 4 && len(as[0].owned()) == 4
	})
	for i, a := range now[:2] {
		if !subset(a.owned(), kept[i]) {
			t.Errorf("agent %s: had %v, now %v: not sticky", a.name, kept[i], a.owned())
		}
	}
	// Topics given away leave the giver's /status.
	await.True(t, 10*time.Second, "each agent's /status lists its own topics only", func() bool {
		for _, a := range now {
			var st struct {
				Mirrors []struct {
					Name   string `json:"name"`
					Topics []struct {
						Topic string `json:"topic"`
					} `json:"topics"`
				} `json:"mirrors"`
			}
			if json.Unmarshal([]byte(a.get(t, "/status")), &st) != nil {
				return false
			}
			var listed []string
			for _, m := range st.Mirrors {
				for _, tp := range m.Topics {
					listed = append(listed, m.Name+"/"+tp.Topic)
				}
			}
			sort.Strings(listed)
			if !reflect.DeepEqual(listed, a.owned()) {
				return false
			}
		}
		return true
	})
	t.Logf("comeback: units per agent %d/%d/%d; %d ticks collected twice in all (handover overlap)", len(as[0].owned()), len(as[1].owned()), len(d.owned()), sink.dups())
}

func subset(a, b []string) bool {
	in := map[string]bool{}
	for _, k := range b {
		in[k] = true
	}
	for _, k := range a {
		if !in[k] {
			return false
		}
	}
	return true
}

// TestCoordConfigMismatch: an agent whose config differs from the leader's
// gets no units and says so, naming both hashes; fixed and reloaded, it
// takes its share.
func TestCoordConfigMismatch(t *testing.T) {
	topics := []string{"t00", "t01", "t02", "t03"}
	keys := []string{"mm/t00", "mm/t01", "mm/t02", "mm/t03"}
	kf, _ := kafkaWithLag(t, topics, 2)
	sink := newIDSink()
	a := startCoordAgent(t, "a", coordConfig(t, t.TempDir(), kf.ListenAddrs(), topics, ""), sink)
	await.True(t, 30*time.Second, "the first agent runs every topic", func() bool { return exactlyOnce([]*coordAgent{a}, keys) })
	oddDir := t.TempDir()
	oddPath := coordConfig(t, oddDir, kf.ListenAddrs(), topics, "status:\n  window: 90s\n")
	odd := startCoordAgent(t, "odd", oddPath, sink)
	await.True(t, 30*time.Second, "the odd agent logs both hashes", func() bool {
		return strings.Contains(odd.logs.String(), "differs from the group leader's")
	})
	cfgA, err := config.Load(coordConfig(t, t.TempDir(), kf.ListenAddrs(), topics, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfgOdd, err := config.Load(oddPath)
	if err != nil {
		t.Fatal(err)
	}
	ha, ho := configHash(cfgA), configHash(cfgOdd)
	want := fmt.Sprintf("this agent's config (hash %s) differs from the group leader's (hash %s)", ho[:12], ha[:12])
	if !strings.Contains(odd.logs.String(), want) {
		t.Errorf("odd agent log lacks %q:\n%s", want, odd.logs.String())
	}
	if !exactlyOnce([]*coordAgent{a}, keys) || len(odd.owned()) != 0 {
		t.Errorf("units: first agent %v, odd agent %v", a.owned(), odd.owned())
	}
	if !strings.Contains(odd.get(t, "/metrics"), "lagship_coordination_config_mismatch 1\n") {
		t.Error("/metrics of the odd agent does not show the mismatch")
	}
	t.Logf("mismatch: leader hash %s, odd agent hash %s: odd agent runs %d topics", ha[:12], ho[:12], len(odd.owned()))

	// lagship check sees the odd member.
	_, out, _ := runCLI(t, "check", "-config", oddPath, "-timeout", "5s")
	if !strings.Contains(out, "coordination lagship-agents") || !strings.Contains(out, "1 with another config") {
		t.Errorf("check output lacks the group's probe:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "coordination") {
			t.Logf("check: %s", line)
		}
	}

	// The file fixed: the reload rejoins with the leader's hash.
	coordConfig(t, oddDir, kf.ListenAddrs(), topics, "")
	await.True(t, 30*time.Second, "the fixed agent takes its share", func() bool {
		return exactlyOnce([]*coordAgent{a, odd}, keys) && len(odd.owned()) == 2
	})
}

func TestConfigHash(t *testing.T) {
	base := func(extra string) *config.Config {
		t.Helper()
		dir := t.TempDir()
		c, err := config.Load(coordConfig(t, dir, []string{"127.0.0.1:9092"}, []string{"orders"}, extra))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ref := configHash(base(""))
	cases := []struct {
		name  string
		extra string
		same  bool
	}{
		{"same file", "", true},
		{"another listen address and spool", "http: {listen: \"127.0.0.1:0\"}\nelasticsearch:\n  spool_dir: /tmp/elsewhere\n", true},
		{"status rules", "status:\n  window: 90s\n", false},
		{"another mirror", "  - name: mm2\n    cluster: dc1\n    group: g2\n    topics: [x]\n", false},
	}
	for _, tc := range cases {
		if got := configHash(base(tc.extra)); (got == ref) != tc.same {
			t.Errorf("%s: hash equal %v, want %v", tc.name, got == ref, tc.same)
		}
	}
	// Every example hashes (no value JSON cannot encode).
	paths, _ := filepath.Glob("../../examples/*.yaml")
	for _, p := range paths {
		if c, err := config.Load(p); err == nil {
			_ = configHash(c)
		}
	}
}

// TestCoordStartFailure: an agent of a group that cannot start (its HTTP
// port is taken) returns its error instead of waiting on its membership.
func TestCoordStartFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := coordConfig(t, t.TempDir(), []string{"127.0.0.1:1"}, []string{"orders"}, fmt.Sprintf("http: {listen: %q}\n", ln.Addr().String()))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- runAgent(context.Background(), cfg, zerolog.Nop(), agentOptions{
			newSink: func(context.Context, *config.Config) (pipeline.Sink, error) { return newIDSink(), nil },
		})
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("runAgent started on a taken port")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("runAgent did not return after failing to start")
	}
}

func TestUnitsOf(t *testing.T) {
	task := func(mirror, topic, method, cluster string) pipeline.Task {
		return pipeline.Task{Target: pipeline.Target{Mirror: mirror, Topic: topic, Method: method, Cluster: cluster}}
	}
	got := unitsOf([]pipeline.Task{
		task("mm", "orders", "native", "dc1"),
		task("legacy", "a", "ssh", "mm-host-1"),
		task("legacy", "b", "ssh", "mm-host-1"),
		task("legacy2", "c", "ssh", "mm-host-2"),
		task("m2", "x", "mm2", "src"),
		task("m2", "y", "mm2", "src"),
	}, map[string]int{"mm/orders": 16, "legacy/a": 4, "m2/y": 3}) // what this agent collected
	want := []coord.Unit{
		{Key: "m2/x", Weight: 1, Group: "mm2:m2"},
		{Key: "m2/y", Weight: 3, Group: "mm2:m2"},
		{Key: "mm/orders", Weight: 16},
		{Key: "ssh:mm-host-1", Weight: 5}, // 4 partitions + a topic not collected here
		{Key: "ssh:mm-host-2", Weight: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("units %+v, want %+v", got, want)
	}
}

// fetchLog records, per ListOffsets and OffsetFetch request the brokers
// receive, the partitions it names (topic -> partition count).
type fetchLog struct {
	mu   sync.Mutex
	reqs []fetchReq
}

type fetchReq struct {
	api   kmsg.Key
	named map[string]int
}

func logFetches(kf *kfake.Cluster) *fetchLog {
	l := &fetchLog{}
	record := func(api kmsg.Key, named map[string]int) {
		l.mu.Lock()
		l.reqs = append(l.reqs, fetchReq{api, named})
		l.mu.Unlock()
	}
	kf.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		named := map[string]int{}
		for _, tp := range req.(*kmsg.ListOffsetsRequest).Topics {
			named[tp.Topic] += len(tp.Partitions)
		}
		record(kmsg.ListOffsets, named)
		return nil, nil, false
	})
	kf.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		named := map[string]int{}
		r := req.(*kmsg.OffsetFetchRequest)
		for _, tp := range r.Topics {
			named[tp.Topic] += len(tp.Partitions)
		}
		for _, g := range r.Groups {
			for _, tp := range g.Topics {
				named[tp.Topic] += len(tp.Partitions)
			}
		}
		record(kmsg.OffsetFetch, named)
		return nil, nil, false
	})
	return l
}

// take returns the requests recorded since the last take.
func (l *fetchLog) take() []fetchReq {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// TestCoordWatchesOwnTopics: in a group of 3 agents sharing 12 topics of 2
// partitions, each agent's shared per-tick fetch names only the partitions
// of its own units: every ListOffsets and OffsetFetch request the brokers
// receive falls within one agent's topics, 8 partitions per agent per tick
// in its ListOffsets rather than the 24 of every topic. After a crash the
// survivors' requests name the crashed agent's topics too, and still only
// their own.
func TestCoordWatchesOwnTopics(t *testing.T) {
	const partitions = 2
	topics := make([]string, 12)
	keys := make([]string, len(topics))
	for i := range topics {
		topics[i] = fmt.Sprintf("t%02d", i)
		keys[i] = "mm/" + topics[i]
	}
	kf, _ := kafkaWithLag(t, topics, partitions)
	fl := logFetches(kf)
	path := coordConfig(t, t.TempDir(), kf.ListenAddrs(), topics, "")
	sink := newIDSink()
	as := startThreeAgents(t, path, sink, keys)

	// window records the ListOffsets and OffsetFetch requests of ticks
	// ticks collected by every agent of live, while no unit moves; each
	// request must name the topics of one agent only. It checks that each
	// agent's requests named each of its topics, and returns the
	// partitions its ListOffsets requests named per tick, and the topics
	// they named.
	window := func(live []*coordAgent, ticks int) (perTick map[string]float64, named map[string]map[string]bool) {
		t.Helper()
		owned := map[string][]string{}
		owner := map[string]string{} // topic -> agent
		for _, a := range live {
			owned[a.name] = a.owned()
			for _, k := range a.owned() {
				owner[strings.TrimPrefix(k, "mm/")] = a.name
			}
		}
		// collected: every topic's tick ts written.
		collected := func(ts time.Time) bool {
			for _, k := range keys {
				if sink.newest(k).Before(ts) {
					return false
				}
			}
			return true
		}
		// The fetches of the ticks after from, to from+ticks: the
		// handover of a rebalance is over by from.
		from := pipeline.NextTick(time.Now(), time.Second).Add(time.Second)
		await.True(t, 10*time.Second, "every topic collected", func() bool { return collected(from) })
		fl.take()
		await.True(t, 30*time.Second, fmt.Sprintf("%d more ticks", ticks), func() bool {
			return collected(from.Add(time.Duration(ticks) * time.Second))
		})
		reqs := fl.take()
		for _, a := range live {
			if !reflect.DeepEqual(a.owned(), owned[a.name]) {
				t.Fatalf("agent %s: units moved during the window: %v, then %v", a.name, owned[a.name], a.owned())
			}
		}
		for _, api := range []kmsg.Key{kmsg.ListOffsets, kmsg.OffsetFetch} {
			parts := map[string]int{}
			byAPI := map[string]map[string]bool{}
			mixed, n := 0, 0
			for _, r := range reqs {
				if r.api != api {
					continue
				}
				n++
				by := map[string]bool{}
				for topic, p := range r.named {
					o, ok := owner[topic]
					if !ok {
						continue // not a mirrored topic
					}
					by[o] = true
					parts[o] += p
					if byAPI[o] == nil {
						byAPI[o] = map[string]bool{}
					}
					byAPI[o][topic] = true
				}
				if len(by) > 1 {
					if mixed == 0 {
						t.Errorf("a %s request names the topics of %d agents: %v", api.Name(), len(by), r.named)
					}
					mixed++
				}
			}
			if mixed > 1 {
				t.Errorf("%d of %d %s requests name the topics of more than one agent", mixed, n, api.Name())
			}
			per := map[string]float64{}
			for _, a := range live {
				per[a.name] = float64(parts[a.name]) / float64(ticks)
				if got := len(byAPI[a.name]); got != len(owned[a.name]) {
					t.Errorf("agent %s: %s named %d topics of its %d units", a.name, api.Name(), got, len(owned[a.name]))
				}
			}
			t.Logf("%d agents: %d %s requests in %d ticks; partitions named per tick, by agent: %v", len(live), n, api.Name(), ticks, per)
			if api == kmsg.ListOffsets {
				perTick, named = per, byAPI
			}
		}
		t.Logf("own units: %v", owned)
		return perTick, named
	}

	perTick, _ := window(as, 5)
	for _, a := range as {
		// Each agent's 4 topics × 2 partitions, once per tick; a
		// little more when a tick's fetch is retried.
		if own := float64(len(a.owned()) * partitions); perTick[a.name] < own || perTick[a.name] > 1.5*own {
			t.Errorf("agent %s: %.1f partitions per tick in its ListOffsets, want %.0f (its own units')", a.name, perTick[a.name], own)
		}
	}

	// A crash: c stops without leaving; a and b take its units and fetch
	// their partitions.
	crashed := as[2].owned()
	close(as[2].abandon)
	as[2].stop()
	<-as[2].done
	await.True(t, 30*time.Second, "the crashed agent's topics on the others", func() bool { return exactlyOnce(as[:2], keys) })
	perTick, named := window(as[:2], 5)
	for _, k := range crashed {
		topic := strings.TrimPrefix(k, "mm/")
		if !named["a"][topic] && !named["b"][topic] {
			t.Errorf("no survivor's ListOffsets names %s, a unit of the crashed agent", topic)
		}
	}
	for _, a := range as[:2] {
		if own := float64(len(a.owned()) * partitions); perTick[a.name] < own || perTick[a.name] > 1.5*own {
			t.Errorf("agent %s after the crash: %.1f partitions per tick in its ListOffsets, want %.0f", a.name, perTick[a.name], own)
		}
	}
}

// TestOwnUnplannedUnits: units assigned to this agent that its plan lacks
// are logged at warn level once per change, naming at most 10 of them and
// their count, not at every apply.
func TestOwnUnplannedUnits(t *testing.T) {
	var buf syncBuffer
	c := &coordination{log: zerolog.New(&buf)}
	plan := []coord.Unit{{Key: "mm/a"}, {Key: "mm/b"}}
	owns := func(keys ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if strings.Contains(l, "not in its plan") {
				out = append(out, l)
			}
		}
		return out
	}
	c.noteUnplanned(owns("mm/a"), plan)
	if n := len(lines()); n != 0 {
		t.Fatalf("%d warnings for planned units", n)
	}
	for range 3 {
		c.noteUnplanned(owns("mm/a", "mm/x"), plan)
	}
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], `"level":"warn"`) || !strings.Contains(l[0], `"units":1`) || !strings.Contains(l[0], `"first":["mm/x"]`) {
		t.Fatalf("after 3 applies with mm/x unplanned: %q, want one warning naming mm/x", l)
	}
	var many []string
	for i := range 12 {
		many = append(many, fmt.Sprintf("mm/u%02d", i))
	}
	c.noteUnplanned(owns(many...), plan)
	c.noteUnplanned(owns(many...), plan)
	l := lines()
	if len(l) != 2 || !strings.Contains(l[1], `"units":12`) || !strings.Contains(l[1], `"first":["mm/u00","mm/u01","mm/u02","mm/u03","mm/u04","mm/u05","mm/u06","mm/u07","mm/u08","mm/u09"]`) {
		t.Fatalf("12 unplanned units: %q, want a second warning with the first 10 and the count", l)
	}
	// Planned again, then the same unit missing again: said again.
	c.noteUnplanned(owns("mm/a"), plan)
	c.noteUnplanned(owns("mm/a", "mm/x"), plan)
	if n := len(lines()); n != 3 {
		t.Errorf("%d warnings, want 3 (mm/x missing again after it was resolved)", n)
	}
}
