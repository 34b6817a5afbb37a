package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lagship/lagship/pipeline"
)

const U = pipeline.UnknownLag

// seedLagCluster builds the cluster most tests share:
//
//	orders     4 partitions, log ends 10 5 0 7
//	orders-v2  3 partitions, log ends 3 0 8
//	payments   2 partitions, log ends 4 6
//
// Group mm-a (the MirrorMaker-like group) committed orders p0=4 p1=5 p3=9
// (past the log end) and nothing for p2. Group mm-b committed orders-v2
// p0=1 p2=8 and payments p0=4 p1=0.
func seedLagCluster(t *testing.T) *fakeKafka {
	t.Helper()
	f := newFakeKafka(t, nil,
		kfake.SeedTopics(4, "orders"), kfake.SeedTopics(3, "orders-v2"), kfake.SeedTopics(2, "payments"))
	ends := map[string][]int{"orders": {10, 5, 0, 7}, "orders-v2": {3, 0, 8}, "payments": {4, 6}}
	for topic, ps := range ends {
		for p, n := range ps {
			f.produce(t, topic, p, n)
		}
	}
	f.commit(t, "mm-a", map[string]map[int]int64{"orders": {0: 4, 1: 5, 3: 9}})
	f.commit(t, "mm-b", map[string]map[int]int64{"orders-v2": {0: 1, 2: 8}, "payments": {0: 4, 1: 0}})
	return f
}

func TestCollectLag(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-a", "orders", "orders-v2")()
	defer c.WatchGroup("mm-b", "orders", "orders-v2", "payments", "missing")()
	defer c.WatchGroup("nobody", "orders")()

	tests := []struct {
		group, topic string
		want         []int64
		state        error
	}{
		{"mm-a", "orders", []int64{6, 0, U, 0}, nil},
		{"mm-a", "orders-v2", nil, pipeline.ErrNoOffsets}, // exact match: orders' offsets do not leak
		{"mm-b", "orders", nil, pipeline.ErrNoOffsets},
		{"mm-b", "orders-v2", []int64{2, U, 0}, nil},
		{"mm-b", "payments", []int64{0, 6}, nil},
		{"mm-b", "missing", nil, pipeline.ErrTopicNotFound},
		{"nobody", "orders", nil, pipeline.ErrNoOffsets}, // kfake: GROUP_ID_NOT_FOUND
	}
	ctx := testCtx(t)
	var buf pipeline.Buffer // reused by every case, whatever its topic
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.topic, func(t *testing.T) {
			got, err := c.Source(tt.group).Collect(ctx, tickAt(0), tt.topic)
			if tt.state != nil {
				if !errors.Is(err, tt.state) {
					t.Fatalf("Collect error = %v, want %v", err, tt.state)
				}
				return
			}
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			if !slices.Equal(got.Lags, tt.want) {
				t.Errorf("lags = %v, want %v", got.Lags, tt.want)
			}
			// Collected into a reused buffer: the same sample, in
			// the buffer's memory.
			into, err := c.Source(tt.group).(pipeline.BufferedSource).CollectInto(ctx, tickAt(0), tt.topic, &buf)
			if err != nil {
				t.Fatalf("CollectInto: %v", err)
			}
			if !slices.Equal(into.Lags, got.Lags) || !slices.Equal(into.Committed, got.Committed) || !slices.Equal(into.LogEnd, got.LogEnd) {
				t.Errorf("CollectInto = %+v, want %+v", into, got)
			}
			if b := buf.Offsets; len(b) < 3*len(got.Lags) || &into.Committed[0] != &b[0] || &into.Lags[0] != &b[2*len(got.Lags)] {
				t.Errorf("CollectInto's slices are not the buffer's (len %d for %d partitions)", len(b), len(got.Lags))
			}
		})
	}
	st := c.Stats()
	if st.Ticks != 1 || st.SoloFetches != 0 || st.MetadataRefreshes != 1 {
		t.Errorf("stats after one tick = %+v, want 1 tick, 0 solo fetches, 1 metadata refresh", st)
	}

	// The next tick sees new records and commits over the same connections.
	f.produce(t, "orders", 1, 3)
	f.produce(t, "orders", 2, 2)
	f.commit(t, "mm-a", map[string]map[int]int64{"orders": {2: 1}})
	got, err := c.Source("mm-a").Collect(ctx, tickAt(1), "orders")
	if err != nil {
		t.Fatalf("Collect tick 1: %v", err)
	}
	if want := []int64{6, 3, 1, 0}; !slices.Equal(got.Lags, want) {
		t.Errorf("tick 1 lags = %v, want %v", got.Lags, want)
	}
	ends, err := c.LogEndOffsets(ctx, tickAt(1), "orders")
	if err != nil {
		t.Fatalf("LogEndOffsets: %v", err)
	}
	if want := []int64{10, 8, 2, 7}; !slices.Equal(ends, want) {
		t.Errorf("log ends = %v, want %v", ends, want)
	}
	st = c.Stats()
	if st.Ticks != 2 || st.MetadataRefreshes != 1 || st.Requests["ApiVersions"] > 3 {
		t.Errorf("stats after two ticks = %+v, want 2 ticks, 1 metadata refresh, at most 3 connections", st)
	}
}

func TestLogEndOffsets(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	ctx := testCtx(t)
	ends, err := c.LogEndOffsets(ctx, tickAt(0), "orders-v2")
	if err != nil {
		t.Fatalf("LogEndOffsets: %v", err)
	}
	if want := []int64{3, 0, 8}; !slices.Equal(ends, want) {
		t.Errorf("log ends = %v, want %v", ends, want)
	}
	if _, err := c.LogEndOffsets(ctx, tickAt(0), "orders-v3"); !errors.Is(err, pipeline.ErrTopicNotFound) {
		t.Errorf("LogEndOffsets of a missing topic: %v, want ErrTopicNotFound", err)
	}
}

// A topic collected without WatchGroup is fetched alone on its first tick,
// then joins the shared fetch.
func TestCollectUnwatched(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-b", "payments")()
	ctx := testCtx(t)
	src := c.Source("mm-b")
	if _, err := src.Collect(ctx, tickAt(0), "payments"); err != nil {
		t.Fatalf("Collect payments: %v", err)
	}
	got, err := src.Collect(ctx, tickAt(0), "orders-v2")
	if err != nil {
		t.Fatalf("Collect orders-v2: %v", err)
	}
	if want := []int64{2, U, 0}; !slices.Equal(got.Lags, want) {
		t.Errorf("lags = %v, want %v", got.Lags, want)
	}
	if st := c.Stats(); st.SoloFetches != 1 {
		t.Errorf("solo fetches = %d, want 1", st.SoloFetches)
	}
	f.count.take()
	for _, topic := range []string{"payments", "orders-v2"} {
		if _, err := src.Collect(ctx, tickAt(1), topic); err != nil {
			t.Fatalf("Collect %s tick 1: %v", topic, err)
		}
	}
	if st := c.Stats(); st.SoloFetches != 1 || st.Ticks != 2 {
		t.Errorf("stats = %+v, want the second tick shared (1 solo fetch, 2 ticks)", st)
	}
	if n := f.count.take()[kmsg.OffsetFetch]; n != 1 {
		t.Errorf("OffsetFetch requests on tick 1 = %d, want 1", n)
	}
}

func TestTopicCreatedLater(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil) // UnknownBackoff 10s
	defer c.WatchGroup("mm-a", "late")()
	ctx := testCtx(t)
	src := c.Source("mm-a")
	if _, err := src.Collect(ctx, tickAt(0), "late"); !errors.Is(err, pipeline.ErrTopicNotFound) {
		t.Fatalf("tick 0: %v, want ErrTopicNotFound", err)
	}
	f.createTopic(t, "late", 2)
	f.produce(t, "late", 1, 5)
	f.commit(t, "mm-a", map[string]map[int]int64{"late": {1: 2}})

	// Within the backoff the unknown topic does not cost a Metadata request.
	if _, err := src.Collect(ctx, tickAt(5), "late"); !errors.Is(err, pipeline.ErrTopicNotFound) {
		t.Fatalf("tick 5s: %v, want ErrTopicNotFound (backoff)", err)
	}
	if n := c.Stats().MetadataRefreshes; n != 1 {
		t.Errorf("metadata refreshes within backoff = %d, want 1", n)
	}
	got, err := src.Collect(ctx, tickAt(10), "late")
	if err != nil {
		t.Fatalf("tick 10s: %v", err)
	}
	if want := []int64{U, 3}; !slices.Equal(got.Lags, want) {
		t.Errorf("lags = %v, want %v", got.Lags, want)
	}
}

// A new partition shows up after MetadataMaxAge.
func TestPartitionsAdded(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil) // MetadataMaxAge 1m
	defer c.WatchGroup("mm-b", "payments")()
	ctx := testCtx(t)
	src := c.Source("mm-b")
	if got, err := src.Collect(ctx, tickAt(0), "payments"); err != nil || len(got.Lags) != 2 {
		t.Fatalf("tick 0: %v %v, want 2 partitions", got.Lags, err)
	}
	res, err := f.client.CreatePartitions(testCtx(t), &kafkago.CreatePartitionsRequest{
		Topics: []kafkago.TopicPartitionsConfig{{Name: "payments", Count: 3}},
	})
	if err != nil || res.Errors["payments"] != nil {
		t.Fatalf("adding a partition: %v %v", err, res.Errors)
	}
	if got, err := src.Collect(ctx, tickAt(30), "payments"); err != nil || len(got.Lags) != 2 {
		t.Fatalf("tick 30s: %v %v, want the cached 2 partitions", got.Lags, err)
	}
	got, err := src.Collect(ctx, tickAt(60), "payments")
	if err != nil {
		t.Fatalf("tick 60s: %v", err)
	}
	if want := []int64{0, 6, U}; !slices.Equal(got.Lags, want) {
		t.Errorf("lags = %v, want %v", got.Lags, want)
	}
	// The new partition's log end is read too: the tick's requests are
	// made again for the new partition map, not reused from before.
	if got.LogEnd[2] != 0 {
		t.Errorf("log end of the new partition = %d, want 0 (log ends %v)", got.LogEnd[2], got.LogEnd)
	}
}

// A topic watched after some ticks joins the shared fetch's requests,
// which are otherwise the same from tick to tick.
func TestSharedFetchFollowsWatches(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-b", "payments")()
	ctx := testCtx(t)
	src := c.Source("mm-b")
	for i := range 2 {
		if _, err := src.Collect(ctx, tickAt(i), "payments"); err != nil {
			t.Fatalf("Collect payments tick %d: %v", i, err)
		}
	}
	unwatchOrders := c.WatchGroup("mm-b", "orders-v2")
	defer unwatchOrders()
	got, err := src.Collect(ctx, tickAt(2), "orders-v2")
	if err != nil {
		t.Fatalf("Collect orders-v2: %v", err)
	}
	if want := []int64{2, U, 0}; !slices.Equal(got.Lags, want) {
		t.Errorf("lags = %v, want %v", got.Lags, want)
	}
	if st := c.Stats(); st.SoloFetches != 0 {
		t.Errorf("solo fetches = %d, want 0 (the topic was in the shared fetch)", st.SoloFetches)
	}

	// Unwatched, then watched again while the partition map (which still
	// has it) stays the same: the requests follow the watches, not the map.
	unwatchOrders()
	if _, err := src.Collect(ctx, tickAt(3), "payments"); err != nil {
		t.Fatalf("Collect payments tick 3: %v", err)
	}
	defer c.Watch("orders-v2")()
	ends, err := c.LogEndOffsets(ctx, tickAt(4), "orders-v2")
	if err != nil {
		t.Fatalf("LogEndOffsets tick 4: %v", err)
	}
	if want := []int64{3, 0, 8}; !slices.Equal(ends, want) {
		t.Errorf("log ends once watched again = %v, want %v", ends, want)
	}
}

// A worker's buffer remembers where its topic was in the shared fetch.
// When the watches change, topics move in the fetch (a topic watched that
// sorts first shifts every other): each worker still gets its own topic's
// offsets, at every tick.
func TestCollectHintFollowsWatches(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-b", "orders-v2", "payments")()
	ctx := testCtx(t)
	src := c.Source("mm-b").(pipeline.BufferedSource)
	want := map[string][]int64{"orders-v2": {2, U, 0}, "payments": {0, 6}, "orders": {U, U, U, U}}
	bufs := map[string]*pipeline.Buffer{}
	check := func(tick int, topics ...string) {
		t.Helper()
		for _, topic := range topics {
			if bufs[topic] == nil {
				bufs[topic] = &pipeline.Buffer{}
			}
			got, err := src.CollectInto(ctx, tickAt(tick), topic, bufs[topic])
			if err != nil && !errors.Is(err, pipeline.ErrNoOffsets) {
				t.Fatalf("tick %d, %s: %v", tick, topic, err)
			}
			if !slices.Equal(got.Lags, want[topic]) {
				t.Errorf("tick %d, %s: lags %v, want %v", tick, topic, got.Lags, want[topic])
			}
		}
	}
	check(0, "orders-v2", "payments")
	check(1, "payments", "orders-v2")
	// "orders" sorts before both: each moves one place in the fetch.
	defer c.WatchGroup("mm-b", "orders")()
	check(2, "orders-v2", "payments", "orders")
	check(3, "payments", "orders", "orders-v2")
	// A buffer passed for another topic holds no hint for it.
	shared := &pipeline.Buffer{}
	for _, topic := range []string{"payments", "orders-v2"} {
		got, err := src.CollectInto(ctx, tickAt(4), topic, shared)
		if err != nil || !slices.Equal(got.Lags, want[topic]) {
			t.Errorf("tick 4, %s in a buffer used for another topic: lags %v, %v; want %v", topic, got.Lags, err, want[topic])
		}
	}
	if st := c.Stats(); st.SoloFetches != 0 {
		t.Errorf("solo fetches = %d, want 0", st.SoloFetches)
	}
}

// answerListOffsets builds a ListOffsets answer with code on every
// partition.
func answerListOffsets(req kmsg.Request, code int16) kmsg.Response {
	r := req.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Version = r.Version
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// NOT_LEADER on one ListOffsets: the tick refreshes metadata, asks again,
// and still returns exact lags.
func TestNotLeaderOnce(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-a", "orders")()
	defer c.WatchGroup("mm-b", "orders-v2", "payments")()
	ctx := testCtx(t)
	var injected atomic.Int32
	f.kf.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		injected.Add(1)
		return answerListOffsets(req, int16(kafkago.NotLeaderForPartition)), nil, true
	})
	got, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders")
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if want := []int64{6, 0, U, 0}; !slices.Equal(got.Lags, want) {
		t.Errorf("lags = %v, want %v", got.Lags, want)
	}
	got, err = c.Source("mm-b").Collect(ctx, tickAt(0), "payments")
	if err != nil || !slices.Equal(got.Lags, []int64{0, 6}) {
		t.Errorf("payments lags = %v, %v, want [0 6]", got.Lags, err)
	}
	if injected.Load() != 1 {
		t.Fatalf("injected %d errors, want 1", injected.Load())
	}
	if n := c.Stats().MetadataRefreshes; n != 2 {
		t.Errorf("metadata refreshes = %d, want 2 (first tick + after NOT_LEADER)", n)
	}
}

// Persistent leadership errors make the topic fail (not a state) until the
// brokers recover.
func TestListOffsetsFailing(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-a", "orders")()
	ctx := testCtx(t)
	var failing atomic.Bool
	failing.Store(true)
	f.kf.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !failing.Load() {
			f.kf.DropControl()
			return nil, nil, false
		}
		f.kf.KeepControl()
		return answerListOffsets(req, int16(kafkago.NotLeaderForPartition)), nil, true
	})
	_, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders")
	if err == nil || pipeline.IsState(err) || !errors.Is(err, kafkago.NotLeaderForPartition) {
		t.Fatalf("Collect with failing brokers: %v, want a NOT_LEADER failure", err)
	}
	if c.Stats().LastError == "" {
		t.Error("Stats().LastError is empty after a failure")
	}
	failing.Store(false)
	got, err := c.Source("mm-a").Collect(ctx, tickAt(1), "orders")
	if err != nil || !slices.Equal(got.Lags, []int64{6, 0, U, 0}) {
		t.Fatalf("after recovery: %v, %v", got.Lags, err)
	}
}

// A tick that reuses the previous tick's requests (nothing changed) still
// starts every log end unknown: a partition the brokers do not answer for
// has no lag, never one computed from a log end of 0.
func TestListOffsetsUnansweredOnKeptPlan(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-a", "orders")()
	ctx := testCtx(t)
	got, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders")
	if err != nil || !slices.Equal(got.Lags, []int64{6, 0, U, 0}) {
		t.Fatalf("tick 0: %v, %v", got.Lags, err)
	}
	f.kf.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.kf.KeepControl()
		return answerListOffsets(req, int16(kafkago.Unknown)), nil, true
	})
	got, _ = c.Source("mm-a").Collect(ctx, tickAt(1), "orders")
	if !slices.Equal(got.Lags, []int64{U, U, U, U}) || !slices.Equal(got.LogEnd, []int64{-1, -1, -1, -1}) {
		t.Fatalf("tick 1, no log end answered: lags %v, log ends %v; want all unknown", got.Lags, got.LogEnd)
	}
}

// NOT_COORDINATOR makes the tick look the coordinator up again.
func TestNotCoordinatorOnce(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-a", "orders")()
	ctx := testCtx(t)
	if _, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders"); err != nil {
		t.Fatalf("tick 0: %v", err)
	}
	f.kf.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.OffsetFetchRequest)
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.Version = r.Version
		resp.ErrorCode = int16(kafkago.NotCoordinatorForGroup)
		return resp, nil, true
	})
	f.count.take()
	got, err := c.Source("mm-a").Collect(ctx, tickAt(1), "orders")
	if err != nil || !slices.Equal(got.Lags, []int64{6, 0, U, 0}) {
		t.Fatalf("tick 1: %v, %v", got.Lags, err)
	}
	n := f.count.take()
	if n[kmsg.FindCoordinator] != 1 || n[kmsg.OffsetFetch] != 2 {
		t.Errorf("requests = %v, want 1 FindCoordinator and 2 OffsetFetch", n)
	}
}

func TestCollectAfterClose(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	ctx := testCtx(t)
	if _, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders"); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	c.Close()
	if _, err := c.Source("mm-a").Collect(ctx, tickAt(1), "orders"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Collect after Close: %v, want ErrClosed", err)
	}
	// A request that was in flight when the cluster closed fails with
	// ErrClosed: a stop, which is neither logged nor shown as the
	// cluster's last error.
	c.noteError(fmt.Errorf("refreshing metadata: %w", ErrClosed))
	if st := c.Stats(); st.LastError != "" {
		t.Errorf("last error after a request cut by Close = %q, want none", st.LastError)
	}
}

func TestCollectCanceled(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders"); err == nil {
		t.Fatal("Collect with a canceled context succeeded")
	}
}

// A request the broker never answers is abandoned when the caller's context
// ends or the cluster is closed, long before Config.Timeout.
func TestHungRequest(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			f := seedLagCluster(t)
			c := newTestCluster(t, f, func(cfg *Config) { cfg.Timeout = time.Hour })
			seen := make(chan struct{}, 1)
			f.kf.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
				f.kf.KeepControl()
				select {
				case seen <- struct{}{}:
				default:
				}
				return nil, nil, true // swallow: no answer
			})
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders")
				done <- err
			}()
			<-seen
			if how == "cancel" {
				cancel()
			} else {
				c.Close()
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Collect succeeded without an answer")
				}
				if how == "cancel" && !errors.Is(err, context.Canceled) {
					t.Errorf("Collect: %v, want context.Canceled", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("Collect still blocked on a request nobody answers")
			}
		})
	}
}

// Samples carry the committed and log-end offsets their lags derive from,
// UnknownOffset where one is missing, in slices of their own.
func TestCollectOffsets(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-a", "orders")()
	defer c.WatchGroup("mm-b", "orders-v2")()
	const N = pipeline.UnknownOffset
	tests := []struct {
		group, topic            string
		committed, logEnd, lags []int64
	}{
		{"mm-a", "orders", []int64{4, 5, N, 9}, []int64{10, 5, 0, 7}, []int64{6, 0, U, 0}},
		{"mm-b", "orders-v2", []int64{1, N, 8}, []int64{3, 0, 8}, []int64{2, U, 0}},
	}
	ctx := testCtx(t)
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.topic, func(t *testing.T) {
			got, err := c.Source(tt.group).Collect(ctx, tickAt(0), tt.topic)
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			if !slices.Equal(got.Committed, tt.committed) || !slices.Equal(got.LogEnd, tt.logEnd) || !slices.Equal(got.Lags, tt.lags) {
				t.Errorf("committed %v, log end %v, lags %v; want %v, %v, %v",
					got.Committed, got.LogEnd, got.Lags, tt.committed, tt.logEnd, tt.lags)
			}
			// The same tick answers again from the same fetch, unchanged by
			// what the first caller did to its sample.
			got.Committed[0], got.LogEnd[0] = 99, 99
			again, err := c.Source(tt.group).Collect(ctx, tickAt(0), tt.topic)
			if err != nil || !slices.Equal(again.Committed, tt.committed) || !slices.Equal(again.LogEnd, tt.logEnd) {
				t.Errorf("second Collect of the tick: %v %v, %v", again.Committed, again.LogEnd, err)
			}
		})
	}
	if st := c.Stats(); st.Ticks != 1 {
		t.Errorf("ticks = %d, want 1", st.Ticks)
	}
}
