package spool

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMissingSegmentLogged: a segment deleted by hand between two runs
// loses its records; Open says so once, with the segment ids and about how
// many records, and the rest is replayed.
func TestMissingSegmentLogged(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ackSome bool // a cursor exists (some records were acknowledged)
	}{{"no cursor", false}, {"with cursor", true}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentBytes: 4096}
			per := int((4096 - segHeaderLen) / testFrame)
			s, _ := openTest(t, dir, opts)
			if err := s.Append(testRecords(0, 5*per)...); err != nil {
				t.Fatal(err)
			}
			if tt.ackSome {
				b, err := s.Next(testCtx(t), 3)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Ack(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
			if len(segs) != 5 {
				t.Fatalf("%d segments, want 5", len(segs))
			}
			if err := os.Remove(segs[2]); err != nil {
				t.Fatal(err)
			}
			s2, logs := openTest(t, dir, opts)
			if n := strings.Count(logs.String(), "spool segments are missing"); n != 1 {
				t.Fatalf("%d gap lines, want 1:\n%s", n, logs)
			}
			for _, want := range []string{`"first_missing":3`, `"last_missing":3`, `"records_lost_about":` + strconv.Itoa(per)} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("gap line lacks %s:\n%s", want, logs)
				}
			}
			if st := s2.Stats(); st.MissingSegments != 1 {
				t.Errorf("MissingSegments = %d", st.MissingSegments)
			}
			got := drain(t, s2, 100)
			want := 4 * per
			if tt.ackSome {
				want -= 3
			}
			if len(got) != want {
				t.Errorf("replayed %d records, want %d", len(got), want)
			}
		})
	}
}
