package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/pipeline"
)

// oldScriptMapping is the mapping.json Lag_monitor.py created its index
// with: topic as text, p0..p17 as integer.
func oldScriptMapping() []byte {
	var b strings.Builder
	b.WriteString(`{"mappings":{"properties":{"@timestamp":{"type":"date"},"topic":{"type":"text"}`)
	for p := 0; p < 18; p++ {
		b.WriteString(`,"p` + strconv.Itoa(p) + `":{"type":"integer"}`)
	}
	b.WriteString(`}}}`)
	return []byte(b.String())
}

func checkConfig(t *testing.T, esURL string, brokers []string, group string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "lagship.yaml")
	text := fmt.Sprintf(`elasticsearch: {addresses: [%q], spool_dir: %q}
http: {listen: "127.0.0.1:0"}
clusters:
  - {name: dc1, brokers: [%q, %q, %q]}
mirrors:
  - {name: mm, cluster: dc1, group: %s, topics: [orders, payments]}
`, esURL, filepath.Join(dir, "spool"), brokers[0], brokers[1], brokers[2], group)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheck: one line per check, exit 0 when all pass.
func TestCheck(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders", "payments"}, 2)
	es := esfake.NewTB(t)
	code, out, errs := runCLI(t, "check", "-config", checkConfig(t, es.URL(), kf.ListenAddrs(), "mirrormaker"))
	if code != 0 {
		t.Fatalf("code %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"OK    config", "elasticsearch reachable", "Elasticsearch 8.", "does not exist; lagship creates it",
		"broker " + kf.ListenAddrs()[0], "topic orders", "topic payments", "group mirrormaker"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed:\n%s", out)
	}
	if es.IndexCreations() != 0 {
		t.Error("check created the index")
	}
}

// TestCheckFailures: a missing topic, an unknown group and an unreachable
// Elasticsearch each fail their line, and the command exits 1.
func TestCheckFailures(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders"}, 2) // no payments topic
	es := esfake.New()
	url := es.URL()
	es.Close()
	code, out, _ := runCLI(t, "check", "-config", checkConfig(t, url, kf.ListenAddrs(), "nobody"))
	if code != 1 {
		t.Fatalf("code %d\n%s", code, out)
	}
	for _, want := range []string{"FAIL  elasticsearch", "FAIL  mirror mm                topic payments", "FAIL  mirror mm                group nobody"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckOldIndexMigration: an index created by the old script's
// mapping.json is recognised, check prints the two requests that fix it,
// and they work when applied as printed; lagship's documents then index
// into the old index.
func TestCheckOldIndexMigration(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders", "payments"}, 2)
	es := esfake.NewTB(t)
	if err := es.CreateIndex("consumer_lag", oldScriptMapping()); err != nil {
		t.Fatal(err)
	}
	// A document as the old script wrote it.
	post(t, es.URL()+"/_bulk", "{\"index\":{\"_index\":\"consumer_lag\"}}\n{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"topic\":\"orders\",\"p0\":5,\"p1\":3}\n")
	path := checkConfig(t, es.URL(), kf.ListenAddrs(), "mirrormaker")
	code, out, _ := runCLI(t, "check", "-config", path)
	if code != 1 || !strings.Contains(out, "maps topic as text") || !strings.Contains(out, "PUT consumer_lag/_mapping") {
		t.Fatalf("code %d\n%s", code, out)
	}
	// Apply the printed requests as an operator would paste them.
	i := strings.Index(out, "PUT consumer_lag/_mapping")
	reqs := out[i:]
	j := strings.Index(reqs, "POST consumer_lag/_update_by_query?conflicts=proceed")
	if j < 0 {
		t.Fatalf("no _update_by_query request in:\n%s", reqs)
	}
	body := strings.TrimSpace(strings.TrimPrefix(reqs[:j], "PUT consumer_lag/_mapping"))
	send(t, "PUT", es.URL()+"/consumer_lag/_mapping", body)
	send(t, "POST", es.URL()+"/consumer_lag/_update_by_query?conflicts=proceed", "")
	if typ := es.FieldType("consumer_lag", "topic.keyword"); typ != "keyword" {
		t.Fatalf("topic.keyword is %q after the fix", typ)
	}
	_, out, _ = runCLI(t, "check", "-config", path)
	if !strings.Contains(out, "topic.keyword multi-field") {
		t.Errorf("after the fix:\n%s", out)
	}
	// lagship writes into the old index: its documents are a superset.
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srcs := newSources(context.Background(), zerolog.Nop())
	defer srcs.Close()
	tasks, err := srcs.plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	docs := collectOnce(context.Background(), tasks, time.Now().UTC().Truncate(time.Second), nil, func(_ pipeline.Task, err error) { t.Error(err) })
	sink, err := newESSink(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sink.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stored := es.Docs("consumer_lag")
	for _, d := range docs {
		raw, ok := stored[d.ID()]
		if !ok || !strings.Contains(string(raw), `"topic":"`+d.Topic+`"`) {
			t.Errorf("document %s not in the old index: %s", d.ID(), raw)
		}
	}
	if len(stored) != len(docs)+1 {
		t.Errorf("old index holds %d documents, want the old one plus %d", len(stored), len(docs))
	}
}

func post(t *testing.T, url, body string) { send(t, "POST", url, body) }

func send(t *testing.T, method, url, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, url, res.Status)
	}
}
