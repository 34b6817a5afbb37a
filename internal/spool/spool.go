// Package spool is a durable, bounded, append-only disk queue of records. A
// sink appends to it while its destination is unreachable and replays it,
// oldest first, once the destination answers again.
//
// # Layout
//
// A spool directory holds numbered segment files (00000000000000000001.seg,
// ...), a cursor file and a lock file. Records are appended to the newest
// segment; when it would grow past Options.SegmentBytes it is fsynced and a
// new one is started. Every record is framed with its length and a CRC-32C
// (see format.go), so a torn tail left by a crash is recognised, reported
// (Stats.TornTails, Stats.TornBytes and a log line) and skipped, never
// replayed as garbage. Frames carry no resynchronisation marker: a damaged
// frame in the middle of a segment ends that segment, and the records after
// it in the same file are lost. After a restart the writer always starts a
// fresh segment, so nothing is ever appended after a torn tail. Open reads
// every segment once to count records and find damage, so it takes time
// proportional to the spool's size.
//
// # Bound
//
// When an append would make the segment files exceed Options.MaxBytes, the
// oldest segments are deleted, their unacknowledged records counted in
// Stats.Dropped and logged as an error. The segment being written is only
// dropped when it is the only one.
//
// # Replay and acknowledgement (at-least-once)
//
// Next hands out records oldest first from a read position that lives in
// memory; Ack moves the acknowledgement cursor to the end of a batch and
// persists it (cursor file, atomic rename). A segment file is deleted once
// every record in it is acknowledged. After a restart, replay starts at the
// last persisted cursor, which points at a record, not at a segment: every
// record that was not covered by a successful Ack is replayed, including
// records handed out by Next but not yet acknowledged when the process
// stopped, and no record before it. Nothing that was acknowledged is
// replayed, except after a power cut that lost the cursor file's rename, or
// when the cursor file is unreadable (then the whole spool is replayed, with
// a warning).
//
// # Durability
//
// Append writes each call with one write system call per MiB of records but
// does not fsync: a record whose Append returned survives kill -9 of the
// process (the data is in the kernel), and a kill in the middle of an Append
// loses at most the records of that call that were not yet written. Segments
// are fsynced on rotation, Sync and Close; a power cut can lose what was
// appended since the last of those.
//
// # Concurrency
//
// One appender and one replayer may run at the same time. Every method is
// safe for concurrent use; Append and Sync are serialised among themselves,
// as are Next and Rewind, and neither side waits for the other's disk I/O,
// only for short bookkeeping under a shared mutex.
package spool

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// Defaults for Options.
const (
	DefaultMaxBytes     int64 = 1 << 30
	DefaultSegmentBytes int64 = 16 << 20
)

// flushBytes is how much Append encodes before it writes to the file.
const flushBytes = 1 << 20

// ErrClosed is returned by calls on a closed spool.
var ErrClosed = errors.New("spool closed")

// Record is one stored document: its deterministic id and its encoded body.
type Record struct {
	ID   string
	Body []byte
}

// Options bound a spool. Zero values take the defaults.
type Options struct {
	// MaxBytes bounds the total size of the segment files. Default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is closed and a new one
	// started. Default 16 MiB, or MaxBytes/4 if that is smaller.
	SegmentBytes int64
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes < 0 || o.SegmentBytes < 0 {
		return o, fmt.Errorf("spool options: negative size (max_bytes %d, segment_bytes %d)", o.MaxBytes, o.SegmentBytes)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = min(DefaultSegmentBytes, o.MaxBytes/4)
	}
	if o.SegmentBytes < 4<<10 {
		return o, fmt.Errorf("spool options: segment_bytes %d is below the minimum of 4096", o.SegmentBytes)
	}
	if o.SegmentBytes > o.MaxBytes {
		return o, fmt.Errorf("spool options: segment_bytes %d exceeds max_bytes %d", o.SegmentBytes, o.MaxBytes)
	}
	return o, nil
}

// Stats is a snapshot of a spool's state. Counters start at zero on Open.
type Stats struct {
	Bytes     int64 // size of the segment files on disk
	Segments  int   // segment files on disk
	Pending   int64 // stored records not yet acknowledged (= Len)
	Unread    int64 // stored records not yet handed out by Next
	Appended  int64 // records appended
	Replayed  int64 // records handed out by Next (a rewound record counts again)
	Acked     int64 // records acknowledged
	Dropped   int64 // unacknowledged records deleted to respect MaxBytes
	TornTails int64 // corrupt segment tails detected and skipped
	TornBytes int64 // bytes skipped in those tails
	// MissingSegments counts segment files that were gone at Open (deleted
	// by hand) although records in them were not acknowledged.
	MissingSegments int64
}

// position addresses a frame boundary: offset off in segment seq, with idx
// good records before it in that segment.
type position struct {
	seq uint64
	off int64
	idx int64
}

func (p position) less(q position) bool {
	if p.seq != q.seq {
		return p.seq < q.seq
	}
	return p.off < q.off
}

// segment is the bookkeeping of one segment file; guarded by Spool.mu.
type segment struct {
	seq     uint64
	path    string
	size    int64 // bytes on disk, including a torn tail
	end     int64 // offset past the last good frame: readers stop here
	records int64 // good frames before end
	sealed  bool  // no more appends
	corrupt bool  // a bad frame was found; end was cut back to it
}

// Batch is a run of consecutive records handed out by Next. Its cursor is
// opaque; pass the batch to Ack, on the same Spool, once its records are
// delivered. Bodies of one batch share memory; do not modify them.
type Batch struct {
	Records []Record
	sp      *Spool
	start   position
	end     position
}

// Spool is a disk queue. Its methods are safe for one appender and one
// replayer running concurrently.
type Spool struct {
	dir  string
	opts Options
	log  zerolog.Logger
	lock *os.File

	// Appender side, serialised by wmu.
	wmu     sync.Mutex
	w       *os.File // segment being written, nil before the first append
	wseg    *segment
	wbuf    []byte
	wcount  int64 // records encoded in wbuf
	nextSeq uint64

	// Replayer side, serialised by rmu.
	rmu  sync.Mutex
	rf   *os.File // segment being read, open during a Next call only
	rseq uint64
	rbr  *bufio.Reader
	fr   frameReader

	// amu serialises cursor writes.
	amu       sync.Mutex
	persisted position

	// mu guards everything below and the segments' fields. It is never held
	// across file I/O. Lock order: wmu, rmu, amu, mu.
	mu     sync.Mutex
	closed bool
	segs   []*segment // oldest first; the last one may be the open segment
	ack    position   // first unacknowledged record
	read   position   // first record not yet handed out
	gen    uint64     // bumped when segments vanish or read is moved by others
	bytes  int64
	avail  chan struct{} // closed when records are appended or on Close
	// availTaken says whether anyone holds avail; it is only replaced then.
	availTaken bool
	st         Stats
}

// Open opens the spool in dir, creating dir (0700) when missing, and scans
// the segments left by a previous run: their unacknowledged records are
// replayed first. Scanning reads every segment once.
func Open(dir string, opts Options, log zerolog.Logger) (*Spool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating spool directory %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening spool %s: %w", dir, err)
	}
	s := &Spool{
		dir:   dir,
		opts:  opts,
		log:   log.With().Str("spool", dir).Logger(),
		lock:  lock,
		avail: make(chan struct{}),
	}
	s.rbr = bufio.NewReaderSize(nil, 64<<10)
	if err := s.load(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("opening spool %s: %w", dir, err)
	}
	return s, nil
}

// load scans the directory; called once from Open.
func (s *Spool) load() error {
	if err := os.Remove(filepath.Join(s.dir, cursorTmpFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	cur, haveCursor, err := readCursor(s.dir)
	if err != nil {
		s.log.Warn().Err(err).Msg("spool cursor unreadable; replaying every stored record")
		haveCursor = false
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)

	s.ack = position{}
	for _, seq := range seqs {
		path := s.segmentPath(seq)
		if haveCursor && seq < cur.seq {
			// Acknowledged before the last stop; its removal was interrupted.
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("removing acknowledged segment %s: %w", path, err)
			}
			continue
		}
		seg, ackAt, err := s.scan(seq, path, haveCursor && seq == cur.seq, cur.off)
		if err != nil {
			return err
		}
		if ackAt != nil {
			s.ack = *ackAt
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
	}
	s.logGaps(cur, haveCursor)
	s.nextSeq = 1
	if n := len(seqs); n > 0 {
		s.nextSeq = seqs[n-1] + 1
	}
	if haveCursor && cur.seq >= s.nextSeq {
		s.nextSeq = cur.seq + 1
	}
	s.normLocked()
	s.read = s.ack
	victims := s.collectLocked()
	s.removeLogged(victims)
	s.persisted = s.ack
	if len(s.segs) > 0 {
		s.log.Info().Int("segments", len(s.segs)).Int64("bytes", s.bytes).
			Int64("pending", s.pendingLocked()).Msg("spool holds records from a previous run; they will be replayed first")
	}
	return nil
}

// logGaps says once, at Open, which segments are missing between the
// cursor and the newest segment: their records are lost, and without this
// line nobody would know. The count of lost records is estimated from the
// segments that remain.
func (s *Spool) logGaps(cur position, haveCursor bool) {
	if len(s.segs) == 0 {
		return
	}
	var perSeg int64
	for _, g := range s.segs {
		perSeg += g.records
	}
	perSeg /= int64(len(s.segs))
	prev := uint64(0)
	if haveCursor && cur.seq > 0 {
		prev = cur.seq - 1 // the cursor's segment itself is expected
	}
	for i, g := range s.segs {
		if i > 0 {
			prev = s.segs[i-1].seq
		} else if !haveCursor {
			continue // without a cursor, the oldest segment is where replay starts
		}
		if g.seq <= prev+1 {
			continue
		}
		first, last := prev+1, g.seq-1
		n := int64(last - first + 1)
		s.st.MissingSegments += n
		s.log.Error().Uint64("first_missing", first).Uint64("last_missing", last).Int64("segments", n).
			Int64("records_lost_about", n*perSeg).Str("spool_dir", s.dir).
			Msg("spool segments are missing (deleted by hand?); their unacknowledged records are lost")
	}
}

// scan reads one segment left by a previous run. When withCursor is set, the
// persisted cursor points into this segment at cursorOff and the matching
// position is returned.
func (s *Spool) scan(seq uint64, path string, withCursor bool, cursorOff int64) (*segment, *position, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening segment %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("opening segment %s: %w", path, err)
	}
	var (
		idx      int64
		boundary bool
	)
	res, err := readSegment(f, fi.Size(), func(off int64, _, _ []byte) {
		if withCursor && off == cursorOff {
			boundary = true
		}
		if withCursor && off < cursorOff {
			idx++
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading segment %s: %w", path, err)
	}
	seg := &segment{seq: seq, path: path, size: fi.Size(), end: res.end, records: int64(res.records), sealed: true}
	if res.corrupt != nil {
		seg.corrupt = true
		s.st.TornTails++
		s.st.TornBytes += seg.size - res.end
		s.log.Warn().Str("file", path).Int64("offset", res.corrupt.Off).Int64("skipped_bytes", seg.size-res.end).
			Int("good_records", res.records).Str("reason", res.corrupt.Reason).
			Msg("spool segment has a torn or corrupt tail; skipping it")
	}
	if !withCursor {
		return seg, nil, nil
	}
	switch {
	case cursorOff >= res.end:
		return seg, &position{seq: seq, off: max(res.end, segHeaderLen), idx: seg.records}, nil
	case boundary || cursorOff == segHeaderLen:
		return seg, &position{seq: seq, off: cursorOff, idx: idx}, nil
	default:
		s.log.Warn().Str("file", path).Int64("offset", cursorOff).
			Msg("spool cursor is not on a record boundary; replaying the whole segment")
		return seg, &position{seq: seq, off: segHeaderLen}, nil
	}
}

func (s *Spool) segmentPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d.seg", seq))
}

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil && seq > 0
}

// Append stores records at the tail of the spool. It makes room by dropping
// the oldest segments when the spool is full, and returns an error only when
// a record is too large or the disk fails; on error, records of this call may
// be partly stored.
func (s *Spool) Append(recs ...Record) error {
	for _, r := range recs {
		if n := frameLen(r); n > MaxRecordBytes || n+segHeaderLen > s.opts.MaxBytes {
			return fmt.Errorf("appending record %q to spool %s: %d bytes exceed the record limit", r.ID, s.dir, n)
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	for _, r := range recs {
		f := frameLen(r)
		if s.wseg != nil {
			s.mu.Lock()
			size, corrupt := s.wseg.size, s.wseg.corrupt
			s.mu.Unlock()
			buffered := size + int64(len(s.wbuf))
			if corrupt || (buffered > segHeaderLen && buffered+f > s.opts.SegmentBytes) {
				if err := s.flush(); err != nil {
					return err
				}
				if err := s.seal(); err != nil {
					return err
				}
			}
		}
		if err := s.makeRoom(f); err != nil {
			return err
		}
		if s.wseg == nil {
			if err := s.create(); err != nil {
				return err
			}
		}
		s.wbuf = appendFrame(s.wbuf, r)
		s.wcount++
		if len(s.wbuf) >= flushBytes {
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
	return s.flush()
}

// makeRoom drops the oldest segments until f more bytes (plus a segment
// header) fit under MaxBytes. Buffered bytes are flushed first so that the
// accounting is exact.
func (s *Spool) makeRoom(f int64) error {
	need := f + segHeaderLen
	s.mu.Lock()
	full := s.bytes+int64(len(s.wbuf))+need > s.opts.MaxBytes
	s.mu.Unlock()
	if !full {
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	s.mu.Lock()
	var (
		victims []*segment
		lost    int64
	)
	for s.bytes+need > s.opts.MaxBytes && len(s.segs) > 0 {
		v := s.segs[0]
		if v == s.wseg && len(s.segs) > 1 {
			break // cannot happen: the open segment is the newest
		}
		n := v.records
		if s.ack.seq == v.seq {
			n -= s.ack.idx
		}
		lost += n
		s.segs = s.segs[1:]
		s.bytes -= v.size
		victims = append(victims, v)
	}
	if len(victims) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.st.Dropped += lost
	s.gen++
	s.normLocked()
	dropActive := len(victims) > 0 && victims[len(victims)-1] == s.wseg
	s.mu.Unlock()

	if dropActive {
		s.w.Close()
		s.w, s.wseg = nil, nil
	}
	s.removeLogged(victims)
	files := make([]string, len(victims))
	for i, v := range victims {
		files[i] = filepath.Base(v.path)
	}
	s.log.Error().Int64("dropped_records", lost).Strs("segments", files).Int64("max_bytes", s.opts.MaxBytes).
		Msg("spool full: dropped the oldest records")
	return nil
}

// create starts a new segment file.
func (s *Spool) create() error {
	seq := s.nextSeq
	path := s.segmentPath(seq)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("creating spool segment %s: %w", path, err)
	}
	s.nextSeq++
	if _, err := f.Write(segmentHeader()); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing spool segment %s: %w", path, err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("syncing spool directory %s: %w", s.dir, err)
	}
	seg := &segment{seq: seq, path: path, size: segHeaderLen, end: segHeaderLen}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.bytes += segHeaderLen
	s.normLocked()
	s.mu.Unlock()
	s.w, s.wseg = f, seg
	return nil
}

// flush writes the buffered frames to the open segment.
func (s *Spool) flush() error {
	if len(s.wbuf) == 0 {
		return nil
	}
	buf, count := s.wbuf, s.wcount
	s.wbuf, s.wcount = s.wbuf[:0], 0
	if cap(s.wbuf) > 4*flushBytes {
		s.wbuf = nil // one huge record passed; do not keep its buffer
	}
	n, err := s.w.Write(buf)
	if err != nil {
		// Typically a full disk. Cut the partial frame off if possible and
		// seal the segment so the next append starts clean.
		s.mu.Lock()
		good := s.wseg.size
		s.mu.Unlock()
		if terr := s.w.Truncate(good); terr != nil {
			s.mu.Lock()
			s.wseg.size += int64(n)
			s.bytes += int64(n)
			s.mu.Unlock()
		}
		path := s.wseg.path
		s.seal() // best effort; the write error is the one to report
		return fmt.Errorf("writing spool segment %s: %w", path, err)
	}
	s.mu.Lock()
	seg := s.wseg
	seg.size += int64(n)
	s.bytes += int64(n)
	if !seg.corrupt {
		seg.end = seg.size
		seg.records += count
	}
	s.st.Appended += count
	if s.availTaken {
		close(s.avail)
		s.avail, s.availTaken = make(chan struct{}), false
	}
	s.mu.Unlock()
	return nil
}

// seal fsyncs and closes the open segment; fully acknowledged segments are
// removed right away.
func (s *Spool) seal() error {
	if s.wseg == nil {
		return nil
	}
	path := s.wseg.path
	serr := s.w.Sync()
	cerr := s.w.Close()
	s.mu.Lock()
	s.wseg.sealed = true
	victims := s.collectLocked()
	s.mu.Unlock()
	s.w, s.wseg = nil, nil
	s.removeLogged(victims)
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("closing spool segment %s: %w", path, err)
	}
	return nil
}

// Sync makes every appended record durable.
func (s *Spool) Sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.w == nil {
		return nil
	}
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("syncing spool segment %s: %w", s.wseg.path, err)
	}
	return nil
}

// Next returns up to n records, oldest first, from the first record not yet
// handed out. It does not block: an empty batch means nothing is waiting
// (see Wait and Notify). Successive calls return successive records even
// without Ack; Rewind goes back to the first unacknowledged record.
func (s *Spool) Next(ctx context.Context, n int) (Batch, error) {
	if n <= 0 {
		return Batch{}, fmt.Errorf("spool %s: next: n must be positive, got %d", s.dir, n)
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	// The segment stays open for one call only: a file kept open would hold
	// the disk space of a segment deleted meanwhile.
	defer s.closeReader()
	for {
		if err := ctx.Err(); err != nil {
			return Batch{}, err
		}
		b, retry, err := s.next(n)
		if err != nil || !retry {
			return b, err
		}
	}
}

// next makes one attempt; retry reports that segments were dropped or the
// position moved underneath it, so the attempt must start over.
func (s *Spool) next(n int) (b Batch, retry bool, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Batch{}, false, ErrClosed
	}
	s.normLocked()
	gen, pos := s.gen, s.read
	unread := s.unreadLocked()
	s.mu.Unlock()

	b.sp, b.start = s, pos
	if unread > 0 {
		b.Records = make([]Record, 0, min(int64(n), unread))
	}
	var arena []byte
	for len(b.Records) < n {
		s.mu.Lock()
		if s.gen != gen {
			s.mu.Unlock()
			return Batch{}, true, nil
		}
		seg := s.findLocked(pos.seq)
		if seg == nil {
			s.mu.Unlock()
			break
		}
		if pos.off >= seg.end {
			nx, sealed := s.afterLocked(seg), seg.sealed
			s.mu.Unlock()
			if !sealed || nx == nil {
				break
			}
			pos = position{seq: nx.seq, off: segHeaderLen}
			continue
		}
		limit, path, seq := seg.end, seg.path, seg.seq
		s.mu.Unlock()

		if err := s.openReader(seq, path); err != nil {
			s.mu.Lock()
			moved := s.gen != gen
			s.mu.Unlock()
			if moved {
				return Batch{}, true, nil
			}
			return Batch{}, false, fmt.Errorf("reading spool segment %s: %w", path, err)
		}
		s.rbr.Reset(io.NewSectionReader(s.rf, pos.off, limit-pos.off))
		s.fr.br, s.fr.off, s.fr.limit = s.rbr, pos.off, limit
		for len(b.Records) < n {
			p, err := s.fr.next()
			if err != nil {
				if err == io.EOF {
					break
				}
				if ce := (*corruptError)(nil); errors.As(err, &ce) {
					s.cutCorrupt(gen, seq, path, ce, pos)
					break
				}
				return Batch{}, false, fmt.Errorf("reading spool segment %s: %w", path, err)
			}
			id, body, _ := decodePayload(p)
			if len(arena)+len(body) > cap(arena) {
				arena = make([]byte, 0, max(len(body), 64<<10))
			}
			start := len(arena)
			arena = append(arena, body...)
			b.Records = append(b.Records, Record{ID: string(id), Body: arena[start:len(arena):len(arena)]})
			pos.off, pos.idx = s.fr.off, pos.idx+1
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return Batch{}, true, nil
	}
	s.read = pos
	s.st.Replayed += int64(len(b.Records))
	b.end = pos
	return b, false, nil
}

// openReader points rf at segment seq.
func (s *Spool) openReader(seq uint64, path string) error {
	if s.rf != nil && s.rseq == seq {
		return nil
	}
	s.closeReader()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	s.rf, s.rseq = f, seq
	return nil
}

func (s *Spool) closeReader() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
}

// cutCorrupt records a bad frame found while replaying: the segment ends at
// the frame. This only happens when a segment is damaged after it was
// written or scanned.
func (s *Spool) cutCorrupt(gen, seq uint64, path string, ce *corruptError, at position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.findLocked(seq)
	if s.gen != gen || seg == nil || seg.corrupt {
		return
	}
	seg.corrupt = true
	seg.end = ce.Off
	seg.records = at.idx
	s.st.TornTails++
	s.st.TornBytes += seg.size - ce.Off
	s.log.Error().Str("file", path).Int64("offset", ce.Off).Str("reason", ce.Reason).
		Msg("spool segment damaged after it was written; skipping the rest of it")
}

// Ack acknowledges every record up to the end of b (cumulatively, like a
// consumer offset commit), persists the cursor and deletes the segment files
// whose records are all acknowledged. Acking an old or empty batch is a
// no-op. Records of a batch that was dropped because the spool was full are
// ignored.
func (s *Spool) Ack(b Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	if b.sp != s {
		return fmt.Errorf("spool %s: ack: batch comes from another spool", s.dir)
	}
	s.amu.Lock()
	defer s.amu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.ack.less(b.end) {
		s.mu.Unlock()
		return nil
	}
	if seg := s.findLocked(b.end.seq); seg == nil || b.end.off > max(seg.end, segHeaderLen) {
		s.mu.Unlock()
		return fmt.Errorf("spool %s: ack: batch cursor (segment %d offset %d) is not in this spool", s.dir, b.end.seq, b.end.off)
	}
	before := s.pendingLocked()
	s.ack = b.end
	if s.read.less(s.ack) {
		s.read = s.ack
		s.gen++
	}
	s.st.Acked += before - s.pendingLocked()
	victims := s.collectLocked()
	cur := s.ack
	s.mu.Unlock()

	var err error
	if cur != s.persisted {
		if err = writeCursor(s.dir, cur); err == nil {
			s.persisted = cur
		} else {
			err = fmt.Errorf("persisting spool cursor in %s: %w", s.dir, err)
		}
	}
	// Removing is safe even if the cursor could not be written: the removed
	// segments hold acknowledged records only.
	return errors.Join(err, s.removeSegments(victims))
}

// Rewind makes Next start again from the first unacknowledged record, for
// a replayer that failed to deliver what it was handed.
func (s *Spool) Rewind() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read = s.ack
	s.gen++
}

// Wait blocks until a record is waiting to be handed out by Next, the
// context is done, or the spool is closed (ErrClosed).
func (s *Spool) Wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.unreadLocked() > 0 {
			s.mu.Unlock()
			return nil
		}
		ch := s.avail
		s.availTaken = true
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Notify returns a channel that is closed at the next append (or Close), for
// a replayer that selects on several events. Take the channel before calling
// Next, and wait on it only when Next came back empty, so that no append is
// missed; take a new channel after each notification.
func (s *Spool) Notify() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.availTaken = true
	return s.avail
}

// Len is the number of stored records not yet acknowledged.
func (s *Spool) Len() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingLocked()
}

// Stats returns a snapshot of the spool's state and counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Bytes = s.bytes
	st.Segments = len(s.segs)
	st.Pending = s.pendingLocked()
	st.Unread = s.unreadLocked()
	return st
}

// Close syncs and closes the open segment, persists the cursor and releases
// the directory. Records not acknowledged stay for the next Open.
func (s *Spool) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.amu.Lock()
	defer s.amu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.avail)
	s.mu.Unlock()

	errs := []error{s.seal()}
	s.mu.Lock()
	cur := s.ack
	s.mu.Unlock()
	if cur != s.persisted {
		if err := writeCursor(s.dir, cur); err != nil {
			errs = append(errs, fmt.Errorf("persisting spool cursor in %s: %w", s.dir, err))
		}
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}

func (s *Spool) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// removeSegments deletes segment files already taken out of s.segs.
func (s *Spool) removeSegments(victims []*segment) error {
	var errs []error
	for _, v := range victims {
		if err := os.Remove(v.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing spool segment %s: %w", v.path, err))
		}
	}
	return errors.Join(errs...)
}

// removeLogged is removeSegments for callers with no error to return: a
// file that cannot be removed is logged, since it takes disk space that
// MaxBytes no longer accounts for.
func (s *Spool) removeLogged(victims []*segment) {
	if err := s.removeSegments(victims); err != nil {
		s.log.Error().Err(err).Msg("spool segment not removed")
	}
}

// collectLocked takes fully acknowledged sealed segments off the head of the
// list and returns them for removal.
func (s *Spool) collectLocked() []*segment {
	var victims []*segment
	for len(s.segs) > 0 {
		h := s.segs[0]
		if !h.sealed || s.ack.seq < h.seq || (s.ack.seq == h.seq && s.ack.off < h.end) {
			break
		}
		s.segs = s.segs[1:]
		s.bytes -= h.size
		victims = append(victims, h)
	}
	if len(victims) > 0 {
		s.gen++
		s.normLocked()
	}
	return victims
}

// normLocked moves positions that point before the oldest segment to its
// start.
func (s *Spool) normLocked() {
	if len(s.segs) == 0 {
		return
	}
	head := position{seq: s.segs[0].seq, off: segHeaderLen}
	if s.ack.seq < head.seq {
		s.ack = head
	}
	if s.read.seq < head.seq {
		s.read = head
	}
}

func (s *Spool) findLocked(seq uint64) *segment {
	i, ok := slices.BinarySearchFunc(s.segs, seq, func(g *segment, seq uint64) int { return cmp.Compare(g.seq, seq) })
	if !ok {
		return nil
	}
	return s.segs[i]
}

func (s *Spool) afterLocked(g *segment) *segment {
	i, _ := slices.BinarySearchFunc(s.segs, g.seq+1, func(g *segment, seq uint64) int { return cmp.Compare(g.seq, seq) })
	if i < len(s.segs) {
		return s.segs[i]
	}
	return nil
}

// recordsBeforeLocked counts the stored records before p.
func (s *Spool) recordsBeforeLocked(p position) int64 {
	var n int64
	for _, g := range s.segs {
		if g.seq >= p.seq {
			if g.seq == p.seq {
				n += min(p.idx, g.records)
			}
			break
		}
		n += g.records
	}
	return n
}

func (s *Spool) totalLocked() int64 {
	var n int64
	for _, g := range s.segs {
		n += g.records
	}
	return n
}

func (s *Spool) pendingLocked() int64 { return s.totalLocked() - s.recordsBeforeLocked(s.ack) }
func (s *Spool) unreadLocked() int64  { return s.totalLocked() - s.recordsBeforeLocked(s.read) }
