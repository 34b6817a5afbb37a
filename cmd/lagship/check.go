package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/sinks/elasticsearch"
	kafkasrc "github.com/lagship/lagship/sources/kafka"
	"github.com/lagship/lagship/sources/mm2"
	sshsrc "github.com/lagship/lagship/sources/ssh"
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
	fs.Lookup("log-level").Value.Set("error")
	path := fs.String("config", defaultConfig, "config file")
	timeout := fs.Duration("timeout", 30*time.Second, "bound for each probe")
	log, err := lf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(out, "FAIL  config  %s\n", *path)
		fmt.Fprintln(out, err)
		return &exitError{code: 1}
	}
	checks := []check{{scope: "config", name: *path, ok: true, detail: fmt.Sprintf("%d clusters, %d mirrors", len(cfg.Clusters), len(cfg.Mirrors))}}
	probeCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, *timeout) }

	// Elasticsearch
	esc := esConfig(cfg, nil)
	esc.MaxRetries = 1 // a probe reports, it does not wait out an outage
	if es, err := elasticsearch.New(esc, log); err != nil {
		checks = append(checks, check{scope: "elasticsearch", name: "client", detail: err.Error()})
	} else {
		c, cancel := probeCtx()
		for _, pc := range es.Probe(c) {
			checks = append(checks, check{scope: "elasticsearch", name: pc.Name, ok: pc.OK, detail: pc.Detail})
		}
		cancel()
		_ = es.Close(ctx)
	}

	// Clusters and mirrors
	clusters := map[string]*kafkasrc.Cluster{}
	defer func() {
		for _, c := range clusters {
			c.Close()
		}
	}()
	cluster := func(name string) (*kafkasrc.Cluster, error) {
		if c, ok := clusters[name]; ok {
			return c, nil
		}
		c, err := kafkasrc.NewCluster(kafkaConfig(cfg.ClusterByName(name)), log)
		if err != nil {
			return nil, err
		}
		clusters[name] = c
		return c, nil
	}
	for i := range cfg.Mirrors {
		m := &cfg.Mirrors[i]
		scope := "mirror " + m.Name
		c, cancel := probeCtx()
		switch m.Method {
		case config.MethodNative:
			kc, err := cluster(m.Cluster)
			if err != nil {
				checks = append(checks, check{scope: scope, name: "cluster " + m.Cluster, detail: err.Error()})
				break
			}
			for _, pc := range kc.Probe(c, m.Group, m.Topics) {
				checks = append(checks, check{scope: scope, name: pc.Name, ok: pc.OK, detail: pc.Detail})
			}
		case config.MethodSSH:
			for _, pc := range sshsrc.Probe(c, sshConfig(m), log) {
				checks = append(checks, check{scope: scope, name: pc.Name, ok: pc.OK, detail: pc.Detail})
			}
		case config.MethodMM2:
			src, err := cluster(m.SourceCluster)
			if err != nil {
				checks = append(checks, check{scope: scope, name: "source cluster " + m.SourceCluster, detail: err.Error()})
				break
			}
			for _, pc := range src.Probe(c, "", m.Topics) {
				checks = append(checks, check{scope: scope, name: "source " + pc.Name, ok: pc.OK, detail: pc.Detail})
			}
			client, err := kafkasrc.NewClient(kafkaConfig(cfg.ClusterByName(m.OffsetsCluster)))
			if err != nil {
				checks = append(checks, check{scope: scope, name: "offsets cluster " + m.OffsetsCluster, detail: err.Error()})
				break
			}
			for _, pc := range mm2.Probe(c, client, m.OffsetsTopicName(), m.Alias(), m.Topics, log) {
				checks = append(checks, check{scope: scope, name: pc.Name, ok: pc.OK, detail: pc.Detail})
			}
		}
		cancel()
	}

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
