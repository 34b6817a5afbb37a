package coord

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafka "github.com/segmentio/kafka-go"
)

func TestMetrics(t *testing.T) {
	m := New(Config{Settings: Settings{Group: "g"}, Client: &kafka.Client{}})
	m.SetPlan("h", numbered(3))
	m.publish(func(v *View) {
		v.Joined, v.Generation, v.IsLeader, v.LeaderHash = true, 4, true, "h"
		v.Units = []string{"m/t000", "m/t001"}
		v.Members = []MemberView{{ID: "id-a", Host: "a", Units: 2}, {ID: "id-b", Host: "b", Units: 1}}
	})
	m.count("Heartbeat")
	want := `
# HELP lagship_coordination_generation Generation of the group this agent's assignment belongs to.
# TYPE lagship_coordination_generation gauge
lagship_coordination_generation 4
# HELP lagship_coordination_members Members of the agents' group, as the last assignment listed them.
# TYPE lagship_coordination_members gauge
lagship_coordination_members 2
# HELP lagship_coordination_units Units each member of the group owns (member: host/member id).
# TYPE lagship_coordination_units gauge
lagship_coordination_units{host="a",member="id-a"} 2
lagship_coordination_units{host="b",member="id-b"} 1
# HELP lagship_coordination_own_units Units this agent owns.
# TYPE lagship_coordination_own_units gauge
lagship_coordination_own_units 2
# HELP lagship_coordination_config_mismatch 1 when this agent's config hash differs from the leader's (it gets no units).
# TYPE lagship_coordination_config_mismatch gauge
lagship_coordination_config_mismatch 0
# HELP lagship_coordination_requests_total Group-membership requests to the coordination cluster, by API.
# TYPE lagship_coordination_requests_total counter
lagship_coordination_requests_total{api="Heartbeat"} 1
`
	names := []string{"lagship_coordination_generation", "lagship_coordination_members", "lagship_coordination_units", "lagship_coordination_own_units", "lagship_coordination_config_mismatch", "lagship_coordination_requests_total"}
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	// A mismatch shows.
	m.publish(func(v *View) { v.LeaderHash = "other" })
	if v := testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		all := make(chan prometheus.Metric, 32)
		m.Collect(all)
		close(all)
		for x := range all {
			if strings.Contains(x.Desc().String(), "config_mismatch") {
				ch <- x
			}
		}
	})); v != 1 {
		t.Errorf("config_mismatch %v after a mismatch", v)
	}
}
