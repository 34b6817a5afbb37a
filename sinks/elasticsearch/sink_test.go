package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/spool"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"github.com/lagship/lagship/mappings"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/delivery"
)

var update = flag.Bool("update", false, "rewrite golden files")

// oldMapping is the mapping.json of the script lagship replaces.
var oldMapping = func() []byte {
	var b strings.Builder
	b.WriteString(`{"mappings":{"properties":{"@timestamp":{"type":"date"},"topic":{"type":"text"}`)
	for p := 0; p < 18; p++ {
		b.WriteString(`,"p` + strconv.Itoa(p) + `":{"type":"integer"}`)
	}
	b.WriteString(`}}}`)
	return []byte(b.String())
}()

// syncBuf is a log sink safe for the sink's goroutines.
type syncBuf = syncbuf.Buffer

type harness struct {
	srv  *esfake.Server
	sink *Sink
	out  *delivery.Output
	dir  string
	logs *syncBuf
	done chan struct{}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newHarness starts a fake and the sink behind a delivery layer on a
// temporary spool. Batches leave at 1000 documents, 1 MiB or Close unless
// opt changes it.
func newHarness(t *testing.T, srv *esfake.Server, mut func(*Config), opt ...func(*delivery.Options)) *harness {
	t.Helper()
	if srv == nil {
		srv = esfake.NewTB(t)
	}
	h := &harness{srv: srv, logs: &syncBuf{}, dir: t.TempDir(), done: make(chan struct{})}
	cfg := DefaultConfig()
	cfg.Addresses = []string{srv.URL()}
	cfg.RetryBackoff = time.Millisecond
	cfg.MaxBackoff = 4 * time.Millisecond
	if mut != nil {
		mut(&cfg)
	}
	log := zerolog.New(h.logs)
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	h.sink = s
	o := delivery.Options{
		Name: "elasticsearch", SpoolDir: h.dir,
		FlushInterval: time.Hour, Linger: time.Hour, SpillAfter: time.Hour,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, ReplayEvery: time.Millisecond,
		Timeout: 5 * time.Second,
	}
	for _, f := range opt {
		f(&o)
	}
	h.out, err = delivery.New(s, o, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(h.done); _ = h.out.Run(ctx) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := h.out.Close(cctx); err != nil && !errors.Is(err, delivery.ErrClosed) {
			t.Errorf("cleanup close: %v", err)
		}
		cancel()
		<-h.done
		s.Close()
	})
	return h
}

// newBare starts a fake and a sink without a delivery layer, for tests of
// the index bootstrap and probes.
func newBare(t *testing.T, srv *esfake.Server, mut func(*Config)) *harness {
	t.Helper()
	if srv == nil {
		srv = esfake.NewTB(t)
	}
	h := &harness{srv: srv, logs: &syncBuf{}}
	cfg := DefaultConfig()
	cfg.Addresses = []string{srv.URL()}
	cfg.RetryBackoff = time.Millisecond
	cfg.MaxBackoff = 4 * time.Millisecond
	if mut != nil {
		mut(&cfg)
	}
	s, err := New(cfg, zerolog.New(h.logs))
	if err != nil {
		t.Fatal(err)
	}
	h.sink = s
	t.Cleanup(s.Close)
	return h
}

func (h *harness) close(t *testing.T) {
	t.Helper()
	if err := h.out.Close(ctxT(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func (h *harness) write(t *testing.T, docs []pipeline.Doc) {
	t.Helper()
	if err := h.out.Write(ctxT(t), docs); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds (bounded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	await.True(t, 10*time.Second, what, cond)
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// makeDocs returns topics×ticks documents.
func makeDocs(topics, ticks int) []pipeline.Doc {
	var docs []pipeline.Doc
	for k := 0; k < ticks; k++ {
		for i := 0; i < topics; i++ {
			docs = append(docs, pipeline.Doc{
				Timestamp: t0.Add(time.Duration(k) * 10 * time.Second),
				Target:    pipeline.Target{Mirror: "dc1", Topic: "topic-" + strconv.Itoa(i), Group: "mm2", Cluster: "src", Method: "native"},
				Lags:      []int64{int64(k), 5, pipeline.UnknownLag, 7},
			})
		}
	}
	return docs
}

func TestEnsureIndexCreatesOnce(t *testing.T) {
	srv := esfake.NewTB(t)
	a := newBare(t, srv, nil)
	if err := a.sink.EnsureIndex(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if srv.IndexCreations() != 1 || !bytes.Equal(srv.LastCreateBody(), mappings.JSON) {
		t.Fatalf("creations %d, body %s", srv.IndexCreations(), srv.LastCreateBody())
	}
	b := newBare(t, srv, nil) // a second start
	if err := b.sink.EnsureIndex(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if srv.IndexCreations() != 1 || srv.Requests(esfake.EndpointIndexCreate) != 1 {
		t.Errorf("second start: creations %d, create requests %d", srv.IndexCreations(), srv.Requests(esfake.EndpointIndexCreate))
	}
	if got := srv.FieldType(DefaultIndex, "topic"); got != "keyword" {
		t.Errorf("topic = %q", got)
	}
}

func TestEnsureIndexRace(t *testing.T) {
	srv := esfake.NewTB(t)
	// Another instance creates the index between our HEAD and our PUT.
	srv.OnRequest(func(ep string, _ *http.Request) {
		if ep == esfake.EndpointIndexCreate {
			_ = srv.CreateIndex(DefaultIndex, mappings.JSON)
		}
	})
	h := newBare(t, srv, nil)
	if err := h.sink.EnsureIndex(ctxT(t)); err != nil {
		t.Fatalf("EnsureIndex with a racing creator: %v", err)
	}
	if srv.Requests(esfake.EndpointIndexCreate) != 1 || srv.IndexCreations() != 1 {
		t.Errorf("create requests %d, creations %d", srv.Requests(esfake.EndpointIndexCreate), srv.IndexCreations())
	}
}

func TestEnsureIndexBadMapping(t *testing.T) {
	h := newBare(t, nil, func(c *Config) {
		c.Mapping = []byte(`{"mappings":{"properties":{"topic":{"type":"keyword","fielddata":true}}}}`)
	})
	err := h.sink.EnsureIndex(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "mapper_parsing_exception") {
		t.Fatalf("err = %v, want the mapper_parsing_exception", err)
	}
}

func TestWriteUsesBulkOnly(t *testing.T) {
	h := newHarness(t, nil, nil, func(o *delivery.Options) { o.FlushBytes = 32 << 10 })
	docs := makeDocs(20, 25) // 500 documents
	for i := 0; i < len(docs); i += 20 {
		h.write(t, docs[i:i+20])
	}
	h.close(t)
	stored := h.srv.Docs(DefaultIndex)
	if len(stored) != len(docs) {
		t.Fatalf("stored %d of %d", len(stored), len(docs))
	}
	bulks := h.srv.Requests(esfake.EndpointBulk)
	if bulks == 0 || bulks > len(docs)/20 {
		t.Errorf("%d bulk requests for %d documents", bulks, len(docs))
	}
	for _, ep := range []string{esfake.EndpointUnknown, esfake.EndpointUpdateByQuery} {
		if n := h.srv.Requests(ep); n != 0 {
			t.Errorf("%d requests to %s", n, ep)
		}
	}
	want := docs[123].AppendJSON(nil)
	if got := stored[docs[123].ID()]; !bytes.Equal(got, want) {
		t.Errorf("stored %s\nwant   %s", got, want)
	}
	st := h.out.Stats()
	if st.Delivered != uint64(len(docs)) || st.Requests != uint64(bulks) || st.Refused+st.Spooled+st.Duplicates != 0 || st.InMemory != 0 {
		t.Errorf("stats %+v", st)
	}
	if h.srv.LastHeader(esfake.EndpointBulk).Get("Content-Encoding") != "gzip" {
		t.Error("bulk bodies are not compressed")
	}
	if err := h.out.Write(ctxT(t), docs[:1]); !errors.Is(err, delivery.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
}

func TestCloseFlushesPartialBuffer(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.write(t, makeDocs(3, 1))
	waitFor(t, "the index", func() bool { return len(h.srv.Indices()) == 1 })
	if n := h.srv.Requests(esfake.EndpointBulk); n != 0 {
		t.Fatalf("%d bulk requests before Close with a 1h interval and a 1MiB buffer", n)
	}
	h.close(t)
	if n := len(h.srv.Docs(DefaultIndex)); n != 3 || h.srv.Requests(esfake.EndpointBulk) != 1 {
		t.Fatalf("after Close: %d docs, %d requests", n, h.srv.Requests(esfake.EndpointBulk))
	}
}

// TestItem429Spooled: items the cluster is too busy for go to the spool and
// come back with the replay.
func TestItem429Spooled(t *testing.T) {
	h := newHarness(t, nil, nil, func(o *delivery.Options) { o.Linger = time.Millisecond })
	h.srv.RejectNextItems(3)
	h.write(t, makeDocs(5, 1))
	waitFor(t, "5 documents", func() bool { return len(h.srv.Docs(DefaultIndex)) == 5 })
	h.close(t)
	st := h.out.Stats()
	if st.Retried != 3 || st.Delivered != 5 || st.Spooled != 3 || st.Replayed != 3 || st.Spool.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWholeRequestRetriedByClient(t *testing.T) {
	for _, status := range []int{429, 502, 503, 504} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHarness(t, nil, nil)
			h.srv.FailNext(esfake.EndpointBulk, 2, status)
			h.write(t, makeDocs(3, 1))
			h.close(t)
			if n := len(h.srv.Docs(DefaultIndex)); n != 3 {
				t.Fatalf("stored %d of 3", n)
			}
			st := h.out.Stats()
			if h.srv.Requests(esfake.EndpointBulk) != 3 || st.Requests != 1 || st.FailedRequests != 0 {
				t.Errorf("requests %d, stats %+v", h.srv.Requests(esfake.EndpointBulk), st)
			}
		})
	}
}

func TestOutageSpoolsThenReplays(t *testing.T) {
	srv := esfake.NewTB(t)
	h := newHarness(t, srv, func(c *Config) { c.MaxRetries = 1 }, func(o *delivery.Options) { o.Linger = time.Millisecond })
	h.write(t, makeDocs(4, 1))
	// Awaited on the output's side: an outage that cut the answer to a
	// stored bulk would spool those 4 documents as well.
	waitFor(t, "4 documents", func() bool { return h.out.Stats().Delivered == 4 })
	srv.Outage()
	h.write(t, makeDocs(4, 3)[4:])
	waitFor(t, "8 spooled documents", func() bool { return h.out.Stats().Spool.Pending == 8 })
	// The line follows the spooling; it is awaited, not read at once.
	waitFor(t, "the failure line", func() bool {
		return strings.Contains(h.logs.String(), "destination failing; documents go to the spool")
	})
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "12 documents", func() bool { return len(srv.Docs(DefaultIndex)) == 12 })
	h.close(t)
	st := h.out.Stats()
	if st.Spool.Pending != 0 || st.Delivered != 12 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := strings.Count(h.logs.String(), "destination answers again"); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, h.logs)
	}
	// The closing line counts what is still undelivered, not what once
	// passed through the spool.
	if !strings.Contains(h.logs.String(), `"undelivered":0,"message":"output closed; everything delivered"`) {
		t.Errorf("closing line:\n%s", h.logs)
	}
}

func TestCloseDeadlineSpoolsPending(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) {
		c.MaxRetries = 50
		c.RetryBackoff, c.MaxBackoff = 20*time.Millisecond, 20*time.Millisecond
	})
	h.srv.FailNext(esfake.EndpointBulk, 1_000_000, 503)
	h.write(t, makeDocs(3, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.out.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want deadline exceeded", err)
	}
	sp, err := spool.Open(h.dir, spool.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if n := sp.Len(); n != 3 {
		t.Fatalf("spooled %d of 3 before Close returned", n)
	}
}

func TestMappingErrorRefused(t *testing.T) {
	srv := esfake.NewTB(t)
	if err := srv.CreateIndex(DefaultIndex, oldMapping); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, srv, nil)
	docs := makeDocs(3, 1)
	docs[0].Lags[0] = 3_000_000_000 // p0 is integer in the old mapping
	docs[1].Lags[0] = 4_000_000_000
	h.write(t, docs)
	h.close(t)
	st := h.out.Stats()
	if st.Refused != 2 || st.Delivered != 1 || st.Retried != 0 || st.Spooled != 0 {
		t.Errorf("stats %+v", st)
	}
	if h.srv.BulkItems() != 3 {
		t.Errorf("items sent %d: a mapping error must not be retried", h.srv.BulkItems())
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "document refused for good"); n != 2 {
		t.Errorf("%d refusal log lines, want 2:\n%s", n, logs)
	}
	if !strings.Contains(logs, "out of range for an integer") || !strings.Contains(logs, "document_parsing_exception") {
		t.Errorf("log lacks the reason:\n%s", logs)
	}
	kept := rejectedLines(t, h.dir)
	if len(kept) != 2 || kept[0]["id"] != docs[0].ID() || !strings.Contains(kept[0]["reason"], "integer") {
		t.Errorf("rejected/ holds %v", kept)
	}
}

// rejectedLines reads the records set aside under dir/rejected.
func rejectedLines(t *testing.T, dir string) []map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, delivery.RejectedDir, "*.ndjson"))
	var out []map[string]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			m := map[string]string{}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("rejected line %q: %v", line, err)
			}
			out = append(out, m)
		}
	}
	return out
}

func TestDuplicates(t *testing.T) {
	srv := esfake.NewTB(t)
	docs := makeDocs(4, 1)
	first := newHarness(t, srv, nil)
	first.write(t, docs)
	first.close(t)
	again := newHarness(t, srv, nil) // a re-send after a restart
	again.write(t, append(docs, docs[0]))
	again.close(t)
	if st := again.out.Stats(); st.Duplicates != 5 || st.Delivered != 0 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := len(srv.Docs(DefaultIndex)); n != 4 {
		t.Errorf("stored %d", n)
	}
}

func TestOldIndex(t *testing.T) {
	srv := esfake.NewTB(t)
	if err := srv.CreateIndex(DefaultIndex, oldMapping); err != nil {
		t.Fatal(err)
	}
	h := newBare(t, srv, nil)
	ctx := ctxT(t)
	if err := h.sink.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	// The existing index is not re-created and its fields are not
	// changed: only the fields documents gained since are added.
	if srv.Requests(esfake.EndpointIndexCreate) != 0 || srv.Requests(esfake.EndpointPutMapping) != 1 {
		t.Errorf("EnsureIndex: %d creations, %d mapping updates, want 0 and 1", srv.Requests(esfake.EndpointIndexCreate), srv.Requests(esfake.EndpointPutMapping))
	}
	if got := string(srv.LastPutMapping()); got != `{"properties":{"max_time_lag":{"type":"double"},"status":{"type":"keyword"}}}` {
		t.Errorf("mapping update %s", got)
	}
	if srv.FieldType(DefaultIndex, "status") != "keyword" || srv.FieldType(DefaultIndex, "max_time_lag") != "double" || srv.FieldType(DefaultIndex, "topic") != "text" {
		t.Errorf("after EnsureIndex: status %s, max_time_lag %s, topic %s", srv.FieldType(DefaultIndex, "status"), srv.FieldType(DefaultIndex, "max_time_lag"), srv.FieldType(DefaultIndex, "topic"))
	}
	if err := h.sink.EnsureIndex(ctx); err != nil || srv.Requests(esfake.EndpointPutMapping) != 1 {
		t.Errorf("a second EnsureIndex: %v, %d mapping updates", err, srv.Requests(esfake.EndpointPutMapping))
	}
	logs := h.logs.String()
	for _, want := range []string{`"level":"warn"`, "terms aggregations", "split by topic", "lagship check", "p17"} {
		if !strings.Contains(logs, want) {
			t.Errorf("warning lacks %q:\n%s", want, logs)
		}
	}
	st, err := h.sink.InspectIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exists || st.TopicType != "text" || st.TopicKeyword || !st.NeedsTopicFix() || len(st.IntegerLagFields) != 18 || st.IntegerLagFields[17] != "p17" {
		t.Fatalf("state %+v", st)
	}
	fix := st.FixRequests()
	golden(t, "testdata/fix_requests.golden", []byte(fix))

	// The fix, pasted as printed, works.
	for _, req := range parseDevTools(t, fix) {
		hr, _ := http.NewRequestWithContext(ctx, req.method, srv.URL()+"/"+req.path, strings.NewReader(req.body))
		if req.body != "" {
			hr.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s %s = %d", req.method, req.path, res.StatusCode)
		}
	}
	if srv.Requests(esfake.EndpointUpdateByQuery) != 1 {
		t.Error("the backfill request did not run")
	}
	st, err = h.sink.InspectIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.TopicKeyword || st.NeedsTopicFix() {
		t.Errorf("after the fix: %+v", st)
	}
}

type devToolsReq struct{ method, path, body string }

// parseDevTools splits Kibana Dev Tools text into requests.
func parseDevTools(t *testing.T, text string) []devToolsReq {
	t.Helper()
	var out []devToolsReq
	for _, block := range strings.Split(strings.TrimSpace(text), "\n\n") {
		line, body, _ := strings.Cut(block, "\n")
		method, path, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad request line %q", line)
		}
		if body != "" && !json.Valid([]byte(body)) {
			t.Fatalf("body of %s is not JSON: %s", line, body)
		}
		out = append(out, devToolsReq{method, path, body})
	}
	if len(out) != 2 {
		t.Fatalf("%d requests in the fix, want 2", len(out))
	}
	return out
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", path, got)
	}
}

func TestAuth(t *testing.T) {
	const pass, key = "pa55-word", "aWQ6c2VjcmV0LWtleQ=="
	tests := []struct {
		name    string
		srvOpt  esfake.Option
		mut     func(*Config)
		ok      bool
		wantHdr string
	}{
		{"basic", esfake.WithBasicAuth("lagship", pass), func(c *Config) { c.Username, c.Password = "lagship", pass }, true, "Basic bGFnc2hpcDpwYTU1LXdvcmQ="},
		{"api key", esfake.WithAPIKey(key), func(c *Config) { c.APIKey = key }, true, "APIKey " + key},
		{"wrong password", esfake.WithBasicAuth("lagship", "other"), func(c *Config) { c.Username, c.Password = "lagship", pass }, false, ""},
		{"wrong key", esfake.WithAPIKey("b3RoZXI="), func(c *Config) { c.APIKey = key }, false, ""},
		{"none", esfake.WithBasicAuth("lagship", pass), nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := esfake.NewTB(t, tt.srvOpt)
			h := newBare(t, srv, tt.mut)
			err := h.sink.EnsureIndex(ctxT(t))
			checks := h.sink.Probe(ctxT(t))
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got := srv.LastHeader(esfake.EndpointIndexCreate).Get("Authorization"); got != tt.wantHdr {
					t.Errorf("Authorization = %q, want %q", got, tt.wantHdr)
				}
				if !checks[1].OK {
					t.Errorf("auth check %+v", checks[1])
				}
				return
			}
			if err == nil {
				t.Fatal("EnsureIndex succeeded with bad credentials")
			}
			if checks[1].OK || !strings.Contains(checks[1].Detail, "security_exception") {
				t.Errorf("auth check %+v", checks[1])
			}
			for _, c := range checks {
				if strings.Contains(c.Detail, pass) || strings.Contains(c.Detail, key) {
					t.Errorf("check %q leaks a secret: %s", c.Name, c.Detail)
				}
			}
			if strings.Contains(err.Error(), pass) || strings.Contains(h.logs.String(), pass) || strings.Contains(h.logs.String(), key) {
				t.Error("a secret reached an error or a log")
			}
		})
	}
}

func TestProbe(t *testing.T) {
	t.Run("fresh cluster", func(t *testing.T) {
		h := newBare(t, nil, nil)
		checks := h.sink.Probe(ctxT(t))
		for _, c := range checks {
			if !c.OK {
				t.Errorf("%+v", c)
			}
		}
		if !strings.Contains(checks[0].Detail, esfake.DefaultVersion) || !strings.Contains(checks[2].Detail, "will") && !strings.Contains(checks[2].Detail, "creates it") {
			t.Errorf("details %+v", checks)
		}
		if h.srv.IndexCreations() != 0 {
			t.Error("Probe created the index")
		}
	})
	t.Run("old index", func(t *testing.T) {
		srv := esfake.NewTB(t)
		_ = srv.CreateIndex(DefaultIndex, oldMapping)
		h := newBare(t, srv, nil)
		c := h.sink.Probe(ctxT(t))[2]
		if c.OK || !strings.Contains(c.Detail, "_update_by_query?conflicts=proceed") || !strings.Contains(c.Detail, "2147483647") {
			t.Errorf("%+v", c)
		}
	})
	t.Run("down", func(t *testing.T) {
		srv := esfake.NewTB(t)
		srv.Outage()
		h := newBare(t, srv, func(c *Config) { c.MaxRetries = 1 })
		c := h.sink.Probe(ctxT(t))
		if c[0].OK || c[1].OK || c[2].OK || !strings.Contains(c[0].Detail, "refused") {
			t.Errorf("%+v", c)
		}
	})
	t.Run("old version", func(t *testing.T) {
		h := newBare(t, esfake.NewTB(t, esfake.WithVersion("6.8.0")), nil)
		if c := h.sink.Probe(ctxT(t))[0]; c.OK {
			t.Errorf("%+v", c)
		}
	})
}

func TestTLS(t *testing.T) {
	srv := esfake.NewTB(t, esfake.WithTLS())
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mut  func(*Config)
		ok   bool
	}{
		{"ca file", func(c *Config) { c.CAFile = ca }, true},
		{"system roots only", nil, false},
		{"insecure", func(c *Config) { c.InsecureSkipVerify = true }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newBare(t, srv, func(c *Config) {
				c.MaxRetries = 1
				if tt.mut != nil {
					tt.mut(c)
				}
			})
			err := h.sink.EnsureIndex(ctxT(t))
			if (err == nil) != tt.ok {
				t.Fatalf("EnsureIndex = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && !strings.Contains(err.Error(), "certificate") {
				t.Errorf("error does not name the certificate: %v", err)
			}
		})
	}
	if _, err := New(Config{Addresses: []string{srv.URL()}, CAFile: filepath.Join(t.TempDir(), "missing.pem")}, zerolog.Nop()); err == nil {
		t.Error("New accepted a missing CA file")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero values get defaults", func(c *Config) { *c = Config{Addresses: []string{"https://es:9200"}} }, ""},
		{"no address", func(c *Config) { c.Addresses = nil }, "addresses"},
		{"bad scheme", func(c *Config) { c.Addresses = []string{"es:9200"} }, "addresses[0]"},
		{"credentials in URL", func(c *Config) { c.Addresses = []string{"http://u:secret@es:9200"} }, "credentials"},
		{"key and password", func(c *Config) { c.APIKey, c.Username, c.Password = "k", "u", "p" }, "exclusive"},
		{"password without user", func(c *Config) { c.Password = "p" }, "username"},
		{"uppercase index", func(c *Config) { c.Index = "Consumer_Lag" }, "lowercase"},
		{"index with space", func(c *Config) { c.Index = "consumer lag" }, "index"},
		{"underscore index", func(c *Config) { c.Index = "_lag" }, "start"},
		{"bad mapping", func(c *Config) { c.Mapping = []byte(`{}`) }, "mapping"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
		{"negative retries", func(c *Config) { c.MaxRetries = -1 }, "max_retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// TestNotElasticsearch: a server that is not Elasticsearch is named at
// start, with what it answered, rather than reported as no answer.
func TestNotElasticsearch(t *testing.T) {
	for _, tt := range []struct {
		name, ctype, body, want string
	}{
		{"web server", "text/html", "<html><body>Welcome to nginx!</body></html>", `text/html: "<html><body>Welcome to nginx!</body></html>"`},
		{"other JSON", "application/json", `{"status":"ok"}`, `application/json: "{\"status\":\"ok\"}"`},
		{"empty", "", "", "empty body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			cfg := DefaultConfig()
			cfg.Addresses = []string{srv.URL}
			s, err := New(cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Prepare(ctxT(t))
			if err == nil || !strings.Contains(err.Error(), "is not Elasticsearch") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare = %v, want it to say the server is not Elasticsearch and show %s", err, tt.want)
			}
			if c := s.Probe(ctxT(t))[0]; c.OK || !strings.Contains(c.Detail, "is not Elasticsearch") {
				t.Errorf("probe %+v", c)
			}
		})
	}
}

// The bulk body is kept from one Write to the next, across garbage
// collections, and refilled whole: each Write stores its own documents.
func TestBulkBodyKeptAcrossGC(t *testing.T) {
	h := newBare(t, nil, nil)
	ctx := ctxT(t)
	if err := h.sink.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(docs []pipeline.Doc) {
		t.Helper()
		recs := make([]delivery.Record, len(docs))
		for i := range docs {
			recs[i] = delivery.Record{ID: docs[i].ID(), Body: docs[i].AppendJSON(nil)}
		}
		res := make([]delivery.Result, len(recs))
		if err := h.sink.Write(ctx, recs, res); err != nil {
			t.Fatal(err)
		}
	}
	docs := makeDocs(300, 2)
	write(docs[:300])
	if len(h.sink.bodies) != 1 {
		t.Fatalf("%d bodies kept after a Write, want 1", len(h.sink.bodies))
	}
	kept := <-h.sink.bodies
	h.sink.bodies <- kept
	runtime.GC()
	runtime.GC()
	write(docs[300:])
	if n := len(h.sink.bodies); n != 1 {
		t.Errorf("%d bodies kept after the second Write, want 1", n)
	} else if got := <-h.sink.bodies; got != kept {
		t.Error("the second Write made a new body")
	}
	stored := h.srv.Docs(DefaultIndex)
	if len(stored) != len(docs) {
		t.Fatalf("stored %d of %d", len(stored), len(docs))
	}
	for _, i := range []int{0, 299, 300, 599} {
		if got, want := stored[docs[i].ID()], docs[i].AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("document %d: stored %s\nwant   %s", i, got, want)
		}
	}
}
