package httpapi

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

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

type families struct{ srv *Server }

var statuses = []status.Status{status.OK, status.WARN, status.ERR, status.REWIND, status.STALL, status.STOP}

var _ prometheus.Gatherer = families{}

// pairs caches label pairs so that series share them.
type pairs map[[2]string]*dto.LabelPair

func (p pairs) get(name, value string) *dto.LabelPair {
	k := [2]string{name, value}
	if lp, ok := p[k]; ok {
		return lp
	}
	lp := &dto.LabelPair{Name: &k[0], Value: &k[1]}
	p[k] = lp
	return lp
}

// slab hands out metrics, gauges, values and label slices from chunks, so
// that a scrape allocates per thousand series, not per series.
type slab struct {
	ms []dto.Metric
	gs []dto.Gauge
	vs []float64
	ls []*dto.LabelPair
}

const slabChunk = 1024

func (s *slab) metric(v float64, labels []*dto.LabelPair) *dto.Metric {
	if len(s.ms) == 0 {
		s.ms, s.gs, s.vs = make([]dto.Metric, slabChunk), make([]dto.Gauge, slabChunk), make([]float64, slabChunk)
	}
	if len(s.ls) < len(labels) {
		s.ls = make([]*dto.LabelPair, max(slabChunk*5, len(labels)))
	}
	m, g, val := &s.ms[0], &s.gs[0], &s.vs[0]
	s.ms, s.gs, s.vs = s.ms[1:], s.gs[1:], s.vs[1:]
	l := s.ls[:len(labels):len(labels)]
	s.ls = s.ls[len(labels):]
	copy(l, labels)
	*val = v
	g.Value = val
	m.Label, m.Gauge = l, g
	return m
}

type family struct {
	mf   *dto.MetricFamily
	slab *slab
}

func (s *slab) family(name, help string) *family {
	t := dto.MetricType_GAUGE
	return &family{mf: &dto.MetricFamily{Name: &name, Help: &help, Type: &t}, slab: s}
}

func (f *family) add(v float64, labels ...*dto.LabelPair) {
	f.mf.Metric = append(f.mf.Metric, f.slab.metric(v, labels))
}

// Gather builds the families of the last tick. Label pairs are in
// alphabetical order of their names, as the exposition requires.
func (g families) Gather() ([]*dto.MetricFamily, error) {
	compat := g.srv.settings.KafkaExporterCompat
	lp := pairs{}
	sl := &slab{}
	newFamily := sl.family
	lag := newFamily("lagship_partition_lag", "Messages the mirror is behind on the partition, at the last tick (no series while unknown).")
	tl := newFamily("lagship_partition_time_lag_seconds", "Estimated seconds since the next record to mirror was appended to the source partition (no series while unknown).")
	com := newFamily("lagship_partition_committed_offset", "The group's committed offset on the partition at the last tick.")
	end := newFamily("lagship_partition_log_end_offset", "The partition's log-end offset at the last tick.")
	st := newFamily("lagship_topic_status", "1 for the topic's current status; every other status of a judged topic is 0 (no series while unknown).")
	tlag := newFamily("lagship_topic_lag", "Total lag of the topic over partitions with a known lag.")
	keLag := newFamily("kafka_consumergroup_lag", "Current approximate lag of a consumer group at topic/partition (kafka_exporter compatible).")
	keSum := newFamily("kafka_consumergroup_lag_sum", "Current approximate lag of a consumer group at topic for all partitions (kafka_exporter compatible).")
	keCur := newFamily("kafka_consumergroup_current_offset", "Current offset of a consumer group at topic/partition (kafka_exporter compatible).")
	keTop := newFamily("kafka_topic_partition_current_offset", "Current offset of a broker at topic/partition (kafka_exporter compatible).")
	topicSeen := map[[2]string]bool{}
	for _, t := range g.srv.topics() {
		tg := t.Target
		cl, gr, mi, to := lp.get("cluster", tg.Cluster), lp.get("group", tg.Group), lp.get("mirror", tg.Mirror), lp.get("topic", tg.Topic)
		cg := lp.get("consumergroup", tg.Group)
		for p, r := range t.Partitions {
			pa := lp.get("partition", strconv.Itoa(p))
			labels := []*dto.LabelPair{cl, gr, mi, pa, to}
			if r.Lag >= 0 {
				lag.add(float64(r.Lag), labels...)
			}
			if r.HasTimeLag {
				tl.add(r.TimeLag.Seconds(), labels...)
			}
			if r.Committed >= 0 {
				com.add(float64(r.Committed), labels...)
			}
			if r.LogEnd >= 0 {
				end.add(float64(r.LogEnd), labels...)
			}
			if compat {
				ke := []*dto.LabelPair{cg, pa, to}
				if r.Lag >= 0 {
					keLag.add(float64(r.Lag), ke...)
				}
				if r.Committed >= 0 {
					keCur.add(float64(r.Committed), ke...)
				}
				// One series per topic partition, even when two mirrors
				// watch the topic (kafka_exporter has no mirror label).
				key := [2]string{tg.Topic, pa.GetValue()}
				if r.LogEnd >= 0 && !topicSeen[key] {
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
			for _, s := range statuses {
				v := 0.0
				if s == t.Status {
					v = 1
				}
				st.add(v, cl, gr, mi, lp.get("status", s.String()), to)
			}
		}
	}
	out := []*dto.MetricFamily{lag.mf, tl.mf, com.mf, end.mf, st.mf, tlag.mf}
	if compat {
		out = append(out, keLag.mf, keSum.mf, keCur.mf, keTop.mf)
	}
	kept := out[:0]
	for _, mf := range out {
		if len(mf.Metric) > 0 {
			kept = append(kept, mf)
		}
	}
	return kept, nil
}

// serveMetrics encodes the registry's families, then the partition
// families, in the format the scraper asked for.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	own, err := s.reg.Gather()
	if err != nil {
		http.Error(w, "gathering metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	parts, _ := families{s}.Gather()
	format := expfmt.Negotiate(r.Header)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range append(parts, own...) {
		if err := enc.Encode(mf); err != nil {
			s.log.Error("encoding metrics", "error", err)
			return
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
}
