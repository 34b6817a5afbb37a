package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		want    Options
		wantErr string
	}{
		{name: "defaults", in: Options{}, want: Options{MaxBytes: 1 << 30, SegmentBytes: 16 << 20}},
		{name: "small max shrinks segments", in: Options{MaxBytes: 1 << 20}, want: Options{MaxBytes: 1 << 20, SegmentBytes: 256 << 10}},
		{name: "explicit", in: Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 20}, want: Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 20}},
		{name: "negative", in: Options{MaxBytes: -1}, wantErr: "negative"},
		{name: "segment above max", in: Options{MaxBytes: 1 << 20, SegmentBytes: 2 << 20}, wantErr: "exceeds max_bytes"},
		{name: "tiny segment", in: Options{SegmentBytes: 100}, wantErr: "below the minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("withDefaults(%+v) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("withDefaults(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestAppendReplayOrder(t *testing.T) {
	tests := []struct {
		name       string
		records    int
		segBytes   int64
		chunk      int // records per Append call
		batch      int // records per Next call
		minSegment int // segment files expected before replay
	}{
		{name: "one segment", records: 10, segBytes: 16 << 20, chunk: 1, batch: 3, minSegment: 1},
		{name: "many segments one by one", records: 200, segBytes: 4 << 10, chunk: 1, batch: 7, minSegment: 15},
		{name: "many segments bulk append", records: 500, segBytes: 4 << 10, chunk: 64, batch: 100, minSegment: 40},
		{name: "batch larger than spool", records: 50, segBytes: 4 << 10, chunk: 50, batch: 1000, minSegment: 4},
		{name: "flush threshold inside one append", records: 5000, segBytes: 8 << 20, chunk: 5000, batch: 999, minSegment: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openTest(t, dir, Options{MaxBytes: 64 << 20, SegmentBytes: tt.segBytes})
			want := testRecords(0, tt.records)
			for i := 0; i < len(want); i += tt.chunk {
				mustAppend(t, s, want[i:min(i+tt.chunk, len(want))]...)
			}
			st := s.Stats()
			if st.Segments < tt.minSegment || st.Segments != len(segmentFiles(t, dir)) {
				t.Fatalf("Stats().Segments = %d, files %v, want at least %d", st.Segments, segmentFiles(t, dir), tt.minSegment)
			}
			if st.Pending != int64(tt.records) || st.Unread != int64(tt.records) || st.Appended != int64(tt.records) || s.Len() != int64(tt.records) {
				t.Fatalf("Stats() = %+v, want %d pending, unread and appended", st, tt.records)
			}
			var onDisk int64
			for _, f := range segmentFiles(t, dir) {
				sz := fileSize(t, filepath.Join(dir, f))
				if sz > tt.segBytes {
					t.Errorf("segment %s is %d bytes, above SegmentBytes %d", f, sz, tt.segBytes)
				}
				onDisk += sz
			}
			if st.Bytes != onDisk {
				t.Fatalf("Stats().Bytes = %d, files hold %d", st.Bytes, onDisk)
			}
			sameRecords(t, drain(t, s, tt.batch), want)
			st = s.Stats()
			if st.Pending != 0 || st.Unread != 0 || st.Replayed != int64(tt.records) || st.Acked != int64(tt.records) {
				t.Fatalf("after drain Stats() = %+v", st)
			}
			// Only the segment being written may remain.
			if files := segmentFiles(t, dir); len(files) > 1 {
				t.Fatalf("after acking everything, segments left: %v", files)
			}
		})
	}
}

func TestAckDeletesOnlyFullyAckedSegments(t *testing.T) {
	dir := t.TempDir()
	// 12 frames of 319 bytes fit a 4 KiB segment (8 + 12*319 = 3836).
	const perSeg = 12
	s, _ := openTest(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	mustAppend(t, s, testRecords(0, 3*perSeg)...)
	files := segmentFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("segments = %v, want 3", files)
	}
	ctx := testCtx(t)

	steps := []struct {
		name  string
		n     int      // records to take and ack
		files []string // segment files expected afterwards
	}{
		{name: "all but one record of the first segment", n: perSeg - 1, files: files},
		{name: "last record of the first segment", n: 1, files: files[1:]},
		{name: "straddling into the third segment", n: perSeg + 2, files: files[2:]},
		// The third segment is still being written: it stays even when
		// every record in it is acknowledged.
		{name: "the open segment", n: perSeg - 2, files: files[2:]},
	}
	next, prev := 0, files
	for _, st := range steps {
		b, err := s.Next(ctx, st.n)
		if err != nil || len(b.Records) != st.n {
			t.Fatalf("%s: Next(%d) = %d records, %v", st.name, st.n, len(b.Records), err)
		}
		sameRecords(t, b.Records, testRecords(next, next+st.n))
		next += st.n
		// Handed out but not acknowledged: nothing is deleted.
		if got := segmentFiles(t, dir); !equalStrings(got, prev) {
			t.Fatalf("%s: before Ack segments = %v, want %v", st.name, got, prev)
		}
		if err := s.Ack(b); err != nil {
			t.Fatalf("%s: Ack: %v", st.name, err)
		}
		if got := segmentFiles(t, dir); !equalStrings(got, st.files) {
			t.Fatalf("%s: segments = %v, want %v", st.name, got, st.files)
		}
		prev = st.files
	}
	// Acking the same batch again, or an empty one, changes nothing.
	b, _ := s.Next(ctx, 10)
	if len(b.Records) != 0 {
		t.Fatalf("spool should be drained, got %d records", len(b.Records))
	}
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	// Rotation seals the fully acknowledged open segment and deletes it.
	mustAppend(t, s, testRecords(100, 100+perSeg+1)...)
	if got := segmentFiles(t, dir); len(got) != 2 || got[0] == files[2] {
		t.Fatalf("after rotation segments = %v, want the acked segment %s gone", got, files[2])
	}
	sameRecords(t, drain(t, s, 5), testRecords(100, 100+perSeg+1))
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRestartReplaysUnacked(t *testing.T) {
	const total = 50 // 12 records per segment: 5 segments
	tests := []struct {
		name     string
		acked    int  // records acknowledged before the stop
		inflight int  // records handed out by Next but not acknowledged
		crash    bool // stop without Close
	}{
		{name: "nothing acked", acked: 0},
		{name: "part of the first segment", acked: 5},
		{name: "exactly the first segment", acked: 12},
		{name: "into the third segment", acked: 29},
		{name: "everything", acked: total},
		{name: "in flight records are replayed", acked: 7, inflight: 20},
		{name: "crash with in flight records", acked: 13, inflight: 9, crash: true},
		{name: "crash before any ack", acked: 0, inflight: 30, crash: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10}
			s, _ := openTest(t, dir, opts)
			mustAppend(t, s, testRecords(0, total)...)
			ctx := testCtx(t)
			if tt.acked > 0 {
				b, err := s.Next(ctx, tt.acked)
				if err != nil || len(b.Records) != tt.acked {
					t.Fatalf("Next: %d records, %v", len(b.Records), err)
				}
				if err := s.Ack(b); err != nil {
					t.Fatal(err)
				}
			}
			if tt.inflight > 0 {
				if b, err := s.Next(ctx, tt.inflight); err != nil || len(b.Records) != tt.inflight {
					t.Fatalf("Next: %d records, %v", len(b.Records), err)
				}
			}
			if tt.crash {
				crash(s)
			} else if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			s2, _ := openTest(t, dir, opts)
			if got := s2.Len(); got != int64(total-tt.acked) {
				t.Fatalf("after restart Len() = %d, want %d", got, total-tt.acked)
			}
			sameRecords(t, drain(t, s2, 8), testRecords(tt.acked, total))
		})
	}
}

func TestCrashBetweenNextAndAckReplaysAgain(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTest(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	mustAppend(t, s, testRecords(0, 20)...)
	ctx := testCtx(t)
	b, err := s.Next(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	sent, err := s.Next(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, sent.Records, testRecords(10, 15))
	crash(s) // "sent" but never acknowledged

	s2, _ := openTest(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	again, err := s2.Next(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, again.Records, sent.Records)
	if err := s2.Ack(again); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, drain(t, s2, 3), testRecords(15, 20))
}

func TestRewind(t *testing.T) {
	s, _ := openTest(t, t.TempDir(), Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	mustAppend(t, s, testRecords(0, 30)...)
	ctx := testCtx(t)
	first, _ := s.Next(ctx, 4)
	if err := s.Ack(first); err != nil {
		t.Fatal(err)
	}
	// Two batches handed out, delivery failed: rewind gives them again.
	a, _ := s.Next(ctx, 10)
	b, _ := s.Next(ctx, 10)
	sameRecords(t, append(a.Records, b.Records...), testRecords(4, 24))
	if st := s.Stats(); st.Pending != 26 || st.Unread != 6 {
		t.Fatalf("Stats() = %+v, want 26 pending, 6 unread", st)
	}
	s.Rewind()
	if st := s.Stats(); st.Unread != 26 {
		t.Fatalf("after Rewind Stats().Unread = %d, want 26", st.Unread)
	}
	sameRecords(t, drain(t, s, 7), testRecords(4, 30))
	// Acking a batch from before the rewind is a harmless no-op.
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len() = %d after drain", s.Len())
	}
}

func TestAckIsCumulative(t *testing.T) {
	s, _ := openTest(t, t.TempDir(), Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	mustAppend(t, s, testRecords(0, 30)...)
	ctx := testCtx(t)
	a, _ := s.Next(ctx, 10)
	b, _ := s.Next(ctx, 10)
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	if got := s.Len(); got != 10 {
		t.Fatalf("Len() after acking the second batch = %d, want 10", got)
	}
	if err := s.Ack(a); err != nil { // older: no-op
		t.Fatal(err)
	}
	if got := s.Stats().Acked; got != 20 {
		t.Fatalf("Stats().Acked = %d, want 20", got)
	}
	other, _ := openTest(t, t.TempDir(), Options{})
	if err := other.Ack(b); err == nil {
		t.Fatal("a batch was acknowledged by another spool")
	}
}

func TestCorruptCursorReplaysEverything(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10}
	s, _ := openTest(t, dir, opts)
	mustAppend(t, s, testRecords(0, 20)...)
	b, _ := s.Next(testCtx(t), 5)
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, cursorFile)
	c, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c[7] ^= 0xff
	if err := os.WriteFile(path, c, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, logs := openTest(t, dir, opts)
	mustContain(t, logs.String(), "spool cursor unreadable")
	sameRecords(t, drain(t, s2, 6), testRecords(0, 20))
}

func TestCursorRoundTrip(t *testing.T) {
	for _, p := range []position{{seq: 1, off: segHeaderLen}, {seq: 1<<63 + 5, off: 1 << 40}} {
		got, err := decodeCursor(encodeCursor(p))
		if err != nil || got != p {
			t.Fatalf("decodeCursor(encodeCursor(%+v)) = %+v, %v", p, got, err)
		}
	}
	if _, err := decodeCursor([]byte("short")); err == nil {
		t.Fatal("decodeCursor accepted 5 bytes")
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTest(t, dir, Options{})
	if s2, err := Open(dir, Options{}, s.log); err == nil {
		s2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, _ := openTest(t, dir, Options{})
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "spool")
	openTest(t, dir, Options{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("spool dir mode = %o, want 700", perm)
	}
}

func TestClosed(t *testing.T) {
	s, _ := openTest(t, t.TempDir(), Options{})
	mustAppend(t, s, testRecord(1))
	b, err := s.Next(testCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append(testRecord(2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := s.Next(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := s.Ack(b); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ack after Close: %v", err)
	}
	if err := s.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
}

func TestRecordTooLarge(t *testing.T) {
	s, _ := openTest(t, t.TempDir(), Options{MaxBytes: 64 << 10, SegmentBytes: 16 << 10})
	big := Record{ID: "big", Body: make([]byte, 64<<10)}
	if err := s.Append(testRecord(1), big); err == nil || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("Append of a record larger than MaxBytes: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("a rejected Append stored %d records", s.Len())
	}
	// A record larger than a segment but within MaxBytes gets a segment of its own.
	large := Record{ID: "large", Body: make([]byte, 20<<10)}
	mustAppend(t, s, testRecord(1), large, testRecord(2))
	sameRecords(t, drain(t, s, 10), []Record{testRecord(1), large, testRecord(2)})
}

// A failed write (a full disk, here a descriptor that cannot write) is
// reported, the segment is sealed at its last good record, and the next
// Append starts a new segment.
func TestWriteErrorSealsSegment(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTest(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 64 << 10})
	mustAppend(t, s, testRecords(0, 5)...)
	broken, err := os.Open(s.wseg.path) // read-only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	s.w.Close()
	s.w = broken
	if err := s.Append(testRecord(5)); err == nil || !strings.Contains(err.Error(), "writing spool segment") {
		t.Fatalf("Append on a failing file: %v", err)
	}
	mustAppend(t, s, testRecords(6, 8)...)
	if files := segmentFiles(t, dir); len(files) != 2 {
		t.Fatalf("segments = %v, want the sealed one and a new one", files)
	}
	want := append(testRecords(0, 5), testRecords(6, 8)...)
	sameRecords(t, drain(t, s, 3), want)
	if st := s.Stats(); st.Appended != 7 || st.Pending != 0 {
		t.Fatalf("Stats() = %+v, want 7 appended, 0 pending", st)
	}
}
