// Package kafka is lagship's native source: it reads committed offsets and
// log-end offsets straight from the brokers and turns them into per-partition
// lag.
//
// One Cluster serves every mirror and topic of one Kafka cluster. The workers
// of all topics call Collect on the same aligned tick; the first call of a
// tick fetches, for every watched topic and group at once:
//
//   - one ListOffsets request per partition-leader broker, carrying every
//     watched partition that broker leads (timestamp -1, isolation
//     read_uncommitted: the high watermark, what a consumer can reach);
//   - one OffsetFetch request per consumer group, to its coordinator,
//     carrying every watched topic of that group;
//   - a Metadata request only when the partition map is missing, older than
//     Config.MetadataMaxAge, lacks a newly watched topic, holds an unknown
//     topic for longer than Config.UnknownBackoff, or after a leadership
//     error; FindCoordinator only when a group's coordinator is unknown or
//     moved;
//   - once those answers are in (after them, not alongside), one
//     DescribeGroups request per group coordinator, carrying the watched
//     groups of that broker that are to be described, for each sample's
//     Members. A group is described when it has never been described
//     successfully on this Cluster or its latest description failed; or
//     when it may be stalled — some watched partition has a known committed
//     offset below its known log-end offset, and that committed offset is
//     unchanged since the previous tick fetch that read the group's
//     offsets — and its latest successful
//     description is Config.MembersMaxAge old or older in tick time. Every
//     other group's samples carry its latest successful description and
//     cost no request. A failed description leaves that tick's Members nil
//     and fails nothing; a description not sent is no failure.
//
// The cost of a tick therefore does not grow with the number of topics, and
// once every group has been described it is one request per leader broker
// plus one per group, until a group may be stalled: then one DescribeGroups
// per coordinator of such groups, at most once every MembersMaxAge. The
// status evaluator reads Members only for a partition whose committed offset
// stopped moving (STALL with members, STOP without), so membership need not
// be fresher for any other group.
//
// Connections are kept open across ticks, one per broker.
//
// kafka-go's Client is not used for these requests: Client.ListOffsets splits
// a request into one request per partition, Client.DescribeGroups into one
// per group, Client.OffsetFetch sends a FindCoordinator before every
// OffsetFetch, and Client.Metadata answers from a cache its Transport
// refreshes on its own schedule. The package builds the
// requests with kafka-go's protocol package and sends them over connections
// it dials itself (TLS, ApiVersions and SASL as kafka-go's Transport does).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go/protocol"
	"golang.org/x/sync/singleflight"

	"github.com/lagship/lagship/pipeline"
)

// Cluster is the shared client of one Kafka cluster. It is safe for
// concurrent use.
type Cluster struct {
	cfg  Config
	log  zerolog.Logger
	dial *dialer

	ticks pipeline.PerTick[*snapshot]
	pool  snapPool // buffers of retired shared snapshots

	metaMu sync.Mutex // one metadata request at a time

	coordFlight singleflight.Group // FindCoordinator requests in flight, by group

	mu             sync.Mutex
	closed         bool
	failing        bool                       // requests have been failing since the last fully good tick
	errSeen        bool                       // an error was noted during the current tick
	conns          map[string]*brokerConn     // by host:port
	topics         map[string]int             // Watch reference counts
	groups         map[string]map[string]int  // WatchGroup reference counts
	set            *fetchSet                  // watchSet's answer until a watch changes; nil: to build
	setVer         uint64                     // counts the sets watchSet built
	plan           requestPlan                // the shared fetch's ListOffsets requests (see fetch)
	meta           *metadataSnapshot          // latest partition map, nil before the first
	stale          bool                       // a leadership error asks for a refresh
	lastMeta       string                     // broker that answered the last Metadata
	coords         map[string]string          // group -> coordinator host:port
	membersFailing map[string]bool            // groups whose last DescribeGroups failed
	memberCache    map[string]*memberCache    // by group: what decides the next DescribeGroups
	reqs           map[protocol.ApiKey]uint64 // requests written, by API key
	stats          Stats                      // counters other than reqs
	shared         *snapshot                  // the latest shared fetch's (see share)
}

// NewCluster validates cfg and returns the cluster client. It does not
// connect: connections open on first use.
func NewCluster(cfg Config, log zerolog.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", cfg.Name, err)
	}
	mech, err := cfg.mechanism()
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", cfg.Name, err)
	}
	c := &Cluster{
		cfg:            cfg,
		log:            log.With().Str("cluster", cfg.Name).Logger(),
		conns:          make(map[string]*brokerConn),
		topics:         make(map[string]int),
		groups:         make(map[string]map[string]int),
		coords:         make(map[string]string),
		membersFailing: make(map[string]bool),
		memberCache:    make(map[string]*memberCache),
		reqs:           make(map[protocol.ApiKey]uint64),
	}
	c.dial = &dialer{clientID: cfg.ClientID, timeout: cfg.Timeout, tls: tlsCfg, mech: mech, count: c.countRequest}
	c.ticks.Fetch = func(ctx context.Context, tick time.Time) (*snapshot, error) {
		start := time.Now()
		c.mu.Lock()
		c.errSeen = false
		c.mu.Unlock()
		snap, err := c.fetch(ctx, tick, c.watchSet())
		if snap != nil {
			c.share(snap)
		}
		c.mu.Lock()
		c.stats.Ticks++
		c.stats.LastTickDuration = time.Since(start)
		recovered := err == nil && !c.errSeen && c.failing
		if recovered {
			c.failing = false
		}
		c.mu.Unlock()
		if recovered {
			c.log.Info().Msg("kafka requests succeed again")
		}
		return snap, err
	}
	if mech != nil && mech.Name() == MechanismPlain && tlsCfg == nil {
		c.log.Warn().Msg("sasl PLAIN without tls sends the password in clear text")
	}
	return c, nil
}

// Close closes every broker connection. Calls after Close fail with
// ErrClosed.
func (c *Cluster) Close() error {
	c.mu.Lock()
	c.closed = true
	conns := slices.Collect(maps.Values(c.conns))
	c.mu.Unlock()
	for _, b := range conns {
		b.close()
	}
	return nil
}

// Watch adds topics to the log-end fetch every tick shares. The returned
// func removes them again; watches are reference-counted and the func is
// safe to call more than once.
func (c *Cluster) Watch(topics ...string) (unwatch func()) {
	c.mu.Lock()
	c.set = nil
	for _, t := range topics {
		c.topics[t]++
	}
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.set = nil
			for _, t := range topics {
				if c.topics[t]--; c.topics[t] <= 0 {
					delete(c.topics, t)
				}
			}
		})
	}
}

// WatchGroup adds the committed offsets of group for topics, and the
// log-end offsets of those topics, to the fetch every tick shares. The
// returned func removes them (reference-counted, safe to call twice).
func (c *Cluster) WatchGroup(group string, topics ...string) (unwatch func()) {
	c.mu.Lock()
	c.set = nil
	g := c.groups[group]
	if g == nil {
		g = make(map[string]int)
		c.groups[group] = g
	}
	for _, t := range topics {
		g[t]++
	}
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.set = nil
			g := c.groups[group]
			for _, t := range topics {
				if g[t]--; g[t] <= 0 {
					delete(g, t)
				}
			}
			if len(g) == 0 {
				delete(c.groups, group)
				delete(c.memberCache, group)
			}
		})
	}
}

// watchImplicitly watches topic (and group's offsets of it, when group is
// not empty) for good unless it is watched already.
func (c *Cluster) watchImplicitly(group, topic string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if group == "" {
		if c.topics[topic] == 0 {
			c.topics[topic] = 1
			c.set = nil
		}
		return
	}
	g := c.groups[group]
	if g == nil {
		g = make(map[string]int)
		c.groups[group] = g
	}
	if g[topic] == 0 {
		g[topic] = 1
		c.set = nil
	}
}

// fetchSet is what one fetch asks for.
type fetchSet struct {
	topics []string            // sorted: log-end offsets wanted
	groups map[string][]string // group -> sorted topics
	alone  bool                // a topic fetched outside the shared tick fetch
	ver    uint64              // names a set of watchSet's (0: another set)
	index  map[string]int32    // topic -> its place in topics
}

// indexTopics sets the set's index of its topics.
func (s *fetchSet) indexTopics() {
	s.index = make(map[string]int32, len(s.topics))
	for i, t := range s.topics {
		s.index[t] = int32(i)
	}
}

// watchSet returns everything watched now. The set is the same from tick
// to tick until a watch changes, and is not to be modified.
func (c *Cluster) watchSet() fetchSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set != nil {
		return *c.set
	}
	all := make(map[string]struct{}, len(c.topics))
	for t := range c.topics {
		all[t] = struct{}{}
	}
	set := fetchSet{groups: make(map[string][]string, len(c.groups))}
	for g, ts := range c.groups {
		list := make([]string, 0, len(ts))
		for t := range ts {
			list = append(list, t)
			all[t] = struct{}{}
		}
		sort.Strings(list)
		set.groups[g] = list
	}
	set.topics = slices.Sorted(maps.Keys(all))
	set.indexTopics()
	c.setVer++
	set.ver = c.setVer
	c.set = &set
	return set
}

// LogEndOffsets returns the log-end offset of every partition of topic
// (index = partition; -1 when a partition's offset could not be read) as of
// the shared fetch of tick. A topic not watched yet is watched from now on
// and, for this tick, fetched alone.
func (c *Cluster) LogEndOffsets(ctx context.Context, tick time.Time, topic string) ([]int64, error) {
	c.watchImplicitly("", topic)
	snap, err := c.read(ctx, tick)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	te := snap.topic(topic)
	if te == nil {
		alone, err := c.fetchAlone(ctx, tick, "", topic)
		if err != nil {
			return nil, err
		}
		te = alone.topic(topic)
	}
	if te.err != nil {
		return nil, te.err
	}
	if te.known == 0 && te.fetchErr != nil {
		return nil, te.fetchErr
	}
	return slices.Clone(te.ends), nil
}

// fetchAlone fetches one topic (and one group's offsets of it) outside the
// shared tick fetch.
func (c *Cluster) fetchAlone(ctx context.Context, tick time.Time, group, topic string) (*snapshot, error) {
	set := fetchSet{topics: []string{topic}, alone: true}
	set.indexTopics()
	if group != "" {
		set.groups = map[string][]string{group: {topic}}
	}
	c.mu.Lock()
	c.stats.SoloFetches++
	c.mu.Unlock()
	return c.fetch(ctx, tick, set)
}

// Stats is the cluster client's own health.
type Stats struct {
	// Requests counts requests written to brokers by API name
	// ("ListOffsets", "OffsetFetch", "DescribeGroups", "Metadata",
	// "FindCoordinator", "ApiVersions", "SaslHandshake",
	// "SaslAuthenticate").
	Requests          map[string]uint64
	MetadataRefreshes uint64        // Metadata requests answered
	Ticks             uint64        // shared tick fetches run
	SoloFetches       uint64        // fetches of a topic not watched yet
	LastTickDuration  time.Duration // wall time of the latest tick fetch
	LastError         string        // latest failure, empty if none
	LastErrorAt       time.Time
}

// Stats returns a copy of the counters.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Requests = make(map[string]uint64, len(c.reqs))
	for k, n := range c.reqs {
		s.Requests[k.String()] = n
	}
	return s
}

func (c *Cluster) countRequest(k protocol.ApiKey) {
	c.mu.Lock()
	c.reqs[k]++
	c.mu.Unlock()
}

// noteError records err as the latest failure, logging it when it differs
// from the previous one so a lasting outage logs once.
func (c *Cluster) noteError(err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
		return // a stop, not a failure of the cluster
	}
	msg := err.Error()
	c.mu.Lock()
	first := !c.failing
	c.failing, c.errSeen = true, true
	c.stats.LastError = msg
	c.stats.LastErrorAt = time.Now()
	c.mu.Unlock()
	// Once on failure (and once on recovery, in the tick fetch); the
	// errors in between go to debug so an outage does not log every tick.
	if first {
		c.log.Warn().Err(err).Msg("kafka request failed")
	} else {
		c.log.Debug().Err(err).Msg("kafka request failed")
	}
}

// conn returns the connection to addr, creating it (not dialling) if new.
func (c *Cluster) conn(addr string) *brokerConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.conns[addr]
	if b == nil {
		b = &brokerConn{addr: addr, d: c.dial, closed: c.closed}
		c.conns[addr] = b
	}
	return b
}

// anyBroker sends msg to the first broker that answers: the one that
// answered last, then known brokers, then the bootstrap list.
func (c *Cluster) anyBroker(ctx context.Context, md *metadataSnapshot, msg protocol.Message) (protocol.Message, string, error) {
	c.mu.Lock()
	addrs := make([]string, 0, 1+len(c.cfg.Brokers))
	if c.lastMeta != "" {
		addrs = append(addrs, c.lastMeta)
	}
	c.mu.Unlock()
	if md != nil {
		for _, id := range slices.Sorted(maps.Keys(md.brokers)) {
			addrs = append(addrs, md.brokers[id])
		}
	}
	addrs = append(addrs, c.cfg.Brokers...)
	seen := make(map[string]bool, len(addrs))
	var errs []error
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		res, err := c.conn(a).roundTrip(ctx, msg)
		if err == nil {
			return res, a, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return nil, "", err
		}
		errs = append(errs, err)
	}
	return nil, "", fmt.Errorf("no broker of cluster %q answered: %w", c.cfg.Name, errors.Join(errs...))
}
