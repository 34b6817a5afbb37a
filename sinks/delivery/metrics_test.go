package delivery_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/esfake"
)

// collected gathers c and returns the value of the series of name whose
// labels include want.
func collected(t *testing.T, c prometheus.Collector, name string, want map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return 0
}

// TestOutputMetrics: while Elasticsearch is down the output says so and
// counts what goes to the spool; once it answers, every document is
// counted delivered and the spool is empty again.
func TestOutputMetrics(t *testing.T) {
	srv := esfake.NewTB(t)
	srv.Outage()
	r := start(t, srv, fastOptions(t.TempDir()))
	for k := range 3 {
		r.write(t, tick(k, 4))
	}
	el := map[string]string{"sink": "elasticsearch"}
	out := map[string]map[string]string{}
	for _, o := range []string{"delivered", "duplicate", "refused", "spooled", "dropped"} {
		out[o] = map[string]string{"sink": "elasticsearch", "outcome": o}
	}
	await.True(t, 10*time.Second, "12 documents spooled", func() bool {
		return collected(t, r.out, "lagship_sink_documents_total", out["spooled"]) == 12 && collected(t, r.out, "lagship_sink_spool_bytes", el) > 0
	})
	if up := collected(t, r.out, "lagship_sink_up", el); up != 0 {
		t.Errorf("up %v while Elasticsearch is down", up)
	}
	if n := collected(t, r.out, "lagship_sink_spool_documents", el); n != 12 {
		t.Errorf("spool documents %v, want 12", n)
	}
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	await.True(t, 10*time.Second, "12 documents delivered, spool empty", func() bool {
		return collected(t, r.out, "lagship_sink_documents_total", out["delivered"]) == 12 && collected(t, r.out, "lagship_sink_spool_documents", el) == 0
	})
	if up := collected(t, r.out, "lagship_sink_up", el); up != 1 {
		t.Errorf("up %v once Elasticsearch answers", up)
	}
	for _, o := range []string{"duplicate", "refused", "dropped"} {
		if v := collected(t, r.out, "lagship_sink_documents_total", out[o]); v != 0 {
			t.Errorf("%s = %v, want 0", o, v)
		}
	}
	if n, err := testutil.CollectAndLint(r.out); err != nil || len(n) > 0 {
		t.Errorf("lint: %v %v", n, err)
	}
}
