package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/notify"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"github.com/lagship/lagship/pipeline"
)

// hookRecorder is a webhook receiver on 127.0.0.1 that records every
// message with its arrival time.
type hookRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []hookMsg
	code int
}

type hookMsg struct {
	At time.Time
	notify.Event
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{code: 200}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev notify.Event
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("receiver: %v: %s", err, b)
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, hookMsg{At: time.Now(), Event: ev})
		code := h.code
		h.mu.Unlock()
		w.WriteHeader(code)
		if code == 200 {
			fmt.Fprint(w, "ok")
			return
		}
		fmt.Fprint(w, `{"ok":false,"error":"invalid_payload"}`)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookRecorder) all() []hookMsg {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookMsg(nil), h.msgs...)
}

func (h *hookRecorder) count(kind, topic string) int {
	n := 0
	for _, m := range h.all() {
		if m.Event.Event == kind && (topic == "" || m.Topic == topic) {
			n++
		}
	}
	return n
}

// stoppableMirror is a MirrorMaker that kfake cannot run: producers write to
// every partition of the topics all the time, and the group (which has no
// members) commits the log end of a topic while that topic's mirroring is
// on.
type stoppableMirror struct {
	kf      *kfake.Cluster
	client  *kafkago.Client
	mu      sync.Mutex
	on      map[string]bool
	written map[string][]int64
	ticks   int
	stop    chan struct{}
	done    chan struct{}
}

func startMirrorSim(t *testing.T, topics []string, partitions int) *stoppableMirror {
	t.Helper()
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	m := &stoppableMirror{kf: kf, on: map[string]bool{}, written: map[string][]int64{}, stop: make(chan struct{}), done: make(chan struct{}),
		client: &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}}
	for _, tp := range topics {
		m.on[tp] = true
		m.written[tp] = make([]int64, partitions)
	}
	go m.run(t)
	t.Cleanup(func() {
		close(m.stop)
		<-m.done
		m.client.Transport.(*kafkago.Transport).CloseIdleConnections()
	})
	return m
}

func (m *stoppableMirror) set(topic string, on bool) {
	m.mu.Lock()
	m.on[topic] = on
	m.mu.Unlock()
}

func (m *stoppableMirror) run(t *testing.T) {
	defer close(m.done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		commits := map[string][]kafkago.OffsetCommit{}
		m.mu.Lock()
		for tp, parts := range m.written {
			for p := range parts {
				rec := kafkago.Record{Value: kafkago.NewBytes([]byte("x"))}
				if _, err := m.client.Produce(ctx, &kafkago.ProduceRequest{Topic: tp, Partition: p, RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(rec)}); err != nil {
					t.Errorf("produce: %v", err)
				} else {
					parts[p]++
				}
				if m.on[tp] {
					commits[tp] = append(commits[tp], kafkago.OffsetCommit{Partition: p, Offset: parts[p]})
				}
			}
		}
		m.ticks++
		m.mu.Unlock()
		if len(commits) > 0 {
			if _, err := m.client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "mirrormaker", GenerationID: -1, Topics: commits}); err != nil {
				t.Errorf("commit: %v", err)
			}
		}
		cancel()
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
	}
}

// statusSink records every document's status.
type statusSink struct {
	mu   sync.Mutex
	docs map[string][]pipeline.Doc
}

func (s *statusSink) Write(_ context.Context, docs []pipeline.Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		s.docs[d.Mirror+"/"+d.Topic] = append(s.docs[d.Mirror+"/"+d.Topic], d)
	}
	return nil
}

func (s *statusSink) Close(context.Context) error { return nil }

func (s *statusSink) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs[key])
}

// changes lists the status changes of key since from, with their times.
func (s *statusSink) changes(key string, from time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	last := "-"
	for _, d := range s.docs[key] {
		if d.Status != last {
			st := d.Status
			if st == "" {
				st = "(no status yet)"
			}
			out = append(out, fmt.Sprintf("t=%.1fs %s", d.Timestamp.Sub(from).Seconds(), st))
			last = d.Status
		}
	}
	return out
}

// notifyAgent runs the agent in-process on a config file.
type notifyAgent struct {
	sink *statusSink
	logs *syncbuf.Buffer
	stop func()
	url  chan string // the HTTP server's
}

func runNotifyAgent(t *testing.T, path string) *notifyAgent {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := &notifyAgent{sink: &statusSink{docs: map[string][]pipeline.Doc{}}, logs: &syncbuf.Buffer{}, url: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.SyncWriter(a.logs))
	go func() {
		done <- runAgent(ctx, cfg, log, agentOptions{
			grace: 5 * time.Second, replan: time.Hour,
			newSink: func(context.Context, *config.Config) (pipeline.Sink, error) { return a.sink, nil },
			onHTTP:  func(u string) { a.url <- u },
		})
	}()
	var once sync.Once
	a.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("agent: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("agent did not stop")
			}
		})
	}
	t.Cleanup(a.stop)
	return a
}

// notifyConfig: ticks of 1 s, a 3 s status window, and a webhook that
// fires at STALL or worse once the status has held 1 s.
func notifyConfig(t *testing.T, dir string, broker, hook string) string {
	return notifyConfigWith(t, dir, broker, hook, "")
}

// notifyConfigWith is notifyConfig with more top-level YAML (extra).
func notifyConfigWith(t *testing.T, dir string, broker, hook, extra string) string {
	return notifyConfigFor(t, dir, broker, hook, extra, nFor)
}

// notifyConfigFor is notifyConfigWith whose notifier waits forDur before
// it fires.
func notifyConfigFor(t *testing.T, dir string, broker, hook, extra string, forDur time.Duration) string {
	path := filepath.Join(dir, "lagship.yaml")
	writeConfig(t, path, extra+fmt.Sprintf(`interval: 1s
status: {window: 3s}
elasticsearch: {spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders, payments]}
notify:
  - name: hook
    url: %s/hooks/T000/SECRET
    min_status: STALL
    for: %s
    repeat: 1h
`, filepath.Join(dir, "spool"), broker, hook, forDur))
	return path
}

const (
	nWindow   = 3 * time.Second
	nFor      = time.Second
	nInterval = time.Second
)

// TestNotifyStoppedMirror: the mirror of orders stops (the group has no
// member, production goes on): exactly one firing within window + for + 2
// ticks, nothing more while it stays stopped, exactly one resolved when it
// resumes; payments, mirrored all along, produces nothing.
func TestNotifyStoppedMirror(t *testing.T) {
	sim := startMirrorSim(t, []string{"orders", "payments"}, 2)
	hook := newHookRecorder(t)
	dir := t.TempDir()
	a := runNotifyAgent(t, notifyConfig(t, dir, sim.kf.ListenAddrs()[0], hook.URL))
	await.True(t, 30*time.Second, "a few healthy ticks", func() bool { return a.sink.count("mm/orders") >= 5 && a.sink.count("mm/payments") >= 5 })
	if n := len(hook.all()); n != 0 {
		t.Fatalf("%d messages while healthy: %+v", n, hook.all())
	}

	stopped := time.Now()
	sim.set("orders", false)
	t.Logf("t=0s orders' mirror stops (commits stop, production goes on)")
	await.True(t, 30*time.Second, "firing", func() bool { return hook.count("firing", "orders") >= 1 })
	fired := hook.all()[0]
	took := fired.At.Sub(stopped)
	t.Logf("t=%.1fs firing %s %s<-%s total_lag=%d max_lag=%d partitions=%d", took.Seconds(), fired.Topic, fired.Status, fired.PreviousStatus, fired.TotalLag, fired.MaxLag, len(fired.Partitions))
	if bound := nWindow + nFor + 2*nInterval; took > bound+time.Second {
		t.Errorf("firing after %v, more than window + for + 2 ticks (%v) and the second of the notify loop", took, bound)
	}
	if fired.Status != "STOP" || fired.PreviousStatus == "" || fired.Mirror != "mm" || fired.Group != "mirrormaker" || fired.Cluster != "dc1" || len(fired.Partitions) != 2 {
		t.Errorf("firing message %+v", fired.Event)
	}
	n := a.sink.count("mm/orders")
	await.True(t, 30*time.Second, "8 more ticks", func() bool { return a.sink.count("mm/orders") >= n+8 })
	if got := len(hook.all()); got != 1 {
		t.Fatalf("%d messages while stopped: %+v", got, hook.all())
	}

	resumed := time.Now()
	sim.set("orders", true)
	t.Logf("t=%.1fs orders' mirror resumes", resumed.Sub(stopped).Seconds())
	await.True(t, 30*time.Second, "resolved", func() bool { return hook.count("resolved", "orders") >= 1 })
	res := hook.all()[1]
	t.Logf("t=%.1fs resolved %s %s<-%s total_lag=%d", res.At.Sub(stopped).Seconds(), res.Topic, res.Status, res.PreviousStatus, res.TotalLag)
	if res.Event.Event != "resolved" || res.PreviousStatus != "STOP" || res.Status != "OK" || !res.StartedAt.Equal(fired.StartedAt) {
		t.Errorf("resolved message %+v", res.Event)
	}
	n = a.sink.count("mm/orders")
	await.True(t, 30*time.Second, "5 more ticks", func() bool { return a.sink.count("mm/orders") >= n+5 })
	if hook.count("firing", "") != 1 || hook.count("resolved", "") != 1 || hook.count("", "payments") != 0 || len(hook.all()) != 2 {
		t.Errorf("messages %+v", hook.all())
	}
	res2, err := http.Get(<-a.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res2.Body)
	res2.Body.Close()
	for _, want := range []string{`lagship_notify_sent_total{notifier="hook"} 2`, `lagship_notify_failed_total{notifier="hook",reason="rejected"} 0`,
		`lagship_notify_dropped_total{notifier="hook",reason="superseded"} 0`, `lagship_notify_firing{notifier="hook"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	t.Logf("orders' statuses: %s", strings.Join(a.sink.changes("mm/orders", stopped), ", "))
	t.Logf("payments' statuses: %s", strings.Join(a.sink.changes("mm/payments", stopped), ", "))
	a.stop()
	if strings.Contains(a.logs.String(), "SECRET") {
		t.Error("the webhook's path is in the log")
	}
	if !strings.Contains(a.logs.String(), `"message":"notification sent"`) {
		t.Errorf("no log of the deliveries:\n%s", a.logs.String())
	}
}

// TestNotifyRestartMidIncident: the agent restarts while orders' incident
// fires: no second firing (the new evaluator needs a window to judge STOP
// again), and the resolved message still comes when the mirror resumes.
func TestNotifyRestartMidIncident(t *testing.T) {
	sim := startMirrorSim(t, []string{"orders", "payments"}, 2)
	hook := newHookRecorder(t)
	dir := t.TempDir()
	path := notifyConfig(t, dir, sim.kf.ListenAddrs()[0], hook.URL)
	a := runNotifyAgent(t, path)
	await.True(t, 30*time.Second, "a few healthy ticks", func() bool { return a.sink.count("mm/orders") >= 5 })
	start := time.Now()
	sim.set("orders", false)
	await.True(t, 30*time.Second, "firing", func() bool { return hook.count("firing", "orders") == 1 })
	t.Logf("t=%.1fs firing", hook.all()[0].At.Sub(start).Seconds())
	a.stop()
	b, err := os.ReadFile(filepath.Join(dir, "spool", "notify-state.json"))
	if err != nil || !strings.Contains(string(b), `"status": "STOP"`) {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	t.Logf("t=%.1fs agent stopped; state file:\n%s", time.Since(start).Seconds(), b)

	a2 := runNotifyAgent(t, path)
	t.Logf("t=%.1fs agent started again", time.Since(start).Seconds())
	await.True(t, 30*time.Second, "10 ticks after the restart", func() bool { return a2.sink.count("mm/orders") >= 10 })
	if got := len(hook.all()); got != 1 {
		t.Fatalf("%d messages after the restart: %+v", got, hook.all())
	}
	t.Logf("t=%.1fs 10 ticks after the restart, still 1 message", time.Since(start).Seconds())
	resumed := time.Now()
	sim.set("orders", true)
	await.True(t, 30*time.Second, "resolved", func() bool { return hook.count("resolved", "orders") == 1 })
	t.Logf("t=%.1fs resolved (orders resumed at t=%.1fs)", hook.all()[1].At.Sub(start).Seconds(), resumed.Sub(start).Seconds())
	if hook.count("firing", "") != 1 || len(hook.all()) != 2 {
		t.Errorf("messages %+v", hook.all())
	}
	t.Logf("orders' statuses before the restart: %s", strings.Join(a.sink.changes("mm/orders", start), ", "))
	t.Logf("orders' statuses after the restart: %s", strings.Join(a2.sink.changes("mm/orders", start), ", "))
	if !strings.Contains(a2.logs.String(), "notification state restored") {
		t.Errorf("no restore in the log:\n%s", a2.logs.String())
	}
}

// TestNotifyTestCommand: lagship notify test sends one message marked as
// a test through each notifier and prints each receiver's answer; a
// refusal is a failure (exit 1); -name picks one.
func TestNotifyTestCommand(t *testing.T) {
	ok := newHookRecorder(t)
	bad := newHookRecorder(t)
	bad.code = 400
	var amBody []byte
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		amBody, _ = io.ReadAll(r.Body)
		if r.URL.Path != "/api/v2/alerts" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(am.Close)
	path := writeFile(t, "lagship.yaml", fmt.Sprintf(`clusters:
  - {name: dc1, brokers: ["127.0.0.1:9092"]}
mirrors:
  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders]}
notify:
  - {name: good, url: "%s/hook/SECRETPATH"}
  - {name: refused, url: "%s/hook/SECRETPATH", headers: {Authorization: "Bearer SECRETTOKEN"}}
  - {name: am, type: alertmanager, url: "%s"}
`, ok.URL, bad.URL, am.URL))
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"notify", "test", "-config", path, "-name", "good"}, 0, []string{"ok   good (webhook, http://127.0.0.1:", "/[redacted]): test message accepted (HTTP 200, answer: ok)"}},
		{[]string{"notify", "test", "-config", path, "-name", "am"}, 0, []string{"ok   am (alertmanager"}},
		{[]string{"notify", "test", "-config", path}, 1, []string{"ok   good", "FAIL refused (webhook", "400 Bad Request, answer: {\"ok\":false,\"error\":\"invalid_payload\"}", "ok   am", "1 of 3 notifiers failed the test"}},
		{[]string{"notify", "test", "-config", path, "-name", "nope"}, 2, []string{`no notifier named "nope" (the file has good, refused, am)`}},
		{[]string{"notify", "tset"}, 2, []string{"usage: lagship notify test"}},
	}
	for _, c := range cases {
		var stdout, stderr strings.Builder
		code := run(c.args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
		if strings.Contains(out, "SECRET") {
			t.Errorf("%v: a secret is printed:\n%s", c.args, out)
		}
		t.Logf("$ lagship %s\n%s", strings.Join(c.args, " "), out)
	}
	msgs := ok.all()
	if len(msgs) != 2 || !msgs[0].Test || msgs[0].Mirror != "lagship-notify-test" {
		t.Errorf("test messages %+v", msgs)
	}
	if len(bad.all()) != 1 {
		t.Errorf("the refused test was sent %d times", len(bad.all()))
	}
	if !strings.Contains(string(amBody), `"alertname":"MirrorMakerLagTest"`) || !strings.Contains(string(amBody), `"endsAt"`) {
		t.Errorf("alertmanager test alert %s", amBody)
	}
}

// TestNotifyReload: a notifier added to the file by a reload starts
// without a restart; removed, it stops.
func TestNotifyReload(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders"}, 3) // partition 1 has a lag that never moves: STOP
	hook := newHookRecorder(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "lagship.yaml")
	conf := func(notify string) string {
		return fmt.Sprintf(`interval: 1s
status: {window: 3s}
elasticsearch: {spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders]}
%s`, filepath.Join(dir, "spool"), kf.ListenAddrs()[0], notify)
	}
	writeConfig(t, path, conf(""))
	r := startAgent(t, path)
	waitUntil(t, "documents", func() bool { return r.sink.count("mm/orders") >= 2 })
	applies := r.count()
	writeConfig(t, path, conf(fmt.Sprintf("notify:\n  - {name: hook, url: %q, min_status: STOP}\n", hook.URL+"/x")))
	waitUntil(t, "reload", func() bool { return r.count() > applies })
	if !await.Within(30*time.Second, func() bool { return hook.count("firing", "orders") == 1 }) {
		t.Fatalf("no firing; log:\n%s", r.logs.String())
	}
	if !strings.Contains(r.logs.String(), "notifier added") {
		t.Errorf("log:\n%s", r.logs.String())
	}
	applies = r.count()
	writeConfig(t, path, conf(""))
	waitUntil(t, "reload", func() bool { return r.count() > applies })
	waitUntil(t, "notifier removed", func() bool { return strings.Contains(r.logs.String(), "notifier removed") })
	if len(hook.all()) != 1 {
		t.Errorf("messages %+v", hook.all())
	}
}
