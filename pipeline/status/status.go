// Package status judges every watched partition from a window of
// observations: OK, WARN, ERR, REWIND, STALL or STOP, as LinkedIn's Burrow
// does, plus the time lag in seconds that kafka-lag-exporter estimates from
// log-end offsets. It is a pipeline.Processor: it sees each sample between
// collection and its document, from any source, and knows nothing of where
// documents go.
//
// # Observations
//
// A partition is observed once per tick: its committed offset, its log-end
// offset and the group's membership (when the method knows it). The window
// is a duration, not a count of ticks: MirrorMaker commits every
// offset.commit.interval.ms (60 s by default), so the committed offset moves
// in steps whatever the tick is.
//
// # Rules
//
// Over the observations inside the window, for a partition with a committed
// offset:
//   - OK: the lag was at or below allowed_lag at some observation, or it
//     decreased between two observations (the mirror catches up).
//   - WARN: otherwise, while the committed offset moves: alive, but slower
//     than the producers.
//   - STALL: the committed offset did not move inside the window although
//     the group has active members: a consumer that is alive but stuck.
//   - STOP: the same with no active member, or with a membership the method
//     cannot know.
//   - REWIND: the committed offset went below a value seen earlier in the
//     window and has not come back to it.
//   - ERR: the time lag reached err_time_lag; warn_time_lag lifts OK to
//     WARN. Thresholds never lower a status.
//
// Severity: OK < WARN < ERR < REWIND < STALL < STOP; the most severe match
// wins, a topic is its worst partition, a mirror its worst topic.
//
// Completeness: STALL and STOP need at least 3 observations spanning half
// the window since the state began (a start, or a reload that changed the
// mirror's status settings); until then a partition is OK or WARN by its lag
// trend. A partition observed once has a status only when its lag is at or
// below allowed_lag (OK): one observation says nothing of a trend.
//
// # State
//
// Each partition keeps a fixed amount of state, whatever the window and the
// interval: the times of the last observation at or below allowed_lag, of
// the last lag decrease, of the last move of the committed offset and of a
// rewind, and a table of at most TablePoints log-end offsets with the time
// each was first seen, from which the time lag is interpolated.
package status

import (
	"fmt"
	"strings"
)

// Status of a partition, topic or mirror. The zero value is Unknown.
type Status uint8

// Statuses, from the least to the most severe.
const (
	Unknown Status = iota
	OK
	WARN
	ERR
	REWIND
	STALL
	STOP
)

var names = [...]string{"", "OK", "WARN", "ERR", "REWIND", "STALL", "STOP"}

// String is the status's name ("" for Unknown).
func (s Status) String() string {
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Parse reads a status name (case-insensitive).
func Parse(name string) (Status, error) {
	for i, n := range names {
		if i > 0 && strings.EqualFold(n, name) {
			return Status(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown status %q: want one of OK, WARN, ERR, REWIND, STALL, STOP", name)
}

// Worse is the more severe of a and b.
func Worse(a, b Status) Status { return max(a, b) }
