package notify

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/configkit"
)

// hungShared is a shared state whose calls, while hang is set, block
// until their context is done and take sharedTimeout on the fake clock,
// as a call to a state topic that does not answer does. Waiting for the
// real deadline would hold each test for sharedTimeout: a hung call ends
// the round's context itself (release), which is what the deadline
// passing does to it.
type hungShared struct {
	clock *fakeClock

	mu        sync.Mutex
	hang      bool
	release   context.CancelFunc
	calls     int
	deadlines []time.Time // of every call's context, in order
	ok        bool        // every call's context had a deadline
}

func (h *hungShared) set(hang bool, release context.CancelFunc) {
	h.mu.Lock()
	h.hang, h.release = hang, release
	h.mu.Unlock()
}

func (h *hungShared) call(ctx context.Context) error {
	h.mu.Lock()
	h.calls++
	d, ok := ctx.Deadline()
	h.deadlines = append(h.deadlines, d)
	h.ok = h.ok && ok
	hang, release := h.hang, h.release
	h.mu.Unlock()
	if !hang {
		// The next call's time.Now, if it took one, differs from this one's.
		for start := time.Now(); !time.Now().After(start); {
		}
		return nil
	}
	release()
	<-ctx.Done()
	_ = h.clock.Sleep(context.Background(), sharedTimeout)
	return fmt.Errorf("state topic: %w", ctx.Err())
}

func (h *hungShared) Put(ctx context.Context, _ string, _ []byte) error { return h.call(ctx) }

func (h *hungShared) Load(ctx context.Context) (map[string][]byte, error) {
	return map[string][]byte{}, h.call(ctx)
}

func (h *hungShared) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// sharedService is a service (not running) with one notifier firing an
// incident for each of n topics, owned by this agent, none of them in the
// shared state yet: the first sync has n changes to write.
func sharedService(t *testing.T, n int, sh Shared, clock *fakeClock) (*Service, []Key) {
	t.Helper()
	cfg := Settings{{Name: "hook", URL: configkit.Secret("http://127.0.0.1:1"), MinStatus: "STALL"}}
	cfg.SetDefaults()
	svc, err := New(cfg, &fakeSource{}, filepath.Join(t.TempDir(), StateFile), zerolog.Nop(), Options{Shared: sh, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var keys []Key
	var incs []Incident
	for i := range n {
		k := Key{"mm", fmt.Sprintf("orders-%d", i)}
		keys = append(keys, k)
		incs = append(incs, Incident{Mirror: k.Mirror, Topic: k.Topic, Status: "STOP", Previous: "OK", StartedAt: t0, LastSent: t0})
	}
	for _, nt := range svc.snapshot() {
		nt.machine.Restore(clock.Now(), 0, 0, incs)
	}
	return svc, keys
}

// TestSharedRetryAfterHang: a shared-state call that hangs until its
// deadline ends the round's calls (one call, not one per change), and the
// shared state is left alone for sharedRetry counted from the failure,
// not from before the call; after that the calls resume. For sync (the
// writes of the firing incidents) and loadPending (the read of a gained
// topic's incidents).
func TestSharedRetryAfterHang(t *testing.T) {
	const changes = 5
	for _, tc := range []struct {
		name string
		// round is one round of the loop's shared-state work.
		round func(s *Service, ctx context.Context)
		// want is the calls a round makes when the state answers.
		want int
		// done reports whether that round's work got through.
		done func(s *Service) bool
		// gained: the topics are gained, their incidents to be loaded.
		gained bool
	}{
		{
			name:  "sync",
			round: func(s *Service, ctx context.Context) { s.sync(ctx) },
			want:  changes,
			done:  func(s *Service) bool { return len(s.shared) == changes },
		},
		{
			name:   "loadPending",
			round:  func(s *Service, ctx context.Context) { s.loadPending(ctx) },
			want:   1,
			done:   func(s *Service) bool { return len(s.pending) == 0 },
			gained: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			sh := &hungShared{clock: clock, ok: true}
			s, keys := sharedService(t, changes, sh, clock)
			if tc.gained {
				s.handover(ownership{owned: setOf(keys), others: map[Key]bool{}})
				if len(s.pending) != changes {
					t.Fatalf("%d topics pending after the handover, want %d", len(s.pending), changes)
				}
			}
			round := func(hang bool) {
				t.Helper()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				sh.set(hang, cancel)
				tc.round(s, ctx)
			}

			round(true) // hangs until its deadline, sharedTimeout later
			if got := sh.count(); got != 1 {
				t.Fatalf("%d calls in a round whose first call hung, want 1", got)
			}
			failed := t0.Add(sharedTimeout)
			if got := clock.Now(); !got.Equal(failed) {
				t.Fatalf("fake clock at %v after the hung call, want %v", got, failed)
			}
			if tc.done(s) {
				t.Fatal("the round's work is done although its call failed")
			}

			// Just before sharedRetry after the failure (but well after
			// sharedRetry from before the call): nothing is tried.
			clock.mu.Lock()
			clock.now = failed.Add(sharedRetry - time.Millisecond)
			clock.mu.Unlock()
			round(false)
			if got := sh.count(); got != 1 {
				t.Fatalf("%d calls %v after the failure, want none since it (1 in all)", got, sharedRetry-time.Millisecond)
			}

			clock.mu.Lock()
			clock.now = failed.Add(sharedRetry)
			clock.mu.Unlock()
			round(false)
			if got := sh.count(); got != 1+tc.want {
				t.Fatalf("%d calls %v after the failure, want %d more", got-1, sharedRetry, tc.want)
			}
			if !tc.done(s) {
				t.Fatal("the round's work is not done although the shared state answered")
			}
		})
	}
}

func setOf(keys []Key) map[Key]bool {
	m := make(map[Key]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// TestSharedSyncOneDeadline: every write of a sync round shares one
// deadline, at most sharedTimeout after the round began: many changes on
// a slow state topic hold the loop for sharedTimeout, not for
// sharedTimeout per change.
func TestSharedSyncOneDeadline(t *testing.T) {
	for _, changes := range []int{2, 20} {
		t.Run(fmt.Sprint(changes), func(t *testing.T) {
			clock := &fakeClock{now: t0}
			sh := &hungShared{clock: clock, ok: true}
			s, _ := sharedService(t, changes, sh, clock)
			before := time.Now()
			s.sync(context.Background())
			after := time.Now()
			sh.mu.Lock()
			defer sh.mu.Unlock()
			if len(sh.deadlines) != changes || !sh.ok {
				t.Fatalf("%d writes (all with a deadline: %v), want %d", len(sh.deadlines), sh.ok, changes)
			}
			first := sh.deadlines[0]
			for i, d := range sh.deadlines {
				if !d.Equal(first) {
					t.Fatalf("write %d has the deadline %v, write 0 %v: want one for the round", i, d, first)
				}
			}
			if first.Before(before.Add(sharedTimeout)) || first.After(after.Add(sharedTimeout)) {
				t.Errorf("the round's deadline is %v after it began, want %v", first.Sub(before), sharedTimeout)
			}
		})
	}
}
