package notify

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Retry defaults.
const (
	DefaultFirstRetry = time.Second
	DefaultMaxDelay   = time.Minute
	DefaultGiveUp     = 10 * time.Minute
)

// Backoff is the retry policy: the first retry after First, each next one
// after twice as long up to Max, and none after GiveUp since the first
// attempt.
type Backoff struct {
	First, Max, GiveUp time.Duration
}

// DefaultBackoff retries after 1 s, 2 s, 4 s… up to 1 min apart, for 10 min.
func DefaultBackoff() Backoff {
	return Backoff{First: DefaultFirstRetry, Max: DefaultMaxDelay, GiveUp: DefaultGiveUp}
}

// Clock tells the time and waits; tests pass a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// counters are a notifier's totals; they outlive reconfigurations.
type counters struct {
	sent, rejected, expired, superseded, full, retries atomic.Int64
	// lastErr is the latest failed attempt's error ("" after a success).
	lastErr atomic.Value
}

func (c *counters) setErr(s string) { c.lastErr.Store(s) }

func (c *counters) err() string {
	s, _ := c.lastErr.Load().(string)
	return s
}

func (c *counters) drop(reason string) {
	if reason == "full" {
		c.full.Add(1)
	} else {
		c.superseded.Add(1)
	}
}

// notifier is one receiver: its incidents, queue and delivery loop.
type notifier struct {
	cfg     Notifier
	fp      string
	machine *Machine
	q       *queue
	snd     sender
	log     zerolog.Logger
	c       *counters
	backoff Backoff
	clock   Clock
	// changed is called when what the state file holds changed.
	changed func()
}

// Run delivers queued messages until ctx ends; what is undelivered then
// goes back to the queue (and so to the state file).
func (n *notifier) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.q.ready:
		}
		for {
			batch := n.q.take(n.snd.batch())
			if len(batch) == 0 {
				break
			}
			if !n.deliver(ctx, batch) {
				n.q.requeue(batch)
				return nil
			}
			n.q.done(batch)
			n.changed()
		}
	}
}

// deliver sends batch until it is delivered, rejected or expired. It
// returns false when ctx ended first.
func (n *notifier) deliver(ctx context.Context, batch []Event) bool {
	start := n.clock.Now()
	delay := n.backoff.First
	for attempt := 1; ; attempt++ {
		n.q.refresh(batch)
		r := n.snd.send(ctx, batch)
		if ctx.Err() != nil && r.err != nil {
			return false
		}
		switch {
		case r.err == nil:
			n.c.setErr("")
			n.c.sent.Add(int64(len(batch)))
			for i := range batch {
				n.eventLog(n.log.Info(), &batch[i]).Int("code", r.code).Int("attempt", attempt).Msg("notification sent")
			}
			return true
		case r.permanent:
			n.c.setErr(r.err.Error())
			n.c.rejected.Add(int64(len(batch)))
			for i := range batch {
				n.eventLog(n.log.Error(), &batch[i]).Int("code", r.code).Str("answer", r.answer).Str("error", r.err.Error()).
					Msg("notification rejected by the receiver; not retried")
			}
			return true
		}
		n.c.setErr(r.err.Error())
		wait := max(delay, r.retryAfter)
		if n.clock.Now().Sub(start)+wait > n.backoff.GiveUp {
			n.c.expired.Add(int64(len(batch)))
			for i := range batch {
				n.eventLog(n.log.Error(), &batch[i]).Int("code", r.code).Str("answer", r.answer).Str("error", r.err.Error()).
					Int("attempts", attempt).Dur("for", n.clock.Now().Sub(start)).Msg("notification lost: the receiver did not take it in time")
			}
			return true
		}
		n.c.retries.Add(1)
		n.log.Warn().Str("error", r.err.Error()).Int("code", r.code).Str("answer", r.answer).Int("attempt", attempt).
			Dur("retry_in", wait).Int("messages", len(batch)).Msg("notification not delivered; retrying")
		if err := n.clock.Sleep(ctx, wait); err != nil {
			return false
		}
		delay = min(2*delay, n.backoff.Max)
	}
}

func (n *notifier) eventLog(e *zerolog.Event, ev *Event) *zerolog.Event {
	return e.Str("mirror", ev.Mirror).Str("topic", ev.Topic).Str("event", ev.Event).Str("status", ev.Status).
		Str("previous_status", ev.PreviousStatus).Bool("test", ev.Test)
}
