package spool_test

import (
	"context"
	"fmt"
	"os"

	"github.com/lagship/lagship/internal/spool"
	"github.com/rs/zerolog"
)

// A sink spools documents while its destination is down and replays them,
// oldest first, acknowledging each batch once it is delivered.
func Example() {
	dir, err := os.MkdirTemp("", "spool-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	s, err := spool.Open(dir, spool.Options{MaxBytes: 64 << 20}, zerolog.Nop())
	if err != nil {
		panic(err)
	}
	defer s.Close()

	// Destination unreachable: keep the documents.
	for i := range 5 {
		id := fmt.Sprintf("dc1/orders/%d", 1763769600000+i*60000)
		if err := s.Append(spool.Record{ID: id, Body: []byte(`{"total_lag":7}`)}); err != nil {
			panic(err)
		}
	}

	// Destination back: replay.
	ctx := context.Background()
	for s.Len() > 0 {
		if err := s.Wait(ctx); err != nil {
			panic(err)
		}
		b, err := s.Next(ctx, 2)
		if err != nil {
			panic(err)
		}
		for _, r := range b.Records {
			fmt.Println("deliver", r.ID) // on failure: s.Rewind() and retry later
		}
		if err := s.Ack(b); err != nil {
			panic(err)
		}
	}
	fmt.Println("pending", s.Len())
	// Output:
	// deliver dc1/orders/1763769600000
	// deliver dc1/orders/1763769660000
	// deliver dc1/orders/1763769720000
	// deliver dc1/orders/1763769780000
	// deliver dc1/orders/1763769840000
	// pending 0
}
