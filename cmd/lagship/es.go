package main

import (
	"context"
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
		c.FlushBytes = es.FlushBytes
	}
	if es.Compress != nil {
		c.Compress = *es.Compress
	}
	return c
}

// newESSink builds the Elasticsearch sink of cfg and makes sure its index
// exists. When Elasticsearch cannot be reached yet, the agent starts anyway:
// the index is created by a background retry before the first documents
// are sent.
func newESSink(ctx context.Context, cfg *config.Config, log zerolog.Logger) (pipeline.Sink, error) {
	mapping, err := readMapping(cfg)
	if err != nil {
		return nil, err
	}
	s, err := elasticsearch.New(esConfig(cfg, mapping), log.With().Str("component", "elasticsearch").Logger())
	if err != nil {
		return nil, err
	}
	if err := s.EnsureIndex(ctx); err != nil {
		log.Error().Err(err).Msg("elasticsearch index not ready")
	}
	return s, nil
}
