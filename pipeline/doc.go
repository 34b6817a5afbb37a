// Package pipeline holds the types that flow from sources to sinks, the
// interfaces both sides implement, and the per-topic workers that drive
// collection on aligned ticks.
//
// Data moves one way: a Source turns a Target and a tick into a Sample, the
// worker turns the Sample into a Doc, and a Sink ships Docs. This package
// imports no source and no sink; cmd/lagship wires them.
package pipeline

import (
	"strconv"
	"time"
)

// UnknownLag marks a partition whose lag cannot be computed (no committed
// offset, no leader). Such a partition is counted in partition_count but its
// pN field is left out of the document: never a string, never -1.
const UnknownLag int64 = -1

// Target names one mirrored topic as the configuration describes it.
type Target struct {
	Mirror  string // mirror name from the config
	Topic   string // topic name, matched exactly
	Group   string // consumer group (or its MirrorMaker 2 equivalent)
	Cluster string // cluster that holds the group's offsets
	Method  string // native | ssh | mm2
}

// UnknownOffset marks an offset a source could not read (no committed
// offset, no leader, or a method that does not report it).
const UnknownOffset int64 = -1

// Sample is what a source measured for one topic at one tick.
type Sample struct {
	// Lags holds one entry per partition, indexed by partition number.
	// Its length is the topic's partition count. UnknownLag marks a
	// partition whose lag is not known. Sources that read offsets build
	// it with SampleFromOffsets, so it is derived from the two slices
	// below.
	Lags []int64
	// Committed and LogEnd hold, per partition, the group's committed
	// offset and the partition's log-end offset at this tick
	// (UnknownOffset when not known). Both are nil for a source that only
	// knows lags; otherwise both have len(Lags) entries.
	Committed []int64
	LogEnd    []int64
	// Members is the group's membership as the method saw it at this
	// tick; nil when the method cannot know it. It may be shared with
	// other samples and ticks: read it, never change it.
	Members *Membership
	// Group, when not empty, overrides Target.Group in the document
	// (MirrorMaker 2 names the connector there).
	Group string
}

// Membership is what a source knows of the group that commits the offsets.
type Membership struct {
	// State is the group state as Kafka names it (Stable, Empty,
	// PreparingRebalance, CompletingRebalance, Dead) or, for MirrorMaker 2,
	// the connector task's state (RUNNING, FAILED, PAUSED, UNASSIGNED).
	State string
	// Active is the number of active members (or running tasks).
	Active int
	// Owned, when not nil, tells per partition whether a member owns it.
	Owned []bool
}

// SampleFromOffsets is the sample of committed and log-end offsets (one
// entry per partition, UnknownOffset when unknown): the lag of a partition
// is log end minus committed, never below 0, and unknown when either is.
func SampleFromOffsets(committed, logEnd []int64) Sample {
	return SampleInto(make([]int64, len(logEnd)), committed, logEnd)
}

// SampleInto is SampleFromOffsets with the lags written into lags, which
// has len(logEnd) entries (so that a source can allocate the three slices
// at once).
func SampleInto(lags, committed, logEnd []int64) Sample {
	for p := range lags {
		lags[p] = UnknownLag
		if p >= len(committed) {
			continue
		}
		c, e := committed[p], logEnd[p]
		if c < 0 || e < 0 {
			continue
		}
		lags[p] = max(e-c, 0)
	}
	return Sample{Lags: lags, Committed: committed, LogEnd: logEnd}
}

// Committed offset of partition p, or UnknownOffset.
func (s *Sample) CommittedAt(p int) int64 {
	if p < len(s.Committed) {
		return s.Committed[p]
	}
	return UnknownOffset
}

// LogEndAt is the log-end offset of partition p, or UnknownOffset.
func (s *Sample) LogEndAt(p int) int64 {
	if p < len(s.LogEnd) {
		return s.LogEnd[p]
	}
	return UnknownOffset
}

// Doc is one document: the lag of every partition of one topic at one tick.
type Doc struct {
	Timestamp time.Time // tick time, UTC
	Target
	Lags []int64 // index = partition; UnknownLag entries are omitted
	// Status is the topic's judgement (OK, WARN, ...; "" when unknown),
	// set by the status evaluator.
	Status string
	// MaxTimeLag is the largest partition time lag in seconds (to the
	// millisecond), present when HasTimeLag.
	MaxTimeLag float64
	HasTimeLag bool
}

// NewDoc is the document of target's sample at tick: the sample's group,
// when it has one, replaces the configured one.
func NewDoc(tick time.Time, target Target, s Sample) Doc {
	var d Doc
	d.set(tick, &target, &s)
	return d
}

// set makes d the document of target's sample at tick.
func (d *Doc) set(tick time.Time, target *Target, s *Sample) {
	*d = Doc{}
	d.Timestamp, d.Target, d.Lags = tick, *target, s.Lags
	if s.Group != "" {
		d.Group = s.Group
	}
}

// TimestampLayout is @timestamp's format: UTC, milliseconds, Z.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// ID is the document's deterministic _id: the same mirror, topic and tick
// always give the same id, so a re-sent document never duplicates.
func (d *Doc) ID() string {
	b := make([]byte, 0, len(d.Mirror)+len(d.Topic)+16)
	return string(d.AppendID(b))
}

// AppendID appends the document's ID to b.
func (d *Doc) AppendID(b []byte) []byte {
	b = append(b, d.Mirror...)
	b = append(b, '/')
	b = append(b, d.Topic...)
	b = append(b, '/')
	return strconv.AppendInt(b, d.Timestamp.UnixMilli(), 10)
}

// Summary returns total_lag and max_lag over partitions with known lag, and
// how many partitions have a known lag.
func (d *Doc) Summary() (total, max int64, known int) {
	for _, l := range d.Lags {
		if l < 0 {
			continue
		}
		known++
		total += l
		if l > max {
			max = l
		}
	}
	return total, max, known
}

// MarshalJSON encodes the document with the field names of
// mappings/mapping.json.
func (d Doc) MarshalJSON() ([]byte, error) {
	return d.AppendJSON(make([]byte, 0, 192+12*len(d.Lags))), nil
}

// AppendJSON appends the document's JSON encoding to b. It is the hot path of
// every sink, so it writes bytes directly instead of going through reflection.
//
// Field order: @timestamp, topic, p0..pN, mirror, group, cluster, method,
// total_lag and max_lag (when some lag is known), partition_count, then
// status and max_time_lag when known.
func (d *Doc) AppendJSON(b []byte) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = d.Timestamp.UTC().AppendFormat(b, TimestampLayout)
	b = append(b, `","topic":`...)
	b = AppendJSONString(b, d.Topic)
	for p, l := range d.Lags {
		if l < 0 {
			continue
		}
		b = append(b, `,"p`...)
		b = strconv.AppendInt(b, int64(p), 10)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, l, 10)
	}
	b = append(b, `,"mirror":`...)
	b = AppendJSONString(b, d.Mirror)
	b = append(b, `,"group":`...)
	b = AppendJSONString(b, d.Group)
	b = append(b, `,"cluster":`...)
	b = AppendJSONString(b, d.Cluster)
	b = append(b, `,"method":`...)
	b = AppendJSONString(b, d.Method)
	// Without any known lag there are no totals either: a topic the
	// group has committed nothing on has partition_count only.
	if total, max, known := d.Summary(); known > 0 {
		b = append(b, `,"total_lag":`...)
		b = strconv.AppendInt(b, total, 10)
		b = append(b, `,"max_lag":`...)
		b = strconv.AppendInt(b, max, 10)
	}
	b = append(b, `,"partition_count":`...)
	b = strconv.AppendInt(b, int64(len(d.Lags)), 10)
	if d.Status != "" {
		b = append(b, `,"status":`...)
		b = AppendJSONString(b, d.Status)
	}
	if d.HasTimeLag {
		b = append(b, `,"max_time_lag":`...)
		b = strconv.AppendFloat(b, d.MaxTimeLag, 'f', -1, 64)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s to b as a JSON string. Names are validated
// upstream, but group names and Kafka error texts are free-form, so escape
// properly.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x7f {
			continue
		}
		if c >= 0x80 { // multi-byte UTF-8: pass through
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
