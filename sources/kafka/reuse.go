package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A shared fetch's results take four large slices: the topics' results and
// their pointers, their log-end offsets and each group's committed offsets
// (at 10,000 topics of 8 partitions, about 2 MB a tick). Made afresh each
// tick, they are garbage a tick later and fresh pages the next; so a
// snapshot of the shared fetch hands them back once nothing can read it,
// and a later fetch fills them again.
//
// A snapshot can be read once it is shared (PerTick hands it to every
// worker of its tick) until it is retired, when the next shared fetch
// replaces it; a reader that holds it when it is retired keeps it until
// it releases it. A reader acquires it first: acquire fails once the
// snapshot is retired, and the reader asks for the tick again.

// retiredRef is the bit of snapshot.refs set when the snapshot is retired;
// the bits below it count its readers.
const retiredRef = int64(1) << 62

// snapBufs are the slices of one shared fetch that a later one reuses.
type snapBufs struct {
	tops  []*topicEnds
	tes   []topicEnds
	ends  []int64
	slabs map[string][]int64 // committed offsets, by group
}

// snapPool keeps the buffers of retired snapshots.
type snapPool struct {
	mu   sync.Mutex
	free []*snapBufs
	// reused counts fetches that took their buffers from the pool.
	reused atomic.Int64
}

// keepBufs is how many sets of buffers the pool holds: a snapshot is retired
// when the next one is shared, so one set is free by the tick after.
const keepBufs = 2

// get returns a free set of buffers, or an empty one.
func (p *snapPool) get() *snapBufs {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.reused.Add(1)
		return b
	}
	return &snapBufs{slabs: map[string][]int64{}}
}

func (p *snapPool) put(b *snapBufs) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < keepBufs {
		p.free = append(p.free, b)
	}
}

// acquire makes the caller a reader of s; false when s is retired (then
// its buffers may be another fetch's already). A snapshot that is not
// shared (a fetch alone) is never retired.
func (s *snapshot) acquire() bool {
	for {
		v := s.refs.Load()
		if v&retiredRef != 0 {
			return false
		}
		if s.refs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// release ends a read that acquire began.
func (s *snapshot) release() {
	if s.refs.Add(-1) == retiredRef {
		s.recycle()
	}
}

// retire says that s is replaced: once its last reader is done, its
// buffers go back to the pool.
func (s *snapshot) retire() {
	if s.refs.Add(retiredRef) == retiredRef {
		s.recycle()
	}
}

func (s *snapshot) recycle() {
	if s.pool == nil || s.bufs == nil {
		return
	}
	b := s.bufs
	s.bufs = nil
	clear(b.tops) // no pointers kept to the results of another tick
	s.pool.put(b)
}

// share makes snap the latest shared snapshot, retiring the one before.
func (c *Cluster) share(snap *snapshot) {
	c.mu.Lock()
	old := c.shared
	c.shared = snap
	c.mu.Unlock()
	if old != nil && old != snap {
		old.retire()
	}
}

// sizedInt64s returns buf with length n when its capacity is enough, or a
// new slice.
func sizedInt64s(buf []int64, n int) []int64 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]int64, n)
}

// read returns the shared snapshot of tick, acquired: the caller releases
// it. A snapshot retired between the caller's Get and its acquire (the
// caller is a tick late) is asked for again, which fetches the tick anew.
func (c *Cluster) read(ctx context.Context, tick time.Time) (*snapshot, error) {
	for range 3 {
		snap, err := c.ticks.Get(ctx, tick)
		if err != nil {
			return nil, err
		}
		if snap.acquire() {
			return snap, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("tick %s on cluster %q: fetched 3 times, each replaced by a later tick's before it could be read", tick.Format(time.RFC3339Nano), c.cfg.Name)
}
