package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// StateVersion is the state file's format version.
const StateVersion = 1

// State is what the state file holds: per notifier, its firing incidents
// and its undelivered messages.
type State struct {
	Version   int                      `json:"version"`
	Notifiers map[string]NotifierState `json:"notifiers"`
}

// NotifierState is one notifier's part of the state file.
type NotifierState struct {
	Incidents []Incident `json:"incidents"`
	Pending   []Event    `json:"pending"`
}

// StateFile is the state file's name in the spool directory.
const StateFile = "notify-state.json"

// StatePath is where the state of an agent whose spool is spoolDir lives:
// inside the spool directory (the one directory a container or a systemd
// unit keeps), <spool_dir>/notify-state.json. The spool reads only its own
// segment, cursor and lock files and its rejected/ directory, so it shares
// the directory safely.
func StatePath(spoolDir string) string {
	return filepath.Join(spoolDir, StateFile)
}

// oldStatePath is where an older lagship kept the state that now lives at
// path: next to the spool directory, <spool_dir>.notify.json ("" when path
// is not a StatePath).
func oldStatePath(path string) string {
	if filepath.Base(path) != StateFile {
		return ""
	}
	return filepath.Dir(path) + ".notify.json"
}

// moveOldState moves the state file from where an older lagship kept it
// to path, once: when path does not exist and the old file does. It
// returns the old file's path when it moved it (moved) or left it alone
// because path exists (ignored). The move copies, then removes, so it also
// works across file systems (a container's image and its volume).
func moveOldState(path string) (moved, ignored string, err error) {
	old := oldStatePath(path)
	if old == "" {
		return "", "", nil
	}
	b, err := os.ReadFile(old)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", "", nil
	case err != nil:
		return "", "", fmt.Errorf("moving the notification state from %s: %w", old, err)
	}
	if _, err := os.Stat(path); err == nil {
		return "", old, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("moving the notification state from %s: %w", old, err)
	}
	if err := writeAtomic(path, b); err != nil {
		return "", "", fmt.Errorf("moving the notification state from %s: %w", old, err)
	}
	if err := os.Remove(old); err != nil {
		return "", "", fmt.Errorf("moving the notification state from %s (copied to %s): %w", old, path, err)
	}
	syncDir(filepath.Dir(old))
	return old, "", nil
}

// LoadState reads the state file; a missing file is an empty state.
func LoadState(path string) (State, error) {
	st := State{Version: StateVersion, Notifiers: map[string]NotifierState{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading the notification state: %w", err)
	}
	got, err := parseState(b)
	if err != nil {
		return st, fmt.Errorf("reading the notification state %s: %w", path, err)
	}
	return got, nil
}

// parseState reads the state file's text.
func parseState(b []byte) (State, error) {
	var got State
	if err := json.Unmarshal(b, &got); err != nil {
		return State{}, err
	}
	if got.Version != StateVersion {
		return State{}, fmt.Errorf("version %d; this lagship reads version %d", got.Version, StateVersion)
	}
	if got.Notifiers == nil {
		got.Notifiers = map[string]NotifierState{}
	}
	return got, nil
}

// SaveState writes st to path atomically: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory. A crash
// leaves the old file or the new one, never a torn one.
func SaveState(path string, st State) error {
	for _, n := range st.Notifiers {
		sort.Slice(n.Incidents, func(i, j int) bool {
			a, b := n.Incidents[i], n.Incidents[j]
			return a.Mirror+"\x00"+a.Topic < b.Mirror+"\x00"+b.Topic
		})
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing the notification state: %w", err)
	}
	return nil
}

// writeAtomic writes b to path: a temporary file in the same directory,
// fsync, rename over path, fsync of the directory.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, nothing is there
	if _, err := f.Write(b); err != nil {
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or removal in dir durable (where the file system
// can).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	err = d.Sync()
	d.Close()
	if err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return err
	}
	return nil
}
