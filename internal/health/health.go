// Package health holds the two shapes in which lagship's components say how
// they are: a Check is one line of `lagship check` (a probe run on demand),
// a Status is what a running component reports of itself (state, last
// error, counters) for the periodic summary and the HTTP surface.
package health

// Check is the result of one probe.
type Check struct {
	Scope  string // "elasticsearch", "mirror legacy"
	Name   string // what was probed: "connect", "host key", "group"
	OK     bool
	Detail string // what was found, or what failed and what to do
}

// State of a running component.
type State string

// States, from best to worst.
const (
	Up       State = "up"
	Starting State = "starting"
	Degraded State = "degraded" // working, but something is wrong (spooling, retrying)
	Down     State = "down"
)

// Status is what a component reports of itself.
type Status struct {
	Component string           // "elasticsearch", "cluster dc1", "ssh 10.0.1.5"
	State     State            // up, starting, degraded, down
	LastError string           // the last failure in words ("" when none)
	Counters  map[string]int64 // monotonic counts and gauges, by name
	// Detail is what the component says of itself in words, for the
	// status page ("3 agents, generation 7; 4 units here").
	Detail string
}

// Reporter is a component that reports its status.
type Reporter interface {
	Health() []Status
}
