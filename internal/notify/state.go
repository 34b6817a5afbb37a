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

// StatePath is where the state of an agent whose spool is spoolDir lives:
// next to the spool directory, <spool_dir>.notify.json.
func StatePath(spoolDir string) string {
	return filepath.Clean(spoolDir) + ".notify.json"
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
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("writing the notification state: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing the notification state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, nothing is there
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing the notification state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing the notification state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the notification state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the notification state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil && !strings.Contains(err.Error(), "invalid argument") {
			return fmt.Errorf("writing the notification state: %w", err)
		}
	}
	return nil
}
