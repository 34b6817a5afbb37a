package status

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lagship/lagship/pipeline"
)

// Evaluator judges every topic it is shown, keeping each partition's state
// between ticks. It is a pipeline.Processor: Process sets the document's
// status and max time lag. Safe for concurrent use by every topic's worker.
type Evaluator struct {
	mu     sync.Mutex
	def    Rules
	rules  map[string]Rules // per mirror, when it differs from def
	topics map[topicKey]*topicState
	// order is topics sorted by key, for snapshots; nil when topics
	// changed since. A new order is a new slice: a snapshot reads its
	// copy without the lock.
	order []keyedState
	// sweepAt is the tick (Unix nanoseconds) from which the next Process
	// drops the topics not seen for three windows.
	sweepAt atomic.Int64
	// gen counts changes to what Snapshot returns, so that readers
	// (a /metrics scrape) can tell that nothing changed since they last
	// looked. It is increased after each change is in place.
	gen atomic.Uint64
}

type topicKey struct{ mirror, topic string }

type keyedState struct {
	k  topicKey
	ts *topicState
}

type topicState struct {
	mu      sync.Mutex
	gone    bool // dropped from the evaluator: a bound topic looks it up again
	rules   Rules
	parts   []partition
	last    TopicStatus
	seenAt  time.Time
	history [HistoryLen]int64 // total lag of the latest ticks, a ring
	hlen    int
	hnext   int
}

// HistoryLen is how many ticks of total lag a topic keeps for trends.
const HistoryLen = 60

// TopicStatus is a topic's latest judgement.
type TopicStatus struct {
	Target     pipeline.Target
	At         time.Time
	Status     Status
	Partitions []Result
	// MaxTimeLag is the largest known partition time lag; valid when
	// HasTimeLag.
	MaxTimeLag time.Duration
	HasTimeLag bool
	// TotalLag and MaxLag over partitions with a known lag; Known counts
	// them.
	TotalLag, MaxLag int64
	Known            int
	// History is the total lag of the latest ticks, oldest first (at most
	// HistoryLen).
	History []int64
}

// New returns an evaluator with def as every mirror's rules until
// Configure says otherwise.
func New(def Rules) *Evaluator {
	return &Evaluator{def: def, rules: map[string]Rules{}, topics: map[topicKey]*topicState{}}
}

// Configure sets a mirror's rules. When they change, the mirror's state
// starts again (its window has to be observed anew).
func (e *Evaluator) Configure(mirror string, r Rules) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old, ok := e.rules[mirror]
	if !ok {
		old = e.def
	}
	e.rules[mirror] = r
	if old == r {
		return
	}
	for k, ts := range e.topics {
		if k.mirror == mirror {
			e.dropLocked(k, ts)
		}
	}
	e.gen.Add(1)
}

// dropLocked removes a topic's state; a worker bound to it makes a new one
// at its next tick.
func (e *Evaluator) dropLocked(k topicKey, ts *topicState) {
	ts.mu.Lock()
	ts.gone = true
	ts.mu.Unlock()
	delete(e.topics, k)
	e.order = nil
}

// Forget drops a topic's state at once (its collection moved to another
// agent of a group, which judges it from then on).
func (e *Evaluator) Forget(mirror, topic string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := topicKey{mirror, topic}
	if ts, ok := e.topics[k]; ok {
		e.dropLocked(k, ts)
		e.gen.Add(1)
	}
}

// Generation changes whenever what Snapshot returns may have changed (a
// sample observed, a topic forgotten, rules changed). Read it before
// Snapshot: the snapshot is then at least as new as the generation.
func (e *Evaluator) Generation() uint64 { return e.gen.Load() }

// Process implements pipeline.Processor.
func (e *Evaluator) Process(tick time.Time, target pipeline.Target, s pipeline.Sample, doc *pipeline.Doc) {
	var b bound
	b.e = e
	b.Process(tick, target, s, doc)
}

// Bind implements pipeline.Binder: the topic's worker keeps the topic's
// state at hand instead of looking it up among all topics at every tick.
func (e *Evaluator) Bind(pipeline.Target) pipeline.Processor { return &bound{e: e} }

// bound is one topic's processor; its state is looked up again when the
// evaluator dropped it (Forget, Configure, a sweep).
type bound struct {
	e  *Evaluator
	ts *topicState
}

// Process implements pipeline.Processor.
func (b *bound) Process(tick time.Time, target pipeline.Target, s pipeline.Sample, doc *pipeline.Doc) {
	e := b.e
	e.maybeSweep(tick)
	for {
		if b.ts == nil {
			b.ts = e.state(target)
		}
		if b.ts.observe(tick, &target, &s, doc) {
			break
		}
		b.ts = nil
	}
	e.gen.Add(1)
}

// sweepEvery is how often, in tick time, topics not seen for three
// windows are dropped.
const sweepEvery = time.Minute

// maybeSweep drops stale topics once per sweepEvery of tick time.
func (e *Evaluator) maybeSweep(tick time.Time) {
	at := e.sweepAt.Load()
	now := tick.UnixNano()
	if now < at || !e.sweepAt.CompareAndSwap(at, now+int64(sweepEvery)) {
		return
	}
	if at == 0 {
		return // the first tick: nothing is stale yet
	}
	e.mu.Lock()
	e.sweepLocked(tick)
	e.mu.Unlock()
}

// state returns the topic's state, made on first use.
func (e *Evaluator) state(target pipeline.Target) *topicState {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := topicKey{target.Mirror, target.Topic}
	ts := e.topics[k]
	if ts == nil {
		r, ok := e.rules[target.Mirror]
		if !ok {
			r = e.def
		}
		ts = &topicState{rules: r}
		e.topics[k] = ts
		e.order = nil
	}
	return ts
}

// observe records a sample and sets the topic's judgement in ts.last and
// doc; false when the state was dropped from the evaluator meanwhile.
// Everything is passed and kept by reference: this runs under each topic's
// worker at every tick, so its frame is part of 10,000 goroutine stacks.
func (ts *topicState) observe(tick time.Time, target *pipeline.Target, s *pipeline.Sample, doc *pipeline.Doc) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.gone {
		return false
	}
	ts.seenAt = tick
	n := len(s.Lags)
	if len(ts.parts) != n {
		grown := make([]partition, n)
		copy(grown, ts.parts)
		ts.parts = grown
	}
	// The partitions' results are written over the previous tick's: a
	// snapshot copies them (at a scrape), rather than every tick allocating
	// them anew.
	parts := ts.last.Partitions
	if cap(parts) < n {
		parts = make([]Result, n)
	}
	ts.last = TopicStatus{Target: *target, At: tick, Partitions: parts[:n]}
	out := &ts.last
	for p := range n {
		o := Observation{At: tick, Committed: s.CommittedAt(p), LogEnd: s.LogEndAt(p), Members: members(s.Members, p)}
		if s.Committed == nil {
			// A source that knows only lags: judge the lag against a
			// log end of lag and a committed offset of 0.
			if l := s.Lags[p]; l >= 0 {
				o.Committed, o.LogEnd = 0, l
			}
		}
		r := ts.parts[p].observe(o, ts.rules)
		r.Lag, r.Committed, r.LogEnd = s.Lags[p], s.CommittedAt(p), s.LogEndAt(p)
		if r.Lag >= 0 {
			out.TotalLag += r.Lag
			out.MaxLag = max(out.MaxLag, r.Lag)
			out.Known++
		}
		out.Partitions[p] = r
		out.Status = Worse(out.Status, r.Status)
		if r.HasTimeLag && (!out.HasTimeLag || r.TimeLag > out.MaxTimeLag) {
			out.MaxTimeLag, out.HasTimeLag = r.TimeLag, true
		}
	}
	ts.history[ts.hnext] = out.TotalLag
	ts.hnext = (ts.hnext + 1) % HistoryLen
	ts.hlen = min(ts.hlen+1, HistoryLen)
	if out.Status != Unknown {
		doc.Status = out.Status.String()
	}
	if out.HasTimeLag {
		doc.MaxTimeLag = math.Round(out.MaxTimeLag.Seconds()*1000) / 1000
		doc.HasTimeLag = true
	}
	return true
}

// historyLocked copies the ring, oldest first.
func (ts *topicState) historyLocked() []int64 {
	out := make([]int64, 0, ts.hlen)
	start := (ts.hnext - ts.hlen + HistoryLen) % HistoryLen
	for i := range ts.hlen {
		out = append(out, ts.history[(start+i)%HistoryLen])
	}
	return out
}

// members is what the membership says of partition p: active members that
// own it (or the group's when ownership is unknown), -1 when unknown.
func members(m *pipeline.Membership, p int) int {
	switch {
	case m == nil:
		return -1
	case m.Owned != nil && p < len(m.Owned):
		if m.Owned[p] {
			return max(m.Active, 1)
		}
		return 0
	}
	return m.Active
}

// sweepLocked forgets topics not seen for three windows (removed from the
// config), so memory follows the config.
func (e *Evaluator) sweepLocked(now time.Time) {
	for k, ts := range e.topics {
		ts.mu.Lock()
		stale := now.Sub(ts.seenAt) > 3*ts.rules.Window
		ts.mu.Unlock()
		if stale {
			e.dropLocked(k, ts)
			e.gen.Add(1)
		}
	}
}

// Snapshot returns every topic's latest judgement, sorted by mirror and
// topic, with the recent history of its total lag.
func (e *Evaluator) Snapshot() []TopicStatus { return e.snapshot(true) }

// Latest is Snapshot without the history (for /metrics, which has no use
// for it).
func (e *Evaluator) Latest() []TopicStatus { return e.snapshot(false) }

func (e *Evaluator) snapshot(history bool) []TopicStatus {
	// The states are kept sorted by their keys (the target's mirror and
	// topic) while the set of topics does not change, rather than their
	// judgements sorted at every snapshot.
	e.mu.Lock()
	if e.order == nil {
		order := make([]keyedState, 0, len(e.topics))
		for k, ts := range e.topics {
			order = append(order, keyedState{k, ts})
		}
		slices.SortFunc(order, func(a, b keyedState) int {
			if c := strings.Compare(a.k.mirror, b.k.mirror); c != 0 {
				return c
			}
			return strings.Compare(a.k.topic, b.k.topic)
		})
		e.order = order
	}
	states := e.order
	e.mu.Unlock()
	out := make([]TopicStatus, 0, len(states))
	// The partitions are copied, into one allocation for the snapshot's
	// topics (sized first; a topic that grew meanwhile gets its own): a
	// topic's state reuses its own from tick to tick.
	total := 0
	for _, s := range states {
		s.ts.mu.Lock()
		total += len(s.ts.last.Partitions)
		s.ts.mu.Unlock()
	}
	slab := make([]Result, total)
	for _, s := range states {
		ts := s.ts
		ts.mu.Lock()
		if !ts.last.At.IsZero() {
			last := ts.last
			n := len(last.Partitions)
			if len(slab) < n {
				slab = make([]Result, n)
			}
			last.Partitions, slab = slab[:n:n], slab[n:]
			copy(last.Partitions, ts.last.Partitions)
			if history {
				last.History = ts.historyLocked()
			}
			out = append(out, last)
		}
		ts.mu.Unlock()
	}
	return out
}

// Mirrors returns each mirror's status: its worst topic's.
func Mirrors(topics []TopicStatus) map[string]Status {
	out := map[string]Status{}
	for _, t := range topics {
		out[t.Target.Mirror] = Worse(out[t.Target.Mirror], t.Status)
	}
	return out
}
