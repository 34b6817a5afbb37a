package kafka

import (
	"math"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

// TestStatusScenarios drives the status evaluator with what the native
// source sees of real groups on kfake: one tick a (synthetic) second, a
// window of 5 s. Each scenario must reach its status within one window + 2
// ticks and keep it to the end. The stalled group has a live kafka-go
// member that joined and heartbeats but never commits; the stopped one has
// no member at all.
func TestStatusScenarios(t *testing.T) {
	const window = 5 * time.Second
	const ticks = 12
	type scenario struct {
		topic, group string
		want         status.Status
		start        func() // before the first tick
		step         func(i int)
		committed    int64
	}
	f := newFakeKafka(t, nil, kfake.SeedTopics(1, "ok", "behind", "catchup", "stall", "stop", "rewind"))
	var sc []*scenario
	add := func(s *scenario) { sc = append(sc, s) }
	commit := func(s *scenario, o int64) {
		s.committed = o
		f.commit(t, s.group, map[string]map[int]int64{s.topic: {0: o}})
	}
	ok := &scenario{topic: "ok", group: "g-ok", want: status.OK}
	ok.start = func() { f.produce(t, "ok", 0, 3); commit(ok, 3) }
	ok.step = func(i int) { f.produce(t, "ok", 0, 3); commit(ok, int64(3*(i+2))) }
	add(ok)
	behind := &scenario{topic: "behind", group: "g-behind", want: status.WARN}
	behind.start = func() { commit(behind, 0) }
	behind.step = func(i int) { f.produce(t, "behind", 0, 10); commit(behind, int64(5*i)) }
	add(behind)
	catchup := &scenario{topic: "catchup", group: "g-catchup", want: status.OK}
	catchup.start = func() { f.produce(t, "catchup", 0, 200); commit(catchup, 0) }
	catchup.step = func(i int) { f.produce(t, "catchup", 0, 5); commit(catchup, int64(15*(i+1))) }
	add(catchup)
	stall := &scenario{topic: "stall", group: "g-stall", want: status.STALL}
	stall.start = func() { f.produce(t, "stall", 0, 10); commit(stall, 2) }
	stall.step = func(int) { f.produce(t, "stall", 0, 5) }
	add(stall)
	stop := &scenario{topic: "stop", group: "g-stop", want: status.STOP}
	stop.start = func() { f.produce(t, "stop", 0, 10); commit(stop, 2) }
	stop.step = func(int) { f.produce(t, "stop", 0, 5) }
	add(stop)
	rewind := &scenario{topic: "rewind", group: "g-rewind", want: status.REWIND}
	rewind.start = func() { f.produce(t, "rewind", 0, 100); commit(rewind, 50) }
	rewind.step = func(i int) {
		f.produce(t, "rewind", 0, 10)
		switch {
		case i < 3:
			commit(rewind, int64(50+10*i))
		case i == 3:
			commit(rewind, 20) // reset to an older offset
		default:
			commit(rewind, int64(20+i))
		}
	}
	add(rewind)

	for _, s := range sc {
		s.start()
	}
	// The stalled group's member: joined, heartbeating, never committing.
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: f.addrs, GroupID: "g-stall", Topic: "stall",
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RebalanceTimeout: 2 * time.Second, MaxWait: 100 * time.Millisecond,
	})
	t.Cleanup(func() { r.Close() })

	c := newTestCluster(t, f, nil)
	for _, s := range sc {
		defer c.WatchGroup(s.group, s.topic)()
	}
	awaitMembers(t, c, "g-stall", "stall", "the member to join", stableWith(1))

	ev := status.New(status.Rules{Window: window})
	first := map[string]int{}
	final := map[string]status.Status{}
	base := 100 // synthetic ticks after those awaitMembers used
	for i := 0; i < ticks; i++ {
		tick := tickAt(base + i)
		for _, s := range sc {
			s.step(i)
		}
		for _, s := range sc {
			smp, err := c.Source(s.group).Collect(testCtx(t), tick, s.topic)
			if err != nil {
				t.Fatalf("tick %d %s: %v", i, s.topic, err)
			}
			target := pipeline.Target{Mirror: "m", Topic: s.topic, Group: s.group}
			doc := pipeline.NewDoc(tick, target, smp)
			ev.Process(tick, target, smp, &doc)
			got, _ := status.Parse(doc.Status)
			if got == s.want {
				if _, seen := first[s.topic]; !seen {
					first[s.topic] = i
				}
			}
			final[s.topic] = got
			if s.topic == "behind" && i >= 3 {
				// Records [10i, 10i+10) were appended at tick i; the one
				// at committed 5i at tick i/2.
				truth := float64(i - (5*i)/10)
				if !doc.HasTimeLag || math.Abs(doc.MaxTimeLag-truth) > 2 {
					t.Errorf("tick %d: time lag %v (known %v), truth %v s: want within one interval + 1 s", i, doc.MaxTimeLag, doc.HasTimeLag, truth)
				}
			}
		}
	}
	limit := int(window/time.Second) + 2
	for _, s := range sc {
		at, reached := first[s.topic]
		t.Logf("%-8s %-6s reached at tick %d (limit %d), final %s", s.topic, s.want, at, limit, final[s.topic])
		if !reached || at > limit {
			t.Errorf("%s: %s reached at tick %d (reached %v), want within %d ticks", s.topic, s.want, at, reached, limit)
		}
		if final[s.topic] != s.want && s.topic != "rewind" {
			t.Errorf("%s: final status %s, want %s", s.topic, final[s.topic], s.want)
		}
	}
}
