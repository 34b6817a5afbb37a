package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/sources/kafka"
	"github.com/lagship/lagship/sources/mm2"
	"github.com/lagship/lagship/sources/ssh"
)

const base = `
clusters:
  - name: dc1
    brokers: ["kafka1:9092"]
mirrors:
  - name: mm
    cluster: dc1
    group: mirrormaker
    topics: [orders]
`

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseValid(t *testing.T) {
	src := `interval: 5s
elasticsearch:
  addresses: ["https://es-node1:9200", "https://es-node2:9200"]
  username: elastic
  password: ${ES_PASSWORD}
  index: consumer_lag
  flush_interval: 2s
  spool_max_bytes: 64MiB
clusters:
  - name: dc1
    brokers: ["kafka1:9092", "kafka2:9092"]
    sasl: {mechanism: SCRAM-SHA-512, username: lagship, password: ${KAFKA_PASSWORD}}
    tls: {enabled: true, ca_file: "", cert_file: "", key_file: "", insecure_skip_verify: false}
mirrors:
  - name: mm-dc1-to-dc2
    method: native
    cluster: dc1
    group: mirrormaker-dc1-to-dc2
    interval: 2s
    topics: [orders, payments, clicks]
  - name: legacy
    method: ssh
    group: mirrormaker
    topics: [orders]
    ssh:
      host: 10.0.1.5
      port: ${SSH_PORT}
      user: ec2-user
      key_file: /etc/lagship/mm.pem
      known_hosts: /etc/lagship/known_hosts
      jump_host: ""
    kafka_home: /home/ec2-user/kafka_2.12-2.6.2
    bootstrap_server: source-kafka:9092
  - name: mm2
    method: mm2
    source_cluster: dc1
    offsets_cluster: dc1
    topics_regex: "^orders.*$"
`
	c, err := Parse("lagship.yaml", []byte(src), env(map[string]string{
		"ES_PASSWORD": "es: secret # not a comment", "KAFKA_PASSWORD": "k{p}", "SSH_PORT": "2222"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Elasticsearch.Password.Reveal(); got != "es: secret # not a comment" {
		t.Errorf("password = %q", got)
	}
	if got := c.Clusters[0].SASL.Password.Reveal(); got != "k{p}" {
		t.Errorf("sasl password = %q", got)
	}
	if h := c.Mirrors[1].Settings.(*ssh.Settings).SSH; h.Port != 2222 || h.Timeout != Duration(DefaultSSHTimeout) || h.JumpHost.HostSettings != nil {
		t.Errorf("ssh = %+v", h)
	}
	if got := c.EffectiveInterval(&c.Mirrors[0]); got != 2*time.Second {
		t.Errorf("mirror interval = %v", got)
	}
	if got := c.EffectiveInterval(&c.Mirrors[2]); got != 5*time.Second {
		t.Errorf("default interval = %v", got)
	}
	// An ssh mirror without its own interval runs every 10s at most often:
	// each tick starts a JVM on the MirrorMaker host.
	if got := c.EffectiveInterval(&c.Mirrors[1]); got != 10*time.Second {
		t.Errorf("ssh default interval = %v", got)
	}
	if c.Elasticsearch.SpoolMaxBytes != 64<<20 || c.Elasticsearch.Index != "consumer_lag" || !*c.Elasticsearch.Compress {
		t.Errorf("es = %+v", c.Elasticsearch)
	}
	if got := c.Mirrors[2].Settings.(*mm2.Settings).OffsetsTopicName(); got != "mm2-offsets.dc1.internal" {
		t.Errorf("offsets topic = %q", got)
	}
	// Secrets never print.
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c.Elasticsearch), fmt.Sprintf("%#v", c.Clusters[0].SASL)} {
		if strings.Contains(s, "secret") || strings.Contains(s, "k{p}") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse("f.yaml", []byte(base), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != Duration(DefaultInterval) || c.Mirrors[0].Method != MethodNative ||
		c.Elasticsearch.Addresses[0] != "http://localhost:9200" || c.Elasticsearch.FlushInterval != Duration(time.Second) ||
		c.Elasticsearch.SpoolDir != DefaultSpoolDir || c.Clusters[0].Timeout != Duration(DefaultKafkaTimeout) {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error text
	}{
		{"empty", ``, []string{"f.yaml: the file is empty"}},
		{"not a mapping", `- a`, []string{"f.yaml:1: the top level must be a mapping"}},
		{"syntax", "mirrors: [a\n", []string{"f.yaml:"}},
		{"unknown top key", "intervall: 5s\n" + base, []string{"f.yaml:1: intervall: unknown key"}},
		{"unknown nested key", strings.Replace(base, "group: mirrormaker", "group: mirrormaker\n    grup: x", 1), []string{"f.yaml:9: mirrors[0].grup: unknown key"}},
		{"unknown ssh key", base + `  - name: s
    method: ssh
    group: g
    topics: [t]
    kafka_home: /k
    bootstrap_server: h:1
    ssh: {host: h, user: u, key_file: /k, known_hosts: /kh, passwd: x}
`, []string{"f.yaml:16: mirrors[1].ssh.passwd: unknown key"}},
		{"wrong type", "interval: 5\n" + base, []string{`f.yaml:1: interval: cannot parse "5" as a duration`}},
		{"wrong type list", strings.Replace(base, "topics: [orders]", "topics: orders", 1), []string{"f.yaml:9: mirrors[0].topics: cannot unmarshal"}},
		{"interval too small", "interval: 500ms\n" + base, []string{"f.yaml:1: interval: 500ms is below the minimum of 1s"}},
		{"mirror interval too small", strings.Replace(base, "group: mirrormaker", "group: mirrormaker\n    interval: 10ms", 1), []string{"f.yaml:9: mirrors[0].interval: 10ms is below"}},
		{"missing group", strings.Replace(base, "    group: mirrormaker\n", "", 1), []string{"f.yaml:6: mirrors[0]: group is required"}},
		{"missing topics", strings.Replace(base, "    topics: [orders]\n", "", 1), []string{"mirrors[0]: topics is required"}},
		{"no mirrors", "clusters: []\n", []string{"mirrors: at least one mirror is required"}},
		{"unknown cluster", strings.Replace(base, "cluster: dc1", "cluster: dc9", 1), []string{`f.yaml:7: mirrors[0].cluster: cluster "dc9" is not defined under clusters (defined: dc1)`}},
		{"duplicate topic", strings.Replace(base, "[orders]", "[orders, payments, orders]", 1), []string{`f.yaml:9: mirrors[0].topics[2]: topic "orders" is listed twice`}},
		{"duplicate mirror", base + "  - {name: mm, cluster: dc1, group: g, topics: [x]}\n", []string{`f.yaml:10: mirrors[1].name: mirror "mm" is already defined at mirrors[0]`}},
		{"duplicate cluster", strings.Replace(base, "mirrors:", "  - {name: dc1, brokers: [\"b:1\"]}\nmirrors:", 1), []string{`clusters[1].name: cluster "dc1" is already defined`}},
		{"invalid topic chars", strings.Replace(base, "[orders]", "[\"orders;rm -rf\"]", 1), []string{`f.yaml:9: mirrors[0].topics[0]: invalid topic name "orders;rm -rf": may contain only`}},
		{"invalid topic length", strings.Replace(base, "[orders]", "["+long+"]", 1), []string{"is 250 characters long; Kafka allows at most 249"}},
		{"undefined var", strings.Replace(base, "group: mirrormaker", "group: ${MM_GROUP}", 1), []string{"f.yaml:8: mirrors[0].group: environment variable MM_GROUP is not set"}},
		{"bad var", strings.Replace(base, "group: mirrormaker", "group: \"${1BAD}\"", 1), []string{`f.yaml:8: mirrors[0].group: invalid variable reference "${1BAD}"`}},
		{"bad method", strings.Replace(base, "cluster: dc1", "cluster: dc1\n    method: jmx", 1), []string{`f.yaml:8: mirrors[0].method: "jmx" is not a method`}},
		{"native with ssh keys", strings.Replace(base, "cluster: dc1", "cluster: dc1\n    kafka_home: /opt/kafka", 1), []string{"f.yaml:8: mirrors[0].kafka_home: is not used by method native"}},
		{"bad broker", strings.Replace(base, `"kafka1:9092"`, `"kafka1"`, 1), []string{`f.yaml:4: clusters[0].brokers[0]: broker "kafka1" is not host:port`}},
		{"sasl mechanism", strings.Replace(base, `    brokers: ["kafka1:9092"]`, "    brokers: [\"kafka1:9092\"]\n    sasl: {mechanism: GSSAPI, username: u, password: p}", 1), []string{`clusters[0].sasl.mechanism: "GSSAPI" is not supported`}},
		{"es url", "elasticsearch: {addresses: [\"es:9200\"]}\n" + base, []string{`f.yaml:1: elasticsearch.addresses[0]: "es:9200" is not an http(s) URL`}},
		{"es url creds", "elasticsearch: {addresses: [\"https://u:hunter2@es:9200\"]}\n" + base, []string{`not in the URL`}},
		{"es auth both", "elasticsearch: {username: u, password: p, api_key: k}\n" + base, []string{"elasticsearch.api_key: use api_key or username/password, not both"}},
		{"es index", "elasticsearch: {index: Consumer_Lag}\n" + base, []string{`elasticsearch.index: "Consumer_Lag" is not a valid index name`}},
		{"ssh missing known_hosts", base + `  - name: s
    method: ssh
    group: g
    topics: [t]
    kafka_home: /k
    bootstrap_server: h:1
    ssh: {host: h, user: u, key_file: /k}
`, []string{"f.yaml:16: mirrors[1].ssh: known_hosts is required"}},
		{"ssh relative kafka_home", base + `  - name: s
    method: ssh
    group: g
    topics: [t]
    kafka_home: kafka
    bootstrap_server: h:1
    ssh: {host: h, user: u, key_file: /k, known_hosts: /kh}
`, []string{`f.yaml:14: mirrors[1].kafka_home: "kafka" is not an absolute path`}},
		{"ssh group control char", base + `  - name: s
    method: ssh
    group: "g\nx"
    topics: [t]
    kafka_home: /k
    bootstrap_server: h:1
    ssh: {host: h, user: u, key_file: /k, known_hosts: /kh}
`, []string{`mirrors[1].group: "g\nx" contains control characters or a newline`}},
		{"mm2 both topic forms", base + "  - {name: m2, method: mm2, source_cluster: dc1, offsets_cluster: dc1, topics: [a], topics_regex: a}\n", []string{"mirrors[1].topics_regex: use topics or topics_regex, not both"}},
		{"mm2 bad regex", base + "  - {name: m2, method: mm2, source_cluster: dc1, offsets_cluster: dc1, topics_regex: \"(\"}\n", []string{"mirrors[1].topics_regex: invalid regular expression"}},
		{"two documents", base + "---\na: 1\n", []string{"more than one YAML document"}},
		{"nested jump host", base + `  - name: s
    method: ssh
    group: g
    topics: [t]
    kafka_home: /k
    bootstrap_server: h:1
    ssh: {host: h, user: u, key_file: /k, known_hosts: /kh, jump_host: {host: j, user: u, key_file: /k, known_hosts: /kh, jump_host: {host: j2, user: u, key_file: /k, known_hosts: /kh}}}
`, []string{"mirrors[1].ssh.jump_host.jump_host: only one jump host is supported: a jump host cannot have a jump host of its own"}},
		{"index plus", "elasticsearch: {index: +lag}\n" + base, []string{`elasticsearch.index: "+lag" is not a valid index name`}},
		{"flush bytes small", "elasticsearch: {flush_bytes: 100}\n" + base, []string{"elasticsearch.flush_bytes: 100 bytes is below the minimum of 4KiB"}},
		{"connector on native", strings.Replace(base, "group: mirrormaker", "group: mirrormaker\n    connector: x", 1), []string{"mirrors[0].connector: is not used by method native"}},
		{"several errors at once", strings.Replace(strings.Replace(base, "cluster: dc1", "cluster: dc9", 1), "[orders]", "[\"a b\"]", 1),
			[]string{`mirrors[0].cluster: cluster "dc9"`, `mirrors[0].topics[0]: invalid topic name "a b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.src), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Errorf("error is %T, want config.Errors", err)
			}
		})
	}
}

func TestFlushBytesUnits(t *testing.T) {
	c, err := Parse("f.yaml", []byte("elasticsearch: {flush_bytes: 1MiB}\n"+base), env(nil))
	if err != nil || c.Elasticsearch.FlushBytes != 1<<20 {
		t.Fatalf("%v %v", err, c)
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	// A password url.Parse refuses (a '#', a bad escape) must not be echoed.
	for _, addr := range []string{"https://u:hun%zzter2@es:9200", "https://u:hunter2#x@es:9200", "es://u:hunter2@x"} {
		_, err := Parse("f.yaml", []byte("elasticsearch: {addresses: [\""+addr+"\"]}\n"+base), env(nil))
		if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hun%zzter2") {
			t.Errorf("%s: error %v", addr, err)
		}
	}
	src := "elasticsearch: {addresses: [\"https://u:hunter2@es:9200\"], username: u, password: ${PW}}\n" +
		strings.Replace(base, "[orders]", "[\"bad topic\"]", 1)
	_, err := Parse("f.yaml", []byte(src), env(map[string]string{"PW": "hunter2"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}

func TestDollarEscape(t *testing.T) {
	src := strings.Replace(base, "group: mirrormaker", "group: \"cost$$center\"", 1)
	c, err := Parse("f.yaml", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Mirrors[0].Settings.(*kafka.Settings).Group; g != "cost$center" {
		t.Errorf("group = %q", g)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1GiB": 1 << 30, "512MiB": 512 << 20, "100MB": 100e6, "1024": 1024, "7B": 7} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5GiB", "99999999999999TiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// FuzzParse: the loader never panics, and every error names the file and,
// when it has one, a position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("interval: 1s\n" + base))
	f.Add([]byte("mirrors: [{name: a, method: ssh, ssh: {jump_host: {host: h}}}]"))
	f.Add([]byte("a: &x {b: 1}\nc: *x\n"))
	f.Add([]byte("elasticsearch: {password: ${X}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("fuzz.yaml", b, env(map[string]string{"X": "v"}))
		if err == nil {
			if c == nil || len(c.Mirrors) == 0 {
				t.Fatal("valid config without mirrors")
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %T %v is not config.Errors", err, err)
		}
		for _, e := range es {
			if !strings.HasPrefix(e.Error(), "fuzz.yaml") {
				t.Fatalf("error without file: %v", e)
			}
		}
	})
}

func TestIntervalBounds(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"explicit zero", "interval: 0s\n" + base, "f.yaml:1: interval: 0s is below the minimum of 1s"},
		{"too long", "interval: 2562047h\n" + base, "f.yaml:1: interval: 2562047h0m0s is above the maximum of 1h0m0s"},
		{"mirror zero", strings.Replace(base, "group: mirrormaker", "group: mirrormaker\n    interval: 0s", 1), "mirrors[0].interval: 0s is below the minimum of 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.src), env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Parse("f.yaml", []byte("interval: 1h\n"+base), env(nil)); err != nil {
		t.Fatalf("1h refused: %v", err)
	}
}

// TestSSHHostOneRule: the file's validation uses the SSH source's own host
// rules, so a host that would reach ssh(1) as an option is refused at load,
// with file:line.
func TestSSHHostOneRule(t *testing.T) {
	src := base + `  - name: s
    method: ssh
    group: g
    topics: [a]
    kafka_home: /opt/kafka
    bootstrap_server: "b:9092"
    ssh: {host: "-oProxyCommand=touch /tmp/x", user: u, key_file: /k, known_hosts: /kh}
`
	_, err := Parse("f.yaml", []byte(src), env(nil))
	if err == nil || !strings.Contains(err.Error(), `f.yaml:16: mirrors[1].ssh.host: "-oProxyCommand=touch /tmp/x" is not a host name or address`) {
		t.Fatalf("error %v", err)
	}
}

// TestStatusSection: the status keys, their overrides per mirror, and
// their errors at file:line on the key that decides.
func TestStatusSection(t *testing.T) {
	base := `status:
  window: 2m
  allowed_lag: 10
clusters:
  - {name: dc1, brokers: ["k:9092"]}
mirrors:
  - name: a
    cluster: dc1
    group: g
    topics: [t]
  - name: b
    cluster: dc1
    group: g
    topics: [t]
    interval: 30s
    status: {window: 5m, err_time_lag: 10m}
`
	c, err := Parse("f.yaml", []byte(base), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.StatusRules(&c.Mirrors[0]), c.StatusRules(&c.Mirrors[1])
	if a.Window != 2*time.Minute || a.AllowedLag != 10 || a.ErrTimeLag != 0 {
		t.Errorf("mirror a rules %+v", a)
	}
	if b.Window != 5*time.Minute || b.AllowedLag != 10 || b.ErrTimeLag != 10*time.Minute {
		t.Errorf("mirror b rules %+v", b)
	}
	for _, tt := range []struct{ name, from, to, want string }{
		{"window below 3 intervals", "window: 5m, err", "window: 1m, err", "f.yaml:16: mirrors[1].status.window: 1m0s is shorter than 3 × the mirror's interval (30s)"},
		{"file window below 3 intervals", "  window: 2m\n", "  window: 20s\n", "f.yaml:2: status.window: 20s is shorter than 3 × the mirror's interval (10s)"},
		{"negative allowed lag", "allowed_lag: 10", "allowed_lag: -1", "f.yaml:3: status.allowed_lag: must be 0 or more messages"},
		{"err below warn", "err_time_lag: 10m", "err_time_lag: 1m, warn_time_lag: 2m", "mirrors[1].status.err_time_lag: 1m0s is below warn_time_lag (2m0s)"},
		{"unknown key", "allowed_lag: 10", "allowed_lag: 10\n  window_size: 1m", "status.window_size: unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(strings.Replace(base, tt.from, tt.to, 1)), func(string) (string, bool) { return "", false })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
