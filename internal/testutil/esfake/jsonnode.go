package esfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kObject
	kArray
)

// node is a parsed JSON value that keeps object keys in order and the input
// offset where the value ends, so errors can name a position as
// Elasticsearch does ([line:column]).
type node struct {
	kind kind
	b    bool
	s    string // string value, or the number's literal
	keys []string
	vals []*node
	end  int64
}

// parseJSON parses exactly one JSON value. Like Elasticsearch (strict
// duplicate detection on), it refuses duplicate keys and trailing content.
func parseJSON(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readNode(dec, 0)
	if err != nil {
		return nil, &jsonError{pos: position(data, dec.InputOffset()), msg: err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &jsonError{pos: position(data, dec.InputOffset()), msg: "Malformed content, found extra data after parsing"}
	}
	return n, nil
}

// jsonError is a syntax error with its [line:column].
type jsonError struct{ pos, msg string }

func (e *jsonError) Error() string { return "[" + e.pos + "] " + e.msg }

// maxDepth is the nesting limit of Elasticsearch's JSON parser.
const maxDepth = 1000

func readNode(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("Document nesting depth exceeds the maximum allowed (%d)", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("Unexpected end-of-input")
		}
		return nil, err
	}
	return nodeFrom(dec, tok, depth)
}

func nodeFrom(dec *json.Decoder, tok json.Token, depth int) (*node, error) {
	n := &node{}
	switch v := tok.(type) {
	case nil:
		n.kind = kNull
	case bool:
		n.kind, n.b = kBool, v
	case json.Number:
		n.kind, n.s = kNumber, string(v)
	case string:
		n.kind, n.s = kString, v
	case json.Delim:
		switch v {
		case '{':
			n.kind = kObject
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("unexpected token %v, expected a field name", kt)
				}
				if seen[k] {
					return nil, fmt.Errorf("Duplicate field '%s'", k)
				}
				seen[k] = true
				val, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
		case '[':
			n.kind = kArray
			for dec.More() {
				val, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected %q", rune(v))
		}
	}
	n.end = dec.InputOffset()
	return n, nil
}

// get returns the value of key in an object node.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// value converts the node to the encoding/json generic form (numbers stay
// json.Number so they are echoed exactly).
func (n *node) value() any {
	switch n.kind {
	case kBool:
		return n.b
	case kNumber:
		return json.Number(n.s)
	case kString:
		return n.s
	case kObject:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = n.vals[i].value()
		}
		return m
	case kArray:
		a := make([]any, len(n.vals))
		for i, v := range n.vals {
			a[i] = v.value()
		}
		return a
	}
	return nil
}

// preview renders a value as Elasticsearch's "Preview of field's value".
func (n *node) preview() string {
	switch n.kind {
	case kString, kNumber:
		return n.s
	case kBool:
		return fmt.Sprint(n.b)
	case kNull:
		return "null"
	}
	b, _ := json.Marshal(n.value())
	return string(b)
}

func (k kind) token() string {
	return [...]string{"VALUE_NULL", "VALUE_BOOLEAN", "VALUE_NUMBER", "VALUE_STRING", "START_OBJECT", "START_ARRAY"}[k]
}

// position renders an input offset as line:column (1-based).
func position(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line, col = line+1, 1
			continue
		}
		col++
	}
	return fmt.Sprintf("%d:%d", line, col)
}
