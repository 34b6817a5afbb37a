package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
)

// TestStartLog: run's first line says what runs and on what, and no
// credential, not even one written into an address.
func TestStartLog(t *testing.T) {
	src := `elasticsearch:
  addresses: ["https://es-node1:9200", "https://es-node2:9200"]
  username: elastic
  password: ${ES_PASSWORD}
  index: lag-v2
  spool_dir: /srv/lagship/spool
clusters:
  - {name: dc1, brokers: ["k1:9092"], sasl: {mechanism: PLAIN, username: u, password: ${KAFKA_PASSWORD}}}
mirrors:
  - {name: a, cluster: dc1, group: g, topics: [orders, payments, clicks]}
  - {name: b, cluster: dc1, group: g2, topics: [orders]}
  - {name: c, method: mm2, source_cluster: dc1, offsets_cluster: dc1, topics_regex: "^x"}
`
	env := map[string]string{"ES_PASSWORD": "es-s3cret", "KAFKA_PASSWORD": "kafka-s3cret"}
	cfg, err := config.Parse("/etc/lagship/lagship.yaml", []byte(src), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		addresses []string
		want      []string
	}{
		{"as loaded", nil, []string{`"elasticsearch":["https://es-node1:9200","https://es-node2:9200"]`}},
		// Validation refuses these; the line must not leak them anyway.
		{"credentials in an address", []string{"https://elastic:url-s3cret@es-node1:9200", "https://u:p@ss-s3cret@es-node2:9200"},
			[]string{`"elasticsearch":["https://REDACTED@es-node1:9200","https://REDACTED@es-node2:9200"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			if tc.addresses != nil {
				c.Elasticsearch.Addresses = tc.addresses
			}
			var b bytes.Buffer
			logStart(zerolog.New(&b), &c)
			line := b.String()
			for _, w := range append(tc.want, `"level":"info"`, `"message":"lagship starting"`, `"version":"`+buildVersion()+`"`,
				`"config":"/etc/lagship/lagship.yaml"`, `"index":"lag-v2"`, `"mirrors":3`, `"methods":{"mm2":1,"native":2}`,
				`"topics":4`, `"topics_regex_mirrors":1`, `"spool_dir":"/srv/lagship/spool"`) {
				if !strings.Contains(line, w) {
					t.Errorf("start line lacks %s:\n%s", w, line)
				}
			}
			if strings.Contains(line, "s3cret") || strings.Count(line, "\n") != 1 {
				t.Errorf("start line leaks a secret or is not one line:\n%s", line)
			}
		})
	}
}

// TestRunLogsStart: the line is run's first, before anything is
// contacted.
func TestRunLogsStart(t *testing.T) {
	p := writeFile(t, "lagship.yaml", "http: {listen: \"127.0.0.1:0\"}\nelasticsearch: {addresses: [\"http://127.0.0.1:1\"], spool_dir: \"/dev/null/spool\"}\n"+
		"clusters: [{name: dc1, brokers: [\"127.0.0.1:1\"]}]\nmirrors: [{name: m, cluster: dc1, group: g, topics: [t]}]\n")
	_, _, errs := runCLI(t, "run", "-config", p)
	first, _, _ := strings.Cut(errs, "\n")
	if !strings.Contains(first, `"message":"lagship starting"`) || !strings.Contains(first, `"config":"`+p+`"`) {
		t.Errorf("first line: %s\nstderr:\n%s", first, errs)
	}
}
