package mm2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Kind says what a record of a Connect offsets topic holds.
type Kind int

const (
	// KindOther is a well-formed record of another connector (checkpoints,
	// heartbeats, anything that is not a mirrored partition). It is ignored.
	KindOther Kind = iota
	// KindMirror is the progress of a MirrorSourceConnector on one source
	// partition.
	KindMirror
)

func (k Kind) String() string {
	switch k {
	case KindMirror:
		return "mirror"
	case KindOther:
		return "other"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Entry is one decoded record of the offsets topic.
type Entry struct {
	Connector string // connector name, first element of the key
	Alias     string // source cluster alias ("cluster" in the key)
	Topic     string // source topic
	Partition int32  // source partition
	// Offset is the source offset of the last record the connector copied.
	// It is meaningless when Tombstone is set.
	Offset int64
	// Tombstone marks a deleted key: the stored offset was reset.
	Tombstone bool
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed offsets record")

// Decode decodes one record of a Connect offsets topic.
//
// The key is Connect's JSON encoding (schemas off) of the pair
// [connector name, source partition map]. A MirrorSourceConnector's partition
// map has exactly the fields "cluster", "topic" and "partition"; any other
// map belongs to another connector and gives KindOther with only Connector
// set. For KindMirror the value is {"offset":N}; a nil value or JSON null is a
// tombstone.
//
// Anything else (not JSON, wrong shapes, numbers out of range, negative
// offsets) is an error wrapping ErrMalformed.
func Decode(key, value []byte) (Entry, Kind, error) {
	var e Entry
	if key == nil {
		return e, KindOther, fmt.Errorf("%w: no key", ErrMalformed)
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(key, &pair); err != nil {
		return e, KindOther, fmt.Errorf("%w: key: %v", ErrMalformed, err)
	}
	if len(pair) != 2 {
		return e, KindOther, fmt.Errorf("%w: key has %d elements, want 2", ErrMalformed, len(pair))
	}
	var name *string
	if err := json.Unmarshal(pair[0], &name); err != nil || name == nil {
		return e, KindOther, fmt.Errorf("%w: key: connector name is not a string", ErrMalformed)
	}
	e.Connector = *name
	var part map[string]json.RawMessage
	if err := json.Unmarshal(pair[1], &part); err != nil || part == nil {
		return e, KindOther, fmt.Errorf("%w: key: source partition of connector %q is not an object", ErrMalformed, e.Connector)
	}
	if !isMirrorPartition(part) {
		return e, KindOther, nil
	}

	var alias, topic *string
	var partition *int64
	if err := json.Unmarshal(part["cluster"], &alias); err != nil || alias == nil || *alias == "" {
		return e, KindOther, fmt.Errorf("%w: key: cluster is not a non-empty string", ErrMalformed)
	}
	if err := json.Unmarshal(part["topic"], &topic); err != nil || topic == nil || *topic == "" {
		return e, KindOther, fmt.Errorf("%w: key: topic is not a non-empty string", ErrMalformed)
	}
	if err := json.Unmarshal(part["partition"], &partition); err != nil || partition == nil ||
		*partition < 0 || *partition > math.MaxInt32 {
		return e, KindOther, fmt.Errorf("%w: key: partition is not an integer in [0, %d]", ErrMalformed, math.MaxInt32)
	}
	e.Alias, e.Topic, e.Partition = *alias, *topic, int32(*partition)

	if value == nil || bytes.Equal(bytes.TrimSpace(value), []byte("null")) {
		e.Tombstone = true
		return e, KindMirror, nil
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(value, &v); err != nil || v == nil {
		return e, KindOther, fmt.Errorf("%w: value of %s/%s/%d is not a JSON object", ErrMalformed, e.Alias, e.Topic, e.Partition)
	}
	var off *int64
	if err := json.Unmarshal(v["offset"], &off); err != nil || off == nil || *off < 0 {
		return e, KindOther, fmt.Errorf("%w: value of %s/%s/%d: offset is not a non-negative 64-bit integer", ErrMalformed, e.Alias, e.Topic, e.Partition)
	}
	e.Offset = *off
	return e, KindMirror, nil
}

// isMirrorPartition reports whether a source partition map has the shape a
// MirrorSourceConnector writes: exactly cluster, topic and partition.
func isMirrorPartition(m map[string]json.RawMessage) bool {
	if len(m) != 3 {
		return false
	}
	for _, k := range [...]string{"cluster", "topic", "partition"} {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}
