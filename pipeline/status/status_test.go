package status

import (
	"testing"
	"time"

	"github.com/lagship/lagship/pipeline"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// obs is one observation in a rule case: committed offset, log end and
// active members (-1 unknown).
type obs struct {
	c, end  int64
	members int
}

// run feeds a partition one observation per step and returns the last
// result.
func run(r Rules, step time.Duration, seq []obs) Result {
	var p partition
	var res Result
	for i, o := range seq {
		res = p.observe(Observation{At: t0.Add(time.Duration(i) * step), Committed: o.c, LogEnd: o.end, Members: o.members}, r)
	}
	return res
}

// steady returns n observations where both offsets move by dc and dend a
// step, from c and end.
func steady(n int, c, dc, end, dend int64, members int) []obs {
	out := make([]obs, n)
	for i := range out {
		out[i] = obs{c + int64(i)*dc, end + int64(i)*dend, members}
	}
	return out
}

// TestRules is the rule table. Cases marked "Burrow" re-state the cases of
// Burrow's evaluator tests in lagship's terms: Burrow sees every commit
// with its timestamp, lagship sees the committed offset once a tick, so
// "the consumer stopped committing" (Burrow's STOP, told apart from STALL
// by commit timestamps) becomes "the committed offset did not move", and
// STALL or STOP is decided by the group's membership instead.
func TestRules(t *testing.T) {
	w := Rules{Window: 10 * time.Second}
	tests := []struct {
		name  string
		rules Rules
		seq   []obs
		want  Status
	}{
		// Burrow: all lag zero -> OK.
		{"Burrow: no lag at all", w, steady(11, 100, 10, 100, 10, 1), OK},
		// Burrow: lag zero at one point of the window -> OK.
		{"Burrow: lag zero once in the window", w, append(steady(6, 100, 10, 120, 12, 1), obs{180, 180, 1}, obs{190, 200, 1}, obs{200, 215, 1}, obs{210, 230, 1}), OK},
		// Burrow: offsets move, lag grows -> WARN.
		{"Burrow: falling behind", w, steady(11, 100, 10, 110, 20, 1), WARN},
		// Burrow: offsets move, lag constant and not zero -> WARN (never
		// decreasing).
		{"Burrow: constant lag", w, steady(11, 100, 10, 150, 10, 1), WARN},
		// Burrow: lag decreasing -> OK.
		{"Burrow: catching up", w, steady(11, 100, 20, 300, 10, 1), OK},
		// Burrow: offsets do not move, lag not zero, consumer gone -> STOP.
		{"Burrow: stopped", w, steady(11, 100, 0, 200, 5, 0), STOP},
		// Burrow: offsets do not move but the consumer is there -> STALL.
		{"Burrow: stalled", w, steady(11, 100, 0, 200, 5, 2), STALL},
		// Burrow: offsets go back -> REWIND.
		{"Burrow: rewind", w, append(steady(5, 100, 10, 200, 10, 1), obs{50, 250, 1}, obs{60, 260, 1}), REWIND},
		// Burrow evaluates with a stopped but caught-up consumer as OK.
		{"Burrow: stopped at zero lag", w, steady(11, 100, 0, 100, 0, 0), OK},
		// lagship: membership unknown counts as no member.
		{"no offset movement, membership unknown", w, steady(11, 100, 0, 200, 5, -1), STOP},
		// lagship: the producers stopped too: flat lag, flat offsets,
		// members: STALL.
		{"flat everything with members", w, steady(11, 100, 0, 200, 0, 1), STALL},
		// A rewound partition that came back above its high mark is not
		// REWIND (and its lag fell since: OK).
		{"rewind recovered", w, append(steady(3, 100, 10, 200, 10, 1), obs{50, 230, 1}, obs{125, 240, 1}, obs{135, 250, 1}), OK},
		// A rewind older than the window is forgotten.
		{"rewind out of the window", w, append([]obs{{100, 200, 1}, {50, 200, 1}}, steady(12, 60, 10, 210, 20, 1)...), WARN},
		// Completeness: two observations cannot be STOP.
		{"too early for STOP", w, steady(2, 100, 0, 200, 0, 0), WARN},
		// Completeness: 3 observations spanning half the window can.
		{"STOP after half a window", w, steady(6, 100, 0, 200, 0, 0), STOP},
		{"one observation over the allowed lag", w, steady(1, 100, 0, 200, 0, 1), Unknown},
		{"one observation at zero lag", w, steady(1, 100, 0, 100, 0, 1), OK},
		{"allowed lag", Rules{Window: 10 * time.Second, AllowedLag: 50}, steady(11, 100, 10, 140, 11, 1), OK},
		{"no committed offset", w, steady(5, -1, 0, 200, 10, 1), Unknown},
		// Thresholds on time lag: the producer writes 10 records a second
		// and the committed offset is 100 records behind, so ~10 s.
		{"err_time_lag", Rules{Window: 10 * time.Second, ErrTimeLag: 5 * time.Second}, steady(30, 0, 10, 100, 10, 1), ERR},
		{"warn_time_lag lifts OK", Rules{Window: 10 * time.Second, WarnTimeLag: 5 * time.Second}, steady(30, 0, 11, 100, 10, 1), WARN},
		{"thresholds never lower", Rules{Window: 10 * time.Second, WarnTimeLag: time.Second}, steady(30, 0, 0, 100, 10, 0), STOP},
		// A rewind inside a falling-behind window is REWIND (more severe
		// than WARN).
		{"rewind while falling behind", w, append(steady(5, 100, 10, 200, 30, 1), obs{90, 350, 1}), REWIND},
		// Stuck for a window after a rewind, members alive: STALL (a rewind
		// is a move of the committed offset, so the two cannot hold in the
		// same window).
		{"stuck after a rewind", w, append([]obs{{100, 200, 1}, {90, 205, 1}}, steady(12, 90, 0, 210, 5, 1)...), STALL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(tt.rules, time.Second, tt.seq).Status; got != tt.want {
				t.Errorf("status %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTimeLag: with steady production the estimate is within one interval
// and a second of the truth once the table spans the committed offset;
// exactly 0 when nothing is left to mirror; extrapolated (and said so)
// beyond the oldest point; unknown with one point.
func TestTimeLag(t *testing.T) {
	const rate = 10 // records per second
	var p partition
	r := Rules{Window: time.Minute}
	// The producer appended record k at k/rate seconds; the mirror stays
	// 50 records (5 s) behind from t = 10 s on.
	var res Result
	for s := 0; s <= 120; s++ {
		end := int64(s * rate)
		c := max(end-50, 0)
		res = p.observe(Observation{At: t0.Add(time.Duration(s) * time.Second), Committed: c, LogEnd: end, Members: 1}, r)
		if s > 10 {
			truth := 5 * time.Second
			if !res.HasTimeLag || res.Extrapolated || absDur(res.TimeLag-truth) > 2*time.Second {
				t.Fatalf("t=%ds: time lag %v (ok %v, extrapolated %v), want %v ± 1 interval + 1 s", s, res.TimeLag, res.HasTimeLag, res.Extrapolated, truth)
			}
		}
	}
	if res.Status != WARN {
		t.Errorf("status %v: constant lag is WARN", res.Status)
	}
	// Caught up: exactly 0.
	res = p.observe(Observation{At: t0.Add(121 * time.Second), Committed: 1210, LogEnd: 1210, Members: 1}, r)
	if !res.HasTimeLag || res.TimeLag != 0 {
		t.Errorf("caught up: %+v", res)
	}
	// One point: unknown.
	var q partition
	res = q.observe(Observation{At: t0, Committed: 5, LogEnd: 10, Members: 1}, r)
	if res.HasTimeLag {
		t.Errorf("one point: %+v", res)
	}
	// Older than the table: extrapolated at the table's rate.
	var e partition
	for s := 0; s < 5; s++ {
		res = e.observe(Observation{At: t0.Add(time.Duration(s) * time.Second), Committed: 0, LogEnd: 1000 + int64(s*rate), Members: 1}, r)
	}
	// Record 0 is 1000 records before the first point, 100 s at 10/s,
	// observed 4 s later.
	if !res.HasTimeLag || !res.Extrapolated || absDur(res.TimeLag-104*time.Second) > time.Second {
		t.Errorf("extrapolated: %+v, want ~104s", res)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestTableBounded: however long it runs, the table keeps at most
// TablePoints points and still brackets the committed offset of a mirror
// that stopped long ago.
func TestTableBounded(t *testing.T) {
	var p partition
	r := Rules{Window: time.Minute}
	var res Result
	for s := 0; s < 10000; s++ {
		res = p.observe(Observation{At: t0.Add(time.Duration(s) * time.Second), Committed: 100, LogEnd: 100 + int64(s), Members: 0}, r)
		if p.table.n > TablePoints {
			t.Fatalf("table grew to %d", p.table.n)
		}
	}
	// Record 100 was appended between s=0 and s=1: the time lag is ~9999 s.
	if !res.HasTimeLag || absDur(res.TimeLag-9999*time.Second) > 2*time.Second {
		t.Errorf("time lag %v after a long stop, want ~9999s", res.TimeLag)
	}
	if res.Status != STOP {
		t.Errorf("status %v", res.Status)
	}
}

// TestEvaluator: a topic is its worst partition; documents carry status and
// max_time_lag; Configure with new rules starts the mirror again; lag-only
// samples are judged by lag.
func TestEvaluator(t *testing.T) {
	e := New(Rules{Window: 4 * time.Second})
	target := pipeline.Target{Mirror: "m", Topic: "t"}
	var doc pipeline.Doc
	for s := 0; s < 6; s++ {
		sample := pipeline.SampleFromOffsets([]int64{int64(10 * s), 100, pipeline.UnknownOffset}, []int64{int64(10 * s), int64(200 + 10*s), 50})
		sample.Members = &pipeline.Membership{State: "Stable", Active: 1, Owned: []bool{true, true, false}}
		doc = pipeline.NewDoc(t0.Add(time.Duration(s)*time.Second), target, sample)
		e.Process(doc.Timestamp, target, sample, &doc)
	}
	// p0 caught up (OK), p1 stuck with an owner (STALL), p2 no committed
	// offset (no status).
	if doc.Status != "STALL" || !doc.HasTimeLag || doc.MaxTimeLag <= 0 {
		t.Fatalf("doc status %q time lag %v (%v)", doc.Status, doc.MaxTimeLag, doc.HasTimeLag)
	}
	g := e.Generation()
	snap := e.Snapshot()
	if e.Generation() != g || len(e.Latest()) != 1 || e.Latest()[0].History != nil || len(snap[0].History) != 6 {
		t.Fatalf("reading changed the generation (%d → %d), or Latest carries a history / Snapshot lacks it", g, e.Generation())
	}
	if len(snap) != 1 || snap[0].Partitions[0].Status != OK || snap[0].Partitions[1].Status != STALL || snap[0].Partitions[2].Status != Unknown {
		t.Fatalf("snapshot %+v", snap)
	}
	if got := Mirrors(snap)["m"]; got != STALL {
		t.Errorf("mirror status %v", got)
	}
	e.Configure("m", Rules{Window: 4 * time.Second}) // unchanged: state kept
	if len(e.Snapshot()) != 1 {
		t.Error("unchanged rules reset the mirror")
	}
	if e.Generation() != g {
		t.Error("unchanged rules changed the generation")
	}
	e.Configure("m", Rules{Window: 8 * time.Second})
	if e.Generation() == g {
		t.Error("changed rules kept the generation")
	}
	if len(e.Snapshot()) != 0 {
		t.Error("changed rules kept the old state")
	}
	// A lag-only sample (no offsets): judged by its lags.
	lagOnly := pipeline.Sample{Lags: []int64{0, 0}}
	d := pipeline.NewDoc(t0, target, lagOnly)
	g = e.Generation()
	e.Process(t0, target, lagOnly, &d)
	if e.Generation() == g {
		t.Error("a sample kept the generation")
	}
	if d.Status != "OK" || !d.HasTimeLag || d.MaxTimeLag != 0 {
		t.Errorf("lag-only doc %q %v %v", d.Status, d.MaxTimeLag, d.HasTimeLag)
	}
}

func TestParse(t *testing.T) {
	for s := OK; s <= STOP; s++ {
		got, err := Parse(s.String())
		if err != nil || got != s {
			t.Errorf("Parse(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := Parse("warning"); err == nil {
		t.Error("Parse accepted warning")
	}
	if OK >= WARN || WARN >= ERR || ERR >= REWIND || REWIND >= STALL || STALL >= STOP {
		t.Error("severity order broken")
	}
}
