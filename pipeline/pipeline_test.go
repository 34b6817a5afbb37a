package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/testutil/await"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testDoc() Doc {
	return Doc{
		Timestamp: time.Date(2026, 11, 22, 1, 2, 10, 0, time.UTC),
		Target:    Target{Mirror: "mm-dc1-to-dc2", Topic: "orders", Group: "mirrormaker-dc1-to-dc2", Cluster: "dc1", Method: "native"},
		Lags:      []int64{12, 0, UnknownLag, 45, 0},
	}
}

func TestDocJSONGolden(t *testing.T) {
	cases := map[string]Doc{
		"doc":      testDoc(),
		"no_known": {Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.FixedZone("x", 3600)), Target: Target{Mirror: "m", Topic: "t", Group: "g \"quoted\"\n\\", Method: "ssh"}, Lags: []int64{UnknownLag, UnknownLag}},
		"empty":    {Timestamp: time.Unix(0, 0), Target: Target{Mirror: "m", Topic: "t", Group: "gr\x01üp"}},
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			got, _ := d.MarshalJSON()
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatalf("invalid JSON %s: %v", got, err)
			}
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(want) != string(got)+"\n" {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestDocFields(t *testing.T) {
	d := testDoc()
	var v map[string]any
	b, _ := d.MarshalJSON()
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v["@timestamp"] != "2026-11-22T01:02:10.000Z" || v["p0"] != 12.0 || v["p3"] != 45.0 || v["total_lag"] != 57.0 ||
		v["max_lag"] != 45.0 || v["partition_count"] != 5.0 {
		t.Errorf("doc = %s", b)
	}
	if _, ok := v["p2"]; ok {
		t.Errorf("unknown lag p2 present: %s", b)
	}
	if d.ID() != "mm-dc1-to-dc2/orders/1795309330000" {
		t.Errorf("id = %s", d.ID())
	}
}

func TestNextTick(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	for _, tc := range []struct {
		now   string
		every time.Duration
		want  string
	}{
		{"2026-11-22T01:02:03.5Z", 10 * time.Second, "2026-11-22T01:02:10Z"},
		{"2026-11-22T01:02:10Z", 10 * time.Second, "2026-11-22T01:02:20Z"},
		{"2026-11-22T01:02:59.999Z", time.Minute, "2026-11-22T01:03:00Z"},
		{"2026-11-22T01:02:03.2Z", time.Second, "2026-11-22T01:02:04Z"},
	} {
		if got := NextTick(at(tc.now), tc.every); !got.Equal(at(tc.want)) {
			t.Errorf("NextTick(%s, %s) = %s, want %s", tc.now, tc.every, got, tc.want)
		}
	}
}

func TestPerTickShares(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	p := &PerTick[int]{Fetch: func(ctx context.Context, tick time.Time) (int, error) {
		calls.Add(1)
		<-release
		return int(tick.Unix()), nil
	}}
	tick := time.Unix(100, 0)
	var wg sync.WaitGroup
	results := make([]int, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := p.Get(context.Background(), tick)
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}()
	}
	// Wait until the fetch started, then let it finish.
	await.True(t, 10*time.Second, "the fetch to start", func() bool { return calls.Load() > 0 })
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("fetches = %d, want 1 for 50 callers of one tick", calls.Load())
	}
	for _, r := range results {
		if r != 100 {
			t.Fatalf("result %d", r)
		}
	}
	if _, err := p.Get(context.Background(), time.Unix(110, 0)); err != nil || calls.Load() != 2 || p.Runs() != 2 {
		t.Errorf("next tick: calls %d err %v", calls.Load(), err)
	}
}

func TestPerTickNoOverlap(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	p := &PerTick[int]{Fetch: func(ctx context.Context, tick time.Time) (int, error) {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		inFlight.Add(-1)
		return 0, nil
	}}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = p.Get(context.Background(), time.Unix(int64(i), 0))
		}()
	}
	wg.Wait()
	if maxInFlight.Load() != 1 {
		t.Errorf("fetches overlapped: %d at once", maxInFlight.Load())
	}
}

func TestPerTickCancel(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	p := &PerTick[int]{Fetch: func(ctx context.Context, tick time.Time) (int, error) { <-block; return 0, nil }}
	go func() { _, _ = p.Get(context.Background(), time.Unix(1, 0)) }()
	await.True(t, 10*time.Second, "the fetch to start", func() bool { return p.Runs() > 0 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Get(ctx, time.Unix(1, 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// memSink records documents.
type memSink struct {
	mu     sync.Mutex
	docs   []Doc
	closed bool
	notify chan struct{}
}

func newMemSink() *memSink { return &memSink{notify: make(chan struct{}, 1000)} }

func (s *memSink) Write(_ context.Context, docs []Doc) error {
	s.mu.Lock()
	s.docs = append(s.docs, docs...)
	s.mu.Unlock()
	for range docs {
		s.notify <- struct{}{}
	}
	return nil
}
func (s *memSink) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
func (s *memSink) byTopic() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, d := range s.docs {
		m[d.Topic]++
	}
	return m
}

func (s *memSink) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %d documents (got %d)", n, i)
		}
	}
}

type funcSource func(ctx context.Context, tick time.Time, topic string) (Sample, error)

func (f funcSource) Collect(ctx context.Context, tick time.Time, topic string) (Sample, error) {
	return f(ctx, tick, topic)
}

func TestWorkerAlignedAndStates(t *testing.T) {
	var n atomic.Int32
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		switch n.Add(1) {
		case 2, 3:
			return Sample{}, ErrTopicNotFound
		}
		return Sample{Lags: []int64{1, 2}}, nil
	})
	sink := newMemSink()
	stop, cancel := context.WithCancel(context.Background())
	stats := &Stats{}
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 20 * time.Millisecond, Source: src}, Sink: sink, Log: zerolog.Nop(), Stats: stats}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	sink.wait(t, 3)
	cancel()
	<-done
	for _, d := range sink.docs {
		if d.Timestamp.UnixNano()%int64(20*time.Millisecond) != 0 {
			t.Errorf("tick %s not aligned to 20ms", d.Timestamp)
		}
		if d.Timestamp.Location() != time.UTC {
			t.Errorf("tick not UTC")
		}
	}
	if stats.States.Load() != 2 || stats.Docs.Load() < 3 {
		t.Errorf("states %d docs %d", stats.States.Load(), stats.Docs.Load())
	}
}

func TestWorkerFinishesInFlightTick(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		close(started)
		<-release
		return Sample{Lags: []int64{7}}, ctx.Err()
	})
	sink := newMemSink()
	stop, cancel := context.WithCancel(context.Background())
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 10 * time.Millisecond, Source: src}, Sink: sink, Log: zerolog.Nop()}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	<-started
	cancel() // stop while the tick is in flight
	close(release)
	<-done
	if len(sink.docs) != 1 || sink.docs[0].Lags[0] != 7 {
		t.Fatalf("in-flight tick lost: %v", sink.docs)
	}
}

func TestWorkerSkipsMissedTicks(t *testing.T) {
	var calls atomic.Int32
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		if calls.Add(1) == 1 {
			time.Sleep(35 * time.Millisecond) // longer than three intervals
		}
		return Sample{Lags: []int64{0}}, nil
	})
	sink := newMemSink()
	stats := &Stats{}
	stop, cancel := context.WithCancel(context.Background())
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 10 * time.Millisecond, Source: src}, Sink: sink, Log: zerolog.Nop(), Stats: stats}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	sink.wait(t, 2)
	cancel()
	<-done
	if stats.Missed.Load() < 2 {
		t.Errorf("missed = %d, want at least 2", stats.Missed.Load())
	}
	// Ticks are strictly increasing and never repeated.
	for i := 1; i < len(sink.docs); i++ {
		if !sink.docs[i].Timestamp.After(sink.docs[i-1].Timestamp) {
			t.Errorf("ticks not increasing: %v then %v", sink.docs[i-1].Timestamp, sink.docs[i].Timestamp)
		}
	}
}

func TestGroupApply(t *testing.T) {
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		return Sample{Lags: []int64{1}}, nil
	})
	sink := newMemSink()
	g := NewGroup(context.Background(), sink, zerolog.Nop(), nil)
	task := func(topic string, every time.Duration) Task {
		return Task{Target: Target{Mirror: "m", Topic: topic}, Interval: every, Source: src}
	}
	same := func(a, b Task) bool { return a.Target == b.Target && a.Interval == b.Interval }
	if st, sp := g.Apply([]Task{task("a", 10*time.Millisecond), task("b", 10*time.Millisecond)}, same); st != 2 || sp != 0 {
		t.Fatalf("started %d stopped %d", st, sp)
	}
	sink.wait(t, 4)
	// remove b, add c, change a's interval
	st, sp := g.Apply([]Task{task("a", 20*time.Millisecond), task("c", 10*time.Millisecond)}, same)
	if st != 2 || sp != 2 {
		t.Fatalf("started %d stopped %d, want 2/2", st, sp)
	}
	keys := g.Keys()
	sort.Strings(keys)
	if len(keys) != 2 || keys[0] != "m/a" || keys[1] != "m/c" {
		t.Fatalf("keys %v", keys)
	}
	// unchanged set: nothing restarts
	if st, sp := g.Apply([]Task{task("a", 20*time.Millisecond), task("c", 10*time.Millisecond)}, same); st != 0 || sp != 0 {
		t.Fatalf("no-op apply started %d stopped %d", st, sp)
	}
	before := sink.byTopic()["b"]
	g.Stop()
	if g.Len() != 0 {
		t.Fatal("workers left")
	}
	if sink.byTopic()["b"] != before {
		t.Error("removed topic b still writes")
	}
}

// A failure whose text changes every tick is logged once, and the recovery
// once.
func TestWorkerLogsStateChangesOnce(t *testing.T) {
	var n atomic.Int32
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		k := n.Add(1)
		if k <= 5 {
			return Sample{}, fmt.Errorf("connecting: attempt %d failed", k)
		}
		return Sample{Lags: []int64{1}}, nil
	})
	var logs bytes.Buffer
	sink := newMemSink()
	stop, cancel := context.WithCancel(context.Background())
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 5 * time.Millisecond, Source: src}, Sink: sink,
		Log: zerolog.New(&logs).Level(zerolog.InfoLevel)}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	sink.wait(t, 2)
	cancel()
	<-done
	out := logs.String()
	if c := strings.Count(out, "no document for this topic"); c != 1 {
		t.Errorf("failure logged %d times:\n%s", c, out)
	}
	if c := strings.Count(out, "collection recovered"); c != 1 {
		t.Errorf("recovery logged %d times:\n%s", c, out)
	}
}

func TestNewDocGroup(t *testing.T) {
	target := Target{Mirror: "m", Topic: "t", Group: "configured"}
	if d := NewDoc(time.Unix(1, 0), target, Sample{Lags: []int64{1}}); d.Group != "configured" || d.Lags[0] != 1 {
		t.Errorf("doc %+v", d)
	}
	if d := NewDoc(time.Unix(1, 0), target, Sample{Group: "MirrorSourceConnector"}); d.Group != "MirrorSourceConnector" {
		t.Errorf("sample group not used: %+v", d)
	}
}

// recordingProcessor keeps what it saw and marks documents.
type recordingProcessor struct {
	mu      sync.Mutex
	samples []Sample
	ticks   []time.Time
}

func (p *recordingProcessor) Process(tick time.Time, target Target, s Sample, doc *Doc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.samples = append(p.samples, s)
	p.ticks = append(p.ticks, tick)
	doc.Target.Cluster = "seen-by-processor"
}

// TestProcessorSeesSamplesBeforeTheSink: a processor in the worker sees
// every sample with its offsets, in tick order, before its document
// reaches the sink, and what it adds to the document is written.
func TestProcessorSeesSamplesBeforeTheSink(t *testing.T) {
	n := 0
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		n++
		return SampleFromOffsets([]int64{int64(n), UnknownOffset}, []int64{10, 5}), nil
	})
	sink := newMemSink()
	rec := &recordingProcessor{}
	stop, cancel := context.WithCancel(context.Background())
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 10 * time.Millisecond, Source: src},
		Process: Processors{rec}, Sink: sink, Log: zerolog.Nop()}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	sink.wait(t, 3)
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.samples) < 3 {
		t.Fatalf("processor saw %d samples", len(rec.samples))
	}
	for i, s := range rec.samples {
		if s.CommittedAt(0) != int64(i+1) || s.LogEndAt(0) != 10 || s.CommittedAt(1) != UnknownOffset || s.Lags[0] != int64(9-i) {
			t.Errorf("sample %d: committed %v log-end %v lags %v", i, s.Committed, s.LogEnd, s.Lags)
		}
		if i > 0 && !rec.ticks[i].After(rec.ticks[i-1]) {
			t.Errorf("ticks out of order: %v", rec.ticks)
		}
	}
	for _, d := range sink.docs {
		if d.Target.Cluster != "seen-by-processor" {
			t.Errorf("document written before the processor saw it: %+v", d.Target)
		}
	}
}

// recObserver records what a worker reports of its collections.
type recObserver struct {
	mu  sync.Mutex
	got []Outcome
}

func (r *recObserver) Observe(tg Target, took time.Duration, o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tg.Mirror != "m" || took < 0 {
		panic("wrong target or duration")
	}
	r.got = append(r.got, o)
}

func (r *recObserver) outcomes() []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestWorkerReportsOutcomes(t *testing.T) {
	var n atomic.Int32
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		switch n.Add(1) {
		case 2:
			return Sample{}, ErrGroupNotFound
		case 3:
			return Sample{}, errors.New("broker unreachable")
		}
		return Sample{Lags: []int64{1}}, nil
	})
	obs := &recObserver{}
	stop, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 10 * time.Millisecond, Source: src}, Sink: newMemSink(), Log: zerolog.Nop(), Observe: obs}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	await.True(t, 5*time.Second, "four collections observed", func() bool { return len(obs.outcomes()) >= 4 })
	cancel()
	<-done
	want := []Outcome{Collected, InState, Failed, Collected}
	if got := obs.outcomes()[:4]; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if Failed.String() != "failed" || InState.String() != "state" || Collected.String() != "collected" {
		t.Fatal("outcome names changed: they are metric label values")
	}
}

// TestWorkerNoOffsetsDocument: a topic whose group has committed nothing
// yet still gets a document, with partition_count only, when the source
// knows its partitions; without them there is no document.
func TestWorkerNoOffsetsDocument(t *testing.T) {
	var n atomic.Int32
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		if n.Add(1) == 1 {
			return Sample{}, fmt.Errorf("partitions unknown: %w", ErrNoOffsets)
		}
		return NoOffsets([]int64{10, 20, 30}), fmt.Errorf("nothing committed: %w", ErrNoOffsets)
	})
	sink := newMemSink()
	stats := &Stats{}
	stop, cancel := context.WithCancel(context.Background())
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 10 * time.Millisecond, Source: src}, Sink: sink, Log: zerolog.Nop(), Stats: stats}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	sink.wait(t, 2)
	cancel()
	<-done
	if n.Load() < 3 {
		t.Fatalf("%d collections for 2 documents: the first (partitions unknown) must not make one", n.Load())
	}
	d := sink.docs[0]
	b, _ := d.MarshalJSON()
	if strings.Contains(string(b), `"p0"`) || strings.Contains(string(b), "total_lag") || !strings.Contains(string(b), `"partition_count":3`) {
		t.Errorf("document %s: want partition_count 3 and neither pN nor totals", b)
	}
	if stats.States.Load() < 3 || stats.Docs.Load() < 2 || stats.Errors.Load() != 0 {
		t.Errorf("states %d docs %d errors %d", stats.States.Load(), stats.Docs.Load(), stats.Errors.Load())
	}
}

// intoSource is a BufferedSource that fills the buffer it is given with the
// tick's second, and records the buffer's address at every call.
type intoSource struct {
	mu    sync.Mutex
	addrs []*int64
}

func (s *intoSource) Collect(context.Context, time.Time, string) (Sample, error) {
	panic("a worker collects into its buffer")
}

func (s *intoSource) CollectInto(_ context.Context, tick time.Time, _ string, buf *Buffer) (Sample, error) {
	if cap(buf.Offsets) < 6 {
		buf.Offsets = make([]int64, 6)
	}
	all := buf.Offsets[:6]
	for i := range all {
		all[i] = int64(tick.Second())
	}
	s.mu.Lock()
	s.addrs = append(s.addrs, &all[0])
	s.mu.Unlock()
	return Sample{Committed: all[:2], LogEnd: all[2:4], Lags: all[4:]}, nil
}

// lagSink keeps a copy of every document's lags, made at Write.
type lagSink struct {
	mu   sync.Mutex
	lags [][]int64
	secs []int
}

func (s *lagSink) Write(_ context.Context, docs []Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		s.lags = append(s.lags, slices.Clone(d.Lags))
		s.secs = append(s.secs, d.Timestamp.Second())
	}
	return nil
}
func (s *lagSink) Close(context.Context) error { return nil }

// TestWorkerReusesSampleBuffer: a BufferedSource is given the worker's own
// buffer at every tick, the same memory from tick to tick, and each
// document carries its own tick's lags.
func TestWorkerReusesSampleBuffer(t *testing.T) {
	src := &intoSource{}
	sink := &lagSink{}
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: 10 * time.Millisecond, Source: src}, Sink: sink, Log: zerolog.Nop()}
	stop, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	await.True(t, 10*time.Second, "three documents", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.lags) >= 3
	})
	cancel()
	<-done
	src.mu.Lock()
	defer src.mu.Unlock()
	for i, a := range src.addrs {
		if a != src.addrs[0] {
			t.Errorf("collection %d got another buffer than the first", i)
		}
	}
	for i, l := range sink.lags {
		if want := []int64{int64(sink.secs[i]), int64(sink.secs[i])}; !slices.Equal(l, want) {
			t.Errorf("document %d lags %v, want %v", i, l, want)
		}
	}
}

// A Group's workers name their mirror and topic on every line, the
// first one included (the fields are added when a worker first logs).
func TestGroupWorkerLinesNameTheirTopic(t *testing.T) {
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		if topic == "broken" {
			return Sample{}, fmt.Errorf("topic %q: %w", topic, ErrTopicNotFound)
		}
		return Sample{Lags: []int64{1}}, nil
	})
	var logs lockedBuf
	sink := newMemSink()
	g := NewGroup(context.Background(), sink, zerolog.New(&logs).Level(zerolog.InfoLevel), nil)
	tasks := []Task{
		{Target: Target{Mirror: "m1", Topic: "ok"}, Interval: 5 * time.Millisecond, Source: src},
		{Target: Target{Mirror: "m2", Topic: "broken"}, Interval: 5 * time.Millisecond, Source: src},
	}
	g.Apply(tasks, func(a, b Task) bool { return a.Target == b.Target && a.Interval == b.Interval })
	sink.wait(t, 3)
	await.True(t, 10*time.Second, "the broken topic's warning", func() bool {
		return strings.Contains(logs.String(), "no document for this topic")
	})
	g.Stop()
	var lines int
	for line := range strings.Lines(logs.String()) {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if fields["message"] == "no document for this topic until the state changes" {
			lines++
			if fields["mirror"] != "m2" || fields["topic"] != "broken" {
				t.Errorf("warning names mirror %v, topic %v; want m2, broken: %s", fields["mirror"], fields["topic"], line)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d warnings about the broken topic, want 1:\n%s", lines, logs.String())
	}
}
