package httpapi

import (
	"net"
	"os"
	"strconv"

	"github.com/lagship/lagship/internal/configkit"
)

// DefaultListen is where the server listens unless http.listen says
// otherwise: loopback only, on a port no common exporter uses (kafka_exporter
// 9308, KMinion 8080, Burrow 8000, node_exporter 9100, JMX exporter 9404).
const DefaultListen = "127.0.0.1:9839"

// Settings is the http section of the file.
type Settings struct {
	// Listen is host:port; "" turns the server off; absent is DefaultListen.
	Listen *string `yaml:"listen"`
	// WebConfigFile is a Prometheus exporter-toolkit web config (TLS, basic
	// auth).
	WebConfigFile string `yaml:"web_config_file"`
	// KafkaExporterCompat adds kafka_exporter's metric names.
	KafkaExporterCompat bool `yaml:"kafka_exporter_compat"`
}

// Address is where to listen ("" = off).
func (s *Settings) Address() string {
	if s.Listen == nil {
		return DefaultListen
	}
	return *s.Listen
}

// Validate reports the section's problems through r.
func (s *Settings) Validate(r configkit.Reporter) {
	if a := s.Address(); a != "" {
		host, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			r.Errorf([]any{"listen"}, "%q is not host:port (e.g. 127.0.0.1:9839, or :9839 for every interface; \"\" turns the server off)", a)
		} else if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			r.Errorf([]any{"listen"}, "%q: the host must be an IP address or localhost", a)
		}
	}
	if s.WebConfigFile != "" {
		if _, err := os.Stat(s.WebConfigFile); err != nil {
			r.Errorf([]any{"web_config_file"}, "%v", err)
		}
	}
}
