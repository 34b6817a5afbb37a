package notify

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline/status"
)

// fakeShared is the group's shared state in memory; while down, every
// call fails.
type fakeShared struct {
	mu    sync.Mutex
	kv    map[string][]byte
	down  bool
	calls int
}

func (f *fakeShared) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeShared) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeShared) Put(_ context.Context, key string, value []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return errors.New("unreachable")
	}
	if f.kv == nil {
		f.kv = map[string][]byte{}
	}
	if value == nil {
		delete(f.kv, key)
	} else {
		f.kv[key] = append([]byte(nil), value...)
	}
	return nil
}

func (f *fakeShared) Load(context.Context) (map[string][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return nil, errors.New("unreachable")
	}
	out := map[string][]byte{}
	for k, v := range f.kv {
		out[k] = v
	}
	return out, nil
}

func (f *fakeShared) get(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.kv[key])
}

func (f *fakeShared) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.kv)
}

// TestServiceHandover: agent a fires an incident for orders, then the unit
// moves to agent b. a sends nothing more, although its evaluator still
// judges the topic for a while; b takes the incident over from the shared
// state, does not fire it again (neither while its rebuilt window says
// WARN nor when it says STOP again) and sends exactly one resolved.
func TestServiceHandover(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL), MinStatus: "STALL"}}
	sh := &fakeShared{}
	orders := []Key{{"mm", "orders"}}
	key := sharedKey("hook", orders[0])

	srcA, srcB := &fakeSource{}, &fakeSource{}
	srcA.set(topic("orders", status.OK, 2))
	stateA := filepath.Join(t.TempDir(), StateFile)
	a := startServiceWith(t, cfg, srcA, stateA, Options{Shared: sh, Settle: time.Hour}, func(s *Service) { s.Own(orders, nil) })
	b := startServiceWith(t, cfg, srcB, filepath.Join(t.TempDir(), StateFile), Options{Shared: sh, Settle: time.Hour}, func(s *Service) { s.Own(nil, orders) })
	await.True(t, 10*time.Second, "a first round", func() bool { return srcA.readCount() >= 2 })
	srcA.set(topic("orders", status.STOP, 2))
	await.True(t, 10*time.Second, "firing", func() bool { return sent(a.svc, "hook") == 1 })
	await.True(t, 10*time.Second, "the incident in the shared state", func() bool { return strings.Contains(sh.get(key), `"status":"STOP"`) })

	// The unit moves: b is told before a (the usual order when a dies).
	srcB.set(topic("orders", status.WARN, 2)) // b's fresh window: incomplete
	b.svc.Own(orders, nil)
	a.svc.Own(nil, orders)
	srcA.set(topic("orders", status.OK, 2)) // a would resolve, if it still owned orders
	n := srcB.readCount()
	await.True(t, 10*time.Second, "100 rounds at b", func() bool { return srcB.readCount() >= n+100 })
	srcB.set(topic("orders", status.STOP, 2))
	n, na := srcB.readCount(), srcA.readCount()
	await.True(t, 10*time.Second, "100 more rounds at a and b", func() bool { return srcB.readCount() >= n+100 && srcA.readCount() >= na+100 })
	if got := events(rc, Firing); got != 1 {
		t.Fatalf("%d firing messages after the handover, want the first one only", got)
	}
	if got := events(rc, Resolved); got != 0 {
		t.Fatalf("%d resolved messages while the topic is stopped", got)
	}
	if got := sh.get(key); !strings.Contains(got, `"status":"STOP"`) {
		t.Fatalf("shared state after the handover: %q", got)
	}

	srcB.set(topic("orders", status.OK, 2))
	await.True(t, 10*time.Second, "resolved", func() bool { return sent(b.svc, "hook") == 1 })
	await.True(t, 10*time.Second, "the incident deleted from the shared state", func() bool { return sh.len() == 0 })
	n, na = srcB.readCount(), srcA.readCount()
	await.True(t, 10*time.Second, "100 more rounds", func() bool { return srcB.readCount() >= n+100 && srcA.readCount() >= na+100 })
	a.stop()
	b.stop()
	if got, want := events(rc, Firing), 1; got != want {
		t.Errorf("%d firing messages, want %d", got, want)
	}
	if got, want := events(rc, Resolved), 1; got != want {
		t.Errorf("%d resolved messages, want %d", got, want)
	}
	if got := sent(a.svc, "hook"); got != 1 {
		t.Errorf("a sent %d messages, want its one firing", got)
	}
	if st, _ := os.ReadFile(stateA); strings.Contains(string(st), `"orders"`) {
		t.Errorf("a's state file still holds the handed-over incident:\n%s", st)
	}
}

// TestServiceHandoverBack: a unit that comes back to an agent whose state
// file still remembers an incident the other agent has resolved meanwhile
// starts from the shared state: nothing is sent.
func TestServiceHandoverBack(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL), MinStatus: "STALL"}}
	sh := &fakeShared{}
	orders := []Key{{"mm", "orders"}}
	state := filepath.Join(t.TempDir(), StateFile)
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 2))
	a := startServiceWith(t, cfg, src, state, Options{Shared: sh}, func(s *Service) { s.Own(orders, nil) })
	await.True(t, 10*time.Second, "firing", func() bool { return sent(a.svc, "hook") == 1 })
	a.stop()
	// Meanwhile another agent owned orders and resolved the incident.
	if err := sh.Put(context.Background(), sharedKey("hook", orders[0]), nil); err != nil {
		t.Fatal(err)
	}
	src2 := &fakeSource{}
	src2.set(topic("orders", status.OK, 2))
	a2 := startServiceWith(t, cfg, src2, state, Options{Shared: sh}, func(s *Service) { s.Own(orders, nil) })
	await.True(t, 10*time.Second, "100 rounds", func() bool { return src2.readCount() >= 100 })
	a2.stop()
	if got := len(rc.requests()); got != 1 {
		t.Errorf("%d messages, want the first firing only", got)
	}
}

// TestServiceSharedUnreachable: while the shared state cannot be read, a
// gained topic is not judged (its incident may be open elsewhere) and the
// shared state is not hammered; once readable, the incident is taken over
// without a second firing. A delete that fails is tried again.
func TestServiceSharedUnreachable(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL), MinStatus: "STALL"}}
	sh := &fakeShared{}
	orders := []Key{{"mm", "orders"}}
	key := sharedKey("hook", orders[0])
	t0 := time.Now().Add(-time.Minute)
	v, _ := json.Marshal(sharedIncident{Notifier: "hook", Incident: Incident{Mirror: "mm", Topic: "orders", Status: "STOP", Previous: "OK", StartedAt: t0, LastSent: t0}})
	_ = sh.Put(context.Background(), key, v) // fired by the previous owner
	sh.setDown(true)
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 2))
	a := startServiceWith(t, cfg, src, filepath.Join(t.TempDir(), StateFile), Options{Shared: sh}, func(s *Service) { s.Own(orders, nil) })
	await.True(t, 10*time.Second, "100 rounds", func() bool { return src.readCount() >= 100 })
	if got := len(rc.requests()); got != 0 {
		t.Fatalf("%d messages before the incidents were loaded", got)
	}
	if got := sh.callCount(); got > 3 {
		t.Errorf("%d calls to the unreachable shared state in 100 rounds (one per %v expected)", got, sharedRetry)
	}
	sh.setDown(false)
	await.True(t, 10*time.Second, "the shared state read again", func() bool { return strings.Contains(a.logs.String(), "shared state readable again") })
	n := src.readCount()
	await.True(t, 10*time.Second, "100 more rounds", func() bool { return src.readCount() >= n+100 })
	if got := len(rc.requests()); got != 0 {
		t.Fatalf("%d messages after the incident was taken over", got)
	}

	sh.setDown(true)
	src.set(topic("orders", status.OK, 2))
	await.True(t, 10*time.Second, "resolved", func() bool { return sent(a.svc, "hook") == 1 })
	if got := sh.get(key); got == "" {
		t.Fatal("deleted from a shared state that is down")
	}
	sh.setDown(false)
	await.True(t, 10*time.Second, "the delete tried again", func() bool { return sh.len() == 0 })
	if got, want := events(rc, Resolved), 1; got != want || len(rc.requests()) != 1 {
		t.Errorf("%d resolved messages, %d in all; want 1 and 1", got, len(rc.requests()))
	}
}

// TestServiceOwnRemovedTopic: a topic removed from the config (owned by
// nobody) is forgotten as on an agent alone: its incident resolves after
// the forget time and leaves the shared state.
func TestServiceOwnRemovedTopic(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	cfg := Settings{{Name: "hook", URL: configkit.Secret(rc.URL), MinStatus: "STALL"}}
	sh := &fakeShared{}
	orders := []Key{{"mm", "orders"}}
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 2))
	a := startServiceWith(t, cfg, src, filepath.Join(t.TempDir(), StateFile), Options{Shared: sh, Forget: 300 * time.Millisecond},
		func(s *Service) { s.Own(orders, nil) })
	await.True(t, 10*time.Second, "firing", func() bool { return sent(a.svc, "hook") == 1 })
	await.True(t, 10*time.Second, "in the shared state", func() bool { return sh.len() == 1 })
	src.set()
	a.svc.Own(nil, nil)
	await.True(t, 10*time.Second, "resolved after the forget time", func() bool { return events(rc, Resolved) == 1 })
	await.True(t, 10*time.Second, "gone from the shared state", func() bool { return sh.len() == 0 })
}
