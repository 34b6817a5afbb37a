package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/pipeline"
)

// TestPlanIsStable: planning the same config twice keeps every source (so
// no worker restarts and no client reconnects), SASL, TLS and jump hosts
// included; a changed secret does make a new client.
func TestPlanIsStable(t *testing.T) {
	dir := t.TempDir()
	text := func(password string) string {
		return fmt.Sprintf(`elasticsearch: {spool_dir: %q}
clusters:
  - name: dc1
    brokers: ["127.0.0.1:1"]
    sasl: {mechanism: SCRAM-SHA-512, username: lagship, password: %s}
    tls: {enabled: true, insecure_skip_verify: true}
mirrors:
  - {name: native, cluster: dc1, group: g, topics: [a, b]}
  - name: legacy
    method: ssh
    group: g
    topics: [a]
    ssh:
      host: 10.0.0.1
      user: u
      key_file: /k
      known_hosts: /kh
      jump_host: {host: bastion, user: u, key_file: /k, known_hosts: /kh}
    kafka_home: /opt/kafka
    bootstrap_server: "b:9092"
  - {name: two, method: mm2, source_cluster: dc1, offsets_cluster: dc1, topics: [a]}
`, filepath.Join(dir, "spool"), password)
	}
	load := func(pw string) *config.Config {
		c, err := config.Parse("f.yaml", []byte(text(pw)), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srcs := newSources(ctx, zerolog.Nop())
	defer srcs.Close()
	plan := func(c *config.Config) map[string]pipeline.Source {
		tasks, err := srcs.plan(c)
		if err != nil {
			t.Fatal(err)
		}
		srcs.release()
		m := map[string]pipeline.Source{}
		for _, tk := range tasks {
			m[tk.Key()] = tk.Source
		}
		return m
	}
	first := plan(load("one"))
	again := plan(load("one"))
	keys := make([]string, 0, len(first))
	for k := range first {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != 4 {
		t.Fatalf("tasks %v", keys)
	}
	for _, k := range keys {
		if first[k] != again[k] {
			t.Errorf("%s: a new source for an unchanged config", k)
		}
	}
	countClusters := func() int {
		n := 0
		srcs.env.Each(func(key string, _ any) {
			if strings.HasPrefix(key, "kafka/") {
				n++
			}
		})
		return n
	}
	clusters := countClusters()
	changed := plan(load("two"))
	if changed["native/a"] == first["native/a"] {
		t.Error("a changed SASL password kept the old client")
	}
	if changed["legacy/a"] != first["legacy/a"] {
		t.Error("a cluster password change restarted the SSH mirror")
	}
	if after := countClusters(); clusters != 1 || after != 1 {
		t.Errorf("clusters before/after: %d/%d, want 1/1 (the old one released)", clusters, after)
	}
}

// TestPlanWatchesTasks: plan registers every planned topic for the shared
// fetch; build registers none; watch narrows the registration to the
// tasks given (an agent's own units), keeps an unchanged one as it is,
// drops a replaced one only at release and a mirror without tasks keeps
// none.
func TestPlanWatchesTasks(t *testing.T) {
	cfg, err := config.Parse("f.yaml", []byte(fmt.Sprintf(`elasticsearch: {spool_dir: %q}
clusters:
  - {name: dc1, brokers: ["127.0.0.1:1"]}
mirrors:
  - {name: mm, cluster: dc1, group: g, topics: [a, b, c]}
  - {name: other, cluster: dc1, group: h, topics: [x]}
`, filepath.Join(t.TempDir(), "spool"))), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srcs := newSources(ctx, zerolog.Nop())
	defer srcs.Close()
	watched := func() []string {
		var out []string
		for _, ts := range srcs.watched() {
			out = append(out, ts)
		}
		sort.Strings(out)
		return out
	}
	pending := func() int {
		srcs.mu.Lock()
		defer srcs.mu.Unlock()
		return len(srcs.pending)
	}
	check := func(step string, want []string, wantPending int) {
		t.Helper()
		if got := watched(); strings.Join(got, " ") != strings.Join(want, " ") || pending() != wantPending {
			t.Errorf("%s: watched %q with %d registrations to drop, want %q and %d", step, got, pending(), want, wantPending)
		}
	}

	tasks, err := srcs.build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	check("build", nil, 0)
	if tasks, err = srcs.plan(cfg); err != nil {
		t.Fatal(err)
	}
	srcs.release()
	check("plan", []string{"a,b,c", "x"}, 0)

	own := []pipeline.Task{tasks[0], tasks[2]} // mm/a and mm/c
	srcs.watch(own)
	check("own units", []string{"a,c", "x"}, 1) // other's kept until release
	srcs.release()
	check("own units, released", []string{"a,c"}, 0)
	srcs.watch(own)
	check("same units", []string{"a,c"}, 0) // not registered again
	srcs.release()
	check("same units, released", []string{"a,c"}, 0)
	srcs.watch(nil)
	srcs.release()
	check("no units", nil, 0)
}
