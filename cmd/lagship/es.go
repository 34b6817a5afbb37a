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

// newESSink builds the Elasticsearch sink of cfg: the bulk sink with its
// in-memory queue and disk spool. It does not wait for Elasticsearch: when
// it cannot be reached, documents wait in the spool until the index exists.
func newESSink(ctx context.Context, cfg *config.Config, log zerolog.Logger) (pipeline.Sink, error) {
	mapping, err := readMapping(cfg)
	if err != nil {
		return nil, err
	}
	d, err := elasticsearch.NewDurable(esConfig(cfg, mapping), elasticsearch.DurableOptions{
		SpoolDir:      cfg.Elasticsearch.SpoolDir,
		SpoolMaxBytes: int64(cfg.Elasticsearch.SpoolMaxBytes),
	}, log.With().Str("component", "elasticsearch").Logger())
	if err != nil {
		return nil, err
	}
	return d, nil
}
