// Package delivery gets documents to a destination without losing them.
//
// A destination (Elasticsearch, a file, anything) implements Writer: it
// sends one batch of encoded records and says, per record, whether it was
// stored, was already there, should be sent again later or is refused for
// good. An Output wraps any Writer with what every destination needs and
// none should write twice: a bounded in-memory batch, a disk spool that
// takes documents while the destination is unreachable, a replayer that
// sends the spool back through the same Write, backoff, a per-request
// timeout, counters and a health status. Several Outputs run side by side
// (Fanout), each with its own spool, so one stalled destination never holds
// up another.
package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/lagship/lagship/internal/spool"
)

// Record is one encoded document: its deterministic ID and its JSON body.
type Record = spool.Record

// Outcome is what became of one record of a batch.
type Outcome uint8

// Outcomes.
const (
	// Delivered: the destination stored the record.
	Delivered Outcome = iota
	// Duplicate: the destination already had a record with this ID (an
	// earlier send that was not acknowledged): counted as delivered.
	Duplicate
	// Retry: not stored now (the destination is busy or failing); the
	// record goes to the spool and is sent again later.
	Retry
	// Refused: the destination refuses the record for good (it does not
	// fit the mapping, it is not valid JSON): it is set aside in the
	// spool's rejected/ directory for inspection, never sent again.
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Duplicate:
		return "duplicate"
	case Retry:
		return "retry"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Result is the outcome of one record, with the destination's reason for
// Retry and Refused.
type Result struct {
	Outcome Outcome
	Reason  string
}

// Writer is a destination.
type Writer interface {
	// Prepare makes the destination ready to store records (for
	// Elasticsearch: the index and its template exist). The Output calls
	// it before the first Write and again after a Write returned an error
	// that wraps ErrNotPrepared.
	Prepare(ctx context.Context) error
	// Write sends recs as one request and sets res[i] (len(res) ==
	// len(recs)) for every record. A non-nil error means the request as a
	// whole failed and res is not read; nothing of it counts as stored.
	// Wrap the error in *RefusedError when the request's content is at
	// fault (the destination would refuse it again unchanged): the Output
	// then splits the batch to find the records at fault. Any other error
	// is transient: the batch is spooled and sent again after a backoff.
	// Write must not keep the records' bodies once it returns: the Output
	// fills their memory again with later documents (copy what must stay;
	// an ID is a string and may be kept).
	Write(ctx context.Context, recs []Record, res []Result) error
}

// ErrNotPrepared reports that the destination lost what Prepare set up
// (the index was deleted): the Output prepares again, then resends.
var ErrNotPrepared = errors.New("destination not prepared")

// RefusedError is a whole request refused because of its content (HTTP
// 400, 413...): sent again unchanged it would be refused again.
type RefusedError struct {
	Status int
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("request refused (status %d): %s", e.Status, e.Reason)
}

// refused reports whether err is a RefusedError.
func refused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}
