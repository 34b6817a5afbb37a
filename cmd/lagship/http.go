package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/internal/httpapi"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

// liveConfig is the running config, replaced on reload.
type liveConfig struct {
	mu  sync.Mutex
	cfg *config.Config
}

func (l *liveConfig) get() *config.Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

func (l *liveConfig) set(c *config.Config) {
	l.mu.Lock()
	l.cfg = c
	l.mu.Unlock()
}

// newHTTP builds the agent's HTTP server on what run holds in memory.
func newHTTP(live *liveConfig, ev *status.Evaluator, group *pipeline.Group, stats *pipeline.Stats, sink pipeline.Sink, srcs health.Reporter, log zerolog.Logger, collectors ...prometheus.Collector) (*httpapi.Server, error) {
	comps := []health.Reporter{srcs}
	if r, ok := sink.(health.Reporter); ok {
		comps = append([]health.Reporter{r}, comps...)
	}
	colls := append([]prometheus.Collector(nil), collectors...)
	for _, c := range []any{sink, srcs} {
		if c, ok := c.(prometheus.Collector); ok {
			colls = append(colls, c)
		}
	}
	agent := httpapi.Agent{
		Version: buildVersion(),
		Started: time.Now(),
		Mirrors: func() []httpapi.Mirror {
			cfg := live.get()
			out := make([]httpapi.Mirror, 0, len(cfg.Mirrors))
			for i := range cfg.Mirrors {
				m := &cfg.Mirrors[i]
				out = append(out, httpapi.Mirror{Name: m.Name, Method: m.Method, Interval: cfg.EffectiveInterval(m)})
			}
			return out
		},
		Topics:     ev.Snapshot,
		Latest:     ev.Latest,
		Generation: ev.Generation,
		Components: comps,
		Collectors: colls,
		Pending:    group.Pending,
		LastTick: func() time.Time {
			if n := stats.LastTick.Load(); n > 0 {
				return time.Unix(0, n)
			}
			return time.Time{}
		},
		SinkReady: func() bool {
			r, ok := sink.(health.Reporter)
			if !ok {
				return true
			}
			for _, st := range r.Health() {
				if st.State == health.Starting {
					return false
				}
			}
			return true
		},
		SinkRunning: func() bool {
			r, ok := sink.(interface{ Running() bool })
			return !ok || r.Running()
		},
		Counters: func() httpapi.Counters {
			s := stats.Snapshot()
			return httpapi.Counters{Ticks: s.Ticks, Missed: s.Missed, Errors: s.Errors, Documents: s.Docs, LastCollect: time.Duration(stats.LastCollect.Load())}
		},
	}
	for _, c := range collectors {
		// A collector with a view of the agents' group (coordination)
		// also shows it in /status.
		if v, ok := c.(interface{ CoordinationView() any }); ok {
			agent.Coordination = v.CoordinationView
		}
		if r, ok := c.(health.Reporter); ok {
			agent.Components = append(agent.Components, r)
		}
	}
	return httpapi.New(live.get().HTTP, agent, slog.New(zerologHandler{log}))
}

// zerologHandler lets exporter-toolkit's slog lines go to the agent's log.
type zerologHandler struct{ log zerolog.Logger }
