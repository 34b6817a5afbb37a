// Package httpapi is the agent's HTTP surface: Prometheus /metrics, /status
// JSON, /healthz, /readyz and a server-rendered status page. Everything is
// served from memory (the status evaluator's latest judgement and the
// components' health), so a scrape or a page view never costs a Kafka
// request. TLS and basic auth come from a Prometheus exporter-toolkit web
// config file, as for every other exporter.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

// Mirror is what the server shows of a configured mirror.
type Mirror struct {
	Name, Method, Cluster, Group string
	Interval                     time.Duration
}

// Agent is what the server reads; every function answers from memory.
type Agent struct {
	Version string
	Started time.Time
	// Mirrors lists the configured mirrors.
	Mirrors func() []Mirror
	// Topics is the evaluator's latest judgement of every topic, with
	// the recent history of its lag.
	Topics func() []status.TopicStatus
	// Latest, when set, is Topics without the history (for /metrics).
	Latest func() []status.TopicStatus
	// Generation, when set, changes whenever Topics may have changed;
	// /metrics then encodes the partition metrics once per change.
	Generation func() uint64
	// Components report their health (the sink, the shared sources).
	Components []health.Reporter
	// Pending lists the mirror/topic pairs without a first tick yet.
	Pending func() []string
	// LastTick is when the last collection ended (zero: none yet).
	LastTick func() time.Time
	// SinkReady reports whether the sink takes documents (index ready or
	// spooling), and SinkRunning whether its loop runs.
	SinkReady, SinkRunning func() bool
	// Counters are the workers' totals.
	Counters func() Counters
	// Collectors are components' own metrics (Kafka requests by API, SSH
	// commands by host, documents by outcome, notifications...), served
	// with the agent's. They may describe nothing (unchecked collectors),
	// since the series of a component change with the config.
	Collectors []prometheus.Collector
	// Coordination, when set, is the agents' group as this agent sees it
	// (its own units, the members, who owns what, the generation), shown
	// in /status.
	Coordination func() any
}

// Counters are the workers' totals since start.
type Counters struct {
	Ticks, Missed, Errors, Documents int64
	LastCollect                      time.Duration
}

// Server serves the agent's HTTP surface.
type Server struct {
	settings Settings
	agent    Agent
	reg      *prometheus.Registry
	mux      *http.ServeMux
	ln       net.Listener
	log      *slog.Logger
	now      func() time.Time
	cache    expositionCache
	// maxCached: a partition text larger than this is streamed, not
	// held (maxCached; tests lower it).
	maxCached int
	builders  chan *builder // the builder streamed answers reuse
	ticks     *ticks
}

// New builds the server and listens on the configured address, so that a
// port already taken is an error at start. Run serves.
func New(s Settings, a Agent, log *slog.Logger) (*Server, error) {
	srv := &Server{settings: s, agent: a, log: log, now: time.Now, maxCached: maxCached, builders: make(chan *builder, 1)}
	srv.ticks = &ticks{mirrors: srv.mirrors}
	srv.reg = prometheus.NewRegistry()
	srv.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{srv: srv},
		srv.ticks,
	)
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lagship_build_info", Help: "lagship's version and the Go version it was built with; always 1."}, []string{"version", "goversion"})
	build.WithLabelValues(a.Version, goVersion()).Set(1)
	srv.reg.MustRegister(build)
	for _, c := range a.Collectors {
		if err := srv.reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}

	srv.mux = http.NewServeMux()
	srv.mux.HandleFunc("GET /metrics", srv.serveMetrics)
	srv.mux.HandleFunc("GET /status", srv.serveStatus)
	srv.mux.HandleFunc("GET /healthz", srv.serveHealthz)
	srv.mux.HandleFunc("GET /readyz", srv.serveReadyz)
	srv.mux.HandleFunc("GET /{$}", srv.servePage)
	if addr := s.Address(); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("http.listen %s: %w (another program uses the port? set http.listen to another host:port, or \"\" to turn the server off)", addr, err)
		}
		srv.ln = ln
	}
	return srv, nil
}

// Observer counts and times the workers' collections per mirror for
// /metrics; set it as the worker group's Observe.
func (s *Server) Observer() pipeline.Observer { return s.ticks }

// Handler is the server's handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// Addr is the address the server listens on ("" when off).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the page's URL ("" when off).
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	scheme := "http"
	if s.settings.WebConfigFile != "" {
		scheme = "https" // when the web config sets TLS; see the README
	}
	return scheme + "://" + s.ln.Addr().String() + "/"
}

// Run serves until ctx ends, then shuts down within 5 s.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		<-ctx.Done()
		return nil
	}
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	cfgFile := s.settings.WebConfigFile
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{s.ln.Addr().String()}, WebSystemdSocket: &systemd, WebConfigFile: &cfgFile}
	errc := make(chan error, 1)
	go func() { errc <- web.Serve(s.ln, hs, flags, s.log) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	<-errc
	return nil
}

// Problem is one reason the agent is not healthy or not ready.
type Problem struct {
	What   string `json:"what"`
	Detail string `json:"detail,omitempty"`
}

// liveness: the scheduler made progress within 3 of the longest interval,
// and the sink's loop runs.
func (s *Server) liveness() []Problem {
	var out []Problem
	if s.agent.SinkRunning != nil && !s.agent.SinkRunning() {
		out = append(out, Problem{What: "sink", Detail: "the delivery loop is not running"})
	}
	var longest time.Duration
	for _, m := range s.mirrors() {
		longest = max(longest, m.Interval)
	}
	if longest > 0 && s.agent.LastTick != nil {
		last := s.agent.LastTick()
		since := s.now().Sub(last)
		if last.IsZero() {
			since = s.now().Sub(s.agent.Started)
		}
		if since > 3*longest+time.Second {
			out = append(out, Problem{What: "scheduler", Detail: fmt.Sprintf("no collection ended for %s (3 × the longest interval is %s)", since.Round(time.Second), 3*longest)})
		}
	}
	return out
}

// readiness: the sink takes documents and every topic had a first tick.
func (s *Server) readiness() []Problem {
	var out []Problem
	if s.agent.SinkReady != nil && !s.agent.SinkReady() {
		out = append(out, Problem{What: "sink", Detail: "the index is not ready and the spool takes no documents yet"})
	}
	if s.agent.Pending != nil {
		if p := s.agent.Pending(); len(p) > 0 {
			detail := strings.Join(p, ", ")
			if len(p) > 20 {
				detail = strings.Join(p[:20], ", ") + fmt.Sprintf(" and %d more", len(p)-20)
			}
			out = append(out, Problem{What: "first tick", Detail: detail})
		}
	}
	return out
}

func (s *Server) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	writeProblems(w, s.liveness(), "alive")
}

func (s *Server) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	writeProblems(w, s.readiness(), "ready")
}

func (s *Server) mirrors() []Mirror {
	if s.agent.Mirrors == nil {
		return nil
	}
	return s.agent.Mirrors()
}

func (s *Server) topics() []status.TopicStatus {
	if s.agent.Topics == nil {
		return nil
	}
	return s.agent.Topics()
}

// latest is topics without their history.
func (s *Server) latest() []status.TopicStatus {
	if s.agent.Latest != nil {
		return s.agent.Latest()
	}
	return s.topics()
}
