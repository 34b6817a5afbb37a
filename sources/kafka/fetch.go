package kafka

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/findcoordinator"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"

	"github.com/lagship/lagship/pipeline"
)

// metadataSnapshot is one Metadata answer, never modified once stored.
type metadataSnapshot struct {
	at      time.Time          // tick time of the request
	asked   map[string]bool    // topics the request named
	brokers map[int32]string   // node id -> host:port
	leaders map[string][]int32 // topic -> leader per partition, -1 = none
	missing map[string]bool    // asked for, unknown to the cluster
	errs    map[string]error   // asked for, answered with another error
}

// needsRefresh reports whether a fetch of topics at now must refresh the
// partition map first.
func (c *Cluster) needsRefresh(md *metadataSnapshot, stale bool, now time.Time, topics []string) bool {
	if md == nil || stale || now.Sub(md.at) >= c.cfg.MetadataMaxAge {
		return true
	}
	backoff := now.Sub(md.at) >= c.cfg.UnknownBackoff
	for _, t := range topics {
		if !md.asked[t] {
			return true
		}
		if backoff && (md.missing[t] || md.errs[t] != nil) {
			return true
		}
	}
	return false
}

// metadata returns the partition map for a fetch of topics at now,
// refreshing it if needed (or if force). When a refresh fails it returns the
// previous map, if any, with the error.
func (c *Cluster) metadata(ctx context.Context, now time.Time, topics []string, force bool) (*metadataSnapshot, error) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.mu.Lock()
	md, stale := c.meta, c.stale
	c.mu.Unlock()
	if !force && !c.needsRefresh(md, stale, now, topics) {
		return md, nil
	}
	// Ask for every watched topic, so one refresh serves all of them.
	// The watch set is sorted: finding a topic in it is a binary search,
	// not a scan per topic (10,000 topics made that 50 million string
	// comparisons at every refresh).
	watched := c.watchSet().topics
	names := watched
	for _, t := range topics {
		if _, found := slices.BinarySearch(watched, t); !found {
			if len(names) == len(watched) {
				names = slices.Clone(watched) // the set is shared
			}
			names = append(names, t)
		}
	}
	fresh, addr, err := c.requestMetadata(ctx, md, names)
	if err != nil {
		err = fmt.Errorf("refreshing metadata of cluster %q: %w", c.cfg.Name, err)
		c.noteError(err)
		return md, err
	}
	fresh.at = now
	c.mu.Lock()
	c.meta, c.stale, c.lastMeta = fresh, false, addr
	c.stats.MetadataRefreshes++
	c.mu.Unlock()
	c.log.Debug().Int("topics", len(names)).Int("brokers", len(fresh.brokers)).Msg("metadata refreshed")
	return fresh, nil
}

// requestMetadata sends one Metadata request for names and indexes the
// answer.
func (c *Cluster) requestMetadata(ctx context.Context, prev *metadataSnapshot, names []string) (*metadataSnapshot, string, error) {
	if names == nil {
		names = []string{} // an empty list asks for no topic; nil would ask for all
	}
	r, addr, err := c.anyBroker(ctx, prev, &metadata.Request{TopicNames: names})
	if err != nil {
		return nil, "", err
	}
	res := r.(*metadata.Response)
	md := &metadataSnapshot{
		asked:   make(map[string]bool, len(names)),
		brokers: make(map[int32]string, len(res.Brokers)),
		leaders: make(map[string][]int32, len(res.Topics)),
		missing: make(map[string]bool),
		errs:    make(map[string]error),
	}
	for _, t := range names {
		md.asked[t] = true
	}
	for _, b := range res.Brokers {
		md.brokers[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	for _, t := range res.Topics {
		switch kafkago.Error(t.ErrorCode) {
		case 0:
		case kafkago.UnknownTopicOrPartition:
			md.missing[t.Name] = true
			continue
		default:
			md.errs[t.Name] = kafkago.Error(t.ErrorCode)
			continue
		}
		n := 0
		for _, p := range t.Partitions {
			n = max(n, int(p.PartitionIndex)+1)
		}
		leaders := make([]int32, n)
		for i := range leaders {
			leaders[i] = -1
		}
		for _, p := range t.Partitions {
			if p.PartitionIndex >= 0 && p.ErrorCode == 0 {
				leaders[p.PartitionIndex] = p.LeaderID
			}
		}
		md.leaders[t.Name] = leaders
	}
	// A topic the broker left out of the answer is as good as missing.
	for _, t := range names {
		if _, ok := md.leaders[t]; !ok && md.errs[t] == nil {
			md.missing[t] = true
		}
	}
	return md, addr, nil
}

// snapshot is the result of one fetch.
type snapshot struct {
	// tops is the result of each of the fetch's topics, in the order of
	// its set, which index gives (the set's, made once a set: a tick does
	// not build a map of its topics).
	index   map[string]int32
	tops    []*topicEnds
	ver     uint64 // the set's version: index is the same for every fetch of it (0: unversioned)
	groups  map[string]*groupOffsets
	members map[string]*groupMembers // every group of the fetch

	// A shared fetch's snapshot reuses buffers (see reuse.go): refs
	// counts its readers, bufs are its slices, pool takes them back.
	refs atomic.Int64
	pool *snapPool
	bufs *snapBufs
}

// topic is topic's result, nil when the fetch did not have it.
func (s *snapshot) topic(topic string) *topicEnds {
	i, ok := s.index[topic]
	if !ok {
		return nil
	}
	return s.tops[i]
}

// topicEnds holds the log-end offsets of one topic.
type topicEnds struct {
	ends     []int64 // index = partition, -1 = unknown
	known    int     // partitions with a known offset
	err      error   // topic-level state or failure (not found, metadata error)
	fetchErr error   // why some partitions are unknown
}

// groupOffsets holds one group's committed offsets.
type groupOffsets struct {
	plan    *groupFetch // the request: which topics, where their offsets are in slab
	slab    []int64     // committed offset per partition of plan's topics, -1 = none
	noGroup bool        // the coordinator does not know the group
	err     error       // the request failed
}

// topicHint is where a worker's topic was in the latest fetch, so that
// the next fetch of the same set and plan finds it without a lookup by
// name among every topic's (pipeline.Buffer's Hint).
type topicHint struct {
	src   *source // whose topic: a hint of another holds nothing
	topic string
	ver   uint64 // the set whose index i is; 0: none
	i     int32
	gp    *groupFetch // the group plan gi is the topic's place in; nil: none
	gi    int32
}

// hinted is topic's result, through h when it holds (and then updated).
func (s *snapshot) hinted(topic string, h *topicHint) *topicEnds {
	if s.ver != 0 && h.ver == s.ver {
		return s.tops[h.i]
	}
	i, ok := s.index[topic]
	if !ok {
		return nil
	}
	if s.ver != 0 {
		h.ver, h.i = s.ver, i
	}
	return s.tops[i]
}

// hinted is what offsetsOf and covers say of topic, through h when it
// holds (and then updated).
func (g *groupOffsets) hinted(topic string, h *topicHint) (offs []int64, covered bool) {
	i := h.gi
	if h.gp != g.plan {
		var ok bool
		if i, ok = g.plan.index[topic]; !ok {
			return nil, false
		}
		h.gp, h.gi = g.plan, i
	}
	if i < 0 {
		return nil, true
	}
	return g.topicAt(int(i)), true
}

// offsetsOf is topic's committed offsets (index = partition), nil when
// the request did not ask for the topic (not covered, or not found).
func (g *groupOffsets) offsetsOf(topic string) []int64 {
	i, ok := g.plan.index[topic]
	if !ok || i < 0 {
		return nil
	}
	return g.topicAt(int(i))
}

// topicAt is the committed offsets of the request's i-th topic.
func (g *groupOffsets) topicAt(i int) []int64 {
	from, to := g.plan.starts[i], g.plan.starts[i+1]
	return g.slab[from:to:to]
}

// reset marks every committed offset unknown again.
func (g *groupOffsets) reset() {
	for i := range g.slab {
		g.slab[i] = -1
	}
}

// retriable reports whether a ListOffsets partition error means the
// partition map is out of date.
func retriable(code kafkago.Error) bool {
	switch code {
	case kafkago.UnknownTopicOrPartition, kafkago.LeaderNotAvailable, kafkago.NotLeaderForPartition,
		kafkago.FencedLeaderEpoch, kafkago.UnknownLeaderEpoch, kafkago.ReplicaNotAvailable,
		kafkago.OffsetNotAvailable, kafkago.KafkaStorageError:
		return true
	}
	return false
}

// fetch runs one request set for set at tick time now.
func (c *Cluster) fetch(ctx context.Context, now time.Time, set fetchSet) (*snapshot, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	md, err := c.metadata(ctx, now, set.topics, false)
	if md == nil {
		return nil, err
	}
	snap := &snapshot{
		ver:    set.ver,
		index:  set.index,
		groups: make(map[string]*groupOffsets, len(set.groups)),
	}
	// The shared fetch fills the slices of an earlier one that nothing
	// reads any more; a fetch alone has slices of its own.
	bufs := &snapBufs{}
	if !set.alone {
		bufs = c.pool.get()
		snap.pool, snap.bufs = &c.pool, bufs
	}
	if cap(bufs.tops) < len(set.topics) {
		bufs.tops = make([]*topicEnds, len(set.topics))
	}
	snap.tops = bufs.tops[:len(set.topics)]
	// The requests depend only on the partition map and the set: the
	// shared fetch reuses those of the previous tick while neither changed.
	reqs, sizes := c.plannedRequests(md, set)
	var pending map[string][]int32
	if reqs == nil {
		pending = make(map[string][]int32)
	}
	// The topics' results and their offsets come from a few large
	// allocations, not two per topic.
	if cap(bufs.tes) < len(set.topics) {
		bufs.tes = make([]topicEnds, len(set.topics))
	}
	tes := bufs.tes[:len(set.topics)]
	clear(tes)
	if sizes != nil {
		// The plan knows each topic's partition count: no lookups in
		// the partition map's per-topic maps.
		bufs.ends = sizedInt64s(bufs.ends, sizes.total)
		ends := bufs.ends
		for i, n := range sizes.parts {
			if n < 0 {
				var one int64Chunks
				snap.tops[i] = c.newTopicEnds(md, set.topics[i], nil, &tes[i], &one)
				continue
			}
			te := &tes[i]
			te.ends, ends = ends[:n:n], ends[n:]
			for p := range te.ends {
				te.ends[p] = -1
			}
			snap.tops[i] = te
		}
	} else {
		sizes = &topicSizes{parts: make([]int32, len(set.topics))}
		var ends int64Chunks
		for i, t := range set.topics {
			te := c.newTopicEnds(md, t, pending, &tes[i], &ends)
			snap.tops[i] = te
			sizes.parts[i] = -1
			if te == &tes[i] {
				sizes.parts[i] = int32(len(te.ends))
				sizes.total += len(te.ends)
			}
		}
	}
	var retry map[string][]int32
	var lerr error
	if reqs == nil {
		reqs, retry, lerr = buildListOffsets(md, set.topics, pending)
		if len(retry) == 0 && set.ver != 0 {
			c.keepPlan(md, set, reqs, sizes)
		}
	}

	var wg sync.WaitGroup
	var gmu sync.Mutex
	for g := range bufs.slabs {
		if _, ok := set.groups[g]; !ok {
			delete(bufs.slabs, g)
		}
	}
	for g, topics := range set.groups {
		gmu.Lock() // the goroutines started before put their slabs back
		slab := bufs.slabs[g]
		gmu.Unlock()
		wg.Go(func() {
			res := c.fetchGroup(ctx, md, g, topics, set.ver, slab)
			gmu.Lock()
			snap.groups[g] = res
			if bufs.slabs != nil {
				bufs.slabs[g] = res.slab
			}
			gmu.Unlock()
		})
	}
	retry, lerr = c.listEnds(ctx, md, snap, reqs, retry, lerr)
	if len(retry) > 0 && ctx.Err() == nil {
		// Leadership moved or a broker is gone: refresh the map once and
		// ask again for the partitions that failed.
		c.mu.Lock()
		c.stale = true
		c.mu.Unlock()
		if md2, err := c.metadata(ctx, now, set.topics, true); err == nil {
			for t := range retry {
				if md2.missing[t] {
					snap.tops[snap.index[t]] = &topicEnds{err: c.topicNotFound(t)}
					delete(retry, t)
				}
			}
			reqs, pending, perr := buildListOffsets(md2, set.topics, retry)
			retry, lerr = c.listEnds(ctx, md2, snap, reqs, pending, perr)
		}
	}
	wg.Wait()
	if lerr != nil {
		for t, parts := range retry {
			te := snap.topic(t)
			te.fetchErr = fmt.Errorf("log-end offsets of %d partition(s) of topic %q: %w", len(parts), t, lerr)
		}
		c.noteError(lerr)
	}
	if len(set.groups) > 0 {
		// Only now are the committed and log-end offsets in that tell
		// which groups may be stalled.
		snap.members = c.members(ctx, md, now, set, snap)
	}
	return snap, nil
}

func (c *Cluster) topicNotFound(topic string) error {
	return fmt.Errorf("topic %q on cluster %q: %w", topic, c.cfg.Name, pipeline.ErrTopicNotFound)
}

// newTopicEnds prepares the result of one topic and queues its partitions.
// te is where to make it, ends what its offsets are taken from.
func (c *Cluster) newTopicEnds(md *metadataSnapshot, t string, pending map[string][]int32, te *topicEnds, ends *int64Chunks) *topicEnds {
	switch {
	case md.missing[t]:
		return &topicEnds{err: c.topicNotFound(t)}
	case md.errs[t] != nil:
		return &topicEnds{err: fmt.Errorf("metadata of topic %q on cluster %q: %w", t, c.cfg.Name, md.errs[t])}
	}
	leaders, ok := md.leaders[t]
	if !ok {
		// Only when a refresh failed and the old map predates the topic.
		return &topicEnds{err: fmt.Errorf("topic %q on cluster %q: no metadata yet", t, c.cfg.Name)}
	}
	te.ends = ends.take(len(leaders))
	for p := range te.ends {
		te.ends[p] = -1
	}
	if pending != nil {
		parts := make([]int32, len(leaders))
		for p := range parts {
			parts[p] = int32(p)
		}
		pending[t] = parts
	}
	return te
}

// int64Chunks hands out slices of larger allocations.
type int64Chunks struct{ free []int64 }

func (a *int64Chunks) take(n int) []int64 {
	if len(a.free) < n {
		a.free = make([]int64, max(n, 4096))
	}
	s := a.free[:n:n]
	a.free = a.free[n:]
	return s
}

// requestPlan is the shared fetch's ListOffsets requests for one partition
// map and one watch set (the Cluster keeps the last one).
type requestPlan struct {
	md     *metadataSnapshot
	set    uint64 // fetchSet.ver
	reqs   map[int32]*listoffsets.Request
	sizes  *topicSizes
	groups map[string]*groupFetch // each checks its own md and set
}

// topicSizes is the partition count of each topic of a set (in its
// order) in one partition map; -1 for a topic that map has no partitions
// of (not found, failed, not known yet).
type topicSizes struct {
	parts []int32
	total int
}

// plannedRequests returns the kept requests and topic sizes when they
// are for md and set; nil otherwise.
func (c *Cluster) plannedRequests(md *metadataSnapshot, set fetchSet) (map[int32]*listoffsets.Request, *topicSizes) {
	if set.ver == 0 {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.plan.md != md || c.plan.set != set.ver {
		return nil, nil
	}
	return c.plan.reqs, c.plan.sizes
}

// keepPlan keeps reqs and sizes, the requests and topic sizes of md and
// set, for the next ticks. They are only read from then on.
func (c *Cluster) keepPlan(md *metadataSnapshot, set fetchSet, reqs map[int32]*listoffsets.Request, sizes *topicSizes) {
	c.mu.Lock()
	c.plan.md, c.plan.set, c.plan.reqs, c.plan.sizes = md, set.ver, reqs, sizes
	for g, gp := range c.plan.groups {
		if gp.md != md || gp.ver != set.ver {
			delete(c.plan.groups, g) // made again if still watched
		}
	}
	c.mu.Unlock()
}

// buildListOffsets makes one ListOffsets request per leader broker for the
// pending partitions, in order of topics; it returns the partitions without
// a leader, with the last such error.
func buildListOffsets(md *metadataSnapshot, order []string, pending map[string][]int32) (map[int32]*listoffsets.Request, map[string][]int32, error) {
	retry := make(map[string][]int32)
	var lastErr error
	byLeader := make(map[int32]*listoffsets.Request)
	for _, t := range order {
		parts := pending[t]
		if len(parts) == 0 {
			continue
		}
		leaders := md.leaders[t]
		var reqTopic *listoffsets.RequestTopic
		var reqLeader int32 = -2
		for _, p := range parts {
			l := int32(-1)
			if int(p) < len(leaders) {
				l = leaders[p]
			}
			if l < 0 || md.brokers[l] == "" {
				retry[t] = append(retry[t], p)
				lastErr = fmt.Errorf("partition %d of topic %q has no leader", p, t)
				continue
			}
			req := byLeader[l]
			if req == nil {
				req = &listoffsets.Request{ReplicaID: -1}
				byLeader[l] = req
			}
			if reqLeader != l {
				// Partitions of a topic usually alternate leaders: find
				// this topic's entry in that broker's request.
				reqTopic = nil
				if n := len(req.Topics); n > 0 && req.Topics[n-1].Topic == t {
					reqTopic = &req.Topics[n-1]
				}
				if reqTopic == nil {
					req.Topics = append(req.Topics, listoffsets.RequestTopic{Topic: t})
					reqTopic = &req.Topics[len(req.Topics)-1]
				}
				reqLeader = l
			}
			reqTopic.Partitions = append(reqTopic.Partitions, listoffsets.RequestPartition{
				Partition: p, CurrentLeaderEpoch: -1, Timestamp: -1,
			})
		}
	}
	return byLeader, retry, lastErr
}

// listEnds sends the ListOffsets requests (one per leader broker) and
// stores the answers in snap. It returns the partitions that failed in a
// way a fresher partition map may cure (those of retry, without a leader,
// among them), with the last error.
func (c *Cluster) listEnds(ctx context.Context, md *metadataSnapshot, snap *snapshot, byLeader map[int32]*listoffsets.Request, retry map[string][]int32, lastErr error) (map[string][]int32, error) {
	if retry == nil {
		retry = make(map[string][]int32)
	}
	type result struct {
		retry map[string][]int32
		err   error
	}
	results := make(chan result, len(byLeader))
	for leader, req := range byLeader {
		addr := md.brokers[leader]
		go func() {
			r := result{retry: make(map[string][]int32)}
			// The answer is read in place: a topic name is copied only
			// when a partition of it failed.
			var te *topicEnds
			var teName []byte
			err := c.conn(addr).callSame(ctx, protocol.ListOffsets, req,
				func(w []byte, v int16) ([]byte, error) { return appendListOffsets(w, v, req) },
				func(body []byte, v int16) error {
					return parseListOffsets(body, v, func(topic []byte, p listOffsetsPartition) {
						if te == nil || string(topic) != string(teName) {
							te, teName = snap.topic(string(topic)), topic
						}
						if te == nil || te.ends == nil || p.Partition < 0 || int(p.Partition) >= len(te.ends) {
							return
						}
						code := kafkago.Error(p.ErrorCode)
						switch {
						case code == 0 && p.Offset >= 0:
							te.ends[p.Partition] = p.Offset // partitions are disjoint between requests
						case retriable(code):
							r.retry[string(topic)] = append(r.retry[string(topic)], p.Partition)
							r.err = fmt.Errorf("broker %s: partition %d of topic %q: %w", addr, p.Partition, topic, code)
						case code != 0:
							r.err = fmt.Errorf("broker %s: partition %d of topic %q: %w", addr, p.Partition, topic, code)
						}
					})
				})
			if err != nil {
				r.err = err
				clear(r.retry)
				for _, t := range req.Topics {
					for _, p := range t.Partitions {
						r.retry[t.Topic] = append(r.retry[t.Topic], p.Partition)
					}
				}
			}
			results <- r
		}()
	}
	for range byLeader {
		r := <-results
		for t, ps := range r.retry {
			retry[t] = append(retry[t], ps...)
		}
		if r.err != nil {
			lastErr = r.err
		}
	}
	for _, te := range snap.tops {
		if te != nil {
			te.known = 0
			for _, e := range te.ends {
				if e >= 0 {
					te.known++
				}
			}
		}
	}
	return retry, lastErr
}

// fetchGroup reads the committed offsets of group for topics with one
// OffsetFetch request to its coordinator (plus FindCoordinator when the
// coordinator is unknown or has moved).
//
// ver is the watch set's (fetchSet.ver; 0 for another set): while it and
// md stay the same, the request and the topics it covers are those of the
// previous tick, and only the offsets are new.
//
// slab, when long enough, is where the offsets go (an earlier fetch's).
func (c *Cluster) fetchGroup(ctx context.Context, md *metadataSnapshot, group string, topics []string, ver uint64, slab []int64) *groupOffsets {
	gp := c.groupPlan(md, group, topics, ver)
	req := gp.req
	// The topics and where their offsets go are the plan's: a tick
	// allocates only the offsets.
	g := &groupOffsets{plan: gp, slab: sizedInt64s(slab, int(gp.starts[len(gp.starts)-1]))}
	g.reset()
	if len(req.Topics) == 0 {
		return g
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var addr string
		if addr, err = c.coordinator(ctx, md, group); err != nil {
			continue
		}
		// Offsets are stored as the answer is read, before its group-level
		// error code (at its end) is known; any error below discards them.
		// Before v2 there is no group-level code: the coordinator puts its
		// errors on every partition instead, and they count as the group's.
		var groupCode, partCode int16
		var offs []int64
		var offsName []byte
		err = c.conn(addr).callSame(ctx, protocol.OffsetFetch, req,
			func(w []byte, v int16) ([]byte, error) { return appendOffsetFetch(w, v, req) },
			func(body []byte, v int16) error {
				var err error
				groupCode, err = parseOffsetFetch(body, v, func(topic []byte, p offsetFetchPartition) {
					if offs == nil || string(topic) != string(offsName) {
						offs, offsName = g.offsetsOf(string(topic)), topic
					}
					if p.Partition < 0 || int(p.Partition) >= len(offs) {
						return
					}
					if p.ErrorCode == 0 && p.Committed >= 0 {
						offs[p.Partition] = p.Committed
					} else if partCode == 0 && coordinatorError(kafkago.Error(p.ErrorCode)) {
						partCode = p.ErrorCode
					}
				})
				return err
			})
		if groupCode == 0 {
			groupCode = partCode
		}
		if err != nil {
			g.reset()
			c.forgetCoordinator(group)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if groupCode != 0 {
			g.reset()
		}
		switch code := kafkago.Error(groupCode); {
		case code == 0:
		case code == kafkago.GroupIdNotFound:
			// kfake (and newer brokers for an unknown group) answer
			// GROUP_ID_NOT_FOUND; older brokers answer -1 offsets.
			g.noGroup = true
			return g
		case coordinatorError(code):
			c.forgetCoordinator(group)
			err = fmt.Errorf("coordinator %s: %w", addr, code)
			continue
		default:
			err = fmt.Errorf("coordinator %s: %w", addr, code)
			attempt = 2 // not worth a retry
			continue
		}
		return g
	}
	g.err = fmt.Errorf("fetching committed offsets of group %q on cluster %q: %w", group, c.cfg.Name, err)
	c.noteError(g.err)
	return g
}

// coordinatorError reports whether an OffsetFetch error code means the
// group's coordinator has to be looked up again.
func coordinatorError(code kafkago.Error) bool {
	switch code {
	case kafkago.NotCoordinatorForGroup, kafkago.GroupCoordinatorNotAvailable, kafkago.GroupLoadInProgress:
		return true
	}
	return false
}

// coordinator returns the address of group's coordinator, asking any broker
// when it is not cached. Concurrent lookups of one group (its OffsetFetch
// and its DescribeGroups) share one FindCoordinator request.
func (c *Cluster) coordinator(ctx context.Context, md *metadataSnapshot, group string) (string, error) {
	c.mu.Lock()
	addr := c.coords[group]
	c.mu.Unlock()
	if addr != "" {
		return addr, nil
	}
	v, err, _ := c.coordFlight.Do(group, func() (any, error) {
		return c.findCoordinator(ctx, md, group)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// findCoordinator asks any broker for group's coordinator and caches it.
func (c *Cluster) findCoordinator(ctx context.Context, md *metadataSnapshot, group string) (string, error) {
	c.mu.Lock()
	addr := c.coords[group]
	c.mu.Unlock()
	if addr != "" {
		return addr, nil // found by a lookup that ended a moment ago
	}
	r, _, err := c.anyBroker(ctx, md, &findcoordinator.Request{Key: group})
	if err != nil {
		return "", fmt.Errorf("finding coordinator: %w", err)
	}
	res := r.(*findcoordinator.Response)
	if res.ErrorCode != 0 {
		err := error(kafkago.Error(res.ErrorCode))
		if res.ErrorMessage != "" {
			err = fmt.Errorf("%w: %s", err, res.ErrorMessage)
		}
		return "", fmt.Errorf("finding coordinator: %w", err)
	}
	addr = md.brokers[res.NodeID]
	if addr == "" {
		addr = net.JoinHostPort(res.Host, strconv.Itoa(int(res.Port)))
	}
	c.mu.Lock()
	c.coords[group] = addr
	c.mu.Unlock()
	return addr, nil
}

// groupFetch is one group's OffsetFetch request for a partition map and a
// watch set, and the topics it covers; only read once made.
type groupFetch struct {
	md  *metadataSnapshot
	ver uint64
	req *offsetfetch.Request
	// index is every topic the fetch covers, with its place in
	// req.Topics (-1: not asked for, the topic was not found), and starts
	// where the offsets of each of req.Topics begin in a tick's slab (the
	// last entry is the slab's length).
	index  map[string]int32
	starts []int
}

// groupPlan returns group's request for md and topics, the kept one when
// it is for the same partition map and watch set.
func (c *Cluster) groupPlan(md *metadataSnapshot, group string, topics []string, ver uint64) *groupFetch {
	if ver != 0 {
		c.mu.Lock()
		gp := c.plan.groups[group]
		c.mu.Unlock()
		if gp != nil && gp.md == md && gp.ver == ver {
			return gp
		}
	}
	gp := &groupFetch{md: md, ver: ver, req: &offsetfetch.Request{GroupID: group}, index: make(map[string]int32, len(topics)), starts: []int{0}}
	for _, t := range topics {
		leaders, ok := md.leaders[t]
		if !ok {
			gp.index[t] = -1
			continue // topic not found: reported by its topicEnds
		}
		parts := make([]int32, len(leaders))
		for p := range parts {
			parts[p] = int32(p)
		}
		gp.index[t] = int32(len(gp.req.Topics))
		gp.starts = append(gp.starts, gp.starts[len(gp.starts)-1]+len(parts))
		gp.req.Topics = append(gp.req.Topics, offsetfetch.RequestTopic{Name: t, PartitionIndexes: parts})
	}
	if ver != 0 {
		c.mu.Lock()
		if c.plan.groups == nil {
			c.plan.groups = map[string]*groupFetch{}
		}
		c.plan.groups[group] = gp
		c.mu.Unlock()
	}
	return gp
}

func (c *Cluster) forgetCoordinator(group string) {
	c.mu.Lock()
	delete(c.coords, group)
	c.mu.Unlock()
}
