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
// config loader, renders a firing and a resolved message with its
// template, checks that each is JSON and compares it with its golden file
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
			for _, kind := range []string{"firing", "resolved", "test"} {
				ev := notify.SampleEvent(kind != "resolved")
				if kind == "test" {
					ev = notify.TestEvent(ev.Time)
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
