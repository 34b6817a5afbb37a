package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/delivery"
	"github.com/lagship/lagship/sinks/elasticsearch"
)

// newESSink builds the Elasticsearch output of cfg: the bulk writer behind
// the delivery layer (memory batch, disk spool, replay). It does not wait
// for Elasticsearch: when it cannot be reached, documents wait in the spool
// until the index is ready. With a data stream it first tries the set-up
// once (for at most startCheck): when the cluster answers that its index
// layout does not fit the settings (a plain index of the stream's name, a
// time series stream on a cluster before 8.7), the agent refuses to start
// and nothing is written anywhere.
func newESSink(ctx context.Context, cfg *config.Config, log zerolog.Logger) (pipeline.Sink, error) {
	es := &cfg.Elasticsearch
	mapping, err := es.Mapping()
	if err != nil {
		return nil, err
	}
	log = log.With().Str("component", "elasticsearch").Logger()
	warnInsecure(es, log)
	w, err := elasticsearch.New(es.Config(mapping), log)
	if err != nil {
		return nil, err
	}
	if es.DataStream {
		pctx, cancel := context.WithTimeout(ctx, startCheck)
		err := w.Prepare(pctx)
		cancel()
		if errors.Is(err, elasticsearch.ErrLayout) {
			w.Close()
			return nil, fmt.Errorf("elasticsearch: %w", err)
		}
		// Unreachable or failing: the delivery loop prepares again
		// and the spool takes the documents meanwhile.
	}
	out, err := delivery.New(w, es.DeliveryOptions(), log)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &esSink{Output: out, w: w, started: cfg.Elasticsearch, log: log}, nil
}

// startCheck bounds the data stream set-up tried at start: an
// Elasticsearch that does not answer delays the first tick by at most
// this much (its documents then wait in the spool as usual).
const startCheck = 5 * time.Second

// esSink is the agent's Elasticsearch output, able to take new settings on
// reload.
type esSink struct {
	*delivery.Output
	mu      sync.Mutex
	w       *elasticsearch.Sink
	started config.Elasticsearch
	log     zerolog.Logger
}

// Reconfigure applies a reloaded elasticsearch section: the new writer must
// reach its cluster and have its index ready before it replaces the running
// one. The spool stays where it is: spool_dir and spool_max_bytes apply at
// the next start.
func (s *esSink) Reconfigure(ctx context.Context, cfg *config.Config) error {
	if cfg.Elasticsearch.SpoolDir != s.started.SpoolDir || cfg.Elasticsearch.SpoolMaxBytes != s.started.SpoolMaxBytes {
		s.log.Warn().Str("spool_dir", s.started.SpoolDir).Msg("spool_dir and spool_max_bytes apply at the next start; documents already spooled stay in the current spool_dir and are replayed from there")
	}
	es := &cfg.Elasticsearch
	mapping, err := es.Mapping()
	if err != nil {
		return err
	}
	warnInsecure(es, s.log)
	w, err := elasticsearch.New(es.Config(mapping), s.log)
	if err != nil {
		return err
	}
	if err := w.Prepare(ctx); err != nil {
		w.Close()
		return fmt.Errorf("new elasticsearch settings not applied: %w", err)
	}
	s.Output.Swap(w)
	s.mu.Lock()
	old := s.w
	s.w = w
	s.mu.Unlock()
	old.Close()
	return nil
}

// Writer is the Elasticsearch writer in use.
func (s *esSink) Writer() *elasticsearch.Sink {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w
}

// Close flushes the output, then releases the client.
func (s *esSink) Close(ctx context.Context) error {
	err := s.Output.Close(ctx)
	s.Writer().Close()
	return err
}

// warnInsecure says loudly when TLS verification is off or credentials go
// in clear text.
func warnInsecure(es *elasticsearch.Settings, log zerolog.Logger) {
	for _, w := range es.Insecure() {
		log.Warn().Msg(w)
	}
}
