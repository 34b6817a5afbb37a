package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

type reporter []health.Status

func (r reporter) Health() []health.Status { return r }

// fixture is an agent after six ticks of two mirrors: orders is stuck with
// a member (STALL) except partition 2 which has no committed offset,
// payments is caught up (OK).
type fixture struct {
	mu      sync.Mutex
	pending []string
	running bool
	ev      *status.Evaluator
}

func newFixture() *fixture {
	f := &fixture{running: true, ev: status.New(status.Rules{Window: 4 * time.Second})}
	for s := 0; s < 6; s++ {
		tick := t0.Add(time.Duration(s) * time.Second)
		orders := pipeline.SampleFromOffsets([]int64{100, 50, pipeline.UnknownOffset}, []int64{int64(200 + 10*s), int64(60 + 10*s), 30})
		orders.Members = &pipeline.Membership{State: "Stable", Active: 1, Owned: []bool{true, true, true}}
		tg := pipeline.Target{Mirror: "mm", Topic: "orders", Group: "mirrormaker", Cluster: "dc1", Method: "native"}
		d := pipeline.NewDoc(tick, tg, orders)
		f.ev.Process(tick, tg, orders, &d)
		pay := pipeline.SampleFromOffsets([]int64{int64(10 * s)}, []int64{int64(10 * s)})
		tp := pipeline.Target{Mirror: "mm2", Topic: "payments", Group: "MirrorSourceConnector", Cluster: "dc1", Method: "mm2"}
		d = pipeline.NewDoc(tick, tp, pay)
		f.ev.Process(tick, tp, pay, &d)
	}
	return f
}

func (f *fixture) agent() Agent {
	return Agent{
		Version: "v1.2.3",
		Started: t0,
		Mirrors: func() []Mirror {
			return []Mirror{{Name: "mm", Method: "native", Interval: time.Second}, {Name: "mm2", Method: "mm2", Interval: time.Second}}
		},
		Topics:     f.ev.Snapshot,
		Latest:     f.ev.Latest,
		Generation: f.ev.Generation,
		Components: []health.Reporter{reporter{
			{Component: "elasticsearch", State: health.Degraded, LastError: "no answer after 1s", Counters: map[string]int64{"spooled": 42, "spool_bytes": 3 << 20, "delivered": 10}},
			{Component: "cluster dc1", State: health.Up, Counters: map[string]int64{"requests": 7}},
			{Component: "agent group agents", State: health.Up, Detail: "3 agents (mm1, mm2, mm3), generation 7; this agent owns 4 units"},
		}},
		Pending: func() []string {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.pending
		},
		LastTick:    func() time.Time { return t0.Add(5 * time.Second) },
		SinkReady:   func() bool { return true },
		SinkRunning: func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.running },
		Counters:    func() Counters { return Counters{Ticks: 12, Documents: 11, Errors: 1} },
		Collectors:  []prometheus.Collector{spoolBytes},
	}
}

// spoolBytes stands for a component's own collector.
var spoolBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lagship_sink_spool_bytes", Help: "Size of the spool.", ConstLabels: prometheus.Labels{"sink": "elasticsearch"}}, func() float64 { return 4096 })

func newTestServer(t *testing.T, f *fixture, compat bool) *Server {
	t.Helper()
	off := ""
	s, err := New(Settings{Listen: &off, KafkaExporterCompat: compat}, f.agent(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0.Add(6 * time.Second) }
	return s
}

func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

func gauge(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		if m.Gauge != nil {
			return m.Gauge.GetValue(), true
		}
		return m.Counter.GetValue(), true
	}
	return 0, false
}

// TestMetrics: the exposition parses, lints clean, and carries the last
// tick's values; unknown values have no series; a topic's status has one series, its current one.
func TestMetrics(t *testing.T) {
	for _, tc := range []struct{ compat, streamed bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		compat := tc.compat
		s := newTestServer(t, newFixture(), compat)
		if tc.streamed {
			s.maxCached = 0 // every text is too large to hold: streamed
		}
		mm := pipeline.Target{Mirror: "mm", Topic: "orders"}
		s.Observer().Observe(mm, 20*time.Millisecond, pipeline.Collected)
		s.Observer().Observe(mm, 3*time.Second, pipeline.Collected)
		s.Observer().Observe(mm, time.Second, pipeline.Failed)
		s.Observer().Observe(pipeline.Target{Mirror: "gone", Topic: "x"}, time.Second, pipeline.Collected) // not in the config
		code, body, hdr := get(t, s.Handler(), "/metrics")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
			t.Fatalf("code %d, type %s", code, hdr.Get("Content-Type"))
		}
		if (hdr.Get("Content-Length") == "") != tc.streamed {
			t.Errorf("streamed %v: Content-Length %q", tc.streamed, hdr.Get("Content-Length"))
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("exposition does not parse: %v", err)
		}
		// Every metric lints clean except kafka_exporter's own
		// kafka_consumergroup_lag_sum, kept as dashboards know it (promlint
		// flags a _sum suffix on a gauge).
		var names []string
		for n := range fams {
			if n != "kafka_consumergroup_lag_sum" {
				names = append(names, n)
			}
		}
		problems, err := testutil.GatherAndLint(prometheus.Gatherers{s.reg, families{srv: s}}, names...)
		if err != nil || len(problems) > 0 {
			t.Fatalf("lint: %v %+v", err, problems)
		}
		ord := map[string]string{"mirror": "mm", "cluster": "dc1", "group": "mirrormaker", "topic": "orders"}
		with := func(k, v string) map[string]string {
			m := map[string]string{}
			for a, b := range ord {
				m[a] = b
			}
			m[k] = v
			return m
		}
		for _, tt := range []struct {
			name   string
			labels map[string]string
			want   float64
			absent bool
		}{
			{"lagship_partition_lag", with("partition", "0"), 150, false},
			{"lagship_partition_lag", with("partition", "1"), 60, false},
			{"lagship_partition_lag", with("partition", "2"), 0, true},
			{"lagship_partition_committed_offset", with("partition", "0"), 100, false},
			{"lagship_partition_log_end_offset", with("partition", "0"), 250, false},
			{"lagship_partition_log_end_offset", with("partition", "2"), 30, false},
			{"lagship_topic_status", with("status", "STALL"), 1, false},
			{"lagship_topic_status", with("status", "OK"), 0, true}, // only the current status has a series
			{"lagship_topic_status", map[string]string{"mirror": "mm2", "topic": "payments", "status": "OK"}, 1, false},
			{"lagship_partition_time_lag_seconds", map[string]string{"mirror": "mm2", "topic": "payments", "partition": "0"}, 0, false},
			{"lagship_ticks_total", nil, 12, false},
			{"lagship_component_up", map[string]string{"component": "elasticsearch", "state": "degraded"}, 0, false},
			{"lagship_mirror_ticks_total", map[string]string{"mirror": "mm", "outcome": "collected"}, 2, false},
			{"lagship_mirror_ticks_total", map[string]string{"mirror": "mm", "outcome": "failed"}, 1, false},
			{"lagship_mirror_ticks_total", map[string]string{"mirror": "mm2", "outcome": "state"}, 0, false},
			{"lagship_mirror_ticks_total", map[string]string{"mirror": "gone"}, 0, true},
			{"lagship_sink_spool_bytes", map[string]string{"sink": "elasticsearch"}, 4096, false},
			{"lagship_build_info", map[string]string{"version": "v1.2.3"}, 1, false},
		} {
			got, ok := gauge(t, fams, tt.name, tt.labels)
			switch {
			case tt.absent && ok:
				t.Errorf("%s%v present (%v), want no series", tt.name, tt.labels, got)
			case !tt.absent && (!ok || got != tt.want):
				t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
			}
		}
		if _, ok := fams["go_goroutines"]; !ok {
			t.Error("no Go collector")
		}
		if h := fams["lagship_tick_duration_seconds"]; h == nil || len(h.Metric) != 1 || h.Metric[0].GetHistogram().GetSampleCount() != 3 ||
			h.Metric[0].GetHistogram().GetSampleSum() != 4.02 {
			t.Errorf("tick duration histogram: %v", h)
		}
		_, hasKE := fams["kafka_consumergroup_lag"]
		if hasKE != compat {
			t.Errorf("kafka_exporter names present %v with compat %v", hasKE, compat)
		}
		if compat {
			if v, ok := gauge(t, fams, "kafka_consumergroup_lag", map[string]string{"consumergroup": "mirrormaker", "topic": "orders", "partition": "0"}); !ok || v != 150 {
				t.Errorf("kafka_consumergroup_lag = %v %v", v, ok)
			}
			if v, ok := gauge(t, fams, "kafka_consumergroup_lag_sum", map[string]string{"consumergroup": "mirrormaker", "topic": "orders"}); !ok || v != 210 {
				t.Errorf("kafka_consumergroup_lag_sum = %v %v", v, ok)
			}
			if v, ok := gauge(t, fams, "kafka_topic_partition_current_offset", map[string]string{"topic": "orders", "partition": "0"}); !ok || v != 250 {
				t.Errorf("kafka_topic_partition_current_offset = %v %v", v, ok)
			}
		}
	}
}

// TestStatusJSON: the same tick as JSON, unknown fields absent, filters.
func TestStatusJSON(t *testing.T) {
	s := newTestServer(t, newFixture(), false)
	code, body, _ := get(t, s.Handler(), "/status")
	if code != 200 {
		t.Fatalf("code %d", code)
	}
	var doc struct {
		Time    string `json:"time"`
		Mirrors []struct {
			Name, Method, Cluster, Group, Status string
			Topics                               []struct {
				Topic, Status  string
				TotalLag       int64    `json:"total_lag"`
				MaxLag         int64    `json:"max_lag"`
				MaxTimeLag     *float64 `json:"max_time_lag"`
				PartitionCount int      `json:"partition_count"`
				Partitions     []map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Time != "2026-12-01T10:00:06Z" || len(doc.Mirrors) != 2 {
		t.Fatalf("doc %s", body)
	}
	mm := doc.Mirrors[0]
	if mm.Name != "mm" || mm.Status != "STALL" || mm.Cluster != "dc1" || mm.Group != "mirrormaker" || len(mm.Topics) != 1 {
		t.Fatalf("mirror %+v", mm)
	}
	o := mm.Topics[0]
	if o.Topic != "orders" || o.Status != "STALL" || o.TotalLag != 210 || o.MaxLag != 150 || o.PartitionCount != 3 || o.MaxTimeLag == nil {
		t.Errorf("topic %+v", o)
	}
	p2 := o.Partitions[2]
	if _, ok := p2["lag"]; ok || p2["log_end"] != 30.0 || p2["status"] != nil {
		t.Errorf("partition 2 (no committed offset): %v", p2)
	}
	if o.Partitions[0]["committed"] != 100.0 || o.Partitions[0]["status"] != "STALL" {
		t.Errorf("partition 0: %v", o.Partitions[0])
	}
	_, body, _ = get(t, s.Handler(), "/status?mirror=mm2&topic=payments")
	if !strings.Contains(body, `"name":"mm2"`) || strings.Contains(body, `"name":"mm"`) || !strings.Contains(body, `"max_time_lag":0`) {
		t.Errorf("filtered: %s", body)
	}
}

// TestReadiness: 503 with what is missing until every topic had a tick;
// liveness fails when the sink's loop stops or ticks stop.
func TestReadiness(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, false)
	f.mu.Lock()
	f.pending = []string{"mm/orders"}
	f.mu.Unlock()
	code, body, _ := get(t, s.Handler(), "/readyz")
	if code != 503 || !strings.Contains(body, "mm/orders") || !strings.Contains(body, "first tick") {
		t.Errorf("readyz while pending: %d %s", code, body)
	}
	f.mu.Lock()
	f.pending = nil
	f.mu.Unlock()
	if code, body, _ := get(t, s.Handler(), "/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, _, _ := get(t, s.Handler(), "/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	s.now = func() time.Time { return t0.Add(time.Minute) } // no tick for 55 s at 1 s intervals
	if code, body, _ := get(t, s.Handler(), "/healthz"); code != 503 || !strings.Contains(body, "scheduler") {
		t.Errorf("healthz with stalled ticks: %d %s", code, body)
	}
	s.now = func() time.Time { return t0.Add(6 * time.Second) }
	f.mu.Lock()
	f.running = false
	f.mu.Unlock()
	if code, body, _ := get(t, s.Handler(), "/healthz"); code != 503 || !strings.Contains(body, "delivery loop") {
		t.Errorf("healthz with the sink stopped: %d %s", code, body)
	}
}

// TestPage: every topic row with its status text, worst mirror first, the
// components, and the filter; no external resources.
func TestPage(t *testing.T) {
	s := newTestServer(t, newFixture(), false)
	code, body, hdr := get(t, s.Handler(), "/")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("code %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{`data-topic="orders" data-status="STALL"`, `data-topic="payments" data-status="OK"`, ">STALL<", "elasticsearch: degraded", "42 documents (3.0 MiB) in the spool", "agent group agents: up</span> — 3 agents (mm1, mm2, mm3), generation 7; this agent owns 4 units", "version v1.2.3", `<meta http-equiv="refresh"`, "<svg class=\"spark\""} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(body, `data-mirror="mm"`) > strings.Index(body, `data-mirror="mm2"`) {
		t.Error("the STALL mirror is not first")
	}
	for _, bad := range []string{"<script", "http://", "https://", "@import"} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q: no external resources or scripts", bad)
		}
	}
	_, body, _ = get(t, s.Handler(), "/?q=pay")
	if strings.Contains(body, `data-topic="orders"`) || !strings.Contains(body, `data-topic="payments"`) || !strings.Contains(body, "1 of 2 topics shown") {
		t.Errorf("filter: %s", body)
	}
	if code, _, _ := get(t, s.Handler(), "/nothing"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

// TestPortTaken: a port already in use is a clear error at start.
func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	_, err = New(Settings{Listen: &addr}, newFixture().agent(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "http.listen "+addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("err = %v", err)
	}
}

func TestHumanize(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond:         "850ms",
		4500 * time.Millisecond:        "4.5s",
		4*time.Minute + 12*time.Second: "4m 12s",
		2*time.Hour + 3*time.Minute:    "2h 3m",
		50 * time.Hour:                 "2d 2h",
	} {
		if got := humanize(d); got != want {
			t.Errorf("humanize(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestMetricsFollowTicks: between two ticks a scrape answers from the
// encoded text of the previous one; a tick, a forgotten topic and the
// negotiated OpenMetrics format all show at the next scrape.
func TestMetricsFollowTicks(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, false)
	lagOf := func(body string) (float64, bool) {
		t.Helper()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("exposition does not parse: %v", err)
		}
		return gauge(t, fams, "lagship_partition_lag", map[string]string{"mirror": "mm", "topic": "orders", "partition": "0"})
	}
	_, first, _ := get(t, s.Handler(), "/metrics")
	_, again, _ := get(t, s.Handler(), "/metrics")
	cut := func(b string) string { return b[:strings.Index(b, "# HELP go_")] } // the Go metrics move
	if cut(first) != cut(again) {
		t.Fatal("two scrapes without a tick differ in the partition metrics")
	}
	if v, ok := lagOf(first); !ok || v != 150 {
		t.Fatalf("lag before the tick: %v %v, want 150", v, ok)
	}
	tick := t0.Add(6 * time.Second)
	tg := pipeline.Target{Mirror: "mm", Topic: "orders", Group: "mirrormaker", Cluster: "dc1", Method: "native"}
	smp := pipeline.SampleFromOffsets([]int64{255, 50, pipeline.UnknownOffset}, []int64{260, 120, 30})
	d := pipeline.NewDoc(tick, tg, smp)
	f.ev.Process(tick, tg, smp, &d)
	_, after, _ := get(t, s.Handler(), "/metrics")
	if v, ok := lagOf(after); !ok || v != 5 {
		t.Fatalf("lag after the tick: %v %v, want 5", v, ok)
	}
	f.ev.Configure("mm", status.Rules{Window: time.Minute}) // forgets mm's topics
	_, gone, _ := get(t, s.Handler(), "/metrics")
	if _, ok := lagOf(gone); ok {
		t.Fatal("a forgotten topic still has series")
	}
	// A scraper asking for the protocol-buffer format gets it, with the
	// same series.
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	format := expfmt.ResponseFormat(rec.Header())
	if format.FormatType() != expfmt.TypeProtoDelim {
		t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
	}
	dec := expfmt.NewDecoder(rec.Body, format)
	found := false
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding: %v", err)
		}
		if mf.GetName() == "lagship_partition_lag" {
			found = len(mf.Metric) == 1 // only payments is left
		}
	}
	if !found {
		t.Fatal("the protocol-buffer answer lacks the payments lag")
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {2048 << 30, "2048.0 GiB"}} {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// dupCollector sends the same series twice, as two components briefly
// holding the same name during a reload would.
type dupCollector struct{}

var dupDesc = prometheus.NewDesc("lagship_kafka_fetches_total", "Fetches.", []string{"cluster"}, nil)

func (dupCollector) Describe(chan<- *prometheus.Desc) {}
func (dupCollector) Collect(ch chan<- prometheus.Metric) {
	for range 2 {
		ch <- prometheus.MustNewConstMetric(dupDesc, prometheus.CounterValue, 1, "dc1")
	}
}

// TestMetricsSurviveABadCollector: a collector's error costs its series,
// not the scrape.
func TestMetricsSurviveABadCollector(t *testing.T) {
	f := newFixture()
	a := f.agent()
	a.Collectors = []prometheus.Collector{dupCollector{}}
	off := ""
	s, err := New(Settings{Listen: &off}, a, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, s.Handler(), "/metrics")
	if code != 200 || !strings.Contains(body, "lagship_partition_lag{") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("code %d; partition or Go metrics missing:\n%.600s", code, body)
	}
}
