package pipeline

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// benchDoc is a document of a 12-partition topic, one partition unknown.
func benchDoc() Doc {
	lags := make([]int64, 12)
	for p := range lags {
		lags[p] = int64(p * 1009)
	}
	lags[5] = UnknownLag
	return Doc{
		Timestamp: time.Date(2026, 11, 22, 1, 2, 10, 0, time.UTC),
		Target:    Target{Mirror: "mm-dc1-to-dc2", Topic: "orders.eu-west", Group: "mirrormaker-dc1-to-dc2", Cluster: "dc1", Method: "native"},
		Lags:      lags,
	}
}

// naiveJSON is the obvious encoding: a map with one key per field, p0..pN
// among them, through encoding/json.
func naiveJSON(d *Doc) ([]byte, error) {
	m := make(map[string]any, 10+len(d.Lags))
	m["@timestamp"] = d.Timestamp.UTC().Format(TimestampLayout)
	m["topic"] = d.Topic
	m["mirror"] = d.Mirror
	m["group"] = d.Group
	m["cluster"] = d.Cluster
	m["method"] = d.Method
	for p, l := range d.Lags {
		if l >= 0 {
			m["p"+strconv.Itoa(p)] = l
		}
	}
	total, maxLag, _ := d.Summary()
	m["total_lag"] = total
	m["max_lag"] = maxLag
	m["partition_count"] = len(d.Lags)
	return json.Marshal(m)
}

// TestNaiveJSONSameDocument: the two benchmarks below encode the same
// document, field order aside.
func TestNaiveJSONSameDocument(t *testing.T) {
	d := benchDoc()
	naive, err := naiveJSON(&d)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal(d.AppendJSON(nil), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(naive, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("documents differ:\nAppendJSON %s\nnaive      %s", ja, jb)
	}
}

// BenchmarkDocAppendJSON is lagship's encoder, into a reused buffer as the
// Elasticsearch sink uses it.
func BenchmarkDocAppendJSON(b *testing.B) {
	d := benchDoc()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = d.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkDocEncodingJSONMap is the naive encoder it replaces.
func BenchmarkDocEncodingJSONMap(b *testing.B) {
	d := benchDoc()
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, err = naiveJSON(&d); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(out)))
}
