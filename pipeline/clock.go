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
	opened  int64           // the latest tick whose gate has opened; 0: none
	stopped bool
}

// gate is closed once its tick has come and been prepared.
type gate struct {
	open  chan struct{}
	timer *time.Timer
	// begun: the tick's timer has fired (or could no longer be stopped),
	// so the gate opens as soon as the source has prepared the tick.
	begun bool
}

// openedGate is the channel of a gate that has opened already.
var openedGate = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

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
	if c.opened != 0 && key <= c.opened {
		// A worker that ran late asks for a tick already opened: it
		// is not prepared a second time.
		return openedGate
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
	c.mu.Lock()
	g.begun = true
	c.mu.Unlock()
	if c.prepare != nil && c.work.Err() == nil {
		c.prepare(c.work, tick)
	}
	c.mu.Lock()
	if c.gates[key] == g {
		delete(c.gates, key)
	}
	c.opened = max(c.opened, key)
	c.mu.Unlock()
	close(g.open)
}

// begun reports whether tick has begun: its gate has opened, or its timer
// has fired and the source is preparing it. A worker told to stop still
// collects a tick that has begun, so that every topic of the mirror has
// that tick's document or none has: a stop never leaves a tick half
// collected.
func (c *clock) begun(tick time.Time) bool {
	key := tick.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.gates[key]; g != nil {
		return g.begun
	}
	return c.opened != 0 && key <= c.opened
}

// stop cancels the ticks not come yet; their gates never open (their
// workers leave through their stop context). A tick whose timer has fired
// already opens once prepared, and its workers collect it (see begun).
// Stopping twice is stopping once.
func (c *clock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for k, g := range c.gates {
		if g.timer.Stop() {
			delete(c.gates, k)
		} else {
			g.begun = true // its fire is under way, waiting for mu
		}
	}
}
