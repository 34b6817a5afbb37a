package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

func (c *Config) setDefaults() {
	if c.Interval == 0 {
		c.Interval = Duration(DefaultInterval)
	}
	es := &c.Elasticsearch
	if len(es.Addresses) == 0 {
		es.Addresses = []string{"http://localhost:9200"}
	}
	if es.Index == "" {
		es.Index = DefaultIndex
	}
	if es.FlushInterval == 0 {
		es.FlushInterval = Duration(DefaultFlushInterval)
	}
	if es.Compress == nil {
		t := true
		es.Compress = &t
	}
	if es.SpoolDir == "" {
		es.SpoolDir = DefaultSpoolDir
	}
	if es.SpoolMaxBytes == 0 {
		es.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if es.Timeout == 0 {
		es.Timeout = Duration(DefaultESTimeout)
	}
	for i := range c.Clusters {
		if c.Clusters[i].Timeout == 0 {
			c.Clusters[i].Timeout = Duration(DefaultKafkaTimeout)
		}
	}
	for i := range c.Mirrors {
		m := &c.Mirrors[i]
		if m.Method == "" {
			m.Method = MethodNative
		}
		if m.SSH != nil {
			sshDefaults(m.SSH)
		}
	}
}

func sshDefaults(s *SSH) {
	if s.Port == 0 {
		s.Port = DefaultSSHPort
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultSSHTimeout)
	}
	if s.JumpHost.SSH != nil {
		sshDefaults(s.JumpHost.SSH)
	}
}

// TopicRE is Kafka's rule for topic names (also used for mirror and cluster
// names, which end up in document ids and log fields).
var TopicRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// MaxTopicLen is Kafka's limit on topic names.
const MaxTopicLen = 249

// ValidTopic reports why name is not a valid Kafka topic name ("" if it is).
func ValidTopic(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > MaxTopicLen:
		return fmt.Sprintf("is %d characters long; Kafka allows at most %d", len(name), MaxTopicLen)
	case name == "." || name == "..":
		return "cannot be . or .."
	case !TopicRE.MatchString(name):
		return "may contain only letters, digits, '.', '_' and '-'"
	}
	return ""
}

// ValidGroup reports why a consumer group name cannot be used ("" if it can).
// Kafka allows almost anything; lagship refuses control characters (they would
// corrupt logs and the remote shell command line).
func ValidGroup(g string) string {
	if g == "" {
		return "is empty"
	}
	for _, r := range g {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

func (p *parser) validate(c *Config) {
	if d := time.Duration(c.Interval); d < MinInterval {
		p.errAt([]any{"interval"}, "%s is below the minimum of %s", d, MinInterval)
	}
	p.validateES(c)
	p.validateKibana(&c.Kibana)

	clusters := map[string]int{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		at := func(k ...any) []any { return append([]any{"clusters", i}, k...) }
		switch why := ValidTopic(cl.Name); {
		case cl.Name == "":
			p.errAt(at(), "name is required")
		case why != "":
			p.errAt(at("name"), "cluster name %q %s", cl.Name, why)
		}
		if j, dup := clusters[cl.Name]; dup && cl.Name != "" {
			p.errAt(at("name"), "cluster %q is already defined at clusters[%d]", cl.Name, j)
		}
		clusters[cl.Name] = i
		if len(cl.Brokers) == 0 {
			p.errAt(at("brokers"), "at least one broker (host:port) is required")
		}
		for j, b := range cl.Brokers {
			if why := hostPort(b); why != "" {
				p.errAt(at("brokers", j), "broker %q %s", b, why)
			}
		}
		if s := cl.SASL; s != nil {
			switch strings.ToUpper(s.Mechanism) {
			case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
				s.Mechanism = strings.ToUpper(s.Mechanism)
			case "":
				p.errAt(at("sasl", "mechanism"), "is required (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
			default:
				p.errAt(at("sasl", "mechanism"), "%q is not supported (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
			}
			if s.Username == "" {
				p.errAt(at("sasl", "username"), "is required with sasl")
			}
			if s.Password == "" {
				p.errAt(at("sasl", "password"), "is required with sasl (use ${VAR} to keep it out of the file)")
			}
		}
		if t := cl.TLS; t != nil {
			if (t.CertFile == "") != (t.KeyFile == "") {
				p.errAt(at("tls"), "cert_file and key_file go together")
			}
			if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify) {
				p.errAt(at("tls", "enabled"), "tls settings are given but enabled is false")
			}
		}
		if time.Duration(cl.Timeout) < 0 {
			p.errAt(at("timeout"), "must be positive")
		}
	}

	if len(c.Mirrors) == 0 {
		p.errAt([]any{"mirrors"}, "at least one mirror is required")
	}
	mirrors := map[string]int{}
	for i := range c.Mirrors {
		m := &c.Mirrors[i]
		at := func(k ...any) []any { return append([]any{"mirrors", i}, k...) }
		switch why := ValidTopic(m.Name); {
		case m.Name == "":
			p.errAt(at(), "name is required")
		case why != "":
			p.errAt(at("name"), "mirror name %q %s", m.Name, why)
		}
		if j, dup := mirrors[m.Name]; dup && m.Name != "" {
			p.errAt(at("name"), "mirror %q is already defined at mirrors[%d]", m.Name, j)
		}
		mirrors[m.Name] = i
		if m.Interval != 0 && time.Duration(m.Interval) < MinInterval {
			p.errAt(at("interval"), "%s is below the minimum of %s", time.Duration(m.Interval), MinInterval)
		}
		p.validateTopics(m, at)
		refCluster := func(key, name string) {
			if name == "" {
				p.errAt(at(), "%s is required for method %s", key, m.Method)
				return
			}
			if _, ok := clusters[name]; !ok {
				p.errAt(at(key), "cluster %q is not defined under clusters (defined: %s)", name, names(c.Clusters))
			}
		}
		group := func() {
			if why := ValidGroup(m.Group); why != "" {
				if m.Group == "" {
					p.errAt(at(), "group is required for method %s", m.Method)
				} else {
					p.errAt(at("group"), "group %q %s", m.Group, why)
				}
			}
		}
		mustBeEmpty := func(method string, keys map[string]bool) {
			for k, set := range keys {
				if set {
					p.errAt(at(k), "is not used by method %s", method)
				}
			}
		}
		switch m.Method {
		case MethodNative:
			refCluster("cluster", m.Cluster)
			group()
			mustBeEmpty(m.Method, map[string]bool{"ssh": m.SSH != nil, "kafka_home": m.KafkaHome != "",
				"bootstrap_server": m.BootstrapServer != "", "command_config": m.CommandConfig != "",
				"source_cluster": m.SourceCluster != "", "offsets_cluster": m.OffsetsCluster != "",
				"source_alias": m.SourceAlias != "", "offsets_topic": m.OffsetsTopic != "", "topics_regex": m.TopicsRegex != "", "connector": m.Connector != ""})
		case MethodSSH:
			group()
			p.validateSSHMirror(m, at)
			mustBeEmpty(m.Method, map[string]bool{"cluster": m.Cluster != "",
				"source_cluster": m.SourceCluster != "", "offsets_cluster": m.OffsetsCluster != "",
				"source_alias": m.SourceAlias != "", "offsets_topic": m.OffsetsTopic != "", "topics_regex": m.TopicsRegex != "", "connector": m.Connector != ""})
		case MethodMM2:
			refCluster("source_cluster", m.SourceCluster)
			refCluster("offsets_cluster", m.OffsetsCluster)
			if m.SourceAlias != "" && !regexp.MustCompile(`^[a-zA-Z0-9._-]+$`).MatchString(m.SourceAlias) {
				p.errAt(at("source_alias"), "%q may contain only letters, digits, '.', '_' and '-'", m.SourceAlias)
			}
			if m.OffsetsTopic != "" {
				if why := ValidTopic(m.OffsetsTopic); why != "" {
					p.errAt(at("offsets_topic"), "topic name %q %s", m.OffsetsTopic, why)
				}
			}
			mustBeEmpty(m.Method, map[string]bool{"cluster": m.Cluster != "", "group": m.Group != "", "ssh": m.SSH != nil,
				"kafka_home": m.KafkaHome != "", "bootstrap_server": m.BootstrapServer != "", "command_config": m.CommandConfig != ""})
		default:
			p.errAt(at("method"), "%q is not a method (native, ssh or mm2)", m.Method)
		}
	}
}

func (p *parser) validateTopics(m *Mirror, at func(...any) []any) {
	if m.TopicsRegex != "" {
		if m.Method != MethodMM2 {
			return // reported as unused for this method
		}
		if len(m.Topics) > 0 {
			p.errAt(at("topics_regex"), "use topics or topics_regex, not both")
		}
		if _, err := regexp.Compile(m.TopicsRegex); err != nil {
			p.errAt(at("topics_regex"), "invalid regular expression: %v", err)
		}
		return
	}
	if len(m.Topics) == 0 {
		if m.Method == MethodMM2 {
			p.errAt(at(), "topics or topics_regex is required")
		} else {
			p.errAt(at(), "topics is required (a list of topic names)")
		}
	}
	seen := map[string]int{}
	for j, t := range m.Topics {
		if why := ValidTopic(t); why != "" {
			p.errAt(at("topics", j), "invalid topic name %q: %s", t, why)
		}
		if k, dup := seen[t]; dup {
			p.errAt(at("topics", j), "topic %q is listed twice in mirror %q (also topics[%d])", t, m.Name, k)
		}
		seen[t] = j
	}
}

func (p *parser) validateSSHMirror(m *Mirror, at func(...any) []any) {
	if m.SSH == nil {
		p.errAt(at(), "ssh (host, user, key_file, known_hosts) is required for method ssh")
	} else {
		p.validateSSH(m.SSH, at("ssh"))
	}
	if m.KafkaHome == "" {
		p.errAt(at(), "kafka_home is required for method ssh (runs <kafka_home>/bin/kafka-consumer-groups.sh)")
	} else if why := remotePath(m.KafkaHome); why != "" {
		p.errAt(at("kafka_home"), "%q %s", m.KafkaHome, why)
	}
	if m.CommandConfig != "" {
		if why := remotePath(m.CommandConfig); why != "" {
			p.errAt(at("command_config"), "%q %s", m.CommandConfig, why)
		}
	}
	if m.BootstrapServer == "" {
		p.errAt(at(), "bootstrap_server is required for method ssh (passed as --bootstrap-server)")
	} else {
		for _, hp := range strings.Split(m.BootstrapServer, ",") {
			if why := hostPort(hp); why != "" {
				p.errAt(at("bootstrap_server"), "%q %s", hp, why)
			}
		}
	}
}

func (p *parser) validateSSH(s *SSH, base []any) {
	at := func(k ...any) []any { return append(append([]any{}, base...), k...) }
	if s.Host == "" {
		p.errAt(at(), "host is required")
	} else if strings.ContainsAny(s.Host, " \t\r\n/@") {
		p.errAt(at("host"), "%q is not a host name or address", s.Host)
	}
	if s.Port < 1 || s.Port > 65535 {
		p.errAt(at("port"), "%d is not a TCP port", s.Port)
	}
	if s.User == "" {
		p.errAt(at(), "user is required")
	}
	if s.KeyFile == "" {
		p.errAt(at(), "key_file is required (a private key: OpenSSH, PEM/EC2 .pem, ed25519, ecdsa)")
	}
	if s.KnownHosts == "" && !s.InsecureIgnoreHostKey {
		p.errAt(at(), "known_hosts is required: host keys are verified (insecure_ignore_host_key: true disables the check, which is unsafe)")
	}
	if s.KnownHosts != "" && s.InsecureIgnoreHostKey {
		p.errAt(at("insecure_ignore_host_key"), "known_hosts is set too; choose one")
	}
	if time.Duration(s.Timeout) < 0 {
		p.errAt(at("timeout"), "must be positive")
	}
	if s.JumpHost.SSH != nil {
		if len(base) > 0 && base[len(base)-1] == "jump_host" {
			p.errAt(at("jump_host"), "a jump host cannot have a jump host of its own")
			return
		}
		p.validateSSH(s.JumpHost.SSH, at("jump_host"))
	}
}

func (p *parser) validateES(c *Config) {
	es := &c.Elasticsearch
	at := func(k ...any) []any { return append([]any{"elasticsearch"}, k...) }
	for i, a := range es.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.errAt(at("addresses", i), "%q is not an http(s) URL such as https://es-node1:9200", redactURL(a))
			continue
		}
		if u.User != nil {
			p.errAt(at("addresses", i), "put credentials in username/password or api_key, not in the URL")
		}
	}
	if es.APIKey != "" && (es.Username != "" || es.Password != "") {
		p.errAt(at("api_key"), "use api_key or username/password, not both")
	}
	if (es.Username == "") != (es.Password == "") {
		p.errAt(at(), "username and password go together")
	}
	if es.Index != strings.ToLower(es.Index) || strings.ContainsAny(es.Index, ` "*\<|,>/?#:`) || strings.HasPrefix(es.Index, "_") ||
		strings.HasPrefix(es.Index, "-") || strings.HasPrefix(es.Index, "+") || es.Index == "." || es.Index == ".." || len(es.Index) > 255 {
		p.errAt(at("index"), "%q is not a valid index name (lowercase, at most 255 bytes, not starting with _ - +, no spaces or \\/*?\"<>|,#:)", es.Index)
	}
	if time.Duration(es.FlushInterval) < 0 {
		p.errAt(at("flush_interval"), "must be positive")
	}
	if es.FlushBytes != 0 && es.FlushBytes < 4<<10 {
		p.errAt(at("flush_bytes"), "%d bytes is below the minimum of 4KiB", es.FlushBytes)
	}
	if d := time.Duration(es.Timeout); d < time.Second || d > 10*time.Minute {
		p.errAt(at("timeout"), "%s is outside 1s to 10m", d)
	}
	if es.SpoolMaxBytes < 1<<20 {
		p.errAt(at("spool_max_bytes"), "%d bytes is below the minimum of 1MiB", es.SpoolMaxBytes)
	}
}

func (p *parser) validateKibana(k *Kibana) {
	at := func(key ...any) []any { return append([]any{"kibana"}, key...) }
	if k.URL != "" {
		u, err := url.Parse(k.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.errAt(at("url"), "%q is not an http(s) URL such as https://kibana:5601", redactURL(k.URL))
		}
	} else if k.ImportOnStart {
		p.errAt(at("import_on_start"), "needs kibana.url")
	}
	if k.APIKey != "" && (k.Username != "" || k.Password != "") {
		p.errAt(at("api_key"), "use api_key or username/password, not both")
	}
	if k.Space != "" && !regexp.MustCompile(`^[a-z0-9_-]+$`).MatchString(k.Space) {
		p.errAt(at("space"), "%q is not a Kibana space id (lowercase letters, digits, _ and -)", k.Space)
	}
}

func hostPort(s string) string {
	h, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil || h == "" {
		return "is not host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "has an invalid port"
	}
	return ""
}

func remotePath(s string) string {
	if !path.IsAbs(s) {
		return "must be an absolute path on the remote host"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

// userinfoRE matches the credentials part of a URL, even one url.Parse
// refuses (a password with '#' or a bad escape).
var userinfoRE = regexp.MustCompile(`//[^@]*@`)

func redactURL(s string) string {
	return userinfoRE.ReplaceAllString(s, "//REDACTED@")
}

func names(cs []Cluster) string {
	if len(cs) == 0 {
		return "none"
	}
	n := make([]string, len(cs))
	for i, c := range cs {
		n[i] = c.Name
	}
	return strings.Join(n, ", ")
}
