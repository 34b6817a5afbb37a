package main

import (
	"sort"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/sources"
)

// logStart is run's first line: what this process is and what it was told
// to do, so that a log read later answers "which version, which file,
// which cluster". Credentials never appear, not even those written into an
// address.
func logStart(log zerolog.Logger, cfg *config.Config) {
	es := &cfg.Elasticsearch
	addrs := make([]string, len(es.Addresses))
	for i, a := range es.Addresses {
		addrs[i] = configkit.RedactURL(a)
	}
	topics, patterns := 0, 0
	methods := map[string]int{}
	for i := range cfg.Mirrors {
		m := &cfg.Mirrors[i]
		methods[m.Method]++
		topics += len(m.Topics)
		if lt, ok := m.Settings.(sources.TopicsOptional); ok && lt.ListsTopics() {
			patterns++
		}
	}
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	byMethod := zerolog.Dict()
	for _, n := range names {
		byMethod = byMethod.Int(n, methods[n])
	}
	ev := log.Info().
		Str("version", buildVersion()).
		Str("config", cfg.File).
		Strs("elasticsearch", addrs).
		Str("index", es.Index).
		Int("mirrors", len(cfg.Mirrors)).
		Dict("methods", byMethod).
		Int("topics", topics)
	if patterns > 0 {
		ev = ev.Int("topics_regex_mirrors", patterns) // their topics are found at run time
	}
	ev.Str("spool_dir", es.SpoolDir).Msg("lagship starting")
}
