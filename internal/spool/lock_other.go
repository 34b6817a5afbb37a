//go:build !unix

package spool

import (
	"os"
	"path/filepath"
)

// lockDir only creates the lock file: advisory locking is implemented for
// unix systems, where lagship runs.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
