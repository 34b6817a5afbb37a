package elasticsearch_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/mappings"
)

const base = `
clusters:
  - name: dc1
    brokers: ["kafka1:9092"]
mirrors:
  - {name: mm, cluster: dc1, group: mirrormaker, topics: [orders]}
`

// TestStreamSettings: the data stream keys of the file, their defaults and
// their errors with file:line and the field.
func TestStreamSettings(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, tt := range []struct {
		name, es string
		want     []string
	}{
		{"defaults", "elasticsearch: {}", nil},
		{"stream", "elasticsearch: {data_stream: true, retention: 30d, tsds: true}", nil},
		{"retention without stream", "elasticsearch:\n  retention: 30d", []string{"f.yaml:2: elasticsearch.retention: needs data_stream: true"}},
		{"tsds without stream", "elasticsearch:\n  index: lag\n  tsds: true", []string{"f.yaml:3: elasticsearch.tsds: needs data_stream: true"}},
		{"bad retention", "elasticsearch:\n  data_stream: true\n  retention: 30 days", []string{`f.yaml:3: elasticsearch.retention: "30 days" is not a retention such as 30d`}},
		{"short retention", "elasticsearch:\n  data_stream: true\n  retention: 10m", []string{"f.yaml:3: elasticsearch.retention: 10m is below the minimum of 1h"}},
		{"builtin pattern", "elasticsearch:\n  data_stream: true\n  index: metrics-kafka-lag", []string{`f.yaml:3: elasticsearch.index: "metrics-kafka-lag" cannot name lagship's data stream: it matches metrics-*-*`}},
		{"not a bool", "elasticsearch:\n  data_stream: yes please", []string{"f.yaml:2: elasticsearch.data_stream: cannot unmarshal"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("f.yaml", []byte(tt.es+"\n"+base), noEnv)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tt.name == "defaults" && (c.Elasticsearch.DataStream || c.Elasticsearch.Retention != "" || c.Elasticsearch.TSDS || c.Elasticsearch.Index != "consumer_lag") {
					t.Errorf("defaults changed: %+v", c.Elasticsearch)
				}
				if cfg := c.Elasticsearch.Config(nil); tt.name == "stream" && (!cfg.DataStream || cfg.Retention != "30d" || !cfg.TSDS) {
					t.Errorf("client config %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestConfigReadsMappingFile: the client configuration check builds carries
// mapping_file, so its comparison of the stream's template is right.
func TestConfigReadsMappingFile(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "mapping.json")
	custom := strings.Replace(string(mappings.JSON), `"status": { "type": "keyword" }`, `"status": { "type": "keyword", "ignore_above": 64 }`, 1)
	if custom == string(mappings.JSON) {
		t.Fatal("the mapping changed: adjust the test")
	}
	if err := os.WriteFile(mf, []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	c, err := config.Parse("f.yaml", []byte("elasticsearch: {data_stream: true, mapping_file: "+mf+"}\n"+base), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Elasticsearch.Config(nil).Mapping; string(got) != custom {
		t.Errorf("Config(nil) mapping is not mapping_file's:\n%s", got)
	}
	c.Elasticsearch.MappingFile = filepath.Join(t.TempDir(), "missing.json")
	if got := c.Elasticsearch.Config(nil).Mapping; string(got) != string(mappings.JSON) {
		t.Errorf("an unreadable mapping_file: Config(nil) mapping is not the embedded one")
	}
}

// TestTSDSMappingFileChecked: with tsds, a mapping_file whose dimensions
// are not keyword is a config error naming the file and line.
func TestTSDSMappingFileChecked(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "mapping.json")
	bad := strings.Replace(string(mappings.JSON), `"mirror": { "type": "keyword" }`, `"mirror": { "type": "text" }`, 1)
	if bad == string(mappings.JSON) {
		t.Fatal("the mapping changed: adjust the test")
	}
	if err := os.WriteFile(mf, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	_, err := config.Parse("f.yaml", []byte("elasticsearch: {data_stream: true, tsds: true, mapping_file: "+mf+"}\n"+base), noEnv)
	if err == nil || !strings.Contains(err.Error(), "f.yaml:1: elasticsearch.mapping_file: "+mf+" does not fit tsds: true: a time series data stream needs mirror mapped as keyword") {
		t.Fatalf("err = %v", err)
	}
	if _, err := config.Parse("f.yaml", []byte("elasticsearch: {data_stream: true, mapping_file: "+mf+"}\n"+base), noEnv); err != nil {
		t.Errorf("without tsds the same mapping is fine: %v", err)
	}
}
