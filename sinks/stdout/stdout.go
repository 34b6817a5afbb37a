// Package stdout is a sink that prints documents: JSON lines for machines
// (lagship once -json | jq) or an aligned table for people. lagship demo and
// lagship once use it.
package stdout

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/lagship/lagship/pipeline"
)

// Format is how documents are printed.
type Format int

const (
	// JSON prints one document per line, exactly as Elasticsearch gets it.
	JSON Format = iota
	// Table prints an aligned table, flushed on Close.
	Table
	// Lines prints one human-readable line per document as it comes.
	Lines
)

// Sink prints documents to a writer. It is safe for concurrent use.
type Sink struct {
	mu     sync.Mutex
	w      *bufio.Writer
	format Format
	rows   []pipeline.Doc
	failed []failure
	buf    []byte
}

type failure struct{ label, mirror, topic, group, method, reason string }

// Fail records a topic that has no document: the table shows it as a row
// labelled label (ERROR, NO DATA) in the timestamp column; other formats
// print only documents, so say failures on stderr as well.
func (s *Sink) Fail(label, mirror, topic, group, method, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = append(s.failed, failure{label, mirror, topic, group, method, reason})
}

// New returns a sink printing to w.
func New(w io.Writer, f Format) *Sink {
	return &Sink{w: bufio.NewWriter(w), format: f}
}

// Write prints (or, for Table, keeps) the documents.
func (s *Sink) Write(_ context.Context, docs []pipeline.Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.format {
	case Table:
		// Kept past Write: the lags are copied, as the worker
		// reuses its sample's memory at its next tick.
		for _, d := range docs {
			d.Lags = slices.Clone(d.Lags)
			s.rows = append(s.rows, d)
		}
		return nil
	case Lines:
		for i := range docs {
			d := &docs[i]
			total, max, known := d.Summary()
			st, tl := d.Status, "-"
			if st == "" {
				st = "-"
			}
			if d.HasTimeLag {
				tl = strconv.FormatFloat(d.MaxTimeLag, 'f', 1, 64) + "s"
			}
			fmt.Fprintf(s.w, "%s %-20s %-14s %-6s total=%-6d max=%-6d time_lag=%-7s partitions=%d/%d %s\n",
				d.Timestamp.UTC().Format(pipeline.TimestampLayout), d.Mirror, d.Topic, st, total, max, tl, known, len(d.Lags), lagList(d.Lags))
		}
	default:
		for i := range docs {
			s.buf = docs[i].AppendJSON(s.buf[:0])
			s.buf = append(s.buf, '\n')
			if _, err := s.w.Write(s.buf); err != nil {
				return err
			}
		}
	}
	return s.w.Flush()
}

// Close prints the table (for Table) and flushes.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.format == Table {
		tw := tabwriter.NewWriter(s.w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIMESTAMP\tMIRROR\tTOPIC\tGROUP\tMETHOD\tSTATUS\tPARTITIONS\tTOTAL_LAG\tMAX_LAG\tTIME_LAG\tLAG (p0 p1 ...)")
		for i := range s.rows {
			d := &s.rows[i]
			total, max, _ := d.Summary()
			st, tl := d.Status, "-"
			if st == "" {
				st = "-" // unknown: one observation over the allowed lag says nothing of a trend
			}
			if d.HasTimeLag {
				tl = strconv.FormatFloat(d.MaxTimeLag, 'f', -1, 64) + "s"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", d.Timestamp.UTC().Format(pipeline.TimestampLayout),
				d.Mirror, d.Topic, d.Group, d.Method, st, len(d.Lags), total, max, tl, lagList(d.Lags))
		}
		for _, f := range s.failed {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t%s\n", f.label, f.mirror, f.topic, f.group, f.method, f.reason)
		}
		s.failed = nil
		if err := tw.Flush(); err != nil {
			return err
		}
		s.rows = nil
	}
	return s.w.Flush()
}

// lagList renders lags as "12 0 - 45" ("-" = unknown).
func lagList(lags []int64) string {
	var b strings.Builder
	for i, l := range lags {
		if i > 0 {
			b.WriteByte(' ')
		}
		if l < 0 {
			b.WriteByte('-')
			continue
		}
		b.WriteString(strconv.FormatInt(l, 10))
	}
	return b.String()
}
