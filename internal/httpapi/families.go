package httpapi

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

// The per-partition metrics are built as metric families directly and
// encoded with expfmt, instead of going through a prometheus.Collector and
// promhttp: with 10,000 topics × 8 partitions a Collector's const metrics
// (label validation, sorting and hashing of every series by the registry)
// took 2.0 s and 9.0 million allocations per scrape (BenchmarkScrape, see
// BENCHMARKS.md); the families below share their label pairs between
// series and families. The registry still serves the agent's own metrics
// (Go, process, build info, counters), and the families are a
// prometheus.Gatherer, so tests lint both with client_golang's testutil.

type families struct {
	srv    *Server
	b      *builder             // nil: a fresh one
	topics []status.TopicStatus // nil: the server's latest
	only   int                  // 0: every family; i: the i-th alone (from 1 to numFamilies)
}

// numFamilies is how many families Gather may build (a streamed answer
// asks for each of them: TestStreamedTextIsTheEncodedText fails when this
// falls behind Gather).
const numFamilies = 10

var _ prometheus.Gatherer = families{}

// builder holds what building the families allocates, so that a scrape
// after each tick reuses the previous scrape's metrics and label pairs
// instead of allocating them again (the /metrics cache owns one, under its
// lock, and keeps it only while the exposition is small enough to be
// cached). The families it returns are valid until its next build.
type builder struct {
	lp     pairs
	topics map[topicKey]*topicPairs // each topic's pairs, one lookup a topic
	parts  []*dto.LabelPair         // partition="0", "1"...
	build  uint64                   // counts builds, to forget topics no longer shown
	sl     slab
	fams   []*dto.MetricFamily
}

// pairs caches label pairs so that series and topics share them.
type pairs map[[2]string]*dto.LabelPair

type topicKey struct{ cluster, group, mirror, topic string }

// topicPairs are a topic's label pairs (status: the one of its last
// status).
type topicPairs struct {
	cl, gr, mi, to, cg *dto.LabelPair
	st                 *dto.LabelPair
	status             status.Status
	used               uint64 // the build that last showed the topic
}

func (b *builder) pair(name, value string) *dto.LabelPair {
	if lp, ok := b.lp[[2]string{name, value}]; ok {
		return lp
	}
	k := &[2]string{name, value}
	lp := &dto.LabelPair{Name: &k[0], Value: &k[1]}
	b.lp[*k] = lp
	return lp
}

// topic returns the target's label pairs, with the status pair of st.
func (b *builder) topic(tg pipeline.Target, st status.Status) *topicPairs {
	k := topicKey{tg.Cluster, tg.Group, tg.Mirror, tg.Topic}
	t := b.topics[k]
	if t == nil {
		t = &topicPairs{
			cl: b.pair("cluster", tg.Cluster), gr: b.pair("group", tg.Group), mi: b.pair("mirror", tg.Mirror),
			to: b.pair("topic", tg.Topic), cg: b.pair("consumergroup", tg.Group),
		}
		b.topics[k] = t
	}
	if t.st == nil || t.status != st {
		t.st, t.status = b.pair("status", st.String()), st
	}
	t.used = b.build
	return t
}

// partition returns the pair partition="p".
func (b *builder) partition(p int) *dto.LabelPair {
	for len(b.parts) <= p {
		b.parts = append(b.parts, b.pair("partition", strconv.Itoa(len(b.parts))))
	}
	return b.parts[p]
}

// forget drops the topics the last build did not show once the builder
// holds more than twice as many as it showed (topics removed from the
// config), and the label pairs only they used, so that the builder stays
// proportional to the config.
func (b *builder) forget(shown int) {
	if len(b.topics) <= 2*shown {
		return
	}
	b.lp = pairs{}
	keep := func(lp *dto.LabelPair) { b.lp[[2]string{lp.GetName(), lp.GetValue()}] = lp }
	for k, t := range b.topics {
		if t.used != b.build {
			delete(b.topics, k)
			continue
		}
		for _, lp := range []*dto.LabelPair{t.cl, t.gr, t.mi, t.to, t.cg, t.st} {
			keep(lp)
		}
	}
	for _, lp := range b.parts {
		keep(lp)
	}
}

// slab hands out metrics, gauges, values and label slices from chunks that
// are kept from one build to the next, so that a build allocates only when
// it has more series than the previous one.
type slab struct {
	chunks []*chunk
	ci, i  int // next metric: chunks[ci].ms[i]
	li     int // next label slot in chunks[ci].ls
}

const slabChunk = 1024

type chunk struct {
	ms [slabChunk]dto.Metric
	gs [slabChunk]dto.Gauge
	vs [slabChunk]float64
	ls [slabChunk * 5]*dto.LabelPair
}

func (s *slab) reset() { s.ci, s.i, s.li = 0, 0, 0 }

func (s *slab) metric(v float64, labels []*dto.LabelPair) *dto.Metric {
	if len(labels) > len(chunk{}.ls) {
		panic("httpapi: too many labels")
	}
	if s.ci < len(s.chunks) && (s.i == slabChunk || s.li+len(labels) > len(s.chunks[s.ci].ls)) {
		s.ci, s.i, s.li = s.ci+1, 0, 0
	}
	if s.ci == len(s.chunks) {
		s.chunks = append(s.chunks, &chunk{})
	}
	c := s.chunks[s.ci]
	m, g, val := &c.ms[s.i], &c.gs[s.i], &c.vs[s.i]
	s.i++
	l := c.ls[s.li : s.li+len(labels) : s.li+len(labels)]
	s.li += len(labels)
	*val = v
	// A slot mostly holds the same series as at the previous build:
	// pointers are written only when they change, which spares the
	// garbage collector's write barriers.
	for i, lp := range labels {
		if l[i] != lp {
			l[i] = lp
		}
	}
	if g.Value != val {
		*g = dto.Gauge{Value: val}
	}
	if m.Gauge != g || len(m.Label) != len(l) || cap(m.Label) != cap(l) || (len(l) > 0 && &m.Label[0] != &l[0]) {
		*m = dto.Metric{Label: l, Gauge: g}
	}
	return m
}

type family struct {
	mf   *dto.MetricFamily
	slab *slab
}

// family returns the builder's i-th family, emptied and named (nil when
// only another one is built).
func (g families) family(b *builder, i int, name, help string) *family {
	if g.only != 0 && g.only != i+1 {
		return nil
	}
	for len(b.fams) <= i {
		t := dto.MetricType_GAUGE
		b.fams = append(b.fams, &dto.MetricFamily{Type: &t})
	}
	mf := b.fams[i]
	mf.Name, mf.Help, mf.Metric = &name, &help, mf.Metric[:0]
	return &family{mf: mf, slab: &b.sl}
}

func (f *family) add(v float64, labels ...*dto.LabelPair) {
	if f == nil {
		return
	}
	f.mf.Metric = append(f.mf.Metric, f.slab.metric(v, labels))
}

// Gather builds the families of the last tick. Label pairs are in
// alphabetical order of their names, as the exposition requires.
func (g families) Gather() ([]*dto.MetricFamily, error) {
	b := g.b
	if b == nil {
		b = &builder{}
	}
	if b.lp == nil {
		b.lp, b.topics = pairs{}, map[topicKey]*topicPairs{}
	}
	b.build++
	b.sl.reset()
	compat := g.srv.settings.KafkaExporterCompat
	lag := g.family(b, 0, "lagship_partition_lag", "Messages the mirror is behind on the partition, at the last tick (no series while unknown).")
	tl := g.family(b, 1, "lagship_partition_time_lag_seconds", "Estimated seconds since the next record to mirror was appended to the source partition (no series while unknown).")
	com := g.family(b, 2, "lagship_partition_committed_offset", "The group's committed offset on the partition at the last tick.")
	end := g.family(b, 3, "lagship_partition_log_end_offset", "The partition's log-end offset at the last tick.")
	st := g.family(b, 4, "lagship_topic_status", "Always 1, with the topic's current status as the status label; the other statuses have no series (nor has a topic while unknown).")
	tlag := g.family(b, 5, "lagship_topic_lag", "Total lag of the topic over partitions with a known lag.")
	keLag := g.family(b, 6, "kafka_consumergroup_lag", "Current approximate lag of a consumer group at topic/partition (kafka_exporter compatible).")
	keSum := g.family(b, 7, "kafka_consumergroup_lag_sum", "Current approximate lag of a consumer group at topic for all partitions (kafka_exporter compatible).")
	keCur := g.family(b, 8, "kafka_consumergroup_current_offset", "Current offset of a consumer group at topic/partition (kafka_exporter compatible).")
	keTop := g.family(b, 9, "kafka_topic_partition_current_offset", "Current offset of a broker at topic/partition (kafka_exporter compatible).")
	topicSeen := map[[2]string]bool{}
	var labels [5]*dto.LabelPair
	topics := g.topics
	if topics == nil {
		topics = g.srv.latest()
	}
	for _, t := range topics {
		tg := t.Target
		tp := b.topic(tg, t.Status)
		cl, gr, mi, to, cg := tp.cl, tp.gr, tp.mi, tp.to, tp.cg
		for p, r := range t.Partitions {
			pa := b.partition(p)
			labels = [5]*dto.LabelPair{cl, gr, mi, pa, to}
			if r.Lag >= 0 {
				lag.add(float64(r.Lag), labels[:]...)
			}
			if r.HasTimeLag {
				tl.add(r.TimeLag.Seconds(), labels[:]...)
			}
			if r.Committed >= 0 {
				com.add(float64(r.Committed), labels[:]...)
			}
			if r.LogEnd >= 0 {
				end.add(float64(r.LogEnd), labels[:]...)
			}
			if compat {
				if r.Lag >= 0 {
					keLag.add(float64(r.Lag), cg, pa, to)
				}
				if r.Committed >= 0 {
					keCur.add(float64(r.Committed), cg, pa, to)
				}
				// One series per topic partition, even when two mirrors
				// watch the topic (kafka_exporter has no mirror label).
				key := [2]string{tg.Topic, pa.GetValue()}
				if r.LogEnd >= 0 && keTop != nil && !topicSeen[key] {
					topicSeen[key] = true
					keTop.add(float64(r.LogEnd), pa, to)
				}
			}
		}
		tlag.add(float64(t.TotalLag), cl, gr, mi, to)
		if compat {
			keSum.add(float64(t.TotalLag), cg, to)
		}
		if t.Status != status.Unknown {
			// Only the current status has a series: the five others
			// would be zeros encoded at every tick (a sixth of the
			// series), and a change of status ends the old series.
			st.add(1, cl, gr, mi, tp.st, to)
		}
	}
	b.forget(len(topics))
	all := []*family{lag, tl, com, end, st, tlag}
	if compat {
		all = append(all, keLag, keSum, keCur, keTop)
	}
	var kept []*dto.MetricFamily
	for _, f := range all {
		if f != nil && len(f.mf.Metric) > 0 {
			kept = append(kept, f.mf)
		}
	}
	return kept, nil
}

// expositionCache holds the partition families encoded in the text format
// for one generation of the evaluator: between two ticks every scrape
// answers the same figures, so they are encoded once. The text is never
// changed once stored (a new generation stores a new slice), so scrapes
// write it to their sockets without holding the lock. An exposition larger
// than maxCached is streamed to the scraper instead (streamText).
type expositionCache struct {
	mu     sync.Mutex
	valid  bool
	gen    uint64
	compat bool
	text   *text // the current encoding; nil while not valid
	spare  *text // the previous one, reused once no answer writes it
	size   int   // of the last encoding, to size the next one's buffer
	b      builder
}

// text is an encoding that answers may still be writing to their sockets
// after the cache moved on: the cache holds one reference while it is
// current, each answer one while it writes. A new encoding reuses the
// previous buffer when no reference is left, so that a scrape after each
// tick does not allocate (and the collector clear) a fresh megabyte.
// References are only taken under the cache's lock, from its current
// text, so a spare seen there with none left stays unused.
type text struct {
	b    []byte
	refs atomic.Int32
}

// release drops one reference (nil for a text not from the cache).
func (t *text) release() {
	if t != nil {
		t.refs.Add(-1)
	}
}

// maxCached bounds the text that is encoded into memory (and cached): a
// larger exposition is streamed to the scraper as it is encoded.
const maxCached = 8 << 20

// serveMetrics writes the partition families, then the registry's, in the
// format the scraper asked for.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	// A component's collector failing (or two of them briefly giving the
	// same series while a reload swaps them) loses those series only, not
	// the scrape: what was gathered is served, as promhttp's
	// ContinueOnError does.
	own, err := s.reg.Gather()
	if err != nil {
		s.log.Debug("gathering metrics", "error", err)
	}
	format := expfmt.Negotiate(r.Header)
	w.Header().Set("Content-Type", string(format))
	if format.FormatType() == expfmt.TypeTextPlain {
		// The answer's length is known: it goes out without chunked
		// encoding, in a few large writes rather than one per 4 KiB.
		parts, held, large, err := s.partitionText()
		defer held.release()
		if err != nil {
			http.Error(w, "encoding metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if large != nil {
			s.streamText(w, large, own)
			return
		}
		var rest bytes.Buffer
		for _, mf := range own {
			if _, err := expfmt.MetricFamilyToText(&rest, mf); err != nil {
				http.Error(w, "encoding metrics: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(parts)+rest.Len()))
		if _, err := w.Write(parts); err == nil {
			_, _ = w.Write(rest.Bytes())
		}
		return
	}
	parts, _ := families{srv: s}.Gather()
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range append(parts, own...) {
		if err := enc.Encode(mf); err != nil {
			s.log.Debug("writing metrics", "error", err)
			return
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
}

// partitionText is the partition families in the text format, from the
// cache when the evaluator has not changed since it was filled. The metric
// and label names are valid legacy names, so the text needs no escaping and
// expfmt.MetricFamilyToText writes it directly. The caller releases the
// text it is given once written.
//
// When the text would be larger than maxCached (the last one was, or the
// topics have that many partitions) it returns no text but the topics to
// stream instead (streamText).
func (s *Server) partitionText() ([]byte, *text, []status.TopicStatus, error) {
	c := &s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	var gen uint64
	compat := s.settings.KafkaExporterCompat
	if s.agent.Generation != nil {
		gen = s.agent.Generation()
		if c.valid && c.gen == gen && c.compat == compat {
			c.text.refs.Add(1)
			return c.text.b, c.text, nil, nil
		}
	}
	topics := s.latest()
	if c.size > s.maxCached || textEstimate(topics) > s.maxCached {
		// Neither the text nor the metrics it is built from (some 200
		// bytes a series) are held.
		c.valid, c.spare, c.b = false, nil, builder{}
		if c.text != nil {
			c.text.release()
			c.text = nil
		}
		if topics == nil {
			topics = []status.TopicStatus{}
		}
		return nil, nil, topics, nil
	}
	if s.agent.Generation == nil {
		var buf bytes.Buffer
		err := writeText(&buf, families{srv: s, topics: topics})
		c.size = buf.Len()
		return buf.Bytes(), nil, nil, err
	}
	var into []byte
	if c.spare != nil && c.spare.refs.Load() == 0 {
		into, c.spare = c.spare.b[:0], nil
	}
	buf := bytes.NewBuffer(into)
	buf.Grow(c.size + c.size/8)
	err := writeText(buf, families{srv: s, b: &c.b, topics: topics})
	if c.text != nil {
		c.text.release() // the cache's reference
		c.spare, c.text = c.text, nil
	}
	c.valid = false
	if err != nil {
		return nil, nil, nil, err
	}
	c.size = buf.Len()
	t := &text{b: buf.Bytes()}
	t.refs.Store(2) // the cache's and this answer's
	c.valid, c.gen, c.compat, c.text = true, gen, compat, t
	return t.b, t, nil, nil
}

// textEstimate is what the partition text of topics takes at least when
// every partition has its four series (a series line is longer than 64
// bytes), so that a first scrape of a large estate is streamed too.
func textEstimate(topics []status.TopicStatus) int {
	n := 0
	for i := range topics {
		n += len(topics[i].Partitions)
	}
	return 4 * 64 * n
}

// streamText writes the partition families of topics, then own, to w as
// they are encoded, building one family at a time: at 10,000 topics × 8
// partitions a scrape then holds one family's metrics (some 16 MB) and
// 64 KiB of text instead of every family's and the whole text (40 MB).
// Streamed answers share one builder when they do not overlap.
func (s *Server) streamText(w http.ResponseWriter, topics []status.TopicStatus, own []*dto.MetricFamily) {
	var b *builder
	select {
	case b = <-s.builders:
	default:
		b = &builder{}
	}
	defer func() {
		select {
		case s.builders <- b:
		default:
		}
	}()
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	for i := 1; i <= numFamilies; i++ {
		mfs, _ := families{srv: s, b: b, topics: topics, only: i}.Gather()
		if err := writeFamilies(bw, mfs); err != nil {
			s.log.Debug("writing metrics", "error", err)
			return
		}
	}
	if err := bw.Flush(); err != nil {
		s.log.Debug("writing metrics", "error", err)
		return
	}
	c := &s.cache
	c.mu.Lock()
	c.size = cw.n // when the estate shrinks, the next text is cached again
	c.mu.Unlock()
	err := writeFamilies(bw, own)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		s.log.Debug("writing metrics", "error", err)
	}
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

func writeText(w io.Writer, g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return err
	}
	return writeFamilies(w, mfs)
}

// writeFamilies writes mfs to w in the text format.
func writeFamilies(w io.Writer, mfs []*dto.MetricFamily) error {
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}
