package delivery

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lagship/lagship/internal/health"
)

var (
	descDocs = prometheus.NewDesc("lagship_sink_documents_total",
		"Documents the sink's destination answered for, by outcome: delivered (stored), duplicate (already there), refused (set aside in rejected/), spooled (written to the disk spool), dropped (lost: the spool was full or failed).",
		[]string{"sink", "outcome"}, nil)
	descRequests = prometheus.NewDesc("lagship_sink_requests_total",
		"Write requests sent to the sink's destination.", []string{"sink"}, nil)
	descFailed = prometheus.NewDesc("lagship_sink_failed_requests_total",
		"Write requests that failed as a whole (no answer, an error status, a timeout).", []string{"sink"}, nil)
	descTimeouts = prometheus.NewDesc("lagship_sink_timeouts_total",
		"Requests (set-up and writes) cut by the sink's timeout.", []string{"sink"}, nil)
	descSpoolDocs = prometheus.NewDesc("lagship_sink_spool_documents",
		"Documents in the disk spool, waiting for the destination.", []string{"sink"}, nil)
	descSpoolBytes = prometheus.NewDesc("lagship_sink_spool_bytes",
		"Size of the disk spool's files.", []string{"sink"}, nil)
	descInMemory = prometheus.NewDesc("lagship_sink_buffered_documents",
		"Documents held in memory only, waiting for the next request.", []string{"sink"}, nil)
	descUp = prometheus.NewDesc("lagship_sink_up",
		"1 while the destination takes documents, 0 while they go to the spool (or before it was first reached).", []string{"sink"}, nil)
)

// Describe sends nothing: the output is an unchecked collector, so that a
// fanout of outputs can register them all under the same names.
func (o *Output) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector with the output's counters.
func (o *Output) Collect(ch chan<- prometheus.Metric) {
	st := o.Stats()
	name := o.opt.Name
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name}, labels...)...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
	}
	counter(descDocs, st.Delivered, "delivered")
	counter(descDocs, st.Duplicates, "duplicate")
	counter(descDocs, st.Refused, "refused")
	counter(descDocs, st.Spooled, "spooled")
	counter(descDocs, st.SpoolErrors+uint64(max(st.Spool.Dropped, 0)), "dropped")
	counter(descRequests, st.Requests)
	counter(descFailed, st.FailedRequests)
	counter(descTimeouts, st.Timeouts)
	gauge(descSpoolDocs, float64(st.Spool.Pending))
	gauge(descSpoolBytes, float64(st.Spool.Bytes))
	gauge(descInMemory, float64(st.InMemory))
	o.mu.Lock()
	up := o.state != health.Starting && !o.direct
	o.mu.Unlock()
	gauge(descUp, map[bool]float64{true: 1}[up])
}
