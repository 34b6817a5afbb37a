package elasticsearch

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/mappings"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/delivery"
)

// reqLog records "METHOD /path" of every request a fake receives.
type reqLog struct {
	mu   sync.Mutex
	reqs []string
}

func record(srv *esfake.Server) *reqLog {
	l := &reqLog{}
	srv.OnRequest(func(_ string, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
	})
	return l
}

// take returns the requests so far and starts a new list.
func (l *reqLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

func writes(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if !strings.HasPrefix(r, "GET ") && !strings.HasPrefix(r, "HEAD ") {
			out = append(out, r)
		}
	}
	return out
}

func streamCfg(retention string, tsds bool) func(*Config) {
	return func(c *Config) { c.DataStream, c.Retention, c.TSDS = true, retention, tsds }
}

// nowDocs are documents at ticks around now, so that a time series data
// stream created now accepts them.
func nowDocs(topics, ticks int) []pipeline.Doc {
	docs := makeDocs(topics, ticks)
	base := time.Now().UTC().Truncate(10 * time.Second).Add(-time.Duration(ticks) * 10 * time.Second)
	for i := range docs {
		docs[i].Timestamp = base.Add(docs[i].Timestamp.Sub(t0))
	}
	return docs
}

// TestStartRequests: the requests lagship sends at a first start on an
// empty cluster and at a second start with everything in place, per mode.
// A second start sends no PUT.
func TestStartRequests(t *testing.T) {
	const n = DefaultIndex
	tests := []struct {
		name    string
		version string
		mut     func(*Config)
		first   []string
		second  []string
	}{
		{"plain index", esfake.DefaultVersion, nil,
			[]string{"GET /", "PUT /_index_template/" + n, "HEAD /" + n, "PUT /" + n},
			[]string{"GET /", "PUT /_index_template/" + n, "HEAD /" + n, "GET /" + n + "/_mapping"}},
		{"data stream, lifecycle (8.14)", "8.14.0", streamCfg("30d", false),
			[]string{"GET /", "GET /_data_stream/" + n, "HEAD /" + n, "GET /_index_template/" + n, "PUT /_index_template/" + n, "PUT /_data_stream/" + n},
			[]string{"GET /", "GET /_data_stream/" + n, "GET /_index_template/" + n}},
		{"data stream, ILM (8.13)", "8.13.4", streamCfg("30d", false),
			[]string{"GET /", "GET /_data_stream/" + n, "HEAD /" + n, "GET /_ilm/policy/" + n, "GET /_index_template/" + n, "PUT /_ilm/policy/" + n, "PUT /_index_template/" + n, "PUT /_data_stream/" + n},
			[]string{"GET /", "GET /_data_stream/" + n, "GET /_ilm/policy/" + n, "GET /_index_template/" + n}},
		{"data stream, no retention", esfake.DefaultVersion, streamCfg("", false),
			[]string{"GET /", "GET /_data_stream/" + n, "HEAD /" + n, "GET /_index_template/" + n, "PUT /_index_template/" + n, "PUT /_data_stream/" + n},
			[]string{"GET /", "GET /_data_stream/" + n, "GET /_index_template/" + n}},
		{"TSDS, lifecycle", esfake.DefaultVersion, streamCfg("30d", true),
			[]string{"GET /", "GET /_data_stream/" + n, "HEAD /" + n, "GET /_index_template/" + n, "PUT /_index_template/" + n, "PUT /_data_stream/" + n},
			[]string{"GET /", "GET /_data_stream/" + n, "GET /_index_template/" + n}},
		{"TSDS, ILM (8.7)", "8.7.1", streamCfg("30d", true),
			[]string{"GET /", "GET /_data_stream/" + n, "HEAD /" + n, "GET /_ilm/policy/" + n, "GET /_index_template/" + n, "PUT /_ilm/policy/" + n, "PUT /_index_template/" + n, "PUT /_data_stream/" + n},
			[]string{"GET /", "GET /_data_stream/" + n, "GET /_ilm/policy/" + n, "GET /_index_template/" + n}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := esfake.NewTB(t, esfake.WithVersion(tt.version))
			log := record(srv)
			first := newBare(t, srv, tt.mut).sink
			if err := first.Prepare(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if got := log.take(); !reflect.DeepEqual(got, tt.first) {
				t.Errorf("first start:\n got %q\nwant %q", got, tt.first)
			}
			// The agent checks the set-up at start, then its delivery
			// loop prepares: the second Prepare before any write sends
			// nothing.
			if err := first.Prepare(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if got := log.take(); len(got) != 0 {
				t.Errorf("a second Prepare before any write sent %q", got)
			}
			if err := newBare(t, srv, tt.mut).sink.Prepare(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			got := log.take()
			if !reflect.DeepEqual(got, tt.second) {
				t.Errorf("second start:\n got %q\nwant %q", got, tt.second)
			}
			if tt.mut != nil && len(writes(got)) > 0 {
				t.Errorf("second start changed something: %q", writes(got))
			}
			t.Logf("first start: %s; second start: %s", strings.Join(tt.first, ", "), strings.Join(got, ", "))
		})
	}
}

// TestStreamSetUp: what a first start leaves in the cluster, per mode, and
// every document in the stream exactly once.
func TestStreamSetUp(t *testing.T) {
	for _, tt := range []struct {
		name, version, retention string
		tsds                     bool
	}{
		{"lifecycle", esfake.DefaultVersion, "30d", false},
		{"ILM", "8.13.4", "30d", false},
		{"TSDS", esfake.DefaultVersion, "30d", true},
		{"TSDS ILM", "8.13.4", "7d", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := esfake.NewTB(t, esfake.WithVersion(tt.version))
			h := newHarness(t, srv, streamCfg(tt.retention, tt.tsds))
			docs := nowDocs(5, 4)
			h.write(t, docs)
			h.write(t, docs[:3]) // re-sent: duplicates
			h.close(t)
			if got := srv.DataStreams(); len(got) != 1 || got[0] != DefaultIndex {
				t.Fatalf("data streams %v", got)
			}
			backing := srv.BackingIndices(DefaultIndex)
			if len(backing) != 1 || !strings.HasPrefix(backing[0], ".ds-"+DefaultIndex+"-") || !strings.HasSuffix(backing[0], "-000001") {
				t.Errorf("backing indices %v", backing)
			}
			ret, managed := srv.Retention(DefaultIndex)
			policy := srv.Setting(backing[0], "index.lifecycle.name")
			if tt.version == esfake.DefaultVersion {
				if !managed || ret != tt.retention || policy != "" {
					t.Errorf("lifecycle retention %q (managed %v), ILM policy %q", ret, managed, policy)
				}
			} else if managed || policy != DefaultIndex || srv.Policy(DefaultIndex) == nil {
				t.Errorf("ILM: lifecycle managed %v, index policy %q, policy %s", managed, policy, srv.Policy(DefaultIndex))
			}
			if mode := srv.Setting(backing[0], "index.mode"); (mode == "time_series") != tt.tsds {
				t.Errorf("index.mode %q", mode)
			}
			stored := srv.Docs(DefaultIndex)
			if len(stored) != len(docs) {
				t.Fatalf("stored %d of %d", len(stored), len(docs))
			}
			seen := map[string]bool{}
			for _, src := range stored {
				var d struct {
					TS    string `json:"@timestamp"`
					Topic string `json:"topic"`
				}
				_ = json.Unmarshal(src, &d)
				seen[d.Topic+"/"+d.TS] = true
			}
			if len(seen) != len(docs) {
				t.Errorf("%d distinct documents of %d", len(seen), len(docs))
			}
			_, hasOwnID := stored[docs[0].ID()]
			if hasOwnID == tt.tsds {
				t.Errorf("document _id %q present = %v; a TSDS makes its own _id, a data stream keeps lagship's", docs[0].ID(), hasOwnID)
			}
			st := h.out.Stats()
			if st.Delivered != uint64(len(docs)) || st.Duplicates != 3 || st.Refused != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestRetentionChange: a new retention updates the template and the
// stream's lifecycle (8.14 and later) or the ILM policy (before), nothing
// else.
func TestRetentionChange(t *testing.T) {
	const n = DefaultIndex
	for _, tt := range []struct {
		version string
		want    []string
	}{
		{esfake.DefaultVersion, []string{"PUT /_index_template/" + n, "PUT /_data_stream/" + n + "/_lifecycle"}},
		{"8.13.4", []string{"PUT /_ilm/policy/" + n}},
	} {
		t.Run(tt.version, func(t *testing.T) {
			srv := esfake.NewTB(t, esfake.WithVersion(tt.version))
			if err := newBare(t, srv, streamCfg("30d", false)).sink.Prepare(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			log := record(srv)
			if err := newBare(t, srv, streamCfg("7d", false)).sink.Prepare(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if got := writes(log.take()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("writes %q, want %q", got, tt.want)
			}
			if tt.version == esfake.DefaultVersion {
				if ret, _ := srv.Retention(n); ret != "7d" {
					t.Errorf("stream retention %q", ret)
				}
			} else if !strings.Contains(string(srv.Policy(n)), `"min_age":"7d"`) {
				t.Errorf("policy %s", srv.Policy(n))
			}
			if err := newBare(t, srv, streamCfg("7d", false)).sink.Prepare(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if got := writes(log.take()); len(got) != 0 {
				t.Errorf("a start after the change sent %q", got)
			}
		})
	}
}

// TestRefusals: lagship refuses to set up a stream over a plain index, a
// TSDS on a cluster without them, and a TSDS setting that differs from the
// existing stream's; nothing is written anywhere.
func TestRefusals(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version string
		before  func(t *testing.T, srv *esfake.Server)
		tsds    bool
		want    []string
		reqs    []string
	}{
		{"plain index", esfake.DefaultVersion, func(t *testing.T, srv *esfake.Server) {
			if err := srv.CreateIndex(DefaultIndex, mappings.JSON); err != nil {
				t.Fatal(err)
			}
		}, false, []string{`"consumer_lag" is an existing plain index`, "POST _reindex", "consumer_lag_stream", "Nothing was written"},
			[]string{"GET /", "GET /_data_stream/consumer_lag", "HEAD /consumer_lag"}},
		{"TSDS on 8.6", "8.6.2", nil, true, []string{"Elasticsearch 8.6.2 has no generally available time series data streams (8.7 and later do)", "nothing was written"},
			[]string{"GET /"}},
		{"TSDS over a standard stream", esfake.DefaultVersion, func(t *testing.T, srv *esfake.Server) {
			if err := newBare(t, srv, streamCfg("30d", false)).sink.Prepare(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}, true, []string{`data stream "consumer_lag" exists as a standard data stream, which tsds: true does not fit`},
			[]string{"GET /", "GET /_data_stream/consumer_lag", "GET /_index_template/consumer_lag"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := esfake.NewTB(t, esfake.WithVersion(tt.version))
			if tt.before != nil {
				tt.before(t, srv)
			}
			docsBefore := len(srv.DocIDs(DefaultIndex))
			log := record(srv)
			err := newBare(t, srv, streamCfg("30d", tt.tsds)).sink.Prepare(ctxT(t))
			if err == nil {
				t.Fatal("Prepare succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if got := log.take(); !reflect.DeepEqual(got, tt.reqs) {
				t.Errorf("requests %q, want %q", got, tt.reqs)
			}
			// The agent keeps the documents in its spool meanwhile.
			h := newHarness(t, srv, streamCfg("30d", tt.tsds))
			h.write(t, nowDocs(2, 1))
			h.close(t)
			if w := writes(log.take()); len(w) != 0 || srv.BulkItems() != 0 || len(srv.DocIDs(DefaultIndex)) != docsBefore {
				t.Errorf("written: %q, %d bulk items, %d documents", w, srv.BulkItems(), len(srv.DocIDs(DefaultIndex)))
			}
			if st := h.out.Stats(); st.Spool.Pending != 2 {
				t.Errorf("spool holds %d documents, want 2", st.Spool.Pending)
			}
		})
	}
}

// TestStreamDeletedWhileRunning: without auto-create, a deleted stream is
// created again by the next Prepare and the batch goes in.
func TestStreamDeletedWhileRunning(t *testing.T) {
	srv := esfake.NewTB(t, esfake.WithAutoCreateIndex(false))
	h := newHarness(t, srv, streamCfg("30d", false), func(o *delivery.Options) { o.Linger = time.Millisecond })
	docs := nowDocs(3, 2)
	h.write(t, docs[:3])
	waitFor(t, "3 documents", func() bool { return len(srv.DocIDs(DefaultIndex)) == 3 })
	srv.DeleteDataStream(DefaultIndex)
	h.write(t, docs[3:])
	waitFor(t, "3 documents in the new stream", func() bool { return len(srv.DocIDs(DefaultIndex)) == 3 })
	h.close(t)
	if got := srv.Docs(DefaultIndex); got[docs[3].ID()] == nil {
		t.Errorf("the new stream lacks %s", docs[3].ID())
	}
}

// TestTSDSOutsideTimeBounds: documents older than the stream's oldest
// backing index accepts are refused once, counted and set aside; the rest
// of the batch goes in.
func TestTSDSOutsideTimeBounds(t *testing.T) {
	srv := esfake.NewTB(t)
	h := newHarness(t, srv, streamCfg("30d", true))
	docs := nowDocs(2, 2)
	old := makeDocs(2, 1) // 2024: long before the stream was created
	h.write(t, append(old, docs...))
	h.close(t)
	st := h.out.Stats()
	if st.Delivered != 4 || st.Refused != 2 || st.Retried != 0 || h.sink.OutsideTimeBounds() != 2 {
		t.Errorf("stats %+v, outside %d", st, h.sink.OutsideTimeBounds())
	}
	if srv.BulkItems() != 6 {
		t.Errorf("%d items sent: refused documents must not be retried", srv.BulkItems())
	}
	kept := rejectedLines(t, h.dir)
	if len(kept) != 2 || !strings.Contains(kept[0]["reason"], "outside the time bounds of the time series data stream") ||
		!strings.Contains(kept[0]["reason"], "is outside of ranges of currently writable indices") {
		t.Errorf("rejected/ holds %v", kept)
	}
	if n := strings.Count(h.logs.String(), "the time series data stream refuses documents whose @timestamp is older"); n != 1 {
		t.Errorf("%d explanations logged, want 1:\n%s", n, h.logs)
	}
}

// TestStreamOutage: the stream's documents go through the spool during an
// outage and each is stored exactly once afterwards.
func TestStreamOutage(t *testing.T) {
	for _, tsds := range []bool{false, true} {
		name := "data stream"
		if tsds {
			name = "TSDS"
		}
		t.Run(name, func(t *testing.T) {
			srv := esfake.NewTB(t)
			h := newHarness(t, srv, func(c *Config) { streamCfg("30d", tsds)(c); c.MaxRetries = 1 }, func(o *delivery.Options) { o.Linger = time.Millisecond })
			docs := nowDocs(4, 3)
			h.write(t, docs[:4])
			// Awaited on the output's side: an outage that cut the answer
			// to a stored bulk would spool those 4 documents as well.
			waitFor(t, "4 documents", func() bool { return h.out.Stats().Delivered == 4 })
			srv.Outage()
			h.write(t, docs[4:])
			waitFor(t, "8 spooled documents", func() bool { return h.out.Stats().Spool.Pending == 8 })
			if err := srv.Restore(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "12 documents", func() bool { return len(srv.DocIDs(DefaultIndex)) == 12 })
			h.close(t)
			st := h.out.Stats()
			if st.Spool.Pending != 0 || st.Delivered != 12 || st.Refused != 0 || st.Duplicates != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestStreamProbe(t *testing.T) {
	srv := esfake.NewTB(t, esfake.WithVersion("8.13.4"))
	probe := func(mut func(*Config)) []Check {
		t.Helper()
		return newBare(t, srv, mut).sink.Probe(ctxT(t))
	}
	detail := func(cs []Check) string {
		var b strings.Builder
		for _, c := range cs {
			ok := "FAIL"
			if c.OK {
				ok = "ok"
			}
			b.WriteString(ok + "  " + c.Name + ": " + c.Detail + "\n")
		}
		return b.String()
	}
	log := record(srv)
	fresh := detail(probe(streamCfg("30d", false)))
	for _, w := range []string{
		"ok  elasticsearch data stream consumer_lag: does not exist; lagship creates it at start. At start lagship sends: PUT _ilm/policy/consumer_lag, PUT _index_template/consumer_lag, PUT _data_stream/consumer_lag",
		"ok  elasticsearch index template consumer_lag: does not exist",
		"ok  elasticsearch ILM policy consumer_lag: does not exist; lagship installs it at start (Elasticsearch 8.13.4 predates",
	} {
		if !strings.Contains(fresh, w) {
			t.Errorf("fresh cluster: lacks %q:\n%s", w, fresh)
		}
	}
	if w := writes(log.take()); len(w) != 0 {
		t.Errorf("a probe wrote %q", w)
	}
	if err := newBare(t, srv, streamCfg("30d", false)).sink.Prepare(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	log.take()
	same := detail(probe(streamCfg("30d", false)))
	if !strings.Contains(same, "data stream with 1 backing indices") || !strings.Contains(same, "ILM policy consumer_lag") ||
		!strings.Contains(same, "template consumer_lag: up to date") || strings.Contains(same, "At start lagship sends") {
		t.Errorf("set up:\n%s", same)
	}
	changed := detail(probe(streamCfg("7d", false)))
	if !strings.Contains(changed, "ILM policy consumer_lag: differs from the settings (retention 7d)") || !strings.Contains(changed, "At start lagship sends: PUT _ilm/policy/consumer_lag") {
		t.Errorf("changed retention:\n%s", changed)
	}
	tsds := probe(streamCfg("30d", true))
	if tsds[2].OK || !strings.Contains(tsds[2].Detail, "exists as a standard data stream") {
		t.Errorf("tsds over a standard stream:\n%s", detail(tsds))
	}
	if w := writes(log.take()); len(w) != 0 {
		t.Errorf("probes wrote %q", w)
	}
	plain := esfake.NewTB(t)
	if err := plain.CreateIndex(DefaultIndex, mappings.JSON); err != nil {
		t.Fatal(err)
	}
	pc := newBare(t, plain, streamCfg("30d", false)).sink.Probe(ctxT(t))
	if len(pc) != 3 || pc[2].OK || !strings.Contains(pc[2].Detail, "is an existing plain index") {
		t.Errorf("plain index:\n%s", detail(pc))
	}
}

// TestProbeWritesNothing: check's probes only read.
func TestProbeWritesNothing(t *testing.T) {
	for _, v := range []string{"8.13.4", esfake.DefaultVersion} {
		srv := esfake.NewTB(t, esfake.WithVersion(v))
		log := record(srv)
		for _, ret := range []string{"30d", "7d"} {
			_ = newBare(t, srv, streamCfg(ret, false)).sink.Probe(ctxT(t))
		}
		if w := writes(log.take()); len(w) != 0 {
			t.Errorf("%s: probes wrote %q", v, w)
		}
	}
}

// TestStreamBodies: the template and the policy per mode, as golden files.
func TestStreamBodies(t *testing.T) {
	for _, tt := range []struct {
		file      string
		retention string
		tsds      bool
		lifecycle bool
	}{
		{"template_lifecycle.golden.json", "30d", false, true},
		{"template_ilm.golden.json", "30d", false, false},
		{"template_tsds.golden.json", "30d", true, true},
		{"template_no_retention.golden.json", "", false, true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			h := newBare(t, nil, streamCfg(tt.retention, tt.tsds))
			b, err := h.sink.StreamTemplateBody(tt.lifecycle)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tt.file), indent(t, b))
		})
	}
	for _, ret := range []string{"30d", "7d"} {
		b, err := newBare(t, nil, streamCfg(ret, false)).sink.PolicyBody()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", "policy_"+ret+".golden.json"), indent(t, b))
	}
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return append(out, '\n')
}

func TestParseRetention(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30d", 30 * 24 * time.Hour, ""},
		{"12h", 12 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"3600s", time.Hour, ""},
		{"59m", 0, "below the minimum of 1h"},
		{"", 0, "is not a retention"},
		{"30", 0, "is not a retention"},
		{"d", 0, "is not a retention"},
		{"030d", 0, "is not a retention"},
		{"1.5d", 0, "is not a retention"},
		{"30 d", 0, "is not a retention"},
		{"-1d", 0, "is not a retention"},
		{"30D", 0, "is not a retention"},
		{"2w", 0, "is not a retention"},
		{"99999999999999999999d", 0, "more than 100 years"},
		{"36501d", 0, "more than 100 years"},
	} {
		got, err := ParseRetention(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"30d", "12h", "90m", "3600s", "1.5d", "", "-1d", "99999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseRetention(s)
		if err != nil {
			return
		}
		if d < time.Hour || d > 100*365*24*time.Hour {
			t.Fatalf("ParseRetention(%q) = %v, outside 1h..100y", s, d)
		}
		// What lagship accepts, Elasticsearch accepts: a whole number and
		// one of its units.
		if strings.TrimLeft(s[:len(s)-1], "0123456789") != "" || !strings.ContainsAny(s[len(s)-1:], "dhms") {
			t.Fatalf("ParseRetention accepted %q", s)
		}
	})
}

func TestStreamConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"stream", streamCfg("30d", true), ""},
		{"retention without stream", func(c *Config) { c.Retention = "30d" }, "retention needs data_stream"},
		{"tsds without stream", func(c *Config) { c.TSDS = true }, "tsds needs data_stream"},
		{"bad retention", streamCfg("30days", false), "retention"},
		{"builtin pattern", func(c *Config) { streamCfg("", false)(c); c.Index = "metrics-kafka-lag" }, "metrics-*-*"},
		{"backing prefix", func(c *Config) { streamCfg("", false)(c); c.Index = ".ds-lag" }, ".ds-"},
		{"plain index may be anything", func(c *Config) { c.Index = "metrics-kafka-lag" }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestTSDSProbe: check says from which @timestamp on a time series data
// stream accepts documents.
func TestTSDSProbe(t *testing.T) {
	srv := esfake.NewTB(t)
	if err := newBare(t, srv, streamCfg("30d", true)).sink.Prepare(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	start := srv.Setting(srv.BackingIndices(DefaultIndex)[0], "index.time_series.start_time")
	from, err := time.Parse(time.RFC3339Nano, start)
	if err != nil {
		t.Fatal(err)
	}
	cs := newBare(t, srv, streamCfg("30d", true)).sink.Probe(ctxT(t))
	want := "time series data stream with 1 backing indices (write index " + srv.BackingIndices(DefaultIndex)[0] + "); accepts @timestamp from " + from.Format("2006-01-02T15:04:05.000Z") + " on; lifecycle retention 30d"
	if len(cs) != 4 || !cs[2].OK || cs[2].Detail != want {
		t.Errorf("probe %+v\nwant detail %q", cs, want)
	}
}

func TestAheadOfBounds(t *testing.T) {
	const ranges = " is outside of ranges of currently writable indices [[2024-05-01T06:00:00.000Z,2024-05-01T08:00:00.000Z],[2024-05-01T08:00:00.000Z,2024-05-01T10:30:00.000Z]]"
	for _, tt := range []struct {
		reason string
		want   bool
	}{
		{"the document timestamp [2024-05-01T05:59:59.999Z]" + ranges, false},
		{"the document timestamp [2024-05-01T10:30:00.000Z]" + ranges, true},
		{"the document timestamp [2024-05-01T11:00:00.000Z]" + ranges, true},
		{"the document timestamp [not a time]" + ranges, false},
		{"the document timestamp [2024-05-01T11:00:00.000Z] is outside of ranges", false},
		{"", false},
	} {
		if got := aheadOfBounds(tt.reason); got != tt.want {
			t.Errorf("aheadOfBounds(%q) = %v, want %v", tt.reason, got, tt.want)
		}
	}
}

func FuzzAheadOfBounds(f *testing.F) {
	f.Add("the document timestamp [2024-05-01T11:00:00.000Z] is outside of ranges of currently writable indices [[2024-05-01T08:00:00.000Z,2024-05-01T10:30:00.000Z]]")
	f.Add("timestamp []]]],")
	f.Fuzz(func(t *testing.T, reason string) {
		_ = aheadOfBounds(reason) // never panics
	})
}

// TestTSDSAheadOfTimeBounds: documents newer than the write index accepts
// (the agent's clock ahead of Elasticsearch's) are not set aside: they are
// sent again and go in once Elasticsearch's clock has caught up.
func TestTSDSAheadOfTimeBounds(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now().UTC().Add(-2 * time.Hour) // Elasticsearch runs 2 h behind
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	srv := esfake.NewTB(t, esfake.WithClock(now))
	h := newHarness(t, srv, streamCfg("30d", true), func(o *delivery.Options) {
		o.Linger, o.MinBackoff, o.MaxBackoff = time.Millisecond, 10*time.Millisecond, 50*time.Millisecond
	})
	docs := nowDocs(2, 1)
	h.write(t, docs)
	if !await.Within(10*time.Second, func() bool { return h.out.Stats().Retried >= 2 }) {
		t.Fatalf("not retried: %+v\n%s", h.out.Stats(), h.logs)
	}
	if st := h.out.Stats(); st.Refused != 0 || st.Delivered != 0 {
		t.Fatalf("stats %+v: documents ahead of the stream must wait, not be refused", st)
	}
	mu.Lock()
	clock = time.Now().UTC()
	mu.Unlock()
	waitFor(t, "both documents stored", func() bool { return len(srv.DocIDs(DefaultIndex)) == 2 })
	h.close(t)
	if st := h.out.Stats(); st.Refused != 0 || h.sink.OutsideTimeBounds() != 0 {
		t.Errorf("stats %+v, outside %d", st, h.sink.OutsideTimeBounds())
	}
}

func TestStreamNameLength(t *testing.T) {
	for _, tt := range []struct {
		n  int
		ok bool
	}{{233, true}, {234, false}} {
		err := validStreamName(strings.Repeat("a", tt.n))
		if (err == nil) != tt.ok {
			t.Errorf("a %d-byte name: %v", tt.n, err)
		}
	}
}
