package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/pipeline"
)

// startHTTPAgent runs the agent on the config file at path with the real
// Elasticsearch sink, and returns the URL of its HTTP surface. The agent
// stops when the test ends.
func startHTTPAgent(t *testing.T, path string) string {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(io.Discard)
	go func() {
		done <- runAgent(ctx, cfg, log, agentOptions{
			grace:   5 * time.Second,
			newSink: func(ctx context.Context, c *config.Config) (pipeline.Sink, error) { return newESSink(ctx, c, log) },
			onHTTP:  func(u string) { urls <- u },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	select {
	case u := <-urls:
		return u
	case err := <-done:
		done <- err
		t.Fatalf("agent stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no HTTP URL")
	}
	return ""
}

// TestAgentMetrics scrapes a running agent: the exposition parses and lints,
// carries every partition's lag, and the agent's own metrics from the
// components that produce them (Kafka requests by API, collections and
// their durations per mirror, documents by outcome, the spool's size).
func TestAgentMetrics(t *testing.T) {
	topics := []string{"orders", "payments"}
	kf, want := kafkaWithLag(t, topics, 4)
	es := esfake.NewTB(t)
	path := writeFile(t, "lagship.yaml", fmt.Sprintf(`interval: 1s
http: {listen: "127.0.0.1:0"}
elasticsearch: {addresses: [%q], spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders, payments]}
`, es.URL(), filepath.Join(t.TempDir(), "spool"), kf.ListenAddrs()[0]))
	url := startHTTPAgent(t, path)

	value := func(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
		fam := fams[name]
	next:
		for _, m := range fam.GetMetric() {
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
		return 0, false
	}
	type check struct {
		name   string
		labels map[string]string
		min    float64
	}
	checks := []check{
		{"lagship_kafka_requests_total", map[string]string{"cluster": "dc1", "api": "ListOffsets"}, 3},
		{"lagship_kafka_requests_total", map[string]string{"cluster": "dc1", "api": "OffsetFetch"}, 3},
		{"lagship_mirror_ticks_total", map[string]string{"mirror": "mm", "outcome": "collected"}, 6},
		{"lagship_tick_duration_seconds", map[string]string{"mirror": "mm"}, 6},
		{"lagship_sink_documents_total", map[string]string{"sink": "elasticsearch", "outcome": "delivered"}, 4},
		{"lagship_sink_spool_bytes", map[string]string{"sink": "elasticsearch"}, 0},
		{"lagship_sink_up", map[string]string{"sink": "elasticsearch"}, 1},
	}
	var body, missing string
	var fams map[string]*dto.MetricFamily
	ok := await.Within(30*time.Second, func() bool {
		res, err := http.Get(url + "metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body = string(b)
		p := expfmt.NewTextParser(model.UTF8Validation)
		if fams, err = p.TextToMetricFamilies(strings.NewReader(body)); err != nil {
			t.Fatalf("exposition does not parse: %v", err)
		}
		for _, c := range checks {
			if v, ok := value(fams, c.name, c.labels); !ok || v < c.min {
				missing = fmt.Sprintf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("%s\n%s", missing, body)
	}
	for _, topic := range topics {
		for p, l := range want[topic] {
			v, ok := value(fams, "lagship_partition_lag", map[string]string{"topic": topic, "partition": fmt.Sprint(p)})
			switch {
			case l < 0 && ok: // no committed offset: no series
				t.Errorf("%s/%d has a lag series (%v) without a committed offset", topic, p, v)
			case l >= 0 && (!ok || v != float64(l)):
				t.Errorf("%s/%d lag %v (present %v), want %d", topic, p, v, ok, l)
			}
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
