package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/kibana"
	"github.com/lagship/lagship/mappings"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/elasticsearch"
)

// ticksByTopic reads the documents of the stream (or index) by topic and
// @timestamp from their bodies: a TSDS makes its own _ids.
func ticksByTopic(t *testing.T, es *esfake.Server, name string) map[string][]time.Time {
	t.Helper()
	out := map[string][]time.Time{}
	for _, src := range es.Docs(name) {
		var d struct {
			TS    string `json:"@timestamp"`
			Topic string `json:"topic"`
		}
		if err := json.Unmarshal(src, &d); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(pipeline.TimestampLayout, d.TS)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Topic] = append(out[d.Topic], ts)
	}
	for _, ts := range out {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	}
	return out
}

// checkEveryTickOnce reports, per topic, the 1 s ticks missing between its
// first and last document and the ticks indexed twice (byTopic sorted),
// and returns the number of ticks in all.
func checkEveryTickOnce(t *testing.T, byTopic map[string][]time.Time, topics []string) int {
	t.Helper()
	total := 0
	for _, topic := range topics {
		ts := byTopic[topic]
		if missing := gaps(ts, time.Second); len(missing) > 0 {
			t.Errorf("%s: ticks lost %v", topic, missing)
		}
		for i := 1; i < len(ts); i++ {
			if ts[i].Equal(ts[i-1]) {
				t.Errorf("%s: tick %s twice", topic, ts[i])
			}
		}
		total += len(ts)
	}
	return total
}

// TestDataStreamOutage runs the agent at a 1 s interval into a data stream
// (and into a time series data stream) while Elasticsearch is down for
// longer than the client's own retries: afterwards every tick of every
// topic is in the stream exactly once, with no gap.
func TestDataStreamOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 20 s per case")
	}
	for _, tsds := range []bool{false, true} {
		name := "data stream"
		if tsds {
			name = "TSDS"
		}
		t.Run(name, func(t *testing.T) {
			topics := []string{"orders", "payments", "clicks"}
			kf, _ := kafkaWithLag(t, topics, 2)
			es := esfake.NewTB(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "lagship.yaml")
			writeConfig(t, path, fmt.Sprintf(`interval: 1s
elasticsearch: {addresses: [%q], flush_interval: 200ms, spool_dir: %q, data_stream: true, retention: 30d, tsds: %v}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: m, cluster: dc1, group: mirrormaker, topics: [orders, payments, clicks]}
`, es.URL(), filepath.Join(dir, "spool"), tsds, kf.ListenAddrs()[0]))
			r, counters := startESAgent(t, path)
			stats := func() (spooled, replayed uint64, pending int64) {
				st := counters()
				return st.Spooled, st.Replayed, st.Spool.Pending
			}
			waitUntil(t, "first documents", func() bool { return len(es.DocIDs("consumer_lag")) >= 6 })
			backing := es.BackingIndices("consumer_lag")
			if len(backing) != 1 || es.Setting(backing[0], "index.mode") == "time_series" != tsds {
				t.Fatalf("backing indices %v, mode %q", backing, es.Setting(backing[0], "index.mode"))
			}
			if ret, managed := es.Retention("consumer_lag"); !managed || ret != "30d" {
				t.Errorf("retention %q, managed %v", ret, managed)
			}
			es.Outage()
			// The outage lasts until 10 ticks of 3 topics wait in the spool:
			// longer than the client's retries.
			waitUntil(t, "30 documents in the spool", func() bool { _, _, p := stats(); return p >= 30 })
			if err := es.Restore(); err != nil {
				t.Fatal(err)
			}
			n := len(es.DocIDs("consumer_lag"))
			waitUntil(t, "documents after the outage", func() bool { return len(es.DocIDs("consumer_lag")) >= n+6 })
			waitUntil(t, "the spool to drain", func() bool { _, _, p := stats(); return p == 0 })
			r.stop()
			select {
			case <-r.done:
				r.done <- nil
			case <-time.After(60 * time.Second):
				t.Fatal("agent did not stop")
			}
			byTopic := ticksByTopic(t, es, "consumer_lag")
			total := checkEveryTickOnce(t, byTopic, topics)
			if got := len(es.DocIDs("consumer_lag")); got != total {
				t.Errorf("%d documents, %d distinct ticks", got, total)
			}
			spooled, replayed, _ := stats()
			if spooled == 0 || replayed != spooled {
				t.Errorf("the outage did not go through the spool: spooled %d, replayed %d", spooled, replayed)
			}
			if got := es.BackingIndices("consumer_lag"); len(got) != 1 {
				t.Errorf("backing indices after the outage %v", got)
			}
			t.Logf("%s at 1s interval across an outage: %d ticks x %d topics = %d documents in %s, lost 0, duplicated 0; spooled %d, replayed %d",
				name, total/len(topics), len(topics), total, backing[0], spooled, replayed)
		})
	}
}

// TestCheckDataStream: check reports the data stream set-up, what differs
// and what lagship would send, and fails on a plain index of the stream's
// name; it writes nothing.
func TestCheckDataStream(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders", "payments"}, 2)
	cfgFor := func(t *testing.T, es *esfake.Server, retention string) string {
		p := checkConfig(t, es.URL(), kf.ListenAddrs(), "mirrormaker")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeConfig(t, p, strings.Replace(string(b), "elasticsearch: {", "elasticsearch: {data_stream: true, retention: "+retention+", ", 1))
		return p
	}
	t.Run("fresh", func(t *testing.T) {
		es := esfake.NewTB(t, esfake.WithVersion("8.13.4"))
		code, out, errs := runCLI(t, "check", "-config", cfgFor(t, es, "30d"))
		if code != 0 {
			t.Fatalf("code %d\n%s\n%s", code, out, errs)
		}
		for _, w := range []string{
			"elasticsearch data stream consumer_lag", "does not exist; lagship creates it at start",
			"At start lagship sends: PUT _ilm/policy/consumer_lag, PUT _index_template/consumer_lag, PUT _data_stream/consumer_lag",
			"elasticsearch ILM policy consumer_lag",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("check output lacks %q:\n%s", w, out)
			}
		}
		t.Logf("check on an empty 8.13 cluster:\n%s", out)
		if len(es.Templates()) != 0 || len(es.DataStreams()) != 0 || es.Policy("consumer_lag") != nil {
			t.Errorf("check wrote: templates %v, streams %v", es.Templates(), es.DataStreams())
		}
	})
	t.Run("plain index", func(t *testing.T) {
		es := esfake.NewTB(t)
		if err := es.CreateIndex("consumer_lag", mappings.JSON); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCLI(t, "check", "-config", cfgFor(t, es, "30d"))
		if code != 1 || !strings.Contains(out, "is an existing plain index") || !strings.Contains(out, "FAIL") {
			t.Errorf("code %d\n%s", code, out)
		}
		if len(es.Templates()) != 0 || len(es.DataStreams()) != 0 || len(es.DocIDs("consumer_lag")) != 0 {
			t.Errorf("check wrote: templates %v, streams %v", es.Templates(), es.DataStreams())
		}
	})
}

// TestDataViewMatchesStream: Kibana's data view finds the documents in the
// default stream as in the default index.
func TestDataViewMatchesStream(t *testing.T) {
	for _, name := range []string{elasticsearch.DefaultIndex, "consumer_lag_stream"} {
		if ok, _ := path.Match(kibana.IndexPatternTitle, name); !ok {
			t.Errorf("data view %q does not match %q", kibana.IndexPatternTitle, name)
		}
	}
}

// TestRunRefusesLayout: `lagship run` with data_stream: true refuses to
// start when the name is an existing plain index, or when a time series
// stream is asked of Elasticsearch 8.6: exit 1 with the reason, nothing
// written to Elasticsearch and no spool created.
func TestRunRefusesLayout(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		es         func(t *testing.T) *esfake.Server
		tsds       bool
	}{
		{"plain index", "is an existing plain index", func(t *testing.T) *esfake.Server {
			es := esfake.NewTB(t)
			if err := es.CreateIndex("consumer_lag", mappings.JSON); err != nil {
				t.Fatal(err)
			}
			return es
		}, false},
		{"tsds on 8.6", "no generally available time series data streams", func(t *testing.T) *esfake.Server {
			return esfake.NewTB(t, esfake.WithVersion("8.6.2"))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kf, _ := kafkaWithLag(t, []string{"orders"}, 1)
			es := tc.es(t)
			dir := t.TempDir()
			spool := filepath.Join(dir, "spool")
			path := writeFile(t, "lagship.yaml", fmt.Sprintf(`interval: 1s
http: {listen: "127.0.0.1:0"}
elasticsearch: {addresses: [%q], spool_dir: %q, data_stream: true, tsds: %v}
clusters:
  - {name: dc1, brokers: [%q]}
mirrors:
  - {name: m, cluster: dc1, group: mirrormaker, topics: [orders]}
`, es.URL(), spool, tc.tsds, kf.ListenAddrs()[0]))
			// Bounded: an agent that starts anyway stops after 20 s.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := cmdRun(ctx, []string{"-config", path, "-log-level", "error"}, io.Discard, io.Discard)
			var coded *exitError // any other error exits 1
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &coded) {
				t.Fatalf("run: %v, want an error (exit 1) with %q", err, tc.want)
			}
			if len(es.Templates()) != 0 || len(es.DataStreams()) != 0 {
				t.Errorf("wrote to Elasticsearch: templates %v, streams %v", es.Templates(), es.DataStreams())
			}
			if _, err := os.Stat(spool); !os.IsNotExist(err) {
				t.Errorf("the spool was created (%v)", err)
			}
		})
	}
}
