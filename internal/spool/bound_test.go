package spool

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestFullSpoolDropsOldest(t *testing.T) {
	const maxBytes = 16 << 10
	tests := []struct {
		name  string
		total int
		chunk int
		acked int // records acknowledged before the spool fills
	}{
		{name: "one by one", total: 200, chunk: 1},
		{name: "bulk", total: 300, chunk: 50},
		{name: "partly acknowledged head", total: 200, chunk: 1, acked: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, logs := openTest(t, dir, Options{MaxBytes: maxBytes, SegmentBytes: 4 << 10})
			mustAppend(t, s, testRecords(0, tt.acked)...)
			if tt.acked > 0 {
				b, err := s.Next(testCtx(t), tt.acked)
				if err != nil || len(b.Records) != tt.acked {
					t.Fatalf("Next: %d, %v", len(b.Records), err)
				}
				if err := s.Ack(b); err != nil {
					t.Fatal(err)
				}
			}
			for i := tt.acked; i < tt.total; i += tt.chunk {
				mustAppend(t, s, testRecords(i, min(i+tt.chunk, tt.total))...)
				st := s.Stats()
				if st.Bytes > maxBytes {
					t.Fatalf("after %d records Stats().Bytes = %d, above MaxBytes", i, st.Bytes)
				}
				var onDisk int64
				for _, f := range segmentFiles(t, dir) {
					onDisk += fileSize(t, filepath.Join(dir, f))
				}
				if onDisk != st.Bytes {
					t.Fatalf("segments hold %d bytes, Stats().Bytes = %d", onDisk, st.Bytes)
				}
			}
			st := s.Stats()
			if st.Dropped == 0 {
				t.Fatalf("nothing dropped: %+v", st)
			}
			if st.Appended != st.Acked+st.Dropped+st.Pending {
				t.Fatalf("appended %d != acked %d + dropped %d + pending %d", st.Appended, st.Acked, st.Dropped, st.Pending)
			}
			mustContain(t, logs.String(), "spool full: dropped the oldest records")
			mustContain(t, logs.String(), `"dropped_records":`)
			// The newest records survive, in order, without a gap.
			first := tt.total - int(st.Pending)
			sameRecords(t, drain(t, s, 9), testRecords(first, tt.total))
		})
	}
}

// The segment being written is dropped only when it is the only one.
func TestFullSpoolDropsOnlySegment(t *testing.T) {
	dir := t.TempDir()
	s, logs := openTest(t, dir, Options{MaxBytes: 4096, SegmentBytes: 4096})
	// 8 (segment header) + 3767 = 3775 bytes; the next 321-byte frame fits
	// the segment (4096) but not MaxBytes once a new header is reserved.
	first := Record{ID: "a", Body: bytes.Repeat([]byte{'1'}, 3757)}
	second := Record{ID: "b", Body: bytes.Repeat([]byte{'2'}, 311)}
	if frameLen(first) != 3767 || frameLen(second) != 321 {
		t.Fatalf("frame sizes %d, %d", frameLen(first), frameLen(second))
	}
	mustAppend(t, s, first)
	before := segmentFiles(t, dir)
	mustAppend(t, s, second)
	after := segmentFiles(t, dir)
	if len(after) != 1 || after[0] == before[0] {
		t.Fatalf("segments %v -> %v, want the only segment replaced", before, after)
	}
	if st := s.Stats(); st.Dropped != 1 || st.Pending != 1 {
		t.Fatalf("Stats() = %+v, want 1 dropped, 1 pending", st)
	}
	mustContain(t, logs.String(), `"dropped_records":1`)
	sameRecords(t, drain(t, s, 5), []Record{second})
}

// A batch whose segment was dropped before its Ack: the Ack is ignored and
// replay goes on with the oldest remaining record.
func TestDropWhileBatchInFlight(t *testing.T) {
	s, _ := openTest(t, t.TempDir(), Options{MaxBytes: 16 << 10, SegmentBytes: 4 << 10})
	mustAppend(t, s, testRecords(0, 20)...)
	b, err := s.Next(testCtx(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, testRecords(20, 60)...)
	st := s.Stats()
	if st.Dropped == 0 {
		t.Fatalf("nothing dropped: %+v", st)
	}
	if err := s.Ack(b); err != nil {
		t.Fatalf("Ack of a dropped batch: %v", err)
	}
	if got := s.Stats(); got.Pending != st.Pending || got.Acked != 0 {
		t.Fatalf("Ack of a dropped batch changed %+v into %+v", st, got)
	}
	first := 60 - int(st.Pending)
	sameRecords(t, drain(t, s, 7), testRecords(first, 60))
}

// Lowering MaxBytes below what a previous run left makes the next append
// drop old segments until the spool fits.
func TestLowerMaxBytesOnRestart(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTest(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	mustAppend(t, s, testRecords(0, 100)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, logs := openTest(t, dir, Options{MaxBytes: 16 << 10, SegmentBytes: 4 << 10})
	if got := s2.Len(); got != 100 {
		t.Fatalf("after restart Len() = %d, want 100", got)
	}
	mustAppend(t, s2, testRecord(100))
	st := s2.Stats()
	if st.Bytes > 16<<10 || st.Dropped == 0 || st.Dropped+st.Pending != 101 {
		t.Fatalf("Stats() = %+v", st)
	}
	if !strings.Contains(logs.String(), "spool full") {
		t.Fatalf("drop not logged:\n%s", logs)
	}
	sameRecords(t, drain(t, s2, 10), testRecords(101-int(st.Pending), 101))
}
