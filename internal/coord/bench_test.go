package coord

import (
	"fmt"
	"testing"
)

// BenchmarkAssign100x100k: 100 agents, 100,000 units of weight 1 to 64.
// Reported: the time of one plan after one agent left (sticky input),
// the units that moved and the load spread.
func BenchmarkAssign100x100k(b *testing.B) {
	const agents, n = 100, 100_000
	us := make([]Unit, n)
	for i := range us {
		us[i] = Unit{Key: fmt.Sprintf("mirror%03d/topic%06d", i%300, i), Weight: 1 + (i*7919)%64}
	}
	ms := make([]Candidate, agents)
	for i := range ms {
		ms[i] = Candidate{ID: fmt.Sprintf("agent-%03d", i), Hash: "h"}
	}
	first := Assign(ms, us, "h")
	for i := range ms {
		ms[i].Owned = first[ms[i].ID]
	}
	left := ms[1:] // agent-000 leaves
	var plan map[string][]string
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan = Assign(left, us, "h")
	}
	b.StopTimer()
	moved := 0
	for _, m := range left {
		was := map[string]bool{}
		for _, k := range m.Owned {
			was[k] = true
		}
		for _, k := range plan[m.ID] {
			if !was[k] {
				moved++
			}
		}
	}
	loads := loadOf(plan, us)
	lo, hi, total := 1<<60, 0, 0
	for _, m := range left {
		lo, hi = min(lo, loads[m.ID]), max(hi, loads[m.ID])
		total += loads[m.ID]
	}
	b.ReportMetric(float64(moved), "moved")
	b.ReportMetric(float64(len(first[ms[0].ID])), "orphaned")
	b.ReportMetric(float64(hi-lo), "spread-weight")
	b.ReportMetric(float64(total)/float64(len(left)), "mean-weight")
}

// BenchmarkAssignFresh100x100k is the first plan of a group (no owner).
func BenchmarkAssignFresh100x100k(b *testing.B) {
	us := make([]Unit, 100_000)
	for i := range us {
		us[i] = Unit{Key: fmt.Sprintf("mirror%03d/topic%06d", i%300, i), Weight: 1 + (i*7919)%64}
	}
	ms := make([]Candidate, 100)
	for i := range ms {
		ms[i] = Candidate{ID: fmt.Sprintf("agent-%03d", i), Hash: "h"}
	}
	for i := 0; i < b.N; i++ {
		Assign(ms, us, "h")
	}
}
