package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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

// TestComposeMatchesConfig parses the docker-compose example (it cannot run
// here) and checks that the lagship config it mounts names only its
// services.
func TestComposeMatchesConfig(t *testing.T) {
	b, err := os.ReadFile("../../examples/docker-compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Volumes []string `yaml:"volumes"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, s := range []string{"kafka1", "kafka2", "mirrormaker2", "elasticsearch", "kibana", "lagship"} {
		if _, ok := compose.Services[s]; !ok {
			t.Errorf("service %s missing", s)
		}
	}
	lag := compose.Services["lagship"]
	// The image's CMD is run, its config $LAGSHIP_CONFIG; cmd/lagship's
	// TestDockerfileAndCompose checks the two agree.
	if !slices.Contains(lag.Volumes, "./lagship.yaml:/etc/lagship/lagship.yaml:ro") || len(lag.Command) != 0 {
		t.Errorf("lagship service: %+v", lag)
	}
	c, err := LoadWith("../../examples/docker-compose/lagship.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	host := func(hp string) string {
		h, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(hp, "http://"), "https://"), ":")
		return h
	}
	for _, cl := range c.Clusters {
		for _, br := range cl.Brokers {
			if _, ok := compose.Services[host(br)]; !ok {
				t.Errorf("cluster %s broker %s is not a compose service", cl.Name, br)
			}
		}
	}
	for _, a := range append(c.Elasticsearch.Addresses, c.Kibana.URL) {
		if _, ok := compose.Services[host(a)]; !ok {
			t.Errorf("%s is not a compose service", a)
		}
	}
}
