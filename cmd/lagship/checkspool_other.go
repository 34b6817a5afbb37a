//go:build !(linux || darwin || freebsd)

package main

// diskFree is unknown here.
func diskFree(string) (int64, bool) { return 0, false }

// spoolLocked: internal/spool locks only on unix systems.
func spoolLocked(string) (bool, error) { return false, nil }
