package elasticsearch

import (
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/pipeline"
)

// newDurable starts a delivery layer on srv with fast retries.
func newDurable(t *testing.T, srv *esfake.Server, dir string, mut func(*DurableOptions)) (*Durable, *syncBuf) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addresses = []string{srv.URL()}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.RetryBackoff = 5 * time.Millisecond
	cfg.MaxBackoff = 20 * time.Millisecond
	cfg.MaxRetries = 2
	opt := DurableOptions{SpoolDir: dir, ReplayEvery: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, ReplayBatch: 50}
	if mut != nil {
		mut(&opt)
	}
	logs := &syncBuf{}
	d, err := NewDurable(cfg, opt, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return d, logs
}

// tickDocs returns the documents of one tick for n topics.
func tickDocs(tick, n int) []pipeline.Doc {
	docs := make([]pipeline.Doc, n)
	for i := range docs {
		docs[i] = pipeline.Doc{
			Timestamp: t0.Add(time.Duration(tick) * time.Second),
			Target:    pipeline.Target{Mirror: "mm", Topic: "topic-" + strconv.Itoa(i), Group: "g", Cluster: "dc1", Method: "native"},
			Lags:      []int64{int64(tick), int64(i)},
		}
	}
	return docs
}

// waitFor polls cond until it holds or the test's bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOutageLosesNothing: Elasticsearch goes away for a third of the run;
// afterwards every document of every tick is indexed exactly once.
func TestOutageLosesNothing(t *testing.T) {
	const topics, ticks, outFrom, outTo = 5, 60, 15, 40
	srv := esfake.NewTB(t)
	d, _ := newDurable(t, srv, t.TempDir(), nil)
	<-d.Ready()
	var peakSpool int64
	var want []string
	for k := 0; k < ticks; k++ {
		switch k {
		case outFrom:
			srv.Outage()
		case outTo:
			if err := srv.Restore(); err != nil {
				t.Fatal(err)
			}
		}
		docs := tickDocs(k, topics)
		for i := range docs {
			want = append(want, docs[i].ID())
		}
		if err := d.Write(context.Background(), docs); err != nil {
			t.Fatalf("tick %d: %v", k, err)
		}
		if b := d.Stats().Spool.Bytes; b > peakSpool {
			peakSpool = b
		}
		time.Sleep(20 * time.Millisecond) // a compressed 1s interval
	}
	waitFor(t, "every document indexed", func() bool { return len(srv.DocIDs(indexName)) >= len(want) })
	waitFor(t, "the spool to drain", func() bool { return d.Stats().Spool.Pending == 0 })
	got := srv.DocIDs(indexName)
	sort.Strings(got)
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("indexed %d documents, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("document %d: got %s want %s", i, got[i], want[i])
		}
	}
	st := d.Stats()
	if st.Spooled == 0 || peakSpool == 0 {
		t.Errorf("outage did not use the spool: %+v", st)
	}
	t.Logf("outage of %d of %d ticks: expected %d, indexed %d (lost 0, duplicated 0); spooled %d, replayed %d, peak spool %d bytes; sink %+v",
		outTo-outFrom, ticks, len(want), len(got), st.Spooled, st.Replayed, peakSpool, st.Sink)
}

const indexName = "consumer_lag"

// TestStartDuringOutage: Elasticsearch is down when the agent starts; no
// document is sent before the index is created from the mapping (an
// auto-created index would get a dynamic mapping), and none is lost.
func TestStartDuringOutage(t *testing.T) {
	srv := esfake.NewTB(t)
	srv.Outage()
	d, _ := newDurable(t, srv, t.TempDir(), func(o *DurableOptions) { o.QueueDocs = 4 })
	var n int
	for k := 0; k < 10; k++ {
		if err := d.Write(context.Background(), tickDocs(k, 3)); err != nil {
			t.Fatal(err)
		}
		n += 3
	}
	if d.Stats().SpooledDirect == 0 {
		t.Error("a full queue did not spill to the spool")
	}
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all documents", func() bool { return len(srv.DocIDs(indexName)) == n })
	if len(srv.AutoCreated()) != 0 || srv.IndexCreations() != 1 {
		t.Errorf("auto-created %v, creations %d", srv.AutoCreated(), srv.IndexCreations())
	}
	if typ := srv.FieldType(indexName, "topic"); typ != "keyword" {
		t.Errorf("topic mapped as %q", typ)
	}
}

// TestRestartReplaysSpool: documents spooled by one run are indexed by the
// next.
func TestRestartReplaysSpool(t *testing.T) {
	srv := esfake.NewTB(t)
	dir := t.TempDir()
	srv.Outage()
	d1, _ := newDurable(t, srv, dir, nil)
	for k := 0; k < 5; k++ {
		_ = d1.Write(context.Background(), tickDocs(k, 4))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d1.Close(ctx); err != nil {
		t.Logf("close during outage: %v", err)
	}
	if got := d1.Stats().Spool.Pending; got != 20 {
		t.Fatalf("spool holds %d documents after the first run, want 20", got)
	}
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	d2, logs := newDurable(t, srv, dir, nil)
	waitFor(t, "replay of the first run", func() bool { return len(srv.DocIDs(indexName)) == 20 })
	waitFor(t, "empty spool", func() bool { return d2.Stats().Spool.Pending == 0 })
	if d2.Stats().Replayed != 20 {
		t.Errorf("replayed %d", d2.Stats().Replayed)
	}
	if !strings.Contains(logs.String(), "spool holds documents from an earlier run") {
		t.Errorf("no replay log: %s", logs.String())
	}
}

// TestItem429NotLost: items Elasticsearch refuses with 429 beyond the
// sink's retries end up indexed through the spool.
func TestItem429NotLost(t *testing.T) {
	srv := esfake.NewTB(t)
	d, _ := newDurable(t, srv, t.TempDir(), nil)
	<-d.Ready()
	srv.RejectNextItems(30)
	_ = d.Write(context.Background(), tickDocs(1, 10))
	waitFor(t, "all 10 documents", func() bool { return len(srv.DocIDs(indexName)) == 10 })
	// 30 rejections outlast the sink's retries (1 + 2 per item): the
	// documents went through the spool.
	waitFor(t, "replay accounted", func() bool { st := d.Stats(); return st.Spooled == 10 && st.Replayed == 10 })
}

// TestFullSpoolDropsOldest: a spool at its bound drops the oldest
// documents, counts and reports them, and keeps accepting new ones.
func TestFullSpoolDropsOldest(t *testing.T) {
	srv := esfake.NewTB(t)
	srv.Outage()
	d, logs := newDurable(t, srv, t.TempDir(), func(o *DurableOptions) { o.SpoolMaxBytes = 64 << 10; o.QueueDocs = 1 })
	for k := 0; k < 400; k++ {
		if err := d.Write(context.Background(), tickDocs(k, 5)); err != nil {
			t.Fatal(err)
		}
	}
	st := d.Stats()
	if st.Spool.Dropped == 0 || st.Spool.Bytes > 64<<10 {
		t.Fatalf("spool %+v", st.Spool)
	}
	if !strings.Contains(logs.String(), "dropped") {
		t.Errorf("drop not logged: %s", logs.String())
	}
	// Once back, the newest documents are there and the oldest are not.
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	last := tickDocs(399, 5)[4].ID()
	waitFor(t, "newest document", func() bool { _, ok := srv.Docs(indexName)[last]; return ok })
	// (The very first document waits in the in-memory queue, not the spool.)
	if _, ok := srv.Docs(indexName)[tickDocs(10, 5)[0].ID()]; ok {
		t.Error("an old document survived a full spool")
	}
	t.Logf("dropped %d documents, spool %d bytes", st.Spool.Dropped, st.Spool.Bytes)
}

// TestCloseHangingElasticsearch: Elasticsearch accepts the connection but
// never answers a _bulk; Close keeps its deadline and every document ends
// in the spool.
func TestCloseHangingElasticsearch(t *testing.T) {
	srv := esfake.NewTB(t)
	release := make(chan struct{})
	defer close(release)
	var hung atomic.Int32
	srv.OnRequest(func(endpoint string, r *http.Request) {
		if endpoint == esfake.EndpointBulk {
			hung.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	d, _ := newDurable(t, srv, t.TempDir(), nil)
	<-d.Ready()
	for k := 0; k < 20; k++ {
		_ = d.Write(context.Background(), tickDocs(k, 5))
	}
	waitFor(t, "a hanging _bulk", func() bool { return hung.Load() > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- d.Close(ctx) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close ignored its deadline while Elasticsearch hung")
	}
	if got := d.Stats().Spool.Pending; got != 100 {
		t.Errorf("spool holds %d of 100 undelivered documents", got)
	}
}

// TestReconfigure: new Elasticsearch settings take effect without losing
// or duplicating a document, and the spool stays in use.
func TestReconfigure(t *testing.T) {
	a, b := esfake.NewTB(t), esfake.NewTB(t)
	d, _ := newDurable(t, a, t.TempDir(), nil)
	<-d.Ready()
	_ = d.Write(context.Background(), tickDocs(1, 5))
	cfg := DefaultConfig()
	cfg.Addresses = []string{b.URL()}
	cfg.Index = "consumer_lag-v2"
	cfg.FlushInterval = 20 * time.Millisecond
	if err := d.Reconfigure(ctxT(t), cfg); err != nil {
		t.Fatal(err)
	}
	_ = d.Write(context.Background(), tickDocs(2, 5))
	waitFor(t, "documents on the new cluster", func() bool { return len(b.DocIDs("consumer_lag-v2")) == 5 })
	if got := len(a.DocIDs(indexName)); got != 5 {
		t.Errorf("old cluster holds %d documents, want the 5 written before", got)
	}
	// Settings that do not work are refused; the running sink stays.
	bad := cfg
	bad.Addresses = []string{"http://127.0.0.1:1"}
	bad.MaxRetries = 1
	if err := d.Reconfigure(ctxT(t), bad); err == nil {
		t.Fatal("unreachable cluster accepted")
	}
	_ = d.Write(context.Background(), tickDocs(3, 5))
	waitFor(t, "documents still on the new cluster", func() bool { return len(b.DocIDs("consumer_lag-v2")) == 10 })
}

func TestCompressLevel(t *testing.T) {
	if DefaultConfig().CompressLevel != gzip.BestSpeed {
		t.Errorf("default gzip level %d", DefaultConfig().CompressLevel)
	}
	for _, lvl := range []int{-2, 10} {
		c := DefaultConfig()
		c.Addresses = []string{"http://127.0.0.1:9200"}
		c.CompressLevel = lvl
		if err := c.Validate(); err == nil {
			t.Errorf("level %d accepted", lvl)
		}
	}
}

// After a long outage the replayer's backoff has grown; it still resumes as
// soon as Elasticsearch takes documents again, not at the end of its wait.
func TestReplayResumesWhenBack(t *testing.T) {
	srv := esfake.NewTB(t)
	// A backoff of an hour: only the early wake-up can replay in time.
	d, _ := newDurable(t, srv, t.TempDir(), func(o *DurableOptions) { o.MinBackoff, o.MaxBackoff = time.Hour, time.Hour })
	<-d.Ready()
	srv.Outage()
	for k := 0; k < 3; k++ {
		_ = d.Write(context.Background(), tickDocs(k, 2))
	}
	waitFor(t, "documents spooled", func() bool { return d.Stats().Spooled == 6 })
	time.Sleep(300 * time.Millisecond) // let the replayer fail a few times
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	_ = d.Write(context.Background(), tickDocs(10, 2))
	waitFor(t, "the spool replayed", func() bool { return d.Stats().Replayed == 6 && len(srv.DocIDs(indexName)) == 8 })
}
