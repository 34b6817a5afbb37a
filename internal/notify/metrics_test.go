package notify

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/pipeline/status"
)

// TestMetrics: sent, failed and dropped per notifier, as /metrics shows
// them.
func TestMetrics(t *testing.T) {
	good := newReceiver(t, nil, nil)
	bad := newReceiver(t, nil, func(int, *http.Request) (int, string, http.Header) { return 400, "no", nil })
	src := &fakeSource{}
	src.set(topic("orders", status.STOP, 1), topic("payments", status.STOP, 1))
	a := startService(t, Settings{{Name: "good", URL: configkit.Secret(good.URL)}, {Name: "bad", URL: configkit.Secret(bad.URL)}}, src,
		filepath.Join(t.TempDir(), "s.json"), Options{})
	await.True(t, 10*time.Second, "outcomes", func() bool { return sent(a.svc, "good") == 2 && len(bad.requests()) == 2 })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.svc.Collector())
	want := `
# HELP lagship_notify_failed_total Notifications not delivered, by notifier: rejected by the receiver (4xx), or expired after 10 minutes of retries.
# TYPE lagship_notify_failed_total counter
lagship_notify_failed_total{notifier="bad",reason="expired"} 0
lagship_notify_failed_total{notifier="bad",reason="rejected"} 2
lagship_notify_failed_total{notifier="good",reason="expired"} 0
lagship_notify_failed_total{notifier="good",reason="rejected"} 0
# HELP lagship_notify_sent_total Notifications delivered, by notifier.
# TYPE lagship_notify_sent_total counter
lagship_notify_sent_total{notifier="bad"} 0
lagship_notify_sent_total{notifier="good"} 2
# HELP lagship_notify_firing Incidents firing, by notifier.
# TYPE lagship_notify_firing gauge
lagship_notify_firing{notifier="bad"} 2
lagship_notify_firing{notifier="good"} 2
`
	await.True(t, 10*time.Second, "metrics", func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(want), "lagship_notify_failed_total", "lagship_notify_sent_total", "lagship_notify_firing") == nil
	})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "lagship_notify_failed_total", "lagship_notify_sent_total", "lagship_notify_firing"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "lagship_notify_dropped_total", "lagship_notify_queued", "lagship_notify_retries_total"); err != nil || n != 8 {
		t.Fatalf("%d series: %v", n, err)
	}
	// The same totals in the agent's periodic summary.
	hs := a.svc.Health()
	if len(hs) != 2 || hs[0].Component != "notify bad" || hs[0].Counters["failed"] != 2 || !strings.Contains(hs[0].LastError, "400 Bad Request") ||
		hs[1].Component != "notify good" || hs[1].Counters["sent"] != 2 || hs[1].LastError != "" || hs[1].State != "up" {
		t.Errorf("health %+v", hs)
	}
}

// TestNoNotifierNoStateFile: an agent without notifiers leaves no state
// file behind.
func TestNoNotifierNoStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify-state.json")
	src := &fakeSource{}
	a := startService(t, nil, src, path, Options{})
	a.svc.Reconfigure(nil, 0, 0)
	a.stop()
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a state file was written")
	}
}
