package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/notify"
)

const head = `clusters:
  - {name: dc1, brokers: ["127.0.0.1:9092"]}
mirrors:
  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders, payments]}
notify:
`

func TestSettingsErrors(t *testing.T) {
	cases := []struct {
		name, entry string
		want        []string // substrings of the error
		not         string   // must not appear
	}{
		{"unknown type", `  - {name: a, type: email, url: "http://h/x"}`, []string{"lagship.yaml:6: notify[0].type:", `"email" is not a notifier type`}, ""},
		{"bad template", "  - name: a\n    url: http://h/x\n    template: '{{ .status '", []string{"lagship.yaml:8: notify[0].template: invalid template"}, ""},
		{"unknown template function", "  - name: a\n    url: http://h/x\n    template: '{{ frobnicate .status }}'", []string{"notify[0].template", "frobnicate"}, ""},
		{"bad URL, redacted", `  - {name: a, url: "ftp://host/SECRETPATH?k=SECRETQ"}`, []string{"notify[0].url", "ftp://host/[redacted] is not an http(s) URL"}, "SECRET"},
		{"no URL", `  - {name: a}`, []string{"notify[0].url: url is required"}, ""},
		{"unknown mirror", `  - {name: a, url: "http://h/x", mirrors: [mm, nope]}`, []string{"notify[0].mirrors[1]", `"nope" is not a mirror of this file (mm)`}, ""},
		{"unknown topic", `  - {name: a, url: "http://h/x", topics: [orders, clicks]}`, []string{"notify[0].topics[1]", `"clicks" is not a topic`}, ""},
		{"min_status OK", `  - {name: a, url: "http://h/x", min_status: OK}`, []string{"notify[0].min_status: OK would fire"}, ""},
		{"min_status unknown", `  - {name: a, url: "http://h/x", min_status: BAD}`, []string{"notify[0].min_status", "unknown status"}, ""},
		{"duplicate name", "  - {name: a, url: \"http://h/x\"}\n  - {name: a, url: \"http://h/y\"}", []string{"lagship.yaml:7: notify[1].name", "already defined"}, ""},
		{"no name", `  - {url: "http://h/x"}`, []string{"notify[0]: name is required"}, ""},
		{"alertmanager with webhook keys", `  - {name: am, type: alertmanager, url: "http://am:9093", template: "x", repeat: 1h, send_resolved: false}`,
			[]string{"notify[0].template: is not used by type alertmanager", "notify[0].repeat: is not used", "notify[0].send_resolved: is not used"}, ""},
		{"negative durations", `  - {name: a, url: "http://h/x", for: -1s, repeat: -1s, timeout: -1s}`, []string{"notify[0].for", "notify[0].repeat", "notify[0].timeout"}, ""},
		{"bad header", `  - {name: a, url: "http://h/x", headers: {"Bad Header": "SECRETV"}}`, []string{"not a valid HTTP header name"}, "SECRETV"},
		{"unknown key", `  - {name: a, url: "http://h/x", min_stauts: WARN}`, []string{"notify[0].min_stauts: unknown key"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("lagship.yaml", []byte(head+c.entry+"\n"), nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if c.not != "" && strings.Contains(err.Error(), c.not) {
				t.Errorf("error shows %q:\n%v", c.not, err)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	cfg, err := config.Parse("lagship.yaml", []byte(head+`  - {name: a, url: "${HOOK}", headers: {Authorization: "Bearer ${TOKEN}"}}
  - {name: am, type: alertmanager, url: "http://am:9093"}
`), func(k string) (string, bool) {
		return map[string]string{"HOOK": "https://h/x", "TOKEN": "t0k"}[k], true
	})
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Notify[0]
	if n.Type != notify.TypeWebhook || n.MinStatus != "WARN" || time.Duration(n.Timeout) != 10*time.Second || n.Repeat != nil || n.SendResolved != nil ||
		n.URL.Reveal() != "https://h/x" || n.Headers["Authorization"].Reveal() != "Bearer t0k" {
		t.Errorf("%+v", n)
	}
	if cfg.Notify[1].Type != notify.TypeAlertmanager {
		t.Errorf("%+v", cfg.Notify[1])
	}
}

// TestTemplateFieldErrors: a misspelled field is a config error with
// file:line, wherever it is in the template (at the top, in a partition,
// in a branch only the test message or an unknown time lag takes); fields
// that are sometimes null are not errors.
func TestTemplateFieldErrors(t *testing.T) {
	for _, c := range []struct{ name, tmpl, want string }{
		{"top level", `{"t": {{ json .totl_lag }}}`, "totl_lag"},
		{"in a partition", `[{{ range .partitions }}{{ .lagg }},{{ end }}]`, "lagg"},
		{"only in the test message", `{{ if .test }}{{ .tset }}{{ end }}`, "tset"},
		{"only when the time lag is unknown", `{{ if eq .max_time_lag nil }}{{ .unknwon }}{{ end }}`, "unknwon"},
		{"comparing an unknown time lag", `{{ if gt .max_time_lag 600.0 }}late{{ end }}`, "gt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("lagship.yaml", []byte(head+"  - name: a\n    url: http://h/x\n    template: '"+c.tmpl+"'\n"), nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{"lagship.yaml:8: notify[0].template", c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	for _, ok := range []string{
		`{{ json .max_time_lag }} {{ range .partitions }}{{ json .time_lag }}{{ end }}`,
		`{{ with .max_time_lag }}{{ if gt . 600.0 }}late{{ end }}{{ end }}`,
		`{{ if .test }}test{{ end }} {{ .summary }} {{ .description }}`,
	} {
		if _, err := config.Parse("lagship.yaml", []byte(head+"  - name: a\n    url: http://h/x\n    template: '"+ok+"'\n"), nil); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
