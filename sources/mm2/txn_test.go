package mm2

import (
	"testing"

	"github.com/rs/zerolog"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Connect with exactly-once source support writes the offsets topic in
// transactions, so partitions end with transaction markers. The reader must
// step over them (never decoding them as records) and still become ready.
// kafka-go cannot produce transactionally, so franz-go writes the records;
// the reader under test still reads them with kafka-go.
func TestReaderTransactionMarkers(t *testing.T) {
	ctx := testCtx(t)
	log := zerolog.New(zerolog.NewTestWriter(t))
	tgt := newKfake(t)
	cl := newClient(t, tgt)
	createTopic(ctx, t, cl, offsetsTopic, 2, true)

	prod, err := kgo.NewClient(
		kgo.SeedBrokers(tgt.ListenAddrs()...),
		kgo.TransactionalID("connect-mm2-offsets"),
		kgo.DefaultProduceTopic(offsetsTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i, p := range []int32{0, 1, 0} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		rec := offsetRecord("MirrorSourceConnector", "dc1", "orders", int(p), int64(10*(i+1)))
		res := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Key: rec.Key, Value: rec.Value})
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}

	// Each partition ends with a commit marker.
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		offsetsTopic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, po := range lo.Topics[offsetsTopic] {
		if want := map[int]int64{0: 4, 1: 2}[po.Partition]; po.LastOffset != want {
			t.Fatalf("partition %d ends at %d, want %d (records and markers)", po.Partition, po.LastOffset, want)
		}
	}

	r := fastReader(cl, offsetsTopic, log)
	startReader(t, r)
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	offs, _, ok, err := r.Offsets("dc1", "orders", "")
	if err != nil || !ok || offs[0] != 30 || offs[1] != 20 {
		t.Fatalf("offsets = %v, %v, %v; want partition 0 at 30, 1 at 20", offs, ok, err)
	}
	if n := r.Malformed(); n != 0 {
		t.Errorf("%d transaction markers were decoded as records", n)
	}
}
