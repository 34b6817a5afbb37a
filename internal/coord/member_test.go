package coord

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
)

const testSession = time.Second

// newKafka is a 3-broker kfake cluster that takes session timeouts down
// to 500ms (a real broker's floor is group.min.session.timeout.ms, 6s by
// default).
func newKafka(t *testing.T) *kfake.Cluster {
	t.Helper()
	kf, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	return kf
}

type agent struct {
	m       *Member
	cancel  context.CancelFunc
	abandon chan struct{}
	done    chan struct{}
	log     *syncbuf.Buffer
}

func startMember(t *testing.T, kf *kfake.Cluster, host, hash string, us []Unit) *agent {
	t.Helper()
	a := &agent{abandon: make(chan struct{}), done: make(chan struct{}), log: &syncbuf.Buffer{}}
	cl := &kafka.Client{Addr: kafka.TCP(kf.ListenAddrs()...), Transport: &kafka.Transport{}}
	a.m = New(Config{
		Settings: Settings{Cluster: "dc1", Group: "agents", SessionTimeout: configkit.Duration(testSession)},
		Client:   cl, Host: host, Version: "test", Log: zerolog.New(a.log), Abandon: a.abandon,
	})
	a.m.SetPlan(hash, us)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() {
		defer close(a.done)
		if err := a.m.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", host, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: Run did not return", host)
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", host, a.log.String())
		}
	})
	return a
}

func (a *agent) stop(t *testing.T) {
	t.Helper()
	a.cancel()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// covered reports whether the agents' units are exactly us, each once,
// all from the same generation.
func covered(as []*agent, us []Unit) bool {
	seen := map[string]int{}
	gen := -1
	for _, a := range as {
		v := a.m.View()
		if !v.Joined || (gen >= 0 && v.Generation != gen) {
			return false
		}
		gen = v.Generation
		for _, k := range v.Units {
			seen[k]++
		}
	}
	if len(seen) != len(us) {
		return false
	}
	for _, u := range us {
		if seen[u.Key] != 1 {
			return false
		}
	}
	return true
}

func TestMemberGroup(t *testing.T) {
	kf := newKafka(t)
	us := numbered(30)
	as := []*agent{startMember(t, kf, "a", "h", us), startMember(t, kf, "b", "h", us), startMember(t, kf, "c", "h", us)}
	await.True(t, 20*time.Second, "every unit owned by exactly one of 3 agents", func() bool { return covered(as, us) })
	for _, a := range as {
		if n := len(a.m.View().Units); n != 10 {
			t.Errorf("%d units on one agent, want 10", n)
		}
		if v := a.m.View(); len(v.Members) != 3 {
			t.Errorf("view lists %d members", len(v.Members))
		}
	}
	before := map[string][]string{}
	for _, a := range as {
		v := a.m.View()
		before[v.MemberID] = v.Units
	}

	// A crash: no LeaveGroup; the group notices after the session timeout.
	crashed := time.Now()
	close(as[2].abandon)
	<-as[2].done
	await.True(t, 4*testSession+5*time.Second, "the crashed agent's units on the others", func() bool { return covered(as[:2], us) })
	t.Logf("crash: units moved after %s (session timeout %s)", time.Since(crashed).Round(10*time.Millisecond), testSession)
	for _, a := range as[:2] {
		v := a.m.View()
		if !containsAll(v.Units, before[v.MemberID]) {
			t.Errorf("sticky: %s had %v, now %v", v.MemberID, before[v.MemberID], v.Units)
		}
	}

	// A comeback is balanced again.
	d := startMember(t, kf, "d", "h", us)
	as = []*agent{as[0], as[1], d}
	await.True(t, 20*time.Second, "the newcomer has its share", func() bool { return covered(as, us) && len(d.m.View().Units) == 10 })

	// A graceful stop leaves the group: the units move well before a
	// session timeout would have passed... measured, and bounded.
	left := time.Now()
	as[0].stop(t)
	await.True(t, 10*time.Second, "the leaver's units on the others", func() bool { return covered(as[1:], us) })
	took := time.Since(left)
	t.Logf("leave: units moved after %s", took.Round(10*time.Millisecond))
	if !strings.Contains(as[0].log.String(), "left the group") {
		t.Errorf("no LeaveGroup logged:\n%s", as[0].log.String())
	}
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, k := range have {
		set[k] = true
	}
	for _, k := range want {
		if !set[k] {
			return false
		}
	}
	return true
}

func TestMemberConfigMismatch(t *testing.T) {
	kf := newKafka(t)
	us := numbered(6)
	a := startMember(t, kf, "a", "hash-aaaaaaaaaaaa", us)
	await.True(t, 20*time.Second, "the first agent leads", func() bool { return a.m.View().IsLeader })
	odd := startMember(t, kf, "odd", "hash-bbbbbbbbbbbb", us)
	await.True(t, 20*time.Second, "both in one generation", func() bool {
		va, vo := a.m.View(), odd.m.View()
		return vo.Joined && va.Generation == vo.Generation && len(va.Members) == 2
	})
	if n := len(odd.m.View().Units); n != 0 {
		t.Errorf("odd agent got %d units", n)
	}
	if n := len(a.m.View().Units); n != 6 {
		t.Errorf("leader has %d units, want all 6", n)
	}
	want := "this agent's config (hash hash-bbbbbbb) differs from the group leader's (hash hash-aaaaaaa)"
	await.True(t, 5*time.Second, "the odd agent logs both hashes", func() bool { return strings.Contains(odd.log.String(), want) })
	// The fix, reloaded: the odd one rejoins with the leader's hash and
	// takes its share.
	odd.m.SetPlan("hash-aaaaaaaaaaaa", us)
	await.True(t, 20*time.Second, "shared after the fix", func() bool { return covered([]*agent{a, odd}, us) && len(odd.m.View().Units) == 3 })
}

func TestMemberRejectedSessionTimeout(t *testing.T) {
	kf, err := kfake.NewCluster(kfake.NumBrokers(1)) // floor 6s
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	a := startMember(t, kf, "a", "h", numbered(1))
	await.True(t, 10*time.Second, "the refusal logged", func() bool {
		return strings.Contains(a.log.String(), "group.min.session.timeout.ms")
	})
	if a.m.View().Joined {
		t.Error("joined with a refused session timeout")
	}
}

func TestViewSorted(t *testing.T) {
	plan := Assign([]Candidate{{ID: "b", Hash: "h"}, {ID: "a", Hash: "h"}}, numbered(4), "h")
	for id, ks := range plan {
		if !sort.StringsAreSorted(ks) {
			t.Errorf("%s: %v not sorted", id, ks)
		}
	}
	_ = fmt.Sprint()
}

func TestHeartbeatError(t *testing.T) {
	cases := []struct {
		hb   kafka.HeartbeatResponse
		want error
	}{
		{kafka.HeartbeatResponse{}, nil},
		{kafka.HeartbeatResponse{Error: kafka.RebalanceInProgress}, kafka.RebalanceInProgress},
		{kafka.HeartbeatResponse{Throttle: 27 * time.Millisecond}, kafka.RebalanceInProgress}, // kafka-go's swapped decoding
		{kafka.HeartbeatResponse{Throttle: 25 * time.Millisecond}, kafka.UnknownMemberId},
		{kafka.HeartbeatResponse{Throttle: 22 * time.Millisecond}, kafka.IllegalGeneration},
		{kafka.HeartbeatResponse{Throttle: 100 * time.Millisecond}, nil},                                // code 100 is none lagship acts on
		{kafka.HeartbeatResponse{Throttle: (3<<16 | 27) * time.Millisecond}, kafka.RebalanceInProgress}, // throttled 3 ms and rebalancing
		{kafka.HeartbeatResponse{Throttle: (250 << 16) * time.Millisecond}, nil},                        // throttled 250 ms, no error
	}
	for _, tc := range cases {
		if got := heartbeatError(&tc.hb); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.hb, got, tc.want)
		}
	}
}

func TestProbe(t *testing.T) {
	kf := newKafka(t)
	cl := &kafka.Client{Addr: kafka.TCP(kf.ListenAddrs()...), Transport: &kafka.Transport{}}
	s := Settings{Cluster: "dc1", Group: "agents", SessionTimeout: configkit.Duration(testSession)}
	text := func(cs []health.Check) (string, bool) {
		var b strings.Builder
		ok := true
		for _, c := range cs {
			fmt.Fprintf(&b, "%s %v %s\n", c.Name, c.OK, c.Detail)
			ok = ok && c.OK
		}
		return b.String(), ok
	}
	if out, ok := text(Probe(context.Background(), cl, s, "h")); !ok || !strings.Contains(out, "no member yet") {
		t.Errorf("empty group:\n%s", out)
	}
	a := startMember(t, kf, "host-a", "h", numbered(2))
	b := startMember(t, kf, "host-b", "other", numbered(2))
	await.True(t, 20*time.Second, "two members", func() bool { return len(a.m.View().Members) == 2 && b.m.View().Joined })
	out, ok := text(Probe(context.Background(), cl, s, "h"))
	if ok || !strings.Contains(out, "2 agents") || !strings.Contains(out, "1 with another config") {
		t.Errorf("mixed group (ok %v):\n%s", ok, out)
	}
	b.m.SetPlan("h", numbered(2))
	await.True(t, 20*time.Second, "the probe sees equal hashes", func() bool {
		_, ok := text(Probe(context.Background(), cl, s, "h"))
		return ok
	})
}

// TestMemberWeights: the owners' measured weights reach the leader at the
// next rebalance and decide the balance; new weights alone do not start
// one.
func TestMemberWeights(t *testing.T) {
	kf := newKafka(t)
	us := numbered(4)
	a := startMember(t, kf, "a", "h", us)
	await.True(t, 20*time.Second, "a owns everything", func() bool { return len(a.m.View().Units) == 4 })
	gen := a.m.View().Generation
	// a measured m/t000 as 30 partitions, the others as 1.
	heavy := append([]Unit(nil), us...)
	heavy[0].Weight = 30
	a.m.SetPlan("h", heavy)
	b := startMember(t, kf, "b", "h", us)
	await.True(t, 20*time.Second, "a and b share", func() bool {
		return covered([]*agent{a, b}, us) && b.m.View().Generation > gen
	})
	// The heavy unit alone on one agent, the three light ones on the other.
	for _, x := range []*agent{a, b} {
		v := x.m.View()
		has := map[string]bool{}
		for _, k := range v.Units {
			has[k] = true
		}
		if has["m/t000"] && len(v.Units) != 1 || !has["m/t000"] && len(v.Units) != 3 {
			t.Errorf("%s owns %v: the measured weight was not used", v.MemberID, v.Units)
		}
	}
}

func TestSetPlanRejoins(t *testing.T) {
	m := New(Config{Client: &kafka.Client{}})
	us := numbered(2)
	rejoin := func() bool {
		select {
		case <-m.rejoin:
			return true
		default:
			return false
		}
	}
	m.SetPlan("h", us)
	if !rejoin() {
		t.Error("a first plan did not ask to join")
	}
	w := append([]Unit(nil), us...)
	w[0].Weight = 9
	m.SetPlan("h", w)
	if rejoin() {
		t.Error("a weight change asked for a rebalance")
	}
	m.SetPlan("h2", w)
	if !rejoin() {
		t.Error("a hash change did not ask to rejoin")
	}
	m.SetPlan("h2", w[:1])
	if !rejoin() {
		t.Error("a unit change did not ask to rejoin")
	}
}
