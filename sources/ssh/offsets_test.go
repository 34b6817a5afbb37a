package ssh

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lagship/lagship/pipeline"
)

const offsetsDir = "testdata/offsets"

// TestSampleOffsets reads the describe output under testdata/offsets and
// checks the lags and the committed and log-end offsets of each topic. u
// (parse_test.go) is -1: pipeline.UnknownLag and pipeline.UnknownOffset.
func TestSampleOffsets(t *testing.T) {
	tests := []struct {
		file, group, topic      string
		lags, committed, logEnd []int64
	}{
		// 2.3+ layout: a partition without a row (2), '-' for no committed
		// offset (orders 1) or no log end (payments 1), a negative LAG
		// (floored in the lag, offsets kept as printed) and a lag derived
		// from the offsets when LAG is '-' (payments 2).
		{"2.8-gaps-and-dashes", "", "orders",
			[]int64{50, u, u, 5}, []int64{1200, u, u, 40}, []int64{1250, 1000, u, 45}},
		{"2.8-gaps-and-dashes", "mm-dc1-to-dc2", "orders",
			[]int64{50, u, u, 5}, []int64{1200, u, u, 40}, []int64{1250, 1000, u, 45}},
		{"2.8-gaps-and-dashes", "", "payments",
			[]int64{0, u, 10}, []int64{1300, 70, 90}, []int64{1250, u, 100}},
		// 0.10.0: "unknown" and -1 for a missing committed offset.
		{"0.10.0-unknown", "", "orders",
			[]int64{50, u, u, 0}, []int64{1200, u, u, 300}, []int64{1250, 980, 300, 300}},
		// 0.10.2–2.2: no GROUP column, a consumer id run into HOST.
		{"0.10.2-no-group-column", "mm-dc1-to-dc2", "orders",
			[]int64{50, 20}, []int64{1200, 980}, []int64{1250, 1000}},
		// 4.0 --verbose: LEADER-EPOCH before CURRENT-OFFSET.
		{"4.0-verbose", "", "orders",
			[]int64{50, 20, u}, []int64{1200, 980, u}, []int64{1250, 1000, 400}},
		// Two groups: per group, the group's own rows; for any group, the
		// row with the larger lag gives both offsets, and where no row
		// knows the lag each offset comes from the first row knowing it.
		{"two-groups", "mm-a", "orders", []int64{50, u}, []int64{1200, u}, []int64{1250, 1000}},
		{"two-groups", "mm-b", "orders", []int64{150, u}, []int64{1100, 990}, []int64{1250, u}},
		{"two-groups", "", "orders", []int64{150, u}, []int64{1100, 990}, []int64{1250, 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.group+"/"+tt.topic, func(t *testing.T) {
			stdout, err := os.ReadFile(filepath.Join(offsetsDir, tt.file+".stdout"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Parse(stdout, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, found := res.Sample(tt.group, tt.topic)
			if !found {
				t.Fatal("topic not found")
			}
			if !slices.Equal(s.Lags, tt.lags) || !slices.Equal(s.Committed, tt.committed) || !slices.Equal(s.LogEnd, tt.logEnd) {
				t.Errorf("got lags %v committed %v log end %v\nwant lags %v committed %v log end %v",
					s.Lags, s.Committed, s.LogEnd, tt.lags, tt.committed, tt.logEnd)
			}
			lags, _ := res.Lags(tt.group, tt.topic)
			if !slices.Equal(lags, s.Lags) {
				t.Errorf("Lags = %v, Sample lags = %v", lags, s.Lags)
			}
			if _, found := res.Sample(tt.group, "absent"); found {
				t.Error("found a topic without rows")
			}
		})
	}
}

// Every captured describe run: the offsets line up with the lags, and the
// lags are those of Lags.
func TestSampleOffsetsOfFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		res, err := Parse(f.stdout, f.stderr)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		for _, row := range res.Rows {
			s, _ := res.Sample("", row.Topic)
			lags, _ := res.Lags("", row.Topic)
			if !slices.Equal(s.Lags, lags) || len(s.Committed) != len(lags) || len(s.LogEnd) != len(lags) {
				t.Fatalf("%s %s: sample %+v, lags %v", f.name, row.Topic, s, lags)
			}
			if row.Partition < 0 {
				continue
			}
			if c := s.Committed[row.Partition]; row.CurrentOffset >= 0 && c < 0 {
				t.Errorf("%s: row %+v: committed offset lost (%d)", f.name, row, c)
			}
			if e := s.LogEnd[row.Partition]; row.LogEndOffset >= 0 && e < 0 {
				t.Errorf("%s: row %+v: log-end offset lost (%d)", f.name, row, e)
			}
		}
	}
}

// Collect fills the offsets; the lags and the document are what they were
// without them.
func TestCollectOffsets(t *testing.T) {
	stdout, err := os.ReadFile(filepath.Join(offsetsDir, "2.8-gaps-and-dashes.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(_ context.Context, _ string, o, _ io.Writer) int {
		o.Write(stdout)
		return 0
	})
	src, err := NewSource(newPool(t), e.mirror("mm-dc1-to-dc2"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	s, err := src.Collect(testCtx(t), tick, "payments")
	if err != nil {
		t.Fatal(err)
	}
	want := pipeline.Sample{Lags: []int64{0, u, 10}, Committed: []int64{1300, 70, 90}, LogEnd: []int64{1250, u, 100}}
	if !slices.Equal(s.Lags, want.Lags) || !slices.Equal(s.Committed, want.Committed) || !slices.Equal(s.LogEnd, want.LogEnd) {
		t.Fatalf("sample %+v, want %+v", s, want)
	}
	target := pipeline.Target{Mirror: "m", Topic: "payments", Group: "mm-dc1-to-dc2"}
	got, err := json.Marshal(pipeline.NewDoc(tick, target, s))
	if err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(pipeline.NewDoc(tick, target, pipeline.Sample{Lags: want.Lags}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, old) {
		t.Errorf("document changed by the offsets:\n%s\nwas:\n%s", got, old)
	}
}
