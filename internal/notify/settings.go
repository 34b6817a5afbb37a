package notify

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/pipeline/status"
)

// Types of notifier.
const (
	TypeWebhook      = "webhook"
	TypeAlertmanager = "alertmanager"
)

// Defaults.
const (
	DefaultMinStatus = "WARN"
	DefaultRepeat    = time.Hour
	DefaultTimeout   = 10 * time.Second
)

// Settings is the notify section of the file: a list of notifiers.
type Settings []Notifier

// Notifier is one receiver.
type Notifier struct {
	Name string `yaml:"name"`
	// Type is webhook (default) or alertmanager.
	Type string `yaml:"type"`
	// URL is the webhook's URL, or Alertmanager's base URL. It is a
	// secret: only its scheme and host are ever printed.
	URL configkit.Secret `yaml:"url"`
	// Headers are added to every request; their values are secrets.
	Headers map[string]configkit.Secret `yaml:"headers"`
	// Template is a Go text/template for the webhook body ("" = the
	// default JSON).
	Template string `yaml:"template"`
	// MinStatus: an incident fires at this status or worse.
	MinStatus string `yaml:"min_status"`
	// For: the status must hold this long before a message.
	For configkit.Duration `yaml:"for"`
	// Repeat: send again while still firing; 0 = never (default 1h).
	Repeat *configkit.Duration `yaml:"repeat"`
	// SendResolved: send a message when the incident resolves (default
	// true).
	SendResolved *bool `yaml:"send_resolved"`
	// Mirrors and Topics restrict the notifier (empty = all).
	Mirrors []string `yaml:"mirrors"`
	Topics  []string `yaml:"topics"`
	// Timeout bounds each request (default 10s).
	Timeout configkit.Duration `yaml:"timeout"`
}

// SetDefaults fills what the file leaves out.
func (s Settings) SetDefaults() {
	for i := range s {
		n := &s[i]
		if n.Type == "" {
			n.Type = TypeWebhook
		}
		if n.MinStatus == "" {
			n.MinStatus = DefaultMinStatus
		}
		if n.Timeout == 0 {
			n.Timeout = configkit.Duration(DefaultTimeout)
		}
	}
}

// Validate reports the section's problems through r (paths relative to the
// section). mirrors maps every mirror's name to its topics (nil when the
// mirror finds its topics at run time, by regex).
func (s Settings) Validate(r configkit.Reporter, mirrors map[string][]string) {
	names := map[string]int{}
	for i := range s {
		s[i].validate(r.Sub(i), mirrors)
		if j, dup := names[s[i].Name]; dup && s[i].Name != "" {
			r.Errorf([]any{i, "name"}, "notifier %q is already defined at notify[%d]", s[i].Name, j)
		}
		names[s[i].Name] = i
	}
}

func (n *Notifier) validate(r configkit.Reporter, mirrors map[string][]string) {
	switch why := configkit.ValidTopic(n.Name); {
	case n.Name == "":
		r.Errorf(nil, "name is required")
	case why != "":
		r.Errorf([]any{"name"}, "notifier name %q %s", n.Name, why)
	}
	switch n.Type {
	case TypeWebhook, "":
	case TypeAlertmanager:
		if n.Template != "" {
			r.Errorf([]any{"template"}, "is not used by type alertmanager (its annotations carry the words)")
		}
		if n.Repeat != nil {
			r.Errorf([]any{"repeat"}, "is not used by type alertmanager: lagship re-sends firing alerts every minute and Alertmanager's repeat_interval decides")
		}
		if n.SendResolved != nil {
			r.Errorf([]any{"send_resolved"}, "is not used by type alertmanager: resolved alerts are always sent and Alertmanager's send_resolved decides")
		}
	default:
		r.Errorf([]any{"type"}, "%q is not a notifier type (webhook or alertmanager)", n.Type)
	}
	if n.URL == "" {
		r.Errorf([]any{"url"}, "url is required")
	} else if u, err := url.Parse(n.URL.Reveal()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Errorf([]any{"url"}, "%s is not an http(s) URL such as https://hooks.example.com/...", RedactURL(n.URL.Reveal()))
	}
	for k := range n.Headers {
		if !validHeaderName(k) {
			r.Errorf([]any{"headers", k}, "%q is not a valid HTTP header name", k)
		}
	}
	if n.Template != "" {
		if _, err := parseTemplate(n.Name, n.Template); err != nil {
			r.Errorf([]any{"template"}, "%v", err)
		}
	}
	if st, err := status.Parse(n.MinStatus); err != nil {
		r.Errorf([]any{"min_status"}, "%v", err)
	} else if st == status.OK {
		r.Errorf([]any{"min_status"}, "OK would fire for every topic: use WARN or a worse status")
	}
	if n.For < 0 {
		r.Errorf([]any{"for"}, "must be 0 or positive")
	}
	if n.Repeat != nil && *n.Repeat < 0 {
		r.Errorf([]any{"repeat"}, "must be 0 (never) or positive")
	}
	if n.Timeout <= 0 {
		r.Errorf([]any{"timeout"}, "must be positive")
	}
	for j, m := range n.Mirrors {
		if _, ok := mirrors[m]; !ok {
			r.Errorf([]any{"mirrors", j}, "%q is not a mirror of this file (%s)", m, joined(keys(mirrors)))
		}
	}
	for j, t := range n.Topics {
		if !topicKnown(t, n.Mirrors, mirrors) {
			r.Errorf([]any{"topics", j}, "%q is not a topic of the selected mirrors", t)
		}
	}
}

// topicKnown: some selected mirror lists t, or finds its topics at run time.
func topicKnown(t string, selected []string, mirrors map[string][]string) bool {
	if len(selected) == 0 {
		for m := range mirrors {
			selected = append(selected, m)
		}
	}
	for _, m := range selected {
		topics, ok := mirrors[m]
		if !ok {
			continue
		}
		if topics == nil {
			return true
		}
		for _, x := range topics {
			if x == t {
				return true
			}
		}
	}
	return false
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c > 127 || !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("!#$%&'*+.^`|~", c)) {
			return false
		}
	}
	return true
}

func keys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func joined(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// rules are the notifier's incident rules.
func (n *Notifier) rules() Rules {
	st, _ := status.Parse(n.MinStatus)
	r := Rules{MinStatus: st, For: time.Duration(n.For), Repeat: DefaultRepeat, SendResolved: true}
	if n.Repeat != nil {
		r.Repeat = time.Duration(*n.Repeat)
	}
	if n.SendResolved != nil {
		r.SendResolved = *n.SendResolved
	}
	if n.Type == TypeAlertmanager {
		r.Repeat, r.SendResolved = ResendEvery, true
	}
	r.Mirrors = set(n.Mirrors)
	r.Topics = set(n.Topics)
	return r
}

func set(s []string) map[string]bool {
	if len(s) == 0 {
		return nil
	}
	m := make(map[string]bool, len(s))
	for _, x := range s {
		m[x] = true
	}
	return m
}

// fingerprint changes when anything that the notifier's sender uses
// changes (secrets included; it is compared, never printed).
func (n *Notifier) fingerprint() string {
	hs := map[string]string{}
	for k, v := range n.Headers {
		hs[k] = v.Reveal()
	}
	return configkit.Fingerprint(n, n.URL.Reveal(), hs)
}

// RedactURL is what logs and errors show of a receiver's URL: its scheme
// and host, and [redacted] for any path, query or credentials.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "[redacted URL]"
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil {
		out = u.Scheme + "://[redacted]@" + u.Host
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		out += "/[redacted]"
	}
	return out
}

// parseTemplate compiles a body template and renders it once with each
// sample event (TemplateSamples), so that a misspelled field (missingkey=
// error), a function that does not exist or a comparison that fails is a
// config error, not a failure at 3 a.m.
func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	for _, s := range templateSamples() {
		var b bytes.Buffer
		if err := t.Execute(&b, s.ev.templateData()); err != nil {
			return nil, fmt.Errorf("template does not render a sample %s: %s", s.what, strings.TrimPrefix(err.Error(), "template: "))
		}
	}
	return t, nil
}

// templateSamples are the events a template must render: firing,
// resolved, the test message, and a firing without a known time lag.
func templateSamples() []struct {
	what string
	ev   Event
} {
	noTimeLag := SampleEvent(true)
	noTimeLag.MaxTimeLag = nil
	noTimeLag.Partitions = []Partition{{Partition: 0, Status: "STOP", Lag: 9120}, {Partition: 2, Status: "STOP", Lag: 9114}}
	return []struct {
		what string
		ev   Event
	}{
		{"firing message", SampleEvent(true)},
		{"resolved message", SampleEvent(false)},
		{"test message", TestEvent(SampleEvent(true).Time)},
		{"firing message without a known time lag", noTimeLag},
	}
}
