package pipeline

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Task is one mirrored topic to collect on its own interval.
type Task struct {
	Target   Target
	Interval time.Duration
	Source   Source
}

// Key identifies a task across config reloads.
func (t Task) Key() string { return t.Target.Mirror + "/" + t.Target.Topic }

// Stats counts what the workers did. All fields are read with atomics.
type Stats struct {
	Ticks       atomic.Int64 // collections started
	Missed      atomic.Int64 // ticks skipped because the previous one ran late
	Docs        atomic.Int64 // documents handed to the sink
	Errors      atomic.Int64 // collections that failed
	States      atomic.Int64 // collections that ended in a state (topic missing, ...)
	SinkErrors  atomic.Int64 // Write calls that failed
	LastCollect atomic.Int64 // duration of the last collection, nanoseconds
	LastTick    atomic.Int64 // when the last collection ended, Unix nanoseconds
	Failing     atomic.Int64 // topics whose collection is failing or in a state now (a gauge)
}

// StatsSnapshot is the value of Stats at one moment.
type StatsSnapshot struct {
	Ticks, Missed, Docs, Errors, States, SinkErrors, Failing int64
}

// Snapshot reads every counter.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{Ticks: s.Ticks.Load(), Missed: s.Missed.Load(), Docs: s.Docs.Load(), Errors: s.Errors.Load(),
		States: s.States.Load(), SinkErrors: s.SinkErrors.Load(), Failing: s.Failing.Load()}
}

// Sub is the counts since prev (Failing stays the gauge's current value).
func (s StatsSnapshot) Sub(prev StatsSnapshot) StatsSnapshot {
	return StatsSnapshot{Ticks: s.Ticks - prev.Ticks, Missed: s.Missed - prev.Missed, Docs: s.Docs - prev.Docs,
		Errors: s.Errors - prev.Errors, States: s.States - prev.States, SinkErrors: s.SinkErrors - prev.SinkErrors, Failing: s.Failing}
}

// NextTick returns the first tick strictly after now, aligned to every on the
// wall clock (UTC), so that workers on the same interval share timestamps.
func NextTick(now time.Time, every time.Duration) time.Time {
	return now.Truncate(every).Add(every)
}

// Processor is the stage between collecting and writing: it sees every
// sample of a topic, in tick order, with the document made from it, before
// the sink does, and may add to the document. The status evaluator sits
// here. Process is called from the topic's worker goroutine; one Processor
// serves every topic, so it must be safe for concurrent use across topics.
type Processor interface {
	Process(tick time.Time, target Target, s Sample, doc *Doc)
}

// Binder is a Processor that keeps state per topic: Bind returns the
// processor of one topic, which that topic's worker calls instead, so that
// a tick costs no lookup of the topic among all the others (and no lock
// shared with them). The bound processor is used by one goroutine only.
type Binder interface {
	Processor
	Bind(target Target) Processor
}

// bind returns p bound to target when p is a Binder.
func bind(p Processor, target Target) Processor {
	if b, ok := p.(Binder); ok {
		return b.Bind(target)
	}
	return p
}

// Processors runs several processors in order.
type Processors []Processor

// Process implements Processor.
func (ps Processors) Process(tick time.Time, target Target, s Sample, doc *Doc) {
	for _, p := range ps {
		p.Process(tick, target, s, doc)
	}
}

// Bind implements Binder: every processor that is a Binder is bound.
func (ps Processors) Bind(target Target) Processor {
	out := make(Processors, len(ps))
	for i, p := range ps {
		out[i] = bind(p, target)
	}
	return out
}

// Outcome is how a collection ended.
type Outcome uint8

// Outcomes of a collection.
const (
	// Collected: a sample was collected and its document written.
	Collected Outcome = iota
	// InState: the topic is in a state without a document (topic or
	// group missing, no committed offsets, source not ready).
	InState
	// Failed: the collection failed (broker, SSH, parse errors).
	Failed
)

// String names the outcome as metrics label it.
func (o Outcome) String() string {
	switch o {
	case Collected:
		return "collected"
	case InState:
		return "state"
	default:
		return "failed"
	}
}

// Observer hears of the end of every collection, for metrics (ticks and
// failed ticks per mirror, the duration of a collection). It is called from
// the topics' worker goroutines, so it must be safe for concurrent use, and
// cheap: it runs once per topic and tick. A collection cut short by a hard
// stop is not reported.
type Observer interface {
	Observe(target Target, took time.Duration, outcome Outcome)
}

// Worker runs one task until its context ends.
type Worker struct {
	Task Task
	// Process, when set, sees each sample before its document is written.
	Process Processor
	// Observe, when set, hears of every collection's end.
	Observe Observer
	// Late, when set, logs skipped ticks per mirror instead of the
	// worker logging its own.
	Late *Lateness
	// Ticked, when set, is set once the first collection has ended.
	Ticked *atomic.Bool
	Sink   Sink
	Log    zerolog.Logger
	Stats  *Stats
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// clock wakes the worker at its ticks, shared with the other workers
	// of its mirror when they run in a Group; nil: the worker's own.
	clock *clock
	// first, when set, is the first tick of the workers started with
	// this one: a worker whose goroutine starts after that tick has
	// passed collects it all the same, so that the first tick is whole.
	first time.Time
	// doc is the document being written (see write).
	doc [1]Doc
	// tagLog adds the task's mirror and topic to Log's lines.
	tagLog bool
}

// logger is the worker's logger. When tagLog is set, the mirror and topic
// are added at the first line the worker logs, not before: a zerolog
// logger with fields of its own holds about 650 B, and most of 10,000
// workers never log a line.
func (w *Worker) logger(rs *runState) *zerolog.Logger {
	if rs.untagged {
		rs.log = rs.log.With().Str("mirror", w.Task.Target.Mirror).Str("topic", w.Task.Target.Topic).Logger()
		rs.untagged = false
	}
	return &rs.log
}

// Run collects on every aligned tick until stop is done. An in-flight
// collection is never interrupted by stop: it ends, its document is written,
// and only then Run returns; a tick that has begun (see clock.begun) is
// collected too. work bounds the collection itself (and is what
// a hard shutdown cancels).
func (w *Worker) Run(stop, work context.Context) {
	rs := w.start(work)
	defer w.end(rs)
	w.loop(stop, work, rs)
}

// loop is Run's loop, apart from its setup so that its frame, which is
// under every collection's, stays small: a worker's stack is what its
// deepest tick needs, times 10,000 topics.
func (w *Worker) loop(stop, work context.Context, rs *runState) {
	for {
		gate := rs.clock.at(rs.next)
		select {
		case <-stop.Done():
			// Told to stop: a tick that has begun is collected all the
			// same, as every other topic of the mirror collects it, so
			// that a stop never leaves a tick half collected.
			if !rs.clock.begun(rs.next) {
				return
			}
			select {
			case <-gate:
			case <-work.Done():
				return
			}
		case <-gate:
		}
		start := rs.now()
		var err error
		state := w.collect(work, rs.next.UTC(), rs, &err)
		rs.next = w.settle(rs, state, err, rs.next, start)
	}
}

// start makes what the worker carries from tick to tick.
func (w *Worker) start(work context.Context) *runState {
	rs := &runState{log: w.Log, now: w.Now, clock: w.clock, untagged: w.tagLog}
	if rs.now == nil {
		rs.now = time.Now
	}
	rs.next = NextTick(rs.now(), w.Task.Interval)
	if !w.first.IsZero() && w.first.Before(rs.next) {
		rs.next = w.first
	}
	if w.Process != nil {
		rs.proc = bind(w.Process, w.Task.Target)
	}
	rs.into, _ = w.Task.Source.(BufferedSource)
	if rs.clock == nil {
		rs.clock = newClock(work, w.Task.Source)
		rs.ownClock = true
	}
	return rs
}

// end releases what start made.
func (w *Worker) end(rs *runState) {
	if rs.ownClock {
		rs.clock.stop()
	}
	if rs.lastState != "" && w.Stats != nil {
		w.Stats.Failing.Add(-1)
	}
}

// runState is what Run carries from tick to tick.
type runState struct {
	now      func() time.Time
	clock    *clock
	ownClock bool // made by start, stopped by end
	proc     Processor
	next     time.Time
	// into is the source when it collects into buf, the worker's
	// sample buffer.
	into BufferedSource
	buf  Buffer

	// log is Log, with the mirror and topic added at the first line
	// when untagged (see logger).
	log       zerolog.Logger
	untagged  bool
	lastState string
	lateTicks int64 // ticks skipped in the current late spell
}

// settle does what follows a collection (state-change logs, counters,
// skipped ticks) and returns the next tick; it is apart from loop to keep
// loop's frame small.
func (w *Worker) settle(rs *runState, state string, err error, next, start time.Time) time.Time {
	now := rs.now
	every := w.Task.Interval
	if state != rs.lastState {
		switch {
		case state == "":
			if rs.lastState != "" {
				w.logger(rs).Info().Str("previous", rs.lastState).Msg("collection recovered")
			}
		default:
			msg := "no document for this topic until the state changes"
			if errors.Is(err, ErrNoOffsets) {
				msg = "the group has committed nothing on this topic: its documents carry partition_count only (when the partitions are known) until it does"
			}
			w.logger(rs).Warn().Str("state", state).Str("reason", err.Error()).Msg(msg)
		}
		if w.Stats != nil && state != "canceled" && rs.lastState != "canceled" {
			switch {
			case rs.lastState == "" && state != "":
				w.Stats.Failing.Add(1)
			case rs.lastState != "" && state == "":
				w.Stats.Failing.Add(-1)
			}
		}
		rs.lastState = state
	} else if err != nil {
		w.logger(rs).Debug().Str("state", state).Str("reason", err.Error()).Msg("still no document")
	}
	if w.Ticked != nil && !w.Ticked.Load() {
		w.Ticked.Store(true)
	}
	end := now()
	took := end.Sub(start)
	if w.Stats != nil {
		w.Stats.LastCollect.Store(int64(took))
		w.Stats.LastTick.Store(end.UnixNano())
	}
	if w.Observe != nil && state != "canceled" {
		outcome := Collected
		switch {
		case state == "":
		case IsState(err):
			outcome = InState
		default:
			outcome = Failed
		}
		w.Observe.Observe(w.Task.Target, took, outcome)
	}
	// Skip ticks that passed while collecting; never pile them up.
	// The log says when a late spell starts and when it ends, not at
	// every late tick.
	after := NextTick(end, every)
	if w.Late != nil {
		after = w.Late.next(w.Task.Target.Mirror, every, next, end)
	}
	missed := int64(after.Sub(next)/every) - 1
	switch {
	case missed > 0:
		if w.Stats != nil {
			w.Stats.Missed.Add(missed)
		}
		if w.Late != nil {
			w.Late.skipped(w.Task.Target.Mirror, next, after, every, took)
		} else if rs.lateTicks == 0 {
			w.logger(rs).Warn().Int64("missed_ticks", missed).Dur("took", took).Dur("interval", every).Msg("collection took longer than the interval; skipping ticks until it keeps up (logged once)")
		}
		rs.lateTicks += missed
	case rs.lateTicks > 0:
		if w.Late != nil {
			w.Late.keptUp(w.Task.Target.Mirror, every)
		} else {
			w.logger(rs).Info().Int64("missed_ticks", rs.lateTicks).Dur("interval", every).Msg("collection keeps up with the interval again")
		}
		rs.lateTicks = 0
	}
	return after
}

// collect runs one tick and returns the state text ("" when a document was
// written) so that Run logs state changes once, not every tick.
func (w *Worker) collect(ctx context.Context, tick time.Time, rs *runState, lastErr *error) string {
	proc := rs.proc
	if w.Stats != nil {
		w.Stats.Ticks.Add(1)
	}
	var s Sample
	var err error
	if rs.into != nil {
		s, err = rs.into.CollectInto(ctx, tick, w.Task.Target.Topic, &rs.buf)
	} else {
		s, err = w.Task.Source.Collect(ctx, tick, w.Task.Target.Topic)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return "canceled"
		}
		if IsState(err) {
			if w.Stats != nil {
				w.Stats.States.Add(1)
			}
		} else if w.Stats != nil {
			w.Stats.Errors.Add(1)
		}
		*lastErr = err
		if errors.Is(err, ErrNoOffsets) && len(s.Lags) > 0 {
			// The topic's partitions are known: a document with
			// partition_count only says that the group has not started
			// on it.
			w.write(ctx, tick, s, proc, rs)
		}
		return stateKey(err)
	}
	w.write(ctx, tick, s, proc, rs)
	return ""
}

// write makes the sample's document, lets the processor see it, and hands
// it to the sink.
//
// The document is made in the worker's own slot rather than on the stack
// (see loop), and handed to the sink without a copy: a sink does not keep
// the slice it is given.
func (w *Worker) write(ctx context.Context, tick time.Time, s Sample, proc Processor, rs *runState) {
	d := &w.doc[0]
	d.set(tick, &w.Task.Target, &s)
	if proc != nil {
		proc.Process(tick, w.Task.Target, s, d)
	}
	err := w.Sink.Write(ctx, w.doc[:])
	*d = Doc{} // holds no sample between ticks
	if err != nil {
		w.writeFailed(err, rs)
		return
	}
	if w.Stats != nil {
		w.Stats.Docs.Add(1)
	}
}

func (w *Worker) writeFailed(err error, rs *runState) {
	if w.Stats != nil {
		w.Stats.SinkErrors.Add(1)
	}
	w.logger(rs).Error().Err(err).Msg("writing document")
}

// stateKey names the kind of failure, so that a failure whose text varies
// from tick to tick (attempt counts, addresses) is logged once, not every
// tick.
func stateKey(err error) string {
	for _, s := range []error{ErrTopicNotFound, ErrGroupNotFound, ErrNoOffsets, ErrNotReady} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "collection failing"
}

// Group runs a changing set of workers: Apply starts new tasks, stops removed
// ones and restarts changed ones, leaving unchanged ones alone.
type Group struct {
	Sink  Sink
	Log   zerolog.Logger
	Stats *Stats
	// Process, when set before the first Apply, is every worker's
	// processor.
	Process Processor
	// Observe, when set before the first Apply, hears of every
	// worker's collections.
	Observe Observer
	// Late logs the workers' skipped ticks per mirror (NewGroup sets
	// one that logs at most once a minute per mirror).
	Late *Lateness

	// now tells the first tick of the workers an Apply starts; nil:
	// time.Now.
	now func() time.Time

	work    context.Context
	mu      sync.Mutex
	running map[string]*running
	wg      sync.WaitGroup

	cmu    sync.Mutex
	clocks map[clockKey]*sharedClock
}

// clockKey names the workers that wake together: a mirror's topics on one
// interval.
type clockKey struct {
	mirror string
	every  time.Duration
}

type sharedClock struct {
	*clock
	refs int
}

// clockFor returns the clock of t's mirror and interval, made on first use;
// release it when the worker ends. The first task's source prepares the
// ticks: every topic of a mirror has the same one.
func (g *Group) clockFor(t Task) (*clock, func()) {
	k := clockKey{t.Target.Mirror, t.Interval}
	g.cmu.Lock()
	defer g.cmu.Unlock()
	if g.clocks == nil {
		g.clocks = map[clockKey]*sharedClock{}
	}
	c := g.clocks[k]
	if c == nil {
		c = &sharedClock{clock: newClock(g.work, t.Source)}
		g.clocks[k] = c
	}
	c.refs++
	return c.clock, func() {
		g.cmu.Lock()
		defer g.cmu.Unlock()
		if c.refs--; c.refs == 0 {
			c.stop()
			delete(g.clocks, k)
		}
	}
}

type running struct {
	task   Task
	stop   context.CancelFunc
	done   chan struct{}
	ticked atomic.Bool // a first collection has ended
}

// Pending lists the running tasks (mirror/topic) that have not completed a
// first tick yet, sorted.
func (g *Group) Pending() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for k, r := range g.running {
		if !r.ticked.Load() {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// NewGroup returns a group whose collections run under work: cancelling work
// aborts in-flight collections (a hard stop). Stop ends the workers gently.
func NewGroup(work context.Context, sink Sink, log zerolog.Logger, stats *Stats) *Group {
	if stats == nil {
		stats = &Stats{}
	}
	return &Group{Sink: sink, Log: log, Stats: stats, Late: NewLateness(log, time.Minute), work: work, running: map[string]*running{}}
}

// Same reports whether two tasks collect the same thing the same way; an
// unchanged task keeps running across a reload.
type Same func(a, b Task) bool

// Apply makes the running set equal to tasks. same decides whether a task
// present before and after changed (nil: compare targets and intervals only,
// and always restart when the Source differs).
func (g *Group) Apply(tasks []Task, same Same) (started, stopped int) {
	if same == nil {
		same = func(a, b Task) bool { return a.Target == b.Target && a.Interval == b.Interval && a.Source == b.Source }
	}
	want := make(map[string]Task, len(tasks))
	for _, t := range tasks {
		want[t.Key()] = t
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var toWait []*running
	for k, r := range g.running {
		if t, ok := want[k]; ok && same(r.task, t) {
			continue
		}
		r.stop()
		toWait = append(toWait, r)
		delete(g.running, k)
		stopped++
	}
	for _, r := range toWait {
		<-r.done
	}
	// The workers started here share their mirror's first tick, however
	// long starting 10,000 goroutines takes.
	now := time.Now
	if g.now != nil {
		now = g.now
	}
	firsts := map[clockKey]time.Time{}
	for k, t := range want {
		if _, ok := g.running[k]; ok {
			continue
		}
		ck := clockKey{t.Target.Mirror, t.Interval}
		first, ok := firsts[ck]
		if !ok {
			first = NextTick(now(), t.Interval)
			firsts[ck] = first
		}
		g.start(t, first)
		started++
	}
	return started, stopped
}

func (g *Group) start(t Task, first time.Time) {
	stop, cancel := context.WithCancel(context.Background())
	r := &running{task: t, stop: cancel, done: make(chan struct{})}
	g.running[t.Key()] = r
	ck, release := g.clockFor(t)
	w := &Worker{
		Task:    t,
		clock:   ck,
		first:   first,
		Ticked:  &r.ticked,
		Process: g.Process,
		Observe: g.Observe,
		Late:    g.Late,
		Sink:    g.Sink,
		Stats:   g.Stats,
		Log:     g.Log,
		tagLog:  true,
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(r.done)
		defer release()
		w.Run(stop, g.work)
	}()
}

// Len returns the number of running workers.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.running)
}

// Keys returns the keys of the running tasks.
func (g *Group) Keys() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	keys := make([]string, 0, len(g.running))
	for k := range g.running {
		keys = append(keys, k)
	}
	return keys
}

// Stop stops every worker after its in-flight collection and waits for them.
// The clocks stop first: a tick that has not begun is collected by none of
// the workers, and one that has is collected by all of them, so the last
// tick before a stop is whole or absent, never partial.
func (g *Group) Stop() {
	g.cmu.Lock()
	for _, c := range g.clocks {
		c.stop()
	}
	g.cmu.Unlock()
	g.mu.Lock()
	for k, r := range g.running {
		r.stop()
		delete(g.running, k)
	}
	g.mu.Unlock()
	g.wg.Wait()
}
