package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestOnceMirrorMaker2 runs `lagship once` on a simulated MirrorMaker 2
// deployment: a source cluster with records, and a target cluster whose
// compacted mm2-offsets.dc1.internal holds the connector's progress.
func TestOnceMirrorMaker2(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"), kfake.SeedTopics(1, "payments"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	produce := func(c *kfake.Cluster, topic string, partition int, recs ...kafkago.Record) {
		t.Helper()
		cl := &kafkago.Client{Addr: kafkago.TCP(c.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
		defer cl.Transport.(*kafkago.Transport).CloseIdleConnections()
		res, err := cl.Produce(ctx, &kafkago.ProduceRequest{Topic: topic, Partition: partition, RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)})
		if err != nil || res.Error != nil {
			t.Fatalf("produce %s/%d: %v %v", topic, partition, err, res.Error)
		}
	}
	values := func(n int) []kafkago.Record {
		r := make([]kafkago.Record, n)
		for i := range r {
			r[i] = kafkago.Record{Value: kafkago.NewBytes([]byte("v"))}
		}
		return r
	}
	produce(src, "orders", 0, values(10)...) // log end 10
	produce(src, "orders", 1, values(20)...) // log end 20
	produce(src, "orders", 2, values(30)...) // log end 30
	produce(src, "payments", 0, values(8)...)

	cl := &kafkago.Client{Addr: kafkago.TCP(dst.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
	defer cl.Transport.(*kafkago.Transport).CloseIdleConnections()
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: "mm2-offsets.dc1.internal", NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil || res.Errors["mm2-offsets.dc1.internal"] != nil {
		t.Fatalf("create offsets topic: %v %v", err, res.Errors)
	}
	rec := func(connector, alias, topic string, p int, value string) kafkago.Record {
		key := fmt.Sprintf(`[%q,{"cluster":%q,"partition":%d,"topic":%q}]`, connector, alias, p, topic)
		r := kafkago.Record{Key: kafkago.NewBytes([]byte(key))}
		if value != "" {
			r.Value = kafkago.NewBytes([]byte(value))
		}
		return r
	}
	produce(dst, "mm2-offsets.dc1.internal", 0,
		rec("MirrorSourceConnector", "dc1", "orders", 1, `{"offset":3}`),
		rec("MirrorSourceConnector", "dc1", "orders", 0, `{"offset":4}`),  // lag 10-(4+1) = 5
		rec("MirrorSourceConnector", "dc1", "orders", 1, `{"offset":19}`), // latest wins: lag 0
		rec("MirrorSourceConnector", "dc9", "orders", 2, `{"offset":1}`),  // another alias: ignored
		kafkago.Record{Key: kafkago.NewBytes([]byte(`["MirrorCheckpointConnector",{"sourceClusterAlias":"dc1","targetClusterAlias":"dc2"}]`)), Value: kafkago.NewBytes([]byte(`{"offset":0}`))},
		rec("MirrorSourceConnector", "dc1", "payments", 0, `{"offset":6}`),
		rec("MirrorSourceConnector", "dc1", "payments", 0, ""), // tombstone: reset
		kafkago.Record{Key: kafkago.NewBytes([]byte(`not json`)), Value: kafkago.NewBytes([]byte(`{"offset":1}`))},
	)

	dir := t.TempDir()
	path := filepath.Join(dir, "lagship.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`elasticsearch: {spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q]}
  - {name: dc2, brokers: [%q]}
mirrors:
  - {name: mm2, method: mm2, source_cluster: dc1, offsets_cluster: dc2, topics: [orders, payments]}
`, filepath.Join(dir, "spool"), src.ListenAddrs()[0], dst.ListenAddrs()[0])), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "once", "-config", path, "-json")
	if code != 0 {
		t.Fatalf("code %d\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one document (payments was reset: no offsets), got:\n%s\nstderr:\n%s", out, errs)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"topic": "orders", "p0": 5.0, "p1": 0.0, "partition_count": 3.0, "total_lag": 5.0, "max_lag": 5.0,
		"method": "mm2", "cluster": "dc1", "mirror": "mm2", "group": "MirrorSourceConnector"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v (doc %s)", k, d[k], v, lines[0])
		}
	}
	if _, ok := d["p2"]; ok {
		t.Errorf("p2 has no stored offset for alias dc1 and must be absent: %s", lines[0])
	}
	if !strings.Contains(errs, "payments") {
		t.Errorf("the reset topic is not reported on stderr:\n%s", errs)
	}
}
