package notify

import (
	"container/list"
	"sync"
)

// QueueLen bounds each notifier's queue, in incidents.
const QueueLen = 1000

// queue holds the messages a notifier has yet to deliver: at most one per
// incident (a newer state replaces the queued one and makes the incident
// the newest) and at most max incidents (when full, the incident whose
// queued message is the oldest is dropped). Messages being delivered stay
// listed (inflight) until done, so that the state file keeps them.
type queue struct {
	mu       sync.Mutex
	max      int
	order    *list.List            // of Event: the pending messages, oldest first
	pending  map[Key]*list.Element // their elements in order, by incident
	inflight map[Key]Event
	ready    chan struct{} // signalled when something is queued
	// dropped counts messages replaced by a newer one (superseded) or
	// pushed out by a full queue (full).
	onDrop func(reason string)
}

func newQueue(max int, onDrop func(string)) *queue {
	return &queue{max: max, order: list.New(), pending: map[Key]*list.Element{}, inflight: map[Key]Event{},
		ready: make(chan struct{}, 1), onDrop: onDrop}
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// put queues ev as the newest message, replacing a queued message of the
// same incident.
func (q *queue) put(ev Event) {
	q.mu.Lock()
	k := ev.key()
	if el, ok := q.pending[k]; ok {
		q.order.Remove(el)
		q.onDrop("superseded")
	} else {
		for len(q.pending) >= q.max && q.order.Len() > 0 {
			old := q.order.Remove(q.order.Front()).(Event)
			delete(q.pending, old.key())
			q.onDrop("full")
		}
	}
	q.pending[k] = q.order.PushBack(ev)
	q.mu.Unlock()
	q.signal()
}

// take removes up to n messages, oldest first, and lists them in flight.
func (q *queue) take(n int) []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Event
	for len(out) < n && q.order.Len() > 0 {
		ev := q.order.Remove(q.order.Front()).(Event)
		delete(q.pending, ev.key())
		q.inflight[ev.key()] = ev
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
		if el, ok := q.pending[k]; ok {
			ev := q.order.Remove(el).(Event)
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

// requeue puts undelivered messages back (when the notifier stops) ahead
// of the queued ones, in their order, unless a newer state of their
// incident is queued.
func (q *queue) requeue(batch []Event) {
	q.mu.Lock()
	for i := len(batch) - 1; i >= 0; i-- {
		ev := batch[i]
		k := ev.key()
		delete(q.inflight, k)
		if _, ok := q.pending[k]; ok {
			continue
		}
		q.pending[k] = q.order.PushFront(ev)
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
	for el := q.order.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(Event))
	}
	return out
}

// len is the number of undelivered messages.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) + len(q.inflight)
}
