package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
)

// summaryLoop logs one line every `every` while the agent runs: what the
// workers did since the last line, and the state of every component that
// reports its health, so the log is not silent between start and stop.
func summaryLoop(ctx context.Context, every time.Duration, stats *pipeline.Stats, parts []any, log zerolog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	var last pipeline.StatsSnapshot
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			now := stats.Snapshot()
			logSummary(log, every, now.Sub(last), now, parts...)
			last = now
		}
	}
}

func logSummary(log zerolog.Logger, every time.Duration, d, now pipeline.StatsSnapshot, parts ...any) {
	ev := log.Info().Dur("period", every).
		Int64("ticks", d.Ticks).Int64("documents", d.Docs).Int64("missed_ticks", d.Missed).
		Int64("collection_errors", d.Errors).Int64("failing_topics", now.Failing)
	var failing []string
	for _, part := range parts {
		hr, ok := part.(health.Reporter)
		if !ok {
			continue
		}
		for _, st := range hr.Health() {
			if st.State != health.Up {
				failing = append(failing, st.Component+": "+string(st.State))
			}
			for k, v := range st.Counters {
				ev = ev.Int64(st.Component+"."+k, v)
			}
		}
	}
	if len(failing) > 0 {
		ev = ev.Strs("degraded", failing)
	}
	ev.Msg("summary")
}
