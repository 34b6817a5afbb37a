// Package await is how tests wait for an effect: poll a condition until it
// holds or a deadline passes, never sleep for a guessed time.
package await

import (
	"testing"
	"time"
)

// Poll is how often conditions are evaluated.
const Poll = 10 * time.Millisecond

// True waits until cond returns true, failing the test (naming what) when
// it has not within timeout.
func True(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Within(timeout, cond) {
		tb.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Within reports whether cond became true within timeout.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(Poll)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-t.C
	}
}
