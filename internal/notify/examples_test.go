package notify_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// frame is the rest of a config file around an example's notify section.
const frame = `clusters:
  - {name: dc1, brokers: ["127.0.0.1:9092"]}
mirrors:
  - {name: dc1-to-dc2, cluster: dc1, group: mirrormaker, topics: [orders]}
`

var exampleEnv = map[string]string{
	"SLACK_WEBHOOK_URL":       "https://hooks.slack.com/services/T000/B000/XXXX",
	"TEAMS_WEBHOOK_URL":       "https://example.westeurope.logic.azure.com/workflows/xxxx/triggers/manual/paths/invoke?sig=xxxx",
	"GOOGLE_CHAT_WEBHOOK_URL": "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t",
	"PAGERDUTY_ROUTING_KEY":   "R0UT1NGKEY0000000000000000000000",
}

// TestExampleTemplates loads every example of examples/notify through the
// config loader, renders a firing, a resolved, a test message and a
// firing one without a known time lag with its template, checks that each is JSON and compares it with its golden file
// (go test -update rewrites them).
func TestExampleTemplates(t *testing.T) {
	files, err := filepath.Glob("../../examples/notify/*.yaml")
	if err != nil || len(files) != 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(f, append([]byte(frame), b...), func(k string) (string, bool) { v, ok := exampleEnv[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Notify) != 1 || cfg.Notify[0].Template == "" {
				t.Fatalf("want one notifier with a template, got %+v", cfg.Notify)
			}
			for _, kind := range []string{"firing", "resolved", "test", "notimelag"} {
				ev := notify.SampleEvent(kind != "resolved")
				switch kind {
				case "test":
					ev = notify.TestEvent(ev.Time)
				case "notimelag": // the time lag is unknown (nil), not 0
					ev.MaxTimeLag = nil
					for i := range ev.Partitions {
						ev.Partitions[i].TimeLag = nil
					}
				}
				body, err := notify.Render(&cfg.Notify[0], ev)
				if err != nil {
					t.Fatal(err)
				}
				if !json.Valid(body) {
					t.Fatalf("%s: not JSON:\n%s", kind, body)
				}
				golden := filepath.Join("testdata", "templates", name+"-"+kind+".json")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, body, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(body, want) {
					t.Errorf("%s renders\n%s\nwant (%s)\n%s", kind, body, golden, want)
				}
			}
		})
	}
}

// TestDefaultBody: the default JSON body has exactly the documented fields.
func TestDefaultBody(t *testing.T) {
	body, err := notify.Render(&notify.Notifier{Name: "hook", URL: "http://127.0.0.1:1/x", Timeout: 1}, notify.SampleEvent(true))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "default-firing.json")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("default body\n%s\nwant\n%s", pretty.Bytes(), want)
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	for _, k := range []string{"event", "mirror", "cluster", "group", "topic", "status", "previous_status", "total_lag", "max_lag", "max_time_lag", "partitions", "started_at", "time"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q", k)
		}
	}
	if len(m) != 13 {
		t.Errorf("%d fields", len(m))
	}
}

// TestREADMEShowsExamples: the README shows each example as it is tested.
func TestREADMEShowsExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../examples/notify/*.yaml")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		body := string(b[bytes.Index(b, []byte("notify:")):])
		if !strings.Contains(string(readme), "```yaml\n"+body+"```") {
			t.Errorf("README.md does not show %s as it is", f)
		}
	}
}

// TestTemplateValues: templates see numbers as numbers (int64 lags,
// float64 seconds, nil when unknown), so comparisons work and a time lag
// of 0 is known but false.
func TestTemplateValues(t *testing.T) {
	noTimeLag := notify.SampleEvent(true)
	noTimeLag.MaxTimeLag = nil
	for i := range noTimeLag.Partitions {
		noTimeLag.Partitions[i].TimeLag = nil
	}
	events := map[string]notify.Event{"firing": notify.SampleEvent(true), "resolved": notify.SampleEvent(false), "no time lag": noTimeLag}
	for _, c := range []struct {
		tmpl string
		want map[string]string // by event
	}{
		{`{{ if gt .total_lag 1000 }}big{{ else }}small{{ end }}`, map[string]string{"firing": "big", "resolved": "small", "no time lag": "big"}},
		{`{{ if .max_time_lag }}late{{ else }}not late{{ end }}`, map[string]string{"firing": "late", "resolved": "not late", "no time lag": "not late"}},
		{`{{ if eq .max_time_lag nil }}unknown{{ else }}{{ duration .max_time_lag }}{{ end }}`, map[string]string{"firing": "12m34s", "resolved": "0s", "no time lag": "unknown"}},
		{`{{ with .max_time_lag }}{{ if gt . 600.0 }}over 10m{{ end }}{{ end }}`, map[string]string{"firing": "over 10m", "resolved": "", "no time lag": ""}},
		{`{{ range .partitions }}{{ if ge .lag 9115 }}p{{ .partition }} {{ end }}{{ end }}`, map[string]string{"firing": "p0 ", "resolved": "", "no time lag": "p0 "}},
		{`{{ printf "%T %T %T" .total_lag .max_lag .max_time_lag }}`, map[string]string{"firing": "int64 int64 float64", "resolved": "int64 int64 float64", "no time lag": "int64 int64 <nil>"}},
		{`{{ json .max_time_lag }} {{ .max_time_lag }} {{ json .partitions }}`, map[string]string{
			"firing":      `754.5 754.5 [{"lag":9120,"partition":0,"status":"STOP","time_lag":754.5},{"lag":9114,"partition":2,"status":"STOP","time_lag":null}]`,
			"resolved":    "0 0 []",
			"no time lag": `null <no value> [{"lag":9120,"partition":0,"status":"STOP","time_lag":null},{"lag":9114,"partition":2,"status":"STOP","time_lag":null}]`}},
		{`{{ .started_at }} {{ .time }} {{ .test }}`, map[string]string{"firing": "2026-12-07T01:02:03Z 2026-12-07T01:02:03Z false",
			"resolved": "2026-12-07T01:02:03Z 2026-12-07T01:19:33Z false", "no time lag": "2026-12-07T01:02:03Z 2026-12-07T01:02:03Z false"}},
	} {
		n := &notify.Notifier{Name: "hook", URL: "http://127.0.0.1:1/x", Timeout: 1, Template: c.tmpl}
		for kind, ev := range events {
			got, err := notify.Render(n, ev)
			if err != nil {
				t.Errorf("%s (%s): %v", c.tmpl, kind, err)
				continue
			}
			if string(got) != c.want[kind] {
				t.Errorf("%s (%s) = %q, want %q", c.tmpl, kind, got, c.want[kind])
			}
		}
	}
}
