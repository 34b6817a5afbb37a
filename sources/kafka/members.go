package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/describegroups"

	"github.com/lagship/lagship/pipeline"
)

// consumerProtocol is the protocol type of groups whose member assignments
// are ConsumerProtocolAssignment records.
const consumerProtocol = "consumer"

// groupMembers is one group's membership as DescribeGroups answered it at
// one tick.
type groupMembers struct {
	state   string
	active  int
	decoded bool               // some member's assignment was decoded
	owned   map[string][]int32 // topic -> partitions some member's assignment holds
	err     error              // the group could not be described

	// The views membership returned, kept for the ticks until the next
	// description, which every topic's sample shares (a sample's reader
	// never changes it): without them, 10,000 topics would allocate
	// 10,000 views a tick.
	plain atomic.Pointer[pipeline.Membership] // !decoded: one for every topic
	views sync.Map                            // decoded: topic -> *pipeline.Membership
}

// membership returns the sample's view of m for topic, which has n
// partitions; nil when the group could not be described. The view is
// shared: its reader must not change it.
func (m *groupMembers) membership(topic string, n int) *pipeline.Membership {
	if m == nil || m.err != nil {
		return nil
	}
	if !m.decoded {
		if ms := m.plain.Load(); ms != nil {
			return ms
		}
		ms := &pipeline.Membership{State: m.state, Active: m.active}
		m.plain.Store(ms)
		return ms
	}
	if v, ok := m.views.Load(topic); ok {
		if ms := v.(*pipeline.Membership); len(ms.Owned) == n {
			return ms
		}
	}
	ms := &pipeline.Membership{State: m.state, Active: m.active, Owned: make([]bool, n)}
	for _, p := range m.owned[topic] {
		if p >= 0 && int(p) < n {
			ms.Owned[p] = true
		}
	}
	m.views.Store(topic, ms)
	return ms
}

// membersOf indexes one group of a DescribeGroups answer.
func membersOf(g *describegroups.ResponseGroup) *groupMembers {
	m := &groupMembers{state: g.GroupState, active: len(g.Members)}
	if g.ProtocolType != consumerProtocol {
		return m
	}
	for _, mem := range g.Members {
		err := decodeAssignment(mem.MemberAssignment, func(topic []byte, p int32) {
			if m.owned == nil {
				m.owned = make(map[string][]int32)
			}
			m.owned[string(topic)] = append(m.owned[string(topic)], p)
		})
		if err == nil {
			m.decoded = true
		}
	}
	return m
}

// errAssignment means member assignment bytes are not a
// ConsumerProtocolAssignment this package can read.
var errAssignment = errors.New("malformed consumer protocol assignment")

// decodeAssignment reads a ConsumerProtocolAssignment: an int16 version,
// then an array of (topic string, array of int32 partitions). What follows
// (user data, fields of newer versions) is ignored, so every version
// decodes. visit is called for each assigned partition only once the whole
// array has been read; an assignment that ends early, or an empty one (a
// member whose group is rebalancing), is an error and visits nothing.
// topic is only valid during the call.
func decodeAssignment(b []byte, visit func(topic []byte, partition int32)) error {
	if len(b) < 2 || int16(binary.BigEndian.Uint16(b)) < 0 {
		return errAssignment
	}
	if err := walkAssignment(b[2:], nil); err != nil {
		return err
	}
	return walkAssignment(b[2:], visit)
}

// walkAssignment reads the topic array at the start of b, calling visit
// (when not nil) for each partition.
func walkAssignment(b []byte, visit func([]byte, int32)) error {
	n, b, ok := readArrayLen(b, 2+4) // a topic takes at least its name length and partition count
	if !ok {
		return errAssignment
	}
	for range n {
		if len(b) < 2 {
			return errAssignment
		}
		l := int16(binary.BigEndian.Uint16(b))
		if l < 0 || len(b) < 2+int(l) {
			return errAssignment
		}
		topic := b[2 : 2+int(l)]
		b = b[2+int(l):]
		var np int
		if np, b, ok = readArrayLen(b, 4); !ok {
			return errAssignment
		}
		for i := range np {
			if visit != nil {
				visit(topic, int32(binary.BigEndian.Uint32(b[4*i:])))
			}
		}
		b = b[4*np:]
	}
	return nil
}

// readArrayLen reads an int32 array length at the start of b, checking
// that b holds that many elements of at least size bytes. A null array
// (-1) is empty.
func readArrayLen(b []byte, size int) (int, []byte, bool) {
	if len(b) < 4 {
		return 0, nil, false
	}
	n := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	switch {
	case n == -1:
		return 0, b, true
	case n < 0 || int64(n)*int64(size) > int64(len(b)):
		return 0, nil, false
	}
	return int(n), b, true
}

// memberCache is what a Cluster keeps of one group between ticks to decide
// whether the next tick describes it. last is an earlier fetch's, never
// modified once made; prev is a copy (a shared fetch's offsets are
// reused once its tick is over), made and read under Cluster.mu.
type memberCache struct {
	last *groupMembers // latest successful description; nil before the first or after a failed one
	at   time.Time     // tick time of last
	prev *groupOffsets // committed offsets of the latest shared fetch that read them
	kept groupOffsets  // what prev points to once set
}

// keepPrev copies offs into prev.
func (mc *memberCache) keepPrev(offs *groupOffsets) {
	mc.kept = groupOffsets{plan: offs.plan, slab: append(mc.kept.slab[:0], offs.slab...), noGroup: offs.noGroup}
	mc.prev = &mc.kept
}

// members returns the membership of every group of set for snap, whose
// committed and log-end offsets are in. A group is described again (one
// DescribeGroups per coordinator for all of them) when it has no
// successful description, or when it may be stalled (see mayStall) and its
// description is MembersMaxAge old or older at now; every other group gets
// its latest description, and costs no request.
func (c *Cluster) members(ctx context.Context, md *metadataSnapshot, now time.Time, set fetchSet, snap *snapshot) map[string]*groupMembers {
	out := make(map[string]*groupMembers, len(set.groups))
	var describe []string
	c.mu.Lock()
	for g := range set.groups {
		mc := c.memberCache[g]
		if mc == nil || mc.last == nil ||
			(now.Sub(mc.at) >= c.cfg.MembersMaxAge && mayStall(mc.prev, snap.groups[g], snap)) {
			describe = append(describe, g)
			continue
		}
		out[g] = mc.last
	}
	c.mu.Unlock()
	var described map[string]*groupMembers
	if len(describe) > 0 {
		described = c.describeGroups(ctx, md, describe)
		maps.Copy(out, described)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for g := range set.groups {
		if c.groups[g] == nil {
			continue // unwatched during the fetch
		}
		mc := c.memberCache[g]
		if mc == nil {
			mc = &memberCache{}
			c.memberCache[g] = mc
		}
		if m, ok := described[g]; ok {
			switch {
			case m.err != nil:
				mc.last = nil // the next tick describes the group again
			case mc.last == nil || !now.Before(mc.at):
				mc.last, mc.at = m, now
			}
		}
		// A fetch alone holds one topic only, and a failed OffsetFetch no
		// offset: neither tells of the next tick's moves.
		if offs := snap.groups[g]; !set.alone && offs != nil && offs.err == nil {
			mc.keepPrev(offs)
		}
	}
	return out
}

// mayStall reports whether some partition of cur has a known committed
// offset below its known log-end offset that equals its committed offset
// in prev: the group may be stalled there.
func mayStall(prev, cur *groupOffsets, snap *snapshot) bool {
	if prev == nil || cur == nil || cur.err != nil || cur.noGroup {
		return false
	}
	for i, rt := range cur.plan.req.Topics {
		offs := cur.topicAt(i)
		before, te := prev.offsetsOf(rt.Name), snap.topic(rt.Name)
		if before == nil || te == nil {
			continue
		}
		for p, o := range offs {
			if o >= 0 && p < len(before) && before[p] == o && p < len(te.ends) && te.ends[p] > o {
				return true
			}
		}
	}
	return false
}

// describeGroups describes groups with one DescribeGroups request per
// group coordinator, looking coordinators up (again) as fetchGroup does.
// Every group gets an entry; a group that could not be described has err
// set.
func (c *Cluster) describeGroups(ctx context.Context, md *metadataSnapshot, groups []string) map[string]*groupMembers {
	out := make(map[string]*groupMembers, len(groups))
	errs := make(map[string]error, len(groups))
	var mu sync.Mutex // guards out, errs and retry
	pending := slices.Sorted(slices.Values(groups))
	for attempt := 0; attempt < 2 && len(pending) > 0 && ctx.Err() == nil; attempt++ {
		var retry []string
		byCoord := make(map[string][]string)
		var wg sync.WaitGroup
		for _, g := range pending {
			wg.Go(func() {
				addr, err := c.coordinator(ctx, md, g)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs[g] = err
					retry = append(retry, g)
					return
				}
				byCoord[addr] = append(byCoord[addr], g)
			})
		}
		wg.Wait()
		for addr, gs := range byCoord {
			slices.Sort(gs)
			wg.Go(func() {
				res, err := c.describeAt(ctx, addr, gs)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					for _, g := range gs {
						c.forgetCoordinator(g)
						errs[g] = err
					}
					retry = append(retry, gs...)
					return
				}
				for _, g := range gs {
					rg := res[g]
					if rg == nil {
						errs[g] = fmt.Errorf("coordinator %s left the group out of its answer", addr)
						continue
					}
					switch code := kafkago.Error(rg.ErrorCode); {
					case code == 0:
						out[g] = membersOf(rg)
					case code == kafkago.GroupIdNotFound:
						// Newer brokers' answer for a group they do not
						// know; older ones answer state Dead.
						out[g] = &groupMembers{state: "Dead"}
					case coordinatorError(code):
						c.forgetCoordinator(g)
						errs[g] = fmt.Errorf("coordinator %s: %w", addr, code)
						retry = append(retry, g)
					default:
						errs[g] = fmt.Errorf("coordinator %s: %w", addr, code)
					}
				}
			})
		}
		wg.Wait()
		pending = retry
	}
	for _, g := range groups {
		if out[g] == nil {
			err := errs[g]
			if err == nil {
				err = ctx.Err()
			}
			out[g] = &groupMembers{err: fmt.Errorf("describing group %q on cluster %q: %w", g, c.cfg.Name, err)}
		}
	}
	if ctx.Err() == nil {
		c.noteMembers(out) // a cancelled tick says nothing of the group
	}
	return out
}

// describeAt sends one DescribeGroups request for groups to the
// coordinator at addr and indexes the answer by group.
func (c *Cluster) describeAt(ctx context.Context, addr string, groups []string) (map[string]*describegroups.ResponseGroup, error) {
	bc := c.conn(addr)
	if err := bc.connect(ctx); err != nil {
		return nil, err
	}
	if _, ok := bc.version(protocol.DescribeGroups); !ok {
		return nil, fmt.Errorf("broker %s does not offer %s", addr, protocol.DescribeGroups)
	}
	r, err := bc.roundTrip(ctx, &describegroups.Request{Groups: groups})
	if err != nil {
		return nil, err
	}
	res := r.(*describegroups.Response)
	byGroup := make(map[string]*describegroups.ResponseGroup, len(res.Groups))
	for i := range res.Groups {
		byGroup[res.Groups[i].GroupID] = &res.Groups[i]
	}
	return byGroup, nil
}

// noteMembers logs, at debug level, each group whose membership went from
// known to unknown or back since the previous tick: a lasting failure logs
// once. Membership is optional; its failures never fail a tick.
func (c *Cluster) noteMembers(res map[string]*groupMembers) {
	type change struct {
		group string
		err   error
	}
	var changes []change
	c.mu.Lock()
	for g, m := range res {
		failing := m.err != nil
		if failing == c.membersFailing[g] {
			continue
		}
		if failing {
			c.membersFailing[g] = true
		} else {
			delete(c.membersFailing, g)
		}
		changes = append(changes, change{g, m.err})
	}
	c.mu.Unlock()
	for _, ch := range changes {
		if ch.err != nil {
			c.log.Debug().Err(ch.err).Str("group", ch.group).Msg("group membership unknown")
		} else {
			c.log.Debug().Str("group", ch.group).Msg("group membership known again")
		}
	}
}
