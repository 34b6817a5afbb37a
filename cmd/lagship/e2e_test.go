package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildLagship builds the command once per test binary run.
func buildLagship(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "lagship-test-"); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "lagship"), ".")
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return filepath.Join(buildDir, "lagship")
}

// agentProc is the built agent running as a child process.
type agentProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
}

// startLagship runs the built binary; it is killed at cleanup if still
// running.
func startLagship(t *testing.T, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{cmd: exec.Command(buildLagship(t), args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor polls cond for at most 30 s.
func (p *agentProc) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !await.Within(30*time.Second, cond) {
		t.Fatalf("timed out waiting for %s; agent log:\n%s", what, p.stderr.String())
	}
}

// terminate sends SIGTERM and expects exit status 0 within 60 s.
func (p *agentProc) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit: %v\nagent log:\n%s", err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("did not stop after SIGTERM; agent log:\n%s", p.stderr.String())
	}
}

// kafkaWithLag starts a 3-broker kfake cluster where group "mirrormaker" has
// a known lag on every partition of topics (partitions each): partition p of
// topic i has lag i+p, except the last partition of every topic, which has
// no committed offset.
func kafkaWithLag(t *testing.T, topics []string, partitions int) (*kfake.Cluster, map[string][]int64) {
	t.Helper()
	kf, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(int32(partitions), append(topics, "orders-v2")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
	defer client.Transport.(*kafkago.Transport).CloseIdleConnections()
	want := map[string][]int64{}
	commits := map[string][]kafkago.OffsetCommit{}
	for i, topic := range append(topics, "orders-v2") {
		lags := make([]int64, partitions)
		for p := 0; p < partitions; p++ {
			n := 20 + p
			recs := make([]kafkago.Record, n)
			for j := range recs {
				recs[j] = kafkago.Record{Value: kafkago.NewBytes([]byte("x"))}
			}
			if _, err := client.Produce(ctx, &kafkago.ProduceRequest{Topic: topic, Partition: p, RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)}); err != nil {
				t.Fatal(err)
			}
			if p == partitions-1 {
				lags[p] = -1
				continue
			}
			lags[p] = int64(i + p)
			if topic == "orders-v2" {
				lags[p] = 1000 // would show if orders picked it up
			}
			commits[topic] = append(commits[topic], kafkago.OffsetCommit{Partition: p, Offset: int64(n) - lags[p]})
		}
		want[topic] = lags
	}
	if _, err := client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "mirrormaker", GenerationID: -1, Topics: commits}); err != nil {
		t.Fatal(err)
	}
	return kf, want
}

// TestEndToEndSIGTERM runs the built agent from a config file against a
// real-protocol Kafka and the strict Elasticsearch, stops it with SIGTERM
// and checks that every tick it started reached Elasticsearch with exact
// per-partition lag, the last one included.
func TestEndToEndSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	topics := []string{"orders", "payments", "clicks"}
	kf, want := kafkaWithLag(t, topics, 4)
	es := esfake.NewTB(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`interval: 1s
http: {listen: "127.0.0.1:0"}
elasticsearch:
  addresses: [%q]
  flush_interval: 200ms
  spool_dir: %q
clusters:
  - name: dc1
    brokers: [%q, %q, %q]
mirrors:
  - name: mm
    cluster: dc1
    group: mirrormaker
    topics: [orders, payments, clicks]
`, es.URL(), filepath.Join(dir, "spool"), kf.ListenAddrs()[0], kf.ListenAddrs()[1], kf.ListenAddrs()[2])
	path := filepath.Join(dir, "lagship.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startLagship(t, "run", "-config", path, "-log-level", "debug")
	// Wait for documents of at least two ticks, then stop.
	p.waitFor(t, "documents of two ticks", func() bool { return len(es.DocIDs("consumer_lag")) >= 2*len(topics) })
	p.terminate(t)
	stdout, stderr := p.stdout, p.stderr
	if stdout.String() != "" {
		t.Errorf("run wrote to stdout: %q", stdout.String())
	}
	if es.IndexCreations() != 1 {
		t.Errorf("index created %d times", es.IndexCreations())
	}
	// Every tick has one document per topic, with exact lags.
	byTick := map[string][]string{}
	for id, raw := range es.Docs("consumer_lag") {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		topic := d["topic"].(string)
		byTick[d["@timestamp"].(string)] = append(byTick[d["@timestamp"].(string)], topic)
		if !strings.HasPrefix(id, "mm/"+topic+"/") {
			t.Errorf("id %s for topic %s", id, topic)
		}
		for p, l := range want[topic] {
			v, ok := d[fmt.Sprintf("p%d", p)]
			if l < 0 {
				if ok {
					t.Errorf("%s p%d = %v, want absent", topic, p, v)
				}
				continue
			}
			if !ok || int64(v.(float64)) != l {
				t.Errorf("%s p%d = %v, want %d", topic, p, v, l)
			}
		}
		if d["partition_count"].(float64) != 4 || d["method"] != "native" || d["group"] != "mirrormaker" {
			t.Errorf("doc %s", raw)
		}
	}
	// What the agent handed to its sink is what Elasticsearch holds: the
	// final log line counts the documents written, the last tick included.
	handed := -1
	for _, line := range strings.Split(stderr.String(), "\n") {
		var l struct {
			Msg       string `json:"message"`
			Documents int    `json:"documents"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "stopped" {
			handed = l.Documents
		}
	}
	if handed != len(es.DocIDs("consumer_lag")) {
		t.Errorf("agent wrote %d documents, Elasticsearch holds %d", handed, len(es.DocIDs("consumer_lag")))
	}
	var ticks []string
	for tick, ts := range byTick {
		ticks = append(ticks, tick)
		if len(ts) != len(topics) {
			t.Errorf("tick %s has documents for %v, want all of %v", tick, ts, topics)
		}
	}
	sort.Strings(ticks)
	t.Logf("%d ticks indexed, last %s, %d _bulk requests for %d documents", len(ticks), ticks[len(ticks)-1], es.Requests(esfake.EndpointBulk), len(es.DocIDs("consumer_lag")))
	if es.Requests(esfake.EndpointBulk) >= len(es.DocIDs("consumer_lag")) {
		t.Errorf("%d _bulk requests for %d documents", es.Requests(esfake.EndpointBulk), len(es.DocIDs("consumer_lag")))
	}
}
