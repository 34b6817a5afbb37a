package ssh

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/pipeline"
)

// Source collects the lag of one MirrorMaker 1 mirror by running
// kafka-consumer-groups.sh --describe on its host. All topics of a group
// share one run per tick.
type Source struct {
	pool   *Pool
	cfg    MirrorConfig
	log    zerolog.Logger
	run    *groupRun
	key    string // of run in pool.groups
	closed bool   // guarded by pool.mu
}

var _ pipeline.Source = (*Source)(nil)

// groupRun is the per-tick describe of one group on one host, shared by every
// Source with the same host, group, bootstrap servers and command config.
type groupRun struct {
	describe pipeline.PerTick[Result]
	refs     int    // sources sharing this run; guarded by Pool.mu
	hostKey  string // the connection it uses

	mu         sync.Mutex
	stats      GroupStats
	lastStatus Status
}

// GroupStats counts the commands run for one group on one host.
type GroupStats struct {
	Host  string
	Group string
	// Commands is how many times kafka-consumer-groups.sh was started:
	// one JVM launch on the host each.
	Commands     int64
	Failures     int64 // ticks that produced no table (transport, exit status, tool error)
	LastDuration time.Duration
	LastError    string
}

// NewSource validates cfg and returns its Source. Sources of the same pool
// with the same host, group, bootstrap servers and command config share one
// command per tick.
func NewSource(pool *Pool, cfg MirrorConfig, log zerolog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Host = cfg.Host.WithDefaults()
	s := &Source{
		pool: pool,
		cfg:  cfg,
		log:  log.With().Str("host", cfg.Host.String()).Str("group", cfg.Group).Logger(),
	}
	key := strings.Join([]string{hostKey(cfg.Host), cfg.Group, cfg.BootstrapServer, cfg.CommandConfig, cfg.KafkaHome}, "\x00")
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.closed {
		return nil, ErrPoolClosed
	}
	run := pool.groups[key]
	if run == nil {
		run = &groupRun{stats: GroupStats{Host: cfg.Host.String(), Group: cfg.Group}, hostKey: hostKey(cfg.Host)}
		run.describe.Fetch = s.fetch
		pool.groups[key] = run
	}
	run.refs++
	s.run, s.key = run, key
	return s, nil
}

// Close releases the source: when no other source shares its group run,
// the run is dropped, and when no run uses its host any more, the
// connection is closed. An agent that reloads its config calls it for
// mirrors it removed or changed, so the pool does not keep connections to
// hosts nobody asks about.
func (s *Source) Close() {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.run.refs--
	if s.run.refs > 0 {
		return
	}
	delete(p.groups, s.key)
	for _, r := range p.groups {
		if r.hostKey == s.run.hostKey {
			return
		}
	}
	p.forgetLocked(s.run.hostKey)
}

// Prepare runs the tick's command for the group before the workers of the
// mirror's topics wake to read theirs (pipeline.Preparer).
func (s *Source) Prepare(ctx context.Context, tick time.Time) { _, _ = s.run.describe.Get(ctx, tick) }

// Collect returns the lags of topic at tick, with the committed and log-end
// offsets of each partition (see Result.Sample). The first caller of a tick
// runs the command; the others wait for its result.

func (s *Source) Collect(ctx context.Context, tick time.Time, topic string) (pipeline.Sample, error) {
	res, err := s.run.describe.Get(ctx, tick)
	if err != nil {
		return pipeline.Sample{}, err
	}
	committed := false
	for _, r := range res.Rows {
		if r.Topic == topic && r.CurrentOffset >= 0 {
			committed = true
			break
		}
	}
	// One group is described per run, so rows are not filtered by group:
	// the layouts of Kafka 0.10.2-2.2 have no GROUP column.
	sample, found := res.Sample("", topic)
	if !found || !committed || len(sample.Lags) == 0 {
		if !found {
			sample = pipeline.Sample{} // the partitions are not known
		}
		return sample, fmt.Errorf("group %q on %s has no committed offsets for topic %q: %w",
			s.cfg.Group, s.cfg.Host.Addr(), topic, pipeline.ErrNoOffsets)
	}
	return sample, nil
}

// fetch runs the describe command once and classifies its outcome.
func (s *Source) fetch(ctx context.Context, _ time.Time) (Result, error) {
	start := time.Now()
	starts := 0 // more than one when the connection was lost and the command ran again
	res, err := s.describe(ctx, func() { starts++ })
	s.run.mu.Lock()
	defer s.run.mu.Unlock()
	st := &s.run.stats
	st.Commands += int64(starts)
	st.LastDuration = time.Since(start)
	if err != nil && !pipeline.IsState(err) {
		st.Failures++
		st.LastError = err.Error()
		return res, err
	}
	st.LastError = ""
	if err != nil {
		return res, err
	}
	if res.Status != s.run.lastStatus {
		if res.Status != StatusOK {
			s.log.Info().Str("state", res.Status.String()).Str("output", res.Message).Msg("consumer group state")
		} else {
			s.log.Info().Msg("consumer group state back to ok")
		}
		s.run.lastStatus = res.Status
	}
	return res, nil
}

func (s *Source) describe(ctx context.Context, started func()) (Result, error) {
	host := s.cfg.Host.String()
	out, err := s.pool.run(ctx, s.cfg.Host, s.cfg.RemoteCommand(), started)
	if err != nil {
		return Result{}, fmt.Errorf("describing group %q: %w", s.cfg.Group, err)
	}
	if out.ExitStatus == 127 {
		return Result{}, fmt.Errorf("%s not found on %s (exit status 127; check kafka_home): %s",
			s.cfg.script(), host, firstLines(out.Stderr, 3))
	}
	res, perr := Parse(out.Stdout, out.Stderr)
	switch {
	case perr == nil && res.Status == StatusGroupMissing:
		return res, fmt.Errorf("describing group %q on %s: %s: %w", s.cfg.Group, host, res.Message, pipeline.ErrGroupNotFound)
	case out.ExitStatus != 0:
		return res, fmt.Errorf("kafka-consumer-groups.sh for group %q on %s exited with status %d: %s",
			s.cfg.Group, host, out.ExitStatus, firstLines(out.Stderr, 3))
	case perr != nil:
		return res, fmt.Errorf("kafka-consumer-groups.sh output for group %q on %s: %w", s.cfg.Group, host, perr)
	case res.Status == StatusCommandError:
		return res, fmt.Errorf("kafka-consumer-groups.sh for group %q on %s failed: %s", s.cfg.Group, host, res.Message)
	}
	return res, nil
}

// firstLines returns up to n non-blank lines of b, joined by " | ", for
// error messages.
func firstLines(b []byte, n int) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		out = append(out, clip(l))
		if len(out) == n {
			break
		}
	}
	if len(out) == 0 {
		return "(no output on stderr)"
	}
	return strings.Join(out, " | ")
}

// Stats returns the counters of the source's group (shared with every Source
// of the same group on the same host).
func (s *Source) Stats() GroupStats {
	s.run.mu.Lock()
	defer s.run.mu.Unlock()
	return s.run.stats
}

// GroupStats returns the counters of every group the pool's sources run,
// sorted by host and group.
func (p *Pool) GroupStats() []GroupStats {
	p.mu.Lock()
	runs := make([]*groupRun, 0, len(p.groups))
	for _, r := range p.groups {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	out := make([]GroupStats, 0, len(runs))
	for _, r := range runs {
		r.mu.Lock()
		out = append(out, r.stats)
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b GroupStats) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), strings.Compare(a.Group, b.Group))
	})
	return out
}
