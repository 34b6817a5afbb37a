// Command env is the environment of bench/run.sh: an in-process Kafka
// cluster (kfake) with a MirrorMaker-like layout and a fake Elasticsearch,
// plus a lagship config pointing at both. It counts the Kafka requests it
// receives by API key and prints them as JSON on stdout when it gets SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lagship/lagship/internal/testutil/esfake"
)

func main() {
	topics := flag.Int("topics", 300, "topics")
	partitions := flag.Int("partitions", 8, "partitions per topic")
	brokers := flag.Int("brokers", 3, "brokers")
	interval := flag.String("interval", "1s", "lagship interval")
	dir := flag.String("dir", os.TempDir(), "where to write lagship.yaml")
	flag.Parse()
	if err := run(*topics, *partitions, *brokers, *interval, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench env:", err)
		os.Exit(1)
	}
}

func run(nTopics, nParts, nBrokers int, interval, dir string) error {
	names := make([]string, nTopics)
	for i := range names {
		names[i] = fmt.Sprintf("mirror.topic-%03d", i)
	}
	kf, err := kfake.NewCluster(kfake.NumBrokers(nBrokers), kfake.SeedTopics(int32(nParts), names...))
	if err != nil {
		return err
	}
	defer kf.Close()
	ctx := context.Background()
	client := &kafkago.Client{Addr: kafkago.TCP(kf.ListenAddrs()...), Timeout: 30 * time.Second, Transport: &kafkago.Transport{}}
	commits := map[string][]kafkago.OffsetCommit{}
	for _, t := range names {
		for p := 0; p < nParts; p++ {
			recs := []kafkago.Record{{Value: kafkago.NewBytes([]byte("a"))}, {Value: kafkago.NewBytes([]byte("b"))}, {Value: kafkago.NewBytes([]byte("c"))}}
			if _, err := client.Produce(ctx, &kafkago.ProduceRequest{Topic: t, Partition: p, RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)}); err != nil {
				return fmt.Errorf("producing: %w", err)
			}
			commits[t] = append(commits[t], kafkago.OffsetCommit{Partition: p, Offset: int64(p % 3)})
		}
	}
	if _, err := client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "mirrormaker", GenerationID: -1, Topics: commits}); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	client.Transport.(*kafkago.Transport).CloseIdleConnections()

	var mu sync.Mutex
	counts := map[string]int{}
	for _, k := range []kmsg.Key{kmsg.ListOffsets, kmsg.Metadata, kmsg.OffsetFetch, kmsg.FindCoordinator, kmsg.ApiVersions, kmsg.Produce, kmsg.Fetch, kmsg.DescribeGroups} {
		kf.ControlKey(int16(k), func(req kmsg.Request) (kmsg.Response, error, bool) {
			kf.KeepControl()
			mu.Lock()
			counts[kmsg.NameForKey(req.Key())]++
			mu.Unlock()
			return nil, nil, false
		})
	}

	es := esfake.New()
	defer es.Close()
	var bulkBytes atomic.Int64 // bodies of _bulk requests, as sent
	es.OnRequest(func(endpoint string, r *http.Request) {
		if endpoint == esfake.EndpointBulk && r.ContentLength > 0 {
			bulkBytes.Add(r.ContentLength)
		}
	})

	cfgPath := filepath.Join(dir, "lagship.yaml")
	f, err := os.Create(cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "interval: %s\nelasticsearch:\n  addresses: [%q]\n  spool_dir: %q\nclusters:\n  - name: bench\n    brokers: [", interval, es.URL(), filepath.Join(dir, "spool"))
	for i, a := range kf.ListenAddrs() {
		if i > 0 {
			fmt.Fprint(f, ", ")
		}
		fmt.Fprintf(f, "%q", a)
	}
	fmt.Fprint(f, "]\nmirrors:\n  - name: bench\n    cluster: bench\n    group: mirrormaker\n    topics:\n")
	for _, t := range names {
		fmt.Fprintf(f, "      - %s\n", t)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "ready", cfgPath)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	mu.Lock()
	defer mu.Unlock()
	stored := es.Docs("consumer_lag")
	source := 0
	perTick := map[string]int{} // documents per @timestamp
	first, last := "", ""
	for _, d := range stored {
		source += len(d)
		var doc struct {
			Timestamp string `json:"@timestamp"`
		}
		if err := json.Unmarshal(d, &doc); err != nil {
			return fmt.Errorf("stored document: %w", err)
		}
		perTick[doc.Timestamp]++
		if first == "" || doc.Timestamp < first {
			first = doc.Timestamp
		}
		last = max(last, doc.Timestamp)
	}
	var partial []string // ticks without a document of every topic, and their documents
	for ts, n := range perTick {
		if n != nTopics {
			partial = append(partial, fmt.Sprintf("%s:%d", ts, n))
		}
	}
	sort.Strings(partial)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"kafka_requests": counts, "es_bulk_requests": es.Requests(esfake.EndpointBulk), "documents": len(stored),
		"es_bulk_bytes": bulkBytes.Load(), "document_source_bytes": source,
		"ticks": len(perTick), "partial_ticks": partial, "first_tick": first, "last_tick": last,
	})
}
