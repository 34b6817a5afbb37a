package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesLoad loads every lagship config under examples/ (and the
// demo's), so the examples never drift from the schema.
func TestExamplesLoad(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../../examples", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".yaml") && strings.HasPrefix(d.Name(), "lagship") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../cmd/lagship/demo.yaml")
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	anyEnv := func(k string) (string, bool) {
		switch {
		case strings.HasPrefix(k, "DEMO_BROKER"):
			return "127.0.0.1:9092", true
		case strings.HasSuffix(k, "_URL"):
			return "http://127.0.0.1:9200", true
		}
		return "x", true
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			c, err := LoadWith(f, anyEnv)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(c.Mirrors) == 0 {
				t.Fatal("no mirrors")
			}
		})
	}
}
