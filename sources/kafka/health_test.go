package kafka

import (
	"testing"

	"github.com/lagship/lagship/internal/health"
)

// TestClusterHealth: starting before the first tick, up after one, with
// the requests it made counted; degraded after a failed tick.
func TestClusterHealth(t *testing.T) {
	f := newFakeKafka(t, nil)
	f.createTopic(t, "orders", 2)
	f.produce(t, "orders", 0, 3)
	f.commit(t, "mm", map[string]map[int]int64{"orders": {0: 1, 1: 0}})
	c := newTestCluster(t, f, nil)
	c.Watch("orders")
	if st := c.Health()[0]; st.State != health.Starting || st.Component != "cluster "+c.cfg.Name {
		t.Fatalf("before a tick: %+v", st)
	}
	if _, err := c.Source("mm").Collect(testCtx(t), tickAt(0), "orders"); err != nil {
		t.Fatal(err)
	}
	st := c.Health()[0]
	if st.State != health.Up || st.Counters["ticks"] != 1 || st.Counters["requests"] < 2 || st.LastError != "" {
		t.Fatalf("after a tick: %+v", st)
	}
	f.closeHelper()
	f.kf.Close()
	if _, err := c.Source("mm").Collect(testCtx(t), tickAt(1), "orders"); err == nil {
		t.Fatal("a tick against a closed cluster succeeded")
	}
	if st := c.Health()[0]; st.State != health.Degraded || st.LastError == "" {
		t.Errorf("after a failed tick: %+v", st)
	}
}
