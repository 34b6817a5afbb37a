// Package syncbuf is a buffer that goroutines may write to at once, for
// tests that collect logs or output from the code under test.
package syncbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer collects writes under a lock. The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Count is how many times sub occurs in what was written.
func (s *Buffer) Count(sub string) int { return strings.Count(s.String(), sub) }
