package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/coord"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
)

// statusURL is the agent's HTTP address from its log ("" until logged).
func (p *agentProc) statusURL() string {
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var l struct {
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.URL != "" {
			return l.URL
		}
	}
	return ""
}

// view is the coordination part of the agent's /status (zero on error).
func (p *agentProc) view() coord.View {
	var doc struct {
		Coordination coord.View `json:"coordination"`
	}
	u := p.statusURL()
	if u == "" {
		return doc.Coordination
	}
	resp, err := http.Get(strings.TrimSuffix(u, "/") + "/status")
	if err != nil {
		return doc.Coordination
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	return doc.Coordination
}

// esTicks is, per topic, the set of ticks (Unix seconds) in the index.
func esTicks(t *testing.T, es *esfake.Server) map[string]map[int64]bool {
	out := map[string]map[int64]bool{}
	for _, raw := range es.Docs("consumer_lag") {
		var d struct {
			Topic string    `json:"topic"`
			At    time.Time `json:"@timestamp"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		if out[d.Topic] == nil {
			out[d.Topic] = map[int64]bool{}
		}
		out[d.Topic][d.At.Unix()] = true
	}
	return out
}

// worstGap is the largest number of consecutive ticks missing for any of
// topics between from and to (Unix seconds, inclusive).
func worstGap(ticks map[string]map[int64]bool, topics []string, from, to int64) (int, string) {
	worst, which := 0, ""
	for _, topic := range topics {
		run := 0
		for s := from; s <= to; s++ {
			if ticks[topic][s] {
				run = 0
				continue
			}
			run++
			if run > worst {
				worst, which = run, topic
			}
		}
	}
	return worst, which
}

// TestCoordProcesses runs three built agents of one group, kills one with
// SIGKILL and stops another with SIGTERM; the fake Elasticsearch shows the
// gap per topic and the ticks indexed twice.
func TestCoordProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	topics := make([]string, 12)
	for i := range topics {
		topics[i] = fmt.Sprintf("t%02d", i)
	}
	kf, _ := kafkaWithLag(t, topics, 2)
	commitAtEnds(t, kf, topics, 2) // a group that keeps up is never described
	kc := countKafka(kf)
	es := esfake.NewTB(t)
	dir := t.TempDir()
	var ps []*agentProc
	for i := 0; i < 3; i++ {
		sub := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		path := coordConfig(t, sub, kf.ListenAddrs(), topics, fmt.Sprintf("elasticsearch:\n  addresses: [%q]\n  flush_interval: 200ms\n  spool_dir: %q\n", es.URL(), filepath.Join(sub, "spool")))
		ps = append(ps, startLagship(t, "run", "-config", path))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range ps {
				t.Logf("agent %d log:\n%s", i, p.stderr.String())
			}
		}
	})
	steady := func(ps []*agentProc, n int) bool {
		seen := map[string]int{}
		gen := -1
		for _, p := range ps {
			v := p.view()
			if !v.Joined || len(v.Members) != len(ps) || (gen >= 0 && v.Generation != gen) {
				return false
			}
			gen = v.Generation
			for _, k := range v.Units {
				seen[k]++
			}
		}
		for _, topic := range topics {
			if seen["mm/"+topic] != 1 {
				return false
			}
		}
		return len(seen) == n
	}
	if !await.Within(30*time.Second, func() bool { return steady(ps, len(topics)) }) {
		t.Fatal("three agents did not share the topics")
	}
	var per []string
	for _, p := range ps {
		per = append(per, fmt.Sprint(len(p.view().Units)))
	}
	start := time.Now().Unix() + 1
	// Ten full ticks of every topic before the kill, counting the Kafka
	// requests of all three agents from the first to the eleventh.
	ticksIndexed := func(from, to int64) bool {
		tk := esTicks(t, es)
		for _, topic := range topics {
			for s := from; s <= to; s++ {
				if !tk[topic][s] {
					return false
				}
			}
		}
		return true
	}
	if !await.Within(10*time.Second, func() bool { return ticksIndexed(start, start) }) {
		t.Fatal("no documents of a first tick")
	}
	before := kc.snapshot()
	if !await.Within(20*time.Second, func() bool { return ticksIndexed(start, start+10) }) {
		t.Fatal("no documents of ten more ticks")
	}
	collect, group, meta, detail := requestsBetween(before, kc.snapshot())
	const brokers, groups = 3, 1
	t.Logf("steady state, 3 agents: %.1f Kafka requests per tick in all for collection (limit 3 x (brokers + groups) = %d), %.1f Metadata, %.1f for membership and discovery %v",
		float64(collect)/10, 3*(brokers+groups), float64(meta)/10, float64(group)/10, detail)
	if limit := 10 * 3 * (brokers + groups); collect > limit {
		t.Errorf("%d collection requests in 10 ticks, want at most %d", collect, limit)
	}

	// kill -9 of agent 2.
	victim := ps[2].view().Units
	if err := ps[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ps[2].done
	killed := time.Now()
	var moved []string
	for _, k := range victim {
		moved = append(moved, strings.TrimPrefix(k, "mm/"))
	}
	if !await.Within(30*time.Second, func() bool { return steady(ps[:2], len(topics)) }) {
		t.Fatal("the killed agent's topics did not move")
	}
	resumed := time.Since(killed)
	// The tick after the move, for every topic.
	next := time.Now().Unix() + 1
	if !await.Within(10*time.Second, func() bool {
		tk := esTicks(t, es)
		for _, topic := range topics {
			if !tk[topic][next] {
				return false
			}
		}
		return true
	}) {
		t.Fatal("moved topics not collected")
	}
	gap, topic := worstGap(esTicks(t, es), topics, start, next)
	dups := es.BulkItems() - len(es.DocIDs("consumer_lag"))
	t.Logf("kill -9: units per agent %s; the killed agent's %d topics %v resumed after %s (session timeout 6s, ticks 1s); worst gap %d ticks (%s); %d documents indexed twice",
		strings.Join(per, "/"), len(moved), moved, resumed.Round(100*time.Millisecond), gap, topic, dups)
	if gap > 6+2 {
		t.Errorf("gap of %d ticks for %s, want at most session timeout + 2 ticks (8)", gap, topic)
	}
	if dups != 0 {
		t.Errorf("%d documents indexed twice", dups)
	}

	// SIGTERM of agent 1: it leaves the group at once.
	leaver := ps[1].view().Units
	termAt := time.Now()
	if err := ps[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !await.Within(20*time.Second, func() bool { return steady(ps[:1], len(topics)) }) {
		t.Fatal("the stopped agent's topics did not move")
	}
	handover := time.Since(termAt)
	select {
	case err := <-ps[1].done:
		if err != nil {
			t.Errorf("SIGTERM'd agent: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SIGTERM'd agent did not exit")
	}
	next = time.Now().Unix() + 1
	if !await.Within(10*time.Second, func() bool {
		tk := esTicks(t, es)
		for _, topic := range topics {
			if !tk[topic][next] {
				return false
			}
		}
		return true
	}) {
		t.Fatal("topics not collected after the handover")
	}
	gap, topic = worstGap(esTicks(t, es), topics, termAt.Unix()-1, next)
	dups = es.BulkItems() - len(es.DocIDs("consumer_lag"))
	sort.Strings(leaver)
	t.Logf("SIGTERM: %d units handed over in %s; worst gap %d ticks (%s); %d documents indexed twice in all", len(leaver), handover.Round(100*time.Millisecond), gap, topic, dups)
	if handover > 6*time.Second {
		t.Errorf("handover took %s: the agent did not leave the group (session timeout 6s)", handover)
	}
	if !strings.Contains(ps[1].stderr.String(), "left the group") {
		t.Error("the SIGTERM'd agent did not log leaving the group")
	}
	ps[0].terminate(t)
}
