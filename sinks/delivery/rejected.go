package delivery

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// rejected keeps the records a destination refused for good, one JSON line
// each ({"time","id","reason","body"}; body is the record as it was, as a
// string, since it may not be valid JSON), in <spool_dir>/rejected/ with one
// file a day, for an operator to inspect. Nothing reads them back.
type rejected struct {
	dir string
	mu  sync.Mutex
}

// RejectedDir is the directory under the spool directory that holds
// refused records.
const RejectedDir = "rejected"

func (r *rejected) add(rec Record, reason string) (string, error) {
	now := time.Now().UTC()
	line, err := json.Marshal(struct {
		Time   string `json:"time"`
		ID     string `json:"id"`
		Reason string `json:"reason"`
		Body   string `json:"body"`
	}{now.Format(time.RFC3339Nano), rec.ID, reason, string(rec.Body)})
	if err != nil {
		return "", err
	}
	dir := filepath.Join(r.dir, RejectedDir)
	path := filepath.Join(dir, "rejected-"+now.Format("2006-01-02")+".ndjson")
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("keeping a refused document: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("keeping a refused document: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	cerr := f.Close()
	if werr != nil {
		return "", fmt.Errorf("keeping a refused document: %w", werr)
	}
	if cerr != nil {
		return "", fmt.Errorf("keeping a refused document: %w", cerr)
	}
	return path, nil
}
