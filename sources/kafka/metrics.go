package kafka

import "github.com/prometheus/client_golang/prometheus"

var (
	descRequests = prometheus.NewDesc("lagship_kafka_requests_total",
		"Requests written to the cluster's brokers, by Kafka API (ListOffsets, OffsetFetch, DescribeGroups, Metadata, FindCoordinator, ApiVersions, SASL).",
		[]string{"cluster", "api"}, nil)
	descFetches = prometheus.NewDesc("lagship_kafka_fetches_total",
		"Shared fetches of every watched topic's offsets (one per tick and interval).", []string{"cluster"}, nil)
	descFetchSeconds = prometheus.NewDesc("lagship_kafka_last_fetch_seconds",
		"Wall time of the latest shared fetch.", []string{"cluster"}, nil)
)

// Describe sends nothing: a cluster is an unchecked collector, since the
// clusters an agent holds change with its config.
func (c *Cluster) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *Cluster) Collect(ch chan<- prometheus.Metric) {
	st := c.Stats()
	name := c.cfg.Name
	for api, n := range st.Requests {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), name, api)
	}
	ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, float64(st.Ticks), name)
	ch <- prometheus.MustNewConstMetric(descFetchSeconds, prometheus.GaugeValue, st.LastTickDuration.Seconds(), name)
}
