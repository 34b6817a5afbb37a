package ssh

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline"
)

// countSink counts the documents written.
type countSink struct{ docs atomic.Int64 }

func (s *countSink) Write(_ context.Context, docs []pipeline.Doc) error {
	s.docs.Add(int64(len(docs)))
	return nil
}

func (s *countSink) Close(context.Context) error { return nil }

// While the remote command hangs until its timeout, longer than the
// interval, ticks are skipped: the skipped ticks are counted, and the log
// says when the spell starts and when it ends, plus the topic's state change
// and recovery, not a line per tick. Neither the source nor the pool adds a
// line per tick: a timed out command does not cost the connection.
func TestHungCommandLogsOnce(t *testing.T) {
	const every = 250 * time.Millisecond
	var hang atomic.Bool
	hang.Store(true)
	var hung atomic.Int32
	e := newEnv(t, func(ctx context.Context, cmd string, stdout, _ io.Writer) int {
		if hang.Load() {
			hung.Add(1)
			<-ctx.Done() // until the client kills the session
			return 137
		}
		io.WriteString(stdout, describeTable(groupOf(cmd), 2, 2))
		return 0
	})
	e.host.Timeout = 3 * every // every hung collection skips two ticks or more
	buf := &logBuffer{}
	log := bufLogger(t, buf)
	p := NewPool(log)
	t.Cleanup(func() { p.Close() })
	src, err := NewSource(p, e.mirror("mm1"), log)
	if err != nil {
		t.Fatal(err)
	}
	sink := &countSink{}
	stats := &pipeline.Stats{}
	w := &pipeline.Worker{
		Task:  pipeline.Task{Target: pipeline.Target{Mirror: "m", Topic: topicName(1), Group: "mm1"}, Interval: every, Source: src},
		Sink:  sink,
		Log:   log,
		Stats: stats,
	}
	stop, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.Run(stop, context.Background())
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	await.True(t, 30*time.Second, "three hung commands", func() bool { return hung.Load() >= 3 })
	hang.Store(false)
	await.True(t, 30*time.Second, "documents after the hang", func() bool { return sink.docs.Load() >= 3 })
	cancel()
	wg.Wait()

	missed := stats.Missed.Load()
	if missed < 4 {
		t.Errorf("%d ticks counted as missed, want 2 or more per hung command", missed)
	}
	got := buf.lines(t, "info")
	want := []string{
		"warn no document for this topic until the state changes",
		"warn collection took longer than the interval; skipping ticks until it keeps up (logged once)",
		"info collection recovered",
		"info collection keeps up with the interval again",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines at info and above (%d ticks missed, %d commands hung):\n%s\nwant:\n%s",
			missed, hung.Load(), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The end of the spell carries the count of every skipped tick.
	if n := missedInLog(t, buf); n != missed {
		t.Errorf("the end of the spell reports %d missed ticks, the stats %d", n, missed)
	}
	if st := p.Stats(); st[0].Dials != 1 || st[0].Drops != 0 {
		t.Errorf("pool stats = %+v, want the one connection kept", st)
	}
}

// missedInLog returns missed_ticks of the "keeps up again" line.
func missedInLog(t *testing.T, buf *logBuffer) int64 {
	t.Helper()
	for _, line := range strings.Split(buf.String(), "\n") {
		var e struct {
			Message string
			Missed  int64 `json:"missed_ticks"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Message == "collection keeps up with the interval again" {
			return e.Missed
		}
	}
	return -1
}
