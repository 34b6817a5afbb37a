package pipeline

import (
	"context"
	"sync"
	"time"
)

// Preparer is a Source whose shared work of a tick (one request set per
// cluster, one command per group) can run once before the tick's workers
// wake, so that each worker's Collect only reads its topic out of the
// result instead of queueing behind the first worker's fetch. Prepare
// ignores the result; errors are what Collect returns.
type Preparer interface {
	Prepare(ctx context.Context, tick time.Time)
}

// clock wakes the workers of one mirror (one interval, one source) at an
// aligned tick with one timer for all of them, after the source has
// prepared the tick. Without it every worker would arm its own timer and
// the first of them to wake would fetch while the others wait on it: with
// 10,000 topics, 10,000 timers and 20,000 wake-ups a tick instead of one
// timer and 10,000 wake-ups.
type clock struct {
	prepare func(ctx context.Context, tick time.Time) // nil: nothing to prepare
	work    context.Context                           // bounds Prepare

	mu      sync.Mutex
	gates   map[int64]*gate // tick (Unix nanoseconds) -> its gate
	stopped bool
}

// gate is closed once its tick has come and been prepared.
type gate struct {
	open  chan struct{}
	timer *time.Timer
}

func newClock(work context.Context, src Source) *clock {
	c := &clock{work: work, gates: map[int64]*gate{}}
	if p, ok := src.(Preparer); ok {
		c.prepare = p.Prepare
	}
	return c
}

// at returns a channel closed when tick has come (at once when it has
// passed) and the source has prepared it.
func (c *clock) at(tick time.Time) <-chan struct{} {
	tick = tick.UTC() // as the workers pass it to Collect
	key := tick.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.gates[key]; g != nil {
		return g.open
	}
	g := &gate{open: make(chan struct{})}
	if c.stopped {
		return g.open // never opens: the workers are stopping
	}
	c.gates[key] = g
	g.timer = time.AfterFunc(time.Until(tick), func() { c.fire(key, tick, g) })
	return g.open
}

func (c *clock) fire(key int64, tick time.Time, g *gate) {
	if c.prepare != nil && c.work.Err() == nil {
		c.prepare(c.work, tick)
	}
	c.mu.Lock()
	if c.gates[key] == g {
		delete(c.gates, key)
	}
	c.mu.Unlock()
	close(g.open)
}

// stop cancels the ticks not come yet; their gates never open (their
// workers leave through their stop context).
func (c *clock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for k, g := range c.gates {
		if g.timer.Stop() {
			delete(c.gates, k)
		}
	}
}
