package main

import (
	"context"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/elasticsearch"
)

// esConfig maps the elasticsearch section of the file onto the sink's
// config. mapping nil means the embedded mapping.
func esConfig(cfg *config.Config, mapping []byte) elasticsearch.Config {
	es := cfg.Elasticsearch
	c := elasticsearch.DefaultConfig()
	c.Addresses = es.Addresses
	c.Username = es.Username
	c.Password = es.Password.Reveal()
	c.APIKey = es.APIKey.Reveal()
	c.CAFile = es.CAFile
	c.InsecureSkipVerify = es.InsecureSkipVerify
	c.Index = es.Index
	if mapping != nil {
		c.Mapping = mapping
	}
	c.FlushInterval = time.Duration(es.FlushInterval)
	if es.FlushBytes > 0 {
		c.FlushBytes = int(es.FlushBytes)
	}
	if es.Compress != nil {
		c.Compress = *es.Compress
	}
	return c
}

// newESSink builds the Elasticsearch sink of cfg: the bulk sink with its
// in-memory queue and disk spool. It does not wait for Elasticsearch: when
// it cannot be reached, documents wait in the spool until the index exists.
func newESSink(ctx context.Context, cfg *config.Config, log zerolog.Logger) (pipeline.Sink, error) {
	mapping, err := readMapping(cfg)
	if err != nil {
		return nil, err
	}
	log = log.With().Str("component", "elasticsearch").Logger()
	warnInsecure(cfg, log)
	d, err := elasticsearch.NewDurable(esConfig(cfg, mapping), elasticsearch.DurableOptions{
		SpoolDir:      cfg.Elasticsearch.SpoolDir,
		SpoolMaxBytes: int64(cfg.Elasticsearch.SpoolMaxBytes),
	}, log)
	if err != nil {
		return nil, err
	}
	return &esSink{Durable: d, started: cfg.Elasticsearch, log: log}, nil
}

// esSink is the agent's sink: the durable Elasticsearch delivery, able to
// take new settings on reload.
type esSink struct {
	*elasticsearch.Durable
	started config.Elasticsearch
	log     zerolog.Logger
}

// Reconfigure applies a reloaded elasticsearch section. The spool stays
// where it is: spool_dir and spool_max_bytes apply at the next start.
func (s *esSink) Reconfigure(ctx context.Context, cfg *config.Config) error {
	if cfg.Elasticsearch.SpoolDir != s.started.SpoolDir || cfg.Elasticsearch.SpoolMaxBytes != s.started.SpoolMaxBytes {
		s.log.Warn().Str("spool_dir", s.started.SpoolDir).Msg("spool_dir and spool_max_bytes apply at the next start; documents already spooled stay in the current spool_dir and are replayed from there")
	}
	mapping, err := readMapping(cfg)
	if err != nil {
		return err
	}
	warnInsecure(cfg, s.log)
	return s.Durable.Reconfigure(ctx, esConfig(cfg, mapping))
}

// warnInsecure says loudly when TLS verification is off or credentials go
// in clear text.
func warnInsecure(cfg *config.Config, log zerolog.Logger) {
	es := cfg.Elasticsearch
	if es.InsecureSkipVerify {
		log.Warn().Msg("elasticsearch.insecure_skip_verify is set: the server's TLS certificate is not verified")
	}
	if es.Username != "" || es.APIKey != "" {
		for _, a := range es.Addresses {
			if strings.HasPrefix(a, "http://") {
				log.Warn().Str("address", a).Msg("credentials are sent to Elasticsearch over plain http")
			}
		}
	}
}
