package mm2

import "github.com/prometheus/client_golang/prometheus"

var (
	descRecords = prometheus.NewDesc("lagship_mm2_records_total",
		"Records read from MirrorMaker 2's offsets topic.", []string{"topic"}, nil)
	descMalformed = prometheus.NewDesc("lagship_mm2_malformed_records_total",
		"Records of the offsets topic that could not be decoded (skipped).", []string{"topic"}, nil)
	descReading = prometheus.NewDesc("lagship_mm2_reading",
		"1 while the offsets topic is read, 0 while paused (no mirror topic collected by this agent needs it).", []string{"topic"}, nil)
)

// Describe sends nothing: a reader is an unchecked collector.
func (r *Reader) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (r *Reader) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.CounterValue, float64(r.records.Load()), r.Topic())
	ch <- prometheus.MustNewConstMetric(descMalformed, prometheus.CounterValue, float64(r.Malformed()), r.Topic())
	reading := 0.0
	if r.Reading() {
		reading = 1
	}
	ch <- prometheus.MustNewConstMetric(descReading, prometheus.GaugeValue, reading, r.Topic())
}
