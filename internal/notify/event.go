package notify

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/lagship/lagship/pipeline/status"
)

// Kinds of event.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Event is one message about an incident; its JSON is the default webhook
// body.
type Event struct {
	Event   string `json:"event"` // firing | resolved
	Mirror  string `json:"mirror"`
	Cluster string `json:"cluster"`
	Group   string `json:"group"`
	Topic   string `json:"topic"`
	// Status is the topic's status now: the firing one, or the one it fell
	// back to when resolved.
	Status string `json:"status"`
	// PreviousStatus is the status before: the last one below min_status
	// for the first firing, the last firing one for an update or a
	// resolved message.
	PreviousStatus string `json:"previous_status"`
	TotalLag       int64  `json:"total_lag"`
	MaxLag         int64  `json:"max_lag"`
	// MaxTimeLag is in seconds; null when unknown.
	MaxTimeLag *float64 `json:"max_time_lag"`
	// Partitions lists those at or above min_status.
	Partitions []Partition `json:"partitions"`
	StartedAt  time.Time   `json:"started_at"`
	Time       time.Time   `json:"time"`
	// Test marks the message of lagship notify test.
	Test bool `json:"test,omitempty"`
}

// Partition is one partition of an event.
type Partition struct {
	Partition int    `json:"partition"`
	Status    string `json:"status"`
	Lag       int64  `json:"lag"`
	// TimeLag is in seconds; null when unknown.
	TimeLag *float64 `json:"time_lag"`
}

// Key names an incident.
type Key struct{ Mirror, Topic string }

func (k Key) String() string { return k.Mirror + "/" + k.Topic }

func (e *Event) key() Key { return Key{e.Mirror, e.Topic} }

// seconds rounds a duration to milliseconds, in seconds.
func seconds(d time.Duration) *float64 {
	v := math.Round(d.Seconds()*1000) / 1000
	return &v
}

// newEvent describes ts for an incident at min.
func newEvent(kind string, ts *status.TopicStatus, min status.Status, now time.Time) Event {
	ev := Event{
		Event: kind, Mirror: ts.Target.Mirror, Cluster: ts.Target.Cluster, Group: ts.Target.Group, Topic: ts.Target.Topic,
		Status: ts.Status.String(), TotalLag: ts.TotalLag, MaxLag: ts.MaxLag, Partitions: []Partition{}, Time: now.UTC(),
	}
	if ts.HasTimeLag {
		ev.MaxTimeLag = seconds(ts.MaxTimeLag)
	}
	for p, r := range ts.Partitions {
		if r.Status < min {
			continue
		}
		part := Partition{Partition: p, Status: r.Status.String(), Lag: r.Lag}
		if r.HasTimeLag {
			part.TimeLag = seconds(r.TimeLag)
		}
		ev.Partitions = append(ev.Partitions, part)
	}
	return ev
}

// Summary is the event in one line of words.
func (e *Event) Summary() string {
	var b strings.Builder
	if e.Test {
		b.WriteString("TEST from lagship: ")
	}
	switch {
	case e.Event == Resolved:
		fmt.Fprintf(&b, "resolved: mirror %s, topic %s is %s again (was %s)", e.Mirror, e.Topic, e.Status, e.PreviousStatus)
	case e.PreviousStatus != "":
		fmt.Fprintf(&b, "mirror %s, topic %s is %s (was %s)", e.Mirror, e.Topic, e.Status, e.PreviousStatus)
	default:
		fmt.Fprintf(&b, "mirror %s, topic %s is %s", e.Mirror, e.Topic, e.Status)
	}
	return b.String()
}

// Description is the event's lags in words.
func (e *Event) Description() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s. Total lag %d messages, max partition lag %d", e.Summary(), e.TotalLag, e.MaxLag)
	if e.MaxTimeLag != nil {
		fmt.Fprintf(&b, ", max time lag %s", humanSeconds(*e.MaxTimeLag))
	}
	if len(e.Partitions) > 0 {
		b.WriteString(". Partitions:")
		for i, p := range e.Partitions {
			if i == 10 {
				fmt.Fprintf(&b, " and %d more", len(e.Partitions)-i)
				break
			}
			fmt.Fprintf(&b, " %d %s lag %d", p.Partition, p.Status, p.Lag)
			if i < len(e.Partitions)-1 && i < 9 {
				b.WriteByte(',')
			}
		}
	}
	fmt.Fprintf(&b, ". Group %s on cluster %s, since %s.", e.Group, e.Cluster, e.StartedAt.UTC().Format(time.RFC3339))
	return b.String()
}

// humanSeconds prints seconds as a rounded duration (1h2m3s).
func humanSeconds(s float64) string {
	return (time.Duration(s*float64(time.Second)) / time.Second * time.Second).String()
}

// templateData is what a body template sees: the default JSON body's
// fields by their JSON names, plus summary, description and test. Numbers
// are numbers (lags and partitions int64, seconds float64, nil when
// unknown), so that gt, lt and if work on them; times are the JSON body's
// RFC 3339 strings.
func (e *Event) templateData() map[string]any {
	parts := make([]any, len(e.Partitions))
	for i, p := range e.Partitions {
		parts[i] = map[string]any{"partition": int64(p.Partition), "status": p.Status, "lag": p.Lag, "time_lag": orNil(p.TimeLag)}
	}
	return map[string]any{
		"event": e.Event, "mirror": e.Mirror, "cluster": e.Cluster, "group": e.Group, "topic": e.Topic,
		"status": e.Status, "previous_status": e.PreviousStatus,
		"total_lag": e.TotalLag, "max_lag": e.MaxLag, "max_time_lag": orNil(e.MaxTimeLag),
		"partitions": parts, "started_at": jsonTime(e.StartedAt), "time": jsonTime(e.Time),
		"summary": e.Summary(), "description": e.Description(), "test": e.Test,
	}
}

// orNil is *f, or an untyped nil (not a nil *float64, which a template
// would see as set).
func orNil(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// jsonTime is t as the JSON body has it.
func jsonTime(t time.Time) string {
	b, err := t.MarshalJSON()
	if err != nil {
		return ""
	}
	return strings.Trim(string(b), `"`)
}

// funcs are the template's functions.
var funcs = template.FuncMap{
	// json quotes a value as JSON ("a \"b\"" for a string): use it for
	// every string placed in a JSON body.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	// severity is warning for WARN, critical above (info for OK).
	"severity": severity,
	// duration prints seconds (a number) as 1h2m3s.
	"duration": func(v any) string {
		switch x := v.(type) {
		case float64:
			return humanSeconds(x)
		case int64:
			return humanSeconds(float64(x))
		case int:
			return humanSeconds(float64(x))
		}
		return ""
	},
	// sortedKeys helps range over a map in a stable order.
	"sortedKeys": func(m map[string]any) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	},
}

func severity(st any) string {
	s, _ := st.(string)
	switch strings.ToUpper(s) {
	case "OK", "":
		return "info"
	case "WARN":
		return "warning"
	}
	return "critical"
}

func sortStrings(s []string) { sort.Strings(s) }

// SampleEvent is a realistic event for validating and testing templates:
// firing (STOP, was OK) or resolved (OK, was STOP).
func SampleEvent(firing bool) Event {
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	tl := 754.5
	ev := Event{
		Event: Firing, Mirror: "dc1-to-dc2", Cluster: "dc1", Group: "mirrormaker", Topic: "orders",
		Status: "STOP", PreviousStatus: "OK", TotalLag: 18234, MaxLag: 9120, MaxTimeLag: &tl,
		Partitions: []Partition{{Partition: 0, Status: "STOP", Lag: 9120, TimeLag: &tl}, {Partition: 2, Status: "STOP", Lag: 9114}},
		StartedAt:  at, Time: at,
	}
	if !firing {
		zero := 0.0
		ev.Event, ev.Status, ev.PreviousStatus = Resolved, "OK", "STOP"
		ev.TotalLag, ev.MaxLag, ev.MaxTimeLag, ev.Partitions = 3, 2, &zero, []Partition{}
		ev.Time = at.Add(17*time.Minute + 30*time.Second)
	}
	return ev
}
