package main

import (
	"context"
	"fmt"
	"github.com/lagship/lagship/internal/testutil/await"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/delivery"
)

// recSink records documents by mirror/topic.
type recSink struct {
	mu    sync.Mutex
	ticks map[string][]time.Time
}

func newRecSink() *recSink { return &recSink{ticks: map[string][]time.Time{}} }

func (s *recSink) Write(_ context.Context, docs []pipeline.Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		k := d.Mirror + "/" + d.Topic
		s.ticks[k] = append(s.ticks[k], d.Timestamp)
	}
	return nil
}
func (s *recSink) Close(context.Context) error { return nil }

func (s *recSink) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ticks[key])
}

func (s *recSink) get(key string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.ticks[key]...)
}

// gaps returns the ticks missing between the first and last document of
// key, given its interval.
func gaps(ts []time.Time, every time.Duration) []time.Time {
	var missing []time.Time
	for i := 1; i < len(ts); i++ {
		for t := ts[i-1].Add(every); t.Before(ts[i]); t = t.Add(every) {
			missing = append(missing, t)
		}
	}
	return missing
}

// syncBuffer is a goroutine-safe log buffer.
type syncBuffer = syncbuf.Buffer

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	await.True(t, 30*time.Second, what, cond)
}

type agentRun struct {
	sink  *recSink
	logs  *syncBuffer
	keys  func() []string
	hup   chan os.Signal
	stop  context.CancelFunc
	done  chan error
	count func() int // applies so far
}

// startAgent runs runAgent in-process on the config file with a recording
// sink and a fast file poll.
func startAgent(t *testing.T, path string) *agentRun {
	t.Helper()
	return startAgentWith(t, path, nil)
}

// startAgentWith is startAgent with the agent's real sink builder when
// newSink is not nil.
// startESAgent runs the agent on path with its real Elasticsearch sink and
// returns the run and a function reading that sink's delivery counters
// (zero until the sink is built).
func startESAgent(t *testing.T, path string) (*agentRun, func() delivery.Stats) {
	t.Helper()
	var mu sync.Mutex
	var sink *esSink
	r := startAgentWith(t, path, func(ctx context.Context, c *config.Config, log zerolog.Logger) (pipeline.Sink, error) {
		s, err := newESSink(ctx, c, log)
		if err == nil {
			mu.Lock()
			sink = s.(*esSink)
			mu.Unlock()
		}
		return s, err
	})
	return r, func() delivery.Stats {
		mu.Lock()
		defer mu.Unlock()
		if sink == nil {
			return delivery.Stats{}
		}
		return sink.Stats()
	}
}

func startAgentWith(t *testing.T, path string, newSink func(context.Context, *config.Config, zerolog.Logger) (pipeline.Sink, error)) *agentRun {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &agentRun{sink: newRecSink(), logs: &syncBuffer{}, hup: make(chan os.Signal, 1), done: make(chan error, 1)}
	var mu sync.Mutex
	var keys []string
	applies := 0
	r.keys = func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), keys...) }
	r.count = func() int { mu.Lock(); defer mu.Unlock(); return applies }
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	log := zerolog.New(zerolog.SyncWriter(r.logs))
	go func() {
		r.done <- runAgent(ctx, cfg, log, agentOptions{
			path:   path,
			poll:   50 * time.Millisecond,
			replan: time.Hour,
			sighup: r.hup,
			grace:  5 * time.Second,
			newSink: func(ctx context.Context, c *config.Config) (pipeline.Sink, error) {
				if newSink != nil {
					return newSink(ctx, c, log)
				}
				return r.sink, nil
			},
			onApply: func(k []string) {
				sort.Strings(k)
				mu.Lock()
				keys, applies = k, applies+1
				mu.Unlock()
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return r
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if !strings.Contains(text, "\nhttp:") && !strings.HasPrefix(text, "http:") {
		// A free port: agents under test never hold the default one.
		text += "\nhttp: {listen: \"127.0.0.1:0\"}\n"
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestHotReload: topics added and removed, an interval changed and a broken
// file, while the untouched topics keep their cadence.
func TestHotReload(t *testing.T) {
	topics := []string{"orders", "payments", "clicks", "audit"}
	kf, _ := kafkaWithLag(t, topics, 2)
	brokers := fmt.Sprintf("[%q, %q, %q]", kf.ListenAddrs()[0], kf.ListenAddrs()[1], kf.ListenAddrs()[2])
	dir := t.TempDir()
	path := filepath.Join(dir, "lagship.yaml")
	conf := func(mirrorA, intervalB string) string {
		return fmt.Sprintf(`interval: 1s
elasticsearch: {spool_dir: %q}
clusters:
  - {name: dc1, brokers: %s}
mirrors:
  - {name: a, cluster: dc1, group: mirrormaker, topics: %s}
  - {name: b, cluster: dc1, group: mirrormaker, interval: %s, topics: [audit]}
`, filepath.Join(dir, "spool"), brokers, mirrorA, intervalB)
	}
	writeConfig(t, path, conf("[orders, payments]", "1s"))
	r := startAgent(t, path)
	waitUntil(t, "first documents", func() bool {
		return r.sink.count("a/orders") >= 2 && r.sink.count("a/payments") >= 2 && r.sink.count("b/audit") >= 2
	})
	if got := strings.Join(r.keys(), ","); got != "a/orders,a/payments,b/audit" {
		t.Fatalf("running %s", got)
	}

	// Add clicks, remove payments, change b's interval.
	applies := r.count()
	writeConfig(t, path, conf("[orders, clicks]", "2s"))
	waitUntil(t, "reload", func() bool { return r.count() > applies })
	if got := strings.Join(r.keys(), ","); got != "a/clicks,a/orders,b/audit" {
		t.Fatalf("after reload running %s", got)
	}
	// clicks started, payments stopped, audit restarted on its new
	// interval; orders was not touched.
	if !strings.Contains(r.logs.String(), `"started":2,"stopped":2,"running":3,"message":"topics applied"`) {
		t.Errorf("reload restarted more than the changed topics:\n%s", r.logs.String())
	}
	paymentsAtReload := r.sink.count("a/payments")
	waitUntil(t, "clicks documents", func() bool { return r.sink.count("a/clicks") >= 2 })
	bAtReload := r.sink.count("b/audit")
	waitUntil(t, "audit on its new interval", func() bool { return r.sink.count("b/audit") >= bAtReload+2 })
	audit := r.sink.get("b/audit")
	if last := audit[len(audit)-1]; last.UnixMilli()%2000 != 0 {
		t.Errorf("audit tick %s is not on the 2s interval", last)
	}

	// A broken file is refused; the running set stays.
	applies = r.count()
	writeConfig(t, path, conf("[orders, \"bad topic\"]", "2s"))
	waitUntil(t, "refusal logged", func() bool { return strings.Contains(r.logs.String(), "reload refused") })
	if !strings.Contains(r.logs.String(), path+":6: mirrors[0].topics[1]: invalid topic name") {
		t.Errorf("refusal does not name file:line and field:\n%s", r.logs.String())
	}
	if r.count() != applies || strings.Join(r.keys(), ",") != "a/clicks,a/orders,b/audit" {
		t.Errorf("broken file changed the running set: %v", r.keys())
	}

	// SIGHUP re-reads the (fixed) file at once.
	writeConfig(t, path, conf("[orders]", "2s"))
	r.hup <- os.Interrupt
	waitUntil(t, "SIGHUP reload", func() bool { return strings.Join(r.keys(), ",") == "a/orders,b/audit" })
	ordersBefore := r.sink.count("a/orders")
	waitUntil(t, "orders keeps going", func() bool { return r.sink.count("a/orders") >= ordersBefore+2 })

	// The untouched topic never missed a tick across four reloads.
	if missing := gaps(r.sink.get("a/orders"), time.Second); len(missing) > 0 {
		t.Errorf("a/orders missed ticks %v", missing)
	}
	// A removed topic stops.
	if n := r.sink.count("a/payments"); n > paymentsAtReload+1 {
		t.Errorf("payments kept writing after removal: %d -> %d", paymentsAtReload, n)
	}
	t.Logf("orders: %d documents without a gap; clicks started with %d; payments stopped at %d", r.sink.count("a/orders"), r.sink.count("a/clicks"), r.sink.count("a/payments"))
}

// TestFaultIsolation: one of two clusters goes down and an SSH host is
// unreachable from the start; the mirror on the healthy cluster keeps its
// cadence, the failure is logged once, not every tick.
func TestFaultIsolation(t *testing.T) {
	up, _ := kafkaWithLag(t, []string{"orders"}, 2)
	down, _ := kafkaWithLag(t, []string{"payments"}, 2)
	dir := t.TempDir()
	// A closed port for the SSH mirror.
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lagship.yaml")
	writeConfig(t, path, fmt.Sprintf(`interval: 1s
elasticsearch: {spool_dir: %q}
clusters:
  - {name: up, brokers: [%q], timeout: 2s}
  - {name: down, brokers: [%q], timeout: 2s}
mirrors:
  - {name: healthy, cluster: up, group: mirrormaker, topics: [orders]}
  - {name: broken, cluster: down, group: mirrormaker, topics: [payments]}
  - name: unreachable
    method: ssh
    interval: 1s
    group: mirrormaker
    topics: [orders]
    ssh: {host: 127.0.0.1, port: 1, user: u, key_file: %q, insecure_ignore_host_key: true, timeout: 2s}
    kafka_home: /opt/kafka
    bootstrap_server: "127.0.0.1:9092"
`, filepath.Join(dir, "spool"), up.ListenAddrs()[0], down.ListenAddrs()[0], key))
	r := startAgent(t, path)
	waitUntil(t, "both kafka mirrors", func() bool { return r.sink.count("healthy/orders") >= 2 && r.sink.count("broken/payments") >= 2 })
	down.Close()
	before := r.sink.count("healthy/orders")
	waitUntil(t, "healthy keeps going", func() bool { return r.sink.count("healthy/orders") >= before+5 })
	if missing := gaps(r.sink.get("healthy/orders"), time.Second); len(missing) > 0 {
		t.Errorf("healthy/orders missed ticks %v while another cluster was down", missing)
	}
	if n := r.sink.count("unreachable/orders"); n != 0 {
		t.Errorf("unreachable SSH mirror wrote %d documents", n)
	}
	logs := r.logs.String()
	for _, who := range []string{`"mirror":"broken","topic":"payments"`, `"mirror":"unreachable","topic":"orders"`} {
		n := 0
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, who) && strings.Contains(line, "no document for this topic until the state changes") {
				n++
			}
		}
		if n < 1 || n > 2 {
			t.Errorf("%s: failure logged %d times over several failing ticks, want once per state change:\n%s", who, n, logs)
		}
	}
	t.Logf("healthy/orders: %d documents, no gap; broken/payments stopped at %d", r.sink.count("healthy/orders"), r.sink.count("broken/payments"))
}

// TestReloadElasticsearchSettings: a reload that points the agent at
// another Elasticsearch (same spool_dir) applies without a restart and
// without losing a document; settings that do not work are refused and the
// running ones stay.
func TestReloadElasticsearchSettings(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders"}, 2)
	a, b := esfake.NewTB(t), esfake.NewTB(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "lagship.yaml")
	conf := func(url string) string {
		return fmt.Sprintf(`interval: 1s
elasticsearch: {addresses: [%q], flush_interval: 100ms, spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: m, cluster: dc1, group: mirrormaker, topics: [orders]}
`, url, filepath.Join(dir, "spool"), kf.ListenAddrs()[0])
	}
	writeConfig(t, path, conf(a.URL()))
	r := startAgentWith(t, path, newESSink)
	waitUntil(t, "documents on the first cluster", func() bool { return len(a.DocIDs("consumer_lag")) >= 2 })
	writeConfig(t, path, conf(b.URL()))
	waitUntil(t, "documents on the second cluster", func() bool { return len(b.DocIDs("consumer_lag")) >= 2 })
	if !strings.Contains(r.logs.String(), "elasticsearch settings applied") {
		t.Errorf("no log of the change:\n%s", r.logs.String())
	}
	// An unreachable cluster is refused; documents keep going to b.
	writeConfig(t, path, conf("http://127.0.0.1:1"))
	waitUntil(t, "refusal", func() bool { return strings.Contains(r.logs.String(), "elasticsearch settings not applied") })
	n := len(b.DocIDs("consumer_lag"))
	waitUntil(t, "documents still on the second cluster", func() bool { return len(b.DocIDs("consumer_lag")) >= n+2 })
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
		r.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop")
	}
	// Every tick is in exactly one of the two clusters.
	seen := map[string]int{}
	for _, id := range append(a.DocIDs("consumer_lag"), b.DocIDs("consumer_lag")...) {
		seen[id]++
	}
	var ticks []time.Time
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s indexed %d times", id, c)
		}
		ms, err := strconv.ParseInt(id[strings.LastIndex(id, "/")+1:], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ticks = append(ticks, time.UnixMilli(ms))
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Before(ticks[j]) })
	if missing := gaps(ticks, time.Second); len(missing) > 0 {
		t.Errorf("ticks missing across the switch: %v", missing)
	}
	t.Logf("%d ticks, %d on the first cluster, %d on the second, none twice, none missing", len(ticks), len(a.DocIDs("consumer_lag")), len(b.DocIDs("consumer_lag")))
}

// TestOutageAtOneSecondInterval: the agent runs at a 1 s interval while
// Elasticsearch is down for several seconds; afterwards every tick of every
// topic is indexed exactly once, with no gap.
func TestOutageAtOneSecondInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 20 s")
	}
	const outage = 12 * time.Second // longer than the bulk client's own retries (about 6 s)
	topics := []string{"orders", "payments", "clicks"}
	kf, _ := kafkaWithLag(t, topics, 2)
	es := esfake.NewTB(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "lagship.yaml")
	writeConfig(t, path, fmt.Sprintf(`interval: 1s
elasticsearch: {addresses: [%q], flush_interval: 200ms, spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: m, cluster: dc1, group: mirrormaker, topics: [orders, payments, clicks]}
`, es.URL(), filepath.Join(dir, "spool"), kf.ListenAddrs()[0]))
	r, stats := startESAgent(t, path)
	waitUntil(t, "first documents", func() bool { return len(es.DocIDs("consumer_lag")) >= 6 })
	es.Outage()
	start := time.Now()
	var peak int64
	for time.Since(start) < outage {
		peak = max(peak, stats().Spool.Bytes)
		time.Sleep(100 * time.Millisecond)
	}
	if err := es.Restore(); err != nil {
		t.Fatal(err)
	}
	// Let a few ticks pass after the outage, then stop and count.
	n := len(es.DocIDs("consumer_lag"))
	waitUntil(t, "documents after the outage", func() bool { return len(es.DocIDs("consumer_lag")) >= n+6 })
	waitUntil(t, "the spool to drain", func() bool { return stats().Spool.Pending == 0 })
	r.stop()
	select {
	case <-r.done:
		r.done <- nil
	case <-time.After(60 * time.Second):
		t.Fatal("agent did not stop")
	}
	byTopic := map[string][]time.Time{}
	for _, id := range es.DocIDs("consumer_lag") {
		parts := strings.Split(id, "/")
		ms, _ := strconv.ParseInt(parts[2], 10, 64)
		byTopic[parts[1]] = append(byTopic[parts[1]], time.UnixMilli(ms))
	}
	for _, ts := range byTopic {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	}
	total := checkEveryTickOnce(t, byTopic, topics)
	var first, last time.Time
	for _, topic := range topics {
		ts := byTopic[topic]
		if len(ts) == 0 {
			continue
		}
		if first.IsZero() || ts[0].Before(first) {
			first = ts[0]
		}
		last = ts[len(ts)-1]
	}
	st := stats()
	// The outage outlasts the bulk client's retries, so what was in flight
	// then went through the spool.
	if st.Spooled == 0 || st.Replayed != st.Spooled {
		t.Errorf("the outage did not go through the spool: %+v", st)
	}
	t.Logf("outage %s at 1s interval: %d ticks x %d topics = %d documents indexed (%s..%s), lost 0, duplicated 0; spooled %d, replayed %d, spool size seen during the outage up to %d bytes",
		outage, total/len(topics), len(topics), total, first.Format("15:04:05"), last.Format("15:04:05"), st.Spooled, st.Replayed, peak)
}

// TestSIGHUPUnchangedLoggedOnce: config management that sends SIGHUP again
// and again for an unchanged file gets one line, not one per signal, and
// nothing restarts.
func TestSIGHUPUnchangedLoggedOnce(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders"}, 2)
	dir := t.TempDir()
	path := filepath.Join(dir, "lagship.yaml")
	writeConfig(t, path, fmt.Sprintf(`interval: 1s
elasticsearch: {spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: a, cluster: dc1, group: mirrormaker, topics: [orders]}
`, filepath.Join(dir, "spool"), kf.ListenAddrs()[0]))
	r := startAgent(t, path)
	waitUntil(t, "first document", func() bool { return r.sink.count("a/orders") >= 1 })
	applies := r.count()
	for i := 0; i < 100; i++ {
		r.hup <- syscall.SIGHUP
	}
	r.hup <- syscall.SIGHUP // the channel holds one: the 100 before were taken
	waitUntil(t, "the unchanged line", func() bool { return strings.Contains(r.logs.String(), "config unchanged") })
	out := r.logs.String()
	if c := strings.Count(out, "config unchanged"); c != 1 {
		t.Errorf("unchanged logged %d times, want 1", c)
	}
	if c := strings.Count(out, "config reloaded"); c != 0 {
		t.Errorf("config reloaded %d times for an unchanged file", c)
	}
	if r.count() != applies {
		t.Errorf("an unchanged file re-applied the plan")
	}
}
