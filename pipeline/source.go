package pipeline

import (
	"context"
	"errors"
	"time"
)

// Source collects the lag of one mirror's topics. Collect is called by the
// worker of each topic at each tick; implementations share the remote work of
// one tick between topics (one request set per cluster, one command per
// group) so the cost of a tick does not grow with the number of topics.
//
// Collect returns a Sample with one entry per partition, or an error. The
// errors below are states, not failures: the worker logs them once per change
// and writes no document.
type Source interface {
	Collect(ctx context.Context, tick time.Time, topic string) (Sample, error)
}

// BufferedSource is a Source that can collect into a buffer its caller
// reuses from tick to tick instead of allocating each sample's slices (with
// 10,000 topics, 10,000 allocations a tick). The sample's slices may be
// buf.Offsets', valid until the next call with the same buf; the source may
// grow them. A worker passes its own buffer, for one topic: as Sink.Write
// and Processor.Process keep no sample, nothing reads the slices once the
// tick's document is written.
type BufferedSource interface {
	Source
	CollectInto(ctx context.Context, tick time.Time, topic string, buf *Buffer) (Sample, error)
}

// Buffer is what a worker keeps for its source from tick to tick.
type Buffer struct {
	// Offsets backs the sample's slices.
	Offsets []int64
	// Hint is the source's own, nil at first: what finds the topic at the
	// next tick without looking it up among all the others (where it was
	// in the last fetch, say). A source checks that it still holds.
	Hint any
}

// States a source reports instead of a sample. Wrap them with context.
var (
	// ErrTopicNotFound: the topic does not exist on the cluster.
	ErrTopicNotFound = errors.New("topic not found")
	// ErrGroupNotFound: the consumer group does not exist.
	ErrGroupNotFound = errors.New("group not found")
	// ErrNoOffsets: the group has no committed offset for any partition of
	// the topic. A source that knows the topic's partitions returns, with
	// it, a sample of that many partitions of unknown lag (NoOffsets): the
	// worker then writes a document with partition_count only, so that a
	// mirror that never started on a topic shows rather than stays silent.
	ErrNoOffsets = errors.New("group has no committed offsets for topic")
	// ErrNotReady: the source is still warming up (for instance reading a
	// MirrorMaker 2 offsets topic); documents start once it is ready.
	ErrNotReady = errors.New("source not ready")
)

// NoOffsets is the sample of a topic whose group has committed nothing yet:
// the log-end offsets, every lag and committed offset unknown.
func NoOffsets(logEnd []int64) Sample {
	committed := make([]int64, len(logEnd))
	for p := range committed {
		committed[p] = UnknownOffset
	}
	return SampleFromOffsets(committed, logEnd)
}

// IsState reports whether err is one of the states above rather than a
// failure.
func IsState(err error) bool {
	return errors.Is(err, ErrTopicNotFound) || errors.Is(err, ErrGroupNotFound) ||
		errors.Is(err, ErrNoOffsets) || errors.Is(err, ErrNotReady)
}

// Sink ships documents. Write may buffer, but not docs itself: the caller
// reuses the slice once Write returns. Close flushes what is buffered and
// releases the sink. Both honour ctx.
type Sink interface {
	Write(ctx context.Context, docs []Doc) error
	Close(ctx context.Context) error
}
