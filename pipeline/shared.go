package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// PerTick runs one fetch per tick and hands its result to every caller of
// that tick. It is how sources share remote work between the per-topic
// workers: the first worker of a tick starts the fetch, the others wait for
// it. Fetches never overlap: a caller of a new tick waits for the fetch of
// the previous one to end first.
//
// The fetch runs with the context of the caller that started it. A caller
// of a tick whose fetch has ended (the common case once a Preparer started
// it) takes no lock.
type PerTick[T any] struct {
	Fetch func(ctx context.Context, tick time.Time) (T, error)

	mu   sync.Mutex
	cur  atomic.Pointer[tickResult[T]] // latest fetch, done or in flight; set under mu
	runs int
}

type tickResult[T any] struct {
	tick time.Time
	done chan struct{}
	val  T
	err  error
}

// Get returns the result of the fetch for tick, starting it if no caller has.
func (p *PerTick[T]) Get(ctx context.Context, tick time.Time) (T, error) {
	if cur := p.cur.Load(); cur != nil && cur.tick.Equal(tick) {
		return wait(ctx, cur)
	}
	for {
		p.mu.Lock()
		cur := p.cur.Load()
		if cur != nil && cur.tick.Equal(tick) {
			p.mu.Unlock()
			return wait(ctx, cur)
		}
		if cur != nil {
			select {
			case <-cur.done:
			default:
				// Another tick's fetch is in flight: wait, then look again.
				p.mu.Unlock()
				if _, err := wait(ctx, cur); ctx.Err() != nil {
					var zero T
					return zero, err
				}
				continue
			}
		}
		r := &tickResult[T]{tick: tick, done: make(chan struct{})}
		p.cur.Store(r)
		p.runs++
		p.mu.Unlock()

		r.val, r.err = p.Fetch(ctx, tick)
		close(r.done)
		return r.val, r.err
	}
}

// Runs returns how many fetches have started.
func (p *PerTick[T]) Runs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs
}

func wait[T any](ctx context.Context, r *tickResult[T]) (T, error) {
	select {
	case <-r.done:
		return r.val, r.err
	default:
	}
	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
