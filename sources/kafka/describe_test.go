package kafka

import (
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline"
)

// collectAll collects every topic (name -> partitions) of group at tick and
// returns the samples by topic, failing the test on an error or a sample
// of the wrong width.
func collectAll(t *testing.T, c *Cluster, group string, topics map[string]int, tick time.Time) map[string]pipeline.Sample {
	t.Helper()
	out := make(map[string]pipeline.Sample, len(topics))
	for _, tp := range slices.Sorted(maps.Keys(topics)) {
		s, err := c.Source(group).Collect(testCtx(t), tick, tp)
		if err != nil {
			t.Fatalf("%v %s: Collect: %v", tick.Format(time.TimeOnly), tp, err)
		}
		if len(s.Lags) != topics[tp] {
			t.Fatalf("%v %s: %d lags, want %d", tick.Format(time.TimeOnly), tp, len(s.Lags), topics[tp])
		}
		out[tp] = s
	}
	return out
}

// A group that commits every tick, with records produced every tick, is
// described on the first tick only: every later tick costs one ListOffsets
// per leader broker and one OffsetFetch, nothing else, and its samples carry
// the first tick's membership.
func TestCommittingGroupNotDescribed(t *testing.T) {
	const ticks = 20
	topics := map[string]int{"orders": 6, "payments": 3}
	f := newFakeKafka(t, nil, kfake.SeedTopics(6, "orders"), kfake.SeedTopics(3, "payments"))
	leaders := make(map[int32]bool)
	for tp, n := range topics {
		for p := range n {
			leaders[f.kf.LeaderFor(tp, int32(p))] = true
		}
	}
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm", "orders", "payments")()

	described := 0
	for i := range ticks {
		// Two records a partition, and a commit of all but the last: the
		// lag is 1 everywhere and the committed offsets move every tick.
		offs := make(map[string]map[int]int64, len(topics))
		for tp, n := range topics {
			offs[tp] = make(map[int]int64, n)
			for p := range n {
				f.produce(t, tp, p, 2)
				offs[tp][p] = int64(2*i + 1)
			}
		}
		f.commit(t, "mm", offs)
		f.count.take()
		samples := collectAll(t, c, "mm", topics, tickAt(i))
		n := f.count.take()
		for tp, s := range samples {
			if slices.ContainsFunc(s.Lags, func(l int64) bool { return l != 1 }) {
				t.Fatalf("tick %d %s: lags %v, want 1 everywhere", i, tp, s.Lags)
			}
			if s.Members == nil || s.Members.State != "Empty" || s.Members.Active != 0 {
				t.Fatalf("tick %d %s: Members %+v, want State Empty, Active 0", i, tp, s.Members)
			}
		}
		described += n[kmsg.DescribeGroups]
		if i == 0 {
			if n[kmsg.DescribeGroups] != 1 {
				t.Errorf("tick 0: %v, want 1 DescribeGroups", n)
			}
			continue
		}
		want := map[kmsg.Key]int{kmsg.ListOffsets: len(leaders), kmsg.OffsetFetch: 1}
		if fmt.Sprint(n) != fmt.Sprint(want) {
			t.Errorf("tick %d: requests %v, want %v (brokers + groups)", i, n, want)
		}
		if i == ticks-1 {
			total := 0
			for _, k := range n {
				total += k
			}
			t.Logf("tick %d: %d requests (%d leader brokers + 1 group): %v", i, total, len(leaders), n)
		}
	}
	if described != 1 {
		t.Errorf("%d DescribeGroups over %d ticks, want 1 (the first tick's)", described, ticks)
	}
}

// stalledGroup starts topic "stall" (3 partitions, 10 records each, group
// g-stall committed at 2) with a kafka-go member that joins and heartbeats
// but never commits, and a Cluster with MembersMaxAge maxAge. It returns
// once the samples show the member, with the index of the next free tick.
func stalledGroup(t *testing.T, maxAge time.Duration) (f *fakeKafka, c *Cluster, r *kafkago.Reader, next int) {
	t.Helper()
	f = newFakeKafka(t, nil, kfake.SeedTopics(3, "stall"))
	for p := range 3 {
		f.produce(t, "stall", p, 10)
	}
	f.commit(t, "g-stall", map[string]map[int]int64{"stall": {0: 2, 1: 2, 2: 2}})
	r = kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: f.addrs, GroupID: "g-stall", Topic: "stall",
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RebalanceTimeout: 2 * time.Second, MaxWait: 100 * time.Millisecond,
	})
	t.Cleanup(func() { r.Close() })
	c = newTestCluster(t, f, func(cfg *Config) { cfg.MembersMaxAge = maxAge })
	t.Cleanup(c.WatchGroup("g-stall", "stall"))
	var last *pipeline.Membership
	if !await.Within(testTimeout, func() bool {
		last = membersAt(t, c, "g-stall", "stall", next)
		next++
		return last != nil && stableWith(1)(last)
	}) {
		t.Fatalf("timed out waiting for the member to join; last Members %+v", last)
	}
	return f, c, r, next
}

// A stalled group (lag growing, committed offsets not moving) is described
// at most once every MembersMaxAge of tick time, and every sample in
// between still carries its member.
func TestStalledGroupDescribedPerMaxAge(t *testing.T) {
	const ticks = 30 // 1 s apart
	for _, tt := range []struct {
		name   string
		maxAge time.Duration // 0: the default, 10s
		want   int           // DescribeGroups over the ticks
	}{
		{"default", 0, 3},
		{"3s", 3 * time.Second, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, c, _, next := stalledGroup(t, tt.maxAge)
			age := int(c.cfg.MembersMaxAge / time.Second)
			// The first tick below is MembersMaxAge after any describe so
			// far: it describes, and so does every age-th one after it.
			base := next - 1 + age
			described := 0
			for i := range ticks {
				for p := range 3 {
					f.produce(t, "stall", p, 1)
				}
				f.count.take()
				s := collectAll(t, c, "g-stall", map[string]int{"stall": 3}, tickAt(base+i))["stall"]
				n := f.count.take()
				described += n[kmsg.DescribeGroups]
				if s.Members == nil || s.Members.Active != 1 || s.Members.State != "Stable" {
					t.Fatalf("tick %d: Members %+v, want State Stable, Active 1", i, s.Members)
				}
				if s.Lags[0] != int64(8+i+1) {
					t.Fatalf("tick %d: lags %v, want %d on partition 0", i, s.Lags, 8+i+1)
				}
			}
			t.Logf("MembersMaxAge %v: %d DescribeGroups over %d ticks of 1 s", c.cfg.MembersMaxAge, described, ticks)
			if described != tt.want {
				t.Errorf("%d DescribeGroups over %d s, want %d (one every %d s)", described, ticks, tt.want, age)
			}
		})
	}
}

// When the member of a stalled group leaves, the samples show no active
// member within MembersMaxAge of tick time, so STOP is still told from
// STALL.
func TestStalledGroupMembersLeave(t *testing.T) {
	for _, tt := range []struct {
		name   string
		maxAge time.Duration
	}{
		{"default", 0},
		{"4s", 4 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, c, r, next := stalledGroup(t, tt.maxAge)
			age := int(c.cfg.MembersMaxAge / time.Second)
			if err := r.Close(); err != nil {
				t.Fatalf("closing the reader: %v", err)
			}
			// The coordinator has seen the member leave before the next tick.
			await.True(t, testTimeout, "the coordinator to drop the member", func() bool {
				res, err := f.client.DescribeGroups(testCtx(t), &kafkago.DescribeGroupsRequest{GroupIDs: []string{"g-stall"}})
				return err == nil && len(res.Groups) == 1 && len(res.Groups[0].Members) == 0
			})
			gone := -1
			for i := range 2*age + 1 {
				m := membersAt(t, c, "g-stall", "stall", next+i)
				if m == nil {
					t.Fatalf("tick %d after the leave: Members nil", i)
				}
				switch {
				case m.Active == 0 && gone < 0:
					gone = i
				case m.Active != 0 && gone >= 0:
					t.Fatalf("tick %d after the leave: Members %+v, want Active 0 as from tick %d", i, m, gone)
				}
			}
			t.Logf("MembersMaxAge %v: Active 0 from tick %d after the leave", c.cfg.MembersMaxAge, gone)
			if gone < 0 || gone > age {
				t.Errorf("Active 0 from tick %d after the leave (-1: never), want within %d ticks of 1 s", gone, age)
			}
		})
	}
}

// A DescribeGroups that fails on the first tick is sent again on the next,
// whatever the group's lag and MembersMaxAge; once it succeeds, a group that
// cannot be stalled is not described again. The failure logs once, the
// recovery once, and the ticks without a describe change neither.
func TestDescribeFailureRetriedNextTick(t *testing.T) {
	for _, tt := range []struct {
		name    string
		code    kafkago.Error
		lagging bool // lag and no commit: the group may be stalled
	}{
		{"authorization, no lag", kafkago.GroupAuthorizationFailed, false},
		{"authorization, stalled", kafkago.GroupAuthorizationFailed, true},
		{"coordinator not available, no lag", kafkago.GroupCoordinatorNotAvailable, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKafka(t, nil, kfake.SeedTopics(2, "orders"))
			for p := range 2 {
				f.produce(t, "orders", p, 3)
			}
			committed := int64(3)
			if tt.lagging {
				committed = 1
			}
			f.commit(t, "g", map[string]map[int]int64{"orders": {0: committed, 1: committed}})
			var logs syncBuffer
			c, err := NewCluster(Config{Name: "test", Brokers: f.addrs, Timeout: 5 * time.Second},
				zerolog.New(&logs).Level(zerolog.DebugLevel))
			if err != nil {
				t.Fatalf("NewCluster: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			defer c.WatchGroup("g", "orders")()
			var failing atomic.Bool
			failing.Store(true)
			describeGroupsAnswer(f, tt.code, failing.Load)
			wantLag := []int64{3 - committed, 3 - committed}

			for i, want := range []struct {
				describes bool // at least one DescribeGroups
				members   bool // Members not nil
				failing   bool // the group's membership counts as failing after the tick
			}{
				{true, false, true},  // fails
				{true, true, false},  // retried at once, succeeds
				{false, true, false}, // no lag or too young: not sent, not a failure
				{false, true, false},
			} {
				f.count.take()
				s, err := c.Source("g").Collect(testCtx(t), tickAt(i), "orders")
				n := f.count.take()
				failing.Store(false)
				if err != nil || !slices.Equal(s.Lags, wantLag) {
					t.Fatalf("tick %d: %v, %v; want lags %v", i, s.Lags, err, wantLag)
				}
				if got := n[kmsg.DescribeGroups] > 0; got != want.describes {
					t.Errorf("tick %d: %d DescribeGroups, want some: %v", i, n[kmsg.DescribeGroups], want.describes)
				}
				if (s.Members != nil) != want.members || (s.Members != nil && s.Members.State != "Empty") {
					t.Errorf("tick %d: Members %+v, want present: %v (State Empty)", i, s.Members, want.members)
				}
				c.mu.Lock()
				f := c.membersFailing["g"]
				c.mu.Unlock()
				if f != want.failing {
					t.Errorf("tick %d: membership failing %v, want %v", i, f, want.failing)
				}
			}
			if u, k := logs.Count("group membership unknown"), logs.Count("group membership known again"); u != 1 || k != 1 {
				t.Errorf("%d 'membership unknown' and %d 'known again' lines, want 1 each:\n%s", u, k, logs.String())
			}
		})
	}
}
