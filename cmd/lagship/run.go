package main

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/mappings"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

const defaultConfig = "/etc/lagship/lagship.yaml"

// defaultGrace is the shutdown deadline: in-flight ticks and the final
// flush together, inside the systemd unit's TimeoutStopSec=60s.
const defaultGrace = 40 * time.Second

// agentOptions tune runAgent.
type agentOptions struct {
	// path, when set, is watched for changes (and SIGHUP re-reads it).
	path string
	// poll is how often the file is checked for changes.
	poll time.Duration
	// replan is how often topics_regex mirrors look for new topics.
	replan time.Duration
	// newSink builds the sink for a config; called again when the
	// elasticsearch section changes on reload.
	newSink func(ctx context.Context, cfg *config.Config) (pipeline.Sink, error)
	// sighup delivers reload requests (nil: none).
	sighup <-chan os.Signal
	// onApply is called after each (re)plan with the running task keys.
	onApply func(keys []string)
	// grace is the one shutdown deadline: in-flight ticks and the final
	// flush share it (default 40s, inside the systemd unit's
	// TimeoutStopSec=60s with margin).
	grace time.Duration
	// fastCommitsDemo: the demo's mirrors commit four times a second, so
	// its short status window deserves no warning.
	fastCommitsDemo bool
	// onHTTP, when set, is told the status page's URL.
	onHTTP func(url string)
	// summary is how often run logs its one-line summary (default 5m).
	summary time.Duration
	// coordAbandon, when closed, drops the agent from its group as a
	// crash would: no LeaveGroup (tests).
	coordAbandon <-chan struct{}
}

// runAgent runs the pipeline for cfg until ctx ends: sources first, then
// workers; on shutdown workers stop after their in-flight tick, then the
// sink flushes. A reload that fails validation keeps the running config.
func runAgent(ctx context.Context, cfg *config.Config, log zerolog.Logger, opt agentOptions) error {
	if opt.poll == 0 {
		opt.poll = 5 * time.Second
	}
	if opt.replan == 0 {
		opt.replan = 10 * time.Second
	}
	if opt.grace == 0 {
		opt.grace = defaultGrace
	}
	if opt.summary == 0 {
		opt.summary = 5 * time.Minute
	}
	// Collections run under work. It outlives ctx so that the in-flight
	// tick can finish after SIGTERM, but only until the shutdown deadline,
	// which the final flush shares.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	// The deadline starts when ctx ends; the shutdown below takes it too,
	// so it never reads a deadline not yet set (and flushes for a second
	// only, rather than the grace).
	var stopBy time.Time
	var stopOnce sync.Once
	startGrace := func() {
		stopOnce.Do(func() {
			stopBy = time.Now().Add(opt.grace)
			time.AfterFunc(opt.grace, cancelWork)
		})
	}
	stopGrace := context.AfterFunc(ctx, startGrace)
	defer stopGrace()

	sink, err := opt.newSink(ctx, cfg)
	if err != nil {
		return err
	}
	esApplied := cfg.Elasticsearch // the settings the sink runs with
	stats := &pipeline.Stats{}
	// Shared resources (offsets readers, connections) run under an
	// errgroup and stop last, after the workers and the sink.
	srcs := newPlanner(log)
	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	g, _ := errgroup.WithContext(bg)
	g.Go(func() error { return srcs.Run(bg) })
	// The sink's delivery loop runs until sink.Close has flushed it.
	if r, ok := sink.(interface{ Run(context.Context) error }); ok {
		g.Go(func() error { return r.Run(bg) })
	}
	stopAll := func() { stopBg(); _ = g.Wait() }
	group := pipeline.NewGroup(work, sink, log, stats)
	ev := status.New(status.DefaultRules())
	evLog := log
	if opt.fastCommitsDemo {
		evLog = zerolog.Nop()
	}
	configureEvaluator(ev, cfg, evLog)
	group.Process = ev
	live := &liveConfig{cfg: cfg}
	co, err := newCoordination(cfg, log, opt.coordAbandon, ev)
	if err != nil {
		_ = sink.Close(ctx)
		stopAll()
		return err
	}
	nt, err := newNotifier(cfg, ev, log, co.shared())
	if err != nil {
		_ = sink.Close(ctx)
		stopAll()
		return err
	}
	g.Go(func() error { return nt.Run(bg) })
	g.Go(func() error { return summaryLoop(bg, opt.summary, stats, []any{sink, srcs, nt}, log) })
	// The group is left as soon as ctx ends: the others take over while
	// this agent finishes its in-flight ticks.
	coCtx, stopCo := context.WithCancel(ctx)
	defer context.AfterFunc(bg, stopCo)()
	g.Go(func() error { return co.Run(coCtx) })
	web, err := newHTTP(live, ev, group, stats, sink, srcs, log, append(co.collectors(), nt.Collector())...)
	if err != nil {
		_ = sink.Close(ctx)
		stopAll()
		return err
	}
	if u := web.URL(); u != "" {
		log.Info().Str("url", u).Msg("status page, /metrics, /status, /healthz and /readyz")
		if opt.onHTTP != nil {
			opt.onHTTP(u)
		}
	}
	group.Observe = web.Observer()
	g.Go(func() error { return web.Run(bg) })

	apply := func(tasks []pipeline.Task) {
		tasks = co.own(tasks) // only this agent's units in a group
		// The shared per-tick fetch asks for the topics run here only.
		srcs.watch(tasks)
		co.ownTopics(nt, tasks)
		started, stopped := group.Apply(tasks, sameTask)
		co.applied()
		srcs.release()
		if started+stopped > 0 {
			log.Info().Int("started", started).Int("stopped", stopped).Int("running", group.Len()).Msg("topics applied")
		}
		if opt.onApply != nil {
			opt.onApply(group.Keys())
		}
	}
	tasks, err := srcs.build(cfg)
	if err != nil {
		_ = sink.Close(ctx)
		stopAll()
		return err
	}
	apply(tasks)
	log.Info().Int("topics", group.Len()).Int("mirrors", len(cfg.Mirrors)).Msg("lagship running")

	var lastHash [32]byte
	var lastMod time.Time
	saidUnchanged := false
	if opt.path != "" {
		lastHash, lastMod, _ = fileState(opt.path)
	}
	reload := func(why string) {
		next, err := config.Load(opt.path)
		if err != nil {
			log.Error().Str("file", opt.path).Str("reason", why).Msg("reload refused, keeping the running config:\n" + err.Error())
			return
		}
		tasks, err := srcs.build(next)
		if err != nil {
			log.Error().Err(err).Str("file", opt.path).Msg("reload refused, keeping the running config")
			return
		}
		if esFingerprint(&next.Elasticsearch) != esFingerprint(&esApplied) {
			if rc, ok := sink.(reconfigurable); ok {
				rctx, cancel := context.WithTimeout(ctx, opt.grace)
				if err := rc.Reconfigure(rctx, next); err != nil {
					log.Error().Err(err).Msg("elasticsearch settings not applied; the previous ones stay in use")
				} else {
					esApplied = next.Elasticsearch
					log.Info().Msg("elasticsearch settings applied")
				}
				cancel()
			} else {
				log.Warn().Msg("elasticsearch settings changed; they apply at the next start")
			}
		}
		configureEvaluator(ev, next, evLog)
		no := notifyOptions(next)
		nt.Reconfigure(next.Notify, no.Settle, no.Forget)
		co.configure(next)
		apply(tasks)
		if next.HTTP.Address() != cfg.HTTP.Address() || next.HTTP.WebConfigFile != cfg.HTTP.WebConfigFile {
			log.Warn().Msg("http settings apply at the next start")
		}
		cfg = next
		live.set(next)
		log.Info().Str("file", opt.path).Str("reason", why).Msg("config reloaded")
	}

	poll := time.NewTicker(opt.poll)
	defer poll.Stop()
	replan := time.NewTicker(opt.replan)
	defer replan.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info().Dur("deadline", opt.grace).Msg("stopping: finishing in-flight ticks, then flushing")
			co.leaving(nt)
			group.Stop()
			// The flush has what is left of the deadline; what it cannot
			// deliver goes to the spool, so a slow Elasticsearch costs no
			// document and is no reason for a failing exit status.
			startGrace()
			deadline := stopBy
			if time.Until(deadline) < time.Second {
				deadline = time.Now().Add(time.Second) // always try once
			}
			fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
			if err := sink.Close(fctx); err != nil {
				log.Error().Err(err).Msg("final flush incomplete")
			}
			cancel()
			srcs.release()
			stopAll()
			log.Info().Int64("documents", stats.Docs.Load()).Int64("missed_ticks", stats.Missed.Load()).Msg("stopped")
			return nil
		case <-opt.sighup:
			if opt.path == "" {
				continue
			}
			if h, mod, err := fileState(opt.path); err == nil && h == lastHash {
				// The file did not change: say so once, not at every
				// SIGHUP (config management may send many).
				lastMod = mod
				if !saidUnchanged {
					log.Info().Str("file", opt.path).Msg("SIGHUP: config unchanged; nothing to reload (said once until it changes)")
					saidUnchanged = true
				}
				continue
			}
			reload("SIGHUP")
			saidUnchanged = false
			lastHash, lastMod, _ = fileState(opt.path)
		case <-poll.C:
			if opt.path == "" {
				continue
			}
			h, mod, err := fileState(opt.path)
			if err != nil || (h == lastHash && mod.Equal(lastMod)) {
				continue
			}
			lastMod = mod
			if h != lastHash {
				lastHash = h
				reload("file changed")
				saidUnchanged = false
			}
		case <-co.changed():
			apply(co.plan())
		case <-replan.C:
			// topics_regex mirrors: topics that appeared in the offsets
			// topic start here.
			tasks, err := srcs.build(cfg)
			if err != nil {
				log.Error().Err(err).Msg("re-planning topics")
				continue
			}
			apply(tasks)
		}
	}
}

// reconfigurable is a sink that can take new elasticsearch settings without
// a restart.
type reconfigurable interface {
	Reconfigure(ctx context.Context, cfg *config.Config) error
}

func fileState(path string) ([32]byte, time.Time, error) {
	st, err := os.Stat(path)
	if err != nil {
		return [32]byte{}, time.Time{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}, time.Time{}, err
	}
	return sha256.Sum256(b), st.ModTime(), nil
}

func esFingerprint(es *config.Elasticsearch) string {
	return configkit.Fingerprint(es, es.Password.Reveal(), es.APIKey.Reveal())
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	var lf logFlags
	lf.register(fs)
	path := configFlag(fs)
	poll := fs.Duration("reload-poll", 5*time.Second, "how often the config file is checked for changes (0 = only on SIGHUP)")
	var prof profileFlags
	prof.register(fs)
	log, err := lf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	stopProfiles, err := prof.start(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err := stopProfiles(); err != nil {
			log.Error().Err(err).Msg("writing profiles")
		}
	}()
	cfg, err := loadConfigFlag(fs, *path)
	if err != nil {
		return err
	}
	logStart(log, cfg)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if cfg.Kibana.ImportOnStart {
		importOnStart(ctx, cfg, log)
	}
	opt := agentOptions{
		path:    *path,
		poll:    *poll,
		sighup:  hup,
		newSink: func(ctx context.Context, c *config.Config) (pipeline.Sink, error) { return newESSink(ctx, c, log) },
	}
	if *poll == 0 {
		opt.poll = 365 * 24 * time.Hour
	}
	return runAgent(ctx, cfg, log, opt)
}

func cmdMapping(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mapping", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, err := stdout.Write(mappings.JSON)
	return err
}
