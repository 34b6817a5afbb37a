package notify

import "sync"

// QueueLen bounds each notifier's queue, in incidents.
const QueueLen = 1000

// queue holds the messages a notifier has yet to deliver: at most one per
// incident (a newer state replaces the queued one) and at most max
// incidents (when full, the oldest is dropped). Messages being delivered
// stay listed (inflight) until done, so that the state file keeps them.
type queue struct {
	mu       sync.Mutex
	max      int
	pending  map[Key]Event
	order    []Key // pending keys, oldest first (may hold stale keys)
	inflight map[Key]Event
	ready    chan struct{} // signalled when something is queued
	// dropped counts messages replaced by a newer one (superseded) or
	// pushed out by a full queue (full).
	onDrop func(reason string)
}

func newQueue(max int, onDrop func(string)) *queue {
	return &queue{max: max, pending: map[Key]Event{}, inflight: map[Key]Event{}, ready: make(chan struct{}, 1), onDrop: onDrop}
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// put queues ev, replacing a queued message of the same incident.
func (q *queue) put(ev Event) {
	q.mu.Lock()
	k := ev.key()
	if _, ok := q.pending[k]; ok {
		q.onDrop("superseded")
	} else {
		for len(q.pending) >= q.max && len(q.order) > 0 {
			old := q.order[0]
			q.order = q.order[1:]
			if _, ok := q.pending[old]; ok {
				delete(q.pending, old)
				q.onDrop("full")
			}
		}
		q.order = append(q.order, k)
	}
	q.pending[k] = ev
	q.mu.Unlock()
	q.signal()
}

// take removes up to n messages, oldest first, and lists them in flight.
func (q *queue) take(n int) []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Event
	for len(out) < n && len(q.order) > 0 {
		k := q.order[0]
		q.order = q.order[1:]
		ev, ok := q.pending[k]
		if !ok {
			continue
		}
		delete(q.pending, k)
		q.inflight[k] = ev
		out = append(out, ev)
	}
	return out
}

// refresh replaces messages of batch that a newer state of their incident
// has superseded while they were being retried.
func (q *queue) refresh(batch []Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range batch {
		k := batch[i].key()
		if ev, ok := q.pending[k]; ok {
			delete(q.pending, k)
			q.inflight[k] = ev
			batch[i] = ev
			q.onDrop("superseded")
		}
	}
}

// done forgets delivered (or lost) messages.
func (q *queue) done(batch []Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ev := range batch {
		if cur, ok := q.inflight[ev.key()]; ok && cur.Time.Equal(ev.Time) && cur.Event == ev.Event {
			delete(q.inflight, ev.key())
		}
	}
}

// requeue puts undelivered messages back (when the notifier stops), unless
// a newer state of their incident is queued.
func (q *queue) requeue(batch []Event) {
	q.mu.Lock()
	for _, ev := range batch {
		k := ev.key()
		delete(q.inflight, k)
		if _, ok := q.pending[k]; ok {
			continue
		}
		q.pending[k] = ev
		q.order = append([]Key{k}, q.order...)
	}
	q.mu.Unlock()
	q.signal()
}

// snapshot lists every undelivered message, in flight included.
func (q *queue) snapshot() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Event, 0, len(q.inflight)+len(q.pending))
	for _, ev := range q.inflight {
		out = append(out, ev)
	}
	for _, k := range q.order {
		if ev, ok := q.pending[k]; ok {
			out = append(out, ev)
		}
	}
	return out
}

// len is the number of undelivered messages.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) + len(q.inflight)
}
