package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Lateness keeps the workers of a mirror on the same ticks when the host is
// starved, and says so once. The first worker of a mirror to finish a tick
// decides the mirror's next tick and the others follow it, so a late tick is
// skipped for all of the mirror's topics or for none (never half a tick).
// The skipped ticks are logged one line per mirror and minute at most
// ("missed 12 ticks in the last minute: a collection took 1.8s at a 1s
// interval"), never one per topic and tick, and counted once per mirror.
type Lateness struct {
	log   zerolog.Logger
	every time.Duration // at most one line per mirror this often
	now   func() time.Time

	mirrors sync.Map   // name -> *lateMirror
	mu      sync.Mutex // guards the counting fields of every lateMirror
}

type lateMirror struct {
	// decided holds the ticks decided on after the latest finished ticks:
	// read without a lock by every worker but the first of a tick.
	decided atomic.Pointer[decisions]

	counted time.Time     // the latest skipped tick counted
	missed  int64         // ticks skipped since the last line
	worst   time.Duration // the longest collection since the last line
	logged  time.Time     // when the last line was written
	late    bool          // a line was written and no tick kept up since
}

// NewLateness logs through log at most once per mirror and every.
func NewLateness(log zerolog.Logger, every time.Duration) *Lateness {
	return &Lateness{log: log, every: every, now: time.Now}
}

// decisions are the latest ticks decided on, oldest first: after the tick
// done, the mirror collects next. It is never changed once published.
type decisions struct {
	every time.Duration
	done  [keptDecisions]time.Time
	next  [keptDecisions]time.Time
	n     int
}

// keptDecisions is how many ticks a worker can fall behind the mirror's
// first and still follow the ticks the others collect.
const keptDecisions = 8

// after returns the tick decided after done, if it is kept.
func (d *decisions) after(done time.Time) (time.Time, bool) {
	for i := d.n - 1; i >= 0; i-- {
		if d.done[i].Equal(done) {
			return d.next[i], true
		}
	}
	return time.Time{}, false
}

// with returns d with one more decision, the oldest dropped when full.
func (d *decisions) with(every time.Duration, done, next time.Time) *decisions {
	nd := &decisions{every: every}
	if d != nil && d.every == every {
		*nd = *d
	}
	if nd.n == keptDecisions {
		copy(nd.done[:], nd.done[1:])
		copy(nd.next[:], nd.next[1:])
		nd.n--
	}
	nd.done[nd.n], nd.next[nd.n] = done, next
	nd.n++
	return nd
}

// mirror returns the state of a mirror, made on first use.
func (l *Lateness) mirror(name string) *lateMirror {
	if m, ok := l.mirrors.Load(name); ok {
		return m.(*lateMirror)
	}
	m, _ := l.mirrors.LoadOrStore(name, &lateMirror{})
	return m.(*lateMirror)
}

// next is the tick a worker of mirror collects after the tick done,
// finished at now. The first worker to finish a tick decides the next one,
// the first aligned tick after now; every other worker that finishes the
// same tick takes that decision, even one that finishes after the next tick
// began (it joins that tick's shared collection late rather than skip it),
// so the workers of a mirror collect the same ticks and skip the same
// ones. A worker whose tick is not among the decisions kept (it started
// between ticks, or fell further behind) takes the latest decided tick when
// that is after its own. The others read the decisions without a lock.
func (l *Lateness) next(mirror string, every time.Duration, done, now time.Time) time.Time {
	m := l.mirror(mirror)
	for {
		d := m.decided.Load()
		if d != nil && d.every == every {
			if next, ok := d.after(done); ok {
				return next
			}
			if latest := d.next[d.n-1]; latest.After(done) {
				return latest
			}
		}
		next := NextTick(now, every)
		if m.decided.CompareAndSwap(d, d.with(every, done, next)) {
			return next
		}
	}
}

// skipped reports that a worker of mirror skipped the aligned ticks after
// from up to (and not including) to, after a collection that took took.
func (l *Lateness) skipped(mirror string, from, to time.Time, interval, took time.Duration) {
	m := l.mirror(mirror)
	l.mu.Lock()
	defer l.mu.Unlock()
	// Count the ticks in (max(from, counted), to) once.
	start := from
	if m.counted.After(start) {
		start = m.counted
	}
	if n := int64(to.Sub(start)/interval) - 1; n > 0 {
		m.missed += n
		m.counted = to.Add(-interval)
	}
	m.worst = max(m.worst, took)
	now := l.now()
	if m.missed > 0 && (m.logged.IsZero() || now.Sub(m.logged) >= l.every) {
		since := "since the last line"
		if !m.logged.IsZero() && now.Sub(m.logged) < 2*l.every {
			since = "in the last " + l.every.String()
		}
		l.log.Warn().Str("mirror", mirror).Int64("missed_ticks", m.missed).Dur("took", m.worst).Dur("interval", interval).
			Msgf("missed %d ticks %s: a collection took %s at a %s interval (whole ticks are skipped until collections keep up; at most one line a %s per mirror)",
				m.missed, since, m.worst.Round(time.Millisecond), interval, l.every)
		m.missed, m.worst, m.logged, m.late = 0, 0, now, true
	}
}

// keptUp reports that a worker of mirror finished a tick within its
// interval. The first time after a late line, the mirror says it keeps up
// again (once).
func (l *Lateness) keptUp(mirror string, interval time.Duration) {
	m := l.mirror(mirror)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !m.late {
		return
	}
	m.late = false
	l.log.Info().Str("mirror", mirror).Int64("missed_ticks_since", m.missed).Dur("interval", interval).
		Msg("collections keep up with the interval again")
}
