package mm2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lagship/lagship/pipeline"
	"github.com/rs/zerolog"
	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"golang.org/x/sync/errgroup"
)

// ErrOffsetsTopicNotFound: the offsets topic does not exist on the cluster
// the reader was given.
var ErrOffsetsTopicNotFound = errors.New("offsets topic not found")

// Defaults of a Reader; see the fields of the same names.
const (
	defaultFetchWait  = time.Second
	defaultMaxBytes   = 1 << 20
	defaultMinBackoff = time.Second
	defaultMaxBackoff = 30 * time.Second
	defaultRecheck    = 5 * time.Minute
	malformedEvery    = time.Minute
	// requestTimeout bounds every request beyond the fetch's own wait, so a
	// broker that stops answering ends the session even when the client
	// has no timeout of its own.
	requestTimeout = 30 * time.Second
)

// Reader follows one Connect offsets topic and keeps, in memory, the latest
// offset stored for every (connector, source alias, topic, partition). One
// Reader serves every mirror whose offsets live in that topic.
//
// It reads every partition from the beginning without a consumer group, so
// it commits nothing and is invisible to the cluster's group tooling. It
// uses kafka-go's Client.Fetch directly rather than kafka.Reader: the Client
// routes each request to the partition leader through the shared transport,
// and walking the fetched batches ourselves lets the reader step over
// transaction markers (written when Connect runs with exactly-once source
// support) and compacted gaps, which it must do to know when it has reached
// the end offsets that make it ready.
type Reader struct {
	client *kafka.Client
	topic  string
	log    zerolog.Logger

	// Tunables, set by NewReader; tests shorten them.
	fetchWait  time.Duration // longest wait of one fetch for new records
	maxBytes   int64         // fetch size limit per partition
	minBackoff time.Duration // first retry delay after an error
	maxBackoff time.Duration // longest retry delay
	recheck    time.Duration // how often partition count is re-read

	// Owned by the Run goroutine (and its per-partition goroutines, each of
	// which touches only its own slot).
	next   map[int]int64 // next offset to fetch per partition
	target map[int]int64 // end offsets seen at start; nil once ready

	ready    atomic.Bool
	readyCh  chan struct{} // closed when ready; replaced when reading pauses (under mu)
	records  atomic.Int64  // records applied (mirror kind)
	sessions atomic.Int64  // sessions started, for tests

	mu      sync.RWMutex
	table   map[aliasTopic]map[string]map[int32]int64 // -> connector -> partition -> offset
	state   error                                     // current error state, nil when healthy
	changed chan struct{}                             // closed when a new (alias, topic) appears

	// With gated set, the reader reads only while something uses it
	// (Use): an agent of a group reads the offsets topic only while it
	// owns a topic of a mirror that needs it.
	gated   bool
	useMu   sync.Mutex
	users   int
	useCh   chan struct{} // closed and replaced when users goes to or from 0
	reading atomic.Bool

	warnMu       sync.Mutex
	malformed    int64 // malformed records not yet reported
	lastWarn     time.Time
	malformedAll atomic.Int64
}

type aliasTopic struct{ alias, topic string }

// NewReader returns a Reader of the offsets topic on the cluster client talks
// to. The client carries the brokers, TLS and SASL settings. Call Run to
// start it.
//
// The topic is mm2-offsets.<source alias>.internal on the target cluster for
// a dedicated MirrorMaker 2 (connect-mirror-maker.sh), or the Connect
// cluster's offset.storage.topic when MirrorMaker 2 runs as connectors in a
// Connect cluster.
func NewReader(client *kafka.Client, topic string, log zerolog.Logger) *Reader {
	return &Reader{
		client:     client,
		topic:      topic,
		log:        log.With().Str("offsets_topic", topic).Logger(),
		fetchWait:  defaultFetchWait,
		maxBytes:   defaultMaxBytes,
		minBackoff: defaultMinBackoff,
		maxBackoff: defaultMaxBackoff,
		recheck:    defaultRecheck,
		next:       map[int]int64{},
		readyCh:    make(chan struct{}),
		table:      map[aliasTopic]map[string]map[int32]int64{},
		changed:    make(chan struct{}),
		useCh:      make(chan struct{}),
	}
}

// Use asks a gated reader to read until the returned release is called;
// the reader reads while at least one use is held. When the last use is
// released the reader pauses: it keeps its table, and when used again it
// catches up with the topic's end once more before it is ready, so a
// paused stretch never serves stale offsets as current ones.
func (r *Reader) Use() (release func()) {
	r.useMu.Lock()
	r.users++
	if r.users == 1 {
		close(r.useCh)
		r.useCh = make(chan struct{})
	}
	r.useMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.useMu.Lock()
			r.users--
			if r.users == 0 {
				close(r.useCh)
				r.useCh = make(chan struct{})
			}
			r.useMu.Unlock()
		})
	}
}

// used reports whether the reader should read now, and the channel that
// is closed when that changes.
func (r *Reader) used() (bool, <-chan struct{}) {
	r.useMu.Lock()
	defer r.useMu.Unlock()
	return !r.gated || r.users > 0, r.useCh
}

// Reading reports whether the reader is reading now (a gated reader that
// nothing uses is paused).
func (r *Reader) Reading() bool { return r.reading.Load() }

// Topic returns the name of the offsets topic.
func (r *Reader) Topic() string { return r.topic }

// Ready reports whether the reader has read the topic up to the end offsets
// it saw when it started. Before that its table is incomplete.
func (r *Reader) Ready() bool { return r.ready.Load() }

// WaitReady blocks until the reader is ready or ctx is done.
func (r *Reader) WaitReady(ctx context.Context) error {
	r.mu.RLock()
	ch := r.readyCh
	r.mu.RUnlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for offsets topic %q: %w", r.topic, ctx.Err())
	}
}

// Err returns the reader's current error state (offsets topic missing,
// brokers unreachable), or nil.
func (r *Reader) Err() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.state
}

// Malformed returns how many records could not be decoded so far.
func (r *Reader) Malformed() int64 { return r.malformedAll.Load() }

// Run reads the offsets topic until ctx is done, then returns nil. Call it
// once. Errors (topic missing, broker down) are states: logged once per
// change and retried with exponential backoff; Err reports the current
// one. A gated reader reads only while it is used (see Use).
func (r *Reader) Run(ctx context.Context) error {
	for {
		use, changed := r.used()
		if !use {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
				continue
			}
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		r.reading.Store(true)
		go func() {
			defer close(done)
			r.read(rctx)
		}()
		for use {
			select {
			case <-done:
				use = false
			case <-changed:
				use, changed = r.used()
			}
		}
		cancel()
		<-done
		r.reading.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		r.pause()
	}
}

// pause ends readiness when nothing uses the reader any more: the next
// use catches up with the topic's end before the reader is ready again.
func (r *Reader) pause() {
	r.mu.Lock()
	if r.ready.Load() {
		r.ready.Store(false)
		r.readyCh = make(chan struct{})
	}
	r.state = nil
	r.mu.Unlock()
	r.target = nil
	r.log.Info().Msg("no mirror of this agent needs the offsets topic now; reading paused")
}

// read reads the offsets topic, session after session, until ctx is done.
func (r *Reader) read(ctx context.Context) {
	backoff := r.minBackoff
	for {
		err := r.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil { // partition count changed: start over at once
			backoff = r.minBackoff
			continue
		}
		r.setState(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, r.maxBackoff)
	}
}

// setState records err as the current state and logs it when it changed.
func (r *Reader) setState(err error) {
	r.mu.Lock()
	prev := r.state
	r.state = err
	r.mu.Unlock()
	switch {
	case err == nil && prev != nil:
		r.log.Info().Msg("offsets topic readable again")
	case err != nil && (prev == nil || prev.Error() != err.Error()):
		r.log.Warn().Err(err).Msg("cannot read offsets topic; retrying")
	}
}

// errPartitionsChanged ends a session so the next one reads the new layout.
var errPartitionsChanged = errors.New("partition count changed")

// session reads the topic's layout, then follows every partition until an
// error or a layout change.
func (r *Reader) session(ctx context.Context) error {
	r.sessions.Add(1)
	parts, err := r.partitions(ctx)
	if err != nil {
		return err
	}
	first, last, err := r.bounds(ctx, parts)
	if err != nil {
		return err
	}
	for _, p := range parts {
		n, ok := r.next[p]
		if !ok || n < first[p] || n > last[p] {
			// New partition, or records deleted under us, or topic
			// recreated: start from the beginning of what is there.
			r.next[p] = first[p]
		}
	}
	if !r.Ready() && r.target == nil {
		r.target = last
		r.log.Debug().Int("partitions", len(parts)).Msg("reading offsets topic")
	}
	r.setState(nil)

	g, gctx := errgroup.WithContext(ctx)
	var caught atomic.Int64
	need := int64(0)
	for _, p := range parts {
		if !r.Ready() && r.next[p] < r.target[p] {
			need++
		}
	}
	done := func() {
		if caught.Add(1) == need {
			r.markReady()
		}
	}
	if need == 0 {
		r.markReady()
	}
	slots := make(map[int]*int64, len(parts))
	for _, p := range parts {
		slot := new(r.next[p])
		slots[p] = slot
		target, waiting := int64(-1), false
		if !r.Ready() && *slot < r.target[p] {
			target, waiting = r.target[p], true
		}
		g.Go(func() error {
			return r.follow(gctx, p, slot, target, waiting, done)
		})
	}
	g.Go(func() error { return r.watchLayout(gctx, len(parts)) })
	err = g.Wait()
	for p, n := range slots {
		r.next[p] = *n
	}
	if errors.Is(err, errPartitionsChanged) {
		r.log.Info().Msg("offsets topic partition count changed; re-reading layout")
		return nil
	}
	return err
}

func (r *Reader) markReady() {
	r.mu.Lock()
	if !r.ready.CompareAndSwap(false, true) {
		r.mu.Unlock()
		return
	}
	close(r.readyCh)
	n := len(r.table)
	r.mu.Unlock()
	r.log.Info().Int("topics", n).Int64("records", r.records.Load()).Msg("offsets topic read to its end; ready")
}

// partitions returns the partition ids of the offsets topic.
func (r *Reader) partitions(ctx context.Context) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	md, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.topic}})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of offsets topic %q: %w", r.topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != r.topic {
			continue
		}
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("offsets topic %q: %w", r.topic, ErrOffsetsTopicNotFound)
			}
			return nil, fmt.Errorf("reading metadata of offsets topic %q: %w", r.topic, t.Error)
		}
		ps := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ps = append(ps, p.ID)
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("offsets topic %q: %w", r.topic, ErrOffsetsTopicNotFound)
		}
		slices.Sort(ps)
		return ps, nil
	}
	return nil, fmt.Errorf("offsets topic %q: %w", r.topic, ErrOffsetsTopicNotFound)
}

// bounds returns the first and end offsets of every partition.
func (r *Reader) bounds(ctx context.Context, parts []int) (first, last map[int]int64, err error) {
	reqs := make([]kafka.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	res, err := r.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{r.topic: reqs},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing offsets of offsets topic %q: %w", r.topic, err)
	}
	first, last = make(map[int]int64, len(parts)), make(map[int]int64, len(parts))
	for _, po := range res.Topics[r.topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("listing offsets of offsets topic %q partition %d: %w", r.topic, po.Partition, po.Error)
		}
		first[po.Partition], last[po.Partition] = po.FirstOffset, po.LastOffset
	}
	for _, p := range parts {
		if _, ok := last[p]; !ok {
			return nil, nil, fmt.Errorf("listing offsets of offsets topic %q: no answer for partition %d", r.topic, p)
		}
	}
	return first, last, nil
}

// watchLayout ends the session when the partition count changes.
func (r *Reader) watchLayout(ctx context.Context, n int) error {
	t := time.NewTicker(r.recheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			ps, err := r.partitions(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if len(ps) != n {
				return errPartitionsChanged
			}
		}
	}
}

// follow fetches one partition from *next onwards until ctx is done. When
// waiting is set it calls done once *next reaches target.
func (r *Reader) follow(ctx context.Context, p int, next *int64, target int64, waiting bool, done func()) error {
	log := r.log.With().Int("offsets_partition", p).Logger()
	for {
		if waiting && *next >= target {
			waiting = false
			done()
		}
		fctx, cancel := context.WithTimeout(ctx, r.fetchWait+requestTimeout)
		res, err := r.client.Fetch(fctx, &kafka.FetchRequest{
			Topic:     r.topic,
			Partition: p,
			Offset:    *next,
			MinBytes:  1,
			MaxBytes:  r.maxBytes,
			MaxWait:   r.fetchWait,
		})
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("fetching offsets topic %q partition %d at offset %d: %w", r.topic, p, *next, err)
		}
		if res.Error != nil {
			// OffsetOutOfRange (records removed, topic recreated)
			// lands here too: the next session starts the
			// partition again from its first offset.
			return fmt.Errorf("fetching offsets topic %q partition %d at offset %d: %w", r.topic, p, *next, res.Error)
		}
		before := *next
		readErr := r.apply(p, res.Records, next)
		if readErr != nil && *next == before {
			return fmt.Errorf("reading records of offsets topic %q partition %d at offset %d: %w", r.topic, p, *next, readErr)
		}
		if readErr == nil && *next == before && res.HighWatermark > *next {
			// The broker answered from the batch holding *next but
			// nothing in it is visible at or after *next: records
			// removed by compaction at the batch's tail, or an
			// emptied batch kept for producer state. Offsets
			// records are tiny, so a later batch would have fitted
			// in the response; there is none below the high
			// watermark to read.
			log.Debug().Int64("from", *next).Int64("to", res.HighWatermark).Msg("skipping offsets with no visible records")
			*next = res.HighWatermark
		}
	}
}

// apply walks the batches of one fetch response, applies every record at or
// after *next and advances *next past records and transaction markers.
func (r *Reader) apply(p int, records kafka.RecordReader, next *int64) error {
	if records == nil {
		return nil
	}
	batches := []kafka.RecordReader{records}
	if s, ok := records.(*protocol.RecordStream); ok {
		batches = s.Records
	}
	for _, b := range batches {
		_, control := b.(*protocol.ControlBatch)
		start := *next
		for {
			rec, err := b.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			off := rec.Offset
			if off < *next {
				closeRecord(rec)
				continue
			}
			if !control {
				r.applyRecord(p, rec)
			}
			closeRecord(rec)
			*next = off + 1
		}
		if ob, ok := b.(interface{ Offset() int64 }); ok {
			// A batch whose records were all compacted away still
			// occupies its base offset.
			if base := ob.Offset(); base >= start && base+1 > *next {
				*next = base + 1
			}
		}
	}
	return nil
}

func closeRecord(rec *kafka.Record) {
	if rec.Key != nil {
		rec.Key.Close()
	}
	if rec.Value != nil {
		rec.Value.Close()
	}
}

// applyRecord decodes one record and updates the table.
func (r *Reader) applyRecord(p int, rec *kafka.Record) {
	key, err := readBytes(rec.Key)
	var value []byte
	if err == nil {
		value, err = readBytes(rec.Value)
	}
	var e Entry
	var kind Kind
	if err == nil {
		e, kind, err = Decode(key, value)
	}
	if err != nil {
		r.warnMalformed(p, rec.Offset, err)
		return
	}
	if kind != KindMirror {
		return
	}
	r.records.Add(1)
	r.store(e)
}

func readBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	buf := make([]byte, b.Len())
	if _, err := io.ReadFull(b, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// store applies one decoded entry: the latest record per key wins, a
// tombstone removes the key.
func (r *Reader) store(e Entry) {
	at := aliasTopic{e.Alias, e.Topic}
	r.mu.Lock()
	defer r.mu.Unlock()
	conns := r.table[at]
	if e.Tombstone {
		if conns == nil {
			return
		}
		parts := conns[e.Connector]
		delete(parts, e.Partition)
		if len(parts) == 0 {
			delete(conns, e.Connector)
		}
		if len(conns) == 0 {
			delete(r.table, at)
		}
		return
	}
	if conns == nil {
		conns = map[string]map[int32]int64{}
		r.table[at] = conns
		close(r.changed)
		r.changed = make(chan struct{})
	}
	parts := conns[e.Connector]
	if parts == nil {
		parts = map[int32]int64{}
		conns[e.Connector] = parts
	}
	parts[e.Partition] = e.Offset
}

// warnMalformed counts a record that could not be decoded and logs at most
// one warning per minute, with the number skipped since the last one.
func (r *Reader) warnMalformed(p int, off int64, err error) {
	r.malformedAll.Add(1)
	r.warnMu.Lock()
	r.malformed++
	now := time.Now()
	if !r.lastWarn.IsZero() && now.Sub(r.lastWarn) < malformedEvery {
		r.warnMu.Unlock()
		return
	}
	n := r.malformed
	r.malformed = 0
	r.lastWarn = now
	r.warnMu.Unlock()
	r.log.Warn().Err(err).Int("offsets_partition", p).Int64("offset", off).
		Int64("skipped", n).Msg("skipping undecodable offsets records")
}

// TopicsChanged returns a channel that is closed the next time a topic
// appears in the table under any alias. Take the channel before calling
// Topics, so no appearance between the two is missed.
func (r *Reader) TopicsChanged() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// Topics returns, sorted, the source topics of alias that have at least one
// stored offset and match re (every topic when re is nil).
func (r *Reader) Topics(alias string, re *regexp.Regexp) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for at := range r.table {
		if at.alias == alias && (re == nil || re.MatchString(at.topic)) {
			out = append(out, at.topic)
		}
	}
	slices.Sort(out)
	return out
}

// Aliases returns, sorted, the source cluster aliases found in the table.
func (r *Reader) Aliases() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for at := range r.table {
		if !slices.Contains(out, at.alias) {
			out = append(out, at.alias)
		}
	}
	slices.Sort(out)
	return out
}

// Keys returns how many (connector, topic, partition) offsets are stored for
// alias.
func (r *Reader) Keys(alias string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for at, conns := range r.table {
		if at.alias != alias {
			continue
		}
		for _, parts := range conns {
			n += len(parts)
		}
	}
	return n
}

// Offsets returns the stored offsets of topic under alias, by partition,
// and the connector that wrote them. When connector is not empty only its
// offsets are considered; otherwise the topic must have been written by a
// single connector. ok is false when there is no offset.
func (r *Reader) Offsets(alias, topic, connector string) (offsets map[int32]int64, name string, ok bool, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	conns := r.table[aliasTopic{alias, topic}]
	if connector != "" {
		parts := conns[connector]
		if len(parts) == 0 {
			return nil, connector, false, nil
		}
		return maps.Clone(parts), connector, true, nil
	}
	switch len(conns) {
	case 0:
		return nil, "", false, nil
	case 1:
		for name, parts := range conns {
			return maps.Clone(parts), name, true, nil
		}
	}
	names := make([]string, 0, len(conns))
	for name := range conns {
		names = append(names, name)
	}
	slices.Sort(names)
	return nil, "", false, fmt.Errorf("offsets of topic %q from alias %q come from several connectors %q; set connector: <name> on the mirror to pick one", topic, alias, names)
}

// notReady returns the error Collect gives before the reader is ready.
func (r *Reader) notReady() error {
	if err := r.Err(); err != nil {
		return fmt.Errorf("offsets topic %q: %v: %w", r.topic, err, pipeline.ErrNotReady)
	}
	return fmt.Errorf("still reading offsets topic %q: %w", r.topic, pipeline.ErrNotReady)
}
