package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testTimeout bounds every Kafka call a test makes.
const testTimeout = 20 * time.Second

// fakeKafka is an in-process kfake cluster plus a kafka-go client used to
// produce records, commit offsets and create topics the way real tools do.
type fakeKafka struct {
	kf     *kfake.Cluster
	addrs  []string
	client *kafkago.Client
	count  *requestCounter
}

// newFakeKafka starts a 3-broker kfake cluster with the given options.
func newFakeKafka(t testing.TB, mech sasl.Mechanism, opts ...kfake.Opt) *fakeKafka {
	t.Helper()
	kf, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(kf.Close)
	// A long metadata TTL keeps the helper client's background refreshes
	// out of the request counts.
	tr := &kafkago.Transport{MetadataTTL: time.Hour, SASL: mech, ClientID: "test-helper"}
	t.Cleanup(tr.CloseIdleConnections)
	f := &fakeKafka{
		kf:     kf,
		addrs:  kf.ListenAddrs(),
		client: &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: testTimeout, Transport: tr},
		count:  newRequestCounter(kf),
	}
	return f
}

// closeHelper closes the helper client's connections so that only the code
// under test talks to the cluster afterwards.
func (f *fakeKafka) closeHelper() {
	f.client.Transport.(*kafkago.Transport).CloseIdleConnections()
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// produce appends n records to one partition.
func (f *fakeKafka) produce(t testing.TB, topic string, partition, n int) {
	t.Helper()
	if n == 0 {
		return
	}
	recs := make([]kafkago.Record, n)
	for i := range recs {
		recs[i] = kafkago.Record{Value: kafkago.NewBytes([]byte(fmt.Sprintf("%s-%d-%d", topic, partition, i)))}
	}
	res, err := f.client.Produce(testCtx(t), &kafkago.ProduceRequest{
		Topic: topic, Partition: partition, RequiredAcks: kafkago.RequireAll,
		Records: kafkago.NewRecordReader(recs...),
	})
	if err != nil {
		t.Fatalf("producing to %s/%d: %v", topic, partition, err)
	}
	if res.Error != nil {
		t.Fatalf("producing to %s/%d: %v", topic, partition, res.Error)
	}
}

// commit commits offsets (topic -> partition -> offset) for group, as an
// admin tool or MirrorMaker's consumer does.
func (f *fakeKafka) commit(t testing.TB, group string, offsets map[string]map[int]int64) {
	t.Helper()
	topics := make(map[string][]kafkago.OffsetCommit, len(offsets))
	for topic, parts := range offsets {
		for p, o := range parts {
			topics[topic] = append(topics[topic], kafkago.OffsetCommit{Partition: p, Offset: o})
		}
	}
	res, err := f.client.OffsetCommit(testCtx(t), &kafkago.OffsetCommitRequest{
		GroupID: group, GenerationID: -1, Topics: topics,
	})
	if err != nil {
		t.Fatalf("committing offsets of %s: %v", group, err)
	}
	for topic, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				t.Fatalf("committing %s/%d for %s: %v", topic, p.Partition, group, p.Error)
			}
		}
	}
}

// createTopic creates a topic after the cluster started.
func (f *fakeKafka) createTopic(t testing.TB, topic string, partitions int) {
	t.Helper()
	res, err := f.client.CreateTopics(testCtx(t), &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// newTestCluster returns a Cluster on f, closed at the end of the test.
func newTestCluster(t testing.TB, f *fakeKafka, edit func(*Config)) *Cluster {
	t.Helper()
	cfg := Config{Name: "test", Brokers: f.addrs, Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewCluster(cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// requestCounter counts the requests kfake receives, by API key, through
// control functions that observe without handling.
type requestCounter struct {
	mu sync.Mutex
	n  map[int16]int
}

func newRequestCounter(kf *kfake.Cluster) *requestCounter {
	rc := &requestCounter{n: make(map[int16]int)}
	for _, k := range []kmsg.Key{kmsg.ListOffsets, kmsg.Metadata, kmsg.OffsetFetch, kmsg.DescribeGroups, kmsg.FindCoordinator, kmsg.ApiVersions} {
		kf.ControlKey(int16(k), func(req kmsg.Request) (kmsg.Response, error, bool) {
			kf.KeepControl()
			rc.mu.Lock()
			rc.n[req.Key()]++
			rc.mu.Unlock()
			return nil, nil, false
		})
	}
	return rc
}

// take returns the counts since the previous take and resets them.
func (rc *requestCounter) take() map[kmsg.Key]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[kmsg.Key]int, len(rc.n))
	for k, n := range rc.n {
		out[kmsg.Key(k)] = n
	}
	clear(rc.n)
	return out
}

func (rc *requestCounter) total() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, v := range rc.n {
		n += v
	}
	return n
}

// tickAt returns the i-th aligned tick of a test.
func tickAt(i int) time.Time {
	return time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
}
