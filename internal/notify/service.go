package notify

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/pipeline/status"
)

// Source is the judgement notifications are made of (status.Evaluator).
type Source interface {
	Generation() uint64
	Latest() []status.TopicStatus
}

// Options tune a Service; the zero value is the production setting.
type Options struct {
	// Every is how often the judgement is read (default 1s).
	Every time.Duration
	// Settle is how long restored incidents wait for a complete
	// judgement: the longest status window.
	Settle time.Duration
	// Forget: a firing incident of a topic not judged for this long
	// resolves (default 30m).
	Forget time.Duration
	// Backoff is the retry policy (default DefaultBackoff).
	Backoff Backoff
	// Clock (default the real one).
	Clock Clock
	// QueueLen bounds each notifier's queue (default QueueLen).
	QueueLen int
	// Shared, when set (coordination), also keeps the firing incidents of
	// the topics this agent owns (see Own), so they follow a moved unit.
	Shared Shared
}

// Service runs every notifier of the file. Run it under the agent's
// errgroup; Reconfigure it on reload.
type Service struct {
	src    Source
	state  string
	log    zerolog.Logger
	opt    Options
	reconf chan reconf

	mu        sync.Mutex
	notifiers map[string]*notifier
	counters  map[string]*counters
	firing    map[string]*atomic.Int64

	dirty atomic.Bool

	// Ownership (coordination), read and written by Run only.
	own       chan ownership
	owned     map[Key]bool         // nil: no Own yet
	others    map[Key]bool         // owned by other agents
	pending   map[Key]time.Time    // gained, incidents not loaded yet: since
	shared    map[string]sharedRec // what the shared state holds of ours
	retryAt   time.Time            // no shared-state call before, after a failure
	sharedErr error                // the last load's failure
	syncErr   bool
}

// New builds the notifiers of s. statePath is the state file
// (StatePath of the spool directory); Run moves a state file left by an
// older lagship next to the spool directory into it.
func New(s Settings, src Source, statePath string, log zerolog.Logger, opt Options) (*Service, error) {
	if opt.Every <= 0 {
		opt.Every = time.Second
	}
	if opt.Backoff == (Backoff{}) {
		opt.Backoff = DefaultBackoff()
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	if opt.QueueLen <= 0 {
		opt.QueueLen = QueueLen
	}
	svc := &Service{src: src, state: statePath, log: log, opt: opt, reconf: make(chan reconf, 1),
		notifiers: map[string]*notifier{}, counters: map[string]*counters{}, firing: map[string]*atomic.Int64{},
		own: make(chan ownership, 1), pending: map[Key]time.Time{}, shared: map[string]sharedRec{}}
	for i := range s {
		n, err := svc.build(&s[i])
		if err != nil {
			return nil, err
		}
		svc.notifiers[n.cfg.Name] = n
	}
	return svc, nil
}

// build makes a notifier (not started).
func (s *Service) build(cfg *Notifier) (*notifier, error) {
	s.mu.Lock()
	c := s.counters[cfg.Name]
	if c == nil {
		c = &counters{}
		s.counters[cfg.Name] = c
		s.firing[cfg.Name] = &atomic.Int64{}
	}
	s.mu.Unlock()
	var snd sender
	switch cfg.Type {
	case TypeAlertmanager:
		snd = newAlertmanager(cfg)
	default:
		w, err := newWebhook(cfg)
		if err != nil {
			return nil, fmt.Errorf("notifier %q: %w", cfg.Name, err)
		}
		snd = w
	}
	m := NewMachine(cfg.rules())
	m.SetForget(s.opt.Forget)
	return &notifier{
		cfg: *cfg, fp: cfg.fingerprint(), machine: m, q: newQueue(s.opt.QueueLen, c.drop), snd: snd,
		log: s.log.With().Str("notifier", cfg.Name).Str("type", cfg.Type).Str("url", RedactURL(cfg.URL.Reveal())).Logger(),
		c:   c, backoff: s.opt.Backoff, clock: s.opt.Clock, changed: func() { s.dirty.Store(true) },
	}, nil
}

// reconf is a reload's notifiers and settle and forget times.
type reconf struct {
	next           Settings
	settle, forget time.Duration
}

// Reconfigure replaces the notifiers with those of next (validated): a
// notifier whose settings did not change keeps running untouched; a
// changed one keeps its incidents and undelivered messages. The firing
// incidents of every notifier, added ones included, settle again for
// settle (see Machine.Resettle): the reload may have restarted the
// judgement of their topics. Every notifier forgets unjudged incidents
// after forget from then on (0 keeps Options.Forget).
func (s *Service) Reconfigure(next Settings, settle, forget time.Duration) {
	req := reconf{next, settle, forget}
	for {
		select {
		case s.reconf <- req:
			return
		default:
		}
		select {
		case <-s.reconf: // an older request nobody applied yet
		default:
		}
	}
}

// Run reads the judgement and delivers until ctx ends, then saves the state.
func (s *Service) Run(ctx context.Context) error {
	s.restore()
	stops := map[string]func(){}
	start := func(n *notifier) {
		nctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = n.Run(nctx) }()
		stops[n.cfg.Name] = func() { cancel(); <-done }
	}
	for _, n := range s.snapshot() {
		start(n)
	}
	t := time.NewTicker(s.opt.Every)
	defer t.Stop()
	var gen uint64
	var topics []status.TopicStatus
	first := true
	for {
		select {
		case <-ctx.Done():
			for _, stop := range stops {
				stop()
			}
			s.save()
			return nil
		case req := <-s.reconf:
			if req.forget > 0 {
				s.opt.Forget = req.forget // read by build, in this goroutine
			}
			s.apply(req.next, stops, start)
			now := s.opt.Clock.Now()
			for _, n := range s.snapshot() {
				n.machine.Resettle(now, req.settle)
				n.machine.SetForget(s.opt.Forget)
			}
			s.dirty.Store(true)
		case <-t.C:
			// Ownership told before the units' workers started
			// applies before their first judgement.
			s.takeOwn(ctx)
			ns := s.snapshot()
			if len(ns) == 0 {
				continue
			}
			if g := s.src.Generation(); first || g != gen {
				gen, topics, first = g, s.src.Latest(), false
			}
			judged := s.judged(topics)
			now := s.opt.Clock.Now()
			for _, n := range ns {
				evs := n.machine.Step(now, judged)
				for _, ev := range evs {
					n.q.put(ev)
				}
				if len(evs) > 0 {
					s.dirty.Store(true)
				}
				s.firingGauge(n.cfg.Name).Store(int64(n.machine.FiringCount()))
			}
		}
		if s.dirty.Swap(false) {
			s.save()
			if s.opt.Shared != nil {
				s.sync(ctx)
			}
		} else if s.syncErr {
			s.sync(ctx)
		}
	}
}

func (s *Service) firingGauge(name string) *atomic.Int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firing[name]
}

func (s *Service) snapshot() []*notifier {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*notifier, 0, len(s.notifiers))
	for _, n := range s.notifiers {
		out = append(out, n)
	}
	return out
}

// apply swaps in the notifiers of next.
func (s *Service) apply(next Settings, stops map[string]func(), start func(*notifier)) {
	cur := s.snapshot()
	byName := map[string]*notifier{}
	for _, n := range cur {
		byName[n.cfg.Name] = n
	}
	keep := map[string]*notifier{}
	for i := range next {
		cfg := &next[i]
		old := byName[cfg.Name]
		if old != nil && old.fp == cfg.fingerprint() {
			keep[cfg.Name] = old
			continue
		}
		n, err := s.build(cfg)
		if err != nil {
			s.log.Error().Err(err).Str("notifier", cfg.Name).Msg("notifier not reconfigured")
			if old != nil {
				keep[cfg.Name] = old
			}
			continue
		}
		if old != nil {
			stops[old.cfg.Name]()
			n.machine = old.machine
			n.machine.SetRules(cfg.rules())
			n.q = old.q
			n.log.Info().Msg("notifier reconfigured; its incidents and undelivered messages are kept")
		} else {
			n.log.Info().Msg("notifier added")
		}
		if am, ok := n.snd.(*alertmanager); ok {
			am.restore(n.machine.Firing())
		}
		keep[cfg.Name] = n
		start(n)
	}
	for name, old := range byName {
		if _, ok := keep[name]; !ok {
			stops[name]()
			delete(stops, name)
			old.log.Info().Int("undelivered", old.q.len()).Int("firing", len(old.machine.Firing())).Msg("notifier removed; its incidents are forgotten")
		}
	}
	s.mu.Lock()
	s.notifiers = keep
	s.mu.Unlock()
}

// restore loads the state file into the notifiers.
func (s *Service) restore() {
	switch moved, ignored, err := moveOldState(s.state); {
	case err != nil:
		s.log.Error().Err(err).Msg("notification state not moved into the spool directory")
	case moved != "":
		s.log.Info().Str("from", moved).Str("to", s.state).Msg("notification state moved into the spool directory")
	case ignored != "":
		s.log.Warn().Str("ignored", ignored).Str("state", s.state).
			Msg("an older notification state file is ignored: the one in the spool directory is used; delete the older one")
	}
	st, err := LoadState(s.state)
	if err != nil {
		s.log.Error().Err(err).Msg("notification state not restored: incidents start afresh")
		return
	}
	now := s.opt.Clock.Now()
	for _, n := range s.snapshot() {
		// Every notifier gets the options, restored incidents or not.
		ns := st.Notifiers[n.cfg.Name]
		n.machine.Restore(now, s.opt.Settle, s.opt.Forget, ns.Incidents)
		if am, ok := n.snd.(*alertmanager); ok {
			am.restore(ns.Incidents)
		}
		for _, ev := range ns.Pending {
			n.q.put(ev)
		}
		if len(ns.Incidents)+len(ns.Pending) > 0 {
			n.log.Info().Int("firing", len(ns.Incidents)).Int("undelivered", len(ns.Pending)).Msg("notification state restored")
		}
	}
}

// save writes the state file.
func (s *Service) save() {
	ns := s.snapshot()
	if len(ns) == 0 {
		if _, err := os.Stat(s.state); err != nil {
			return // no notifier, and nothing to forget
		}
	}
	st := State{Version: StateVersion, Notifiers: map[string]NotifierState{}}
	for _, n := range ns {
		st.Notifiers[n.cfg.Name] = NotifierState{Incidents: append([]Incident{}, n.machine.Firing()...), Pending: n.q.snapshot()}
	}
	if err := SaveState(s.state, st); err != nil {
		s.log.Error().Err(err).Msg("notification state not saved: a restart may repeat or forget incidents")
	}
}

// TestEvent is the message of lagship notify test.
func TestEvent(now time.Time) Event {
	ev := SampleEvent(true)
	ev.Mirror, ev.Topic, ev.Test = "lagship-notify-test", "test", true
	ev.StartedAt, ev.Time = now.UTC(), now.UTC()
	return ev
}

// Send sends one test message through the notifier, once, and returns the
// receiver's status code and answer.
func Send(ctx context.Context, cfg *Notifier, now time.Time) (code int, answer string, err error) {
	var snd sender
	switch cfg.Type {
	case TypeAlertmanager:
		snd = newAlertmanager(cfg)
	default:
		w, err := newWebhook(cfg)
		if err != nil {
			return 0, "", err
		}
		snd = w
	}
	r := snd.send(ctx, []Event{TestEvent(now)})
	return r.code, r.answer, r.err
}
