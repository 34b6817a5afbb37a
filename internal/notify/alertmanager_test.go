package notify

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline/status"
)

// checkPostableAlerts checks a body against the v2 API's postableAlerts:
// an array of objects with labels (required) and annotations as maps of
// strings, startsAt/endsAt as RFC 3339 date-times, generatorURL a string,
// and nothing else.
func checkPostableAlerts(t *testing.T, body string) []map[string]any {
	t.Helper()
	var alerts []map[string]any
	if err := json.Unmarshal([]byte(body), &alerts); err != nil {
		t.Fatalf("not a JSON array of objects: %v\n%s", err, body)
	}
	for i, a := range alerts {
		for k, v := range a {
			switch k {
			case "labels", "annotations":
				m, ok := v.(map[string]any)
				if !ok {
					t.Errorf("alert %d: %s is not an object", i, k)
				}
				for lk, lv := range m {
					if _, ok := lv.(string); !ok {
						t.Errorf("alert %d: %s.%s is not a string", i, k, lk)
					}
				}
			case "startsAt", "endsAt":
				s, _ := v.(string)
				if _, err := time.Parse(time.RFC3339, s); err != nil {
					t.Errorf("alert %d: %s %q is not RFC 3339", i, k, s)
				}
			case "generatorURL":
				if _, ok := v.(string); !ok {
					t.Errorf("alert %d: generatorURL is not a string", i)
				}
			default:
				t.Errorf("alert %d: %q is not a field of postableAlert", i, k)
			}
		}
		if _, ok := a["labels"]; !ok {
			t.Errorf("alert %d has no labels", i)
		}
	}
	return alerts
}

func label(a map[string]any, k string) string {
	s, _ := a["labels"].(map[string]any)[k].(string)
	return s
}

func TestAlertmanagerRequests(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	h := startNotifier(t, Notifier{Name: "am", Type: TypeAlertmanager, URL: configkit.Secret(rc.URL + "/")}, nil)
	m := NewMachine(h.n.cfg.rules())
	steps := []struct {
		at int
		st status.Status
	}{{0, status.OK}, {1, status.WARN}, {2, status.STOP}, {3, status.OK}}
	for _, s := range steps {
		for _, ev := range m.Step(t0.Add(time.Duration(s.at)*time.Second), []status.TopicStatus{topic("orders", s.st, 2)}) {
			n := h.n.c.sent.Load()
			h.n.q.put(ev)
			await.True(t, 10*time.Second, "delivery", func() bool { return h.n.c.sent.Load() > n })
		}
	}
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	type alert struct{ status, severity, startsAt, endsAt string }
	var got [][]alert
	for _, r := range reqs {
		if r.Path != "/api/v2/alerts" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("POST %s (%s)", r.Path, r.Header.Get("Content-Type"))
		}
		var one []alert
		for _, a := range checkPostableAlerts(t, r.Body) {
			keys := []string{}
			for k := range a["labels"].(map[string]any) {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "alertname,cluster,group,mirror,severity,status,topic" ||
				label(a, "alertname") != "MirrorMakerLag" || label(a, "mirror") != "mm" || label(a, "topic") != "orders" || label(a, "group") != "mirrormaker" || label(a, "cluster") != "dc1" {
				t.Errorf("labels %v", a["labels"])
			}
			ann := a["annotations"].(map[string]any)
			if !strings.Contains(ann["summary"].(string), "topic orders is") || !strings.Contains(ann["description"].(string), "Total lag") {
				t.Errorf("annotations %v", ann)
			}
			ends, _ := a["endsAt"].(string)
			one = append(one, alert{label(a, "status"), label(a, "severity"), a["startsAt"].(string), ends})
		}
		got = append(got, one)
		t.Logf("POST %s %s", r.Path, r.Body)
	}
	start := t0.Add(time.Second).Format(time.RFC3339Nano)
	want := [][]alert{
		{{"WARN", "warning", start, ""}},
		{{"WARN", "warning", start, t0.Add(2 * time.Second).Format(time.RFC3339Nano)}, {"STOP", "critical", start, ""}},
		{{"STOP", "critical", start, t0.Add(3 * time.Second).Format(time.RFC3339Nano)}},
	}
	if js(got) != js(want) {
		t.Errorf("alerts\n%s\nwant\n%s", js(got), js(want))
	}
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestAlertmanagerResend: a firing alert is re-sent at least every minute
// (Alertmanager resolves alerts not re-sent within resolve_timeout), and
// repeat/send_resolved do not apply.
func TestAlertmanagerResend(t *testing.T) {
	no := false
	zero := configkit.Duration(0)
	cfg := Notifier{Name: "am", Type: TypeAlertmanager, MinStatus: "WARN", Repeat: &zero, SendResolved: &no}
	m := NewMachine(cfg.rules())
	var sent []int
	for s := 0; s <= 300; s++ {
		st := status.STOP
		if s >= 290 {
			st = status.OK
		}
		for _, ev := range m.Step(t0.Add(time.Duration(s)*time.Second), []status.TopicStatus{topic("orders", st, 1)}) {
			sent = append(sent, s)
			if s == 290 && ev.Event != Resolved {
				t.Errorf("at %d: %s", s, ev.Event)
			}
		}
	}
	t.Logf("sent at seconds %v", sent)
	for i := 1; i < len(sent); i++ {
		if sent[i]-sent[i-1] > 60 {
			t.Errorf("%d s between messages", sent[i]-sent[i-1])
		}
	}
	if len(sent) != 6 || sent[len(sent)-1] != 290 {
		t.Errorf("sent at %v", sent)
	}
}
