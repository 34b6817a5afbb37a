package status

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/lagship/lagship/pipeline"
)

// feed runs ticks of topics × parts through e; the log end moves every tick
// so that every time-lag table fills up.
func feed(e *Evaluator, topics, parts, ticks int) {
	targets := make([]pipeline.Target, topics)
	for i := range targets {
		targets[i] = pipeline.Target{Mirror: "m", Topic: "topic-" + strconv.Itoa(i)}
	}
	committed := make([]int64, parts)
	logEnd := make([]int64, parts)
	for k := range ticks {
		tick := t0.Add(time.Duration(k) * time.Second)
		for p := range parts {
			committed[p], logEnd[p] = int64(5*k), int64(10*k+p)
		}
		for _, target := range targets {
			s := pipeline.Sample{Lags: make([]int64, parts), Committed: committed, LogEnd: logEnd, Members: &pipeline.Membership{State: "Stable", Active: 1}}
			var d pipeline.Doc
			e.Process(tick, target, s, &d)
		}
	}
}

// TestStatePerPartition: the evaluation state of a partition has a fixed
// size whatever the run's length (the window is kept as a few times, the
// time-lag table as at most TablePoints points), and stays under 1 KiB.
func TestStatePerPartition(t *testing.T) {
	const topics, parts = 2000, 8
	if sz := unsafe.Sizeof(partition{}); sz > 1024 {
		t.Fatalf("partition state is %d bytes", sz)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := New(Rules{Window: 10 * time.Second})
	feed(e, topics, parts, 2*TablePoints) // every table full
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / (topics * parts)
	t.Logf("evaluation state: %d bytes per partition (struct), %.0f bytes per partition on the heap with %d topics × %d partitions", unsafe.Sizeof(partition{}), per, topics, parts)
	if per > 1024 {
		t.Errorf("%.0f bytes of evaluation state per partition, want at most 1024", per)
	}
	runtime.KeepAlive(e)
}

// BenchmarkObserve is the evaluator's cost per topic and tick (8
// partitions).
func BenchmarkObserve(b *testing.B) {
	e := New(Rules{Window: 10 * time.Second})
	target := pipeline.Target{Mirror: "m", Topic: "t"}
	committed := make([]int64, 8)
	logEnd := make([]int64, 8)
	s := pipeline.Sample{Lags: make([]int64, 8), Committed: committed, LogEnd: logEnd}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		for p := range 8 {
			committed[p], logEnd[p] = int64(5*k), int64(10*k)
		}
		var d pipeline.Doc
		e.Process(t0.Add(time.Duration(k)*time.Second), target, s, &d)
		k++
	}
}

// BenchmarkObserveEstate is one tick of 10,000 topics × 8 partitions: the
// partitions' state (some 50 MB) is far larger than the caches, as in a
// large agent. In "moving" every offset moves at every tick; in "still"
// none does (idle topics, a mirror caught up on them). The topics are
// judged in a shuffled order, as the workers of a tick run in no set order:
// the hardware cannot prefetch the next topic's state.
func BenchmarkObserveEstate(b *testing.B) {
	for _, tc := range []struct {
		name string
		step int64
	}{{"moving", 1}, {"still", 0}} {
		b.Run(tc.name, func(b *testing.B) { benchmarkEstate(b, tc.step) })
	}
}

func benchmarkEstate(b *testing.B, step int64) {
	const topics = 10000
	e := New(Rules{Window: 10 * time.Second})
	targets := make([]pipeline.Target, topics)
	for i := range targets {
		targets[i] = pipeline.Target{Mirror: "m", Topic: "t" + strconv.Itoa(i)}
	}
	bound := make([]pipeline.Processor, topics)
	for i := range bound {
		bound[i] = e.Bind(targets[i])
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(topics)
	committed := make([]int64, 8)
	logEnd := make([]int64, 8)
	s := pipeline.Sample{Lags: make([]int64, 8), Committed: committed, LogEnd: logEnd}
	k := int64(0)
	var d pipeline.Doc
	tick := func() {
		for p := range 8 {
			committed[p], logEnd[p] = 100+5*step*k, 200+10*step*k
			s.Lags[p] = logEnd[p] - committed[p]
		}
		at := t0.Add(time.Duration(k) * time.Second)
		for _, i := range order {
			d = pipeline.Doc{} // a worker's, reused from tick to tick
			bound[i].Process(at, targets[i], s, &d)
		}
		k++
	}
	for range 40 { // past the tables' 32 points
		tick()
	}
	b.ReportAllocs()
	for b.Loop() {
		tick()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(topics*8), "ns/partition")
}
