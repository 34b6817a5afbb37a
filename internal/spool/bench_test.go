package spool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkAppend stores 300-byte documents; batch is the records per Append.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{MaxBytes: 256 << 20}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			recs := testRecords(0, batch)
			b.SetBytes(int64(len(recs[0].Body)) * int64(batch))
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if err := s.Append(recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkReplay hands out and acknowledges 300-byte documents in batches
// of 500, each Ack persisting the cursor with an fsync.
func BenchmarkReplay(b *testing.B) {
	const batch = 500
	s, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	recs := testRecords(0, batch)
	ctx := context.Background()
	b.SetBytes(int64(len(recs[0].Body)) * batch)
	b.ReportAllocs()
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		if err := s.Append(recs...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		bt, err := s.Next(ctx, batch)
		if err != nil || len(bt.Records) != batch {
			b.Fatalf("Next = %d records, %v", len(bt.Records), err)
		}
		if err := s.Ack(bt); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "records/s")
}
