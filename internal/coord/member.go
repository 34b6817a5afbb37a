package coord

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	kafka "github.com/segmentio/kafka-go"
)

const (
	protocolType = "lagship"
	protocolName = "lagship-v1"
	// viewOwnersUpTo is how many units in all the leader still lists per
	// member in every assignment (who owns what); above it, the view
	// gives counts only.
	viewOwnersUpTo = 5000
)

// Config is what a Member needs.
type Config struct {
	Settings Settings
	// Client reaches the coordination cluster (its TLS and SASL); its
	// Timeout is ignored: a JoinGroup waits as long as the rebalance.
	Client *kafka.Client
	// Host and Version describe this agent to the others.
	Host, Version string
	Log           zerolog.Logger
	// Measure, when set, weighs the units this agent owns as it measured
	// them (their partitions), 0 where it does not know; the member reports
	// the figures when it joins, and the leader plans with its owners'
	// figures. Without it, the planned weights are reported.
	Measure func(units []string) []int
	// Heartbeat is how often the member heartbeats; 0 or more than a
	// third of the session timeout is a third of it. The others notice a
	// rebalance (a member gone or come) at their next heartbeat, so it
	// bounds the handover after a leave and adds to the failover time.
	Heartbeat time.Duration
	// Abandon, when closed, makes Run return at once without leaving the
	// group and without another request, as a crashed agent would (its
	// connections are closed; its units move after the session timeout).
	Abandon <-chan struct{}
}

// View is the group as this agent last learnt it.
type View struct {
	Group      string       `json:"group"`
	MemberID   string       `json:"member_id,omitempty"`
	Generation int          `json:"generation"`
	Leader     string       `json:"leader,omitempty"`
	IsLeader   bool         `json:"is_leader"`
	Hash       string       `json:"config_hash"`
	LeaderHash string       `json:"leader_config_hash,omitempty"`
	Units      []string     `json:"units"`
	Members    []MemberView `json:"members"`
	// Joined is false until the first assignment arrives.
	Joined bool `json:"joined"`
}

// Member keeps this agent in the group and publishes its units.
type Member struct {
	cfg    Config
	client *kafka.Client

	mu      sync.Mutex
	hash    string
	units   []Unit
	view    View
	changed chan struct{} // a new view (capacity 1)
	rejoin  chan struct{} // the plan changed (capacity 1)
	planned chan struct{} // closed by the first SetPlan
	once    sync.Once
	counts  map[string]int64
	rebal   int64
}

// New returns a member. Run joins once SetPlan has given it a plan.
func New(cfg Config) *Member {
	cl := *cfg.Client
	cl.Timeout = 0
	return &Member{
		cfg:     cfg,
		client:  &cl,
		changed: make(chan struct{}, 1),
		rejoin:  make(chan struct{}, 1),
		planned: make(chan struct{}),
		counts:  map[string]int64{},
		view:    View{Group: cfg.Settings.Group, Units: []string{}},
	}
}

// SetPlan sets the config hash and the units this agent knows of (the
// leader assigns its own list). A change of the hash or of the units' keys
// makes the member rejoin, so the group sees the new hash and the leader
// the new units; new weights alone ride with the next rebalance.
func (m *Member) SetPlan(hash string, units []Unit) {
	m.mu.Lock()
	same := hash == m.hash && sameUnits(units, m.units)
	m.hash, m.units = hash, append([]Unit(nil), units...)
	m.view.Hash = hash
	m.mu.Unlock()
	m.once.Do(func() { close(m.planned) })
	if !same {
		select {
		case m.rejoin <- struct{}{}:
		default:
		}
	}
}

func sameUnits(a, b []Unit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Group != b[i].Group {
			return false
		}
	}
	return true
}

// Settings are the settings the member runs with.
func (m *Member) Settings() Settings { return m.cfg.Settings }

// Changed is signalled (coalesced) whenever the view changes.
func (m *Member) Changed() <-chan struct{} { return m.changed }

// View returns the current view (a copy).
func (m *Member) View() View {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.view
	v.Units = append([]string{}, v.Units...)
	v.Members = append([]MemberView(nil), v.Members...)
	return v
}

// Owns reports the unit keys this agent owns now.
func (m *Member) Owns() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(m.view.Units))
	for _, k := range m.view.Units {
		out[k] = true
	}
	return out
}

func (m *Member) publish(f func(v *View)) {
	m.mu.Lock()
	f(&m.view)
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *Member) count(api string) {
	m.mu.Lock()
	m.counts[api]++
	m.mu.Unlock()
}

// errRejoin ends a generation: join again with the same member id.
var errRejoin = errors.New("rejoin")

// Run keeps the agent in the group until ctx ends, then leaves it so the
// others take its units at once. Errors towards the cluster are logged
// and retried; the agent keeps its last units meanwhile (a unit collected
// twice costs nothing: documents have deterministic ids).
func (m *Member) Run(ctx context.Context) error {
	log := m.cfg.Log.With().Str("group", m.cfg.Settings.Group).Logger()
	memberID := ""
	backoff := 250 * time.Millisecond
	streak := 0 // rejoins in a row: a broker that keeps refusing is not hammered
	defer m.closeConns()
	// Join with a plan: the group must see this agent's config hash.
	select {
	case <-m.planned:
	case <-ctx.Done():
		return nil
	case <-m.cfg.Abandon:
		return nil
	}
	for {
		if m.abandoned() {
			return nil
		}
		m.mu.Lock()
		before := m.rebal
		m.mu.Unlock()
		err := m.generation(ctx, &memberID, log)
		m.mu.Lock()
		if m.rebal != before {
			streak = 0 // that generation got its assignment
		}
		m.mu.Unlock()
		switch {
		case m.abandoned():
			return nil
		case ctx.Err() != nil:
			m.leave(ctx, memberID, log)
			return nil
		case errors.Is(err, errRejoin):
			backoff = 250 * time.Millisecond
			if streak++; streak <= 5 {
				continue
			}
			err = fmt.Errorf("%d rejoins in a row", streak)
		default:
			streak = 0
		}
		log.Warn().Err(err).Dur("retry_in", backoff).Msg("coordination: not in the group; keeping the last units")
		select {
		case <-ctx.Done():
			m.leave(ctx, memberID, log)
			return nil
		case <-m.cfg.Abandon:
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (m *Member) abandoned() bool {
	select {
	case <-m.cfg.Abandon:
		return true
	default:
		return false
	}
}

func (m *Member) closeConns() {
	if tr, ok := m.client.Transport.(*kafka.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// callCtx is ctx with a timeout, also ended by Abandon.
func (m *Member) callCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(ctx, d)
	if m.cfg.Abandon == nil {
		return c, cancel
	}
	go func() {
		select {
		case <-m.cfg.Abandon:
			cancel()
		case <-c.Done():
		}
	}()
	return c, cancel
}

// generation joins, syncs and heartbeats until the generation ends.
func (m *Member) generation(ctx context.Context, memberID *string, log zerolog.Logger) error {
	s := m.cfg.Settings
	session := time.Duration(s.SessionTimeout)
	m.mu.Lock()
	hash, units := m.hash, m.units
	owned := append([]string(nil), m.view.Units...)
	m.mu.Unlock()
	planned := make(map[string]int, len(units))
	for _, u := range units {
		planned[u.Key] = u.Weight
	}
	weights := make([]int, len(owned))
	for i, k := range owned {
		weights[i] = planned[k] // 0: no longer planned here
	}
	if m.cfg.Measure != nil {
		if ws := m.cfg.Measure(owned); len(ws) == len(owned) {
			for i, w := range ws {
				if _, ok := planned[owned[i]]; ok && w > 0 {
					weights[i] = w
				}
			}
		}
	}
	// A plan change that arrives from here on needs another join.
	select {
	case <-m.rejoin:
	default:
	}

	jctx, cancel := m.callCtx(ctx, 2*session+10*time.Second)
	m.count("JoinGroup")
	join, err := m.client.JoinGroup(jctx, &kafka.JoinGroupRequest{
		GroupID:          s.Group,
		SessionTimeout:   session,
		RebalanceTimeout: session,
		MemberID:         *memberID,
		ProtocolType:     protocolType,
		Protocols: []kafka.GroupProtocol{{Name: protocolName, Metadata: kafka.GroupProtocolSubscription{
			UserData: MarshalMeta(Meta{Host: m.cfg.Host, Version: m.cfg.Version, Hash: hash, Owned: owned, Weights: weights}),
		}}},
	})
	cancel()
	if err != nil {
		return fmt.Errorf("joining group %q: %w", s.Group, err)
	}
	switch {
	case errors.Is(join.Error, kafka.MemberIDRequired):
		*memberID = join.MemberID
		return errRejoin
	case errors.Is(join.Error, kafka.UnknownMemberId), errors.Is(join.Error, kafka.IllegalGeneration), errors.Is(join.Error, kafka.FencedInstanceID):
		*memberID = ""
		return errRejoin
	case errors.Is(join.Error, kafka.RebalanceInProgress):
		return errRejoin
	case errors.Is(join.Error, kafka.InvalidSessionTimeout):
		return fmt.Errorf("joining group %q: the broker refuses session_timeout %s: it must lie within the broker's group.min.session.timeout.ms and group.max.session.timeout.ms: %w", s.Group, session, join.Error)
	case join.Error != nil:
		return fmt.Errorf("joining group %q: %w", s.Group, join.Error)
	}
	*memberID = join.MemberID

	var assignments []kafka.SyncGroupRequestAssignment
	leader := join.LeaderID == join.MemberID
	if leader {
		assignments = m.lead(join, hash, units, log)
	}
	sctx, cancel := m.callCtx(ctx, session+10*time.Second)
	m.count("SyncGroup")
	sync, err := m.client.SyncGroup(sctx, &kafka.SyncGroupRequest{
		GroupID:      s.Group,
		GenerationID: join.GenerationID,
		MemberID:     join.MemberID,
		ProtocolType: protocolType,
		ProtocolName: protocolName,
		Assignments:  assignments,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("syncing group %q: %w", s.Group, err)
	}
	switch {
	case errors.Is(sync.Error, kafka.RebalanceInProgress):
		return errRejoin
	case errors.Is(sync.Error, kafka.UnknownMemberId), errors.Is(sync.Error, kafka.IllegalGeneration):
		*memberID = ""
		return errRejoin
	case sync.Error != nil:
		return fmt.Errorf("syncing group %q: %w", s.Group, sync.Error)
	}
	a, err := UnmarshalAssignment(sync.Assignment.UserData)
	if err != nil {
		return fmt.Errorf("group %q: %w", s.Group, err)
	}
	if a.LeaderHash != "" && a.LeaderHash != hash {
		log.Error().Str("config_hash", short(hash)).Str("leader_config_hash", short(a.LeaderHash)).Str("leader", join.LeaderID).
			Msgf("coordination: this agent's config (hash %s) differs from the group leader's (hash %s): it gets no units until the files match (fix the file; a reload rejoins)", short(hash), short(a.LeaderHash))
	}
	m.mu.Lock()
	m.rebal++
	m.mu.Unlock()
	m.publish(func(v *View) {
		v.MemberID, v.Generation, v.Leader, v.IsLeader = join.MemberID, join.GenerationID, join.LeaderID, leader
		v.LeaderHash, v.Units, v.Members, v.Joined = a.LeaderHash, append([]string{}, a.Units...), a.Members, true
	})
	log.Info().Int("generation", join.GenerationID).Int("units", len(a.Units)).Int("members", len(a.Members)).Bool("leader", leader).Msg("coordination: assignment received")

	return m.heartbeat(ctx, join.GenerationID, memberID, log)
}

// lead computes every member's assignment.
func (m *Member) lead(join *kafka.JoinGroupResponse, hash string, units []Unit, log zerolog.Logger) []kafka.SyncGroupRequestAssignment {
	cands := make([]Candidate, 0, len(join.Members))
	metas := map[string]Meta{}
	for _, jm := range join.Members {
		meta, err := UnmarshalMeta(jm.Metadata.UserData)
		if err != nil {
			log.Warn().Err(err).Str("member", jm.ID).Msg("coordination: member metadata unreadable; the member gets no units")
			meta = Meta{Hash: "unreadable"}
		}
		metas[jm.ID] = meta
		cands = append(cands, Candidate{ID: jm.ID, Hash: meta.Hash, Owned: meta.Owned, Weights: meta.Weights})
	}
	plan := Assign(cands, Reweigh(units, cands, hash), hash)
	total := 0
	for _, ks := range plan {
		total += len(ks)
	}
	views := make([]MemberView, 0, len(cands))
	for _, c := range cands {
		mt := metas[c.ID]
		v := MemberView{ID: c.ID, Host: mt.Host, Version: mt.Version, Hash: mt.Hash, Units: len(plan[c.ID])}
		if total <= viewOwnersUpTo {
			v.Owned = plan[c.ID]
		}
		if mt.Hash != hash {
			log.Error().Str("member", c.ID).Str("host", mt.Host).Str("config_hash", short(mt.Hash)).Str("leader_config_hash", short(hash)).
				Msgf("coordination: member %s on %s has config hash %s, the leader %s: it gets no units", c.ID, mt.Host, short(mt.Hash), short(hash))
		}
		views = append(views, v)
	}
	sort.Slice(views, func(i, j int) bool { return views[i].ID < views[j].ID })
	out := make([]kafka.SyncGroupRequestAssignment, 0, len(cands))
	size := 0
	for _, jm := range join.Members {
		size += len(jm.Metadata.UserData)
	}
	for _, c := range cands {
		ud := MarshalAssignment(Assignment{LeaderHash: hash, Units: plan[c.ID], Members: views})
		size += len(ud)
		out = append(out, kafka.SyncGroupRequestAssignment{MemberID: c.ID, Assignment: kafka.GroupProtocolAssignment{UserData: ud}})
	}
	if size > groupRecordWarn {
		log.Warn().Int("bytes", size).Int("members", len(cands)).Int("units", total).
			Msg("coordination: the group's metadata nears the broker's default 1 MiB record limit for __consumer_offsets (message.max.bytes); above it the coordinator refuses the assignment. Raise message.max.bytes or split the agents into groups")
	}
	return out
}

// groupRecordWarn is the size of the group's metadata (every member's
// subscription and assignment, one record of __consumer_offsets) above
// which the leader warns: 7/8 of the broker's default message.max.bytes.
const groupRecordWarn = 7 << 17

// heartbeat keeps the generation alive until it ends.
func (m *Member) heartbeat(ctx context.Context, gen int, memberID *string, log zerolog.Logger) error {
	s := m.cfg.Settings
	session := time.Duration(s.SessionTimeout)
	every := session / 3
	if hb := m.cfg.Heartbeat; hb > 0 && hb < every {
		every = hb
	}
	every = max(every, 100*time.Millisecond)
	coordAddr, err := m.findCoordinator(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	// stale: the last heartbeat got no answer at all (a transport error,
	// not an error code from a broker): the coordinator may have died or
	// moved, so the next heartbeat looks it up again first.
	stale := false
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.cfg.Abandon:
			return nil
		case <-m.rejoin:
			return errRejoin
		case <-t.C:
		}
		if stale {
			addr, err := m.findCoordinator(ctx, max(every, time.Second))
			if err != nil && ctx.Err() == nil && !m.abandoned() {
				// The connection that asked may have been to the dead
				// broker too: a second try dials another.
				addr, err = m.findCoordinator(ctx, max(every, time.Second))
			}
			switch {
			case err != nil:
				log.Debug().Err(err).Msg("coordination: looking the coordinator up again failed")
			case addr.String() != coordAddr.String():
				log.Info().Str("from", coordAddr.String()).Str("to", addr.String()).Msg("coordination: the coordinator moved; heartbeating the new one")
				coordAddr, stale = addr, false
			default:
				stale = false
			}
		}
		hctx, cancel := m.callCtx(ctx, max(every, time.Second))
		m.count("Heartbeat")
		hb, err := m.client.Heartbeat(hctx, &kafka.HeartbeatRequest{Addr: coordAddr, GroupID: s.Group, GenerationID: int32(gen), MemberID: *memberID})
		cancel()
		if err == nil {
			err = heartbeatError(hb)
		}
		switch {
		case err == nil:
			lastOK = time.Now()
		case errors.Is(err, kafka.RebalanceInProgress):
			return errRejoin
		case errors.Is(err, kafka.UnknownMemberId), errors.Is(err, kafka.IllegalGeneration), errors.Is(err, kafka.FencedInstanceID):
			log.Warn().Err(err).Msg("coordination: the group dropped this agent; rejoining")
			*memberID = ""
			return errRejoin
		case errors.Is(err, kafka.NotCoordinatorForGroup), errors.Is(err, kafka.GroupCoordinatorNotAvailable), errors.Is(err, kafka.GroupLoadInProgress):
			return errRejoin
		default:
			log.Debug().Err(err).Msg("coordination: heartbeat failed")
			var code kafka.Error
			stale = stale || !errors.As(err, &code)
			if time.Since(lastOK) > session {
				return fmt.Errorf("no heartbeat answered for %s: %w", session, err)
			}
		}
	}
}

// findCoordinator asks the cluster for the group's coordinator, within d.
func (m *Member) findCoordinator(ctx context.Context, d time.Duration) (net.Addr, error) {
	g := m.cfg.Settings.Group
	fctx, cancel := m.callCtx(ctx, d)
	defer cancel()
	m.count("FindCoordinator")
	fc, err := m.client.FindCoordinator(fctx, &kafka.FindCoordinatorRequest{Key: g, KeyType: kafka.CoordinatorKeyTypeConsumer})
	if err == nil && fc.Error != nil {
		err = fc.Error
	}
	if err != nil {
		return nil, fmt.Errorf("finding the coordinator of group %q: %w", g, err)
	}
	return kafka.TCP(net.JoinHostPort(fc.Coordinator.Host, strconv.Itoa(fc.Coordinator.Port))), nil
}

// heartbeatError is the error of a Heartbeat answer. kafka-go (v0.4.51)
// decodes Heartbeat v1 and later with ErrorCode and ThrottleTimeMs swapped:
// it reads the error code from the throttle time's first two bytes (zero
// unless throttled) and reports the real error code as the throttle time in
// milliseconds. So a group error shows up as a small Throttle: the codes
// lagship acts on are taken from there. Should kafka-go decode correctly
// one day, Error carries them and a genuine throttle of exactly 14, 15,
// 16, 22, 25, 27 or 82 ms costs one needless rejoin.
func heartbeatError(hb *kafka.HeartbeatResponse) error {
	if hb.Error != nil {
		return hb.Error
	}
	// The throttle time kafka-go reports is the real one's low 16 bits
	// followed by the error code: keep the code.
	switch e := kafka.Error(int16(uint32(hb.Throttle.Milliseconds()) & 0xffff)); e {
	case kafka.GroupLoadInProgress, kafka.GroupCoordinatorNotAvailable, kafka.NotCoordinatorForGroup,
		kafka.IllegalGeneration, kafka.UnknownMemberId, kafka.RebalanceInProgress, kafka.FencedInstanceID:
		return e
	}
	return nil
}

// leave tells the group this agent goes, so its units move at once.
func (m *Member) leave(ctx context.Context, memberID string, log zerolog.Logger) {
	if memberID == "" {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m.count("LeaveGroup")
	resp, err := m.client.LeaveGroup(lctx, &kafka.LeaveGroupRequest{GroupID: m.cfg.Settings.Group, Members: []kafka.LeaveGroupRequestMember{{ID: memberID}}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		log.Warn().Err(err).Msg("coordination: leaving the group failed; the others take over after the session timeout")
		return
	}
	log.Info().Msg("coordination: left the group")
}

// short is a hash as logs and pages show it.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
