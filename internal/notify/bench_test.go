package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

const benchParts = 8

// benchTopics are 10,000 targets of 100 mirrors.
func benchTopics(n int) []pipeline.Target {
	out := make([]pipeline.Target, n)
	for i := range out {
		out[i] = pipeline.Target{Mirror: fmt.Sprintf("mm%02d", i%100), Topic: fmt.Sprintf("topic-%05d", i), Group: "mirrormaker", Cluster: "dc1"}
	}
	return out
}

// sample: 1 topic in 100 is stopped (its committed offsets do not move,
// nobody is a member); the others keep up.
func sample(i, tick int) pipeline.Sample {
	c := make([]int64, benchParts)
	e := make([]int64, benchParts)
	for p := range c {
		e[p] = int64(1000 + 10*tick)
		c[p] = e[p]
		if i%100 == 0 {
			c[p] = 900
		}
	}
	s := pipeline.SampleFromOffsets(c, e)
	s.Members = &pipeline.Membership{Active: 0}
	return s
}

// bigEvaluator has judged n topics over 4 ticks.
func bigEvaluator(n int) (*status.Evaluator, []pipeline.Target) {
	ev := status.New(status.Rules{Window: 4 * time.Second})
	targets := benchTopics(n)
	var doc pipeline.Doc
	for tick := range 4 {
		at := t0.Add(time.Duration(tick) * time.Second)
		for i, tg := range targets {
			ev.Process(at, tg, sample(i, tick), &doc)
		}
	}
	return ev, targets
}

// BenchmarkRound is one round of the notification loop at 10,000 topics ×
// 8 partitions (1% of them firing): reading the judgement when the
// generation changed and stepping the incident machine; the same step on
// the judgement already read (generation unchanged); and, in the same run,
// the naive way: a full Snapshot every round and a JSON body built for
// every topic and compared with the last one sent.
func BenchmarkRound(b *testing.B) {
	ev, _ := bigEvaluator(10000)
	b.Run("latest+step-10000", func(b *testing.B) {
		m := NewMachine(Rules{MinStatus: status.WARN, Repeat: time.Hour, SendResolved: true})
		now := t0.Add(5 * time.Second)
		b.ReportAllocs()
		for b.Loop() {
			m.Step(now, ev.Latest())
			now = now.Add(time.Second)
		}
		if len(m.Firing()) != 100 {
			b.Fatalf("%d firing", len(m.Firing()))
		}
	})
	b.Run("step-unchanged-10000", func(b *testing.B) {
		m := NewMachine(Rules{MinStatus: status.WARN, Repeat: time.Hour, SendResolved: true})
		now := t0.Add(5 * time.Second)
		topics := ev.Latest()
		b.ReportAllocs()
		for b.Loop() {
			m.Step(now, topics)
			now = now.Add(time.Second)
		}
	})
	b.Run("naive-10000", func(b *testing.B) {
		last := map[Key][]byte{}
		now := t0.Add(5 * time.Second)
		b.ReportAllocs()
		changed := 0
		for b.Loop() {
			for _, ts := range ev.Snapshot() {
				e := newEvent(Firing, &ts, status.WARN, now)
				e.Time = time.Time{}
				body, _ := json.Marshal(&e)
				k := e.key()
				if !bytes.Equal(last[k], body) {
					last[k] = body
					changed++
				}
			}
			now = now.Add(time.Second)
		}
		_ = changed
	})
}

// BenchmarkCollectionPath is one tick of the evaluator at 10,000 topics ×
// 8 partitions, alone and while a reader calls Latest back to back (the
// notification loop does so at most once a second): what the loop can cost
// the collection path at worst.
func BenchmarkCollectionPath(b *testing.B) {
	for _, reader := range []bool{false, true} {
		name := "process-10000"
		if reader {
			name += "-with-latest-reader"
		}
		b.Run(name, func(b *testing.B) {
			ev, targets := bigEvaluator(10000)
			samples := make([]pipeline.Sample, len(targets))
			for i := range samples {
				samples[i] = sample(i, 5)
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			reads := 0
			if reader {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						ev.Latest()
						reads++
					}
				}()
			}
			var doc pipeline.Doc
			tick := 5
			b.ResetTimer()
			for b.Loop() {
				at := t0.Add(time.Duration(tick) * time.Second)
				for i, tg := range targets {
					ev.Process(at, tg, samples[i], &doc)
				}
				tick++
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			if reader {
				b.ReportMetric(float64(reads)/float64(b.N), "reads/tick")
			}
		})
	}
}
