package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lagship/lagship/internal/testutil/await"
)

// TestCoordMM2ReaderOnOwner: in a group of two agents, only the agent that
// owns a MirrorMaker 2 mirror's topics reads its offsets topic; the other's
// reader stays paused. When the owner crashes, the survivor starts reading
// and collects the mirror's topics.
func TestCoordMM2ReaderOnOwner(t *testing.T) {
	topics := []string{"t00", "t01", "t02", "t03", "t04", "t05"}
	kf, _ := kafkaWithLag(t, topics, 2)
	commitAtEnds(t, kf, topics, 2)

	const offsets = "mm2-offsets.dc1.internal"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
	defer cl.Transport.(*kafkago.Transport).CloseIdleConnections()
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: offsets, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil || res.Errors[offsets] != nil {
		t.Fatalf("create offsets topic: %v %v", err, res.Errors)
	}
	var recs []kafkago.Record
	for _, topic := range topics[:2] {
		for p := 0; p < 2; p++ {
			key := fmt.Sprintf(`["MirrorSourceConnector",{"cluster":"dc1","partition":%d,"topic":%q}]`, p, topic)
			recs = append(recs, kafkago.Record{Key: kafkago.NewBytes([]byte(key)), Value: kafkago.NewBytes([]byte(`{"offset":4}`))})
		}
	}
	if r, err := cl.Produce(ctx, &kafkago.ProduceRequest{Topic: offsets, Partition: 0, RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)}); err != nil || r.Error != nil {
		t.Fatalf("produce offsets: %v %v", err, r.Error)
	}

	path := coordConfig(t, t.TempDir(), kf.ListenAddrs(), topics, "  - {name: m2, method: mm2, source_cluster: dc1, offsets_cluster: dc1, topics: [t00, t01]}\n")
	keys := []string{"m2/t00", "m2/t01"}
	for _, topic := range topics {
		keys = append(keys, "mm/"+topic)
	}
	sink := newIDSink()
	as := []*coordAgent{startCoordAgent(t, "a", path, sink), startCoordAgent(t, "b", path, sink)}
	await.True(t, 30*time.Second, "every topic on exactly one of 2 agents", func() bool { return exactlyOnce(as, keys) })

	reading := func(a *coordAgent) string {
		for _, line := range strings.Split(a.get(t, "/metrics"), "\n") {
			if strings.HasPrefix(line, `lagship_mm2_reading{topic="`+offsets+`"} `) {
				return strings.Fields(line)[1]
			}
		}
		return "absent"
	}
	ownsMM2 := func(a *coordAgent) bool {
		return slices.ContainsFunc(a.owned(), func(k string) bool { return strings.HasPrefix(k, "m2/") })
	}
	var owner, other *coordAgent
	for _, a := range as {
		if ownsMM2(a) {
			owner = a
		} else {
			other = a
		}
	}
	if owner == nil || other == nil {
		t.Fatalf("units %v / %v: want the mm2 mirror's topics on one agent", as[0].owned(), as[1].owned())
	}
	if !slices.Contains(owner.owned(), "m2/t00") || !slices.Contains(owner.owned(), "m2/t01") {
		t.Fatalf("the mm2 mirror's topics are split: %v / %v", as[0].owned(), as[1].owned())
	}
	start := time.Now()
	await.True(t, 10*time.Second, "the mm2 topics collected by their owner", func() bool {
		return sink.newest("m2/t00").After(start) && sink.newest("m2/t01").After(start)
	})
	if r, o := reading(owner), reading(other); r != "1" || o != "0" {
		t.Fatalf("lagship_mm2_reading: owner %s %s, other %s %s; want 1 and 0", owner.name, r, other.name, o)
	}
	if m := other.get(t, "/metrics"); !strings.Contains(m, `lagship_mm2_records_total{topic="`+offsets+`"} 0`+"\n") {
		t.Errorf("the agent without mm2 topics read offsets records:\n%s", grepLines(m, "lagship_mm2_"))
	}

	// The owner crashes: the survivor reads the offsets topic and
	// collects the mirror's topics.
	close(owner.abandon)
	owner.stop()
	<-owner.done
	crashAt := time.Now()
	await.True(t, 30*time.Second, "the mm2 topics on the survivor", func() bool { return ownsMM2(other) })
	await.True(t, 10*time.Second, "the mm2 topics collected again", func() bool {
		return sink.newest("m2/t00").After(crashAt) && sink.newest("m2/t01").After(crashAt)
	})
	if o := reading(other); o != "1" {
		t.Errorf("survivor's lagship_mm2_reading %s, want 1", o)
	}
	t.Logf("offsets topic read by %s only, then by %s %s after the crash", owner.name, other.name, time.Since(crashAt).Round(100*time.Millisecond))
}
