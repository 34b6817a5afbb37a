package config

import (
	"os"
	"path/filepath"
	"regexp"
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

// referenceKeys lists the keys of the README's configuration reference:
// the first cell of each row names a key and, after it, siblings
// ("`kibana.url`, `username`"); a `{a, b: x|y}` in the row's last cell
// lists the keys inside it.
func referenceKeys(t *testing.T, readme string) []string {
	t.Helper()
	_, ref, ok := strings.Cut(readme, "\n## Configuration reference\n")
	if !ok {
		t.Fatal("README has no Configuration reference section")
	}
	if i := strings.Index(ref, "\n## "); i >= 0 {
		ref = ref[:i]
	}
	code := regexp.MustCompile("`([^`]+)`")
	var keys []string
	for _, line := range strings.Split(ref, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.ReplaceAll(line, `\|`, "/"), "|")
		if len(cells) < 4 {
			t.Fatalf("README row %q", line)
		}
		var first string
		for i, m := range code.FindAllStringSubmatch(cells[1], -1) {
			k := m[1]
			if i == 0 {
				first = k
			} else {
				k = parentKey(first) + k
			}
			keys = append(keys, k)
		}
		for _, m := range code.FindAllStringSubmatch(cells[len(cells)-2], -1) {
			inner, ok := strings.CutPrefix(m[1], "{")
			if !ok || !strings.HasSuffix(inner, "}") {
				continue
			}
			for _, part := range strings.Split(strings.TrimSuffix(inner, "}"), ",") {
				name, _, _ := strings.Cut(strings.TrimSpace(part), ":")
				keys = append(keys, first+"."+name)
			}
		}
	}
	return keys
}

// parentKey is "mirrors[].ssh." for "mirrors[].ssh.host", "" for "interval".
func parentKey(k string) string {
	if i := strings.LastIndex(k, "."); i >= 0 {
		return k[:i+1]
	}
	return ""
}

// hasKey reports whether the key path (mirrors[].ssh.host: [] is any
// element of a list) is set somewhere in n.
func hasKey(n *yaml.Node, path []string) bool {
	if n.Kind == yaml.DocumentNode {
		return len(n.Content) == 1 && hasKey(n.Content[0], path)
	}
	if len(path) == 0 {
		return true
	}
	name, list := strings.CutSuffix(path[0], "[]")
	v := mapValue(n, name)
	if v == nil {
		return false
	}
	if !list {
		return hasKey(v, path[1:])
	}
	if v.Kind != yaml.SequenceNode {
		return false
	}
	for _, e := range v.Content {
		if hasKey(e, path[1:]) {
			return true
		}
	}
	return false
}

// TestExampleShowsEveryKey: examples/lagship.yaml sets every key of the
// README's configuration reference (and loads, see TestExamplesLoad), so
// an operator sees each one in context. A key added to the reference must
// be added to the example.
func TestExampleShowsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := referenceKeys(t, string(readme))
	// The reference must not silently parse to nothing, nor lose the keys
	// that are easiest to forget.
	for _, k := range []string{"interval", "elasticsearch.flush_bytes", "elasticsearch.compress", "elasticsearch.timeout",
		"kibana.api_key", "kibana.ca_file", "clusters[].tls.cert_file", "clusters[].tls.key_file", "clusters[].client_id",
		"clusters[].timeout", "mirrors[].ssh.passphrase_file", "mirrors[].ssh.insecure_ignore_host_key", "mirrors[].connector"} {
		if !slices.Contains(keys, k) {
			t.Errorf("the README's reference lacks %s (parsed %d keys: %v)", k, len(keys), keys)
		}
	}
	b, err := os.ReadFile("../../examples/lagship.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := protectVars(b) // ${VAR} may stand where YAML does not allow '{'
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !hasKey(&doc, strings.Split(k, ".")) {
			t.Errorf("examples/lagship.yaml does not show %s", k)
		}
	}
}
