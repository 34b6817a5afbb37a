package coord

import "github.com/prometheus/client_golang/prometheus"

var (
	descMembers    = prometheus.NewDesc("lagship_coordination_members", "Members of the agents' group, as the last assignment listed them.", nil, nil)
	descUnits      = prometheus.NewDesc("lagship_coordination_units", "Units each member of the group owns (member: host/member id).", []string{"member", "host"}, nil)
	descOwn        = prometheus.NewDesc("lagship_coordination_own_units", "Units this agent owns.", nil, nil)
	descGeneration = prometheus.NewDesc("lagship_coordination_generation", "Generation of the group this agent's assignment belongs to.", nil, nil)
	descLeader     = prometheus.NewDesc("lagship_coordination_leader", "1 when this agent leads the group (computes the assignment).", nil, nil)
	descMismatch   = prometheus.NewDesc("lagship_coordination_config_mismatch", "1 when this agent's config hash differs from the leader's (it gets no units).", nil, nil)
	descRebalances = prometheus.NewDesc("lagship_coordination_rebalances_total", "Assignments this agent received.", nil, nil)
	descRequests   = prometheus.NewDesc("lagship_coordination_requests_total", "Group-membership requests to the coordination cluster, by API.", []string{"api"}, nil)
)

// Describe implements prometheus.Collector.
func (m *Member) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMembers, descUnits, descOwn, descGeneration, descLeader, descMismatch, descRebalances, descRequests} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Member) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	v := m.view
	counts := make(map[string]int64, len(m.counts))
	for k, n := range m.counts {
		counts[k] = n
	}
	rebal := m.rebal
	m.mu.Unlock()
	gauge := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, labels...)
	}
	gauge(descMembers, float64(len(v.Members)))
	for _, mv := range v.Members {
		gauge(descUnits, float64(mv.Units), mv.ID, mv.Host)
	}
	gauge(descOwn, float64(len(v.Units)))
	gauge(descGeneration, float64(v.Generation))
	gauge(descLeader, b2f(v.IsLeader))
	gauge(descMismatch, b2f(v.Joined && v.LeaderHash != "" && v.LeaderHash != v.Hash))
	ch <- prometheus.MustNewConstMetric(descRebalances, prometheus.CounterValue, float64(rebal))
	for api, n := range counts {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), api)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
