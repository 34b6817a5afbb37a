package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/pipeline"
)

func docs() []pipeline.Doc {
	ts := time.Date(2026, 11, 22, 1, 2, 10, 0, time.UTC)
	return []pipeline.Doc{
		{Timestamp: ts, Target: pipeline.Target{Mirror: "m", Topic: "orders", Group: "g", Method: "native"}, Lags: []int64{3, pipeline.UnknownLag, 5}},
		{Timestamp: ts, Target: pipeline.Target{Mirror: "m", Topic: "payments", Group: "g", Method: "native"}, Lags: []int64{0}},
	}
}

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	s := New(&out, JSON)
	if err := s.Write(context.Background(), docs()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", out.String())
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &v); err != nil || v["p2"] != 5.0 || v["total_lag"] != 8.0 {
		t.Errorf("line %s: %v", lines[0], err)
	}
	if _, ok := v["p1"]; ok {
		t.Error("unknown lag printed")
	}
}

func TestTable(t *testing.T) {
	var out bytes.Buffer
	s := New(&out, Table)
	_ = s.Write(context.Background(), docs())
	if out.Len() != 0 {
		t.Fatal("table printed before Close")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "2026-11-22T01:02:10.000Z  m       orders    g      native  -       3           8          5        -         3 - 5"
	if !strings.Contains(out.String(), want) || !strings.HasPrefix(out.String(), "TIMESTAMP") {
		t.Errorf("table:\n%s", out.String())
	}
	// A judged document shows its status and time lag.
	out.Reset()
	d := docs()[:1]
	d[0].Status, d[0].MaxTimeLag, d[0].HasTimeLag = "STALL", 12.5, true
	_ = s.Write(context.Background(), d)
	_ = s.Close(context.Background())
	if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), "native STALL 3 8 5 12.5s 3 - 5") {
		t.Errorf("judged row:\n%s", out.String())
	}
}
