package spool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// appendAll appends records [0, total) in chunks of varying size and reports
// the outcome on the returned channel.
func appendAll(ctx context.Context, s *Spool, total int) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < total; {
			if ctx.Err() != nil {
				errc <- ctx.Err()
				return
			}
			k := min(1+i%17, total-i)
			if err := s.Append(testRecords(i, i+k)...); err != nil {
				errc <- fmt.Errorf("appending record %d: %w", i, err)
				return
			}
			i += k
		}
		errc <- nil
	}()
	return errc
}

func TestConcurrentAppendAndReplay(t *testing.T) {
	const total = 3000
	s, _ := openTest(t, t.TempDir(), Options{MaxBytes: 64 << 20, SegmentBytes: 8 << 10})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	errc := appendAll(ctx, s, total)

	next := 0
	for next < total {
		if err := s.Wait(ctx); err != nil {
			t.Fatalf("Wait after %d records: %v", next, err)
		}
		b, err := s.Next(ctx, 1+next%50)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			want := testRecord(next)
			if r.ID != want.ID || !bytes.Equal(r.Body, want.Body) {
				t.Fatalf("record %d: got %q, want %q", next, r.ID, want.ID)
			}
			next++
		}
		if err := s.Ack(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if b, err := s.Next(ctx, 10); err != nil || len(b.Records) != 0 {
		t.Fatalf("after all records Next = %d records, %v", len(b.Records), err)
	}
	st := s.Stats()
	if st.Appended != total || st.Replayed != total || st.Acked != total || st.Pending != 0 || st.Dropped != 0 {
		t.Fatalf("Stats() = %+v", st)
	}
}

// The replayer runs while the appender keeps dropping old segments: records
// come out in order, never twice, and the newest is always delivered.
func TestConcurrentReplayWithDrops(t *testing.T) {
	const total = 3000
	s, _ := openTest(t, t.TempDir(), Options{MaxBytes: 32 << 10, SegmentBytes: 4 << 10})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	errc := appendAll(ctx, s, total)

	last, seen, done, held := -1, 0, false, false
	for {
		notify := s.Notify() // taken before Next so no append is missed
		b, err := s.Next(ctx, 25)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			i, err := strconv.Atoi(r.ID[len("doc-"):])
			if err != nil || i <= last || !bytes.Equal(r.Body, testBody(i)) {
				t.Fatalf("got %q after record %d", r.ID, last)
			}
			last = i
			seen++
		}
		if seen > 0 && !held {
			// Hold the first batch unacknowledged until the appender has
			// dropped segments underneath it.
			held = true
			for s.Stats().Dropped == 0 {
				select {
				case <-s.Notify():
				case err := <-errc:
					t.Fatalf("appender finished (%v) without dropping anything", err)
				}
			}
		}
		if err := s.Ack(b); err != nil {
			t.Fatal(err)
		}
		if len(b.Records) > 0 {
			continue
		}
		if done {
			break
		}
		select {
		case <-notify:
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		}
	}
	st := s.Stats()
	if last != total-1 {
		t.Fatalf("last record seen %d, want %d", last, total-1)
	}
	if st.Dropped == 0 || int64(seen)+st.Dropped < total {
		t.Fatalf("seen %d + dropped %d < %d appended", seen, st.Dropped, total)
	}
}

func TestWaitAndNotify(t *testing.T) {
	s, _ := openTest(t, t.TempDir(), Options{})
	ctx := testCtx(t)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Wait(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on an empty spool = %v, want context.Canceled", err)
	}

	notify := s.Notify()
	woke := make(chan error, 1)
	go func() { woke <- s.Wait(ctx) }()
	mustAppend(t, s, testRecord(1))
	if err := <-woke; err != nil {
		t.Fatalf("Wait after Append: %v", err)
	}
	select {
	case <-notify:
	default:
		t.Fatal("Notify channel not closed by Append")
	}

	b, _ := s.Next(ctx, 10)
	if err := s.Wait(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with every record handed out = %v, want context.Canceled", err)
	}
	s.Rewind()
	if err := s.Wait(canceled); err != nil {
		t.Fatalf("Wait after Rewind = %v, want nil", err)
	}
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}

	go func() { woke <- s.Wait(ctx) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait across Close = %v, want ErrClosed", err)
	}
}

const childDirEnv = "LAGSHIP_SPOOL_KILL_CHILD_DIR"

// TestKill9 appends from a child process, kills it with SIGKILL in the middle
// of its work and checks that the spool replays every record whose Append
// returned, in order, and nothing else.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	ctx := testCtx(t)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKill9Child$", "-test.v")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Keep reading the child's progress until it dies, so that it is killed
	// while appending, not while blocked on a full pipe.
	var (
		acked   = -1
		reached = make(chan struct{})
		readErr = make(chan error, 1)
	)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line, ok := bytes.CutPrefix(sc.Bytes(), []byte("appended "))
			if !ok {
				continue
			}
			n, err := strconv.Atoi(string(line))
			if err != nil {
				readErr <- fmt.Errorf("child said %q", sc.Text())
				return
			}
			if acked < 2000 && n >= 2000 {
				close(reached)
			}
			acked = n
		}
		readErr <- sc.Err()
	}()
	select {
	case <-reached:
	case err := <-readErr:
		t.Fatalf("child stopped early: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited cleanly before it was killed")
	}

	s, logs := openTest(t, dir, Options{MaxBytes: 1 << 30, SegmentBytes: 64 << 10})
	got := drain(t, s, 500)
	if len(got) <= acked {
		t.Fatalf("replayed %d records, child had appended %d", len(got), acked+1)
	}
	sameRecords(t, got, testRecords(0, len(got)))
	t.Logf("child appended %d records before the kill; %d replayed; torn tails %d; %s",
		acked+1, len(got), s.Stats().TornTails, logs)
}

// TestKill9Child is the child of TestKill9; it does nothing on its own.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestKill9")
	}
	s, err := Open(dir, Options{MaxBytes: 1 << 30, SegmentBytes: 64 << 10}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; i < 10_000_000; {
		k := 1 + i%7
		if err := s.Append(testRecords(i, i+k)...); err != nil {
			t.Fatal(err)
		}
		i += k
		fmt.Fprintf(w, "appended %d\n", i-1)
		w.Flush()
	}
}
