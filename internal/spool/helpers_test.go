package spool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/testutil/syncbuf"
)

// logBuffer collects log lines from concurrent goroutines.
type logBuffer = syncbuf.Buffer

// testBody is a 300-byte JSON document, like one consumer_lag document.
func testBody(i int) []byte {
	b := fmt.Appendf(nil, `{"@timestamp":"2026-11-22T00:00:00.000Z","mirror":"dc1","topic":"orders","seq":%08d,"pad":"`, i)
	for len(b) < 298 {
		b = append(b, 'x')
	}
	return append(b, '"', '}')
}

func testRecord(i int) Record {
	return Record{ID: fmt.Sprintf("doc-%06d", i), Body: testBody(i)}
}

func testRecords(from, to int) []Record {
	recs := make([]Record, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, testRecord(i))
	}
	return recs
}

// testFrame is the framed size of testRecord(i).
var testFrame = frameLen(testRecord(0))

func openTest(t testing.TB, dir string, opts Options) (*Spool, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := Open(dir, opts, zerolog.New(logs))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// drain replays and acknowledges everything in batches of n.
func drain(t testing.TB, s *Spool, n int) []Record {
	t.Helper()
	var got []Record
	for {
		b, err := s.Next(testCtx(t), n)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(b.Records) == 0 {
			return got
		}
		if len(b.Records) > n {
			t.Fatalf("Next(%d) returned %d records", n, len(b.Records))
		}
		got = append(got, b.Records...)
		if err := s.Ack(b); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

// sameRecords reports the first difference between two record lists.
func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records (%s), want %d (%s)", len(got), idRange(got), len(want), idRange(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Body, want[i].Body) {
			t.Fatalf("record %d: got %q %.40q, want %q %.40q", i, got[i].ID, got[i].Body, want[i].ID, want[i].Body)
		}
	}
}

func idRange(recs []Record) string {
	if len(recs) == 0 {
		return "none"
	}
	return recs[0].ID + ".." + recs[len(recs)-1].ID
}

// segmentFiles lists the segment file names in dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	slices.Sort(m)
	return m
}

// crash abandons s as kill -9 would: file descriptors are closed without
// sync, the cursor is not written and the lock is released.
func crash(s *Spool) {
	s.wmu.Lock()
	s.rmu.Lock()
	s.amu.Lock()
	s.mu.Lock()
	s.closed = true
	close(s.avail)
	s.mu.Unlock()
	if s.w != nil {
		s.w.Close()
	}
	if s.rf != nil {
		s.rf.Close()
	}
	s.lock.Close()
	s.amu.Unlock()
	s.rmu.Unlock()
	s.wmu.Unlock()
}

func mustAppend(t testing.TB, s *Spool, recs ...Record) {
	t.Helper()
	if err := s.Append(recs...); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func mustContain(t testing.TB, logs, want string) {
	t.Helper()
	if !strings.Contains(logs, want) {
		t.Fatalf("logs lack %q:\n%s", want, logs)
	}
}
