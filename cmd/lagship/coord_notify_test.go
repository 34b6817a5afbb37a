package main

import (
	"context"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lagship/lagship/internal/coord"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline"
)

// coordNotifyConfig is notifyConfig in an agent group: each agent has its
// own spool directory, and so its own notification state file.
func coordNotifyConfig(t *testing.T, dir string, broker, hook string) string {
	return notifyConfigWith(t, dir, broker, hook, "coordination: {cluster: dc1, group: lagship-agents, session_timeout: 6s}\n")
}

// TestCoordNotifyFailover: two agents share orders and payments; orders'
// mirror stops and its owner fires, then crashes (no LeaveGroup). The
// other agent takes orders over with its incident from <group>.state: no
// second firing while its rebuilt window judges the topic again, exactly
// one resolved when the mirror resumes, and the incident leaves the state
// topic.
func TestCoordNotifyFailover(t *testing.T) {
	sim := startMirrorSim(t, []string{"orders", "payments"}, 2)
	hook := newHookRecorder(t)
	broker := sim.kf.ListenAddrs()[0]
	sink := &statusSink{docs: map[string][]pipeline.Doc{}}
	as := []*coordAgent{
		startCoordAgent(t, "a", coordNotifyConfig(t, t.TempDir(), broker, hook.URL), sink),
		startCoordAgent(t, "b", coordNotifyConfig(t, t.TempDir(), broker, hook.URL), sink),
	}
	keys := []string{"mm/orders", "mm/payments"}
	await.True(t, 30*time.Second, "one topic on each agent", func() bool {
		return exactlyOnce(as, keys) && len(as[0].owned()) == 1 && len(as[1].owned()) == 1
	})
	owner, other := as[0], as[1]
	if owner.owned()[0] != "mm/orders" {
		owner, other = other, owner
	}
	await.True(t, 30*time.Second, "a few healthy ticks", func() bool { return sink.count("mm/orders") >= 5 })

	client := &kafkago.Client{Addr: kafkago.TCP(broker), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
	defer client.Transport.(*kafkago.Transport).CloseIdleConnections()
	state := coord.NewState(client, "lagship-agents")
	inState := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		kv, err := state.Load(ctx)
		if err != nil {
			return "error: " + err.Error()
		}
		return string(kv["notify/hook/mm/orders"])
	}

	start := time.Now()
	sim.set("orders", false)
	await.True(t, 30*time.Second, "firing", func() bool { return hook.count("firing", "orders") == 1 })
	await.True(t, 10*time.Second, "the incident in the state topic", func() bool { return strings.Contains(inState(), `"status":"STOP"`) })
	t.Logf("t=%.1fs firing by agent %s; state topic: %s", hook.all()[0].At.Sub(start).Seconds(), owner.name, inState())

	close(owner.abandon)
	owner.stop()
	<-owner.done
	crashed := time.Now()
	await.True(t, 30*time.Second, "orders on the other agent", func() bool { return len(other.owned()) == 2 })
	t.Logf("t=%.1fs agent %s crashed; t=%.1fs agent %s owns orders", crashed.Sub(start).Seconds(), owner.name, time.Since(start).Seconds(), other.name)
	n := sink.count("mm/orders")
	await.True(t, 30*time.Second, "8 ticks at the new owner", func() bool { return sink.count("mm/orders") >= n+8 })
	if got := len(hook.all()); got != 1 {
		t.Fatalf("%d messages after the failover, want the first firing only: %+v", got, hook.all())
	}

	resumed := time.Now()
	sim.set("orders", true)
	await.True(t, 30*time.Second, "resolved", func() bool { return hook.count("resolved", "orders") == 1 })
	t.Logf("t=%.1fs orders' mirror resumes; t=%.1fs resolved by agent %s", resumed.Sub(start).Seconds(), hook.all()[1].At.Sub(start).Seconds(), other.name)
	await.True(t, 10*time.Second, "the incident gone from the state topic", func() bool { return inState() == "" })
	n = sink.count("mm/orders")
	await.True(t, 30*time.Second, "5 more ticks", func() bool { return sink.count("mm/orders") >= n+5 })
	if hook.count("firing", "") != 1 || hook.count("resolved", "") != 1 || len(hook.all()) != 2 {
		t.Errorf("messages %+v", hook.all())
	}
	if res := hook.all()[1]; res.PreviousStatus != "STOP" || !res.StartedAt.Equal(hook.all()[0].StartedAt) {
		t.Errorf("resolved message %+v", res.Event)
	}
	t.Logf("orders' statuses: %s", strings.Join(sink.changes("mm/orders", start), ", "))
	if !strings.Contains(other.logs.String(), "incidents taken over with their units from the shared state") {
		t.Errorf("no takeover in the new owner's log")
	}
}
