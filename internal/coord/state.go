package coord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// StateTopic names the group's shared state topic: <group>.state.
func StateTopic(group string) string { return group + stateSuffix }

// State is the group's shared key-value state in a compacted Kafka topic of
// one partition: every agent can read all of it, a key's last record is its
// value and a record without a value deletes the key. It is where state
// that must follow a unit to its next owner lives (a notifier's open
// incidents, keyed by unit): the owner writes, a new owner reads before it
// acts. Writes of one key come from its unit's owner only; the state is
// small (it is read whole).
type State struct {
	client *kafka.Client
	topic  string
}

// NewState returns the state of group on the cluster client reaches.
func NewState(client *kafka.Client, group string) *State {
	return &State{client: client, topic: StateTopic(group)}
}

// Topic is the state topic's name.
func (s *State) Topic() string { return s.topic }

// Ensure creates the topic (compacted, one partition, the broker's
// replication factor) unless it exists.
func (s *State) Ensure(ctx context.Context) error {
	res, err := s.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: s.topic, NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil {
		return fmt.Errorf("creating state topic %q: %w", s.topic, err)
	}
	if err := res.Errors[s.topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating state topic %q: %w (create it compacted with one partition, or grant lagship Create on it)", s.topic, err)
	}
	return nil
}

// Put sets key to value; a nil value deletes the key.
func (s *State) Put(ctx context.Context, key string, value []byte) error {
	rec := kafka.Record{Key: kafka.NewBytes([]byte(key))}
	if value != nil {
		rec.Value = kafka.NewBytes(value)
	}
	res, err := s.client.Produce(ctx, &kafka.ProduceRequest{Topic: s.topic, Partition: 0, RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(rec)})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return fmt.Errorf("writing %q to state topic %q: %w", key, s.topic, err)
	}
	return nil
}

// Load reads the whole state as of now: every key's last value.
func (s *State) Load(ctx context.Context) (map[string][]byte, error) {
	lo, err := s.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{s.topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)}}})
	if err != nil {
		return nil, fmt.Errorf("listing offsets of state topic %q: %w", s.topic, err)
	}
	parts := lo.Topics[s.topic]
	if len(parts) != 1 || parts[0].Error != nil {
		var perr error
		if len(parts) == 1 {
			perr = parts[0].Error
		}
		return nil, fmt.Errorf("listing offsets of state topic %q: %v", s.topic, perr)
	}
	next, end := parts[0].FirstOffset, parts[0].LastOffset
	out := map[string][]byte{}
	for next < end {
		res, err := s.client.Fetch(ctx, &kafka.FetchRequest{Topic: s.topic, Partition: 0, Offset: next, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
		if err == nil && res.Error != nil {
			err = res.Error
		}
		if err != nil {
			return nil, fmt.Errorf("reading state topic %q at offset %d: %w", s.topic, next, err)
		}
		before := next
		if res.Records != nil {
			for {
				rec, err := res.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("reading state topic %q at offset %d: %w", s.topic, next, err)
				}
				if rec.Offset < next {
					continue
				}
				next = rec.Offset + 1
				if rec.Key == nil {
					continue
				}
				k, err := readAll(rec.Key)
				if err != nil {
					return nil, err
				}
				if rec.Value == nil {
					delete(out, string(k))
					continue
				}
				v, err := readAll(rec.Value)
				if err != nil {
					return nil, err
				}
				out[string(k)] = v
			}
		}
		if next == before {
			// Nothing visible at or after next below the high
			// watermark (compacted away, control batches).
			next = max(next+1, min(res.HighWatermark, end))
		}
	}
	return out, nil
}

func readAll(b kafka.Bytes) ([]byte, error) {
	defer b.Close()
	v, err := io.ReadAll(b)
	if err != nil {
		return nil, fmt.Errorf("reading a state record: %w", err)
	}
	return v, nil
}
