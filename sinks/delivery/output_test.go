package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/internal/spool"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/delivery"
	"github.com/lagship/lagship/sinks/elasticsearch"
)

// logBuf is a log destination safe for the output's goroutines.
type logBuf struct{ syncbuf.Buffer }

// duplicateKeys returns the log lines that carry a key twice (invalid for
// many JSON log shippers).
func (l *logBuf) duplicateKeys(t *testing.T) []string {
	t.Helper()
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("log line is not a JSON object: %s", line)
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("log line %s: %v", line, err)
			}
			key := tok.(string)
			if seen[key] {
				bad = append(bad, line)
			}
			seen[key] = true
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("log line %s: %v", line, err)
			}
		}
	}
	return bad
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// tick returns the documents of one tick of n topics.
func tick(k, n int) []pipeline.Doc {
	docs := make([]pipeline.Doc, n)
	for i := range docs {
		docs[i] = pipeline.Doc{
			Timestamp: t0.Add(time.Duration(k) * time.Second),
			Target:    pipeline.Target{Mirror: "dc1", Topic: "topic-" + strconv.Itoa(i), Group: "mm", Cluster: "src", Method: "native"},
			Lags:      []int64{int64(k), 1},
		}
	}
	return docs
}

// fastOptions are delivery options scaled down for tests.
func fastOptions(dir string) delivery.Options {
	return delivery.Options{
		Name:          "elasticsearch",
		SpoolDir:      dir,
		FlushInterval: 50 * time.Millisecond,
		Linger:        5 * time.Millisecond,
		SpillAfter:    100 * time.Millisecond,
		Timeout:       300 * time.Millisecond,
		MinBackoff:    20 * time.Millisecond,
		MaxBackoff:    100 * time.Millisecond,
		ReplayEvery:   time.Millisecond,
	}
}

type running struct {
	out  *delivery.Output
	w    *elasticsearch.Sink
	logs *logBuf
	done chan struct{}
}

// start runs an Elasticsearch output on srv.
func start(t *testing.T, srv *esfake.Server, opt delivery.Options) *running {
	t.Helper()
	logs := &logBuf{}
	log := zerolog.New(logs)
	cfg := elasticsearch.DefaultConfig()
	cfg.Addresses = []string{srv.URL()}
	cfg.MaxRetries = 1
	cfg.RetryBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	w, err := elasticsearch.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return startWriter(t, w, opt, logs, w)
}

func startWriter(t *testing.T, wr delivery.Writer, opt delivery.Options, logs *logBuf, es *elasticsearch.Sink) *running {
	t.Helper()
	out, err := delivery.New(wr, opt, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	r := &running{out: out, w: es, logs: logs, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(r.done); _ = out.Run(ctx) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = out.Close(cctx)
		cancel()
		<-r.done
		if es != nil {
			es.Close()
		}
	})
	return r
}

func (r *running) write(t *testing.T, docs []pipeline.Doc) {
	t.Helper()
	if err := r.out.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func (r *running) close(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.out.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestHungRequestRecovers: a bulk request that is read and never answered
// costs one timeout; its documents and the ones after it go to the spool,
// and once Elasticsearch answers again everything arrives, without a
// restart, and Close is quick.
func TestHungRequestRecovers(t *testing.T) {
	srv := esfake.NewTB(t)
	r := start(t, srv, fastOptions(t.TempDir()))
	r.write(t, tick(0, 10))
	await.True(t, 10*time.Second, "the first tick", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 10 })

	srv.Hang(esfake.EndpointBulk)
	for k := 1; k <= 5; k++ {
		r.write(t, tick(k, 10))
	}
	await.True(t, 10*time.Second, "a timeout", func() bool { return r.out.Stats().Timeouts >= 1 })
	await.True(t, 10*time.Second, "50 documents in the spool", func() bool { return r.out.Stats().Spool.Pending >= 50 })
	if st := r.out.Stats(); st.InMemory != 0 {
		t.Errorf("%d documents only in memory while Elasticsearch hangs", st.InMemory)
	}

	answered := time.Now()
	srv.Answer()
	await.True(t, 10*time.Second, "every document", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 60 })
	resumed := time.Since(answered)
	r.write(t, tick(6, 10))
	await.True(t, 10*time.Second, "live delivery", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 70 })
	closeStart := time.Now()
	r.close(t)
	t.Logf("hung request: delivery resumed %v after Elasticsearch answered again; Close took %v", resumed.Round(time.Millisecond), time.Since(closeStart).Round(time.Millisecond))
	st := r.out.Stats()
	if st.Spool.Pending != 0 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := r.logs.Count("destination failing"); n != 1 {
		t.Errorf("%d failure lines, want 1:\n%s", n, r.logs)
	}
	if n := r.logs.Count("destination answers again"); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, r.logs)
	}
	if bad := r.logs.duplicateKeys(t); len(bad) > 0 {
		t.Errorf("log lines with a duplicate key:\n%s", strings.Join(bad, "\n"))
	}
}

// TestFailureModesRecover: after each way a request can fail, the next
// healthy answer resumes delivery.
func TestFailureModesRecover(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inject func(*esfake.Server)
		heal   func(*esfake.Server)
	}{
		{"503 for four answers", func(s *esfake.Server) { s.FailNext(esfake.EndpointBulk, 4, 503) }, func(*esfake.Server) {}},
		{"500 for four answers", func(s *esfake.Server) { s.FailNext(esfake.EndpointBulk, 4, 500) }, func(*esfake.Server) {}},
		{"garbage bodies", func(s *esfake.Server) { s.FailNext(esfake.EndpointBulk, 4, 200) }, func(*esfake.Server) {}},
		{"connection refused", func(s *esfake.Server) { s.Outage() }, func(s *esfake.Server) { _ = s.Restore() }},
		{"hang", func(s *esfake.Server) { s.Hang(esfake.EndpointBulk) }, func(s *esfake.Server) { s.Answer() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := esfake.NewTB(t)
			r := start(t, srv, fastOptions(t.TempDir()))
			r.write(t, tick(0, 5))
			await.True(t, 10*time.Second, "the first tick", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 5 })
			tt.inject(srv)
			r.write(t, tick(1, 5))
			await.True(t, 10*time.Second, "spooled documents", func() bool { return r.out.Stats().Spool.Pending >= 5 })
			r.write(t, tick(2, 5))
			tt.heal(srv)
			await.True(t, 10*time.Second, "every document", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 15 })
		})
	}
}

// TestDeletedIndexComesBackWithMapping: the index deleted while lagship
// runs is re-created with lagship's mapping, whether Elasticsearch
// auto-creates it (from the index template) or refuses to (then lagship
// creates it again).
func TestDeletedIndexComesBackWithMapping(t *testing.T) {
	for _, auto := range []bool{true, false} {
		t.Run("auto_create="+strconv.FormatBool(auto), func(t *testing.T) {
			srv := esfake.NewTB(t, esfake.WithAutoCreateIndex(auto))
			r := start(t, srv, fastOptions(t.TempDir()))
			r.write(t, tick(0, 5))
			await.True(t, 10*time.Second, "the first tick", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 5 })
			if got := srv.Templates(); len(got) != 1 || got[0] != elasticsearch.DefaultIndex {
				t.Fatalf("templates %v", got)
			}
			if !srv.DeleteIndex(elasticsearch.DefaultIndex) {
				t.Fatal("no index to delete")
			}
			r.write(t, tick(1, 5))
			await.True(t, 10*time.Second, "the second tick", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 5 })
			for field, want := range map[string]string{"topic": "keyword", "mirror": "keyword", "p0": "long", "@timestamp": "date"} {
				if got := srv.FieldType(elasticsearch.DefaultIndex, field); got != want {
					t.Errorf("re-created index maps %s as %q, want %q", field, got, want)
				}
			}
			t.Logf("re-created index: topic %s, p0 %s (auto-created: %v)", srv.FieldType(elasticsearch.DefaultIndex, "topic"), srv.FieldType(elasticsearch.DefaultIndex, "p0"), srv.AutoCreated())
			if !auto {
				if n := r.logs.Count("lost its set-up"); n != 1 {
					t.Errorf("%d lines about the lost index, want 1:\n%s", n, r.logs)
				}
			}
		})
	}
}

// TestPoisonRecordInSpool: a spooled record whose body is not one valid
// JSON line (its CRC is fine) is refused alone, whether Elasticsearch
// refuses the whole request (a body that spans two lines breaks the bulk
// framing: 400 for the request) or just its item (invalid JSON: 400 for the
// item). The refused record is kept in rejected/ and its neighbours are
// delivered.
func TestPoisonRecordInSpool(t *testing.T) {
	for _, tt := range []struct{ name, body string }{
		{"two lines", "{\"topic\":\"x\",\n\"p0\":1}"},
		{"invalid JSON", `{"topic":"x", broken`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sp, err := spool.Open(dir, spool.Options{}, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			var recs []spool.Record
			for i, d := range tick(0, 20) {
				recs = append(recs, spool.Record{ID: d.ID(), Body: d.AppendJSON(nil)})
				if i == 12 {
					recs = append(recs, spool.Record{ID: "poison", Body: []byte(tt.body)})
				}
			}
			if err := sp.Append(recs...); err != nil {
				t.Fatal(err)
			}
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}

			srv := esfake.NewTB(t)
			r := start(t, srv, fastOptions(dir))
			await.True(t, 10*time.Second, "the 20 good documents", func() bool { return len(srv.Docs(elasticsearch.DefaultIndex)) == 20 })
			await.True(t, 10*time.Second, "an empty spool", func() bool { return r.out.Stats().Spool.Pending == 0 })
			r.close(t)
			st := r.out.Stats()
			if st.Refused != 1 || st.Delivered != 20 || st.Replayed != 21 {
				t.Errorf("stats %+v", st)
			}
			files, _ := filepath.Glob(filepath.Join(dir, delivery.RejectedDir, "*.ndjson"))
			if len(files) != 1 {
				t.Fatalf("rejected files %v", files)
			}
			b, _ := os.ReadFile(files[0])
			var kept struct{ ID, Reason, Body string }
			if err := json.Unmarshal(bytes.TrimSpace(b), &kept); err != nil {
				t.Fatalf("rejected line %s: %v", b, err)
			}
			if kept.ID != "poison" || kept.Body != tt.body || !strings.Contains(kept.Reason, "400") {
				t.Errorf("kept %+v", kept)
			}
			if n := r.logs.Count("document refused for good"); n != 1 {
				t.Errorf("%d refusal lines, want 1:\n%s", n, r.logs)
			}
			t.Logf("poison record: refused (%s) and kept in rejected/; its 20 neighbours delivered; %d bulk requests", kept.Reason, srv.Requests(esfake.EndpointBulk))
		})
	}
}

// memWriter is a second destination for the fan-out test: it stores
// records in memory and can be stalled.
type memWriter struct {
	mu      sync.Mutex
	stalled bool
	got     map[string][]byte
}

func (m *memWriter) Prepare(context.Context) error { return nil }

func (m *memWriter) Write(ctx context.Context, recs []delivery.Record, res []delivery.Result) error {
	m.mu.Lock()
	stalled := m.stalled
	m.mu.Unlock()
	if stalled {
		<-ctx.Done() // never answers; the output's timeout ends it
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range recs {
		if _, dup := m.got[r.ID]; dup {
			res[i] = delivery.Result{Outcome: delivery.Duplicate}
			continue
		}
		m.got[r.ID] = append([]byte(nil), r.Body...)
		res[i] = delivery.Result{Outcome: delivery.Delivered}
	}
	return nil
}

func (m *memWriter) stall(on bool) {
	m.mu.Lock()
	m.stalled = on
	m.mu.Unlock()
}

func (m *memWriter) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.got)
}

// TestFanoutSecondSinkOwnSpool: a second sink runs beside Elasticsearch
// with its own spool; while it hangs, Elasticsearch keeps receiving every
// tick, and once it answers again it catches up from its spool.
func TestFanoutSecondSinkOwnSpool(t *testing.T) {
	srv := esfake.NewTB(t)
	es := start(t, srv, fastOptions(t.TempDir()))
	mem := &memWriter{got: map[string][]byte{}}
	memOpt := fastOptions(t.TempDir())
	memOpt.Name = "memory"
	second := startWriter(t, mem, memOpt, &logBuf{}, nil)
	fan := delivery.Fanout{es.out, second.out}

	if err := fan.Write(context.Background(), tick(0, 10)); err != nil {
		t.Fatal(err)
	}
	await.True(t, 10*time.Second, "both sinks", func() bool {
		return len(srv.Docs(elasticsearch.DefaultIndex)) == 10 && mem.len() == 10
	})
	mem.stall(true)
	for k := 1; k <= 3; k++ {
		if err := fan.Write(context.Background(), tick(k, 10)); err != nil {
			t.Fatal(err)
		}
		await.True(t, 10*time.Second, "Elasticsearch while the second sink hangs", func() bool {
			return len(srv.Docs(elasticsearch.DefaultIndex)) == 10*(k+1)
		})
	}
	await.True(t, 10*time.Second, "the second sink's spool", func() bool { return second.out.Stats().Spool.Pending >= 30 })
	if st := es.out.Stats(); st.Spool.Pending != 0 {
		t.Errorf("Elasticsearch's spool holds %d documents", st.Spool.Pending)
	}
	mem.stall(false)
	await.True(t, 10*time.Second, "the second sink catching up", func() bool { return mem.len() == 40 })
	hs := fan.Health()
	if len(hs) != 2 || hs[0].Component != "elasticsearch" || hs[1].Component != "memory" {
		t.Errorf("health %+v", hs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fan.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fan.Write(ctx, tick(9, 1)); !errors.Is(err, delivery.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
}

// TestWriteAheadWhileFailing: once a request failed, documents go straight
// to the spool; none waits in memory for the next attempt.
func TestWriteAheadWhileFailing(t *testing.T) {
	srv := esfake.NewTB(t)
	r := start(t, srv, fastOptions(t.TempDir()))
	r.write(t, tick(0, 5))
	// Awaited on the output's side: the fake stores a bulk before its
	// answer is written, and an outage that cut that answer would make
	// the first tick's documents spooled too.
	await.True(t, 10*time.Second, "the first tick", func() bool { return r.out.Stats().Delivered == 5 })
	srv.Outage()
	r.write(t, tick(1, 5))
	await.True(t, 10*time.Second, "the failing state", func() bool {
		return r.out.Stats().FailedRequests > 0 && r.out.Health()[0].State == health.Degraded
	})
	for k := 2; k < 10; k++ {
		r.write(t, tick(k, 5))
		if st := r.out.Stats(); st.InMemory != 0 {
			t.Fatalf("tick %d: %d documents only in memory during an outage", k, st.InMemory)
		}
	}
	if st := r.out.Stats(); st.Spool.Pending != 45 {
		t.Errorf("spool holds %d, want 45", st.Spool.Pending)
	}
}

// TestHealthStates: starting until the destination is prepared, up once it
// is, degraded while it fails.
func TestHealthStates(t *testing.T) {
	srv := esfake.NewTB(t)
	srv.Outage()
	r := start(t, srv, fastOptions(t.TempDir()))
	await.True(t, 10*time.Second, "degraded while unreachable", func() bool { return r.out.Health()[0].State == health.Degraded })
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	await.True(t, 10*time.Second, "up once prepared", func() bool { return r.out.Health()[0].State == health.Up })
	srv2 := esfake.NewTB(t)
	r2 := start(t, srv2, fastOptions(t.TempDir()))
	await.True(t, 10*time.Second, "up without any document", func() bool { return r2.out.Health()[0].State == health.Up })
	if !r2.out.Running() {
		t.Error("Running is false while Run runs")
	}
}

// refuseWriter refuses every document for good.
type refuseWriter struct{}

func (refuseWriter) Prepare(context.Context) error { return nil }
func (refuseWriter) Write(_ context.Context, recs []delivery.Record, res []delivery.Result) error {
	for i := range recs {
		res[i] = delivery.Result{Outcome: delivery.Refused, Reason: "mapper_parsing_exception"}
	}
	return nil
}

// TestRefusedLogBounded: 60 refused documents are all kept with their
// reason, and at most 10 of them are logged one by one in a minute.
func TestRefusedLogBounded(t *testing.T) {
	logs := &logBuf{}
	r := startWriter(t, refuseWriter{}, fastOptions(t.TempDir()), logs, nil)
	for k := range 6 {
		r.write(t, tick(k, 10))
	}
	await.True(t, 10*time.Second, "60 documents refused", func() bool { return r.out.Stats().Refused == 60 })
	if n := strings.Count(logs.String(), "document refused for good"); n != 10 {
		t.Errorf("%d refused documents logged one by one, want 10:\n%s", n, logs.String())
	}
}

// TestBodiesIntact: documents written one or a few at a time from many
// goroutines, as the workers of a tick do, arrive with exactly the body and id each
// encodes to, across the many chunks their batch's bodies take.
func TestBodiesIntact(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int // documents per batch; 0: the default
	}{
		// Each batch takes every buffered document, with its chunks,
		// which are filled again once it is sent.
		{"whole batches", 0},
		// Batches leave documents behind that share their chunks.
		{"partial batches", 7},
	} {
		t.Run(tc.name, func(t *testing.T) { testBodiesIntact(t, tc.batch) })
	}
}

func testBodiesIntact(t *testing.T, batchDocs int) {
	mem := &memWriter{got: map[string][]byte{}}
	opt := fastOptions(t.TempDir())
	opt.BatchDocs = batchDocs
	r := startWriter(t, mem, opt, &logBuf{}, nil)
	const writers, perWriter = 8, 500
	want := map[string][]byte{}
	var all [][]pipeline.Doc
	for w := range writers {
		docs := tick(w, perWriter)
		for i := range docs {
			docs[i].Lags = []int64{int64(i), int64(w), 1 << 40, 7, 8, 9, 10, 11}
			want[docs[i].ID()] = docs[i].AppendJSON(nil)
		}
		all = append(all, docs)
	}
	var wg sync.WaitGroup
	for w, docs := range all {
		per := 1 + w%2*6 // one document a write, or seven
		wg.Go(func() {
			for i := 0; i < len(docs); i += per {
				some := docs[i:min(i+per, len(docs))]
				if err := r.out.Write(context.Background(), some); err != nil {
					t.Error(err)
					return
				}
				clear(some) // the caller reuses what it wrote
			}
		})
	}
	wg.Wait()
	r.close(t)
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if len(mem.got) != len(want) {
		t.Fatalf("delivered %d documents, want %d", len(mem.got), len(want))
	}
	for id, body := range want {
		if got := mem.got[id]; !bytes.Equal(got, body) {
			t.Fatalf("document %s arrived as %s, want %s", id, got, body)
		}
	}
}
