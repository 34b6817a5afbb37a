package pipeline

import (
	"bytes"
	"context"
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
