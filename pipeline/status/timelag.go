package status

import "time"

// TablePoints bounds the log-end points kept per partition: memory stays
// flat however long the agent runs.
const TablePoints = 32

// point says that the partition's log end was first seen at offset off at
// time at (Unix nanoseconds): the record at off-1 was appended by then.
type point struct {
	off int64
	at  int64
}

// table is a partition's log-end history, oldest first, offsets strictly
// increasing.
type table struct {
	pts [TablePoints]point
	n   int
}

// add records the log end seen at now. An unchanged log end adds nothing
// (the first time it was seen is what dates its records); a log end that
// went back (the topic was re-created) starts the table again.
func (t *table) add(now, off int64) {
	if t.n > 0 {
		last := t.pts[t.n-1]
		switch {
		case off == last.off:
			return
		case off < last.off:
			t.n = 0
		}
	}
	if t.n == TablePoints {
		t.prune()
	}
	t.pts[t.n] = point{off: off, at: now}
	t.n++
}

// prune makes room for one point, keeping resolution where it matters:
// it drops the interior point whose neighbours are closest in time, so the
// table thins out evenly instead of forgetting the past (a stopped mirror's
// committed offset can be old).
func (t *table) prune() {
	best, bestSpan := -1, int64(0)
	for i := 1; i < t.n-1; i++ {
		span := t.pts[i+1].at - t.pts[i-1].at
		if best < 0 || span < bestSpan {
			best, bestSpan = i, span
		}
	}
	if best < 0 {
		best = 0
	}
	copy(t.pts[best:t.n-1], t.pts[best+1:t.n])
	t.n--
}

// forget drops the points older than the one that brackets committed: a
// committed offset only moves forward (a rewind restarts at the table's
// start and is extrapolated).
func (t *table) forget(committed int64) {
	target := committed + 1
	keep := 0
	for i := 0; i < t.n && t.pts[i].off < target; i++ {
		keep = i
	}
	if keep > 0 {
		copy(t.pts[:t.n-keep], t.pts[keep:t.n])
		t.n -= keep
	}
}

// timeLag estimates how long ago the record at committed (the next one to
// mirror) was appended: 0 when nothing is left to mirror, interpolated
// between the two log-end points that bracket it, extrapolated from the
// table's rate when it is older than the oldest point, unknown when the
// table cannot say.
func (t *table) timeLag(now, committed, logEnd int64) (lag time.Duration, ok, extrapolated bool) {
	if committed >= logEnd {
		return 0, true, false
	}
	t.forget(committed)
	target := committed + 1 // the log end once the record at committed was appended
	i := 0
	for i < t.n && t.pts[i].off < target {
		i++
	}
	var at float64
	switch {
	case i == t.n:
		return 0, false, false
	case i > 0:
		a, b := t.pts[i-1], t.pts[i]
		frac := float64(target-a.off) / float64(b.off-a.off)
		at = float64(a.at) + frac*float64(b.at-a.at)
	default:
		// Older than the oldest point: extrapolate back at the table's
		// rate.
		if t.n < 2 || t.pts[t.n-1].at == t.pts[0].at {
			return 0, false, false
		}
		a, b := t.pts[0], t.pts[t.n-1]
		rate := float64(b.off-a.off) / float64(b.at-a.at) // records per ns
		at = float64(a.at) - float64(a.off-target)/rate
		extrapolated = true
	}
	d := time.Duration(float64(now) - at)
	return max(d, 0), true, extrapolated
}
