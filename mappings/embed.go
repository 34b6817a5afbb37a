// Package mappings holds the Elasticsearch mapping of the consumer_lag index:
// the one source of truth for the field names documents carry.
package mappings

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
)

// JSON is mapping.json as embedded at build time: the body of the
// PUT /<index> request that creates the index.
//
//go:embed mapping.json
var JSON []byte

// Mapping is the parsed shape of a mapping file.
type Mapping struct {
	Mappings struct {
		DynamicTemplates []map[string]DynamicTemplate `json:"dynamic_templates"`
		Properties       map[string]Field             `json:"properties"`
	} `json:"mappings"`
}

// DynamicTemplate is one entry of dynamic_templates.
type DynamicTemplate struct {
	MatchPattern string `json:"match_pattern"`
	Match        string `json:"match"`
	Mapping      Field  `json:"mapping"`
}

// Field is the mapping of one field.
type Field struct {
	Type   string           `json:"type"`
	Fields map[string]Field `json:"fields,omitempty"`
}

// Parse parses a mapping file and checks it has properties.
func Parse(b []byte) (*Mapping, error) {
	var m Mapping
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parsing mapping: %w", err)
	}
	if len(m.Mappings.Properties) == 0 {
		return nil, fmt.Errorf("parsing mapping: no mappings.properties")
	}
	return &m, nil
}

// Default returns the embedded mapping, parsed.
func Default() *Mapping {
	m, err := Parse(JSON)
	if err != nil {
		panic("embedded mapping.json is invalid: " + err.Error())
	}
	return m
}

// TypeOf returns the type a field gets in this mapping: its explicit property
// or the first dynamic template that matches its name ("" when neither does).
func (m *Mapping) TypeOf(field string) string {
	if f, ok := m.Mappings.Properties[field]; ok {
		return f.Type
	}
	for _, dt := range m.Mappings.DynamicTemplates {
		for _, t := range dt {
			if t.MatchPattern == "regex" {
				if re, err := regexp.Compile(t.Match); err == nil && re.MatchString(field) {
					return t.Mapping.Type
				}
			}
		}
	}
	return ""
}
