// Package kibana holds lagship's Kibana saved objects (a data view, Lens
// charts and a dashboard over the consumer_lag index) and imports them
// through Kibana's saved objects API.
//
// The bundle is written in the Kibana 7.17 export format: every object
// carries a migrationVersion map and coreMigrationVersion "7.17.0", and Lens
// state uses the "indexpattern" datasource. Kibana 7.17 and every 8.x release
// migrate such objects on import. Object ids are fixed, so importing again
// with overwrite replaces the objects instead of duplicating them.
package kibana

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed lagship.ndjson
var bundle []byte

// Ids of the objects in the bundle.
const (
	IndexPatternID = "lagship-consumer-lag"
	DashboardID    = "lagship-consumer-lag-dashboard"
)

// IndexPatternTitle is the pattern the data view matches.
const IndexPatternTitle = "consumer_lag*"

// Bundle returns the saved objects as NDJSON, one object a line, ready for
// POST /api/saved_objects/_import. The caller gets its own copy.
func Bundle() []byte {
	return bytes.Clone(bundle)
}

// Object is one saved object of the bundle.
type Object struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Attributes is the type-specific body, kept raw: dashboards and
	// visualizations nest JSON documents in string fields.
	Attributes           json.RawMessage   `json:"attributes"`
	References           []Reference       `json:"references"`
	MigrationVersion     map[string]string `json:"migrationVersion"`
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

// Objects parses the bundle.
func Objects() ([]Object, error) {
	return parseObjects(bundle)
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
