package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/delivery"
	"github.com/lagship/lagship/sinks/stdout"
)

//go:embed demo.yaml
var demoYAML []byte

// demoTopics are the topics the demo cluster holds. orders-v2 is there to
// show that orders never picks it up.
var demoTopics = map[string]int{"orders": 6, "payments": 3, "clicks": 12, "orders-v2": 2}

func cmdDemo(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	var lf logFlags
	lf.register(fs)
	setDefault(fs, "log-format", "console") // a terminal, not a log shipper
	esURL := fs.String("es", "", "also index into the Elasticsearch at `URL` (e.g. http://localhost:9200); default: print only")
	asJSON := fs.Bool("json", false, "print documents as JSON lines instead of one line each")
	duration := fs.Duration("duration", 0, "stop after this long (0 = until Ctrl-C)")
	log, err := lf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(-1, "orders", "payments", "clicks", "orders-v2"))
	if err != nil {
		return fmt.Errorf("starting the in-process Kafka cluster: %w", err)
	}
	defer cluster.Close()
	addrs := cluster.ListenAddrs()
	sim := newMirrorSim(addrs, log)
	if err := sim.setup(ctx); err != nil {
		return err
	}
	simCtx, stopSim := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sim.run(simCtx) }()
	defer func() { stopSim(); wg.Wait() }()

	spoolDir, err := os.MkdirTemp("", "lagship-demo-spool-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spoolDir)
	receiver, err := startDemoReceiver(stderr)
	if err != nil {
		return err
	}
	defer receiver.Close()
	env := map[string]string{"DEMO_BROKER_1": addrs[0], "DEMO_BROKER_2": addrs[1], "DEMO_BROKER_3": addrs[2],
		"DEMO_ES_URL": "http://localhost:9200", "DEMO_SPOOL_DIR": spoolDir,
		"DEMO_NOTIFY_URL": "http://" + receiver.Addr().String() + "/hook"}
	if *esURL != "" {
		env["DEMO_ES_URL"] = *esURL
	}
	cfg, err := config.Parse("demo.yaml (embedded)", demoYAML, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return err
	}
	format := stdout.Lines
	if *asJSON {
		format = stdout.JSON
	}
	printer := stdout.New(out, format)
	log.Info().Strs("brokers", addrs).Msg("demo: in-process Kafka cluster with topics orders(6) payments(3) clicks(12) orders-v2(2); " +
		"mirror mm-demo: orders falls further behind (WARN), payments and clicks lag in a wave (OK while catching up, WARN while falling behind), " +
		"clicks partition 11 has no committed offset (unknown lag); mirror mm-stuck: a live consumer that never commits on payments (STALL after about 5 s). " +
		"Statuses appear once the 10 s window has a few observations; the STALL is notified to a receiver the demo runs, which prints it")
	// The stuck mirror's consumer: it joins its group and heartbeats, and
	// never commits.
	stuck := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: addrs, GroupID: "mirrormaker-stuck", Topic: "payments",
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, MaxWait: 500 * time.Millisecond,
	})
	defer stuck.Close()
	return runAgent(ctx, cfg, log, agentOptions{
		grace:           10 * time.Second,
		fastCommitsDemo: true,
		onHTTP: func(u string) {
			fmt.Fprintf(stderr, "\n  status page: %s   (also %smetrics, %sstatus, %shealthz, %sreadyz)\n\n", u, u, u, u, u)
		},
		newSink: func(ctx context.Context, c *config.Config) (pipeline.Sink, error) {
			if *esURL == "" {
				return printer, nil
			}
			es, err := newESSink(ctx, c, log)
			if err != nil {
				return nil, err
			}
			return delivery.Fanout{printer, es}, nil
		},
	})
}

// mirrorSim produces records into the demo topics and commits offsets for a
// MirrorMaker-like group whose lag swells and shrinks over a minute.
type mirrorSim struct {
	client   *kafkago.Client
	log      zerolog.Logger
	produced map[string][]int64
	start    time.Time
}

func newMirrorSim(addrs []string, log zerolog.Logger) *mirrorSim {
	return &mirrorSim{
		client:   &kafkago.Client{Addr: kafkago.TCP(addrs...), Timeout: 5 * time.Second, Transport: &kafkago.Transport{}},
		log:      log,
		produced: map[string][]int64{},
	}
}

func (m *mirrorSim) setup(ctx context.Context) error {
	var topics []kafkago.TopicConfig
	for t, n := range demoTopics {
		topics = append(topics, kafkago.TopicConfig{Topic: t, NumPartitions: n, ReplicationFactor: 1})
		m.produced[t] = make([]int64, n)
	}
	// SeedTopics created them with the default partition count; recreate
	// the layout the demo wants.
	if _, err := m.client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{"orders", "payments", "clicks", "orders-v2"}}); err != nil {
		return fmt.Errorf("demo: deleting seed topics: %w", err)
	}
	res, err := m.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("demo: creating topics: %w", err)
	}
	for t, err := range res.Errors {
		if err != nil {
			return fmt.Errorf("demo: creating %s: %w", t, err)
		}
	}
	// A backlog, so that the group's committed offsets never go below 0
	// while its lag swells.
	for topic, parts := range m.produced {
		for p := range parts {
			recs := make([]kafkago.Record, 300)
			for j := range recs {
				recs[j] = kafkago.Record{Value: kafkago.NewBytes([]byte(topic))}
			}
			if _, err := m.client.Produce(ctx, &kafkago.ProduceRequest{Topic: topic, Partition: p, RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)}); err != nil {
				return fmt.Errorf("demo: producing the backlog of %s: %w", topic, err)
			}
			parts[p] = int64(len(recs))
		}
	}
	m.start = time.Now()
	// The stuck mirror committed once, long ago.
	stuck := make([]kafkago.OffsetCommit, demoTopics["payments"])
	for p := range stuck {
		stuck[p] = kafkago.OffsetCommit{Partition: p, Offset: 0}
	}
	if _, err := m.client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "mirrormaker-stuck", GenerationID: -1, Topics: map[string][]kafkago.OffsetCommit{"payments": stuck}}); err != nil {
		return fmt.Errorf("demo: committing for mirrormaker-stuck: %w", err)
	}
	return nil
}

func (m *mirrorSim) run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.step(ctx, i); err != nil && ctx.Err() == nil {
			m.log.Warn().Err(err).Msg("demo producer")
		}
	}
}

// step produces a few records per partition and commits the group's
// offsets behind the log end by a lag that follows a slow wave.
func (m *mirrorSim) step(ctx context.Context, i int) error {
	phase := math.Sin(2 * math.Pi * time.Since(m.start).Seconds() / 60)
	commits := map[string][]kafkago.OffsetCommit{}
	for topic, parts := range m.produced {
		for p := range parts {
			n := 1 + (p+i)%4
			recs := make([]kafkago.Record, n)
			for j := range recs {
				recs[j] = kafkago.Record{Value: kafkago.NewBytes([]byte(fmt.Sprintf("%s-%d-%d", topic, p, parts[p]+int64(j))))}
			}
			res, err := m.client.Produce(ctx, &kafkago.ProduceRequest{Topic: topic, Partition: p, RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)})
			if err != nil {
				return err
			}
			if res.Error != nil {
				return res.Error
			}
			parts[p] += int64(n)
			if topic == "orders-v2" || (topic == "clicks" && p == 11) {
				continue // never mirrored: unknown lag / not configured
			}
			lag := int64(float64(10+p*7) * (1.2 + phase))
			if topic == "orders" {
				lag = int64(10 + p*7 + i) // falls further behind every step
			}
			commits[topic] = append(commits[topic], kafkago.OffsetCommit{Partition: p, Offset: max(parts[p]-lag, 0)})
		}
	}
	_, err := m.client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "mirrormaker-demo", GenerationID: -1, Topics: commits})
	return err
}

// startDemoReceiver serves the demo's notifier on a free port of this
// machine and prints each notification it receives. Close stops it.
func startDemoReceiver(out io.Writer) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: notification receiver: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			Event, Mirror, Topic, Status string
			Previous                     string `json:"previous_status"`
			TotalLag                     int64  `json:"total_lag"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&n); err != nil {
			http.Error(w, "not a notification", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(out, "\n  notification received: %s %s/%s %s (was %s), total lag %d\n\n", n.Event, n.Mirror, n.Topic, n.Status, n.Previous, n.TotalLag)
	})}
	go func() { _ = srv.Serve(ln) }()
	return ln, nil
}
