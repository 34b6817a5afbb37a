package mm2

import "github.com/lagship/lagship/internal/health"

// Health reports the offsets-topic reader: starting until it has caught up
// with the topic, degraded while reading fails, up and paused while no
// mirror run here needs it.
func (r *Reader) Health() []health.Status {
	state, detail := health.Up, ""
	if !r.Ready() {
		state = health.Starting
	}
	if !r.Reading() && r.gated {
		// Another agent of the group owns the mirrors that need it.
		state, detail = health.Up, "paused: no mirror topic collected here needs it"
	}
	last := ""
	if err := r.Err(); err != nil {
		state, last = health.Degraded, err.Error()
	}
	return []health.Status{{
		Component: "mm2 offsets " + r.Topic(),
		State:     state,
		Detail:    detail,
		LastError: last,
		Counters: map[string]int64{
			"records":   r.records.Load(),
			"malformed": r.Malformed(),
		},
	}}
}
