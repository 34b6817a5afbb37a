package coord

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Member metadata and assignments travel in the UserData of Kafka's
// consumer-protocol subscription and assignment, in lagship's own compact
// format: a format byte, then length-prefixed strings and counts
// (uvarints). Decoders check every length against what is left, so a
// corrupt or hostile payload costs an error, never a panic or a huge
// allocation.

const (
	metaFormat   = 1
	assignFormat = 1
	// deflated is the format byte of a payload that is one of the above
	// compressed with DEFLATE (after its own format byte). A payload
	// larger than deflateOver is sent so: the group's metadata, every
	// member's subscription and assignment, is one record of the
	// broker's __consumer_offsets, whose size limit (message.max.bytes,
	// 1 MiB by default) large estates would reach with plain unit keys.
	// Smaller payloads stay plain, readable by agents before this format.
	deflated    = 2
	deflateOver = 4 << 10
	// maxInflated bounds an inflated payload, against a hostile one.
	maxInflated = 64 << 20
	// maxString bounds one decoded string (a unit key, a host name).
	maxString = 64 << 10
)

// Meta is what a member tells the group about itself when it joins.
type Meta struct {
	Host    string
	Version string
	// Hash is the hash of the member's effective config: the leader
	// gives units only to members whose hash equals its own.
	Hash string
	// Owned are the units the member held before this rebalance, so the
	// leader can keep them where they are.
	Owned []string
	// Weights are the owned units' weights as the member measured them
	// (partitions collected), one per Owned unit; nil when not known.
	Weights []int
}

// MemberView is one member in an assignment's view of the group.
type MemberView struct {
	ID      string `json:"id"`
	Host    string `json:"host"`
	Version string `json:"version"`
	Hash    string `json:"config_hash"`
	Units   int    `json:"units"`
	// Owned lists the member's units when the leader sent them (small
	// groups); nil otherwise.
	Owned []string `json:"owned,omitempty"`
}

// Assignment is what the leader sends each member: its own units and the
// group as the leader saw it.
type Assignment struct {
	LeaderHash string
	Units      []string
	Members    []MemberView
}

// MarshalMeta encodes m.
func MarshalMeta(m Meta) []byte {
	b := []byte{metaFormat}
	b = putString(b, m.Host)
	b = putString(b, m.Version)
	b = putString(b, m.Hash)
	b = putStrings(b, m.Owned)
	b = binary.AppendUvarint(b, uint64(len(m.Weights)))
	for _, w := range m.Weights {
		b = binary.AppendUvarint(b, uint64(max(w, 0)))
	}
	return deflate(b)
}

// deflate returns b, or b compressed under the deflated format byte when
// it is larger than deflateOver.
func deflate(b []byte) []byte {
	if len(b) <= deflateOver {
		return b
	}
	var out bytes.Buffer
	out.WriteByte(deflated)
	out.WriteByte(b[0])
	w, _ := flate.NewWriter(&out, flate.BestCompression) // a valid level: no error
	_, _ = w.Write(b[1:])                                // a bytes.Buffer does not fail
	_ = w.Close()
	return out.Bytes()
}

// inflate returns the plain payload of b (b itself when not deflated).
func inflate(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != deflated {
		return b, nil
	}
	r := flate.NewReader(bytes.NewReader(b[2:]))
	defer r.Close()
	plain := []byte{b[1]}
	out := bytes.NewBuffer(plain)
	n, err := out.ReadFrom(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("inflating: %w", err)
	}
	if n > maxInflated {
		return nil, fmt.Errorf("inflated payload larger than %d bytes", maxInflated)
	}
	return out.Bytes(), nil
}

// UnmarshalMeta decodes what MarshalMeta encoded.
func UnmarshalMeta(b []byte) (Meta, error) {
	var m Meta
	b, err := inflate(b)
	if err != nil {
		return m, fmt.Errorf("decoding member metadata: %w", err)
	}
	d := decoder{b: b}
	if f := d.byte(); d.err == nil && f != metaFormat {
		return m, fmt.Errorf("member metadata format %d (this agent reads %d)", f, metaFormat)
	}
	m.Host = d.string()
	m.Version = d.string()
	m.Hash = d.string()
	m.Owned = d.strings()
	if n := d.count(1); n > 0 {
		m.Weights = make([]int, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			m.Weights = append(m.Weights, int(d.uvarint(1<<31)))
		}
	}
	if d.err == nil && m.Weights != nil && len(m.Weights) != len(m.Owned) {
		d.err = fmt.Errorf("%d weights for %d owned units", len(m.Weights), len(m.Owned))
	}
	d.end()
	if d.err != nil {
		return Meta{}, fmt.Errorf("decoding member metadata: %w", d.err)
	}
	return m, nil
}

// MarshalAssignment encodes a.
func MarshalAssignment(a Assignment) []byte {
	b := []byte{assignFormat}
	b = putString(b, a.LeaderHash)
	b = putStrings(b, a.Units)
	b = binary.AppendUvarint(b, uint64(len(a.Members)))
	for _, m := range a.Members {
		b = putString(b, m.ID)
		b = putString(b, m.Host)
		b = putString(b, m.Version)
		b = putString(b, m.Hash)
		b = binary.AppendUvarint(b, uint64(m.Units))
		b = putStrings(b, m.Owned)
	}
	return deflate(b)
}

// UnmarshalAssignment decodes what MarshalAssignment encoded. An empty
// payload is an empty assignment (the coordinator sends one to a member
// the leader left out).
func UnmarshalAssignment(b []byte) (Assignment, error) {
	var a Assignment
	if len(b) == 0 {
		return a, nil
	}
	b, err := inflate(b)
	if err != nil {
		return a, fmt.Errorf("decoding assignment: %w", err)
	}
	d := decoder{b: b}
	if f := d.byte(); d.err == nil && f != assignFormat {
		return a, fmt.Errorf("assignment format %d (this agent reads %d)", f, assignFormat)
	}
	a.LeaderHash = d.string()
	a.Units = d.strings()
	n := d.count(5) // each member takes at least five bytes
	for i := 0; i < n && d.err == nil; i++ {
		var m MemberView
		m.ID = d.string()
		m.Host = d.string()
		m.Version = d.string()
		m.Hash = d.string()
		m.Units = int(d.uvarint(1 << 31))
		m.Owned = d.strings()
		a.Members = append(a.Members, m)
	}
	d.end()
	if d.err != nil {
		return Assignment{}, fmt.Errorf("decoding assignment: %w", d.err)
	}
	return a, nil
}

func putString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func putStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = putString(b, s)
	}
	return b
}

var errShort = errors.New("truncated")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	if v > limit {
		d.err = fmt.Errorf("value %d over %d", v, limit)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items of at least min bytes each, bounded by
// what is left.
func (d *decoder) count(min int) int {
	n := d.uvarint(uint64(len(d.b)))
	if d.err == nil && int(n)*min > len(d.b) {
		d.err = fmt.Errorf("%d items in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint(maxString)
	if d.err != nil {
		return ""
	}
	if int(n) > len(d.b) {
		d.err = errShort
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.string())
	}
	return out
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the end", len(d.b))
	}
}
