package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/spool"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"github.com/lagship/lagship/pipeline/status"
)

// fakeSource is a judgement the test sets; every read counts.
type fakeSource struct {
	mu     sync.Mutex
	gen    uint64
	topics []status.TopicStatus
	reads  int
}

func (f *fakeSource) set(ts ...status.TopicStatus) {
	f.mu.Lock()
	f.topics, f.gen = ts, f.gen+1
	f.mu.Unlock()
}

func (f *fakeSource) Generation() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.gen }

func (f *fakeSource) Latest() []status.TopicStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	f.gen++ // the next round reads again
	return append([]status.TopicStatus(nil), f.topics...)
}

func (f *fakeSource) readCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.reads }

// agent runs a Service until stopped.
type agent struct {
	svc  *Service
	logs *syncbuf.Buffer
	stop func()
}

func startService(t *testing.T, s Settings, src Source, state string, opt Options) *agent {
	t.Helper()
	return startServiceWith(t, s, src, state, opt, nil)
}

// startServiceWith calls before, if set, on the service before it runs.
func startServiceWith(t *testing.T, s Settings, src Source, state string, opt Options, before func(*Service)) *agent {
	t.Helper()
	s.SetDefaults()
	if opt.Every == 0 {
		opt.Every = 10 * time.Millisecond
	}
	logs := &syncbuf.Buffer{}
	svc, err := New(s, src, state, zerolog.New(logs), opt)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(svc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	a := &agent{svc: svc, logs: logs}
	a.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("service did not stop")
			}
		})
	}
	t.Cleanup(a.stop)
	return a
}

// sent is how many messages the service's notifier delivered (the
// receiver has answered).
func sent(s *Service, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters[name].sent.Load()
}

func events(rc *receiver, kind string) int {
	n := 0
	for _, r := range rc.delivered() {
		if strings.Contains(r.Body, `"event":"`+kind+`"`) {
			n++
		}
	}
	return n
}

// TestServiceRestartMidIncident: the agent stops while an incident fires;
// the next one does not fire it again, even while the fresh evaluator
// judges the topic WARN, and still sends the resolved message.
func TestServiceRestartMidIncident(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	state := filepath.Join(t.TempDir(), "notify-state.json")
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL), MinStatus: "STALL"}}
	src := &fakeSource{}
	src.set(topic("orders", status.OK, 2), topic("payments", status.OK, 2))
	a := startService(t, cfg, src, state, Options{})
	await.True(t, 10*time.Second, "a first round", func() bool { return src.readCount() >= 2 })
	src.set(topic("orders", status.STOP, 2), topic("payments", status.OK, 2))
	await.True(t, 10*time.Second, "firing", func() bool { return sent(a.svc, "hook") == 1 })
	a.stop()
	b, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(b), `"status": "STOP"`) {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	t.Logf("state file after the first run:\n%s", b)

	src2 := &fakeSource{}
	src2.set(topic("orders", status.WARN, 2), topic("payments", status.OK, 2)) // a fresh evaluator: incomplete
	a2 := startService(t, cfg, src2, state, Options{Settle: time.Hour})
	await.True(t, 10*time.Second, "100 rounds", func() bool { return src2.readCount() >= 100 })
	src2.set(topic("orders", status.STOP, 2), topic("payments", status.OK, 2))
	n := src2.readCount()
	await.True(t, 10*time.Second, "100 more rounds", func() bool { return src2.readCount() >= n+100 })
	if got := events(rc, Firing); got != 1 {
		t.Fatalf("%d firing messages after the restart", got)
	}
	src2.set(topic("orders", status.OK, 2), topic("payments", status.OK, 2))
	await.True(t, 10*time.Second, "resolved", func() bool { return sent(a2.svc, "hook") == 1 })
	a2.stop()
	if got := len(rc.requests()); got != 2 {
		t.Errorf("%d requests in all", got)
	}
	for _, r := range rc.requests() {
		var ev Event
		_ = json.Unmarshal([]byte(r.Body), &ev)
		t.Logf("%s %s %s<-%s (started %s)", ev.Event, ev.Topic, ev.Status, ev.PreviousStatus, ev.StartedAt.Format(time.RFC3339))
		if ev.Topic != "orders" {
			t.Errorf("message about %s", ev.Topic)
		}
	}
	b, _ = os.ReadFile(state)
	if strings.Contains(string(b), `"mirror"`) {
		t.Errorf("state file still holds an incident:\n%s", b)
	}
}

// TestServiceUndeliveredSurvivesRestart: a message the receiver did not
// take before the agent stopped is delivered by the next agent, once.
func TestServiceUndeliveredSurvivesRestart(t *testing.T) {
	var mu sync.Mutex
	down := true
	rc := newReceiver(t, nil, func(n int, r *http.Request) (int, string, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 503, "down", nil
		}
		return 200, "ok", nil
	})
	state := filepath.Join(t.TempDir(), "notify-state.json")
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL)}}
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 1))
	a := startService(t, cfg, src, state, Options{Backoff: Backoff{First: 20 * time.Millisecond, Max: 50 * time.Millisecond, GiveUp: time.Minute}})
	await.True(t, 10*time.Second, "attempts", func() bool { return len(rc.requests()) >= 2 })
	a.stop()
	b, _ := os.ReadFile(state)
	var st State
	if err := json.Unmarshal(b, &st); err != nil || len(st.Notifiers["hook"].Pending) != 1 {
		t.Fatalf("state: %v\n%s", err, b)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	a2 := startService(t, cfg, src, state, Options{})
	await.True(t, 10*time.Second, "delivery", func() bool { return sent(a2.svc, "hook") == 1 })
	n := src.readCount()
	await.True(t, 10*time.Second, "50 more rounds", func() bool { return src.readCount() >= n+50 })
	a2.stop()
	if got := rc.delivered(); len(got) != 1 || !strings.Contains(got[0].Body, `"event":"firing"`) {
		t.Fatalf("delivered %+v", got)
	}
}

// TestServiceReconfigure: a changed notifier keeps its incidents (no second
// firing); a removed one stops; an added one starts.
func TestServiceReconfigure(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	rc2 := newReceiver(t, nil, nil)
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 1))
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL)}}
	cfg.SetDefaults()
	a := startService(t, cfg, src, filepath.Join(t.TempDir(), "s.json"), Options{})
	await.True(t, 10*time.Second, "firing", func() bool { return events(rc, Firing) == 1 })
	next := Settings{{Name: "hook", URL: configkit.Secret(rc.URL + "/v2")}, {Name: "other", URL: configkit.Secret(rc2.URL)}}
	next.SetDefaults()
	a.svc.Reconfigure(next, 0, 0)
	await.True(t, 10*time.Second, "the added notifier fires", func() bool { return events(rc2, Firing) == 1 })
	src.set(topic("orders", status.OK, 1))
	await.True(t, 10*time.Second, "both resolve", func() bool { return events(rc, Resolved) == 1 && events(rc2, Resolved) == 1 })
	if events(rc, Firing) != 1 {
		t.Errorf("%d firing messages", events(rc, Firing))
	}
	if got := rc.requests()[1].Path; got != "/v2" {
		t.Errorf("resolved went to %s", got)
	}
}

func TestQueue(t *testing.T) {
	var drops []string
	q := newQueue(2, func(r string) { drops = append(drops, r) })
	ev := func(topic, kind string) Event { e := SampleEvent(kind == Firing); e.Topic = topic; return e }
	q.put(ev("a", Firing))
	q.put(ev("a", Resolved)) // newer state of a
	q.put(ev("b", Firing))
	q.put(ev("c", Firing)) // full: a goes
	got := q.take(10)
	if len(got) != 2 || got[0].Topic != "b" || got[1].Topic != "c" || strings.Join(drops, ",") != "superseded,full" {
		t.Fatalf("took %v, dropped %v", got, drops)
	}
	if q.len() != 2 || len(q.snapshot()) != 2 {
		t.Fatalf("in flight %d", q.len())
	}
	q.put(ev("b", Resolved))
	batch := got[:1]
	q.refresh(batch)
	if batch[0].Event != Resolved || q.len() != 2 {
		t.Fatalf("refresh: %+v", batch)
	}
	q.done(got)
	if q.len() != 0 {
		t.Fatalf("left %d", q.len())
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	path := StatePath(dir)
	if path != filepath.Join(dir, "notify-state.json") {
		t.Fatalf("path %s", path)
	}
	st, err := LoadState(path)
	if err != nil || len(st.Notifiers) != 0 {
		t.Fatalf("missing file: %v %v", st, err)
	}
	want := State{Version: StateVersion, Notifiers: map[string]NotifierState{"hook": {
		Incidents: []Incident{{Mirror: "mm", Topic: "orders", Status: "STOP", Previous: "OK", StartedAt: t0, LastSent: t0}},
		Pending:   []Event{SampleEvent(false)},
	}}}
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil || js(got) != js(want) {
		t.Fatalf("round trip: %v\n%s\n%s", err, js(got), js(want))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left temporary files: %v", entries)
	}
	for _, bad := range []string{"{", `{"version": 9}`, "null x"} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(path); err == nil {
			t.Errorf("%q read without error", bad)
		}
	}
}

// TestStateInsideSpool: the state file lives inside the spool directory
// (the Docker volume, the compose mount), and the spool, which shares the
// directory, neither reads, counts nor removes it, nor its temporary files.
func TestStateInsideSpool(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	path := StatePath(dir)
	if filepath.Dir(path) != dir {
		t.Fatalf("state file %s is not in the spool %s", path, dir)
	}
	sp, err := spool.Open(dir, spool.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(spool.Record{ID: "1", Body: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	want := State{Version: StateVersion, Notifiers: map[string]NotifierState{"hook": {
		Incidents: []Incident{{Mirror: "mm", Topic: "orders", Status: "STOP", Previous: "OK", StartedAt: t0, LastSent: t0}}, Pending: []Event{}}}}
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a crash in the middle of SaveState.
	if err := os.WriteFile(filepath.Join(dir, ".notify-state.json.123.tmp"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := sp.Stats()
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	sp, err = spool.Open(dir, spool.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.Len() != 1 || sp.Stats().Bytes != before.Bytes || sp.Stats().Segments != before.Segments {
		t.Errorf("spool after reopening: %d records, %+v (was %+v)", sp.Len(), sp.Stats(), before)
	}
	got, err := LoadState(path)
	if err != nil || js(got) != js(want) {
		t.Errorf("state after the spool reopened: %v\n%s", err, js(got))
	}
}

// TestStateMovedFromOldPlace: an agent upgraded from a lagship that kept
// the state next to the spool (<spool_dir>.notify.json) moves it into the
// spool once and keeps its incidents: no second firing, and the resolved
// message still comes.
func TestStateMovedFromOldPlace(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	spoolDir := filepath.Join(t.TempDir(), "spool")
	old := spoolDir + ".notify.json"
	st := State{Version: StateVersion, Notifiers: map[string]NotifierState{"hook": {
		Incidents: []Incident{{Mirror: "mm", Topic: "orders", Cluster: "dc1", Group: "mirrormaker", Status: "STOP", Previous: "OK", StartedAt: t0, LastSent: time.Now()}}}}}
	if err := SaveState(old, st); err != nil {
		t.Fatal(err)
	}
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL), MinStatus: "STALL"}}
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 2))
	a := startService(t, cfg, src, StatePath(spoolDir), Options{})
	await.True(t, 10*time.Second, "50 rounds", func() bool { return src.readCount() >= 50 })
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d messages for a restored incident", n)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old state file is still there: %v", err)
	}
	if !strings.Contains(a.logs.String(), "notification state moved into the spool directory") {
		t.Errorf("no log of the move:\n%s", a.logs.String())
	}
	src.set(topic("orders", status.OK, 2))
	await.True(t, 10*time.Second, "resolved", func() bool { return events(rc, Resolved) == 1 })
	a.stop()
	if events(rc, Firing) != 0 {
		t.Errorf("%d firing messages", events(rc, Firing))
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old state file came back: %v", err)
	}

	// Both files there (an older agent ran again): the one in the spool
	// wins, the old one is left alone.
	if err := SaveState(old, st); err != nil {
		t.Fatal(err)
	}
	a2 := startService(t, cfg, src, StatePath(spoolDir), Options{})
	await.True(t, 10*time.Second, "50 rounds", func() bool { return src.readCount() >= 50 })
	a2.stop()
	if len(rc.requests()) != 1 {
		t.Errorf("%d messages after the second start", len(rc.requests()))
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("the old state file: %v", err)
	}
	if !strings.Contains(a2.logs.String(), "older notification state file") {
		t.Errorf("no warning about the old file:\n%s", a2.logs.String())
	}
}

// TestQueueFullKeepsNewest: a full queue drops the incident whose queued
// message is the oldest, never the newest state of an incident, also
// when that incident's earlier message was taken for delivery and then
// replaced by a newer one while it was retried.
func TestQueueFullKeepsNewest(t *testing.T) {
	ev := func(topic string, n int) Event {
		e := SampleEvent(true)
		e.Topic, e.Time = topic, t0.Add(time.Duration(n)*time.Second)
		return e
	}
	names := func(evs []Event) string {
		var s []string
		for _, e := range evs {
			s = append(s, fmt.Sprintf("%s@%d", e.Topic, int(e.Time.Sub(t0)/time.Second)))
		}
		return strings.Join(s, ",")
	}
	t.Run("stale a, b, new a, c", func(t *testing.T) {
		var drops []string
		q := newQueue(2, func(r string) { drops = append(drops, r) })
		q.put(ev("a", 1))
		batch := q.take(1) // being delivered, and retried
		q.put(ev("a", 2))  // a newer state of a while it is retried
		q.refresh(batch)   // the retry sends a@2 instead
		if names(batch) != "a@2" {
			t.Fatalf("refreshed batch %s", names(batch))
		}
		q.put(ev("b", 3))
		q.put(ev("a", 4)) // newer still, queued behind the retry
		q.put(ev("c", 5)) // full: b is the oldest queued incident
		q.done(batch)
		if got := names(q.take(10)); got != "a@4,c@5" {
			t.Errorf("queue kept %s, dropped %v", got, drops)
		}
		if strings.Join(drops, ",") != "superseded,full" {
			t.Errorf("dropped %v", drops)
		}
	})
	t.Run("an updated incident is the newest", func(t *testing.T) {
		var drops []string
		q := newQueue(2, func(r string) { drops = append(drops, r) })
		q.put(ev("a", 1))
		q.put(ev("b", 2))
		q.put(ev("a", 3)) // replaces a@1
		q.put(ev("c", 4)) // full: b's message is the oldest
		if got := names(q.take(10)); got != "a@3,c@4" || strings.Join(drops, ",") != "superseded,full" {
			t.Errorf("queue kept %s, dropped %v", got, drops)
		}
	})
	t.Run("requeued messages go first, in their order", func(t *testing.T) {
		q := newQueue(10, func(string) {})
		q.put(ev("a", 1))
		q.put(ev("b", 2))
		batch := q.take(2)
		q.put(ev("c", 3))
		q.put(ev("b", 4)) // newer than the b being delivered
		q.requeue(batch)  // the agent stops: b@2 is superseded by b@4
		if got := names(q.snapshot()); got != "a@1,c@3,b@4" {
			t.Errorf("snapshot %s", got)
		}
		if got := names(q.take(10)); got != "a@1,c@3,b@4" || q.len() != 3 {
			t.Errorf("took %s, %d left", got, q.len())
		}
	})
}

// TestServiceForgetEveryNotifier: Options.Forget reaches every notifier,
// not only those the state file restored: one started without state, and
// one added by a reload, keep the incident of a topic no longer judged
// for longer than the default 30m, and resolve it after Forget.
func TestServiceForgetEveryNotifier(t *testing.T) {
	rc, rc2 := newReceiver(t, nil, nil), newReceiver(t, nil, nil)
	clock := &fakeClock{now: time.Now()}
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 1))
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL)}}
	a := startService(t, cfg, src, filepath.Join(t.TempDir(), "s.json"), Options{Clock: clock, Forget: 2 * time.Hour, Settle: time.Minute})
	await.True(t, 10*time.Second, "firing", func() bool { return events(rc, Firing) == 1 })
	next := Settings{cfg[0], {Name: "added", URL: configkit.Secret(rc2.URL)}}
	next.SetDefaults()
	a.svc.Reconfigure(next, time.Minute, 0)
	await.True(t, 10*time.Second, "the added notifier fires", func() bool { return events(rc2, Firing) == 1 })
	src.set() // the topic is no longer judged
	rounds := func(what string) {
		n := src.readCount()
		await.True(t, 10*time.Second, what, func() bool { return src.readCount() >= n+20 })
	}
	rounds("rounds without the topic")
	_ = clock.Sleep(context.Background(), time.Hour)
	rounds("rounds an hour later")
	if events(rc, Resolved)+events(rc2, Resolved) != 0 {
		t.Fatalf("resolved after an hour, before Forget (2h): %d, %d", events(rc, Resolved), events(rc2, Resolved))
	}
	_ = clock.Sleep(context.Background(), time.Hour+time.Minute)
	await.True(t, 10*time.Second, "both resolve after Forget", func() bool { return events(rc, Resolved) == 1 && events(rc2, Resolved) == 1 })
}

// TestServiceReloadChangesForget: a reload's forget time reaches every
// notifier: with it raised from 2 h to 3 h, an incident of a topic no
// longer judged is still firing after 2 h and resolves after 3 h.
func TestServiceReloadChangesForget(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	clock := &fakeClock{now: time.Now()}
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 1))
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL)}}
	cfg.SetDefaults()
	a := startService(t, cfg, src, filepath.Join(t.TempDir(), "s.json"), Options{Clock: clock, Forget: 2 * time.Hour, Settle: time.Minute})
	await.True(t, 10*time.Second, "firing", func() bool { return events(rc, Firing) == 1 })
	a.svc.Reconfigure(cfg, time.Minute, 3*time.Hour)
	src.set() // the topic is no longer judged
	rounds := func(what string) {
		n := src.readCount()
		await.True(t, 10*time.Second, what, func() bool { return src.readCount() >= n+20 })
	}
	rounds("rounds without the topic")
	_ = clock.Sleep(context.Background(), 2*time.Hour+time.Minute)
	rounds("rounds two hours later")
	if n := events(rc, Resolved); n != 0 {
		t.Fatalf("resolved after 2h although the reload set forget to 3h")
	}
	_ = clock.Sleep(context.Background(), time.Hour)
	await.True(t, 10*time.Second, "resolved after 3h", func() bool { return events(rc, Resolved) == 1 })
}
