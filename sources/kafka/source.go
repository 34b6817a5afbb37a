package kafka

import (
	"context"
	"fmt"
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

// Collect returns the lag of every partition of topic for the group at tick.
// A partition without a committed offset, or whose log-end offset could not
// be read, has pipeline.UnknownLag.
func (s *source) Collect(ctx context.Context, tick time.Time, topic string) (pipeline.Sample, error) {
	c := s.c
	c.watchImplicitly(s.group, topic)
	snap, err := c.ticks.Get(ctx, tick)
	if err != nil {
		return pipeline.Sample{}, err
	}
	te, g := snap.topics[topic], snap.groups[s.group]
	if te == nil || g == nil || !g.want[topic] {
		if snap, err = c.fetchAlone(ctx, tick, s.group, topic); err != nil {
			return pipeline.Sample{}, err
		}
		te, g = snap.topics[topic], snap.groups[s.group]
	}
	lags, err := lagOf(te, g, topic, s.group, c.cfg.Name)
	if err != nil {
		return pipeline.Sample{}, err
	}
	return pipeline.Sample{Lags: lags}, nil
}

// lagOf computes the per-partition lag of topic for group from one fetch.
func lagOf(te *topicEnds, g *groupOffsets, topic, group, cluster string) ([]int64, error) {
	switch {
	case te.err != nil:
		return nil, te.err
	case g.err != nil:
		return nil, g.err
	case g.noGroup:
		return nil, fmt.Errorf("group %q on cluster %q is unknown to its coordinator: %w", group, cluster, pipeline.ErrNoOffsets)
	case te.known == 0 && te.fetchErr != nil:
		return nil, te.fetchErr
	}
	committed := g.offsets[topic]
	lags := make([]int64, len(te.ends))
	withOffset := 0
	for p, end := range te.ends {
		lags[p] = pipeline.UnknownLag
		if p >= len(committed) || committed[p] < 0 {
			continue
		}
		withOffset++
		if end < 0 {
			continue
		}
		// A commit can pass the log end read a moment earlier: floor at 0.
		lags[p] = max(0, end-committed[p])
	}
	if withOffset == 0 {
		return nil, fmt.Errorf("group %q, topic %q on cluster %q: %w", group, topic, cluster, pipeline.ErrNoOffsets)
	}
	return lags, nil
}
