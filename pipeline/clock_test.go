package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/testutil/await"
)

// preparedSource counts the ticks it prepared and, at every Collect,
// whether its tick had been prepared before.
type preparedSource struct {
	mu         sync.Mutex
	prepared   map[time.Time]int
	collected  map[time.Time]int
	unprepared int // Collect calls of a tick not prepared yet
}

func (s *preparedSource) Prepare(_ context.Context, tick time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prepared[tick]++
}

func (s *preparedSource) Collect(_ context.Context, tick time.Time, _ string) (Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prepared[tick] == 0 {
		s.unprepared++
	}
	s.collected[tick]++
	return Sample{Lags: []int64{1}}, nil
}

// TestMirrorClockPreparesOnce: the workers of a mirror's topics wake
// together at each tick, after one Prepare of that tick by their source;
// a second mirror on the same source prepares its own ticks; stopping the
// group leaves no tick prepared afterwards.
func TestMirrorClockPreparesOnce(t *testing.T) {
	src := &preparedSource{prepared: map[time.Time]int{}, collected: map[time.Time]int{}}
	const topics = 40
	every := 20 * time.Millisecond
	var tasks []Task
	for i := range topics {
		tasks = append(tasks, Task{Target: Target{Mirror: "a", Topic: fmt.Sprintf("t%02d", i)}, Interval: every, Source: src})
	}
	tasks = append(tasks, Task{Target: Target{Mirror: "b", Topic: "x"}, Interval: every, Source: src})
	g := NewGroup(context.Background(), newMemSink(), zerolog.Nop(), nil)
	g.Apply(tasks, nil)
	full := func() int {
		src.mu.Lock()
		defer src.mu.Unlock()
		n := 0
		for _, c := range src.collected {
			if c == topics+1 {
				n++
			}
		}
		return n
	}
	await.True(t, 10*time.Second, "five ticks collected by every topic", func() bool { return full() >= 5 })
	g.Stop()

	src.mu.Lock()
	defer src.mu.Unlock()
	if src.unprepared != 0 {
		t.Errorf("%d collections of a tick not prepared yet", src.unprepared)
	}
	for tick, n := range src.prepared {
		// One Prepare per mirror and tick: mirrors a and b.
		if n > 2 {
			t.Errorf("tick %s prepared %d times, want at most 2 (one per mirror)", tick.Format(time.StampMilli), n)
		}
	}
	for tick, n := range src.collected {
		if src.prepared[tick] == 0 {
			t.Errorf("tick %s collected %d times, never prepared", tick.Format(time.StampMilli), n)
		}
	}
	g.cmu.Lock()
	left := len(g.clocks)
	g.cmu.Unlock()
	if left != 0 {
		t.Errorf("%d clocks left after Stop", left)
	}
}

// holdSource is a Preparer whose Prepare of its third tick waits for
// release, announcing itself on held.
type holdSource struct {
	held    chan time.Time
	release chan struct{}

	mu        sync.Mutex
	prepared  int
	collected map[time.Time]int
}

func (s *holdSource) Prepare(_ context.Context, tick time.Time) {
	s.mu.Lock()
	s.prepared++
	hold := s.prepared == 3
	s.mu.Unlock()
	if hold {
		s.held <- tick
		<-s.release
	}
}

func (s *holdSource) Collect(_ context.Context, tick time.Time, _ string) (Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.collected[tick]++
	return Sample{Lags: []int64{1}}, nil
}

// TestGroupStopEndsOnAWholeTick: a stop that comes while a tick is being
// prepared lets every topic of the mirror collect that tick, and no later
// one; every tick has all the topics' collections or none.
func TestGroupStopEndsOnAWholeTick(t *testing.T) {
	const topics = 50
	src := &holdSource{held: make(chan time.Time), release: make(chan struct{}), collected: map[time.Time]int{}}
	var tasks []Task
	for i := range topics {
		tasks = append(tasks, Task{Target: Target{Mirror: "m", Topic: fmt.Sprintf("t%02d", i)}, Interval: 20 * time.Millisecond, Source: src})
	}
	g := NewGroup(context.Background(), newMemSink(), zerolog.Nop(), nil)
	g.Apply(tasks, nil)
	var last time.Time
	select {
	case last = <-src.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the third tick was never prepared")
	}
	stopped := make(chan struct{})
	go func() { g.Stop(); close(stopped) }()
	await.True(t, 10*time.Second, "every worker told to stop", func() bool { return g.Len() == 0 })
	close(src.release)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if n := src.collected[last]; n != topics {
		t.Errorf("the tick begun at the stop was collected by %d topics, want all %d", n, topics)
	}
	for tick, n := range src.collected {
		if n != topics {
			t.Errorf("tick %s collected by %d topics, want %d", tick.Format(time.StampMilli), n, topics)
		}
		if tick.After(last) {
			t.Errorf("tick %s, after the stop, was collected", tick.Format(time.StampMilli))
		}
	}
}

// TestWorkerStopCollectsOpenedTick: a worker told to stop while the gate of
// its tick is open collects that tick, every time (a select between the two
// would skip it half the time), and then returns.
func TestWorkerStopCollectsOpenedTick(t *testing.T) {
	every := time.Hour
	tick := time.Now().Add(-2 * every).Truncate(every).UTC() // passed: its gate opens at once
	for i := range 64 {
		c := newClock(context.Background(), funcSource(nil))
		<-c.at(tick)
		c.stop()
		var calls atomic.Int32
		now := func() time.Time {
			if calls.Add(1) == 1 {
				return tick.Add(-time.Nanosecond) // so that the first tick is tick
			}
			return tick.Add(time.Nanosecond)
		}
		var got atomic.Int32
		src := funcSource(func(_ context.Context, at time.Time, _ string) (Sample, error) {
			if at.Equal(tick) {
				got.Add(1)
			}
			return Sample{Lags: []int64{1}}, nil
		})
		w := &Worker{Task: Task{Target: Target{Mirror: "m", Topic: "t"}, Interval: every, Source: src}, Sink: newMemSink(), Log: zerolog.Nop(), Now: now, clock: c}
		stop, cancel := context.WithCancel(context.Background())
		cancel()
		w.Run(stop, context.Background())
		if n := got.Load(); n != 1 {
			t.Fatalf("run %d: the opened tick was collected %d times, want 1", i, n)
		}
	}
}

// TestWorkerStopBeforeTick: a stop before the tick has come returns at
// once, with nothing collected.
func TestWorkerStopBeforeTick(t *testing.T) {
	var got atomic.Int32
	src := funcSource(func(context.Context, time.Time, string) (Sample, error) { got.Add(1); return Sample{}, nil })
	g := NewGroup(context.Background(), newMemSink(), zerolog.Nop(), nil)
	g.Apply([]Task{{Target: Target{Mirror: "m", Topic: "t"}, Interval: time.Hour, Source: src}}, nil)
	await.True(t, 10*time.Second, "the worker waits for its tick", func() bool {
		g.cmu.Lock()
		defer g.cmu.Unlock()
		for _, c := range g.clocks {
			c.mu.Lock()
			n := len(c.gates)
			c.mu.Unlock()
			return n == 1
		}
		return false
	})
	stopped := make(chan struct{})
	go func() { g.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waited for a tick an hour away")
	}
	if n := got.Load(); n != 0 {
		t.Errorf("%d collections of a tick an hour away", n)
	}
}

// TestGroupStartsOnOneTick: the workers one Apply starts share their
// mirror's first tick, even when their goroutines start after it has passed
// (here: the first tick was an hour ago when they started), so that the first
// tick is whole.
func TestGroupStartsOnOneTick(t *testing.T) {
	const topics = 20
	every := time.Hour
	applied := time.Now().Add(-every)
	var mu sync.Mutex
	collected := map[time.Time]int{}
	src := funcSource(func(_ context.Context, tick time.Time, _ string) (Sample, error) {
		mu.Lock()
		defer mu.Unlock()
		collected[tick]++
		return Sample{Lags: []int64{1}}, nil
	})
	var tasks []Task
	for i := range topics {
		tasks = append(tasks, Task{Target: Target{Mirror: "m", Topic: fmt.Sprintf("t%02d", i)}, Interval: every, Source: src})
	}
	g := NewGroup(context.Background(), newMemSink(), zerolog.Nop(), nil)
	g.now = func() time.Time { return applied }
	g.Apply(tasks, nil)
	defer g.Stop()
	first := NextTick(applied, every).UTC()
	await.True(t, 10*time.Second, "every topic collected the first tick", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return collected[first] == topics
	})
}
