package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

var update = flag.Bool("update", false, "rewrite testdata/*.seg golden files")

// goldenRecords are the records of testdata/golden.seg.
var goldenRecords = []Record{
	{ID: "dc1/orders/1763769600000", Body: []byte(`{"@timestamp":"2025-11-22T00:00:00.000Z","mirror":"dc1","topic":"orders","total_lag":42}`)},
	{ID: "", Body: nil},
	{ID: "x", Body: []byte("{}")},
	{ID: "dc1/payments/1763769660000", Body: bytes.Repeat([]byte("a"), 200)},
}

// TestSegmentFormatGolden pins the on-disk format: a spool written by one
// version of lagship must be readable by the next. Run with -update only
// for a deliberate format change (and bump segVersion).
func TestSegmentFormatGolden(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(goldenRecords...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "00000000000000000001.seg"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.seg")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("segment bytes differ from %s (run with -update after a deliberate format change):\ngot  %x\nwant %x", golden, got, want)
	}

	// And the golden file reads back as the records.
	var back []Record
	res, err := readSegment(bytes.NewReader(want), int64(len(want)), func(_ int64, id, body []byte) {
		back = append(back, Record{ID: string(id), Body: bytes.Clone(body)})
	})
	if err != nil || res.corrupt != nil || res.end != int64(len(want)) {
		t.Fatalf("readSegment(golden) = %+v, %v", res, err)
	}
	sameRecords(t, back, goldenRecords)
}

// FuzzReadSegment feeds arbitrary bytes as a segment file, first to the
// frame scanner and then to a whole spool: neither may panic, and every
// record either returns must sit in a frame whose CRC verifies.
func FuzzReadSegment(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.seg"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-3])
		flipped := bytes.Clone(b)
		flipped[segHeaderLen+5] ^= 1
		f.Add(flipped)
	}
	f.Add([]byte{})
	f.Add([]byte(segMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			recs []Record
			next = int64(segHeaderLen)
		)
		res, err := readSegment(bytes.NewReader(data), int64(len(data)), func(off int64, id, body []byte) {
			if off != next {
				t.Fatalf("frame at %d, want %d", off, next)
			}
			checkFrame(t, data, off, id, body)
			next = off + frameHeaderLen + int64(binary.LittleEndian.Uint32(data[off:]))
			recs = append(recs, Record{ID: string(id), Body: bytes.Clone(body)})
		})
		if err != nil {
			t.Fatalf("readSegment on a byte slice: %v", err)
		}
		if res.records != len(recs) {
			t.Fatalf("result says %d records, callback saw %d", res.records, len(recs))
		}
		if len(recs) > 0 && res.end != next {
			t.Fatalf("end %d, last frame ends at %d", res.end, next)
		}
		if res.end > int64(len(data)) {
			t.Fatalf("end %d beyond %d bytes", res.end, len(data))
		}
		if res.corrupt == nil && len(data) > 0 && res.end != int64(len(data)) {
			t.Fatalf("clean scan stopped at %d of %d bytes", res.end, len(data))
		}

		// The same bytes left in a spool directory by a "previous run".
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000007.seg"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{}, zerolog.Nop())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if got := s.Len(); got != int64(len(recs)) {
			t.Fatalf("Len() = %d, scanner found %d", got, len(recs))
		}
		if res.corrupt != nil && s.Stats().TornTails != 1 {
			t.Fatalf("corruption %v not counted: %+v", res.corrupt, s.Stats())
		}
		b, err := s.Next(t.Context(), len(recs)+1)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, b.Records, recs)
		if err := s.Ack(b); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	})
}

// checkFrame verifies, independently of frameReader, that a frame at off
// in data is well formed, its CRC matches and it holds id and body.
func checkFrame(t *testing.T, data []byte, off int64, id, body []byte) {
	t.Helper()
	if off+frameHeaderLen > int64(len(data)) {
		t.Fatalf("frame at %d overruns %d bytes", off, len(data))
	}
	n := int64(binary.LittleEndian.Uint32(data[off:]))
	if off+frameHeaderLen+n > int64(len(data)) {
		t.Fatalf("frame at %d of length %d overruns %d bytes", off, n, len(data))
	}
	payload := data[off+frameHeaderLen : off+frameHeaderLen+n]
	crc := binary.LittleEndian.Uint32(data[off+4:])
	if frameCRC(data[off:off+4], payload) != crc {
		t.Fatalf("record returned from a frame at %d whose CRC does not verify", off)
	}
	want := binary.AppendUvarint(nil, uint64(len(id)))
	want = append(append(want, id...), body...)
	if !bytes.Equal(payload, want) {
		t.Fatalf("frame at %d holds %q, returned %q %q", off, payload, id, body)
	}
}

// FuzzDecodeCursor: a damaged cursor file is an error, never a panic, and
// whatever decodes encodes back to the same bytes.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(position{seq: 3, off: 4242}))
	f.Add([]byte("LGSC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeCursor(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeCursor(p), b) {
			t.Fatalf("decodeCursor(%x) = %+v, which encodes differently", b, p)
		}
	})
}
