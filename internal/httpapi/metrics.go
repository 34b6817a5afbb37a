package httpapi

import (
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline/status"
)

var (
	partLabels  = []string{"mirror", "cluster", "group", "topic", "partition"}
	topicLabels = []string{"mirror", "cluster", "group", "topic"}

	descLag       = prometheus.NewDesc("lagship_partition_lag", "Messages the mirror is behind on the partition, at the last tick (no series while unknown).", partLabels, nil)
	descTimeLag   = prometheus.NewDesc("lagship_partition_time_lag_seconds", "Estimated seconds since the next record to mirror was appended to the source partition (no series while unknown).", partLabels, nil)
	descCommitted = prometheus.NewDesc("lagship_partition_committed_offset", "The group's committed offset on the partition at the last tick.", partLabels, nil)
	descLogEnd    = prometheus.NewDesc("lagship_partition_log_end_offset", "The partition's log-end offset at the last tick.", partLabels, nil)
	descStatus    = prometheus.NewDesc("lagship_topic_status", "1 for the topic's current status; every other status of a judged topic is 0 (no series while unknown).", append(topicLabels, "status"), nil)
	descTopicLag  = prometheus.NewDesc("lagship_topic_lag", "Total lag of the topic over partitions with a known lag.", topicLabels, nil)

	descTicks     = prometheus.NewDesc("lagship_ticks_total", "Collections started by the workers.", nil, nil)
	descMissed    = prometheus.NewDesc("lagship_missed_ticks_total", "Ticks skipped because a collection ran past its interval.", nil, nil)
	descErrors    = prometheus.NewDesc("lagship_tick_errors_total", "Collections that failed (not counting states such as no committed offsets).", nil, nil)
	descDocs      = prometheus.NewDesc("lagship_documents_total", "Documents handed to the sink.", nil, nil)
	descCollect   = prometheus.NewDesc("lagship_last_collect_seconds", "Duration of the latest collection.", nil, nil)
	descCompState = prometheus.NewDesc("lagship_component_up", "1 when the component (sink, cluster connection, SSH host, offsets reader) is up, 0 otherwise; the state label says which.", []string{"component", "state"}, nil)
	descCompValue = prometheus.NewDesc("lagship_component_value", "A component's own counters and gauges (documents delivered, refused, spooled; spool bytes; Kafka requests; SSH dials...), by name.", []string{"component", "name"}, nil)

	// kafka_exporter's names, for dashboards and rules built on it.
	descKELag        = prometheus.NewDesc("kafka_consumergroup_lag", "Current approximate lag of a consumer group at topic/partition (kafka_exporter compatible).", []string{"consumergroup", "topic", "partition"}, nil)
	descKELagSum     = prometheus.NewDesc("kafka_consumergroup_lag_sum", "Current approximate lag of a consumer group at topic for all partitions (kafka_exporter compatible).", []string{"consumergroup", "topic"}, nil)
	descKECurrent    = prometheus.NewDesc("kafka_consumergroup_current_offset", "Current offset of a consumer group at topic/partition (kafka_exporter compatible).", []string{"consumergroup", "topic", "partition"}, nil)
	descKETopicCurrt = prometheus.NewDesc("kafka_topic_partition_current_offset", "Current offset of a broker at topic/partition (kafka_exporter compatible).", []string{"topic", "partition"}, nil)
)

// collector turns the agent's memory into metrics at scrape time.
type collector struct{ srv *Server }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descTimeLag, descCommitted, descLogEnd, descStatus, descTopicLag,
		descTicks, descMissed, descErrors, descDocs, descCollect, descCompState, descCompValue} {
		ch <- d
	}
	if c.srv.settings.KafkaExporterCompat {
		for _, d := range []*prometheus.Desc{descKELag, descKELagSum, descKECurrent, descKETopicCurrt} {
			ch <- d
		}
	}
}

var statuses = []status.Status{status.OK, status.WARN, status.ERR, status.REWIND, status.STALL, status.STOP}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	compat := c.srv.settings.KafkaExporterCompat
	topicSeen := map[[2]string]bool{}
	for _, t := range c.srv.topics() {
		tg := t.Target
		group := tg.Group
		for p, r := range t.Partitions {
			ps := strconv.Itoa(p)
			if r.Lag >= 0 {
				ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(r.Lag), tg.Mirror, tg.Cluster, group, tg.Topic, ps)
			}
			if r.HasTimeLag {
				ch <- prometheus.MustNewConstMetric(descTimeLag, prometheus.GaugeValue, r.TimeLag.Seconds(), tg.Mirror, tg.Cluster, group, tg.Topic, ps)
			}
			if r.Committed >= 0 {
				ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(r.Committed), tg.Mirror, tg.Cluster, group, tg.Topic, ps)
			}
			if r.LogEnd >= 0 {
				ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(r.LogEnd), tg.Mirror, tg.Cluster, group, tg.Topic, ps)
			}
			if compat {
				if r.Lag >= 0 {
					ch <- prometheus.MustNewConstMetric(descKELag, prometheus.GaugeValue, float64(r.Lag), group, tg.Topic, ps)
				}
				if r.Committed >= 0 {
					ch <- prometheus.MustNewConstMetric(descKECurrent, prometheus.GaugeValue, float64(r.Committed), group, tg.Topic, ps)
				}
				// One series per topic partition, even when two mirrors
				// watch the topic (kafka_exporter has no mirror label).
				key := [2]string{tg.Topic, ps}
				if r.LogEnd >= 0 && !topicSeen[key] {
					topicSeen[key] = true
					ch <- prometheus.MustNewConstMetric(descKETopicCurrt, prometheus.GaugeValue, float64(r.LogEnd), tg.Topic, ps)
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(descTopicLag, prometheus.GaugeValue, float64(t.TotalLag), tg.Mirror, tg.Cluster, group, tg.Topic)
		if compat {
			ch <- prometheus.MustNewConstMetric(descKELagSum, prometheus.GaugeValue, float64(t.TotalLag), group, tg.Topic)
		}
		if t.Status != status.Unknown {
			for _, st := range statuses {
				v := 0.0
				if st == t.Status {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, v, tg.Mirror, tg.Cluster, group, tg.Topic, st.String())
			}
		}
	}
	if f := c.srv.agent.Counters; f != nil {
		n := f()
		ch <- prometheus.MustNewConstMetric(descTicks, prometheus.CounterValue, float64(n.Ticks))
		ch <- prometheus.MustNewConstMetric(descMissed, prometheus.CounterValue, float64(n.Missed))
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n.Errors))
		ch <- prometheus.MustNewConstMetric(descDocs, prometheus.CounterValue, float64(n.Documents))
		ch <- prometheus.MustNewConstMetric(descCollect, prometheus.GaugeValue, n.LastCollect.Seconds())
	}
	seen := map[[2]string]bool{}
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
			for name, v := range st.Counters {
				key := [2]string{st.Component, name}
				if seen[key] {
					continue
				}
				seen[key] = true
				ch <- prometheus.MustNewConstMetric(descCompValue, prometheus.GaugeValue, float64(v), st.Component, name)
			}
		}
	}
}

func goVersion() string { return runtime.Version() }
