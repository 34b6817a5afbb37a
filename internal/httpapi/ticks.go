package httpapi

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lagship/lagship/pipeline"
)

var (
	descMirrorTicks = prometheus.NewDesc("lagship_mirror_ticks_total",
		"Collections of the mirror's topics (one per topic and tick), by outcome: collected (a document was made), state (no document: topic or group missing, no committed offsets, source not ready), failed (the collection failed).",
		[]string{"mirror", "outcome"}, nil)
	outcomes = []pipeline.Outcome{pipeline.Collected, pipeline.InState, pipeline.Failed}
)

// tickBuckets go from 1 ms to 30 s: a native collection takes milliseconds,
// an SSH one (a JVM start on the host) seconds.
var tickBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// ticks counts the workers' collections per mirror and times them; it is
// the group's pipeline.Observer. Only the mirrors of the running config
// are exposed, so a mirror removed by a reload leaves no stale series.
type ticks struct {
	mirrors func() []Mirror
	byName  sync.Map // mirror name -> *mirrorTicks
}

type mirrorTicks struct {
	mu       sync.Mutex
	counts   [3]uint64 // by pipeline.Outcome
	duration prometheus.Histogram
}

func (t *ticks) Observe(tg pipeline.Target, took time.Duration, o pipeline.Outcome) {
	v, ok := t.byName.Load(tg.Mirror)
	if !ok {
		v, _ = t.byName.LoadOrStore(tg.Mirror, &mirrorTicks{duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "lagship_tick_duration_seconds",
			Help:        "How long the collection of one of the mirror's topics took (from the tick to its sample).",
			ConstLabels: prometheus.Labels{"mirror": tg.Mirror},
			Buckets:     tickBuckets,
		})})
	}
	m := v.(*mirrorTicks)
	m.mu.Lock()
	if int(o) < len(m.counts) {
		m.counts[o]++
	}
	m.mu.Unlock()
	m.duration.Observe(took.Seconds())
}

// Describe sends nothing: the mirrors change with the config.
func (t *ticks) Describe(chan<- *prometheus.Desc) {}

func (t *ticks) Collect(ch chan<- prometheus.Metric) {
	if t.mirrors == nil {
		return
	}
	for _, mi := range t.mirrors() {
		var counts [3]uint64
		v, ok := t.byName.Load(mi.Name)
		if ok {
			m := v.(*mirrorTicks)
			m.mu.Lock()
			counts = m.counts
			m.mu.Unlock()
		}
		for _, o := range outcomes {
			ch <- prometheus.MustNewConstMetric(descMirrorTicks, prometheus.CounterValue, float64(counts[o]), mi.Name, o.String())
		}
		if ok {
			v.(*mirrorTicks).duration.Collect(ch)
		}
	}
}
