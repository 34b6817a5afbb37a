package mappings_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lagship/lagship/mappings"
	"github.com/lagship/lagship/pipeline"
)

// Every field a document carries is in the mapping, with a type that fits
// its value; nothing is left to dynamic mapping (which would make strings
// text and break Kibana's aggregations).
func TestDocumentFieldsAreMapped(t *testing.T) {
	lags := make([]int64, 40) // beyond the explicit p0..p17: the dynamic template
	for i := range lags {
		lags[i] = int64(i) << 32 // above 2^31: needs long
	}
	d := pipeline.Doc{
		Timestamp: time.Now(),
		Target:    pipeline.Target{Mirror: "m", Topic: "t", Group: "g", Cluster: "c", Method: "native"},
		Lags:      lags,
	}
	b, _ := d.MarshalJSON()
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	m := mappings.Default()
	for name, v := range fields {
		typ := m.TypeOf(name)
		switch v.(type) {
		case string:
			if name == "@timestamp" {
				if typ != "date" {
					t.Errorf("%s is %q, want date", name, typ)
				}
			} else if typ != "keyword" {
				t.Errorf("%s is %q, want keyword", name, typ)
			}
		case float64:
			if typ != "long" && !(name == "partition_count" && typ == "integer") {
				t.Errorf("%s is %q, want long", name, typ)
			}
		default:
			t.Errorf("%s has unexpected JSON type %T", name, v)
		}
	}
	if m.TypeOf("p123") != "long" || m.TypeOf("px") != "" || m.TypeOf("topic") != "keyword" {
		t.Error("dynamic template does not cover exactly p<digits>")
	}
}

func TestParse(t *testing.T) {
	if _, err := mappings.Parse([]byte(`{"mappings":{}}`)); err == nil {
		t.Error("mapping without properties accepted")
	}
	if _, err := mappings.Parse([]byte(`not json`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}
