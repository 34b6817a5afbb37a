package notify

import (
	"time"

	"github.com/lagship/lagship/pipeline/status"
)

// ResendEvery is how often firing alerts are re-sent to Alertmanager,
// which resolves an alert that is not re-sent within its resolve_timeout
// (5m by default).
const ResendEvery = time.Minute

// Rules decide when an incident fires, updates, repeats and resolves.
type Rules struct {
	MinStatus    status.Status
	For          time.Duration
	Repeat       time.Duration // 0 = never
	SendResolved bool
	// Mirrors and Topics, when not nil, are the only ones watched.
	Mirrors, Topics map[string]bool
}

// Incident is what is remembered of a firing incident across restarts.
type Incident struct {
	Mirror  string `json:"mirror"`
	Topic   string `json:"topic"`
	Cluster string `json:"cluster,omitempty"`
	Group   string `json:"group,omitempty"`
	// Status is the status of the latest firing message.
	Status string `json:"status"`
	// Previous is the previous_status of the latest firing message.
	Previous  string    `json:"previous_status"`
	StartedAt time.Time `json:"started_at"`
	LastSent  time.Time `json:"last_sent"`
}

// Machine is the incident state machine of one notifier. It is pure: it
// sees judgements and times and returns the messages to send. Not safe for
// concurrent use.
type Machine struct {
	rules Rules
	// settleUntil: until then, restored incidents resolve only on OK and
	// are not downgraded (the evaluator has not seen a whole window yet).
	settleUntil time.Time
	// forget: a firing incident whose topic has not been judged for this
	// long (the topic was removed) resolves.
	forget    time.Duration
	incidents map[Key]*incident
}

type incident struct {
	seen      bool
	cur       status.Status // latest judgement
	curSince  time.Time     // when cur began
	above     bool          // cur >= min
	sideSince time.Time     // when cur went to its side of min
	below     status.Status // latest judgement below min
	lastSeen  time.Time

	firing   bool
	restored bool
	sent     status.Status // status of the latest firing message
	prev     status.Status // previous_status of the latest firing message
	started  time.Time
	lastSent time.Time
	cluster  string
	group    string
}

// DefaultForget is how long a firing incident may go unjudged before it
// resolves, unless SetForget says otherwise.
const DefaultForget = 30 * time.Minute

// NewMachine returns a machine with no incident.
func NewMachine(r Rules) *Machine {
	return &Machine{rules: r, forget: DefaultForget, incidents: map[Key]*incident{}}
}

// SetRules changes the rules; incidents are kept.
func (m *Machine) SetRules(r Rules) { m.rules = r }

// SetForget sets how long a firing incident may go unjudged (its topic
// removed) before it resolves; 0 keeps the current value.
func (m *Machine) SetForget(forget time.Duration) {
	if forget > 0 {
		m.forget = forget
	}
}

// Restore brings back incidents remembered from before a restart at now;
// until now+settle they resolve only on OK and are not downgraded. forget
// is as for SetForget.
func (m *Machine) Restore(now time.Time, settle, forget time.Duration, incs []Incident) {
	m.settleUntil = now.Add(settle)
	m.SetForget(forget)
	m.restore(now, incs)
}

// Adopt takes over incidents another agent fired for units this one now
// owns, as Restore does after a restart: until now+settle (or the end of a
// settle already running, whichever is later) they resolve only on OK and
// are not downgraded, because this agent's evaluator judges their topics
// from an empty window. An adopted incident replaces what the machine
// held for its topic.
func (m *Machine) Adopt(now time.Time, settle time.Duration, incs []Incident) {
	if until := now.Add(settle); until.After(m.settleUntil) {
		m.settleUntil = until
	}
	m.restore(now, incs)
}

// restore puts incidents remembered elsewhere into the machine.
func (m *Machine) restore(now time.Time, incs []Incident) {
	for _, in := range incs {
		st, err := status.Parse(in.Status)
		if err != nil {
			continue
		}
		prev, _ := status.Parse(in.Previous)
		m.incidents[Key{in.Mirror, in.Topic}] = &incident{
			firing: true, restored: true, sent: st, prev: prev, started: in.StartedAt, lastSent: in.LastSent,
			cluster: in.Cluster, group: in.Group, lastSeen: now,
		}
	}
}

// Drop forgets, without a message, what the machine holds of the topics
// drop reports (their unit moved to another agent, which notifies for
// them now). It returns how many firing incidents it dropped.
func (m *Machine) Drop(drop func(Key) bool) int {
	n := 0
	for k, in := range m.incidents {
		if drop(k) {
			if in.firing {
				n++
			}
			delete(m.incidents, k)
		}
	}
	return n
}

// Resettle treats the firing incidents as restored from now: until
// now+settle they resolve only on OK and are not downgraded. A reload that
// changes a mirror's status rules restarts its judgement, which is then
// incomplete for a window, as after a restart.
func (m *Machine) Resettle(now time.Time, settle time.Duration) {
	m.settleUntil = now.Add(settle)
	for _, in := range m.incidents {
		if in.firing {
			in.restored = true
		}
	}
}

// Firing lists the firing incidents, for the state file.
func (m *Machine) Firing() []Incident {
	var out []Incident
	for k, in := range m.incidents {
		if !in.firing {
			continue
		}
		out = append(out, Incident{Mirror: k.Mirror, Topic: k.Topic, Cluster: in.cluster, Group: in.group,
			Status: in.sent.String(), Previous: in.prev.String(), StartedAt: in.started, LastSent: in.lastSent})
	}
	return out
}

// FiringCount is the number of firing incidents.
func (m *Machine) FiringCount() int {
	n := 0
	for _, in := range m.incidents {
		if in.firing {
			n++
		}
	}
	return n
}

// watched reports whether the rules cover a topic.
func (m *Machine) watched(mirror, topic string) bool {
	return (m.rules.Mirrors == nil || m.rules.Mirrors[mirror]) && (m.rules.Topics == nil || m.rules.Topics[topic])
}

// Step judges topics at now and returns the messages due. Call it
// regularly (every second), with the latest judgement even when it has not
// changed: holding for `for` and repeating are decided by time.
func (m *Machine) Step(now time.Time, topics []status.TopicStatus) []Event {
	var out []Event
	r := &m.rules
	settling := now.Before(m.settleUntil)
	for i := range topics {
		ts := &topics[i]
		if !m.watched(ts.Target.Mirror, ts.Target.Topic) {
			continue
		}
		k := Key{ts.Target.Mirror, ts.Target.Topic}
		in := m.incidents[k]
		if ts.Status == status.Unknown {
			// Judged, without a status yet: nothing changes, but the
			// topic is still there.
			if in != nil {
				in.lastSeen = now
			}
			continue
		}
		if in == nil {
			in = &incident{}
			m.incidents[k] = in
		}
		s := ts.Status
		in.lastSeen = now
		in.cluster, in.group = ts.Target.Cluster, ts.Target.Group
		// A change dates from the tick that observed it, not from when
		// this loop noticed it.
		since := now
		if !ts.At.IsZero() && ts.At.Before(now) {
			since = ts.At
		}
		if !in.seen || s != in.cur {
			in.cur, in.curSince = s, since
		}
		above := s >= r.MinStatus
		if !in.seen || above != in.above {
			in.above, in.sideSince = above, since
		}
		in.seen = true
		if !above {
			in.below = s
		}
		held := now.Sub(in.sideSince) >= r.For
		switch {
		case !in.firing:
			if above && held {
				in.firing, in.sent, in.prev, in.started, in.lastSent = true, s, in.below, in.sideSince, now
				out = append(out, m.event(Firing, ts, in, now))
			}
		case !above:
			if in.restored && settling && s != status.OK {
				out = m.repeat(out, ts, in, now)
				continue
			}
			if !held {
				out = m.repeat(out, ts, in, now)
				continue
			}
			ev := m.event(Resolved, ts, in, now)
			ev.PreviousStatus = in.sent.String()
			in.firing, in.restored = false, false
			if r.SendResolved {
				out = append(out, ev)
			}
		case s != in.sent && now.Sub(in.curSince) >= r.For && !(in.restored && settling && s < in.sent):
			in.prev, in.sent, in.lastSent = in.sent, s, now
			out = append(out, m.event(Firing, ts, in, now))
		default:
			out = m.repeat(out, ts, in, now)
		}
	}
	// Firing incidents of topics no longer judged (removed from the
	// config) resolve after a while, so nothing fires forever.
	for k, in := range m.incidents {
		if now.Sub(in.lastSeen) < m.forget {
			continue
		}
		delete(m.incidents, k)
		if in.firing && r.SendResolved {
			out = append(out, Event{Event: Resolved, Mirror: k.Mirror, Topic: k.Topic, Cluster: in.cluster, Group: in.group,
				PreviousStatus: in.sent.String(), Partitions: []Partition{}, StartedAt: in.started.UTC(), Time: now.UTC()})
		}
	}
	return out
}

// repeat appends the incident's latest firing message again when it is due.
func (m *Machine) repeat(out []Event, ts *status.TopicStatus, in *incident, now time.Time) []Event {
	if m.rules.Repeat <= 0 || now.Sub(in.lastSent) < m.rules.Repeat {
		return out
	}
	in.lastSent = now
	ev := m.event(Firing, ts, in, now)
	ev.Status = in.sent.String()
	return append(out, ev)
}

func (m *Machine) event(kind string, ts *status.TopicStatus, in *incident, now time.Time) Event {
	ev := newEvent(kind, ts, m.rules.MinStatus, now)
	ev.PreviousStatus = in.prev.String()
	ev.StartedAt = in.started.UTC()
	return ev
}
