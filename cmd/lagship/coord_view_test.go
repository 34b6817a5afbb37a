package main

import (
	"strings"
	"testing"

	"github.com/lagship/lagship/internal/coord"
	"github.com/lagship/lagship/internal/health"
)

// TestGroupHealth: how the status page and /metrics' component_up show an
// agent's place in its group.
func TestGroupHealth(t *testing.T) {
	members := []coord.MemberView{{Host: "mm1"}, {Host: "mm2"}, {Host: "mm3"}}
	for _, tc := range []struct {
		name   string
		view   coord.View
		state  health.State
		detail string
		err    string
	}{
		{"joining", coord.View{Group: "g"}, health.Starting, "joining the group", ""},
		{"member", coord.View{Group: "g", Joined: true, Generation: 7, Hash: "h", LeaderHash: "h", Units: []string{"m/a", "m/b"}, Members: members},
			health.Up, "3 agents (mm1, mm2, mm3), generation 7; this agent owns 2 units", ""},
		{"leader", coord.View{Group: "g", Joined: true, Generation: 2, IsLeader: true, Hash: "h", Units: []string{"m/a"}, Members: members[:1]},
			health.Up, "1 agent (mm1), generation 2; this agent, the leader, owns 1 unit", ""},
		{"odd config", coord.View{Group: "g", Joined: true, Generation: 3, Hash: "h2", LeaderHash: "h1", Members: members},
			health.Degraded, "3 agents (mm1, mm2, mm3), generation 3; this agent owns 0 units", "hash h2) differs from the group leader's (hash h1)"},
	} {
		st := groupHealth(tc.view)
		if st.Component != "agent group g" || st.State != tc.state || st.Detail != tc.detail || !strings.Contains(st.LastError, tc.err) || (tc.err == "") != (st.LastError == "") {
			t.Errorf("%s: %+v", tc.name, st)
		}
	}
}
