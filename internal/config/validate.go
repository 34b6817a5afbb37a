package config

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/pipeline/status"
	"github.com/lagship/lagship/sources"
)

func (c *Config) setDefaults() {
	if c.Interval == 0 {
		c.Interval = Duration(DefaultInterval)
	}
	c.Elasticsearch.SetDefaults()
	c.Notify.SetDefaults()
	if c.Coordination != nil {
		c.Coordination.SetDefaults()
	}
	for i := range c.Clusters {
		c.Clusters[i].SetDefaults()
	}
	for i := range c.Mirrors {
		m := &c.Mirrors[i]
		if m.Method == "" && len(c.Methods) > 0 {
			m.Method = c.Methods[0].Name
		}
		if d, ok := m.Settings.(sources.Defaulter); ok {
			d.SetDefaults()
		}
	}
}

// reporter reports a component's problems at the file's lines, below base.
type reporter struct {
	p    *parser
	c    *Config
	base []any
}

func (r reporter) Errorf(path []any, format string, args ...any) {
	r.p.errAt(append(append([]any{}, r.base...), path...), format, args...)
}

func (r reporter) Sub(path ...any) configkit.Reporter {
	return reporter{p: r.p, c: r.c, base: append(append([]any{}, r.base...), path...)}
}

func (r reporter) Names(section string) []string {
	if section != "clusters" {
		return nil
	}
	out := make([]string, 0, len(r.c.Clusters))
	for _, cl := range r.c.Clusters {
		if cl.Name != "" {
			out = append(out, cl.Name)
		}
	}
	return out
}

// TopicRE is Kafka's rule for topic names (also used for mirror and cluster
// names, which end up in document ids and log fields).
var TopicRE = configkit.NameRE

// MaxTopicLen is Kafka's limit on topic names.
const MaxTopicLen = configkit.MaxTopicLen

// ValidTopic reports why name is not a valid Kafka topic name ("" if it is).
func ValidTopic(name string) string { return configkit.ValidTopic(name) }

// ValidGroup reports why a consumer group name cannot be used ("" if it can).
func ValidGroup(g string) string { return configkit.ValidGroup(g) }

// MaxInterval bounds every interval: a longer one is almost certainly a
// typo (2562047h), and a mirror judged once an hour is not watched.
const MaxInterval = time.Hour

func (p *parser) validate(c *Config) {
	if p.has("interval") {
		p.checkInterval([]any{"interval"}, time.Duration(p.interval))
	}
	p.validateES(c)
	p.validateKibana(&c.Kibana)

	clusters := map[string]int{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		cl.Validate(reporter{p: p, c: c, base: []any{"clusters", i}})
		if j, dup := clusters[cl.Name]; dup && cl.Name != "" {
			p.errAt([]any{"clusters", i, "name"}, "cluster %q is already defined at clusters[%d]", cl.Name, j)
		}
		clusters[cl.Name] = i
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
		if p.has(at("interval")...) {
			p.checkInterval(at("interval"), time.Duration(m.Interval))
		}
		if m.Settings == nil {
			p.errAt(at("method"), "%q is not a method (%s)", m.Method, orList(c.Methods.Names()))
			continue
		}
		p.validateTopics(m, at)
		m.Settings.Validate(reporter{p: p, c: c, base: at()}, c.Spec(m))
		m.Status.Validate(reporter{p: p, c: c, base: at("status")})
		if key, why := status.Check(c.StatusRules(m), c.EffectiveInterval(m)); key != "" {
			// Point at the key that decides: the mirror's own, the file's
			// status section, or else the mirror's interval.
			switch {
			case p.has(at("status", key)...):
				p.errAt(at("status", key), "%s", why)
			case p.has("status", key):
				p.errAt([]any{"status", key}, "%s (for mirror %q)", why, m.Name)
			default:
				p.errAt(at("interval"), "%s (status.%s is the default)", why, key)
			}
		}
	}
	c.Status.Validate(reporter{p: p, c: c, base: []any{"status"}})
	c.HTTP.Validate(reporter{p: p, c: c, base: []any{"http"}})
	c.Notify.Validate(reporter{p: p, c: c, base: []any{"notify"}}, c.mirrorTopics())
	if c.Coordination != nil {
		c.Coordination.Validate(reporter{p: p, c: c, base: []any{"coordination"}})
	}
}

// checkInterval: an interval given in the file is at least MinInterval and
// at most MaxInterval; 0s is not "the default", it is a mistake.
func (p *parser) checkInterval(path []any, d time.Duration) {
	switch {
	case d < MinInterval:
		p.errAt(path, "%s is below the minimum of %s", d, MinInterval)
	case d > MaxInterval:
		p.errAt(path, "%s is above the maximum of %s", d, MaxInterval)
	}
}

// has reports whether the file sets the key at path.
func (p *parser) has(path ...any) bool {
	n := p.root
	for _, step := range path {
		switch s := step.(type) {
		case string:
			n = mapValue(n, s)
		case int:
			if n != nil && n.Kind == yaml.AliasNode {
				n = n.Alias
			}
			if n == nil || n.Kind != yaml.SequenceNode || s >= len(n.Content) {
				return false
			}
			n = n.Content[s]
		}
		if n == nil {
			return false
		}
	}
	return true
}

func orList(names []string) string {
	switch len(names) {
	case 0:
		return "none registered"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func (p *parser) validateTopics(m *Mirror, at func(...any) []any) {
	if lt, ok := m.Settings.(sources.TopicsOptional); ok {
		if lt.ListsTopics() {
			return
		}
		if len(m.Topics) == 0 {
			return // the method says what it needs
		}
	}
	if len(m.Topics) == 0 {
		p.errAt(at(), "topics is required (a list of topic names)")
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

func (p *parser) validateES(c *Config) {
	c.Elasticsearch.Validate(reporter{p: p, c: c, base: []any{"elasticsearch"}})
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

func redactURL(s string) string { return configkit.RedactURL(s) }

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
