package mm2

import (
	"context"
	"fmt"
	"time"

	"github.com/lagship/lagship/pipeline"
	"github.com/rs/zerolog"
)

// LogEnds gives the log-end offsets of a topic on the source cluster, one
// per partition, indexed by partition. A missing topic is an error wrapping
// pipeline.ErrTopicNotFound. Implementations share one fetch per tick between
// topics.
type LogEnds interface {
	LogEndOffsets(ctx context.Context, tick time.Time, topic string) ([]int64, error)
}

// Option adjusts a Source.
type Option func(*Source)

// WithConnector restricts the source to the offsets written by the named
// connector. It is needed only when several MirrorSourceConnectors replicate
// the same source alias into one offsets topic (several flows in one Connect
// cluster); without it such a topic is an error.
func WithConnector(name string) Option {
	return func(s *Source) { s.connector = name }
}

// Source measures the lag of MirrorMaker 2 topics replicated from one source
// cluster alias. It implements pipeline.Source.
type Source struct {
	r         *Reader
	ends      LogEnds
	alias     string
	connector string
	log       zerolog.Logger
}

// NewSource returns the source of the topics replicated from the cluster
// known to MirrorMaker 2 as alias. r reads the offsets topic that holds the
// replication progress (it must be running); logEnds reads the source
// cluster.
func NewSource(r *Reader, logEnds LogEnds, alias string, log zerolog.Logger, opts ...Option) pipeline.Source {
	s := &Source{r: r, ends: logEnds, alias: alias, log: log.With().Str("alias", alias).Logger()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Collect returns the lag of every partition of topic: the source log-end
// offset minus the next offset the connector will copy (stored offset + 1),
// never below zero. A partition without a stored offset has unknown lag.
//
// Sample.Group is the connector name found in the offsets topic (by default
// "MirrorSourceConnector"); GroupName gives the fallback "<alias>->target"
// when no name is known.
//
// States: pipeline.ErrNotReady until the reader has read the offsets topic to
// its end; whatever LogEnds returns for a missing source topic
// (pipeline.ErrTopicNotFound); pipeline.ErrNoOffsets when the offsets topic
// holds nothing for the topic under this alias.
func (s *Source) Collect(ctx context.Context, tick time.Time, topic string) (pipeline.Sample, error) {
	if !s.r.Ready() {
		return pipeline.Sample{}, s.r.notReady()
	}
	ends, err := s.ends.LogEndOffsets(ctx, tick, topic)
	if err != nil {
		return pipeline.Sample{}, err
	}
	offsets, name, ok, err := s.r.Offsets(s.alias, topic, s.connector)
	if err != nil {
		return pipeline.Sample{}, err
	}
	if !ok {
		return pipeline.NoOffsets(ends), fmt.Errorf("topic %q from alias %q in offsets topic %q: %w", topic, s.alias, s.r.Topic(), pipeline.ErrNoOffsets)
	}
	smp := pipeline.SampleFromOffsets(Committed(len(ends), offsets), ends)
	smp.Group = GroupName(name, s.alias)
	return smp, nil
}

// Lags computes the lag of each partition from its log-end offset and the
// stored offset of the last record copied. Partitions without a stored
// offset get pipeline.UnknownLag; stored offsets of partitions the topic no
// longer has are ignored.
func Lags(ends []int64, stored map[int32]int64) []int64 {
	lags := make([]int64, len(ends))
	for p, end := range ends {
		off, ok := stored[int32(p)]
		if !ok || end < 0 {
			lags[p] = pipeline.UnknownLag
			continue
		}
		lags[p] = max(end-(off+1), 0)
	}
	return lags
}

// Committed turns the stored offsets (of the last record copied) into
// committed offsets in Kafka's sense (the next record to copy) for a topic
// of n partitions: UnknownOffset where none is stored.
func Committed(n int, stored map[int32]int64) []int64 {
	c := make([]int64, n)
	for p := range c {
		c[p] = pipeline.UnknownOffset
		if off, ok := stored[int32(p)]; ok {
			c[p] = off + 1
		}
	}
	return c
}

// GroupName is the group field of MirrorMaker 2 documents: the connector
// name, or "<alias>->target" when it is not known.
func GroupName(connector, alias string) string {
	if connector != "" {
		return connector
	}
	return alias + "->target"
}
