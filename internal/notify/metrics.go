package notify

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lagship/lagship/internal/health"
)

var (
	descSent    = prometheus.NewDesc("lagship_notify_sent_total", "Notifications delivered, by notifier.", []string{"notifier"}, nil)
	descFailed  = prometheus.NewDesc("lagship_notify_failed_total", "Notifications not delivered, by notifier: rejected by the receiver (4xx), or expired after 10 minutes of retries.", []string{"notifier", "reason"}, nil)
	descDropped = prometheus.NewDesc("lagship_notify_dropped_total", "Queued notifications dropped unsent, by notifier: superseded by a newer state of their incident, or pushed out of a full queue.", []string{"notifier", "reason"}, nil)
	descRetries = prometheus.NewDesc("lagship_notify_retries_total", "Delivery attempts that failed and were retried, by notifier.", []string{"notifier"}, nil)
	descQueued  = prometheus.NewDesc("lagship_notify_queued", "Notifications waiting for delivery, by notifier.", []string{"notifier"}, nil)
	descFiring  = prometheus.NewDesc("lagship_notify_firing", "Incidents firing, by notifier.", []string{"notifier"}, nil)
)

// Collector returns the service's metrics. It describes nothing (an
// unchecked collector): its series follow the config.
func (s *Service) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Service }

func (collector) Describe(chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	names := make([]string, 0, len(s.notifiers))
	for name := range s.notifiers {
		names = append(names, name)
	}
	sort.Strings(names)
	type row struct {
		c      *counters
		queued int
		firing int64
	}
	rows := make([]row, len(names))
	for i, name := range names {
		rows[i] = row{c: s.counters[name], firing: s.firing[name].Load()}
		rows[i].queued = s.notifiers[name].q.len()
	}
	s.mu.Unlock()
	for i, name := range names {
		r := rows[i]
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(r.c.sent.Load()), name)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(r.c.rejected.Load()), name, "rejected")
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(r.c.expired.Load()), name, "expired")
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(r.c.superseded.Load()), name, "superseded")
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(r.c.full.Load()), name, "full")
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(r.c.retries.Load()), name)
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(r.queued), name)
		ch <- prometheus.MustNewConstMetric(descFiring, prometheus.GaugeValue, float64(r.firing), name)
	}
}

// Health reports each notifier: degraded while messages wait after a
// failed attempt, with its totals (for the agent's periodic summary).
func (s *Service) Health() []health.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.notifiers))
	for name := range s.notifiers {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]health.Status, 0, len(names))
	for _, name := range names {
		c, q := s.counters[name], s.notifiers[name].q.len()
		st := health.Status{Component: "notify " + name, State: health.Up, LastError: c.err(), Counters: map[string]int64{
			"sent": c.sent.Load(), "failed": c.rejected.Load() + c.expired.Load(), "dropped": c.superseded.Load() + c.full.Load(),
			"queued": int64(q), "firing": s.firing[name].Load(),
		}}
		if st.LastError != "" && q > 0 {
			st.State = health.Degraded
		}
		out = append(out, st)
	}
	return out
}
