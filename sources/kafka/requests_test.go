package kafka

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicNames returns n topic names.
func topicNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("mirror.topic-%04d", i)
	}
	return names
}

// tickCounts runs ticks of every topic collected concurrently, as the
// per-topic workers do, and returns the requests kfake saw per tick.
func tickCounts(t *testing.T, topics, partitions, ticks int) (perTick []map[kmsg.Key]int, leaders int) {
	t.Helper()
	names := topicNames(topics)
	f := newFakeKafka(t, nil, kfake.SeedTopics(int32(partitions), names...))
	offsets := make(map[string]map[int]int64, topics)
	brokers := make(map[int32]bool)
	for _, n := range names {
		offsets[n] = make(map[int]int64, partitions)
		for p := range partitions {
			offsets[n][p] = 0
			brokers[f.kf.LeaderFor(n, int32(p))] = true
		}
	}
	f.commit(t, "mm", offsets)
	f.closeHelper()

	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm", names...)()
	src := c.Source("mm")
	ctx := testCtx(t)
	f.count.take()
	for i := range ticks {
		var wg sync.WaitGroup
		errs := make(chan error, topics)
		for _, n := range names {
			wg.Go(func() {
				s, err := src.Collect(ctx, tickAt(i), n)
				if err == nil && (len(s.Lags) != partitions || slices.Contains(s.Lags, U)) {
					err = fmt.Errorf("topic %s: lags %v, want %d known partitions", n, s.Lags, partitions)
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("tick %d: %v", i, err)
		}
		perTick = append(perTick, f.count.take())
	}
	return perTick, len(brokers)
}

// One tick costs one ListOffsets per leader broker and one OffsetFetch for
// the group, whatever the number of topics; Metadata, FindCoordinator and
// DescribeGroups only on the first tick (the group has no lag, so it cannot
// be stalled and its first description serves every later tick).
func TestRequestsPerTick(t *testing.T) {
	const ticks = 3
	var byTopics [][]map[kmsg.Key]int
	for _, topics := range []int{20, 200} {
		counts, leaders := tickCounts(t, topics, 4, ticks)
		t.Logf("%d topics x 4 partitions, %d leader brokers: %v", topics, leaders, counts)
		for i, n := range counts {
			want := map[kmsg.Key]int{kmsg.ListOffsets: leaders, kmsg.OffsetFetch: 1}
			if i == 0 {
				want[kmsg.DescribeGroups] = 1
				want[kmsg.Metadata] = 1
				want[kmsg.FindCoordinator] = 1
				want[kmsg.ApiVersions] = leaders // one connection per broker
			}
			for _, k := range []kmsg.Key{kmsg.ListOffsets, kmsg.OffsetFetch, kmsg.DescribeGroups, kmsg.Metadata, kmsg.FindCoordinator, kmsg.ApiVersions} {
				if n[k] > want[k] {
					t.Errorf("%d topics, tick %d: %d %s requests, want at most %d", topics, i, n[k], k.Name(), want[k])
				}
			}
			if n[kmsg.ListOffsets] != leaders || n[kmsg.OffsetFetch] != 1 || n[kmsg.DescribeGroups] != want[kmsg.DescribeGroups] {
				t.Errorf("%d topics, tick %d: %v, want exactly %d ListOffsets, 1 OffsetFetch and %d DescribeGroups", topics, i, n, leaders, want[kmsg.DescribeGroups])
			}
		}
		byTopics = append(byTopics, counts)
	}
	for i := range ticks {
		if fmt.Sprint(byTopics[0][i]) != fmt.Sprint(byTopics[1][i]) {
			t.Errorf("tick %d: 20 topics cost %v, 200 topics cost %v; want the same", i, byTopics[0][i], byTopics[1][i])
		}
	}
}

// Many groups cost one OffsetFetch each but, on a tick that describes them,
// one DescribeGroups per group coordinator, and one FindCoordinator per
// group on the first tick. Every group lags and does not commit (it may be
// stalled) and the ticks are MembersMaxAge apart, so every tick describes
// every group.
func TestDescribeGroupsPerCoordinator(t *testing.T) {
	const groups, ticks = 12, 3
	topics := topicNames(3)
	f := newFakeKafka(t, nil, kfake.SeedTopics(2, topics...))
	coords := make(map[int32]bool)
	names := make([]string, groups)
	for i := range names {
		names[i] = fmt.Sprintf("group-%02d", i)
		coords[f.kf.CoordinatorFor(names[i])] = true
		offsets := make(map[string]map[int]int64, len(topics))
		for _, tp := range topics {
			offsets[tp] = map[int]int64{0: 0, 1: 0}
		}
		f.commit(t, names[i], offsets)
	}
	for _, tp := range topics {
		f.produce(t, tp, 0, 1)
		f.produce(t, tp, 1, 1)
	}
	if len(coords) < 2 {
		t.Fatalf("%d groups share %d coordinator; the test wants several", groups, len(coords))
	}
	f.closeHelper()

	c := newTestCluster(t, f, nil)
	for _, g := range names {
		defer c.WatchGroup(g, topics...)()
	}
	ctx := testCtx(t)
	f.count.take()
	for i := range ticks {
		var wg sync.WaitGroup
		errs := make(chan error, groups*len(topics))
		for _, g := range names {
			for _, tp := range topics {
				wg.Go(func() {
					s, err := c.Source(g).Collect(ctx, tickAt(i*int(DefaultMembersMaxAge/time.Second)), tp)
					if err == nil && (s.Members == nil || s.Members.State != "Empty") {
						err = fmt.Errorf("group %s, topic %s: Members %+v, want State Empty", g, tp, s.Members)
					}
					if err != nil {
						errs <- err
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("tick %d: %v", i, err)
		}
		n := f.count.take()
		t.Logf("tick %d, %d groups on %d coordinators: %v", i, groups, len(coords), n)
		if n[kmsg.DescribeGroups] != len(coords) || n[kmsg.OffsetFetch] != groups {
			t.Errorf("tick %d: %v, want %d DescribeGroups and %d OffsetFetch", i, n, len(coords), groups)
		}
		wantFind := 0
		if i == 0 {
			wantFind = groups
		}
		if n[kmsg.FindCoordinator] != wantFind {
			t.Errorf("tick %d: %d FindCoordinator, want %d", i, n[kmsg.FindCoordinator], wantFind)
		}
	}
}

// TestMetadataAsksWatchedAndUnwatched checks that a refresh asks for every
// watched topic and for the fetch's own topics that are not watched (a
// topic unwatched while its fetch was under way is still mapped).
func TestMetadataAsksWatchedAndUnwatched(t *testing.T) {
	f := newFakeKafka(t, nil)
	for _, topic := range []string{"a", "b", "c", "d"} {
		f.createTopic(t, topic, 2)
	}
	for _, tc := range []struct {
		name           string
		watched, fetch []string
		want           []string // topics the partition map knows
	}{
		{"all watched", []string{"a", "b", "c"}, []string{"b"}, []string{"a", "b", "c"}},
		{"one unwatched", []string{"a", "c"}, []string{"b", "d"}, []string{"a", "b", "c", "d"}},
		{"none watched", nil, []string{"d"}, []string{"d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, f, nil)
			if len(tc.watched) > 0 {
				c.Watch(tc.watched...)
			}
			md, err := c.metadata(testCtx(t), tickAt(0), tc.fetch, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for topic := range md.asked {
				got = append(got, topic)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("refresh asked for %v, want %v", got, tc.want)
			}
			if w := c.watchSet().topics; !slices.Equal(w, tc.watched) && !(len(w) == 0 && len(tc.watched) == 0) {
				t.Errorf("watch set changed to %v, want %v", w, tc.watched)
			}
		})
	}
}
