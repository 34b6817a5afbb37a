package kafka

import (
	"time"

	"github.com/lagship/lagship/internal/health"
)

// Health reports the cluster connection: degraded when its latest failure
// is newer than its latest tick fetch.
func (c *Cluster) Health() []health.Status {
	st := c.Stats()
	var requests uint64
	for _, n := range st.Requests {
		requests += n
	}
	state := health.Up
	if st.Ticks == 0 {
		state = health.Starting
	}
	if st.LastError != "" && time.Since(st.LastErrorAt) < time.Minute {
		state = health.Degraded
	}
	return []health.Status{{
		Component: "cluster " + c.cfg.Name,
		State:     state,
		LastError: st.LastError,
		Counters: map[string]int64{
			"requests":           int64(requests),
			"ticks":              int64(st.Ticks),
			"metadata_refreshes": int64(st.MetadataRefreshes),
		},
	}}
}
