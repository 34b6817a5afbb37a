package delivery

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
)

// Fanout writes every document to several sinks. Each Output in it keeps
// its own memory batch and spool, and Write never waits for a destination,
// so a stalled one never holds up the others.
type Fanout []pipeline.Sink

// Write hands docs to every sink; the errors of those that refuse are
// joined.
func (f Fanout) Write(ctx context.Context, docs []pipeline.Doc) error {
	var errs []error
	for _, s := range f {
		if err := s.Write(ctx, docs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run runs the sinks that have a Run method until they all return.
func (f Fanout) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range f {
		if r, ok := s.(interface{ Run(context.Context) error }); ok {
			g.Go(func() error { return r.Run(ctx) })
		}
	}
	return g.Wait()
}

// Close closes every sink at the same time, within ctx.
func (f Fanout) Close(ctx context.Context) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, s := range f {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Close(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Health reports the status of every sink that reports one.
func (f Fanout) Health() []health.Status {
	var out []health.Status
	for _, s := range f {
		if r, ok := s.(health.Reporter); ok {
			out = append(out, r.Health()...)
		}
	}
	return out
}

// Running reports whether every sink with a loop runs it.
func (f Fanout) Running() bool {
	for _, s := range f {
		if r, ok := s.(interface{ Running() bool }); ok && !r.Running() {
			return false
		}
	}
	return true
}

// Describe sends nothing: Fanout is an unchecked collector.
func (f Fanout) Describe(chan<- *prometheus.Desc) {}

// Collect collects every sink that has metrics.
func (f Fanout) Collect(ch chan<- prometheus.Metric) {
	for _, s := range f {
		if c, ok := s.(prometheus.Collector); ok {
			c.Collect(ch)
		}
	}
}
