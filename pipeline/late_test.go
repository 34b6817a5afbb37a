package pipeline

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/testutil/await"
)

// lockedBuf is a log buffer safe to read while the worker writes.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWorkerLateSpellLoggedOnce: a collection slower than the interval for
// several ticks in a row skips ticks, counts every one, and says so once
// when the spell starts and once when it ends, not at every late tick.
func TestWorkerLateSpellLoggedOnce(t *testing.T) {
	const every = 100 * time.Millisecond
	var calls atomic.Int32
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		if calls.Add(1) <= 5 {
			// The scenario: a collection that takes 2.5 intervals.
			select {
			case <-time.After(every * 5 / 2):
			case <-ctx.Done():
			}
		}
		return Sample{Lags: []int64{0}}, nil
	})
	var logs lockedBuf
	stats := &Stats{}
	sink := newMemSink()
	stop, cancel := context.WithCancel(context.Background())
	w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: every, Source: src}, Sink: sink, Stats: stats,
		Log: zerolog.New(&logs).Level(zerolog.InfoLevel)}
	done := make(chan struct{})
	go func() { w.Run(stop, context.Background()); close(done) }()
	await.True(t, 20*time.Second, "the line saying collection keeps up again", func() bool {
		return strings.Contains(logs.String(), "keeps up with the interval again")
	})
	cancel()
	<-done
	out := logs.String()
	before := out[:strings.Index(out, "keeps up with the interval again")]
	if c := strings.Count(before, "collection took longer than the interval"); c != 1 {
		t.Errorf("late spell logged %d times before it ended, want 1:\n%s", c, out)
	}
	if m := stats.Missed.Load(); m < 5 {
		t.Errorf("missed %d ticks, want at least 5 (two per slow tick)", m)
	}
}

func TestSampleFromOffsets(t *testing.T) {
	tests := []struct {
		name              string
		committed, logEnd []int64
		want              []int64
	}{
		{"exact", []int64{10, 0}, []int64{15, 0}, []int64{5, 0}},
		{"commit past a log end read earlier is 0", []int64{20}, []int64{15}, []int64{0}},
		{"unknown committed", []int64{UnknownOffset, 3}, []int64{9, 9}, []int64{UnknownLag, 6}},
		{"unknown log end", []int64{1}, []int64{UnknownOffset}, []int64{UnknownLag}},
		{"fewer committed than partitions", []int64{1}, []int64{4, 4}, []int64{3, UnknownLag}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := SampleFromOffsets(tt.committed, tt.logEnd)
			if len(s.Lags) != len(tt.want) {
				t.Fatalf("lags %v, want %v", s.Lags, tt.want)
			}
			for p := range tt.want {
				if s.Lags[p] != tt.want[p] {
					t.Errorf("p%d lag %d, want %d", p, s.Lags[p], tt.want[p])
				}
			}
			if s.CommittedAt(len(tt.committed)) != UnknownOffset || s.LogEndAt(0) != tt.logEnd[0] {
				t.Errorf("accessors: %d %d", s.CommittedAt(len(tt.committed)), s.LogEndAt(0))
			}
		})
	}
}

// countSink counts documents per tick.
type countSink struct {
	mu     sync.Mutex
	byTick map[time.Time]int
}

func (s *countSink) Write(_ context.Context, docs []Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		s.byTick[d.Timestamp]++
	}
	return nil
}
func (s *countSink) Close(context.Context) error { return nil }
func (s *countSink) ticks() map[time.Time]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[time.Time]int, len(s.byTick))
	for k, v := range s.byTick {
		out[k] = v
	}
	return out
}

// TestStarvedMirrorLogsOncePerMinute: 200 topics of one mirror whose shared
// collection takes 2.5 intervals skip ticks, and the group logs that once
// for the mirror (at most one line a minute), not once per topic or tick;
// every tick that completes has all 200 documents, on aligned times.
func TestStarvedMirrorLogsOncePerMinute(t *testing.T) {
	const every = 200 * time.Millisecond
	const topics = 200
	// One shared collection per tick, as the sources do: the first topic
	// of a tick runs it and the others wait for it.
	var mu sync.Mutex
	results := map[time.Time]chan struct{}{}
	var fetches atomic.Int32
	src := funcSource(func(ctx context.Context, tick time.Time, topic string) (Sample, error) {
		mu.Lock()
		ch, ok := results[tick]
		if !ok {
			ch = make(chan struct{})
			results[tick] = ch
			fetches.Add(1)
			time.AfterFunc(every*5/2, func() { close(ch) }) // the slow shared fetch
		}
		mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Sample{}, ctx.Err()
		}
		return Sample{Lags: []int64{1, 2}}, nil
	})
	var logs lockedBuf
	sink := &countSink{byTick: map[time.Time]int{}}
	stats := &Stats{}
	g := NewGroup(context.Background(), sink, zerolog.New(&logs).Level(zerolog.InfoLevel), stats)
	tasks := make([]Task, topics)
	for i := range tasks {
		tasks[i] = Task{Target: Target{Mirror: "big", Topic: "t" + strconv.Itoa(i)}, Interval: every, Source: src}
	}
	// 180 topics first; 20 more join while the mirror is late, on ticks
	// of their own at first: they must fall in step with the others.
	same := func(a, b Task) bool { return a.Target == b.Target && a.Interval == b.Interval }
	g.Apply(tasks[:180], same)
	await.True(t, 30*time.Second, "two shared fetches", func() bool { return fetches.Load() >= 2 })
	g.Apply(tasks, same)
	await.True(t, 30*time.Second, "eight shared fetches", func() bool { return fetches.Load() >= 8 })
	g.Stop()
	if stats.Missed.Load() == 0 {
		t.Fatal("no tick was skipped: the scenario did not starve the mirror")
	}
	lines := strings.Count(logs.String(), "\n")
	late := strings.Count(logs.String(), "missed ")
	t.Logf("%d topics skipped %d topic-ticks in %d shared fetches; %d log lines, %d about missed ticks", topics, stats.Missed.Load(), fetches.Load(), lines, late)
	if late != 1 || lines > 2 {
		t.Errorf("%d lines, %d of them about missed ticks, for %d topics that skipped %d topic-ticks; want one:\n%s", lines, late, topics, stats.Missed.Load(), logs.String())
	}
	// Until the 20 late topics fall in step, ticks have 180 or 20
	// documents; the last three ticks before the final one (the final one
	// may miss workers stopped before it) have all 200.
	ticks := sink.ticks()
	var sorted []time.Time
	for tick := range ticks {
		if tick.UnixNano()%int64(every) != 0 {
			t.Errorf("tick %s not aligned", tick)
		}
		sorted = append(sorted, tick)
	}
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	full := 0
	for i := max(len(sorted)-4, 0); i < len(sorted)-1; i++ {
		full++
		if n := ticks[sorted[i]]; n != topics {
			t.Errorf("tick %s has %d documents, want %d (never half a tick once in step); ticks: %v", sorted[i].Format("15:04:05.000"), n, topics, ticks)
		}
	}
	if full < 3 {
		t.Errorf("%d ticks to judge, want 3", full)
	}
}

// TestLatenessFollowsDecisions: the workers of a mirror that finish the same
// tick go on to the same next tick, whenever each of them finishes it.
func TestLatenessFollowsDecisions(t *testing.T) {
	s := time.Second
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(secs float64) time.Time { return t0.Add(time.Duration(secs * float64(s))) }
	type finish struct {
		done, now float64 // the tick finished and when, in seconds after t0
		want      float64 // the next tick
	}
	for _, tc := range []struct {
		name     string
		finishes []finish
	}{
		{"on time", []finish{{0, 0.05, 1}, {0, 0.3, 1}, {1, 1.05, 2}}},
		{"a late finisher of a tick the others finished long ago", []finish{
			{0, 0.05, 1}, {1, 1.05, 2}, {0, 1.4, 1}, {1, 2.3, 2}}},
		{"the first finisher late: the tick after is skipped by all", []finish{
			{0, 1.8, 2}, {0, 1.9, 2}, {0, 2.5, 2}, {2, 2.1, 3}}},
		{"started between decisions: the latest decided tick", []finish{
			{0, 0.05, 1}, {1, 2.5, 3}, {2, 2.6, 3}}},
		{"fell behind beyond the kept decisions: the latest", func() []finish {
			var fs []finish
			for i := range keptDecisions + 2 {
				fs = append(fs, finish{float64(i), float64(i) + 0.05, float64(i + 1)})
			}
			return append(fs, finish{0, float64(keptDecisions+2) + 0.1, keptDecisions + 2})
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLateness(zerolog.Nop(), time.Minute)
			for i, f := range tc.finishes {
				if got := l.next("m", s, at(f.done), at(f.now)); !got.Equal(at(f.want)) {
					t.Errorf("finish %d (tick %gs at %gs): next %s, want %s", i, f.done, f.now, got.Sub(t0), at(f.want).Sub(t0))
				}
			}
		})
	}
}
