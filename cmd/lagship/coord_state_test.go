package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lagship/lagship/internal/coord"
)

// createTopicsCounter counts the CreateTopics requests the cluster gets
// and, if deny is set, answers each of their topics with it.
type createTopicsCounter struct {
	mu sync.Mutex
	n  int
}

func (c *createTopicsCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func countCreateTopics(kf *kfake.Cluster, deny kafkago.Error) *createTopicsCounter {
	c := &createTopicsCounter{}
	kf.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
		if deny == 0 {
			return nil, nil, false
		}
		r := req.(*kmsg.CreateTopicsRequest)
		resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
		resp.Version = r.Version
		for _, rt := range r.Topics {
			t := kmsg.NewCreateTopicsResponseTopic()
			t.Topic, t.ErrorCode = rt.Topic, int16(deny)
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil, true
	})
	return c
}

// TestGroupStateCreateFails: the state topic's creation may fail where the
// topic exists already (no right to create topics, the topic made by an
// operator): Put and Load work anyway, and their errors, when the topic is
// missing too, name both failures. A failed creation is not tried again on
// every call, only once its minute has passed; a successful one never.
func TestGroupStateCreateFails(t *testing.T) {
	const group = "lagship-agents"
	topic := coord.StateTopic(group)
	for _, tc := range []struct {
		name   string
		deny   kafkago.Error // CreateTopics' answer (0: the broker's)
		exists bool          // made by an operator before the agents start
		// works: Put and Load succeed.
		works bool
		// again: CreateTopics requests once the minute has passed.
		again int
	}{
		{name: "created", works: true, again: 1},
		{name: "not authorized, topic exists", deny: kafkago.TopicAuthorizationFailed, exists: true, works: true, again: 2},
		{name: "cluster not authorized, topic exists", deny: kafkago.ClusterAuthorizationFailed, exists: true, works: true, again: 2},
		{name: "not authorized, topic missing", deny: kafkago.TopicAuthorizationFailed, again: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []kfake.Opt{kfake.NumBrokers(1)}
			if tc.exists {
				opts = append(opts, kfake.SeedTopics(1, topic))
			}
			kf, err := kfake.NewCluster(opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(kf.Close)
			creates := countCreateTopics(kf, tc.deny)
			client := &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
			t.Cleanup(client.Transport.(*kafkago.Transport).CloseIdleConnections)
			g := &groupState{st: coord.NewState(client, group)}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// Several calls, well within the minute after the first.
			const calls = 3
			for i := range calls {
				putErr := g.Put(ctx, "notify/hook/mm/orders", []byte(`{"status":"STOP"}`))
				kv, loadErr := g.Load(ctx)
				if tc.works {
					if putErr != nil || loadErr != nil {
						t.Fatalf("call %d: Put: %v; Load: %v", i, putErr, loadErr)
					}
					if got := string(kv["notify/hook/mm/orders"]); got != `{"status":"STOP"}` {
						t.Fatalf("call %d: loaded %q", i, got)
					}
					continue
				}
				for _, c := range []struct {
					op, want string
					err      error
				}{{"Put", "writing", putErr}, {"Load", "listing offsets", loadErr}} {
					if c.err == nil {
						t.Fatalf("call %d: %s to a missing topic worked", i, c.op)
					}
					msg := c.err.Error()
					if i == 0 {
						t.Logf("%s: %s", c.op, msg)
					}
					for _, w := range []string{c.want, "creating the state topic failed too", `creating state topic "` + topic + `"`, "Authorization"} {
						if !strings.Contains(msg, w) {
							t.Errorf("call %d: %s error %q lacks %q", i, c.op, msg, w)
						}
					}
				}
			}
			if got := creates.count(); got != 1 {
				t.Fatalf("%d CreateTopics requests in %d Puts and %d Loads within a minute, want 1", got, calls, calls)
			}

			// The minute passes.
			g.mu.Lock()
			g.retryAt = time.Now().Add(-time.Nanosecond)
			g.mu.Unlock()
			_ = g.Put(ctx, "notify/hook/mm/orders", nil)
			_, _ = g.Load(ctx)
			if got := creates.count(); got != tc.again {
				t.Errorf("%d CreateTopics requests in all after the minute, want %d", got, tc.again)
			}
		})
	}
}
