package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/lagship/lagship/internal/tlsconfig"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/rs/zerolog"

	"github.com/lagship/lagship/pipeline"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("elasticsearch sink is closed")

// Spool stores documents the sink could not deliver, for a later Write.
// Connect one with UndeliveredTo.
type Spool interface {
	Put(docs []pipeline.Doc) error
}

// UndeliveredTo returns an OnUndelivered hook that hands documents to sp and
// logs when the spool refuses them.
func UndeliveredTo(sp Spool, log zerolog.Logger) func([]pipeline.Doc) {
	return func(docs []pipeline.Doc) {
		if err := sp.Put(docs); err != nil {
			log.Error().Err(err).Int("docs", len(docs)).Msg("spool refused undelivered documents; they are lost")
		}
	}
}

// Stats are the sink's counters since New.
type Stats struct {
	Indexed       uint64 // created (201)
	Duplicates    uint64 // already there (409 on create): counted as delivered
	Rejected      uint64 // refused for good (mapping errors and other 4xx)
	Retried       uint64 // item re-sends after a per-item 429 or 5xx
	Undelivered   uint64 // handed to OnUndelivered (or dropped when it is nil)
	BulkRequests  uint64 // _bulk requests sent (client retries not counted)
	FailedFlushes uint64 // _bulk requests that failed as a whole after the client's retries
	Pending       int    // accepted by Write, outcome not known yet
}

// Sink ships documents to one index with the bulk API. Create it with New,
// call EnsureIndex once, then Write; Close flushes.
type Sink struct {
	cfg Config
	log zerolog.Logger
	es  *elasticsearch.Client
	bi  esutil.BulkIndexer

	onSuccess func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem)
	onFailure func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem, error)

	indexed, duplicates, rejected, retried, undelivered, failedFlushes atomic.Uint64

	mu           sync.Mutex
	closed       bool
	aborted      bool
	writers      sync.WaitGroup
	pending      int
	retryQ       []*itemBody
	retryStopped bool
	undeliv      []pipeline.Doc
	flushes      map[*flushState]struct{}
	logged       map[string]*logState

	hookMu    sync.Mutex
	changed   chan struct{} // poked when pending drops or a retry is re-added
	wake      chan struct{} // poked when the retry queue grows
	stopRetry context.CancelFunc
	retryDone chan struct{}
	bufs      sync.Pool
}

// itemBody is the body of one bulk item and everything needed to retry or
// spool it. The bulk indexer hands it back in its callbacks.
type itemBody struct {
	bytes.Reader
	doc     pipeline.Doc
	id      string
	buf     *[]byte
	attempt int // sends so far
	readyAt time.Time
}

type flushState struct{ cancel context.CancelFunc }

type flushKey struct{}

type logState struct {
	last       time.Time
	suppressed int
}

// New builds the client and the bulk indexer. It does not contact the
// cluster: EnsureIndex and Probe do.
func New(cfg Config, log zerolog.Logger) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:       cfg,
		log:       log.With().Str("sink", "elasticsearch").Str("index", cfg.Index).Logger(),
		flushes:   map[*flushState]struct{}{},
		logged:    map[string]*logState{},
		changed:   make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		retryDone: make(chan struct{}),
	}
	s.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	s.onSuccess = s.itemSucceeded
	s.onFailure = s.itemFailed

	// The CA file is trusted in addition to the system roots, as for Kafka
	// and Kibana.
	tlsCfg, err := tlsconfig.Client(tlsconfig.Options{CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:           cfg.Addresses,
		Username:            cfg.Username,
		Password:            cfg.Password,
		APIKey:              cfg.APIKey,
		Transport:           tr,
		RetryOnStatus:       []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:          cfg.MaxRetries,
		RetryBackoff:        s.backoff,
		CompressRequestBody: cfg.Compress,
		// Level 1 by default: see Config.CompressLevel.
		CompressRequestBodyLevel: cfg.CompressLevel,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: creating client: %w", err)
	}
	s.es = es
	s.bi, err = esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        es,
		Index:         cfg.Index,
		NumWorkers:    cfg.Workers,
		FlushBytes:    cfg.FlushBytes,
		FlushInterval: cfg.FlushInterval,
		OnError:       s.indexerError,
		OnFlushStart:  s.flushStart,
		OnFlushEnd:    s.flushEnd,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: creating bulk indexer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopRetry = cancel
	go s.retryLoop(ctx)
	return s, nil
}

// backoff is the delay before retry n (1-based): RetryBackoff doubled each
// time up to MaxBackoff, with jitter in its upper half.
func (s *Sink) backoff(n int) time.Duration {
	d := s.cfg.RetryBackoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// Write queues documents for the bulk indexer, one "create" item each with
// the document's deterministic ID. It returns once they are queued; their
// outcome shows in Stats and, for undeliverable ones, in OnUndelivered.
// Write keeps the documents (and their Lags) until then: do not modify them
// afterwards. It blocks while the indexer's queues are full, until ctx ends;
// documents not queued by then go to OnUndelivered and Write returns an
// error.
func (s *Sink) Write(ctx context.Context, docs []pipeline.Doc) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.writers.Add(1)
	s.pending += len(docs)
	s.mu.Unlock()
	defer s.writers.Done()

	for i := range docs {
		ib := s.encode(&docs[i])
		if err := s.add(ctx, ib); err != nil {
			s.release(ib)
			s.mu.Lock()
			s.undeliv = append(s.undeliv, docs[i:]...)
			s.pending -= len(docs) - i
			s.mu.Unlock()
			s.undelivered.Add(uint64(len(docs) - i))
			s.deliverUndelivered()
			return fmt.Errorf("writing to index %q: %d of %d documents not queued: %w", s.cfg.Index, len(docs)-i, len(docs), err)
		}
	}
	return nil
}

// encode renders a document into a pooled buffer.
func (s *Sink) encode(d *pipeline.Doc) *itemBody {
	bp := s.bufs.Get().(*[]byte)
	*bp = d.AppendJSON((*bp)[:0])
	ib := &itemBody{doc: *d, id: d.ID(), buf: bp}
	ib.Reset(*bp)
	return ib
}

func (s *Sink) add(ctx context.Context, ib *itemBody) error {
	ib.attempt++
	return s.bi.Add(ctx, esutil.BulkIndexerItem{
		Action:     "create",
		DocumentID: ib.id,
		Body:       ib,
		OnSuccess:  s.onSuccess,
		OnFailure:  s.onFailure,
	})
}

// release returns the body buffer; the bulk indexer copied it long before
// an item's outcome is known.
func (s *Sink) release(ib *itemBody) {
	if ib.buf != nil && cap(*ib.buf) <= 64<<10 {
		s.bufs.Put(ib.buf)
	}
	ib.buf = nil
	ib.Reset(nil)
}

// finish records that an item has its final outcome.
func (s *Sink) finish(ib *itemBody) {
	s.release(ib)
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
	poke(s.changed)
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *Sink) itemSucceeded(_ context.Context, it esutil.BulkIndexerItem, _ esutil.BulkIndexerResponseItem) {
	s.indexed.Add(1)
	s.finish(it.Body.(*itemBody))
}

func (s *Sink) itemFailed(_ context.Context, it esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
	ib := it.Body.(*itemBody)
	switch {
	case err != nil:
		// The whole request failed after the client's retries (or the item
		// could not be buffered): nothing reached the index.
		s.giveUp(ib)
	case res.Status == http.StatusConflict:
		s.duplicates.Add(1)
		s.finish(ib)
	case res.Status == http.StatusTooManyRequests || res.Status >= 500:
		s.retry(ib, res)
	default:
		s.rejected.Add(1)
		s.logRejected(ib, res)
		s.finish(ib)
	}
}

func (s *Sink) giveUp(ib *itemBody) {
	s.undelivered.Add(1)
	s.mu.Lock()
	s.undeliv = append(s.undeliv, ib.doc)
	s.mu.Unlock()
	s.finish(ib)
}

// retry schedules a re-send after a backoff: the bulk indexer does not retry
// items itself.
func (s *Sink) retry(ib *itemBody, res esutil.BulkIndexerResponseItem) {
	if ib.attempt > s.cfg.MaxRetries {
		if s.allowLog("item-gave-up") {
			s.log.Error().Str("doc_id", ib.id).Int("status", res.Status).Str("error_type", res.Error.Type).
				Int("attempts", ib.attempt).Msg("elasticsearch kept refusing a document; handing it to the spool")
		}
		s.giveUp(ib)
		return
	}
	ib.readyAt = time.Now().Add(s.backoff(ib.attempt))
	s.mu.Lock()
	if s.retryStopped {
		// Close has stopped re-sending: the last flushes' refusals are spooled.
		s.mu.Unlock()
		s.giveUp(ib)
		return
	}
	s.retried.Add(1)
	s.retryQ = append(s.retryQ, ib)
	s.mu.Unlock()
	poke(s.wake)
}

// retryLoop re-adds items whose backoff has elapsed. It runs outside the
// bulk indexer's workers: adding from a worker callback could deadlock on a
// full queue.
func (s *Sink) retryLoop(ctx context.Context) {
	defer close(s.retryDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var due []*itemBody
		next := time.Time{}
		s.mu.Lock()
		keep := s.retryQ[:0]
		for _, ib := range s.retryQ {
			if !ib.readyAt.After(now) {
				due = append(due, ib)
				continue
			}
			keep = append(keep, ib)
			if next.IsZero() || ib.readyAt.Before(next) {
				next = ib.readyAt
			}
		}
		clear(s.retryQ[len(keep):])
		s.retryQ = keep
		s.mu.Unlock()
		for i, ib := range due {
			if err := s.add(ctx, ib); err != nil {
				for _, rest := range due[i:] {
					s.giveUp(rest)
				}
				return
			}
			poke(s.changed)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

func (s *Sink) flushStart(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	st := &flushState{cancel: cancel}
	s.mu.Lock()
	if s.aborted {
		cancel()
	}
	s.flushes[st] = struct{}{}
	s.mu.Unlock()
	return context.WithValue(ctx, flushKey{}, st)
}

func (s *Sink) flushEnd(ctx context.Context) {
	if st, ok := ctx.Value(flushKey{}).(*flushState); ok {
		st.cancel()
		s.mu.Lock()
		delete(s.flushes, st)
		s.mu.Unlock()
	}
	s.deliverUndelivered()
}

// indexerError receives whole-request failures ("flush: ...") and context
// errors of Add, Flush and Close.
func (s *Sink) indexerError(_ context.Context, err error) {
	if len(err.Error()) < 6 || err.Error()[:6] != "flush:" {
		return
	}
	s.failedFlushes.Add(1)
	if s.allowLog("flush") {
		s.log.Error().Err(err).Msg("bulk request failed after retries; its documents go to the spool")
	}
}

// deliverUndelivered hands collected undeliverable documents to the hook,
// one call at a time.
func (s *Sink) deliverUndelivered() {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.mu.Lock()
	docs := s.undeliv
	s.undeliv = nil
	s.mu.Unlock()
	if len(docs) == 0 {
		return
	}
	if s.cfg.OnUndelivered != nil {
		s.cfg.OnUndelivered(docs)
		return
	}
	s.log.Error().Int("docs", len(docs)).Msg("documents could not be delivered and no spool is configured; they are lost")
}

var fieldInReason = regexp.MustCompile(`field \[([^\]]+)\]`)

func (s *Sink) logRejected(ib *itemBody, res esutil.BulkIndexerResponseItem) {
	field := ""
	if m := fieldInReason.FindStringSubmatch(res.Error.Reason); m != nil {
		field = m[1]
	}
	key := "rejected|" + res.Error.Type + "|" + res.Error.Cause.Type + "|" + field
	s.mu.Lock()
	st := s.logged[key]
	if st == nil {
		st = &logState{}
		s.logged[key] = st
	}
	now := time.Now()
	if !st.last.IsZero() && now.Sub(st.last) < time.Minute {
		st.suppressed++
		s.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.last, st.suppressed = now, 0
	s.mu.Unlock()
	s.log.Error().Str("doc_id", ib.id).Str("topic", ib.doc.Topic).Int("status", res.Status).
		Str("error_type", res.Error.Type).Str("reason", res.Error.Reason).
		Str("caused_by", res.Error.Cause.Reason).Int("suppressed_since_last", suppressed).
		Msg("elasticsearch rejected a document; it is not retried (check the index mapping)")
}

// allowLog rate-limits a log line to one a minute per key.
func (s *Sink) allowLog(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.logged[key]
	if st == nil {
		st = &logState{}
		s.logged[key] = st
	}
	now := time.Now()
	if !st.last.IsZero() && now.Sub(st.last) < time.Minute {
		st.suppressed++
		return false
	}
	st.last = now
	return true
}

// Stats returns the counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	pending := s.pending
	s.mu.Unlock()
	return Stats{
		Indexed:       s.indexed.Load(),
		Duplicates:    s.duplicates.Load(),
		Rejected:      s.rejected.Load(),
		Retried:       s.retried.Load(),
		Undelivered:   s.undelivered.Load(),
		BulkRequests:  s.bi.Stats().NumRequests,
		FailedFlushes: s.failedFlushes.Load(),
		Pending:       pending,
	}
}

// Close stops accepting documents, flushes everything buffered, waits for
// retries to settle and releases the client. If ctx ends first, in-flight
// requests are cancelled and every document without an outcome goes to
// OnUndelivered before Close returns ctx's error.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()

	err := s.drain(ctx)
	if err != nil {
		s.abort()
	}
	s.writers.Wait() // quick once aborted: workers fail fast
	s.stopRetry()
	<-s.retryDone
	s.mu.Lock()
	rest := s.retryQ
	s.retryQ, s.retryStopped = nil, true
	s.mu.Unlock()
	for _, ib := range rest {
		s.giveUp(ib)
	}
	_ = s.bi.Close(context.Background())
	s.deliverUndelivered()
	_ = s.es.Close(context.Background())
	st := s.Stats()
	s.log.Info().Uint64("indexed", st.Indexed).Uint64("duplicates", st.Duplicates).Uint64("rejected", st.Rejected).
		Uint64("undelivered", st.Undelivered).Msg("elasticsearch sink closed")
	if err != nil {
		return fmt.Errorf("closing elasticsearch sink for index %q: %w", s.cfg.Index, err)
	}
	return nil
}

// drain flushes until no document is pending or ctx ends.
func (s *Sink) drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		if s.Stats().Pending == 0 {
			return nil
		}
		if err := s.bi.Flush(ctx); err != nil {
			return err
		}
		if s.Stats().Pending == 0 {
			return nil
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// abort cancels in-flight and future bulk requests.
func (s *Sink) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = true
	for st := range s.flushes {
		st.cancel()
	}
}
