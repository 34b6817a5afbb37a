package ssh

import "github.com/prometheus/client_golang/prometheus"

var (
	descCommands = prometheus.NewDesc("lagship_ssh_commands_total",
		"Commands started on the host (each kafka-consumer-groups.sh is one JVM launch there).", []string{"host"}, nil)
	descDials = prometheus.NewDesc("lagship_ssh_dials_total",
		"Connection attempts to the host.", []string{"host"}, nil)
	descDialFailures = prometheus.NewDesc("lagship_ssh_dial_failures_total",
		"Connection attempts to the host that failed.", []string{"host"}, nil)
	descDrops = prometheus.NewDesc("lagship_ssh_connection_drops_total",
		"Established connections to the host that were lost.", []string{"host"}, nil)
	descConnected = prometheus.NewDesc("lagship_ssh_connected",
		"1 while a connection to the host is open.", []string{"host"}, nil)
)

// Describe sends nothing: a pool is an unchecked collector, since its
// hosts change with the config.
func (p *Pool) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector, one series per host.
func (p *Pool) Collect(ch chan<- prometheus.Metric) {
	for _, h := range p.Stats() {
		ch <- prometheus.MustNewConstMetric(descCommands, prometheus.CounterValue, float64(h.Commands), h.Host)
		ch <- prometheus.MustNewConstMetric(descDials, prometheus.CounterValue, float64(h.Dials), h.Host)
		ch <- prometheus.MustNewConstMetric(descDialFailures, prometheus.CounterValue, float64(h.DialFailures), h.Host)
		ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(h.Drops), h.Host)
		connected := 0.0
		if h.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, h.Host)
	}
}
