// Package kibana holds lagship's Kibana saved objects (a data view, Lens
// charts, a table, a guide and a dashboard over the consumer_lag index) and
// imports them through Kibana's saved objects API.
//
// The objects come in two formats, generated from the same definitions:
//
//   - Format717, the Kibana 7.17 export format: every object carries a
//     migrationVersion map and coreMigrationVersion "7.17.0", and Lens state
//     uses the "indexpattern" datasource. Kibana 7.17 and every 8.x release
//     import it and migrate the objects.
//   - Format8, the 8.x export format: coreMigrationVersion "8.8.0" and a
//     typeMigrationVersion per object, Lens state under "formBased", and a
//     dashboard with options-list controls for mirror and topic. Kibana 8.9
//     and later (8.19 and every 9.x) import it.
//
// Kibana imports saved objects from its own major or the previous one, so
// Format717 cannot be relied on in 9.x and Format8 is refused by 7.x.
// FormatFor picks the format for a Kibana version and Install reads the
// version from the server. Object ids are fixed, so importing again with
// overwrite replaces the objects instead of duplicating them.
package kibana

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// Format is a saved-object export format.
type Format string

// The formats the objects come in.
const (
	Format717 Format = "7.17"
	Format8   Format = "8"
)

// Formats lists every format, oldest first.
var Formats = []Format{Format717, Format8}

var (
	//go:embed lagship-7.17.ndjson
	bundle717 []byte
	//go:embed lagship-8.ndjson
	bundle8 []byte
)

// ParseFormat reads a format name: "7.17" or "8" ("8.x" and "8.19" are
// accepted for the latter).
func ParseFormat(s string) (Format, error) {
	switch strings.TrimSpace(s) {
	case "7.17", "7":
		return Format717, nil
	case "8", "8.x", "8.19":
		return Format8, nil
	}
	return "", fmt.Errorf("unknown saved-object format %q: use 7.17 (Kibana 7.17 and 8.x) or 8 (Kibana 8.9 and later, 9.x)", s)
}

// Covers says which Kibana versions import the format.
func (f Format) Covers() string {
	switch f {
	case Format717:
		return "Kibana 7.17 and 8.x"
	case Format8:
		return "Kibana 8.9 to 8.19 and 9.x"
	}
	return "no Kibana"
}

// Bundle returns the saved objects of format f as NDJSON, one object a
// line, ready for POST /api/saved_objects/_import; nil for an unknown
// format. The caller gets its own copy.
func Bundle(f Format) []byte {
	switch f {
	case Format717:
		return bytes.Clone(bundle717)
	case Format8:
		return bytes.Clone(bundle8)
	}
	return nil
}

// Ids of the objects in the bundles.
const (
	IndexPatternID = "lagship-consumer-lag"
	DashboardID    = "lagship-consumer-lag-dashboard"
)

// IndexPatternTitle is the pattern the data view matches.
const IndexPatternTitle = "consumer_lag*"

// Object is one saved object of a bundle.
type Object struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Attributes is the type-specific body, kept raw: dashboards and
	// visualizations nest JSON documents in string fields.
	Attributes           json.RawMessage   `json:"attributes"`
	References           []Reference       `json:"references"`
	MigrationVersion     map[string]string `json:"migrationVersion,omitempty"`
	TypeMigrationVersion string            `json:"typeMigrationVersion,omitempty"`
	CoreMigrationVersion string            `json:"coreMigrationVersion"`
}

// Reference points from one saved object to another.
type Reference struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// Title returns the object's attributes.title ("" when it has none).
func (o Object) Title() string {
	var a struct {
		Title string `json:"title"`
	}
	if json.Unmarshal(o.Attributes, &a) != nil {
		return ""
	}
	return a.Title
}

// Objects parses the bundle of format f.
func Objects(f Format) ([]Object, error) {
	b := Bundle(f)
	if b == nil {
		return nil, fmt.Errorf("unknown saved-object format %q", f)
	}
	return parseObjects(b)
}

// parseObjects parses NDJSON saved objects: one JSON object a line, blank
// lines skipped. Every object needs an id, a type and attributes.
func parseObjects(b []byte) ([]Object, error) {
	var objs []Object
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var o Object
		dec := json.NewDecoder(bytes.NewReader(text))
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("saved objects line %d: %w", line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("saved objects line %d: trailing data after the object", line)
		}
		switch {
		case o.ID == "":
			return nil, fmt.Errorf("saved objects line %d: no id", line)
		case o.Type == "":
			return nil, fmt.Errorf("saved objects line %d (id %q): no type", line, o.ID)
		case len(o.Attributes) == 0 || o.Attributes[0] != '{':
			return nil, fmt.Errorf("saved objects line %d (%s %q): attributes is not an object", line, o.Type, o.ID)
		}
		objs = append(objs, o)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("saved objects line %d: %w", line+1, err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("saved objects: no objects")
	}
	return objs, nil
}
