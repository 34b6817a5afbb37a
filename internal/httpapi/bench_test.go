package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/crypto/bcrypt"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

// bigAgent is an agent that watched topics × 8 partitions for a few ticks.
func bigAgent(topics int) Agent {
	a, _ := bigAgentTicks(topics)
	return a
}

// bigAgentTicks is bigAgent with a function that makes the k-th tick
// (k ≥ 4): every committed and log-end offset moves, and so do the lags
// (the worst case for /metrics: every series changes but the status).
func bigAgentTicks(topics int) (Agent, func(k int)) {
	ev := status.New(status.Rules{Window: 10 * time.Second})
	tick := func(k int) {
		at := t0.Add(time.Duration(k) * time.Second)
		for i := range topics {
			tg := pipeline.Target{Mirror: "mm-" + strconv.Itoa(i%10), Topic: "topic-" + strconv.Itoa(i), Group: "mirrormaker", Cluster: "dc1", Method: "native"}
			c := make([]int64, 8)
			e := make([]int64, 8)
			for p := range 8 {
				c[p], e[p] = int64(100*k), int64(100*k+p*7)
				if k >= 4 {
					e[p] += int64(k)
				}
			}
			s := pipeline.SampleFromOffsets(c, e)
			var d pipeline.Doc
			ev.Process(at, tg, s, &d)
		}
	}
	for k := range 4 {
		tick(k)
	}
	mirrors := make([]Mirror, 10)
	for i := range mirrors {
		mirrors[i] = Mirror{Name: "mm-" + strconv.Itoa(i), Method: "native", Interval: time.Second}
	}
	return Agent{Version: "bench", Started: t0, Mirrors: func() []Mirror { return mirrors }, Topics: ev.Snapshot, Latest: ev.Latest, Generation: ev.Generation}, tick
}

// BenchmarkScrape is one /metrics scrape and one /status answer at 10,000
// topics × 8 partitions, and a scrape at 300 × 8, from memory. "tick" is
// the worst case for /metrics, a tick between every two scrapes (the
// partition metrics are encoded anew each time); "cached" is a scrape with
// no tick since the previous one; "moving" is a tick between every two
// scrapes in which every offset moved (in "tick" the values stay, as for
// idle topics); "encoder" is the previous way, the
// families through expfmt's negotiated encoder at every scrape, measured in
// the same run for the ratio.
func BenchmarkScrape(b *testing.B) {
	off := ""
	for _, tc := range []struct {
		path   string
		topics int
		mode   string
	}{
		{"/metrics", 10000, "tick"}, {"/status", 10000, ""},
		{"/metrics", 300, "tick"}, {"/metrics", 300, "moving"}, {"/metrics", 300, "cached"}, {"/metrics", 300, "encoder"},
		{"/metrics", 0, ""},
	} {
		path := tc.path
		name := strings.TrimPrefix(path, "/") + "-" + strconv.Itoa(tc.topics)
		if tc.mode != "" {
			name += "-" + tc.mode
		}
		b.Run(name, func(b *testing.B) {
			a, tick := bigAgentTicks(tc.topics)
			var gen atomic.Uint64
			if tc.mode == "tick" {
				a.Generation = func() uint64 { return gen.Add(1) }
			}
			k := 4
			s, err := New(Settings{Listen: &off}, a, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			h := s.Handler()
			if tc.mode == "encoder" {
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					own, _ := s.reg.Gather()
					parts, _ := families{srv: s}.Gather()
					format := expfmt.Negotiate(r.Header)
					enc := expfmt.NewEncoder(w, format)
					for _, mf := range append(parts, own...) {
						if err := enc.Encode(mf); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				if tc.mode == "moving" {
					b.StopTimer()
					tick(k)
					k++
					b.StartTimer()
				}
				// A scrape streams to the socket: count the bytes, keep none.
				w := &countingWriter{header: http.Header{}}
				h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
				if w.code != 0 && w.code != 200 {
					b.Fatalf("code %d", w.code)
				}
				n = w.n
			}
			b.ReportMetric(float64(n), "bytes/answer")
		})
	}
}

type countingWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *countingWriter) Header() http.Header         { return w.header }
func (w *countingWriter) WriteHeader(code int)        { w.code = code }
func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// TestWebConfig: the exporter-toolkit web config file applies: basic auth
// is required when it says so.
func TestWebConfig(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("basic_auth_users:\n  ops: %s\n", hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	s, err := New(Settings{Listen: &addr, WebConfigFile: file}, newFixture().agent(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	url := "http://" + s.Addr() + "/status"
	code := func(user, pass string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		res.Body.Close()
		return res.StatusCode
	}
	await.True(t, 10*time.Second, "the server to answer", func() bool { return code("", "") > 0 })
	if c := code("", ""); c != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", c)
	}
	if c := code("ops", "wrong"); c != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", c)
	}
	if c := code("ops", "s3cret"); c != http.StatusOK {
		t.Errorf("with credentials: %d, want 200", c)
	}
}

// naiveCollector is the straightforward way: every series a const metric
// through a registry and promhttp. BenchmarkScrapeNaive measures it against
// the families of families.go.
type naiveCollector struct{ srv *Server }

var naiveDescs = func() map[string]*prometheus.Desc {
	labels := []string{"mirror", "cluster", "group", "topic", "partition"}
	out := map[string]*prometheus.Desc{}
	for _, n := range []string{"lagship_partition_lag", "lagship_partition_time_lag_seconds", "lagship_partition_committed_offset", "lagship_partition_log_end_offset"} {
		out[n] = prometheus.NewDesc(n, n, labels, nil)
	}
	out["lagship_topic_status"] = prometheus.NewDesc("lagship_topic_status", "s", []string{"mirror", "cluster", "group", "topic", "status"}, nil)
	out["lagship_topic_lag"] = prometheus.NewDesc("lagship_topic_lag", "l", []string{"mirror", "cluster", "group", "topic"}, nil)
	return out
}()

func (c naiveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range naiveDescs {
		ch <- d
	}
}

func (c naiveCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.srv.topics() {
		tg := t.Target
		for p, r := range t.Partitions {
			ps := strconv.Itoa(p)
			if r.Lag >= 0 {
				ch <- prometheus.MustNewConstMetric(naiveDescs["lagship_partition_lag"], prometheus.GaugeValue, float64(r.Lag), tg.Mirror, tg.Cluster, tg.Group, tg.Topic, ps)
			}
			if r.HasTimeLag {
				ch <- prometheus.MustNewConstMetric(naiveDescs["lagship_partition_time_lag_seconds"], prometheus.GaugeValue, r.TimeLag.Seconds(), tg.Mirror, tg.Cluster, tg.Group, tg.Topic, ps)
			}
			if r.Committed >= 0 {
				ch <- prometheus.MustNewConstMetric(naiveDescs["lagship_partition_committed_offset"], prometheus.GaugeValue, float64(r.Committed), tg.Mirror, tg.Cluster, tg.Group, tg.Topic, ps)
			}
			if r.LogEnd >= 0 {
				ch <- prometheus.MustNewConstMetric(naiveDescs["lagship_partition_log_end_offset"], prometheus.GaugeValue, float64(r.LogEnd), tg.Mirror, tg.Cluster, tg.Group, tg.Topic, ps)
			}
		}
		ch <- prometheus.MustNewConstMetric(naiveDescs["lagship_topic_lag"], prometheus.GaugeValue, float64(t.TotalLag), tg.Mirror, tg.Cluster, tg.Group, tg.Topic)
		if t.Status != status.Unknown {
			ch <- prometheus.MustNewConstMetric(naiveDescs["lagship_topic_status"], prometheus.GaugeValue, 1, tg.Mirror, tg.Cluster, tg.Group, tg.Topic, t.Status.String())
		}
	}
}

// BenchmarkScrapeNaive: the same series as BenchmarkScrape/metrics through
// const metrics, a registry and promhttp.
func BenchmarkScrapeNaive(b *testing.B) {
	off := ""
	s, err := New(Settings{Listen: &off}, bigAgent(10000), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(naiveCollector{s})
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	b.ReportAllocs()
	var n int
	for b.Loop() {
		w := &countingWriter{header: http.Header{}}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		n = w.n
	}
	b.ReportMetric(float64(n), "bytes/answer")
}

// BenchmarkScrapeParts splits BenchmarkScrape/metrics-300-tick: building
// the partition families, encoding them (built once), gathering the
// registry's own metrics (Go, process, counters) and encoding them. The
// rest of a scrape is the HTTP handler's.
func BenchmarkScrapeParts(b *testing.B) {
	off := ""
	s, err := New(Settings{Listen: &off}, bigAgent(300), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	var bld builder
	b.Run("families-gather", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := (families{srv: s, b: &bld}).Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("families-encode", func(b *testing.B) {
		mfs, _ := families{srv: s, b: &bld}.Gather()
		benchEncode(b, mfs)
	})
	b.Run("own-gather", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = s.reg.Gather()
		}
	})
	b.Run("own-encode", func(b *testing.B) {
		mfs, _ := s.reg.Gather()
		benchEncode(b, mfs)
	})
}

// benchEncode measures expfmt's text encoding of mfs.
func benchEncode(b *testing.B, mfs []*dto.MetricFamily) {
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
