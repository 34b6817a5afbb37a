package ssh

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/testutil/sshtest"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
)

// logBuffer collects zerolog JSON lines from concurrent writers.
type logBuffer struct{ syncbuf.Buffer }

// lines returns the messages logged at level or above ("debug", "info",
// "warn", "error").
func (l *logBuffer) lines(t *testing.T, level string) []string {
	t.Helper()
	rank := map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var e struct{ Level, Message string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rank[e.Level] >= rank[level] {
			out = append(out, e.Level+" "+e.Message)
		}
	}
	return out
}

// bufLogger logs to buf and to the test's output.
func bufLogger(t *testing.T, buf *logBuffer) zerolog.Logger {
	return zerolog.New(zerolog.MultiLevelWriter(buf, zerolog.NewTestWriter(t))).Level(zerolog.DebugLevel)
}

// groupOf returns the group a describe command asks for.
func groupOf(cmd string) string {
	_, g, _ := strings.Cut(cmd, "--group '")
	g, _, _ = strings.Cut(g, "'")
	return g
}

// twoMirrors starts one host serving groups mm-a and mm-b, whose commands
// are handled by first until it returns false, and returns a source for
// each, sharing one pool that logs to buf.
func twoMirrors(t *testing.T, buf *logBuffer, first func(ctx context.Context, group string, run int) bool) (*env, *Pool, [2]*Source) {
	t.Helper()
	var mu sync.Mutex
	runs := map[string]int{}
	e := newEnv(t, func(ctx context.Context, cmd string, stdout, _ io.Writer) int {
		g := groupOf(cmd)
		mu.Lock()
		runs[g]++
		n := runs[g]
		mu.Unlock()
		if first(ctx, g, n) {
			return 0
		}
		io.WriteString(stdout, describeTable(g, 2, 2))
		return 0
	})
	log := bufLogger(t, buf)
	p := NewPool(log)
	t.Cleanup(func() { p.Close() })
	var srcs [2]*Source
	for i, g := range []string{"mm-a", "mm-b"} {
		s, err := NewSource(p, e.mirror(g), log)
		if err != nil {
			t.Fatal(err)
		}
		srcs[i] = s
	}
	return e, p, srcs
}

// collectBoth collects topic 1 of both sources at tick, concurrently.
func collectBoth(ctx context.Context, srcs [2]*Source, tick time.Time) [2]error {
	var errs [2]error
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Collect(ctx, tick, topicName(1))
			if err == nil && !slices.Equal(got.Lags, wantLags(1, 2)) {
				err = fmt.Errorf("lags %v, want %v", got.Lags, wantLags(1, 2))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return errs
}

// The host closes the shared connection while mirror mm-a's command runs
// and mirror mm-b's is in flight on it: the pool reconnects once, both
// commands run again on the new connection, both mirrors get their lags in
// that tick, and the loss and the reconnect are logged once each.
func TestConnectionLostMidCommandRetriesEveryMirror(t *testing.T) {
	buf := &logBuffer{}
	bInFlight := make(chan struct{})
	e, p, srcs := twoMirrors(t, buf, func(ctx context.Context, g string, n int) bool {
		switch {
		case g == "mm-b" && n == 1:
			close(bInFlight)
			<-ctx.Done() // until the connection goes
			return true
		case g == "mm-a" && n == 1:
			select {
			case <-bInFlight:
			case <-time.After(20 * time.Second):
			}
			sshtest.DropConnection(ctx)
			return true
		}
		return false
	})
	ctx := testCtx(t)
	tick := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, err := range collectBoth(ctx, srcs, tick) {
		if err != nil {
			t.Errorf("%s in the tick the connection was lost: %v", srcs[i].cfg.Group, err)
		}
	}
	// The next tick runs normally on the new connection.
	for i, err := range collectBoth(ctx, srcs, tick.Add(10*time.Second)) {
		if err != nil {
			t.Errorf("%s in the next tick: %v", srcs[i].cfg.Group, err)
		}
	}
	if n := e.srv.Connections(); n != 2 {
		t.Errorf("server saw %d connections, want 2 (one reconnect for both mirrors)", n)
	}
	if st := p.Stats(); len(st) != 1 || st[0].Reconnects != 1 || st[0].Drops != 1 || !st[0].Connected {
		t.Errorf("pool stats = %+v, want one drop and one reconnect", st)
	}
	for _, gs := range p.GroupStats() {
		if gs.Commands != 3 || gs.Failures != 0 {
			t.Errorf("group stats %+v, want 3 commands (one cut off, run again, next tick) and no failure", gs)
		}
	}
	got := buf.lines(t, "info")
	want := []string{"warn ssh connection lost; reconnecting on next use", "info ssh reconnected"}
	if !slices.Equal(got, want) {
		t.Errorf("log lines at info and above:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A host that ends only one session (no exit status) leaves the connection
// and the other mirror alone: no reconnect, no retry, the one mirror fails
// that tick.
func TestSessionClosedKeepsConnection(t *testing.T) {
	buf := &logBuffer{}
	e, p, srcs := twoMirrors(t, buf, func(ctx context.Context, g string, n int) bool {
		if g == "mm-a" && n == 1 {
			sshtest.CloseSession(ctx)
			return true
		}
		return false
	})
	ctx := testCtx(t)
	tick := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	errs := collectBoth(ctx, srcs, tick)
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "exited with status -1") {
		t.Errorf("mm-a: %v, want exit status -1", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("mm-b: %v", errs[1])
	}
	for i, err := range collectBoth(ctx, srcs, tick.Add(10*time.Second)) {
		if err != nil {
			t.Errorf("%s in the next tick: %v", srcs[i].cfg.Group, err)
		}
	}
	if n := e.srv.Connections(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
	if st := p.Stats(); st[0].Reconnects != 0 || st[0].Drops != 0 {
		t.Errorf("pool stats = %+v, want no drop", st)
	}
	if got := buf.lines(t, "warn"); len(got) != 0 {
		t.Errorf("warnings: %q", got)
	}
}

// A command that loses the connection every time runs twice, not more, and
// then fails; the other mirror still gets its lags.
func TestConnectionLostTwiceGivesUp(t *testing.T) {
	buf := &logBuffer{}
	e, p, srcs := twoMirrors(t, buf, func(ctx context.Context, g string, n int) bool {
		if g == "mm-a" {
			sshtest.DropConnection(ctx)
			return true
		}
		return false
	})
	ctx := testCtx(t)
	_, err := srcs[0].Collect(ctx, time.Unix(1800000000, 0), topicName(1))
	if err == nil || !strings.Contains(err.Error(), "ssh connection lost") {
		t.Fatalf("mm-a: %v, want the connection loss", err)
	}
	if st := srcs[0].Stats(); st.Commands != 2 || st.Failures != 1 {
		t.Errorf("mm-a stats = %+v, want 2 commands and 1 failure", st)
	}
	if _, err := srcs[1].Collect(ctx, time.Unix(1800000000, 0), topicName(1)); err != nil {
		t.Errorf("mm-b: %v", err)
	}
	if n := e.srv.Connections(); n != 3 {
		t.Errorf("server saw %d connections, want 3", n)
	}
	if st := p.Stats(); st[0].Drops != 2 || st[0].Reconnects != 2 {
		t.Errorf("pool stats = %+v, want 2 drops and 2 reconnects", st)
	}
}
