package kafka

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/lagship/lagship/pipeline"
)

// Shared fetches fill the buffers of earlier ones, and every tick's samples
// are still that tick's: offsets that move between ticks are read anew,
// not left over from the tick whose buffers are reused.
func TestSharedBuffersReused(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-b", "orders-v2", "payments")()
	ctx := testCtx(t)
	src := c.Source("mm-b").(pipeline.BufferedSource)
	// orders-v2 ends at {3, 0, 8}, committed {1, U, 8}; payments ends
	// at {4, 6}, committed {4, 0}.
	ends := map[string][]int64{"orders-v2": {3, 0, 8}, "payments": {4, 6}}
	committed := map[string][]int64{"orders-v2": {1, U, 8}, "payments": {4, 0}}
	bufs := map[string]*pipeline.Buffer{"orders-v2": {}, "payments": {}}
	for tick := range 8 {
		for _, topic := range []string{"payments", "orders-v2"} {
			got, err := src.CollectInto(ctx, tickAt(tick), topic, bufs[topic])
			if err != nil {
				t.Fatalf("tick %d, %s: %v", tick, topic, err)
			}
			if !slices.Equal(got.LogEnd, ends[topic]) || !slices.Equal(got.Committed, committed[topic]) {
				t.Errorf("tick %d, %s: log ends %v, committed %v; want %v, %v", tick, topic, got.LogEnd, got.Committed, ends[topic], committed[topic])
			}
		}
		// Every tick moves a log end and a commit.
		f.produce(t, "payments", tick%2, 1)
		ends["payments"][tick%2]++
		committed["orders-v2"][0] = min(committed["orders-v2"][0]+1, 3)
		f.commit(t, "mm-b", map[string]map[int]int64{"orders-v2": {0: committed["orders-v2"][0]}})
	}
	// The fetch of tick 2 reuses the buffers of tick 0, and so on.
	if n := c.pool.reused.Load(); n != 6 {
		t.Errorf("%d of 8 shared fetches reused buffers, want 6", n)
	}
	if st := c.Stats(); st.SoloFetches != 0 {
		t.Errorf("solo fetches = %d, want 0", st.SoloFetches)
	}
}

// A snapshot still read when the next one replaces it keeps its buffers
// until its reader is done; once retired, it cannot be read again.
func TestHeldSnapshotKeepsItsBuffers(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-b", "orders-v2", "payments")()
	ctx := testCtx(t)
	// Tick 0 plans the requests; from tick 1 on, log ends are in bufs.
	first, err := c.read(ctx, tickAt(0))
	if err != nil {
		t.Fatal(err)
	}
	first.release()
	held, err := c.read(ctx, tickAt(1))
	if err != nil {
		t.Fatal(err)
	}
	hb := held.bufs
	if len(hb.ends) != 5 {
		t.Fatalf("tick 1 has %d log ends in its buffers, want 5", len(hb.ends))
	}
	wantEnds := slices.Clone(hb.ends)
	wantSlab := slices.Clone(hb.slabs["mm-b"])
	for tick := 2; tick <= 5; tick++ {
		f.produce(t, "orders-v2", 0, 2)
		f.commit(t, "mm-b", map[string]map[int]int64{"payments": {1: int64(tick)}})
		snap, err := c.read(ctx, tickAt(tick))
		if err != nil {
			t.Fatal(err)
		}
		if &snap.bufs.ends[0] == &hb.ends[0] {
			t.Fatalf("tick %d fills the log ends of tick 1, which is still read", tick)
		}
		snap.release()
	}
	if !slices.Equal(hb.ends, wantEnds) || !slices.Equal(hb.slabs["mm-b"], wantSlab) {
		t.Errorf("held snapshot changed: log ends %v, committed %v; want %v, %v", hb.ends, hb.slabs["mm-b"], wantEnds, wantSlab)
	}
	before := c.pool.reused.Load()
	held.release()
	if held.bufs != nil {
		t.Error("the released snapshot kept its buffers")
	}
	if held.acquire() {
		t.Error("a retired snapshot was acquired again")
	}
	snap, err := c.read(ctx, tickAt(6))
	if err != nil {
		t.Fatal(err)
	}
	snap.release()
	if c.pool.reused.Load() != before+1 {
		t.Errorf("tick 6 did not reuse buffers")
	}
}

// Readers of a tick that fall a tick or two behind the others read their
// own tick's offsets, whatever the others' fetches reuse (run with -race).
func TestLateReadersOfReusedSnapshots(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-b", "orders-v2", "payments")()
	ctx := testCtx(t)
	src := c.Source("mm-b").(pipeline.BufferedSource)
	want := map[string][]int64{"orders-v2": {2, U, 0}, "payments": {0, 6}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 8 {
		wg.Go(func() {
			var buf pipeline.Buffer
			for tick := range 40 {
				// Reader r reads tick-r%3: behind the others by up to
				// two ticks.
				at := tickAt(max(tick-r%3, 0))
				for _, topic := range []string{"orders-v2", "payments"} {
					got, err := src.CollectInto(ctx, at, topic, &buf)
					if err != nil {
						errs <- err
						return
					}
					if !slices.Equal(got.Lags, want[topic]) {
						errs <- errors.New("reader " + topic + ": wrong lags")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.pool.reused.Load() == 0 {
		t.Error("no fetch reused buffers")
	}
}

// While the plan holds, each tick sends the frames of the tick before with
// new correlation ids; a watch that changes the plan encodes them anew.
func TestKeptFramesSentAgain(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-b", "orders-v2", "payments")()
	ctx := testCtx(t)
	src := c.Source("mm-b").(pipeline.BufferedSource)
	encodes := func() (n uint64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, bc := range c.conns {
			bc.mu.Lock()
			n += bc.encodes
			bc.mu.Unlock()
		}
		return n
	}
	want := map[string][]int64{"orders-v2": {2, U, 0}, "payments": {0, 6}, "orders": {U, U, U, U}}
	collect := func(tick int, topics ...string) {
		t.Helper()
		for _, topic := range topics {
			got, err := src.CollectInto(ctx, tickAt(tick), topic, &pipeline.Buffer{})
			if err != nil && !errors.Is(err, pipeline.ErrNoOffsets) {
				t.Fatalf("tick %d, %s: %v", tick, topic, err)
			}
			if !slices.Equal(got.Lags, want[topic]) {
				t.Errorf("tick %d, %s: lags %v, want %v", tick, topic, got.Lags, want[topic])
			}
		}
	}
	collect(0, "orders-v2", "payments")
	collect(1, "orders-v2", "payments")
	before := encodes()
	for tick := 2; tick < 5; tick++ {
		collect(tick, "orders-v2", "payments")
	}
	if n := encodes() - before; n != 0 {
		t.Errorf("%d frames encoded in 3 ticks of an unchanged plan, want 0", n)
	}
	// One more topic: new requests, encoded once, then sent again.
	defer c.WatchGroup("mm-b", "orders")()
	f.produce(t, "payments", 1, 3)
	want["payments"] = []int64{0, 9}
	collect(5, "orders-v2", "payments", "orders")
	changed := encodes()
	if changed == before {
		t.Error("a new plan sent the frames of the old one")
	}
	collect(6, "orders-v2", "payments", "orders")
	collect(7, "orders-v2", "payments", "orders")
	if n := encodes() - changed; n != 0 {
		t.Errorf("%d frames encoded in the 2 ticks after the change, want 0", n)
	}
}
