package coord

import (
	"strings"
	"time"

	"github.com/lagship/lagship/internal/configkit"
)

// Bounds of session_timeout. The broker has its own
// (group.min.session.timeout.ms, 6 s by default, and
// group.max.session.timeout.ms, 30 min): a value outside them is refused
// when the agent joins, and the agent logs which setting to change.
const (
	DefaultSessionTimeout = 10 * time.Second
	MinSessionTimeout     = time.Second
	MaxSessionTimeout     = 30 * time.Minute
	// maxGroupLen leaves room for the ".state" suffix of the state topic
	// within Kafka's 249 characters.
	maxGroupLen = configkit.MaxTopicLen - len(stateSuffix)
)

// Settings is the coordination section of the file; absent, the agent works
// alone.
type Settings struct {
	// Cluster names the cluster (under clusters:) whose brokers hold the
	// group.
	Cluster string `yaml:"cluster"`
	// Group is the Kafka group the agents join. It only holds
	// membership: it commits no offsets.
	Group string `yaml:"group"`
	// SessionTimeout is how long the group waits for a silent agent
	// before its units move: the failover time.
	SessionTimeout configkit.Duration `yaml:"session_timeout"`
}

// SetDefaults fills what the file left out.
func (s *Settings) SetDefaults() {
	if s.SessionTimeout == 0 {
		s.SessionTimeout = configkit.Duration(DefaultSessionTimeout)
	}
}

// Validate reports the section's problems through r (paths relative to
// the section).
func (s *Settings) Validate(r configkit.Reporter) {
	if s.Cluster == "" {
		r.Errorf(nil, "cluster is required: the cluster (under clusters:) where the agents' group lives")
	} else {
		defined := r.Names("clusters")
		found := false
		for _, d := range defined {
			found = found || d == s.Cluster
		}
		if !found {
			list := "none"
			if len(defined) > 0 {
				list = strings.Join(defined, ", ")
			}
			r.Errorf([]any{"cluster"}, "cluster %q is not defined under clusters (defined: %s)", s.Cluster, list)
		}
	}
	switch why := configkit.ValidTopic(s.Group); {
	case s.Group == "":
		r.Errorf(nil, "group is required: the Kafka group the agents join (e.g. lagship-agents)")
	case why != "":
		r.Errorf([]any{"group"}, "group %q %s (it also names the topic %s%s)", s.Group, why, s.Group, stateSuffix)
	case len(s.Group) > maxGroupLen:
		r.Errorf([]any{"group"}, "group %q is %d characters long; at most %d leave room for the topic %s%s", s.Group, len(s.Group), maxGroupLen, s.Group, stateSuffix)
	}
	switch d := time.Duration(s.SessionTimeout); {
	case d < MinSessionTimeout:
		r.Errorf([]any{"session_timeout"}, "%s is below %s (brokers refuse less than group.min.session.timeout.ms, 6s by default)", d, MinSessionTimeout)
	case d > MaxSessionTimeout:
		r.Errorf([]any{"session_timeout"}, "%s is above %s (group.max.session.timeout.ms by default); failover would take that long", d, MaxSessionTimeout)
	}
}
