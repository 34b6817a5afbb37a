package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

// slowWriter takes an answer a few bytes at a time, yielding between
// them, so that an answer is still being written when the next tick's
// encoding starts.
type slowWriter struct {
	header http.Header
	buf    bytes.Buffer
}

func (w *slowWriter) Header() http.Header { return w.header }
func (w *slowWriter) WriteHeader(int)     {}
func (w *slowWriter) Write(p []byte) (int, error) {
	for i := 0; i < len(p); i += 4096 {
		w.buf.Write(p[i:min(i+4096, len(p))])
		runtime.Gosched()
	}
	return len(p), nil
}

// TestMetricsBufferReuse: answers written while ticks come and the cache
// reuses its previous buffer are whole. Every partition of a topic has the
// same lag in each tick, so an answer whose buffer was overwritten while
// it was written would show two lags for one topic (or not parse); the
// race detector sees an overlap too. (That the buffer is reused shows in
// BenchmarkScrape's bytes per answer.)
func TestMetricsBufferReuse(t *testing.T) {
	const topics, parts = 40, 8
	ev := status.New(status.Rules{Window: 10 * time.Second})
	targets := make([]pipeline.Target, topics)
	for i := range targets {
		targets[i] = pipeline.Target{Mirror: "mm", Topic: "t" + strconv.Itoa(i), Group: "g", Cluster: "dc1", Method: "native"}
	}
	var mu sync.Mutex // a tick is whole before a scrape sees it
	tick := func(k int) {
		mu.Lock()
		defer mu.Unlock()
		at := t0.Add(time.Duration(k) * time.Second)
		for _, tg := range targets {
			c, e := make([]int64, parts), make([]int64, parts)
			for p := range c {
				c[p], e[p] = int64(1000*k), int64(1000*k+k)
			}
			s := pipeline.SampleFromOffsets(c, e)
			var d pipeline.Doc
			ev.Process(at, tg, s, &d)
		}
	}
	tick(1)
	gen := func() uint64 { mu.Lock(); defer mu.Unlock(); return ev.Generation() }
	off := ""
	srv, err := New(Settings{Listen: &off}, Agent{
		Version: "test", Started: t0,
		Mirrors: func() []Mirror { return []Mirror{{Name: "mm", Method: "native", Interval: time.Second}} },
		Topics:  ev.Snapshot, Latest: ev.Latest, Generation: gen,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	scrape := func() []byte {
		w := &slowWriter{header: http.Header{}}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		return w.buf.Bytes()
	}
	check := func(body []byte) {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Errorf("answer does not parse: %v", err)
			return
		}
		lag := map[string]float64{}
		n := 0
		for _, m := range fams["lagship_partition_lag"].GetMetric() {
			var topic string
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "topic" {
					topic = lp.GetValue()
				}
			}
			v := m.GetGauge().GetValue()
			if old, ok := lag[topic]; ok && old != v {
				t.Errorf("topic %s has lags %v and %v in one answer", topic, old, v)
				return
			}
			lag[topic] = v
			n++
		}
		if n != topics*parts {
			t.Errorf("%d lag series, want %d", n, topics*parts)
		}
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				check(scrape())
			}
		}()
	}
	for k := 2; k < 60; k++ {
		tick(k)
		check(scrape())
	}
	close(stop)
	wg.Wait()

}

// TestStreamedTextIsTheEncodedText: a partition text too large to hold is
// streamed one family at a time, and the answer starts with exactly the
// text encoded in memory (the same families, series and order), followed
// by the agent's own metrics.
func TestStreamedTextIsTheEncodedText(t *testing.T) {
	for _, compat := range []bool{false, true} {
		off := ""
		srv, err := New(Settings{Listen: &off, KafkaExporterCompat: compat}, bigAgent(60), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		parts, held, large, err := srv.partitionText()
		if err != nil || large != nil {
			t.Fatalf("encoding in memory: %v, streamed %v", err, large != nil)
		}
		want := string(parts)
		held.release()

		srv.maxCached = len(want) - 1
		srv.cache.valid = false // as after a tick with the same figures
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		got := rec.Body.String()
		if rec.Header().Get("Content-Length") != "" {
			t.Errorf("compat %v: the answer has a length, so it was not streamed", compat)
		}
		if !strings.HasPrefix(got, want) {
			i := 0
			for i < len(want) && i < len(got) && want[i] == got[i] {
				i++
			}
			t.Fatalf("compat %v: streamed text differs at byte %d of %d: %q, want %q", compat, i, len(want), got[i:min(i+80, len(got))], want[i:min(i+80, len(want))])
		}
		if rest := got[len(want):]; !strings.HasPrefix(rest, "# HELP ") || !strings.Contains(rest, "go_goroutines") {
			t.Errorf("compat %v: after the partition text: %.80q", compat, rest)
		}
		if srv.cache.size != len(want) {
			t.Errorf("compat %v: the cache noted %d bytes streamed, want %d", compat, srv.cache.size, len(want))
		}
	}
}
