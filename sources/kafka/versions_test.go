package kafka

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// negotiated returns the version of key negotiated on every connection c
// has dialled, by broker address.
func (c *Cluster) negotiated(key protocol.ApiKey) map[string]int16 {
	c.mu.Lock()
	conns := maps.Clone(c.conns)
	c.mu.Unlock()
	out := make(map[string]int16, len(conns))
	for addr, b := range conns {
		if v, ok := b.version(key); ok {
			out[addr] = v
		}
	}
	return out
}

// Lag through the real code path against brokers that speak only the API
// versions of a given Kafka release.
//
// kfake serves Produce from v3 (Kafka 0.11) only, so a cluster capped below
// 0.11 cannot be sent records at all. For those releases the records and
// the commit are written to an uncapped cluster that persists to a data
// directory, which is then restarted on the same data with the cap; only
// the brokers lagship talks to are capped. Commits go through kafka-go in
// both cases, as production tools do.
func TestVersionMatrix(t *testing.T) {
	tests := []struct {
		name         string
		versions     *kversion.Versions
		seedUncapped bool  // see above
		listOffsets  int16 // negotiated versions lagship must use
		offsetFetch  int16
	}{
		{"0.10.1", kversion.V0_10_1(), true, 1, 1},
		{"0.11.0", kversion.V0_11_0(), false, 2, 3},
		{"2.1.0", kversion.V2_1_0(), false, 4, 5},
		{"current", kversion.Stable(), false, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			capped := kfake.MaxVersions(tt.versions)
			var f *fakeKafka
			if tt.seedUncapped {
				dir := t.TempDir()
				seed := newFakeKafka(t, nil, kfake.DataDir(dir))
				seedVersionTopic(t, seed)
				seed.closeHelper()
				seed.kf.Close()
				f = newFakeKafka(t, nil, kfake.DataDir(dir), capped)
			} else {
				f = newFakeKafka(t, nil, capped)
				seedVersionTopic(t, f)
			}
			f.closeHelper()

			c := newTestCluster(t, f, nil)
			defer c.WatchGroup("g", "events")()
			ctx := testCtx(t)
			for i, want := range [][]int64{{3, U, 0}, {3, U, 2}} {
				if i == 1 {
					// Records produced on a capped cluster: the second
					// tick sees them over the connections of the first.
					if tt.seedUncapped {
						break
					}
					f.produce(t, "events", 2, 2)
				}
				got, err := c.Source("g").Collect(ctx, tickAt(i), "events")
				if err != nil {
					t.Fatalf("tick %d: Collect: %v", i, err)
				}
				if !slices.Equal(got.Lags, want) {
					t.Errorf("tick %d: lags = %v, want %v", i, got.Lags, want)
				}
				if i == 0 && (!slices.Equal(got.Committed, []int64{2, U, 8}) || !slices.Equal(got.LogEnd, []int64{5, 0, 8})) {
					t.Errorf("tick 0: committed %v, log end %v, want [2 -1 8], [5 0 8]", got.Committed, got.LogEnd)
				}
			}
			for key, want := range map[protocol.ApiKey]int16{protocol.ListOffsets: tt.listOffsets, protocol.OffsetFetch: tt.offsetFetch} {
				got := c.negotiated(key)
				if len(got) == 0 {
					t.Errorf("%s: no connection dialled", key)
				}
				for addr, v := range got {
					if v != want {
						t.Errorf("%s negotiated with %s: v%d, want v%d", key, addr, v, want)
					}
				}
			}
		})
	}
}

// seedVersionTopic creates topic events (3 partitions, log ends 5 0 8) and
// commits p0=2 p2=8 for group g.
func seedVersionTopic(t *testing.T, f *fakeKafka) {
	t.Helper()
	f.createTopic(t, "events", 3)
	for p, n := range []int{5, 0, 8} {
		f.produce(t, "events", p, n)
	}
	f.commit(t, "g", map[string]map[int]int64{"events": {0: 2, 2: 8}})
}

// Brokers of Kafka 0.10.0 answer ListOffsets v0 only: every connection
// fails with an error naming the API and both ranges, from collection and
// from the probe, and the broker is not dialled again on the next tick.
func TestVersionTooOld(t *testing.T) {
	f := newFakeKafka(t, nil, kfake.MaxVersions(kversion.V0_10_0()), kfake.SeedTopics(2, "events"))
	f.closeHelper()
	const why = " offers ListOffsets v0-v0; lagship speaks v1-v5 (Kafka 0.10.1 or later)"

	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("g", "events")()
	ctx := testCtx(t)
	f.count.take()
	_, err := c.Source("g").Collect(ctx, tickAt(0), "events")
	if !errors.Is(err, ErrUnsupportedBroker) {
		t.Fatalf("Collect: %v, want ErrUnsupportedBroker", err)
	}
	for _, addr := range f.addrs {
		if !strings.Contains(err.Error(), "broker "+addr+why) {
			t.Errorf("Collect error %q does not say %q", err, "broker "+addr+why)
		}
	}
	if n := f.count.take()[kmsg.ApiVersions]; n != len(f.addrs) {
		t.Errorf("ApiVersions requests on tick 0 = %d, want one per broker (%d)", n, len(f.addrs))
	}
	if _, err := c.Source("g").Collect(ctx, tickAt(1), "events"); !errors.Is(err, ErrUnsupportedBroker) {
		t.Fatalf("Collect tick 1: %v, want ErrUnsupportedBroker", err)
	}
	if n := f.count.take(); len(n) != 0 {
		t.Errorf("requests on tick 1 = %v, want none: the brokers answered for good", n)
	}

	p := newTestCluster(t, f, func(cfg *Config) { cfg.Brokers = f.addrs[:1] })
	checks := p.Probe(ctx, "g", []string{"events"})
	if len(checks) != 3 {
		t.Fatalf("checks = %+v, want broker, topic and group", checks)
	}
	if ch := checks[0]; ch.OK || ch.Detail != "broker "+f.addrs[0]+why {
		t.Errorf("broker check = %+v, want failed with %q", ch, "broker "+f.addrs[0]+why)
	}
	for _, ch := range checks[1:] {
		if ch.OK || !strings.Contains(ch.Detail, why) {
			t.Errorf("check %+v, want failed with %q", ch, why)
		}
	}
}

// OffsetFetch v0 and v1 have no group-level error code: a coordinator that
// moved answers NOT_COORDINATOR on every partition. The tick looks the
// coordinator up again and returns the committed offsets, not "no committed
// offsets".
func TestNotCoordinatorPerPartition(t *testing.T) {
	for _, version := range []int16{0, 1} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			vs := kversion.Stable()
			vs.SetMaxKeyVersion(int16(kmsg.OffsetFetch), version)
			f := newFakeKafka(t, nil, kfake.MaxVersions(vs), kfake.SeedTopics(4, "orders"))
			for p, n := range []int{10, 5, 0, 7} {
				f.produce(t, "orders", p, n)
			}
			f.commit(t, "mm-a", map[string]map[int]int64{"orders": {0: 4, 1: 5, 3: 9}})
			f.closeHelper()

			c := newTestCluster(t, f, nil)
			defer c.WatchGroup("mm-a", "orders")()
			ctx := testCtx(t)
			want := []int64{6, 0, U, 0}
			if got, err := c.Source("mm-a").Collect(ctx, tickAt(0), "orders"); err != nil || !slices.Equal(got.Lags, want) {
				t.Fatalf("tick 0: %v, %v, want %v", got.Lags, err, want)
			}
			for addr, v := range c.negotiated(protocol.OffsetFetch) {
				if v != version {
					t.Fatalf("OffsetFetch negotiated with %s: v%d, want v%d", addr, v, version)
				}
			}
			var injected atomic.Int32
			f.kf.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
				injected.Add(1)
				return answerOffsetFetch(req, int16(kafkago.NotCoordinatorForGroup)), nil, true
			})
			f.count.take()
			got, err := c.Source("mm-a").Collect(ctx, tickAt(1), "orders")
			if err != nil || !slices.Equal(got.Lags, want) {
				t.Fatalf("tick 1: %v, %v, want %v", got.Lags, err, want)
			}
			if injected.Load() != 1 {
				t.Errorf("injected %d errors, want 1", injected.Load())
			}
			if n := f.count.take(); n[kmsg.FindCoordinator] != 1 || n[kmsg.OffsetFetch] != 2 {
				t.Errorf("requests = %v, want 1 FindCoordinator and 2 OffsetFetch", n)
			}
		})
	}
}

// answerOffsetFetch builds an OffsetFetch answer with code on every
// partition and no committed offset.
func answerOffsetFetch(req kmsg.Request, code int16) kmsg.Response {
	r := req.(*kmsg.OffsetFetchRequest)
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.Version = r.Version
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition = p
			sp.Offset = -1
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// The version of each codec API is the highest one the broker, kafka-go and
// the codec share; a broker that shares none is refused with its range.
func TestNegotiateVersions(t *testing.T) {
	key := func(k protocol.ApiKey, lo, hi int16) apiversions.ApiKeyResponse {
		return apiversions.ApiKeyResponse{ApiKey: int16(k), MinVersion: lo, MaxVersion: hi}
	}
	tests := []struct {
		name                     string
		offered                  []apiversions.ApiKeyResponse
		listOffsets, offsetFetch int16
		err                      string
	}{
		{"newer broker", []apiversions.ApiKeyResponse{key(protocol.ListOffsets, 0, 10), key(protocol.OffsetFetch, 0, 10)}, 5, 5, ""},
		{"0.10.1", []apiversions.ApiKeyResponse{key(protocol.ListOffsets, 0, 1), key(protocol.OffsetFetch, 0, 1)}, 1, 1, ""},
		{"0.10.0", []apiversions.ApiKeyResponse{key(protocol.ListOffsets, 0, 0), key(protocol.OffsetFetch, 0, 1)}, 0, 0,
			"broker b:9092 offers ListOffsets v0-v0; lagship speaks v1-v5 (Kafka 0.10.1 or later)"},
		{"old versions dropped", []apiversions.ApiKeyResponse{key(protocol.ListOffsets, 1, 10), key(protocol.OffsetFetch, 6, 10)}, 0, 0,
			"broker b:9092 offers OffsetFetch v6-v10; lagship speaks v0-v5 (the broker is newer than this lagship)"},
		{"not offered", []apiversions.ApiKeyResponse{key(protocol.ListOffsets, 0, 5)}, 0, 0,
			"broker b:9092 does not offer OffsetFetch; lagship speaks v0-v5 (Kafka 0.10.1 or later)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := negotiateVersions("b:9092", tt.offered)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrUnsupportedBroker) {
					t.Fatalf("error = %v, want %q wrapping ErrUnsupportedBroker", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got[protocol.ListOffsets] != tt.listOffsets || got[protocol.OffsetFetch] != tt.offsetFetch {
				t.Errorf("versions = %v, want ListOffsets v%d, OffsetFetch v%d", got, tt.listOffsets, tt.offsetFetch)
			}
		})
	}
}
