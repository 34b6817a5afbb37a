package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
)

// TestKill9DuringOutage runs the built agent at 1 s ticks, takes
// Elasticsearch away, kills the agent with SIGKILL in the middle of the
// outage, brings Elasticsearch back and starts the agent again on the same
// spool. Every tick collected before the kill must reach Elasticsearch but
// at most one per topic: documents go to the spool as soon as
// Elasticsearch has failed, not after retries.
func TestKill9DuringOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	topics := make([]string, 20) // kafkaWithLag commits offsets for up to 20 topics
	for i := range topics {
		topics[i] = fmt.Sprintf("t%02d", i)
	}
	kf, _ := kafkaWithLag(t, topics, 2)
	es := esfake.NewTB(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`interval: 1s
http: {listen: "127.0.0.1:0"}
elasticsearch:
  addresses: [%q]
  spool_dir: %q
  timeout: 2s
clusters:
  - name: dc1
    brokers: [%q, %q, %q]
mirrors:
  - name: mm
    cluster: dc1
    group: mirrormaker
    topics: [%s]
`, es.URL(), filepath.Join(dir, "spool"), kf.ListenAddrs()[0], kf.ListenAddrs()[1], kf.ListenAddrs()[2], strings.Join(topics, ", "))
	path := filepath.Join(dir, "lagship.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startLagship(t, "run", "-config", path)
	p.waitFor(t, "documents of two ticks", func() bool { return len(es.DocIDs("consumer_lag")) >= 2*len(topics) })
	es.Outage()
	outageAt := time.Now().Unix()
	// Let the outage last several ticks: wait until the spool holds about
	// six ticks' worth of documents.
	p.waitFor(t, "six ticks in the spool", func() bool { return dirBytes(filepath.Join(dir, "spool")) > int64(6*len(topics)*200) })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	killedAt := time.Now()

	if err := es.Restore(); err != nil {
		t.Fatal(err)
	}
	q := startLagship(t, "run", "-config", path)
	q.waitFor(t, "a tick after the restart", func() bool { return newestTick(es) > killedAt.Unix() })

	// Ticks are aligned to the second: every second from the first
	// document to the kill should be there for every topic that had
	// documents.
	last := killedAt.Unix() - 1 // the tick of the kill's second may not have been collected
	var first int64
	lostPerTopic := func() (worst int, lost []string) {
		byTopic := esTicks(t, es)
		first = int64(1 << 62)
		for _, ticks := range byTopic {
			for s := range ticks {
				first = min(first, s)
			}
		}
		for topic, ticks := range byTopic {
			n := 0
			for s := first; s <= last; s++ {
				if !ticks[s] {
					n++
				}
			}
			worst = max(worst, n)
			if n > 0 {
				lost = append(lost, fmt.Sprintf("%s:%d", topic, n))
			}
		}
		return worst, lost
	}
	// The replay takes a moment: wait (bounded) for the spool to be empty
	// and the lost count to settle.
	await.Within(20*time.Second, func() bool {
		w, _ := lostPerTopic()
		return w <= 1 && strings.Contains(q.stderr.String(), "spool empty")
	})
	q.terminate(t)
	worst, lost := lostPerTopic()
	sort.Strings(lost)
	t.Logf("kill -9 during an outage: %d ticks of %d topics before the kill, %d of them in the outage; at most %d lost per topic %v", last-first+1, len(topics), last-outageAt+1, worst, lost)
	if worst > 1 {
		t.Errorf("%d ticks lost for a topic (want at most 1): %v\nfirst agent log:\n%s", worst, lost, p.stderr.String())
	}
}

// dirBytes is the size of the regular files under dir, rejected/ aside.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && strings.HasSuffix(path, ".seg") {
			n += info.Size()
		}
		return nil
	})
	return n
}

// newestTick is the newest @timestamp in the index, in Unix seconds.
func newestTick(es *esfake.Server) int64 {
	var newest int64
	for _, raw := range es.Docs("consumer_lag") {
		var d struct {
			At time.Time `json:"@timestamp"`
		}
		if json.Unmarshal(raw, &d) == nil {
			newest = max(newest, d.At.Unix())
		}
	}
	return newest
}
