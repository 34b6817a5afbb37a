package delivery

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestArenaReuse: the chunks of a sent batch are filled again, no more of
// them are kept than that batch used, a chunk made for one large body is
// not kept, and a body handed out never changes before its chunk is given
// back.
func TestArenaReuse(t *testing.T) {
	var a arena
	body := bytes.Repeat([]byte("x"), 1000)
	var first [][]byte
	for range 3 * arenaChunk / len(body) { // three chunks and a bit
		first = append(first, a.add(body))
	}
	chunks := a.detach()
	if len(chunks) != 4 {
		t.Fatalf("detached %d chunks, want 4", len(chunks))
	}
	if a.chunk != nil || a.full != nil {
		t.Fatal("the arena kept chunks it handed over")
	}
	// Until reuse, a new body takes a new chunk.
	b := a.add([]byte("y"))
	for _, c := range chunks {
		if unsafe.SliceData(c) == unsafe.SliceData(b) {
			t.Fatal("a detached chunk was filled before it was given back")
		}
	}
	for i, f := range first {
		if !bytes.Equal(f, body) {
			t.Fatalf("body %d changed before its chunk was given back", i)
		}
	}
	a.drop()

	large := make([]byte, 0, 2*arenaChunk)
	a.reuse(append(chunks, large, chunks[0][:0:arenaChunk/2]))
	if len(a.free) != 4 {
		t.Fatalf("kept %d chunks, want the 4 full-size ones", len(a.free))
	}
	reused := map[*byte]bool{}
	for _, c := range chunks {
		reused[unsafe.SliceData(c)] = true
	}
	for range 4 {
		got := a.add(bytes.Repeat([]byte("z"), arenaChunk))
		if !reused[unsafe.SliceData(got)] {
			t.Fatal("a new chunk was made while sent ones were free")
		}
	}
	if got := a.add([]byte("z")); reused[unsafe.SliceData(got)] {
		t.Fatal("a chunk was handed out twice")
	}

	// No more are kept than the batch given back used.
	a.free = nil
	a.reuse(chunks[:2])
	a.reuse(chunks[2:])
	if len(a.free) != 2 {
		t.Fatalf("kept %d chunks after two batches of 2, want 2", len(a.free))
	}
}
