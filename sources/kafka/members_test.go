package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/describegroups"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"github.com/lagship/lagship/pipeline"
)

// assignmentTopic is one topic of a hand-built assignment.
type assignmentTopic struct {
	topic      string
	partitions []int32
}

// buildAssignment encodes a ConsumerProtocolAssignment of version v the
// way a Java consumer does: version, topic array, user data, then extra
// (bytes standing for fields a later version might add).
func buildAssignment(v int16, topics []assignmentTopic, userData []byte, extra []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(v))
	b = binary.BigEndian.AppendUint32(b, uint32(len(topics)))
	for _, t := range topics {
		b = appendWireString(b, t.topic)
		b = binary.BigEndian.AppendUint32(b, uint32(len(t.partitions)))
		for _, p := range t.partitions {
			b = binary.BigEndian.AppendUint32(b, uint32(p))
		}
	}
	if userData == nil {
		b = binary.BigEndian.AppendUint32(b, 0xffffffff) // null bytes
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(len(userData)))
		b = append(b, userData...)
	}
	return append(b, extra...)
}

// decoded returns what decodeAssignment visits, as "topic/partition".
func decoded(b []byte) ([]string, error) {
	var got []string
	err := decodeAssignment(b, func(topic []byte, p int32) {
		got = append(got, fmt.Sprintf("%s/%d", topic, p))
	})
	return got, err
}

func TestDecodeAssignment(t *testing.T) {
	two := []assignmentTopic{{"orders", []int32{0, 2}}, {"payments", []int32{1}}}
	want := []string{"orders/0", "orders/2", "payments/1"}
	for _, tt := range []struct {
		name string
		b    []byte
		want []string
	}{
		{"v0", buildAssignment(0, two, nil, nil), want},
		{"v0 user data", buildAssignment(0, two, []byte("sticky"), nil), want},
		{"v1", buildAssignment(1, two, []byte{1, 2, 3}, nil), want},
		{"v2", buildAssignment(2, two, nil, nil), want},
		{"v3", buildAssignment(3, two, []byte("rack-aware"), nil), want},
		{"v3 and fields of a later version", buildAssignment(3, two, nil, []byte{0, 0, 0, 9, 'f', 'u', 't', 'u', 'r', 'e'}), want},
		{"v7 from the future", buildAssignment(7, two, nil, []byte{0xde, 0xad}), want},
		{"nothing assigned", buildAssignment(1, nil, nil, nil), nil},
		{"topic with no partitions", buildAssignment(0, []assignmentTopic{{"orders", nil}}, nil, nil), nil},
		{"no user data field", buildAssignment(0, two, nil, nil)[:len(buildAssignment(0, two, nil, nil))-4], want},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decoded(tt.b)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("decodeAssignment = %v, %v; want %v", got, err, tt.want)
			}
		})
	}

	// Every prefix that cuts the topic array short is refused and visits
	// nothing.
	full := buildAssignment(3, two, nil, nil)
	arrayEnd := len(full) - 4 // user data length follows the array
	for n := range arrayEnd {
		got, err := decoded(full[:n])
		if err == nil || len(got) > 0 {
			t.Errorf("prefix of %d/%d bytes: %v, %v; want an error and no partition", n, len(full), got, err)
		}
	}

	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty (member of a rebalancing group)", []byte{}},
		{"nil", nil},
		{"negative version", buildAssignment(-1, two, nil, nil)},
		{"huge topic count", []byte{0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, 'x'}},
		{"huge partition count", []byte{0, 0, 0, 0, 0, 1, 0, 1, 'x', 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		{"negative topic name length", []byte{0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0, 0, 0, 0}},
		{"negative topic count", []byte{0, 0, 0xff, 0xff, 0xff, 0xfe}},
		{"garbage", []byte("this is not an assignment at all")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := decoded(tt.b); err == nil || len(got) > 0 {
				t.Fatalf("decodeAssignment = %v, %v; want an error and no partition", got, err)
			}
		})
	}
}

func FuzzDecodeAssignment(f *testing.F) {
	two := []assignmentTopic{{"orders", []int32{0, 2}}, {"payments", []int32{1}}}
	for v := int16(0); v <= 3; v++ {
		f.Add(buildAssignment(v, two, []byte("ud"), nil))
	}
	f.Add(buildAssignment(3, two, nil, []byte{1, 2, 3}))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		err := decodeAssignment(b, func(topic []byte, p int32) { n++ })
		if err != nil && n > 0 {
			t.Fatalf("visited %d partitions of a refused assignment", n)
		}
		// Each partition takes 4 bytes of the input.
		if 4*n > len(b) {
			t.Fatalf("visited %d partitions in %d bytes", n, len(b))
		}
	})
}

func TestMembersOf(t *testing.T) {
	orders := func(ps ...int32) []byte {
		return buildAssignment(1, []assignmentTopic{{"orders", ps}, {"other", []int32{0}}}, nil, nil)
	}
	for _, tt := range []struct {
		name    string
		group   describegroups.ResponseGroup
		want    pipeline.Membership
		wantNil bool // Owned nil
	}{
		{"two members share the partitions", describegroups.ResponseGroup{
			GroupState: "Stable", ProtocolType: "consumer",
			Members: []describegroups.ResponseGroupMember{{MemberAssignment: orders(0, 2)}, {MemberAssignment: orders(3, 9)}},
		}, pipeline.Membership{State: "Stable", Active: 2, Owned: []bool{true, false, true, true}}, false},
		{"one assignment unreadable", describegroups.ResponseGroup{
			GroupState: "Stable", ProtocolType: "consumer",
			Members: []describegroups.ResponseGroupMember{{MemberAssignment: []byte{0, 1, 0}}, {MemberAssignment: orders(1)}},
		}, pipeline.Membership{State: "Stable", Active: 2, Owned: []bool{false, true, false, false}}, false},
		{"rebalancing: no assignment sent", describegroups.ResponseGroup{
			GroupState: "PreparingRebalance", ProtocolType: "consumer",
			Members: []describegroups.ResponseGroupMember{{}, {}, {}},
		}, pipeline.Membership{State: "PreparingRebalance", Active: 3}, true},
		{"not the consumer protocol", describegroups.ResponseGroup{
			GroupState: "Stable", ProtocolType: "connect",
			Members: []describegroups.ResponseGroupMember{{MemberAssignment: orders(0, 1, 2, 3)}},
		}, pipeline.Membership{State: "Stable", Active: 1}, true},
		{"no member", describegroups.ResponseGroup{GroupState: "Empty", ProtocolType: "consumer"},
			pipeline.Membership{State: "Empty"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := membersOf(&tt.group)
			got := m.membership("orders", 4)
			if got == nil || got.State != tt.want.State || got.Active != tt.want.Active ||
				(got.Owned == nil) != tt.wantNil || !slices.Equal(got.Owned, tt.want.Owned) {
				t.Fatalf("membership = %+v, want %+v", got, tt.want)
			}
			// Later ticks until the next description share the view.
			if again := m.membership("orders", 4); again != got {
				t.Errorf("second view of orders is another %+v", again)
			}
			// The topic grew to 6 partitions: a view of 6.
			if grown := m.membership("orders", 6); !tt.wantNil && len(grown.Owned) != 6 ||
				!slices.Equal(grown.Owned[:min(4, len(grown.Owned))], tt.want.Owned) {
				t.Errorf("view of orders at 6 partitions = %+v, want %v then 2 unowned", grown, tt.want.Owned)
			}
		})
	}
	if m := (&groupMembers{err: errAssignment}).membership("orders", 4); m != nil {
		t.Errorf("membership of a failed describe = %+v, want nil", m)
	}
}

// membersAt collects topic for group at tick i and returns its Members.
func membersAt(t *testing.T, c *Cluster, group, topic string, i int) *pipeline.Membership {
	t.Helper()
	s, err := c.Source(group).Collect(testCtx(t), tickAt(i), topic)
	if err != nil {
		t.Fatalf("tick %d: Collect: %v", i, err)
	}
	return s.Members
}

// awaitMembers collects on fresh ticks until ok accepts the sample's
// Members and returns them.
func awaitMembers(t *testing.T, c *Cluster, group, topic string, what string, ok func(*pipeline.Membership) bool) *pipeline.Membership {
	t.Helper()
	var last *pipeline.Membership
	i := 0
	if !await.Within(testTimeout, func() bool {
		last = membersAt(t, c, group, topic, i)
		i++
		return last != nil && ok(last)
	}) {
		t.Fatalf("timed out waiting for %s; last Members %+v", what, last)
	}
	return last
}

func stableWith(n int) func(*pipeline.Membership) bool {
	return func(m *pipeline.Membership) bool { return m.State == "Stable" && m.Active == n }
}

func allTrue(b []bool) bool { return !slices.Contains(b, false) }

// A kafka-go Reader that joined the group and heartbeats owns every
// partition of the topic.
func TestMembersKafkaGoReader(t *testing.T) {
	f := newFakeKafka(t, nil, kfake.SeedTopics(3, "orders"))
	for p := range 3 {
		f.produce(t, "orders", p, 2)
	}
	f.commit(t, "app", map[string]map[int]int64{"orders": {0: 1, 1: 1, 2: 1}})
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           f.addrs,
		GroupID:           "app",
		Topic:             "orders",
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  2 * time.Second,
		MaxWait:           100 * time.Millisecond,
	})
	t.Cleanup(func() { r.Close() })

	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("app", "orders")()
	m := awaitMembers(t, c, "app", "orders", "the reader to join", stableWith(1))
	if len(m.Owned) != 3 || !allTrue(m.Owned) {
		t.Fatalf("Members = %+v, want Owned [true true true]", m)
	}
}

// A group that only committed offsets has no member and no assignment.
func TestMembersEmptyGroup(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	m := membersAt(t, c, "mm-a", "orders", 0)
	if m == nil || m.State != "Empty" || m.Active != 0 || m.Owned != nil {
		t.Fatalf("Members = %+v, want State Empty, Active 0, Owned nil", m)
	}
}

// newerAssignments is a balancer whose assignments are written at version
// 3 with user data and bytes of a field no version has yet, as a newer
// consumer might send them; its subscriptions are franz-go's own (v3, with
// owned partitions and rack, newer than kafka-go reads).
type newerAssignments struct{ kgo.GroupBalancer }

func (b newerAssignments) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	mb, topics, err := b.GroupBalancer.MemberBalancer(members)
	if err != nil {
		return nil, nil, err
	}
	return newerMemberBalancer{mb}, topics, nil
}

type newerMemberBalancer struct{ kgo.GroupMemberBalancer }

func (b newerMemberBalancer) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	return newerPlan{b.GroupMemberBalancer.Balance(topics)}
}

func (b newerMemberBalancer) BalanceOrError(topics map[string]int32) (kgo.IntoSyncAssignment, error) {
	if be, ok := b.GroupMemberBalancer.(kgo.GroupMemberBalancerOrError); ok {
		into, err := be.BalanceOrError(topics)
		if err != nil {
			return nil, err
		}
		return newerPlan{into}, nil
	}
	return b.Balance(topics), nil
}

type newerPlan struct{ plan kgo.IntoSyncAssignment }

func (p newerPlan) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	out := p.plan.IntoSyncAssignment()
	for i := range out {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(out[i].MemberAssignment); err != nil {
			panic(err)
		}
		a.Version = 3
		a.UserData = []byte("user data")
		out[i].MemberAssignment = append(a.AppendTo(nil), 0, 0, 0, 2, 'x', 'y')
	}
	return out
}

// A franz-go consumer with newer subscription and assignment versions is
// decoded as well. (The group lags and its consumer does not commit, so it
// is described again every MembersMaxAge until the consumer shows.)
func TestMembersNewerConsumerProtocol(t *testing.T) {
	f := newFakeKafka(t, nil, kfake.SeedTopics(4, "orders"))
	for p := range 4 {
		f.produce(t, "orders", p, 1)
	}
	f.commit(t, "app", map[string]map[int]int64{"orders": {0: 0, 1: 0, 2: 0, 3: 0}})
	var assigned sync.Map
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(f.addrs...),
		kgo.ConsumerGroup("app"),
		kgo.ConsumeTopics("orders"),
		kgo.Balancers(newerAssignments{kgo.CooperativeStickyBalancer()}),
		kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for topic, ps := range m {
				assigned.Store(topic, ps)
			}
		}),
	)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	pollCtx, stopPolling := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			cl.PollFetches(pollCtx)
		}
	}()
	t.Cleanup(func() { stopPolling(); <-polled })

	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("app", "orders")()
	m := awaitMembers(t, c, "app", "orders", "the franz-go consumer to join", stableWith(1))
	if len(m.Owned) != 4 || !allTrue(m.Owned) {
		t.Fatalf("Members = %+v, want Owned of 4 partitions, all true", m)
	}
	// The coordinator is Stable once it has the leader's SyncGroup; the
	// consumer learns its assignment from the answer a moment later.
	await.True(t, testTimeout, "the consumer to see its assignment", func() bool {
		_, ok := assigned.Load("orders")
		return ok
	})
	// What the coordinator holds is what a newer consumer sends.
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{"app"}
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil || len(resp.Groups) != 1 || len(resp.Groups[0].Members) != 1 {
		t.Fatalf("DescribeGroups: %+v, %v", resp, err)
	}
	mem := resp.Groups[0].Members[0]
	if len(mem.MemberAssignment) < 2 || len(mem.ProtocolMetadata) < 2 {
		t.Fatalf("member %+v has no assignment or subscription", mem)
	}
	av := int16(binary.BigEndian.Uint16(mem.MemberAssignment))
	sv := int16(binary.BigEndian.Uint16(mem.ProtocolMetadata))
	if av != 3 || sv < 3 {
		t.Errorf("assignment v%d, subscription v%d; want v3 and at least v3", av, sv)
	}
}

// describeGroupsAnswer makes kfake answer DescribeGroups with code for
// every group while on returns true.
func describeGroupsAnswer(f *fakeKafka, code kafkago.Error, on func() bool) {
	f.kf.ControlKey(int16(kmsg.DescribeGroups), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !on() {
			return nil, nil, false
		}
		f.kf.KeepControl()
		r := req.(*kmsg.DescribeGroupsRequest)
		resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
		resp.Version = r.Version
		for _, g := range r.Groups {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, int16(code)
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer = syncbuf.Buffer

// A failing DescribeGroups leaves Members nil and the lag intact, and logs
// once when it starts failing and once when it recovers.
func TestMembersDescribeFails(t *testing.T) {
	f := seedLagCluster(t)
	var logs syncBuffer
	c, err := NewCluster(Config{Name: "test", Brokers: f.addrs, Timeout: 5 * time.Second},
		zerolog.New(&logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	defer c.WatchGroup("mm-a", "orders")()
	var failing atomic.Bool
	failing.Store(true)
	describeGroupsAnswer(f, kafkago.GroupAuthorizationFailed, failing.Load)
	for i := range 3 {
		s, err := c.Source("mm-a").Collect(testCtx(t), tickAt(i), "orders")
		if err != nil || !slices.Equal(s.Lags, []int64{6, 0, U, 0}) {
			t.Fatalf("tick %d: %v, %v; want the lag despite DescribeGroups failing", i, s.Lags, err)
		}
		if s.Members != nil {
			t.Fatalf("tick %d: Members = %+v, want nil", i, s.Members)
		}
	}
	if n := logs.Count("group membership unknown"); n != 1 {
		t.Errorf("%d 'membership unknown' lines over 3 failing ticks, want 1:\n%s", n, logs.String())
	}
	if n := logs.Count(`"level":"warn"`) + logs.Count(`"level":"error"`); n != 0 {
		t.Errorf("DescribeGroups failures logged above debug:\n%s", logs.String())
	}
	failing.Store(false)
	for i := 3; i < 5; i++ {
		if m := membersAt(t, c, "mm-a", "orders", i); m == nil || m.State != "Empty" {
			t.Fatalf("tick %d after recovery: Members = %+v, want State Empty", i, m)
		}
	}
	if n := logs.Count("group membership known again"); n != 1 {
		t.Errorf("%d 'membership known again' lines, want 1:\n%s", n, logs.String())
	}
}

// NOT_COORDINATOR on DescribeGroups makes the tick look the coordinator up
// again and describe the group there. (mm-a lags and does not commit, so a
// tick MembersMaxAge after the first describes it again.)
func TestMembersNotCoordinatorOnce(t *testing.T) {
	f := seedLagCluster(t)
	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("mm-a", "orders")()
	membersAt(t, c, "mm-a", "orders", 0)
	var once atomic.Bool
	describeGroupsAnswer(f, kafkago.NotCoordinatorForGroup, func() bool { return once.CompareAndSwap(false, true) })
	f.count.take()
	later := int(DefaultMembersMaxAge / time.Second)
	if m := membersAt(t, c, "mm-a", "orders", later); m == nil || m.State != "Empty" {
		t.Fatalf("tick %d: Members = %+v, want State Empty", later, m)
	}
	n := f.count.take()
	if n[kmsg.FindCoordinator] != 1 || n[kmsg.DescribeGroups] != 2 || n[kmsg.OffsetFetch] != 1 {
		t.Errorf("requests = %v, want 1 FindCoordinator, 2 DescribeGroups and 1 OffsetFetch", n)
	}
}
