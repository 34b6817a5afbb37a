package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// On-disk format of a segment file (all integers little endian):
//
//	header:  "LGSP" | uint32 version (1)
//	frame:   uint32 payload length | uint32 CRC-32C | payload
//	payload: uvarint len(ID) | ID | Body
//
// The CRC covers the four length bytes and the payload, so a damaged length
// is caught as surely as a damaged payload. A segment is only ever appended
// to by the process that created it; after a restart the writer starts a new
// segment, so a torn tail is never followed by good data.

const (
	segMagic       = "LGSP"
	segVersion     = 1
	segHeaderLen   = 8
	frameHeaderLen = 8
)

// MaxRecordBytes bounds the framed size of one record (ID, Body and a few
// bytes of framing); Append rejects larger records. When reading, a length
// field above it is impossible and marks the frame as corrupt.
const MaxRecordBytes = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentHeader returns the bytes every segment file starts with.
func segmentHeader() []byte {
	h := make([]byte, segHeaderLen)
	copy(h, segMagic)
	binary.LittleEndian.PutUint32(h[4:], segVersion)
	return h
}

// payloadLen is the size of r's payload.
func payloadLen(r Record) int {
	return uvarintLen(uint64(len(r.ID))) + len(r.ID) + len(r.Body)
}

// frameLen is the size of r once framed.
func frameLen(r Record) int64 { return frameHeaderLen + int64(payloadLen(r)) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendFrame appends r, framed, to dst.
func appendFrame(dst []byte, r Record) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, uint64(len(r.ID)))
	dst = append(dst, r.ID...)
	dst = append(dst, r.Body...)
	hdr := dst[start : start+frameHeaderLen]
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(dst)-start-frameHeaderLen))
	binary.LittleEndian.PutUint32(hdr[4:8], frameCRC(hdr[0:4], dst[start+frameHeaderLen:]))
	return dst
}

func frameCRC(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// decodePayload splits a verified payload into ID and Body. Both alias p.
func decodePayload(p []byte) (id, body []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}

// corruptError describes the first bad frame of a segment: everything from
// Off to the end of the file is skipped.
type corruptError struct {
	Off    int64
	Reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("corrupt frame at offset %d: %s", e.Off, e.Reason)
}

// frameReader reads frames from a segment between off and limit.
type frameReader struct {
	br    *bufio.Reader
	off   int64 // file offset of the next frame
	limit int64 // file offset where readable data ends
	buf   []byte
	hdr   [frameHeaderLen]byte
}

// next returns the payload of the next frame, verified. The payload is valid
// until the following call. It returns io.EOF at limit, a *corruptError for
// a torn or damaged frame, or the error of the underlying reader.
func (fr *frameReader) next() ([]byte, error) {
	remaining := fr.limit - fr.off
	if remaining <= 0 {
		return nil, io.EOF
	}
	if remaining < frameHeaderLen {
		return nil, fr.corrupt("partial frame header")
	}
	hdr := fr.hdr[:]
	if _, err := io.ReadFull(fr.br, hdr); err != nil {
		return nil, fr.readErr(err)
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	if n == 0 || n > MaxRecordBytes {
		return nil, fr.corrupt(fmt.Sprintf("impossible length %d", n))
	}
	if n > remaining-frameHeaderLen {
		return nil, fr.corrupt(fmt.Sprintf("partial frame: length %d, %d bytes left", n, remaining-frameHeaderLen))
	}
	if int64(cap(fr.buf)) < n {
		fr.buf = make([]byte, n)
	}
	p := fr.buf[:n]
	if _, err := io.ReadFull(fr.br, p); err != nil {
		return nil, fr.readErr(err)
	}
	if got, want := frameCRC(hdr[0:4], p), binary.LittleEndian.Uint32(hdr[4:8]); got != want {
		return nil, fr.corrupt(fmt.Sprintf("checksum mismatch: stored %08x, computed %08x", want, got))
	}
	if _, _, ok := decodePayload(p); !ok {
		return nil, fr.corrupt("malformed payload")
	}
	fr.off += frameHeaderLen + n
	return p, nil
}

func (fr *frameReader) corrupt(reason string) error {
	return &corruptError{Off: fr.off, Reason: reason}
}

// readErr turns a short read (the file is shorter than limit said) into a
// corruption and passes other errors through.
func (fr *frameReader) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fr.corrupt("file ends inside a frame")
	}
	return err
}

// scanResult summarises one pass over a segment file.
type scanResult struct {
	end     int64         // offset just past the last good frame
	records int           // good frames in [segHeaderLen, end)
	corrupt *corruptError // first bad frame, nil when the file is clean
}

// readSegment reads a whole segment of size bytes from r and calls fn (when
// not nil) for every frame whose checksum verified, with its offset. id and
// body are only valid during the call. It stops at the first bad frame and
// reports it in the result; the error is for I/O failures only.
func readSegment(r io.Reader, size int64, fn func(off int64, id, body []byte)) (scanResult, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if size == 0 {
		// Created but never written: a crash right after creation.
		return scanResult{}, nil
	}
	if size < segHeaderLen {
		return scanResult{corrupt: &corruptError{Off: 0, Reason: "partial segment header"}}, nil
	}
	var h [segHeaderLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return scanResult{corrupt: &corruptError{Off: 0, Reason: "file ends inside the segment header"}}, nil
		}
		return scanResult{}, err
	}
	if string(h[:4]) != segMagic {
		return scanResult{corrupt: &corruptError{Off: 0, Reason: fmt.Sprintf("bad magic %q", h[:4])}}, nil
	}
	if v := binary.LittleEndian.Uint32(h[4:]); v != segVersion {
		return scanResult{corrupt: &corruptError{Off: 0, Reason: fmt.Sprintf("unsupported segment version %d", v)}}, nil
	}
	fr := frameReader{br: br, off: segHeaderLen, limit: size}
	res := scanResult{end: segHeaderLen}
	for {
		off := fr.off
		p, err := fr.next()
		var ce *corruptError
		switch {
		case err == io.EOF:
			return res, nil
		case errors.As(err, &ce):
			res.corrupt = ce
			return res, nil
		case err != nil:
			return res, err
		}
		if fn != nil {
			id, body, _ := decodePayload(p)
			fn(off, id, body)
		}
		res.end = fr.off
		res.records++
	}
}
