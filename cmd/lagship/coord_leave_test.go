package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline"
)

// heldSink is a statusSink whose Close waits, once held, until let go: an
// agent stopping with SIGTERM then stays in its final flush, its notifiers
// still running, as long as the test wants.
type heldSink struct {
	*statusSink
	mu   sync.Mutex
	held chan struct{} // nil: Close returns at once
}

func (s *heldSink) hold() {
	s.mu.Lock()
	s.held = make(chan struct{})
	s.mu.Unlock()
}

func (s *heldSink) letGo() {
	s.mu.Lock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
	s.mu.Unlock()
}

func (s *heldSink) Close(ctx context.Context) error {
	s.mu.Lock()
	held := s.held
	s.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
		}
	}
	return nil
}

// lastStatus is the status of key's newest document.
func (s *statusSink) lastStatus(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.docs[key]; len(d) > 0 {
		return d[len(d)-1].Status
	}
	return ""
}

// TestCoordLeaveNotifiesOnce: orders' mirror stops and its owner judges
// STOP, but its notifier waits `for: 2s` before firing; the owner is
// stopped (SIGTERM: it leaves the group) and stays in its final flush for
// longer than that. It must not fire: the new owner judges orders and
// fires, once.
func TestCoordLeaveNotifiesOnce(t *testing.T) {
	sim := startMirrorSim(t, []string{"orders", "payments"}, 2)
	hook := newHookRecorder(t)
	broker := sim.kf.ListenAddrs()[0]
	sink := &statusSink{docs: map[string][]pipeline.Doc{}}
	const forDur = 2 * time.Second
	cfg := func() string {
		return notifyConfigFor(t, t.TempDir(), broker, hook.URL, "coordination: {cluster: dc1, group: lagship-agents, session_timeout: 6s}\n", forDur)
	}
	sinks := []*heldSink{{statusSink: sink}, {statusSink: sink}}
	as := []*coordAgent{startCoordAgent(t, "a", cfg(), sinks[0]), startCoordAgent(t, "b", cfg(), sinks[1])}
	t.Cleanup(func() { sinks[0].letGo(); sinks[1].letGo() })
	keys := []string{"mm/orders", "mm/payments"}
	await.True(t, 30*time.Second, "one topic on each agent", func() bool {
		return exactlyOnce(as, keys) && len(as[0].owned()) == 1 && len(as[1].owned()) == 1
	})
	owner, other, held := as[0], as[1], sinks[0]
	if owner.owned()[0] != "mm/orders" {
		owner, other, held = other, owner, sinks[1]
	}
	await.True(t, 30*time.Second, "a few healthy ticks", func() bool { return sink.count("mm/orders") >= 5 })

	start := time.Now()
	sim.set("orders", false)
	await.True(t, 30*time.Second, "orders judged STOP by its owner", func() bool { return sink.lastStatus("mm/orders") == "STOP" })
	stopAt := time.Now()
	if n := len(hook.all()); n != 0 {
		t.Fatalf("%d messages before %s of STOP: %+v", n, forDur, hook.all())
	}
	held.hold()
	owner.stop() // SIGTERM: leaves the group, then flushes (held)
	// The stopped agent's notifiers keep running while it flushes (up to
	// its 5 s grace): give them their `for` and a second more.
	await.True(t, 10*time.Second, "the stopped agent's `for` and a second", func() bool { return time.Since(stopAt) > forDur+time.Second })
	select {
	case <-owner.done:
		t.Fatalf("the stopped agent exited (%v): its sink was not held\n%s", owner.err, owner.logs.String())
	default:
	}
	await.True(t, 30*time.Second, "orders on the other agent", func() bool { return len(other.owned()) == 2 })
	await.True(t, 60*time.Second, "firing", func() bool { return hook.count("firing", "orders") >= 1 })
	fired := hook.all()[0].At
	n := sink.count("mm/orders")
	await.True(t, 30*time.Second, "5 more ticks", func() bool { return sink.count("mm/orders") >= n+5 })
	if got := hook.count("firing", "orders"); got != 1 {
		t.Errorf("%d firings of orders, want 1 (from the new owner): %+v", got, hook.all())
	}
	held.letGo()
	<-owner.done
	t.Logf("t=%.1fs STOP judged by %s, which stops; t=%.1fs firing (by %s, the new owner); %d firing in all", stopAt.Sub(start).Seconds(), owner.name, fired.Sub(start).Seconds(), other.name, hook.count("firing", ""))
	if !strings.Contains(owner.logs.String(), "new owners judge and notify them from now on") {
		t.Errorf("the stopped agent's log does not say it hands its topics' notifications over:\n%s", grepLines(owner.logs.String(), "stopping"))
	}
}

// deadlineSink records the deadline of the context Close is given.
type deadlineSink struct {
	*statusSink
	deadline chan time.Time
}

func (s *deadlineSink) Close(ctx context.Context) error {
	d, _ := ctx.Deadline()
	s.deadline <- d
	return nil
}

// TestStopFlushHasTheGrace: the final flush gets what is left of the
// shutdown grace, counted from the stop, every time; not the one second
// left for a flush that starts when the grace is almost spent.
func TestStopFlushHasTheGrace(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders"}, 1)
	path := filepath.Join(t.TempDir(), "lagship.yaml")
	writeConfig(t, path, fmt.Sprintf("interval: 1s\nelasticsearch: {spool_dir: %q}\nclusters:\n  - {name: dc1, brokers: [%q]}\nmirrors:\n  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders]}\n",
		filepath.Join(filepath.Dir(path), "spool"), kf.ListenAddrs()[0]))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	const grace = 5 * time.Second
	for i := range 5 {
		sink := &deadlineSink{statusSink: &statusSink{docs: map[string][]pipeline.Doc{}}, deadline: make(chan time.Time, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- runAgent(ctx, cfg, zerolog.Nop(), agentOptions{grace: grace, replan: time.Hour,
				newSink: func(context.Context, *config.Config) (pipeline.Sink, error) { return sink, nil }})
		}()
		await.True(t, 10*time.Second, "a first document", func() bool { return sink.count("mm/orders") > 0 })
		stopped := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if left := (<-sink.deadline).Sub(stopped); left < grace-time.Second {
			t.Fatalf("stop %d: the final flush's deadline was %s after the stop, want about the %s grace", i, left.Round(time.Millisecond), grace)
		}
	}
}
