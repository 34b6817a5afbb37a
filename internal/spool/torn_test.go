package spool

import (
	"os"
	"path/filepath"
	"testing"
)

// frameOff is the file offset of the i-th test frame of a segment.
func frameOff(i int) int64 { return segHeaderLen + int64(i)*testFrame }

func TestTornTail(t *testing.T) {
	const n = 10
	tests := []struct {
		name     string
		damage   func(t *testing.T, path string)
		good     int  // records still replayed
		torn     bool // reported as a torn tail
		tornFrom int64
	}{
		{name: "clean cut at a frame boundary", damage: truncateAt(frameOff(9)), good: 9},
		{name: "cut inside a frame header", damage: truncateAt(frameOff(9) + 5), good: 9, torn: true, tornFrom: frameOff(9)},
		{name: "cut inside a payload", damage: truncateAt(frameOff(9) + 100), good: 9, torn: true, tornFrom: frameOff(9)},
		{name: "cut one byte short", damage: truncateAt(frameOff(10) - 1), good: 9, torn: true, tornFrom: frameOff(9)},
		{name: "flipped CRC byte in the last frame", damage: flipAt(frameOff(9) + 5), good: 9, torn: true, tornFrom: frameOff(9)},
		{name: "flipped payload byte in a middle frame", damage: flipAt(frameOff(4) + 200), good: 4, torn: true, tornFrom: frameOff(4)},
		{name: "flipped length byte", damage: flipAt(frameOff(6)), good: 6, torn: true, tornFrom: frameOff(6)},
		{name: "impossible length", damage: writeAt(frameOff(9), []byte{0xff, 0xff, 0xff, 0xff}), good: 9, torn: true, tornFrom: frameOff(9)},
		{name: "zero length", damage: writeAt(frameOff(9), []byte{0, 0, 0, 0}), good: 9, torn: true, tornFrom: frameOff(9)},
		{name: "garbage after the last frame", damage: appendBytes([]byte("\x13\x00\x00\x00garbage")), good: 10, torn: true, tornFrom: frameOff(10)},
		{name: "zeros after the last frame", damage: appendBytes(make([]byte, 4096)), good: 10, torn: true, tornFrom: frameOff(10)},
		{name: "damaged segment header", damage: flipAt(1), good: 0, torn: true, tornFrom: 0},
		{name: "cut inside the segment header", damage: truncateAt(3), good: 0, torn: true, tornFrom: 0},
		{name: "empty file", damage: truncateAt(0), good: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 20}
			s, _ := openTest(t, dir, opts)
			mustAppend(t, s, testRecords(0, n)...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			files := segmentFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("segments = %v, want 1", files)
			}
			damaged := filepath.Join(dir, files[0])
			tt.damage(t, damaged)
			size := fileSize(t, damaged)

			s2, logs := openTest(t, dir, opts)
			st := s2.Stats()
			wantTorn, wantBytes := int64(0), int64(0)
			if tt.torn {
				wantTorn, wantBytes = 1, size-tt.tornFrom
				mustContain(t, logs.String(), "torn or corrupt tail")
			}
			if st.TornTails != wantTorn || st.TornBytes != wantBytes {
				t.Fatalf("Stats() torn tails %d (%d bytes), want %d (%d bytes); logs:\n%s", st.TornTails, st.TornBytes, wantTorn, wantBytes, logs)
			}
			if st.Pending != int64(tt.good) {
				t.Fatalf("Stats().Pending = %d, want %d", st.Pending, tt.good)
			}

			// New records go to a new segment, never after the damage.
			mustAppend(t, s2, testRecords(100, 103)...)
			if tt.good == 0 {
				// Nothing readable: the file is deleted on open.
				if _, err := os.Stat(damaged); !os.IsNotExist(err) {
					t.Fatalf("segment without a readable record still there: %v", err)
				}
			} else if got := fileSize(t, damaged); got != size {
				t.Fatalf("damaged segment grew from %d to %d bytes", size, got)
			}
			if got := segmentFiles(t, dir); len(got) < 1 || got[len(got)-1] == files[0] {
				t.Fatalf("segments after append = %v, want a new one after %s", got, files[0])
			}
			want := append(testRecords(0, tt.good), testRecords(100, 103)...)
			sameRecords(t, drain(t, s2, 4), want)
		})
	}
}

func TestCorruptOlderSegmentSkipsToNext(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10} // 12 records per segment
	s, _ := openTest(t, dir, opts)
	mustAppend(t, s, testRecords(0, 30)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	flipAt(frameOff(3)+4)(t, filepath.Join(dir, files[0])) // CRC of record 3

	s2, _ := openTest(t, dir, opts)
	want := append(testRecords(0, 3), testRecords(12, 30)...)
	sameRecords(t, drain(t, s2, 5), want)
	if got := s2.Stats().TornTails; got != 1 {
		t.Fatalf("Stats().TornTails = %d, want 1", got)
	}
}

// Damage that appears after Open scanned the segment is caught while
// replaying: the rest of the segment is skipped and appending moves on to a
// new segment.
func TestCorruptionFoundDuringReplay(t *testing.T) {
	dir := t.TempDir()
	s, logs := openTest(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 20})
	mustAppend(t, s, testRecords(0, 10)...)
	files := segmentFiles(t, dir)
	flipAt(frameOff(5)+50)(t, filepath.Join(dir, files[0]))

	b, err := s.Next(testCtx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, b.Records, testRecords(0, 5))
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.TornTails != 1 || st.Pending != 0 {
		t.Fatalf("Stats() = %+v, want 1 torn tail, nothing pending", st)
	}
	mustContain(t, logs.String(), "damaged after it was written")
	mustAppend(t, s, testRecords(10, 15)...)
	sameRecords(t, drain(t, s, 3), testRecords(10, 15))
	if got := segmentFiles(t, dir); len(got) != 1 || got[0] == files[0] {
		t.Fatalf("segments = %v, want only a new one", got)
	}
}

func truncateAt(size int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
	}
}

func flipAt(off int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x5a
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func writeAt(off int64, p []byte) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
}

func appendBytes(p []byte) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}
