package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lagship/lagship/internal/testutil/esfake"
	"github.com/lagship/lagship/internal/testutil/sshtest"
)

// TestAgentOverOpenSSH runs the built agent with an SSH mirror against
// Debian's OpenSSH server on 127.0.0.1, where a kafka-consumer-groups.sh
// stand-in prints a Kafka 3.7 table, and checks the documents in the strict
// Elasticsearch and the number of JVM launches (script runs) per tick.
func TestAgentOverOpenSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	o := sshtest.StartOpenSSH(t, dir, sshtest.Ed25519Key(t))
	home := filepath.Join(dir, "kafka_2.13-3.7.0")
	runs := filepath.Join(dir, "runs")
	table := `
GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
mirrormaker     orders-v2       0          0               900             900             -               -               -
mirrormaker     payments        1          40              41              1               -               -               -
mirrormaker     orders          2          10              17              7               -               -               -
mirrormaker     orders          0          100             112             12              -               -               -
mirrormaker     payments        0          5               5               0               -               -               -
mirrormaker     orders          1          -               50              -               -               -               -
`
	script := fmt.Sprintf("#!/bin/sh\necho run >> %q\ncat <<'EOF'\n%sEOF\necho \"Consumer group 'mirrormaker' has no active members.\" >&2\n", runs, table)
	if err := os.MkdirAll(filepath.Join(home, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "bin", "kafka-consumer-groups.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	es := esfake.NewTB(t)
	path := filepath.Join(dir, "lagship.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`interval: 1s
http: {listen: "127.0.0.1:0"}
elasticsearch: {addresses: [%q], flush_interval: 200ms, spool_dir: %q}
mirrors:
  - name: legacy-mm
    method: ssh
    interval: 1s
    group: mirrormaker
    topics: [orders, payments]
    ssh: {host: %s, port: %d, user: %s, key_file: %q, known_hosts: %q, timeout: 20s}
    kafka_home: %q
    bootstrap_server: "source-kafka:9092"
`, es.URL(), filepath.Join(dir, "spool"), o.Host, o.Port, o.User, o.KeyFile, o.KnownHosts, home)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startLagship(t, "run", "-config", path)
	p.waitFor(t, "documents of two ticks", func() bool { return len(es.DocIDs("consumer_lag")) >= 4 })
	p.terminate(t)
	ticks := map[string]bool{}
	for _, raw := range es.Docs("consumer_lag") {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		ticks[d["@timestamp"].(string)] = true
		switch d["topic"] {
		case "orders":
			// p1 has no committed offset: absent, never "-".
			if d["p0"] != 12.0 || d["p2"] != 7.0 || d["partition_count"] != 3.0 || d["total_lag"] != 19.0 {
				t.Errorf("orders: %s", raw)
			}
			if _, ok := d["p1"]; ok {
				t.Errorf("orders p1 is unknown: %s", raw)
			}
		case "payments":
			if d["p0"] != 0.0 || d["p1"] != 1.0 || d["partition_count"] != 2.0 {
				t.Errorf("payments: %s", raw)
			}
		default:
			t.Errorf("unexpected document %s", raw)
		}
		if d["method"] != "ssh" || d["group"] != "mirrormaker" {
			t.Errorf("doc %s", raw)
		}
	}
	b, _ := os.ReadFile(runs)
	launches := strings.Count(string(b), "run")
	// One script run (one JVM on the host) per tick, for two topics.
	if launches < len(ticks) || launches > len(ticks)+1 {
		t.Errorf("%d script runs for %d ticks of 2 topics", launches, len(ticks))
	}
	t.Logf("OpenSSH %s:%d pid %d: %d ticks, %d script runs, %d documents", o.Host, o.Port, o.PID, len(ticks), launches, len(es.DocIDs("consumer_lag")))
}
