package notify

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/lagship/lagship/pipeline/status"
)

// Shared is state every agent of a group can read (coord.State, the
// group's compacted <group>.state topic): with it, a unit's firing
// incidents follow the unit to its next owner. A nil value deletes a key.
type Shared interface {
	Put(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context) (map[string][]byte, error)
}

// sharedPrefix starts the keys of the notifiers' incidents in the shared
// state: notify/<notifier>/<mirror>/<topic>.
const sharedPrefix = "notify/"

// sharedTimeout bounds one read or write of the shared state, and after
// a failure the shared state is left alone for sharedRetry: the loop that
// judges every topic waits for neither longer.
const (
	sharedTimeout = 5 * time.Second
	sharedRetry   = 5 * time.Second
)

// loadWait: a gained unit whose incidents could not be loaded is judged
// anyway after this long (a second firing beats silence).
const loadWait = 30 * time.Second

// sharedIncident is one incident in the shared state.
type sharedIncident struct {
	Notifier string `json:"notifier"`
	Incident
}

// sharedRec is what this agent last wrote (or read) of a key.
type sharedRec struct {
	k Key
	v []byte
}

func sharedKey(notifier string, k Key) string {
	return sharedPrefix + notifier + "/" + k.Mirror + "/" + k.Topic
}

// Own tells the service which topics this agent owns now (coordination:
// the topics of its units) and which the others own. The incidents of a
// topic another agent owns are dropped without a message and the topic is
// not judged here (its owner notifies, with the incidents it takes over
// from the shared state); a topic gained is not judged until its
// incidents are loaded from the shared state. Topics in neither list (no
// longer in the config) are judged as on an agent alone. Until the first
// call nothing is loaded or dropped.
func (s *Service) Own(owned, others []Key) {
	o := ownership{owned: map[Key]bool{}, others: map[Key]bool{}}
	for _, k := range owned {
		o.owned[k] = true
	}
	for _, k := range others {
		o.others[k] = true
	}
	for {
		select {
		case s.own <- o:
			return
		default:
		}
		select {
		case <-s.own: // an older one nobody applied yet
		default:
		}
	}
}

// ownership is what Own tells.
type ownership struct{ owned, others map[Key]bool }

// takeOwn applies the latest ownership, if one came, and loads the
// incidents of gained topics.
func (s *Service) takeOwn(ctx context.Context) {
	select {
	case next := <-s.own:
		s.handover(next)
	default:
	}
	s.loadPending(ctx)
}

// handover drops the incidents of topics others own and marks those
// gained for loading.
func (s *Service) handover(next ownership) {
	prev := s.owned
	s.owned, s.others = next.owned, next.others
	for k := range s.pending {
		if !next.owned[k] {
			delete(s.pending, k)
		}
	}
	lost := func(k Key) bool { return next.others[k] }
	for _, n := range s.snapshot() {
		if d := n.machine.Drop(lost); d > 0 {
			n.log.Info().Int("incidents", d).Msg("incidents handed over with their units to another agent")
		}
	}
	for key, r := range s.shared {
		if lost(r.k) {
			delete(s.shared, key) // the new owner writes it from now on
		}
	}
	now := s.opt.Clock.Now()
	for k := range next.owned {
		if prev == nil || !prev[k] {
			s.pending[k] = now
		}
	}
	s.dirty.Store(true)
}

// loadPending loads the incidents of gained topics from the shared state.
func (s *Service) loadPending(ctx context.Context) {
	if len(s.pending) == 0 {
		return
	}
	var all map[string][]byte
	var err error
	now := s.opt.Clock.Now()
	switch {
	case s.opt.Shared == nil:
	case now.Before(s.retryAt):
		err = s.sharedErr // not tried again yet
	default:
		lctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		all, err = s.opt.Shared.Load(lctx)
		cancel()
		if err != nil {
			// Counted from the failure, not from before the call: a
			// call that hung until its timeout is not tried again at
			// the next round.
			s.retryAt = s.opt.Clock.Now().Add(sharedRetry)
			if s.sharedErr == nil {
				s.log.Error().Err(err).Int("waiting", len(s.pending)).
					Msg("incidents of gained units not loaded from the shared state; retrying (their topics are not judged until then, at most " + loadWait.String() + ")")
			}
			s.sharedErr = err
		}
	}
	if err != nil {
		late := 0
		for k, since := range s.pending {
			if now.Sub(since) >= loadWait {
				delete(s.pending, k)
				late++
			}
		}
		if late > 0 {
			s.log.Error().Err(err).Int("topics", late).Msg("incidents of gained units still not loaded from the shared state: their topics are judged without them (an open incident fires again)")
		}
		return
	}
	if s.opt.Shared != nil && s.sharedErr != nil {
		s.log.Info().Msg("shared state readable again")
		s.sharedErr = nil
	}
	byNotifier := map[string][]Incident{}
	for key, v := range all {
		if !strings.HasPrefix(key, sharedPrefix) {
			continue
		}
		var si sharedIncident
		if err := json.Unmarshal(v, &si); err != nil {
			continue
		}
		k := Key{si.Mirror, si.Topic}
		if _, ok := s.pending[k]; !ok || key != sharedKey(si.Notifier, k) {
			continue
		}
		byNotifier[si.Notifier] = append(byNotifier[si.Notifier], si.Incident)
		s.shared[key] = sharedRec{k, v}
	}
	gained := func(k Key) bool { _, ok := s.pending[k]; return ok }
	for _, n := range s.snapshot() {
		// The shared state is the truth for a gained topic: what this
		// agent remembers of it may have been resolved elsewhere since.
		n.machine.Drop(gained)
		incs := byNotifier[n.cfg.Name]
		n.machine.Adopt(now, s.opt.Settle, incs)
		if am, ok := n.snd.(*alertmanager); ok {
			am.restore(incs)
		}
		if len(incs) > 0 {
			n.log.Info().Int("incidents", len(incs)).Msg("incidents taken over with their units from the shared state")
		}
	}
	clear(s.pending)
	s.dirty.Store(true)
}

// judged is the part of topics this agent judges: not those others own,
// nor those gained whose incidents are not loaded yet.
func (s *Service) judged(topics []status.TopicStatus) []status.TopicStatus {
	if len(s.others)+len(s.pending) == 0 {
		return topics
	}
	out := make([]status.TopicStatus, 0, len(topics))
	for _, ts := range topics {
		k := Key{ts.Target.Mirror, ts.Target.Topic}
		if _, wait := s.pending[k]; !s.others[k] && !wait {
			out = append(out, ts)
		}
	}
	return out
}

// sync writes the firing incidents that changed to the shared state and
// deletes those that ended; after a failure the rest waits sharedRetry.
func (s *Service) sync(ctx context.Context) {
	now := s.opt.Clock.Now()
	if now.Before(s.retryAt) {
		return
	}
	cur := map[string]sharedRec{}
	for _, n := range s.snapshot() {
		for _, in := range n.machine.Firing() {
			k := Key{in.Mirror, in.Topic}
			if _, wait := s.pending[k]; wait {
				continue
			}
			b, err := json.Marshal(sharedIncident{Notifier: n.cfg.Name, Incident: in})
			if err != nil {
				continue
			}
			cur[sharedKey(n.cfg.Name, k)] = sharedRec{k, b}
		}
	}
	var failed error
	// One deadline for every write of the round, so that many changes on
	// a slow state topic hold the loop for sharedTimeout at most.
	pctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	put := func(key string, v []byte) bool {
		if failed != nil {
			return false // the rest after sharedRetry
		}
		if err := s.opt.Shared.Put(pctx, key, v); err != nil {
			failed = err
			s.retryAt = s.opt.Clock.Now().Add(sharedRetry)
			return false
		}
		return true
	}
	for key, v := range cur {
		if old, ok := s.shared[key]; ok && string(old.v) == string(v.v) {
			continue
		}
		if put(key, v.v) {
			s.shared[key] = v
		}
	}
	for key := range s.shared {
		if _, ok := cur[key]; !ok && put(key, nil) {
			delete(s.shared, key)
		}
	}
	switch {
	case failed != nil && !s.syncErr:
		s.log.Error().Err(failed).Msg("incidents not written to the shared state; retrying: a failover now may repeat or lose an incident's messages")
		s.syncErr = true
	case failed == nil && s.syncErr:
		s.log.Info().Msg("incidents written to the shared state again")
		s.syncErr = false
	}
}
