package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
)

type reporterFunc func() []health.Status

func (f reporterFunc) Health() []health.Status { return f() }

// TestSummaryLine: the periodic line carries the workers' counts since the
// last line, every component's counters and the components that are not
// up.
func TestSummaryLine(t *testing.T) {
	var buf bytes.Buffer
	out := reporterFunc(func() []health.Status {
		return []health.Status{{Component: "elasticsearch", State: health.Degraded, Counters: map[string]int64{"spooled": 42}}}
	})
	srcs := reporterFunc(func() []health.Status {
		return []health.Status{{Component: "cluster dc1", State: health.Up, Counters: map[string]int64{"requests": 7}}}
	})
	prev := pipeline.StatsSnapshot{Ticks: 10, Docs: 9}
	now := pipeline.StatsSnapshot{Ticks: 40, Docs: 38, Missed: 1, Failing: 2}
	logSummary(zerolog.New(&buf), 5*time.Minute, now.Sub(prev), now, out, srcs, "not a reporter")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	for k, want := range map[string]float64{"ticks": 30, "documents": 29, "missed_ticks": 1, "failing_topics": 2, "elasticsearch.spooled": 42, "cluster dc1.requests": 7} {
		if got, _ := line[k].(float64); got != want {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], want, buf.Bytes())
		}
	}
	if d, _ := line["degraded"].([]any); len(d) != 1 || d[0] != "elasticsearch: degraded" {
		t.Errorf("degraded = %v", line["degraded"])
	}
}
