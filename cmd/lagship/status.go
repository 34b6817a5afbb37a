package main

import (
	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/pipeline/status"
)

// newEvaluator is the status evaluator for cfg's mirrors.
func newEvaluator(cfg *config.Config) *status.Evaluator {
	ev := status.New(status.DefaultRules())
	configureEvaluator(ev, cfg, zerolog.Nop())
	return ev
}

// configureEvaluator gives every mirror its rules (a mirror whose rules
// changed starts its window again) and warns about windows too short to see
// MirrorMaker commit.
func configureEvaluator(ev *status.Evaluator, cfg *config.Config, log zerolog.Logger) {
	for i := range cfg.Mirrors {
		m := &cfg.Mirrors[i]
		r := cfg.StatusRules(m)
		ev.Configure(m.Name, r)
		if status.ShortWindow(r) {
			log.Warn().Str("mirror", m.Name).Dur("window", r.Window).Dur("commit_interval", status.CommitInterval).
				Msg("status window is shorter than 3 commit intervals: MirrorMaker commits about once a minute (offset.commit.interval.ms), so a healthy mirror may look STALL or STOP between commits; use a window of at least 3m unless its commit interval is shorter")
		}
	}
}
