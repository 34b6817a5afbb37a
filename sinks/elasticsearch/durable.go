package elasticsearch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	diskspool "github.com/lagship/lagship/internal/spool"
	"github.com/lagship/lagship/pipeline"
)

// DurableOptions configure the delivery layer around the bulk sink.
type DurableOptions struct {
	// SpoolDir holds documents while Elasticsearch is unreachable.
	SpoolDir string
	// SpoolMaxBytes bounds the spool; when full, the oldest documents are
	// dropped, logged and counted (default 1 GiB).
	SpoolMaxBytes int64
	// QueueDocs bounds the in-memory queue between collection and the bulk
	// indexer (default 10,000 documents). When it is full, documents go
	// straight to the spool: collection never waits for Elasticsearch.
	QueueDocs int
	// ReplayBatch is how many spooled documents one replay request carries
	// (default 500); ReplayEvery is the least time between two replay
	// requests (default 250ms), which bounds the replay rate.
	ReplayBatch int
	ReplayEvery time.Duration
	// MinBackoff is the first wait after a failed replay (default 1s),
	// doubled up to MaxBackoff, which caps the wait between attempts to
	// reach Elasticsearch again (index bootstrap and replay; default 30s).
	// A replay waiting out its backoff resumes early when the bulk sink
	// delivers again.
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

func (o DurableOptions) withDefaults() DurableOptions {
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = diskspool.DefaultMaxBytes
	}
	if o.QueueDocs <= 0 {
		o.QueueDocs = 10000
	}
	if o.ReplayBatch <= 0 {
		o.ReplayBatch = 500
	}
	if o.ReplayEvery <= 0 {
		o.ReplayEvery = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = min(time.Second, o.MaxBackoff)
	}
	return o
}

// DurableStats count what the delivery layer did.
type DurableStats struct {
	Sink          Stats
	Spool         diskspool.Stats
	SpooledDirect uint64 // documents spooled because the in-memory queue was full
	Spooled       uint64 // documents written to the spool (all causes)
	SpoolErrors   uint64 // documents the spool could not store (lost, logged)
	Replayed      uint64 // spooled documents acknowledged by Elasticsearch (201 or 409)
	ReplayRejects uint64 // spooled documents refused for good (mapping errors)
}

// Durable is the sink lagship runs: a bounded in-memory queue in front of
// the bulk Sink, and a disk spool behind it. Documents the Sink cannot
// deliver, or that arrive while the queue is full, are appended to the
// spool; a replayer sends the spool back, oldest first and at a bounded
// rate, while new documents keep flowing, and acknowledges a spooled batch
// only once Elasticsearch answered 201 (created) or 409 (already there) for
// every item of it. Documents are never sent before the index exists, so an
// outage at start cannot make Elasticsearch create it with a dynamic
// mapping.
type Durable struct {
	sinkMu sync.RWMutex
	sink   *Sink // replaced by Reconfigure
	sp     *diskspool.Spool
	opt    DurableOptions
	log    zerolog.Logger

	q         chan pipeline.Doc
	ready     chan struct{} // closed once the index exists
	tried     chan struct{} // closed when the first index bootstrap attempt ended
	mu        sync.RWMutex
	closed    bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	fwdDone   chan struct{}
	stopping  chan struct{} // closed by Close
	fwdCtx    context.Context
	fwdCancel context.CancelFunc
	replayWG  sync.WaitGroup

	spooledDirect, spooled, spoolErrors, replayed, replayRejects atomic.Uint64
}

// NewDurable opens the spool (replaying what a previous run left in it),
// builds the Sink and starts the index bootstrap, forwarder and replayer.
func NewDurable(cfg Config, opt DurableOptions, log zerolog.Logger) (*Durable, error) {
	opt = opt.withDefaults()
	if opt.SpoolDir == "" {
		return nil, errors.New("elasticsearch: spool_dir is empty")
	}
	sp, err := diskspool.Open(opt.SpoolDir, diskspool.Options{MaxBytes: opt.SpoolMaxBytes}, log.With().Str("spool", opt.SpoolDir).Logger())
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: opening spool_dir %s: %w", opt.SpoolDir, err)
	}
	d := &Durable{
		sp:       sp,
		opt:      opt,
		log:      log,
		q:        make(chan pipeline.Doc, opt.QueueDocs),
		ready:    make(chan struct{}),
		tried:    make(chan struct{}),
		fwdDone:  make(chan struct{}),
		stopping: make(chan struct{}),
	}
	d.fwdCtx, d.fwdCancel = context.WithCancel(context.Background())
	cfg.OnUndelivered = d.toSpool
	d.sink, err = New(cfg, log)
	if err != nil {
		_ = sp.Close()
		return nil, err
	}
	if n := sp.Len(); n > 0 {
		log.Info().Int64("documents", n).Msg("spool holds documents from an earlier run; replaying them")
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go d.bootstrap(ctx)
	go d.forward()
	d.replayWG.Add(1)
	go d.replay(ctx)
	return d, nil
}

// Sink returns the current bulk sink (for Probe and InspectIndex).
func (d *Durable) Sink() *Sink {
	d.sinkMu.RLock()
	defer d.sinkMu.RUnlock()
	return d.sink
}

// Reconfigure replaces the bulk sink with one built from cfg (new
// addresses, credentials, index...) while the queue and the spool stay:
// it checks that the new cluster answers and its index exists, switches
// new documents and the replay to it, then flushes and closes the previous
// sink within ctx (what it cannot deliver goes to the spool). When the new
// settings do not work, the running sink stays and the error says why.
func (d *Durable) Reconfigure(ctx context.Context, cfg Config) error {
	cfg.OnUndelivered = d.toSpool
	ns, err := New(cfg, d.log)
	if err != nil {
		return err
	}
	if err := ns.EnsureIndex(ctx); err != nil {
		_ = ns.Close(ctx)
		return fmt.Errorf("new elasticsearch settings not applied: %w", err)
	}
	d.sinkMu.Lock()
	old := d.sink
	d.sink = ns
	d.sinkMu.Unlock()
	return old.Close(ctx)
}

// Ready is closed once the index exists and documents flow.
func (d *Durable) Ready() <-chan struct{} { return d.ready }

// bootstrap makes sure the index exists, retrying with capped backoff
// while Elasticsearch is unreachable.
func (d *Durable) bootstrap(ctx context.Context) {
	defer d.wg.Done()
	defer func() {
		if first := d.tried; first != nil {
			select {
			case <-first:
			default:
				close(first) // cancelled before the first attempt ended
			}
		}
	}()
	wait := time.Second
	failing := false
	first := true
	for {
		err := d.Sink().EnsureIndex(ctx)
		if err == nil {
			if failing {
				d.log.Info().Msg("elasticsearch reachable again; index ready")
			}
			close(d.ready)
		}
		if first {
			first = false
			close(d.tried)
		}
		if err == nil {
			return
		}
		if !failing {
			d.log.Error().Err(err).Msg("elasticsearch index not ready; documents wait in the queue and the spool until it is")
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, d.opt.MaxBackoff)
	}
}

// Write queues documents without waiting: when the queue is full they go
// to the spool instead.
func (d *Durable) Write(_ context.Context, docs []pipeline.Doc) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	for i := range docs {
		select {
		case d.q <- docs[i]:
		default:
			d.spooledDirect.Add(uint64(len(docs) - i))
			d.toSpool(docs[i:])
			return nil
		}
	}
	return nil
}

// forward moves queued documents into the bulk sink once the index is
// ready. The Sink may block while Elasticsearch is down; only this goroutine
// waits then, never collection.
func (d *Durable) forward() {
	defer close(d.fwdDone)
	select {
	case <-d.ready:
	case <-d.closing():
		// Never reached Elasticsearch: keep everything on disk.
		for doc := range d.q {
			d.toSpool([]pipeline.Doc{doc})
		}
		return
	}
	batch := make([]pipeline.Doc, 0, 512)
	for doc := range d.q {
		batch = append(batch[:0], doc)
	more:
		for len(batch) < cap(batch) {
			select {
			case doc, ok := <-d.q:
				if !ok {
					break more
				}
				batch = append(batch, doc)
			default:
				break more
			}
		}
		// The Sink keeps the documents until delivered: give it its own copy.
		docs := append([]pipeline.Doc(nil), batch...)
		for {
			s := d.Sink()
			err := s.Write(d.fwdCtx, docs)
			if errors.Is(err, ErrClosed) {
				if s != d.Sink() {
					continue // replaced by Reconfigure meanwhile: use the new one
				}
				d.toSpool(docs)
			} else if err != nil {
				d.log.Error().Err(err).Msg("queueing documents for the bulk indexer")
			}
			break
		}
	}
}

// closing is closed by Close; forward uses it to stop waiting for the
// index.
func (d *Durable) closing() <-chan struct{} { return d.stopping }

// toSpool appends documents to the spool.
func (d *Durable) toSpool(docs []pipeline.Doc) {
	if len(docs) == 0 {
		return
	}
	recs := make([]diskspool.Record, len(docs))
	for i := range docs {
		recs[i] = diskspool.Record{ID: docs[i].ID(), Body: docs[i].AppendJSON(nil)}
	}
	if err := d.sp.Append(recs...); err != nil {
		d.spoolErrors.Add(uint64(len(docs)))
		d.log.Error().Err(err).Int("documents", len(docs)).Msg("spool refused documents; they are lost")
		return
	}
	d.spooled.Add(uint64(len(docs)))
}

// replay sends the spool back to Elasticsearch, oldest first.
func (d *Durable) replay(ctx context.Context) {
	defer d.replayWG.Done()
	select {
	case <-d.ready:
	case <-ctx.Done():
		return
	}
	wait := d.opt.MinBackoff
	failing := false
	for {
		if err := d.sp.Wait(ctx); err != nil {
			return
		}
		b, err := d.sp.Next(ctx, d.opt.ReplayBatch)
		if err != nil || len(b.Records) == 0 {
			if ctx.Err() != nil || errors.Is(err, diskspool.ErrClosed) {
				return
			}
			if err != nil {
				d.log.Error().Err(err).Msg("reading the spool")
			}
			// Never spin: a persistent read error or an empty answer
			// waits before the next look.
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, d.opt.MaxBackoff)
			continue
		}
		err = d.sendRaw(ctx, b.Records)
		if err == nil {
			if aerr := d.sp.Ack(b); aerr != nil {
				d.log.Error().Err(aerr).Msg("acknowledging replayed documents")
			}
			if failing {
				d.log.Info().Int64("left", d.sp.Len()).Msg("spool replay resumed")
				failing = false
			}
			wait = d.opt.MinBackoff
			select {
			case <-ctx.Done():
				return
			case <-time.After(d.opt.ReplayEvery):
			}
			continue
		}
		d.sp.Rewind()
		if ctx.Err() != nil {
			return
		}
		if !failing {
			d.log.Warn().Err(err).Int64("spooled", d.sp.Len()).Msg("spool replay failed; retrying with backoff")
			failing = true
		}
		if !d.backoff(ctx, wait) {
			return
		}
		wait = min(2*wait, d.opt.MaxBackoff)
	}
}

// backoff waits before the next replay attempt, but no longer than until
// the bulk sink delivers documents again: then Elasticsearch is back and the
// spool should follow at once. It returns false when ctx ends.
func (d *Durable) backoff(ctx context.Context, wait time.Duration) bool {
	delivered := func() uint64 { st := d.Sink().Stats(); return st.Indexed + st.Duplicates }
	before := delivered()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(min(wait, 250*time.Millisecond))
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return true
		case <-poll.C:
			if delivered() != before {
				return true
			}
		}
	}
}

// sendRaw sends spooled records in one _bulk request and returns nil when
// every item has a final answer: created, already there, or refused for
// good (counted and logged). A transport error, a non-2xx answer or an item
// answered 429/5xx makes the whole batch retry later.
func (d *Durable) sendRaw(ctx context.Context, recs []diskspool.Record) error {
	var body bytes.Buffer
	for _, r := range recs {
		meta, _ := json.Marshal(map[string]map[string]string{"create": {"_index": d.Sink().cfg.Index, "_id": r.ID}})
		body.Write(meta)
		body.WriteByte('\n')
		body.Write(r.Body)
		body.WriteByte('\n')
	}
	sink := d.Sink()
	res, err := sink.es.Bulk(bytes.NewReader(body.Bytes()), sink.es.Bulk.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("replaying %d documents: %w", len(recs), err)
	}
	defer closeBody(res)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("replaying %d documents: %w", len(recs), responseError(res))
	}
	var out struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.NewDecoder(bufio.NewReader(res.Body)).Decode(&out); err != nil {
		return fmt.Errorf("replaying %d documents: reading the answer: %w", len(recs), err)
	}
	if len(out.Items) != len(recs) {
		return fmt.Errorf("replaying %d documents: %d results", len(recs), len(out.Items))
	}
	var ok, rejected uint64
	for i, it := range out.Items {
		for _, r := range it {
			switch {
			case r.Status == http.StatusCreated || r.Status == http.StatusOK || r.Status == http.StatusConflict:
				ok++
			case r.Status == http.StatusTooManyRequests || r.Status >= 500:
				return fmt.Errorf("replaying %d documents: item %s: %d %s", len(recs), recs[i].ID, r.Status, r.Error.Type)
			default:
				rejected++
				d.log.Error().Str("id", recs[i].ID).Int("status", r.Status).Str("type", r.Error.Type).Str("reason", r.Error.Reason).
					Msg("spooled document refused for good")
			}
		}
	}
	d.replayed.Add(ok)
	d.replayRejects.Add(rejected)
	return nil
}

// Close stops accepting documents, flushes the queue and the bulk sink
// within ctx (what cannot be delivered goes to the spool), stops the
// replayer and syncs the spool to disk.
func (d *Durable) Close(ctx context.Context) error {
	// A sink closed right after it started may not know yet whether the
	// index exists: let the first attempt finish, so documents go to
	// Elasticsearch rather than to the spool when it is up.
	select {
	case <-d.tried:
	case <-ctx.Done():
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed = true
	close(d.stopping)
	close(d.q)
	d.mu.Unlock()

	// The forwarder may be stuck handing documents to a bulk indexer whose
	// requests hang: when ctx ends, cancel it; what it still holds goes to
	// the spool.
	select {
	case <-d.fwdDone:
	case <-ctx.Done():
		d.fwdCancel()
		<-d.fwdDone
	}
	err := d.Sink().Close(ctx)
	d.fwdCancel()
	d.cancel()
	d.wg.Wait()
	d.replayWG.Wait()
	st := d.Stats()
	if cerr := d.sp.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if st.Spool.Pending > 0 {
		d.log.Info().Int64("documents", st.Spool.Pending).Str("spool", d.opt.SpoolDir).Msg("documents left in the spool; the next start replays them")
	}
	return err
}

// Stats returns the counters of the sink, the spool and the layer itself.
func (d *Durable) Stats() DurableStats {
	return DurableStats{
		Sink:          d.Sink().Stats(),
		Spool:         d.sp.Stats(),
		SpooledDirect: d.spooledDirect.Load(),
		Spooled:       d.spooled.Load(),
		SpoolErrors:   d.spoolErrors.Load(),
		Replayed:      d.replayed.Load(),
		ReplayRejects: d.replayRejects.Load(),
	}
}
