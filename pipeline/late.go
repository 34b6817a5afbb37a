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
	// decided is the tick decided on after the latest finished tick: read
	// without a lock by every worker but the first of a tick.
	decided atomic.Pointer[decision]

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

type decision struct {
	next  time.Time
	every time.Duration
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
// finished at now. While the mirror's decided tick is after done, every
// worker takes it, even one that finishes after it began (it joins the
// tick's shared collection late rather than skip it), so the workers of a
// mirror converge on the same ticks; the first worker to finish at or
// after the decided tick decides the next one, the first aligned tick
// after now. The others read the decision without taking a lock.
func (l *Lateness) next(mirror string, every time.Duration, done, now time.Time) time.Time {
	m := l.mirror(mirror)
	for {
		d := m.decided.Load()
		if d != nil && d.every == every && d.next.After(done) {
			return d.next
		}
		nd := &decision{next: NextTick(now, every), every: every}
		if m.decided.CompareAndSwap(d, nd) {
			return nd.next
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
