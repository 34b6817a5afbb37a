package kafka

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lagship/lagship/pipeline"
)

// Source returns the native pipeline.Source of one consumer group on this
// cluster.
//
// Collect of a topic the group does not watch yet (see WatchGroup) watches
// it from then on; on that first tick, if the shared fetch had already
// started without it, the topic is fetched alone. Calling WatchGroup for
// every topic before the first tick makes even the first tick one shared
// request set.
func (c *Cluster) Source(group string) pipeline.Source {
	return &source{c: c, group: group}
}

type source struct {
	c     *Cluster
	group string
}

// Prepare runs the tick's shared fetch, once for every topic of the
// cluster, before the workers of the mirror's topics wake to read theirs
// (pipeline.Preparer).
func (s *source) Prepare(ctx context.Context, tick time.Time) { _, _ = s.c.ticks.Get(ctx, tick) }

// Collect returns the lag of every partition of topic for the group at tick,
// with the committed and log-end offsets it derives from. A partition without
// a committed offset, or whose log-end offset could not be read, has
// pipeline.UnknownLag, and pipeline.UnknownOffset for the offset missing.
//
// The sample's Members is the group's state, member count and, when some
// member's consumer-protocol assignment could be read, which partitions of
// topic are assigned, as of the group's latest successful description
// (see the package comment for when a tick describes a group); nil when
// the description this tick sent failed, which does not fail the
// collection.
func (s *source) Collect(ctx context.Context, tick time.Time, topic string) (pipeline.Sample, error) {
	return s.CollectInto(ctx, tick, topic, nil)
}

// CollectInto is Collect with the sample's offsets and lags in
// buf.Offsets (pipeline.BufferedSource); nil buf: slices of the sample's
// own. buf.Hint keeps where the topic was in the shared fetch, so that a
// tick of an unchanged watch set finds it without a lookup by name.
func (s *source) CollectInto(ctx context.Context, tick time.Time, topic string, buf *pipeline.Buffer) (pipeline.Sample, error) {
	c := s.c
	snap, err := c.read(ctx, tick)
	if err != nil {
		c.watchImplicitly(s.group, topic)
		return pipeline.Sample{}, err
	}
	defer snap.release()
	var h *topicHint
	var offs *[]int64
	if buf != nil {
		if h, _ = buf.Hint.(*topicHint); h == nil {
			h = new(topicHint)
			buf.Hint = h
		}
		offs = &buf.Offsets
	} else {
		h = new(topicHint) // one call's: kept nowhere
	}
	if h.src != s || h.topic != topic {
		*h = topicHint{src: s, topic: topic}
	}
	te, g, m := snap.hinted(topic, h), snap.groups[s.group], snap.members[s.group]
	var committed []int64
	covered := false
	if g != nil {
		committed, covered = g.hinted(topic, h)
	}
	if te == nil || !covered {
		// Not in the shared fetch: watched from now on (a topic the
		// fetch had is watched already, so the common case takes no
		// lock), and fetched alone for this tick.
		c.watchImplicitly(s.group, topic)
		alone, err := c.fetchAlone(ctx, tick, s.group, topic)
		if err != nil {
			return pipeline.Sample{}, err
		}
		te, g, m = alone.topic(topic), alone.groups[s.group], alone.members[s.group]
		committed = g.offsetsOf(topic)
	}
	sample, err := sampleOf(te, g, committed, topic, s.group, c.cfg.Name, offs)
	if err == nil {
		sample.Members = m.membership(topic, len(sample.Lags))
	}
	return sample, err
}

// sampleOf builds the sample of topic for group from one fetch: its
// committed (offs, the group's for the topic) and log-end offsets, and the
// per-partition lag between them. The slices are the sample's own, not the
// fetch's: carved from *buf, grown when short, if buf is not nil.
func sampleOf(te *topicEnds, g *groupOffsets, offs []int64, topic, group, cluster string, buf *[]int64) (pipeline.Sample, error) {
	switch {
	case te.err != nil:
		return pipeline.Sample{}, te.err
	case g.err != nil:
		return pipeline.Sample{}, g.err
	case te.known == 0 && te.fetchErr != nil:
		return pipeline.Sample{}, te.fetchErr
	case g.noGroup:
		return pipeline.NoOffsets(slices.Clone(te.ends)), fmt.Errorf("group %q on cluster %q is unknown to its coordinator: %w", group, cluster, pipeline.ErrNoOffsets)
	}
	// One allocation for the sample's three slices, none when buf holds
	// them.
	n := len(te.ends)
	var all []int64
	switch {
	case buf == nil:
		all = make([]int64, 3*n)
	case cap(*buf) >= 3*n:
		all = (*buf)[:3*n]
	default:
		all = make([]int64, 3*n)
		*buf = all
	}
	committed, ends, lags := all[:n:n], all[n:2*n:2*n], all[2*n:]
	withOffset := 0
	for p := range committed {
		committed[p] = pipeline.UnknownOffset
		if p < len(offs) && offs[p] >= 0 {
			committed[p] = offs[p]
			withOffset++
		}
	}
	if withOffset == 0 {
		return pipeline.NoOffsets(slices.Clone(te.ends)), fmt.Errorf("group %q, topic %q on cluster %q: %w", group, topic, cluster, pipeline.ErrNoOffsets)
	}
	// A commit can pass the log end read a moment earlier: the lag is
	// floored at 0.
	copy(ends, te.ends)
	return pipeline.SampleInto(lags, committed, ends), nil
}
