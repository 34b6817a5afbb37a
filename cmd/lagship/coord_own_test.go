package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/coord"
	"github.com/lagship/lagship/internal/notify"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/pipeline/status"
)

// okSource judges every topic OK; each read counts, and each is a new
// generation, so the notifiers judge at every round.
type okSource struct {
	mu     sync.Mutex
	topics []status.TopicStatus
	reads  uint64
}

func (s *okSource) Generation() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }

func (s *okSource) Latest() []status.TopicStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return append([]status.TopicStatus(nil), s.topics...)
}

func (s *okSource) readCount() uint64 { return s.Generation() }

// TestCoordOwnTopicsBeforeJoin: before this agent's member has joined the
// group, ownTopics tells the notifiers nothing, so they keep the incidents
// their state file restored and judge their topics (here both resolve).
// Once joined, the incident of the topic another agent owns is dropped
// without a message.
func TestCoordOwnTopicsBeforeJoin(t *testing.T) {
	const group = "lagship-agents"
	topics := []string{"orders", "payments"}
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	newClient := func() *kafkago.Client {
		cl := &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
		t.Cleanup(cl.Transport.(*kafkago.Transport).CloseIdleConnections)
		return cl
	}
	var tasks []pipeline.Task
	for _, tp := range topics {
		tasks = append(tasks, pipeline.Task{Target: pipeline.Target{Mirror: "mm", Topic: tp, Group: "mirrormaker", Cluster: "dc1", Method: "native"}})
	}
	member := func(host string, logs *syncBuffer) *coord.Member {
		return coord.New(coord.Config{
			Settings: coord.Settings{Cluster: "dc1", Group: group, SessionTimeout: configkit.Duration(time.Second)},
			Client:   newClient(), Host: host, Version: "test", Log: zerolog.New(logs), Heartbeat: 100 * time.Millisecond,
		})
	}

	for _, tc := range []struct {
		name   string
		joined bool
	}{
		{name: "before join"},
		{name: "joined, a topic owned by the other agent", joined: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			memberLogs := &syncBuffer{}
			c := &coordination{m: member("a", memberLogs), log: zerolog.New(memberLogs), state: &groupState{st: coord.NewState(newClient(), group)}}
			if tc.joined {
				other := member("b", memberLogs)
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for _, m := range []*coord.Member{c.m, other} {
					m.SetPlan("h", unitsOf(tasks, nil))
					wg.Add(1)
					go func() { defer wg.Done(); _ = m.Run(ctx) }()
				}
				t.Cleanup(func() { cancel(); wg.Wait() })
				await.True(t, 30*time.Second, "one topic on each agent", func() bool {
					va, vb := c.m.View(), other.View()
					return va.Joined && vb.Joined && len(va.Units) == 1 && len(vb.Units) == 1 && va.Generation == vb.Generation
				})
			}
			mine := c.own(tasks)
			var lost []string
			for _, o := range c.others {
				lost = append(lost, o.Topic)
			}
			if tc.joined && (len(mine) != 1 || len(lost) != 1) {
				t.Fatalf("joined: %d topics here, %v elsewhere; want one each", len(mine), lost)
			}
			if !tc.joined && (len(mine) != 0 || len(lost) != 2) {
				t.Fatalf("before join: %d topics here, %v elsewhere; want none and both", len(mine), lost)
			}

			// The state file of the last run: both topics fire.
			hook := newHookRecorder(t)
			state := filepath.Join(t.TempDir(), notify.StateFile)
			st := notify.State{Version: notify.StateVersion, Notifiers: map[string]notify.NotifierState{"hook": {}}}
			since := time.Now().Add(-time.Minute)
			ns := st.Notifiers["hook"]
			src := &okSource{}
			for _, task := range tasks {
				ns.Incidents = append(ns.Incidents, notify.Incident{Mirror: "mm", Topic: task.Target.Topic, Status: "STOP", Previous: "OK", StartedAt: since, LastSent: since})
				src.topics = append(src.topics, status.TopicStatus{Target: task.Target, Status: status.OK})
			}
			st.Notifiers["hook"] = ns
			if err := notify.SaveState(state, st); err != nil {
				t.Fatal(err)
			}
			settings := notify.Settings{{Name: "hook", URL: configkit.Secret(hook.URL), MinStatus: "STALL"}}
			settings.SetDefaults()
			logs := &syncBuffer{}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("group log:\n%s\nnotify log:\n%s", memberLogs.String(), logs.String())
				}
			})
			nt, err := notify.New(settings, src, state, zerolog.New(logs), notify.Options{Every: 10 * time.Millisecond, Shared: c.shared()})
			if err != nil {
				t.Fatal(err)
			}
			// As run does: the topics are told before the service's
			// first round.
			c.ownTopics(nt, mine)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = nt.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })

			if !tc.joined {
				await.True(t, 10*time.Second, "both restored incidents judged and resolved", func() bool {
					return hook.count("resolved", "orders") == 1 && hook.count("resolved", "payments") == 1
				})
				if strings.Contains(logs.String(), "handed over") {
					t.Errorf("incidents handed over before the agent joined:\n%s", logs.String())
				}
				return
			}
			await.True(t, 10*time.Second, "the incident of the other agent's topic handed over", func() bool {
				return strings.Contains(logs.String(), `"incidents":1,"message":"incidents handed over with their units to another agent"`)
			})
			n := src.readCount()
			await.True(t, 10*time.Second, "20 more rounds", func() bool { return src.readCount() >= n+20 })
			if got := hook.count("resolved", lost[0]); got != 0 {
				t.Errorf("%d resolved messages for %s, which the other agent owns", got, lost[0])
			}
			cancel()
			<-done
			b, err := os.ReadFile(state)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), `"`+lost[0]+`"`) {
				t.Errorf("the state file still holds %s, which the other agent owns:\n%s", lost[0], b)
			}
		})
	}
}
