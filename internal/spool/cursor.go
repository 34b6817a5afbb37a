package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
)

// The acknowledgement cursor lives in one small file, rewritten on every Ack
// through a temporary file, fsync and rename, so it is always either the old
// or the new cursor:
//
//	"LGSC" | uint64 segment | uint64 offset | uint32 CRC-32C of the preceding 20 bytes
const (
	cursorMagic   = "LGSC"
	cursorLen     = 24
	cursorFile    = "cursor"
	cursorTmpFile = "cursor.tmp"
)

func encodeCursor(p position) []byte {
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorMagic...)
	b = binary.LittleEndian.AppendUint64(b, p.seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.off))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCursor(b []byte) (position, error) {
	if len(b) != cursorLen {
		return position{}, fmt.Errorf("cursor is %d bytes, want %d", len(b), cursorLen)
	}
	if string(b[:4]) != cursorMagic {
		return position{}, fmt.Errorf("bad cursor magic %q", b[:4])
	}
	if got, want := crc32.Checksum(b[:20], castagnoli), binary.LittleEndian.Uint32(b[20:]); got != want {
		return position{}, fmt.Errorf("cursor checksum mismatch: stored %08x, computed %08x", want, got)
	}
	off := binary.LittleEndian.Uint64(b[12:20])
	if off > 1<<62 {
		return position{}, fmt.Errorf("impossible cursor offset %d", off)
	}
	return position{seq: binary.LittleEndian.Uint64(b[4:12]), off: int64(off)}, nil
}

// readCursor returns the persisted cursor; ok is false when there is none.
func readCursor(dir string) (p position, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, cursorFile))
	if errors.Is(err, fs.ErrNotExist) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, err
	}
	p, err = decodeCursor(b)
	if err != nil {
		return position{}, false, err
	}
	return p, true, nil
}

// writeCursor replaces the cursor file atomically. The directory is not
// synced: after a power cut the rename may be lost, which only means that a
// restart replays a little more.
func writeCursor(dir string, p position) error {
	tmp := filepath.Join(dir, cursorTmpFile)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(encodeCursor(p)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, cursorFile))
}
