package httpapi

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lagship/lagship/internal/health"
)

var (
	descTicks     = prometheus.NewDesc("lagship_ticks_total", "Collections started by the workers.", nil, nil)
	descMissed    = prometheus.NewDesc("lagship_missed_ticks_total", "Ticks skipped because a collection ran past its interval.", nil, nil)
	descErrors    = prometheus.NewDesc("lagship_tick_errors_total", "Collections that failed (not counting states such as no committed offsets).", nil, nil)
	descDocs      = prometheus.NewDesc("lagship_documents_total", "Documents handed to the sink.", nil, nil)
	descCollect   = prometheus.NewDesc("lagship_last_collect_seconds", "Duration of the latest collection.", nil, nil)
	descCompState = prometheus.NewDesc("lagship_component_up", "1 when the component (sink, cluster connection, SSH host, offsets reader) is up, 0 otherwise; the state label says which.", []string{"component", "state"}, nil)
)

// collector serves the agent's own counters and its components' health at
// scrape time (the per-partition metrics are in families.go).
type collector struct{ srv *Server }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTicks, descMissed, descErrors, descDocs, descCollect, descCompState} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if f := c.srv.agent.Counters; f != nil {
		n := f()
		ch <- prometheus.MustNewConstMetric(descTicks, prometheus.CounterValue, float64(n.Ticks))
		ch <- prometheus.MustNewConstMetric(descMissed, prometheus.CounterValue, float64(n.Missed))
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n.Errors))
		ch <- prometheus.MustNewConstMetric(descDocs, prometheus.CounterValue, float64(n.Documents))
		ch <- prometheus.MustNewConstMetric(descCollect, prometheus.GaugeValue, n.LastCollect.Seconds())
	}
	seenComp := map[string]bool{}
	for _, r := range c.srv.agent.Components {
		for _, st := range r.Health() {
			if seenComp[st.Component] {
				continue
			}
			seenComp[st.Component] = true
			up := 0.0
			if st.State == health.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descCompState, prometheus.GaugeValue, up, st.Component, string(st.State))
		}
	}
}

func goVersion() string { return runtime.Version() }
