package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
)

// The two requests of every tick, ListOffsets and OffsetFetch, carry every
// watched partition, so their encoding and decoding is most of the agent's
// own work. kafka-go's protocol package encodes and decodes through
// reflection and allocates a struct per partition; this file writes the
// requests and reads the answers directly, for the versions below, which
// both it and kafka-go speak (ListOffsets v1-v5, OffsetFetch v0-v5, none of
// them flexible); negotiateVersions keeps every connection within them.
// Metadata, FindCoordinator and the connection set-up still go through
// kafka-go: they are rare.

// Version ranges this file encodes and decodes.
const (
	listOffsetsMinVersion = 1
	listOffsetsMaxVersion = 5
	offsetFetchMinVersion = 0
	offsetFetchMaxVersion = 5
)

// codecRange returns the versions of key this file encodes and decodes;
// ok is false for the keys kafka-go encodes.
func codecRange(key protocol.ApiKey) (lo, hi int16, ok bool) {
	switch key {
	case protocol.ListOffsets:
		return listOffsetsMinVersion, listOffsetsMaxVersion, true
	case protocol.OffsetFetch:
		return offsetFetchMinVersion, offsetFetchMaxVersion, true
	}
	return 0, 0, false
}

// maxResponseSize bounds the size a broker may announce for one answer
// (Kafka's own socket.request.max.bytes default is 100 MiB).
const maxResponseSize = 100 << 20

// errShort means an answer ended in the middle of a field.
var errShort = errors.New("truncated response")

// appendRequestHeader starts a request frame: a size placeholder, then the
// request header v1 (api key, version, correlation id, client id). The
// caller appends the body and calls finishFrame.
func appendRequestHeader(b []byte, key protocol.ApiKey, version int16, correlationID int32, clientID string) []byte {
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	return appendWireString(b, clientID)
}

// finishFrame writes the size of the frame that starts at b[0].
func finishFrame(b []byte) []byte {
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func appendWireString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendInt32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }

func appendInt64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }

// appendListOffsets appends the body of req at version v.
func appendListOffsets(b []byte, v int16, req *listoffsets.Request) ([]byte, error) {
	if v < listOffsetsMinVersion || v > listOffsetsMaxVersion {
		return b, fmt.Errorf("unsupported ListOffsets version: v%d not in range v%d-v%d", v, listOffsetsMinVersion, listOffsetsMaxVersion)
	}
	b = appendInt32(b, req.ReplicaID)
	if v >= 2 {
		b = append(b, byte(req.IsolationLevel))
	}
	b = appendInt32(b, int32(len(req.Topics)))
	for i := range req.Topics {
		t := &req.Topics[i]
		b = appendWireString(b, t.Topic)
		b = appendInt32(b, int32(len(t.Partitions)))
		for _, p := range t.Partitions {
			b = appendInt32(b, p.Partition)
			if v >= 4 {
				b = appendInt32(b, p.CurrentLeaderEpoch)
			}
			b = appendInt64(b, p.Timestamp)
		}
	}
	return b, nil
}

// appendOffsetFetch appends the body of req at version v. The topic list is
// always sent (never null, which would ask for every topic of the group).
func appendOffsetFetch(b []byte, v int16, req *offsetfetch.Request) ([]byte, error) {
	if v < offsetFetchMinVersion || v > offsetFetchMaxVersion {
		return b, fmt.Errorf("unsupported OffsetFetch version: v%d not in range v%d-v%d", v, offsetFetchMinVersion, offsetFetchMaxVersion)
	}
	b = appendWireString(b, req.GroupID)
	b = appendInt32(b, int32(len(req.Topics)))
	for i := range req.Topics {
		t := &req.Topics[i]
		b = appendWireString(b, t.Name)
		b = appendInt32(b, int32(len(t.PartitionIndexes)))
		for _, p := range t.PartitionIndexes {
			b = appendInt32(b, p)
		}
	}
	return b, nil
}

// reader reads the fields of one answer. The first error sticks; every read
// after it returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) int16() int16 {
	if len(r.b) < 2 {
		r.fail(errShort)
		return 0
	}
	v := int16(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *reader) int32() int32 {
	if len(r.b) < 4 {
		r.fail(errShort)
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *reader) int64() int64 {
	if len(r.b) < 8 {
		r.fail(errShort)
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// bytes returns a nullable string's bytes without copying them (nil for
// null). They alias the answer's buffer.
func (r *reader) bytes() []byte {
	n := int(r.int16())
	if n < 0 || r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// arrayLen reads an array length; null (-1) counts as empty. Each element
// takes at least minSize bytes, which bounds a length a corrupt answer
// could announce.
func (r *reader) arrayLen(minSize int) int {
	n := int(r.int32())
	if n <= 0 || r.err != nil {
		return 0
	}
	if n > len(r.b)/minSize {
		r.fail(errShort)
		return 0
	}
	return n
}

// done returns the first error. Bytes after the last field are ignored, as
// kafka-go's decoder does.
func (r *reader) done() error { return r.err }

// listOffsetsPartition is one partition of a ListOffsets answer.
type listOffsetsPartition struct {
	Partition int32
	ErrorCode int16
	Offset    int64
}

// parseListOffsets reads a ListOffsets answer body at version v (after the
// correlation id) and calls fn for every partition, in order. topic aliases
// body: copy it to keep it.
func parseListOffsets(body []byte, v int16, fn func(topic []byte, p listOffsetsPartition)) error {
	if v < listOffsetsMinVersion || v > listOffsetsMaxVersion {
		return fmt.Errorf("unsupported ListOffsets version: v%d", v)
	}
	r := reader{b: body}
	if v >= 2 {
		r.int32() // throttle_time_ms
	}
	partSize := 4 + 2 + 8 + 8
	if v >= 4 {
		partSize += 4
	}
	for range r.arrayLen(2 + 4) {
		topic := r.bytes()
		for range r.arrayLen(partSize) {
			var p listOffsetsPartition
			p.Partition = r.int32()
			p.ErrorCode = r.int16()
			r.int64() // timestamp
			p.Offset = r.int64()
			if v >= 4 {
				r.int32() // leader_epoch
			}
			if r.err != nil {
				break
			}
			fn(topic, p)
		}
	}
	if err := r.done(); err != nil {
		return fmt.Errorf("decoding ListOffsets v%d response: %w", v, err)
	}
	return nil
}

// offsetFetchPartition is one partition of an OffsetFetch answer.
type offsetFetchPartition struct {
	Partition int32
	Committed int64
	ErrorCode int16
}

// parseOffsetFetch reads an OffsetFetch answer body at version v (after the
// correlation id), calls fn for every partition, in order, and returns the
// group-level error code (0 before v2, which has none). topic aliases body.
func parseOffsetFetch(body []byte, v int16, fn func(topic []byte, p offsetFetchPartition)) (int16, error) {
	if v < offsetFetchMinVersion || v > offsetFetchMaxVersion {
		return 0, fmt.Errorf("unsupported OffsetFetch version: v%d", v)
	}
	r := reader{b: body}
	if v >= 3 {
		r.int32() // throttle_time_ms
	}
	partSize := 4 + 8 + 2 + 2
	if v >= 5 {
		partSize += 4
	}
	for range r.arrayLen(2 + 4) {
		topic := r.bytes()
		for range r.arrayLen(partSize) {
			var p offsetFetchPartition
			p.Partition = r.int32()
			p.Committed = r.int64()
			if v >= 5 {
				r.int32() // committed_leader_epoch
			}
			r.bytes() // metadata
			p.ErrorCode = r.int16()
			if r.err != nil {
				break
			}
			fn(topic, p)
		}
	}
	var code int16
	if v >= 2 {
		code = r.int16()
	}
	if err := r.done(); err != nil {
		return 0, fmt.Errorf("decoding OffsetFetch v%d response: %w", v, err)
	}
	return code, nil
}
