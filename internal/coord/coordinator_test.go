package coord

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lagship/lagship/internal/testutil/await"
)

// TestHeartbeatCoordinatorGone: the coordinator's broker dies (its
// listener closed, every connection to it closed at its next request). The
// heartbeats fail with transport errors; the next one looks the
// coordinator up again and reaches the new one within the session
// timeout, so both members keep their generation and their units.
func TestHeartbeatCoordinatorGone(t *testing.T) {
	kf := newKafka(t)
	us := numbered(6)
	as := []*agent{startMember(t, kf, "a", "h", us), startMember(t, kf, "b", "h", us)}
	await.True(t, 20*time.Second, "both agents share the units", func() bool { return covered(as, us) })
	gen := as[0].m.View().Generation
	before := map[string][]string{}
	for _, a := range as {
		v := a.m.View()
		before[v.MemberID] = v.Units
	}
	as[0].m.mu.Lock()
	finds := as[0].m.counts["FindCoordinator"]
	as[0].m.mu.Unlock()

	dead := kf.CoordinatorFor("agents")
	var mu sync.Mutex
	var firstOK time.Time // the first heartbeat the new coordinator answered
	kf.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		if kf.CurrentNode() == dead {
			return nil, errors.New("broker gone"), true // closes the connection
		}
		if req.Key() == int16(kmsg.Heartbeat) {
			mu.Lock()
			if firstOK.IsZero() {
				firstOK = time.Now()
			}
			mu.Unlock()
		}
		return nil, nil, false
	})
	gone := time.Now()
	if err := kf.RemoveNode(dead); err != nil {
		t.Fatal(err)
	}
	moved := kf.CoordinatorFor("agents")
	if moved == dead {
		t.Fatalf("coordinator still node %d", dead)
	}
	await.True(t, 10*time.Second, "a heartbeat reaches the new coordinator", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !firstOK.IsZero()
	})
	mu.Lock()
	took := firstOK.Sub(gone)
	mu.Unlock()
	t.Logf("node %d gone, coordinator now node %d: first heartbeat to it after %s (session timeout %s)", dead, moved, took.Round(time.Millisecond), testSession)
	// Let twice the session timeout pass from the broker's death: a member
	// that had heartbeated the dead address all along would have been
	// dropped by then.
	await.True(t, 10*time.Second, "two session timeouts after the broker died", func() bool { return time.Since(gone) > 2*testSession })
	for _, a := range as {
		await.True(t, 5*time.Second, "the new coordinator named in the log", func() bool {
			return strings.Contains(a.log.String(), "the coordinator moved")
		})
	}
	for _, a := range as {
		v := a.m.View()
		if v.Generation != gen {
			t.Errorf("%s: generation %d, was %d: the member lost its membership", v.MemberID, v.Generation, gen)
		}
		if strings.Join(v.Units, ",") != strings.Join(before[v.MemberID], ",") {
			t.Errorf("%s: units %v, had %v", v.MemberID, v.Units, before[v.MemberID])
		}
	}
	gi := kf.GroupInfo("agents")
	if gi == nil || gi.Epoch != int32(gen) || len(gi.Members) != 2 {
		t.Errorf("group on the broker: %+v, want generation %d with 2 members", gi, gen)
	}
	as[0].m.mu.Lock()
	after := as[0].m.counts["FindCoordinator"]
	as[0].m.mu.Unlock()
	if after <= finds {
		t.Errorf("FindCoordinator counted %d before, %d after: the lookup again was not counted", finds, after)
	}
}
