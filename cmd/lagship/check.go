package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/sinks/elasticsearch"
	"github.com/lagship/lagship/sources"
	kafkasrc "github.com/lagship/lagship/sources/kafka"
)

// check is one line of `lagship check`.
type check struct {
	scope  string // "config", "elasticsearch", "cluster dc1", "mirror legacy"
	name   string
	ok     bool
	detail string
}

// cmdCheck validates the config and probes every endpoint it names; one line
// per check, exit 1 on any failure.
func cmdCheck(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	var lf logFlags
	lf.register(fs)
	setDefault(fs, "log-level", "error")
	path := configFlag(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "bound for each probe")
	log, err := lf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(out, "FAIL  config  %s\n", *path)
		fmt.Fprintln(out, configError(err, configOrigin(fs)))
		return &exitError{code: 1}
	}
	checks := []check{{scope: "config", name: *path, ok: true, detail: fmt.Sprintf("%d clusters, %d mirrors", len(cfg.Clusters), len(cfg.Mirrors))}}
	// The spool: run refuses to start without it.
	checks = append(checks, probeSpool(cfg.Elasticsearch.SpoolDir, int64(cfg.Elasticsearch.SpoolMaxBytes))...)
	// The HTTP port: taken, run refuses to start too.
	held, _ := spoolLocked(cfg.Elasticsearch.SpoolDir)
	checks = append(checks, probeListen(cfg.HTTP.Address(), held)...)
	probeCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, *timeout) }

	// Elasticsearch
	esc := cfg.Elasticsearch.Config(nil)
	esc.MaxRetries = 1 // a probe reports, it does not wait out an outage
	if es, err := elasticsearch.New(esc, log); err != nil {
		checks = append(checks, check{scope: "elasticsearch", name: "client", detail: err.Error()})
	} else {
		c, cancel := probeCtx()
		for _, pc := range es.Probe(c) {
			checks = append(checks, check{scope: "elasticsearch", name: pc.Name, ok: pc.OK, detail: pc.Detail})
		}
		cancel()
		es.Close()
	}

	// Mirrors: each method probes its own dependencies.
	env := sources.NewEnv(log)
	envCtx, stopEnv := context.WithCancel(ctx)
	envDone := make(chan struct{})
	go func() { defer close(envDone); _ = env.Run(envCtx) }()
	defer func() { stopEnv(); <-envDone }()
	kafkasrc.DefineClusters(env, cfg.Clusters)
	for i := range cfg.Mirrors {
		m := &cfg.Mirrors[i]
		c, cancel := probeCtx()
		for _, pc := range m.Settings.Probe(c, env, cfg.Spec(m)) {
			checks = append(checks, check{scope: "mirror " + m.Name, name: pc.Name, ok: pc.OK, detail: pc.Detail})
		}
		cancel()
	}
	c, cancel := probeCtx()
	checks = append(checks, probeCoordination(c, cfg)...)
	cancel()

	failed := 0
	for _, c := range checks {
		status := "OK  "
		if !c.ok {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(out, "%s  %-24s %-36s %s\n", status, c.scope, c.name, c.detail)
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d checks failed", failed, len(checks))}
	}
	return nil
}
