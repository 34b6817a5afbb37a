package mm2

import "github.com/lagship/lagship/internal/health"

// Health reports the offsets-topic reader: starting until it has caught up
// with the topic, degraded while reading fails.
func (r *Reader) Health() []health.Status {
	state := health.Up
	if !r.Ready() {
		state = health.Starting
	}
	last := ""
	if err := r.Err(); err != nil {
		state, last = health.Degraded, err.Error()
	}
	return []health.Status{{
		Component: "mm2 offsets " + r.Topic(),
		State:     state,
		LastError: last,
		Counters: map[string]int64{
			"records":   r.records.Load(),
			"malformed": r.Malformed(),
		},
	}}
}
