package ssh

import "github.com/lagship/lagship/internal/health"

// Health reports one status per SSH host: down while it cannot be reached
// after a failure, up otherwise.
func (p *Pool) Health() []health.Status {
	var out []health.Status
	for _, h := range p.Stats() {
		state := health.Up
		if !h.Connected && h.LastError != "" {
			state = health.Down
		}
		out = append(out, health.Status{
			Component: "ssh " + h.Host,
			State:     state,
			LastError: h.LastError,
			Counters: map[string]int64{
				"dials":         h.Dials,
				"dial_failures": h.DialFailures,
				"reconnects":    h.Reconnects,
				"drops":         h.Drops,
			},
		})
	}
	return out
}
