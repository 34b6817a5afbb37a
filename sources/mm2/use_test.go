package mm2

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/testutil/await"
)

// TestGatedReaderReadsWhileUsed: a gated reader sends no request until a
// mirror uses it, pauses when the last use is released, and when used
// again catches up with what was written meanwhile before it is ready, so
// it never serves the offsets of before the pause as current ones.
func TestGatedReaderReadsWhileUsed(t *testing.T) {
	ctx := testCtx(t)
	tgt := newKfake(t)
	cl := newClient(t, tgt)
	createTopic(ctx, t, cl, offsetsTopic, 2, true)
	ow := newWriter(t, tgt, cl, offsetsTopic)
	const msc = "MirrorSourceConnector"
	writeOffsets(ctx, t, ow, offsetRecord(msc, "dc1", "orders", 0, 3))

	r := fastReader(cl, offsetsTopic, zerolog.New(zerolog.NewTestWriter(t)))
	r.gated = true
	startReader(t, r)
	stored := func() int64 {
		offs, _, ok, _ := r.Offsets("dc1", "orders", "")
		if !ok {
			return -1
		}
		return offs[0]
	}

	// Unused: no session starts, nothing is read.
	probe := time.Now().Add(300 * time.Millisecond)
	await.True(t, time.Second, "300 ms without a use", func() bool { return time.Now().After(probe) })
	if n := r.sessions.Load(); n != 0 || r.Reading() || r.Ready() || stored() != -1 {
		t.Fatalf("unused reader: %d sessions, reading %v, ready %v, orders/0 at %d; want nothing read", n, r.Reading(), r.Ready(), stored())
	}

	// Two uses: it reads; releasing one keeps it reading.
	rel1, rel2 := r.Use(), r.Use()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != 3 || !r.Reading() {
		t.Fatalf("used reader: orders/0 at %d, reading %v; want 3, true", got, r.Reading())
	}
	rel1()
	rel1() // a release is idempotent
	if !r.Reading() || !r.Ready() {
		t.Fatal("one use left, yet the reader paused")
	}

	// The last release pauses it and ends its readiness.
	rel2()
	await.True(t, 10*time.Second, "the reader paused", func() bool { return !r.Reading() && !r.Ready() })
	writeOffsets(ctx, t, ow, offsetRecord(msc, "dc1", "orders", 0, 9))
	sessions := r.sessions.Load()
	probe = time.Now().Add(300 * time.Millisecond)
	await.True(t, time.Second, "300 ms paused", func() bool { return time.Now().After(probe) })
	if n := r.sessions.Load(); n != sessions || stored() != 3 {
		t.Fatalf("paused reader: %d new sessions, orders/0 at %d; want none and 3", n-sessions, stored())
	}
	if st := r.Health()[0]; st.Detail == "" {
		t.Errorf("paused reader's health %+v does not say it is paused", st)
	}

	// Used again: ready only once it read what was written meanwhile.
	defer r.Use()()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != 9 {
		t.Fatalf("ready again with orders/0 at %d, want 9 (written while paused)", got)
	}
}
