package status

import (
	"time"
)

// Rules are the thresholds of one mirror's evaluation.
type Rules struct {
	Window      time.Duration
	AllowedLag  int64
	WarnTimeLag time.Duration // 0 = off
	ErrTimeLag  time.Duration // 0 = off
}

// Observation is one partition at one tick.
type Observation struct {
	At        time.Time
	Committed int64 // < 0: no committed offset
	LogEnd    int64 // < 0: unknown
	// Members: < 0 unknown, 0 none active, > 0 active members (owning the
	// partition, when the method says which partition each owns).
	Members int
}

// Result is a partition's judgement at one observation, with what it was
// judged from.
type Result struct {
	Status Status
	// Lag, Committed and LogEnd as observed (-1 when unknown).
	Lag, Committed, LogEnd int64
	// TimeLag is the estimated time since the record at the committed
	// offset was appended to the source partition; valid when HasTimeLag.
	TimeLag    time.Duration
	HasTimeLag bool
	// Extrapolated: the committed offset is older than the oldest log-end
	// point kept, so TimeLag is extrapolated from the table's rate.
	Extrapolated bool
}

// partition is the fixed-size state of one partition. Times are Unix
// nanoseconds (0 = never) to keep it small.
type partition struct {
	first        int64 // first observation with a committed offset
	n            int32 // observations with a committed offset
	lastC        int64
	lastLag      int64
	lastOK       int64 // last observation with lag <= allowed
	lastDecrease int64 // last observation whose lag was below the previous one
	lastAdvance  int64 // last observation where the committed offset moved
	high         int64 // highest committed offset seen in the window
	highAt       int64 // last observation at or above high
	rewindAt     int64 // when the committed offset went below high (0: none)
	table        table
}

// observe records o and judges the partition.
func (p *partition) observe(o Observation, r Rules) Result {
	now := o.At.UnixNano()
	if o.LogEnd >= 0 {
		p.table.add(now, o.LogEnd)
	}
	if o.Committed < 0 || o.LogEnd < 0 {
		// No committed offset (or no log end): no status; the trend
		// starts again when both are known.
		return Result{}
	}
	c := o.Committed
	lag := max(o.LogEnd-c, 0)
	win := int64(r.Window)
	in := func(t int64) bool { return t != 0 && now-t <= win }

	if p.n == 0 {
		p.first, p.high, p.highAt = now, c, now
	} else {
		if c != p.lastC {
			p.lastAdvance = now
		}
		if lag < p.lastLag {
			p.lastDecrease = now
		}
	}
	switch {
	case !in(p.highAt):
		// The high mark was not seen inside the window: forget it.
		p.high, p.highAt, p.rewindAt = c, now, 0
	case c >= p.high:
		p.high, p.highAt, p.rewindAt = c, now, 0
	case p.rewindAt == 0:
		p.rewindAt = now
	}
	if lag <= r.AllowedLag {
		p.lastOK = now
	}
	p.lastC, p.lastLag = c, lag
	p.n++

	res := Result{}
	res.TimeLag, res.HasTimeLag, res.Extrapolated = p.table.timeLag(now, c, o.LogEnd)

	var s Status
	switch {
	case in(p.lastOK) || in(p.lastDecrease):
		s = OK
	case p.n == 1:
		s = Unknown // one observation over the allowed lag: no trend yet
	case !in(p.lastAdvance) && p.n >= 3 && now-p.first >= win/2:
		// The committed offset did not move for the part of the window
		// observed, and enough of it was.
		if o.Members > 0 {
			s = STALL
		} else {
			s = STOP
		}
	default:
		s = WARN
	}
	if p.rewindAt != 0 && in(p.rewindAt) && c < p.high {
		s = Worse(s, REWIND)
	}
	if res.HasTimeLag && s != Unknown {
		if r.ErrTimeLag > 0 && res.TimeLag >= r.ErrTimeLag {
			s = Worse(s, ERR)
		} else if r.WarnTimeLag > 0 && res.TimeLag >= r.WarnTimeLag {
			s = Worse(s, WARN)
		}
	}
	res.Status = s
	return res
}
