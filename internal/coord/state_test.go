package coord

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func TestState(t *testing.T) {
	kf := newKafka(t)
	cl := &kafka.Client{Addr: kafka.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	ctx := context.Background()
	st := NewState(cl, "agents")
	if st.Topic() != "agents.state" {
		t.Errorf("topic %q", st.Topic())
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := st.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	dc, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: "agents.state", ConfigNames: []string{"cleanup.policy"}}}})
	if err != nil || len(dc.Resources) != 1 || len(dc.Resources[0].ConfigEntries) != 1 || dc.Resources[0].ConfigEntries[0].ConfigValue != "compact" {
		t.Errorf("state topic config: %+v, %v", dc, err)
	}
	if got, err := st.Load(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty state: %v, %v", got, err)
	}
	steps := []struct {
		key   string
		value []byte
		want  map[string][]byte
	}{
		{"incident/mm/orders", []byte(`{"fired":"t1"}`), map[string][]byte{"incident/mm/orders": []byte(`{"fired":"t1"}`)}},
		{"incident/mm/clicks", []byte(`{"fired":"t2"}`), map[string][]byte{"incident/mm/orders": []byte(`{"fired":"t1"}`), "incident/mm/clicks": []byte(`{"fired":"t2"}`)}},
		{"incident/mm/orders", []byte(`{"fired":"t1","resolved":"t3"}`), map[string][]byte{"incident/mm/orders": []byte(`{"fired":"t1","resolved":"t3"}`), "incident/mm/clicks": []byte(`{"fired":"t2"}`)}},
		{"incident/mm/clicks", nil, map[string][]byte{"incident/mm/orders": []byte(`{"fired":"t1","resolved":"t3"}`)}},
	}
	for i, s := range steps {
		if err := st.Put(ctx, s.key, s.value); err != nil {
			t.Fatal(err)
		}
		// Another agent reads it through its own client.
		other := NewState(&kafka.Client{Addr: kafka.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}, "agents")
		got, err := other.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d: %v, want %v", i, str(got), str(s.want))
		}
	}
}

func str(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprintf("%s", v)
	}
	return out
}
