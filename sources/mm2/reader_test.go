package mm2

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lagship/lagship/pipeline"
	kafkasrc "github.com/lagship/lagship/sources/kafka"
)

const offsetsTopic = "mm2-offsets.dc1.internal"

// testCtx bounds a test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newKfake starts an in-process cluster on loopback with ports chosen by the
// system.
func newKfake(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newClient returns a kafka-go client of c with its own transport.
func newClient(t *testing.T, c *kfake.Cluster) *kafka.Client {
	t.Helper()
	tr := &kafka.Transport{MetadataTTL: 50 * time.Millisecond}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...), Timeout: 10 * time.Second, Transport: tr}
}

func createTopic(ctx context.Context, t *testing.T, cl *kafka.Client, topic string, partitions int, compact bool) {
	t.Helper()
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}
	if compact {
		tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
	}
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
}

// partitionBalancer sends a message to the partition named by its key's
// first byte ('0'..'9'); offsets records go to the partition hashed from
// their key, as Connect's producer does.
type partitionBalancer struct{ murmur kafka.Murmur2Balancer }

func (b *partitionBalancer) Balance(m kafka.Message, partitions ...int) int {
	if len(m.Key) == 1 && m.Key[0] >= '0' && m.Key[0] <= '9' {
		return int(m.Key[0] - '0')
	}
	return b.murmur.Balance(m, partitions...)
}

func newWriter(t *testing.T, c *kfake.Cluster, cl *kafka.Client, topic string) *kafka.Writer {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(c.ListenAddrs()...),
		Topic:        topic,
		Balancer:     &partitionBalancer{},
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Transport:    cl.Transport,
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// produce appends n records to each given partition of a source topic.
func produce(ctx context.Context, t *testing.T, w *kafka.Writer, counts map[int]int) {
	t.Helper()
	var msgs []kafka.Message
	for p, n := range counts {
		for i := 0; i < n; i++ {
			msgs = append(msgs, kafka.Message{Key: []byte{byte('0' + p)}, Value: fmt.Appendf(nil, "record %d", i)})
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing to %s: %v", w.Topic, err)
	}
}

// offsetKey is the key Connect writes for a MirrorSourceConnector partition.
func offsetKey(connector, alias, topic string, partition int) []byte {
	return fmt.Appendf(nil, `[%q,{"cluster":%q,"partition":%d,"topic":%q}]`, connector, alias, partition, topic)
}

func offsetRecord(connector, alias, topic string, partition int, offset int64) kafka.Message {
	return kafka.Message{Key: offsetKey(connector, alias, topic, partition), Value: fmt.Appendf(nil, `{"offset":%d}`, offset)}
}

func tombstone(connector, alias, topic string, partition int) kafka.Message {
	return kafka.Message{Key: offsetKey(connector, alias, topic, partition)}
}

func writeOffsets(ctx context.Context, t *testing.T, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("writing offsets records: %v", err)
	}
}

// startReader runs r until the test ends.
func startReader(t *testing.T, r *Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func fastReader(cl *kafka.Client, topic string, log zerolog.Logger) *Reader {
	r := NewReader(cl, topic, log)
	r.fetchWait = 50 * time.Millisecond
	r.minBackoff = 5 * time.Millisecond
	r.maxBackoff = 20 * time.Millisecond
	return r
}

// eventually polls cond until it holds or ctx ends.
func eventually(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tk.C:
		}
	}
}

func newLogEnds(t *testing.T, c *kfake.Cluster) *kafkasrc.Cluster {
	t.Helper()
	cl, err := kafkasrc.NewCluster(kafkasrc.Config{Name: "src", Brokers: c.ListenAddrs()}, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// tickClock hands out distinct tick times, as the scheduler does.
type tickClock struct{ t time.Time }

func (c *tickClock) next() time.Time {
	if c.t.IsZero() {
		c.t = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.t = c.t.Add(time.Minute)
	return c.t
}

func TestSourceEndToEnd(t *testing.T) {
	ctx := testCtx(t)
	log := zerolog.New(zerolog.NewTestWriter(t))

	// Source cluster: the mirrored topics.
	src := newKfake(t)
	srcClient := newClient(t, src)
	createTopic(ctx, t, srcClient, "orders", 3, false)
	createTopic(ctx, t, srcClient, "payments", 2, false)
	createTopic(ctx, t, srcClient, "nooffsets", 1, false)
	orders := newWriter(t, src, srcClient, "orders")
	produce(ctx, t, orders, map[int]int{0: 10, 1: 5})
	produce(ctx, t, newWriter(t, src, srcClient, "payments"), map[int]int{0: 4, 1: 4})

	// Target cluster: MirrorMaker 2's offsets topic.
	tgt := newKfake(t)
	tgtClient := newClient(t, tgt)
	createTopic(ctx, t, tgtClient, offsetsTopic, 5, true)
	assertCompacted(ctx, t, tgtClient, offsetsTopic)
	ow := newWriter(t, tgt, tgtClient, offsetsTopic)

	const msc = "MirrorSourceConnector"
	recs := []kafka.Message{
		offsetRecord(msc, "dc1", "orders", 0, 3),
		offsetRecord(msc, "dc1", "orders", 1, 4),
		offsetRecord(msc, "dc1", "orders", 2, 5),
		offsetRecord(msc, "dc1", "payments", 0, 1),
		offsetRecord(msc, "dc1", "inventory", 0, 1), // not on the source cluster
		offsetRecord(msc, "dc2", "orders", 0, 0),    // another alias
		offsetRecord(msc, "dc1", "orders", 0, 7),    // latest wins
		tombstone(msc, "dc1", "orders", 2),          // reset
		offsetRecord("flow-a", "dc3", "orders", 0, 1),
		offsetRecord("flow-b", "dc3", "orders", 0, 2),
		// Other connectors of MirrorMaker 2 share the topic.
		{Key: []byte(`["MirrorCheckpointConnector",{"sourceClusterAlias":"dc1","targetClusterAlias":"dc2","group":"g1","topic":"orders","partition":0}]`), Value: []byte(`{"offset":0}`)},
		{Key: []byte(`["MirrorHeartbeatConnector",{"sourceClusterAlias":"dc1","targetClusterAlias":"dc2"}]`), Value: []byte(`{"offset":0}`)},
		// Malformed records are skipped.
		{Key: []byte(`not json`), Value: []byte(`{"offset":1}`)},
		{Key: []byte(`["MirrorSourceConnector",{"cluster":"dc1","partition":99999999999,"topic":"orders"}]`), Value: []byte(`{"offset":1}`)},
		{Key: offsetKey(msc, "dc1", "orders", 1), Value: []byte(`{"offset":"9"}`)},
	}
	// Many records for one key: the table must hold the last one as soon
	// as the reader says it is ready.
	for i := range 1000 {
		recs = append(recs, offsetRecord(msc, "dc1", "bulk", 0, int64(i)))
	}
	writeOffsets(ctx, t, ow, recs...)

	r := fastReader(tgtClient, offsetsTopic, log)
	ends := newLogEnds(t, src)
	s := NewSource(r, ends, "dc1", log)
	var clock tickClock

	if _, err := s.Collect(ctx, clock.next(), "orders"); !errors.Is(err, pipeline.ErrNotReady) {
		t.Fatalf("Collect before the reader ran: %v, want ErrNotReady", err)
	}

	startReader(t, r)
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if offs, _, ok, err := r.Offsets("dc1", "bulk", ""); err != nil || !ok || offs[0] != 999 {
		t.Fatalf("right after ready, bulk offsets = %v, %v, %v; want partition 0 at 999", offs, ok, err)
	}
	if got := r.Malformed(); got != 3 {
		t.Errorf("Malformed() = %d, want 3", got)
	}
	exposition := fmt.Sprintf(`# HELP lagship_mm2_malformed_records_total Records of the offsets topic that could not be decoded (skipped).
# TYPE lagship_mm2_malformed_records_total counter
lagship_mm2_malformed_records_total{topic=%q} 3
`, offsetsTopic)
	if err := testutil.CollectAndCompare(r, strings.NewReader(exposition), "lagship_mm2_malformed_records_total"); err != nil {
		t.Error(err)
	}

	tick := clock.next()
	tests := []struct {
		name    string
		src     pipeline.Source
		topic   string
		want    []int64
		group   string
		wantErr error
	}{
		// orders: ends 10,5,0; stored 7,4,reset.
		{name: "orders", src: s, topic: "orders", want: []int64{2, 0, pipeline.UnknownLag}, group: msc},
		// payments: ends 4,4; stored 1,none.
		{name: "payments", src: s, topic: "payments", want: []int64{2, pipeline.UnknownLag}, group: msc},
		{name: "no offsets", src: s, topic: "nooffsets", wantErr: pipeline.ErrNoOffsets},
		{name: "not on source", src: s, topic: "inventory", wantErr: pipeline.ErrTopicNotFound},
		{name: "other alias", src: NewSource(r, ends, "dc2", log), topic: "orders", want: []int64{9, pipeline.UnknownLag, pipeline.UnknownLag}, group: msc},
		{name: "named connector", src: NewSource(r, ends, "dc3", log, WithConnector("flow-b")), topic: "orders", want: []int64{7, pipeline.UnknownLag, pipeline.UnknownLag}, group: "flow-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.src.Collect(ctx, tick, tt.topic)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Collect = %+v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Lags, tt.want) || got.Group != tt.group {
				t.Errorf("Collect = %v group %q; want %v group %q", got.Lags, got.Group, tt.want, tt.group)
			}
		})
	}

	// Two connectors replicate dc3's orders: without a name it is an
	// error, not a state.
	if _, err := NewSource(r, ends, "dc3", log).Collect(ctx, tick, "orders"); err == nil || pipeline.IsState(err) || !strings.Contains(err.Error(), "flow-a") {
		t.Errorf("ambiguous connectors: %v, want an error naming them", err)
	}

	// New records on the source move the lag at the next tick.
	produce(ctx, t, orders, map[int]int{1: 3})
	got, err := s.Collect(ctx, clock.next(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{2, 3, pipeline.UnknownLag}; !slices.Equal(got.Lags, want) {
		t.Errorf("after producing 3 records to partition 1: %v, want %v", got.Lags, want)
	}

	// A new flushed offset moves it too.
	writeOffsets(ctx, t, ow, offsetRecord(msc, "dc1", "orders", 1, 6), offsetRecord(msc, "dc1", "orders", 2, 0))
	want := []int64{2, 1, 0}
	eventually(ctx, t, "the new offsets to be read", func() bool {
		got, err = s.Collect(ctx, clock.next(), "orders")
		return err == nil && slices.Equal(got.Lags, want)
	})

	// topics_regex: a topic appearing in the offsets topic is announced.
	re := regexp.MustCompile(`^(orders|ship.*)$`)
	changed := r.TopicsChanged()
	if got := r.Topics("dc1", re); !slices.Equal(got, []string{"orders"}) {
		t.Fatalf("Topics = %v, want [orders]", got)
	}
	if got := r.Topics("dc1", nil); !slices.Equal(got, []string{"bulk", "inventory", "orders", "payments"}) {
		t.Fatalf("Topics(nil) = %v", got)
	}
	writeOffsets(ctx, t, ow, offsetRecord(msc, "dc1", "shipments", 0, 0))
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no change announced for the new topic")
	}
	if got := r.Topics("dc1", re); !slices.Equal(got, []string{"orders", "shipments"}) {
		t.Fatalf("Topics after the new topic = %v, want [orders shipments]", got)
	}
	if got := r.Aliases(); !slices.Equal(got, []string{"dc1", "dc2", "dc3"}) {
		t.Errorf("Aliases = %v", got)
	}
}

func assertCompacted(ctx context.Context, t *testing.T, cl *kafka.Client, topic string) {
	t.Helper()
	res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range res.Resources {
		for _, e := range rs.ConfigEntries {
			if e.ConfigName == "cleanup.policy" && e.ConfigValue == "compact" {
				return
			}
		}
	}
	t.Fatalf("topic %s is not compacted: %+v", topic, res.Resources)
}

// logCounter counts log lines that contain a message.
type logCounter struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, msg) {
			n++
		}
	}
	return n
}

func TestReaderMissingTopic(t *testing.T) {
	ctx := testCtx(t)
	var logs logCounter
	log := zerolog.New(zerolog.MultiLevelWriter(&logs, zerolog.NewTestWriter(t)))
	tgt := newKfake(t)
	cl := newClient(t, tgt)
	r := fastReader(cl, offsetsTopic, log)
	s := NewSource(r, nil, "dc1", log)
	startReader(t, r)

	eventually(ctx, t, "several failed attempts", func() bool { return r.sessions.Load() >= 5 })
	if err := r.Err(); !errors.Is(err, ErrOffsetsTopicNotFound) {
		t.Fatalf("Err() = %v, want ErrOffsetsTopicNotFound", err)
	}
	if n := logs.count("cannot read offsets topic"); n != 1 {
		t.Errorf("missing topic logged %d times over %d attempts, want once", n, r.sessions.Load())
	}
	_, err := s.Collect(ctx, time.Now(), "orders")
	if !errors.Is(err, pipeline.ErrNotReady) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Collect while the topic is missing: %v, want ErrNotReady naming the cause", err)
	}

	createTopic(ctx, t, cl, offsetsTopic, 2, true)
	writeOffsets(ctx, t, newWriter(t, tgt, cl, offsetsTopic), offsetRecord("MirrorSourceConnector", "dc1", "orders", 0, 5))
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "the offset", func() bool {
		_, _, ok, _ := r.Offsets("dc1", "orders", "")
		return ok
	})
	if err := r.Err(); err != nil {
		t.Errorf("Err() after recovery = %v", err)
	}
	if n := logs.count("readable again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

func TestReaderEmptyTopicReadyAtOnce(t *testing.T) {
	ctx := testCtx(t)
	log := zerolog.New(zerolog.NewTestWriter(t))
	tgt := newKfake(t)
	cl := newClient(t, tgt)
	createTopic(ctx, t, cl, offsetsTopic, 3, true)
	r := fastReader(cl, offsetsTopic, log)
	changed := r.TopicsChanged()
	startReader(t, r)
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Topics("dc1", nil); len(got) != 0 {
		t.Fatalf("Topics = %v, want none", got)
	}
	writeOffsets(ctx, t, newWriter(t, tgt, cl, offsetsTopic), offsetRecord("MirrorSourceConnector", "dc1", "orders", 2, 0))
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no change announced")
	}
	if got := r.Topics("dc1", nil); !slices.Equal(got, []string{"orders"}) {
		t.Fatalf("Topics = %v, want [orders]", got)
	}
}

func TestLags(t *testing.T) {
	u := pipeline.UnknownLag
	tests := []struct {
		name   string
		ends   []int64
		stored map[int32]int64
		want   []int64
	}{
		{"exact", []int64{10, 5}, map[int32]int64{0: 7, 1: 4}, []int64{2, 0}},
		{"caught up past the end is zero", []int64{3}, map[int32]int64{0: 10}, []int64{0}},
		{"missing offset is unknown", []int64{3, 4}, map[int32]int64{1: 0}, []int64{u, 3}},
		{"unknown end is unknown", []int64{-1, 4}, map[int32]int64{0: 1, 1: 1}, []int64{u, 2}},
		{"partitions beyond the topic are ignored", []int64{4}, map[int32]int64{0: 0, 5: 1}, []int64{3}},
		{"empty topic", []int64{}, map[int32]int64{0: 1}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Lags(tt.ends, tt.stored); !slices.Equal(got, tt.want) {
				t.Errorf("Lags(%v, %v) = %v, want %v", tt.ends, tt.stored, got, tt.want)
			}
		})
	}
	if g := GroupName("", "dc1"); g != "dc1->target" {
		t.Errorf("GroupName fallback = %q", g)
	}
}
