package status

import (
	"testing"

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
