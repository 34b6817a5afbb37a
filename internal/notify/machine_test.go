package notify

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

var t0 = time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)

// topic is a judgement of mirror mm's topic with every partition at st.
func topic(name string, st status.Status, parts int) status.TopicStatus {
	ts := status.TopicStatus{Target: pipeline.Target{Mirror: "mm", Topic: name, Group: "mirrormaker", Cluster: "dc1"}, Status: st}
	for p := range parts {
		lag := int64(100 * (p + 1))
		if st <= status.OK {
			lag = 0
		}
		ts.Partitions = append(ts.Partitions, status.Result{Status: st, Lag: lag})
		ts.TotalLag += lag
		ts.MaxLag = max(ts.MaxLag, lag)
	}
	return ts
}

// change: from second At on, the topic's status is St.
type change struct {
	At int
	St status.Status
}

// run steps m once a second from 0 to end, the topic following changes,
// and renders each message as "second event status<-previous".
func run(m *Machine, changes []change, end int) []string {
	var out []string
	cur := status.Unknown
	for s := 0; s <= end; s++ {
		for _, c := range changes {
			if c.At == s {
				cur = c.St
			}
		}
		for _, ev := range m.Step(t0.Add(time.Duration(s)*time.Second), []status.TopicStatus{topic("orders", cur, 2)}) {
			out = append(out, fmt.Sprintf("%d %s %s<-%s", s, ev.Event, ev.Status, ev.PreviousStatus))
		}
	}
	return out
}

func TestMachine(t *testing.T) {
	base := Rules{MinStatus: status.WARN, SendResolved: true}
	with := func(f func(*Rules)) Rules { r := base; f(&r); return r }
	cases := []struct {
		name    string
		rules   Rules
		changes []change
		end     int
		want    []string
	}{
		{"healthy: nothing", base, []change{{0, status.OK}}, 30, nil},
		{"unknown: nothing", base, []change{{0, status.Unknown}}, 30, nil},
		{"fires once, resolves once", base, []change{{0, status.OK}, {5, status.STOP}, {20, status.OK}}, 40,
			[]string{"5 firing STOP<-OK", "20 resolved OK<-STOP"}},
		{"no message while nothing changes", base, []change{{0, status.OK}, {1, status.STALL}}, 3000,
			[]string{"1 firing STALL<-OK"}},
		{"repeat while firing", with(func(r *Rules) { r.Repeat = 10 * time.Second }), []change{{0, status.OK}, {1, status.ERR}, {35, status.OK}}, 40,
			[]string{"1 firing ERR<-OK", "11 firing ERR<-OK", "21 firing ERR<-OK", "31 firing ERR<-OK", "35 resolved OK<-ERR"}},
		{"for holds before firing and before resolving", with(func(r *Rules) { r.For = 5 * time.Second }), []change{{0, status.OK}, {10, status.STOP}, {30, status.OK}}, 40,
			[]string{"15 firing STOP<-OK", "35 resolved OK<-STOP"}},
		{"flapping every 2s with for 5s: nothing", with(func(r *Rules) { r.For = 5 * time.Second }),
			[]change{{0, status.OK}, {2, status.STOP}, {4, status.OK}, {6, status.STOP}, {8, status.OK}, {10, status.STOP}, {12, status.OK}, {14, status.STOP}, {16, status.OK}, {18, status.STOP}, {20, status.OK}}, 40, nil},
		{"update on a change of status while firing", base, []change{{0, status.OK}, {3, status.WARN}, {8, status.STOP}, {12, status.WARN}, {20, status.OK}}, 30,
			[]string{"3 firing WARN<-OK", "8 firing STOP<-WARN", "12 firing WARN<-STOP", "20 resolved OK<-WARN"}},
		{"update waits for `for`", with(func(r *Rules) { r.For = 5 * time.Second }), []change{{0, status.OK}, {3, status.WARN}, {10, status.STOP}, {12, status.WARN}, {30, status.OK}}, 40,
			[]string{"8 firing WARN<-OK", "35 resolved OK<-WARN"}},
		{"below min_status is not an incident", with(func(r *Rules) { r.MinStatus = status.STALL }), []change{{0, status.OK}, {3, status.WARN}, {6, status.ERR}, {9, status.STOP}, {12, status.WARN}}, 20,
			[]string{"9 firing STOP<-ERR", "12 resolved WARN<-STOP"}},
		{"send_resolved false", with(func(r *Rules) { r.SendResolved = false }), []change{{0, status.OK}, {3, status.STOP}, {6, status.OK}, {9, status.STOP}}, 12,
			[]string{"3 firing STOP<-OK", "9 firing STOP<-OK"}},
		{"unknown while firing changes nothing", base, []change{{0, status.OK}, {3, status.STOP}, {6, status.Unknown}, {20, status.STOP}}, 30,
			[]string{"3 firing STOP<-OK"}},
		{"other mirror filtered out", with(func(r *Rules) { r.Mirrors = map[string]bool{"other": true} }), []change{{0, status.STOP}}, 10, nil},
		{"other topic filtered out", with(func(r *Rules) { r.Topics = map[string]bool{"payments": true} }), []change{{0, status.STOP}}, 10, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(NewMachine(c.rules), c.changes, c.end)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			t.Logf("timeline %v -> %q", c.changes, got)
		})
	}
}

func TestMachineEventFields(t *testing.T) {
	m := NewMachine(Rules{MinStatus: status.STALL, SendResolved: true})
	ts := topic("orders", status.STOP, 3)
	ts.Partitions[1].Status = status.WARN
	ts.HasTimeLag, ts.MaxTimeLag = true, 1500*time.Millisecond
	ts.Partitions[0].HasTimeLag, ts.Partitions[0].TimeLag = true, 1500*time.Millisecond
	m.Step(t0, []status.TopicStatus{topic("orders", status.OK, 3)})
	evs := m.Step(t0.Add(time.Second), []status.TopicStatus{ts})
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	if ev.Mirror != "mm" || ev.Topic != "orders" || ev.Group != "mirrormaker" || ev.Cluster != "dc1" || ev.TotalLag != 600 || ev.MaxLag != 300 ||
		ev.MaxTimeLag == nil || *ev.MaxTimeLag != 1.5 || !ev.StartedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("event %+v", ev)
	}
	// Only partitions at or above min_status.
	if len(ev.Partitions) != 2 || ev.Partitions[0].Partition != 0 || ev.Partitions[1].Partition != 2 || *ev.Partitions[0].TimeLag != 1.5 || ev.Partitions[1].TimeLag != nil {
		t.Errorf("partitions %+v", ev.Partitions)
	}
	evs = m.Step(t0.Add(9*time.Second), []status.TopicStatus{topic("orders", status.OK, 3)})
	if len(evs) != 1 || evs[0].Event != Resolved || len(evs[0].Partitions) != 0 || evs[0].Partitions == nil || !evs[0].StartedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("resolved %+v", evs)
	}
}

// TestMachineRestore: a restored incident is not fired again; while the
// evaluator has not seen a whole window it resolves only on OK and is not
// downgraded; after that, normally.
func TestMachineRestore(t *testing.T) {
	firing := []Incident{{Mirror: "mm", Topic: "orders", Status: "STOP", Previous: "OK", StartedAt: t0.Add(-time.Hour), LastSent: t0.Add(-time.Hour)}}
	cases := []struct {
		name    string
		changes []change
		want    []string
	}{
		{"stays stopped: nothing", []change{{0, status.Unknown}, {2, status.WARN}, {6, status.STOP}}, nil},
		{"recovers during the window: resolved", []change{{0, status.Unknown}, {2, status.WARN}, {5, status.OK}}, []string{"5 resolved OK<-STOP"}},
		{"incomplete judgement after the window: resolved", []change{{0, status.Unknown}, {2, status.WARN}}, []string{"10 resolved WARN<-STOP"}},
		{"lesser statuses during the window: nothing", []change{{0, status.Unknown}, {2, status.WARN}, {4, status.STALL}, {6, status.ERR}, {8, status.STOP}}, nil},
		{"another firing status after the window: updates", []change{{0, status.Unknown}, {2, status.STALL}, {12, status.STOP}}, []string{"10 firing STALL<-STOP", "12 firing STOP<-STALL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMachine(Rules{MinStatus: status.STALL, SendResolved: true})
			m.Restore(t0, 10*time.Second, 0, firing)
			got := run(m, c.changes, 30)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestMachineForget: a firing incident whose topic is no longer judged
// resolves after the forget delay.
func TestMachineForget(t *testing.T) {
	m := NewMachine(Rules{MinStatus: status.WARN, SendResolved: true})
	m.Restore(t0, 0, time.Minute, nil)
	if evs := m.Step(t0, []status.TopicStatus{topic("orders", status.STOP, 1)}); len(evs) != 1 {
		t.Fatalf("%v", evs)
	}
	if evs := m.Step(t0.Add(59*time.Second), nil); len(evs) != 0 {
		t.Fatalf("early: %v", evs)
	}
	evs := m.Step(t0.Add(60*time.Second), nil)
	if len(evs) != 1 || evs[0].Event != Resolved || evs[0].PreviousStatus != "STOP" {
		t.Fatalf("%+v", evs)
	}
	if len(m.Firing()) != 0 {
		t.Fatal("still firing")
	}
}

// TestMachineTickTime: `for` counts from the tick that observed the
// change, not from when the machine is stepped.
func TestMachineTickTime(t *testing.T) {
	m := NewMachine(Rules{MinStatus: status.WARN, For: 2 * time.Second, SendResolved: true})
	ts := topic("orders", status.STOP, 1)
	ts.At = t0
	if evs := m.Step(t0.Add(1900*time.Millisecond), []status.TopicStatus{ts}); len(evs) != 0 {
		t.Fatalf("early: %v", evs)
	}
	evs := m.Step(t0.Add(2*time.Second), []status.TopicStatus{ts})
	if len(evs) != 1 || !evs[0].StartedAt.Equal(t0) {
		t.Fatalf("%+v", evs)
	}
}

// TestMachineUnknownKeepsIncident: a firing topic judged without a status
// (no committed offset) is still watched: it neither resolves nor is
// forgotten.
func TestMachineUnknownKeepsIncident(t *testing.T) {
	m := NewMachine(Rules{MinStatus: status.WARN, SendResolved: true})
	m.Restore(t0, 0, time.Minute, nil)
	m.Step(t0, []status.TopicStatus{topic("orders", status.STOP, 1)})
	for s := 1; s <= 300; s++ {
		if evs := m.Step(t0.Add(time.Duration(s)*time.Second), []status.TopicStatus{topic("orders", status.Unknown, 1)}); len(evs) != 0 {
			t.Fatalf("at %d: %+v", s, evs)
		}
	}
	if m.FiringCount() != 1 {
		t.Fatal("forgotten")
	}
}

// TestMachineResettle: after a reload, a firing incident holds against an
// incomplete judgement for the settle time, and resolves on OK.
func TestMachineResettle(t *testing.T) {
	for _, c := range []struct {
		name    string
		changes []change
		want    []string
	}{
		{"incomplete after the reload: nothing", []change{{0, status.STOP}, {10, status.Unknown}, {11, status.WARN}, {14, status.STOP}}, []string{"0 firing STOP<-"}},
		{"OK after the reload: resolved", []change{{0, status.STOP}, {10, status.Unknown}, {11, status.WARN}, {13, status.OK}}, []string{"0 firing STOP<-", "13 resolved OK<-STOP"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMachine(Rules{MinStatus: status.STALL, SendResolved: true})
			var got []string
			cur := status.Unknown
			for s := 0; s <= 30; s++ {
				if s == 10 {
					m.Resettle(t0.Add(10*time.Second), 5*time.Second)
				}
				for _, ch := range c.changes {
					if ch.At == s {
						cur = ch.St
					}
				}
				for _, ev := range m.Step(t0.Add(time.Duration(s)*time.Second), []status.TopicStatus{topic("orders", cur, 1)}) {
					got = append(got, fmt.Sprintf("%d %s %s<-%s", s, ev.Event, ev.Status, ev.PreviousStatus))
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
