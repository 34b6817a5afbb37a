package status

import (
	"testing"
	"time"

	"github.com/lagship/lagship/pipeline"
)

func TestForget(t *testing.T) {
	e := New(Rules{Window: 4e9})
	for _, topic := range []string{"a", "b"} {
		target := pipeline.Target{Mirror: "m", Topic: topic}
		s := pipeline.SampleFromOffsets([]int64{1}, []int64{2})
		d := pipeline.NewDoc(t0, target, s)
		e.Process(t0, target, s, &d)
	}
	g := e.Generation()
	e.Forget("m", "nope")
	if e.Generation() != g {
		t.Error("forgetting an unknown topic changed the generation")
	}
	e.Forget("m", "a")
	snap := e.Snapshot()
	if len(snap) != 1 || snap[0].Target.Topic != "b" || e.Generation() == g {
		t.Errorf("after Forget: %d topics, generation %d → %d", len(snap), g, e.Generation())
	}
}

// TestBoundTopic: a topic's bound processor judges as Process does, and
// after its state is dropped (Forget, changed rules, a sweep of topics
// unseen for three windows) it starts a new state at its next tick rather
// than write into the dropped one.
func TestBoundTopic(t *testing.T) {
	e := New(Rules{Window: 4 * time.Second})
	a := pipeline.Target{Mirror: "m", Topic: "a"}
	b := pipeline.Target{Mirror: "m", Topic: "b"}
	pa := e.Bind(a)
	stuck := pipeline.SampleFromOffsets([]int64{10}, []int64{20})
	tick := func(p pipeline.Processor, target pipeline.Target, at time.Time) string {
		d := pipeline.NewDoc(at, target, stuck)
		p.Process(at, target, stuck, &d)
		return d.Status
	}
	var last string
	for s := range 4 {
		last = tick(pa, a, t0.Add(time.Duration(s)*time.Second))
	}
	if last != "STOP" {
		t.Fatalf("bound topic after 4 stuck ticks: %q, want STOP", last)
	}
	seen := func(topic string) bool {
		for _, ts := range e.Latest() {
			if ts.Target.Topic == topic {
				return true
			}
		}
		return false
	}

	e.Forget("m", "a")
	if seen("a") {
		t.Fatal("forgotten topic still listed")
	}
	// A new window: one observation over the allowed lag has no status.
	if got := tick(pa, a, t0.Add(4*time.Second)); got != "" || !seen("a") {
		t.Errorf("after Forget: status %q, listed %v; want a fresh state", got, seen("a"))
	}

	e.Configure("m", Rules{Window: 8 * time.Second})
	if got := tick(pa, a, t0.Add(5*time.Second)); got != "" || !seen("a") {
		t.Errorf("after new rules: status %q, listed %v; want a fresh state", got, seen("a"))
	}

	// b is seen once; a goes on ticking. After three windows (24 s) and
	// a sweep period, b is dropped and a is kept.
	tick(e.Bind(b), b, t0.Add(6*time.Second))
	for s := 7; s <= 7+90; s++ {
		tick(pa, a, t0.Add(time.Duration(s)*time.Second))
	}
	if seen("b") || !seen("a") {
		t.Errorf("after 90 s: b listed %v (want dropped), a listed %v (want kept)", seen("b"), seen("a"))
	}
}
