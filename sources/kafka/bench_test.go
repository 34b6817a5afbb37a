package kafka

import (
	"context"
	"fmt"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Benchmark size: topics x partitions on a 3-broker kfake cluster.
const (
	benchTopics     = 1000
	benchPartitions = 16
	benchGroup      = "mm-bench"
)

// benchCluster seeds the cluster and commits offsets of every partition for
// benchGroup (offset 0, so every lag is known).
func benchCluster(b *testing.B) (*fakeKafka, []string) {
	b.Helper()
	names := topicNames(benchTopics)
	f := newFakeKafka(b, nil, kfake.SeedTopics(benchPartitions, names...))
	offsets := make(map[string]map[int]int64, len(names))
	for _, n := range names {
		offsets[n] = make(map[int]int64, benchPartitions)
		for p := range benchPartitions {
			offsets[n][p] = 0
		}
	}
	f.commit(b, benchGroup, offsets)
	f.closeHelper()
	return f, names
}

// BenchmarkTick measures one tick of every topic through the shared
// per-cluster fetch, as the per-topic workers run it.
func BenchmarkTick(b *testing.B) {
	f, names := benchCluster(b)
	c := newTestCluster(b, f, nil)
	defer c.WatchGroup(benchGroup, names...)()
	src := c.Source(benchGroup)
	ctx := testCtx(b)
	collect := func(i int) {
		for _, n := range names {
			s, err := src.Collect(ctx, tickAt(i), n)
			if err != nil {
				b.Fatalf("tick %d, topic %s: %v", i, n, err)
			}
			if len(s.Lags) != benchPartitions || s.Lags[0] != 0 {
				b.Fatalf("tick %d, topic %s: lags %v", i, n, s.Lags)
			}
		}
	}
	collect(0) // connections, metadata and coordinator, outside the timing
	f.count.take()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		collect(i + 1)
	}
	b.StopTimer()
	b.ReportMetric(float64(f.count.total())/float64(b.N), "requests/tick")
}

// BenchmarkTickNaive measures the naive loop for comparison: per topic, one
// kafka-go Client.ListOffsets (which kafka-go splits into one request per
// partition) and one Client.OffsetFetch (FindCoordinator + OffsetFetch).
func BenchmarkTickNaive(b *testing.B) {
	f, names := benchCluster(b)
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(f.addrs...), Timeout: testTimeout, Transport: tr}
	ctx := testCtx(b)
	parts := make([]int, benchPartitions)
	lastOf := make([]kafkago.OffsetRequest, benchPartitions)
	for p := range parts {
		parts[p] = p
		lastOf[p] = kafkago.LastOffsetOf(p)
	}
	collect := func() {
		for _, n := range names {
			lags, err := naiveLag(ctx, client, n, parts, lastOf)
			if err != nil {
				b.Fatalf("topic %s: %v", n, err)
			}
			if len(lags) != benchPartitions || lags[0] != 0 {
				b.Fatalf("topic %s: lags %v", n, lags)
			}
		}
	}
	collect()
	f.count.take()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		collect()
	}
	b.StopTimer()
	b.ReportMetric(float64(f.count.total())/float64(b.N), "requests/tick")
}

func naiveLag(ctx context.Context, client *kafkago.Client, topic string, parts []int, lastOf []kafkago.OffsetRequest) ([]int64, error) {
	lo, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: lastOf}})
	if err != nil {
		return nil, err
	}
	of, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: benchGroup, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, err
	}
	lags := make([]int64, len(parts))
	for _, p := range lo.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", p.Partition, p.Error)
		}
		lags[p.Partition] = p.LastOffset
	}
	for _, p := range of.Topics[topic] {
		lags[p.Partition] = max(0, lags[p.Partition]-p.CommittedOffset)
	}
	return lags, nil
}
