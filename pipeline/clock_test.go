package pipeline

import (
	"context"
	"fmt"
	"sync"
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
