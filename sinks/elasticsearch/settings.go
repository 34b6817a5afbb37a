package elasticsearch

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/mappings"
	"github.com/lagship/lagship/sinks/delivery"
)

// Settings is the elasticsearch section of lagship's file. The sink owns
// its keys, defaults and validation; internal/config composes it.
type Settings struct {
	Addresses          []string           `yaml:"addresses"`
	Username           string             `yaml:"username"`
	Password           configkit.Secret   `yaml:"password"`
	APIKey             configkit.Secret   `yaml:"api_key"`
	CAFile             string             `yaml:"ca_file"`
	InsecureSkipVerify bool               `yaml:"insecure_skip_verify"`
	Index              string             `yaml:"index"`
	DataStream         bool               `yaml:"data_stream"`
	Retention          string             `yaml:"retention"`
	TSDS               bool               `yaml:"tsds"`
	MappingFile        string             `yaml:"mapping_file"`
	FlushInterval      configkit.Duration `yaml:"flush_interval"`
	FlushBytes         configkit.ByteSize `yaml:"flush_bytes"`
	Compress           *bool              `yaml:"compress"`
	SpoolDir           string             `yaml:"spool_dir"`
	SpoolMaxBytes      configkit.ByteSize `yaml:"spool_max_bytes"`
	// Timeout bounds every request to Elasticsearch (default 30s).
	Timeout configkit.Duration `yaml:"timeout"`
}

// Defaults of the file's keys.
const (
	DefaultAddress       = "http://localhost:9200"
	DefaultSpoolDir      = "/var/lib/lagship/spool"
	DefaultSpoolMaxBytes = 1 << 30
	MinTimeout           = time.Second
	MaxTimeout           = 10 * time.Minute
)

// SetDefaults fills what the file left out.
func (s *Settings) SetDefaults() {
	if len(s.Addresses) == 0 {
		s.Addresses = []string{DefaultAddress}
	}
	if s.Index == "" {
		s.Index = DefaultIndex
	}
	if s.FlushInterval == 0 {
		s.FlushInterval = configkit.Duration(delivery.DefaultFlushInterval)
	}
	if s.Compress == nil {
		t := true
		s.Compress = &t
	}
	if s.SpoolDir == "" {
		s.SpoolDir = DefaultSpoolDir
	}
	if s.SpoolMaxBytes == 0 {
		s.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if s.Timeout == 0 {
		s.Timeout = configkit.Duration(DefaultTimeout)
	}
}

// Validate reports every problem of the section through r (file:line).
func (s *Settings) Validate(r configkit.Reporter) {
	for i, a := range s.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Errorf([]any{"addresses", i}, "%q is not an http(s) URL such as https://es-node1:9200", configkit.RedactURL(a))
			continue
		}
		if u.User != nil {
			r.Errorf([]any{"addresses", i}, "put credentials in username/password or api_key, not in the URL")
		}
	}
	if s.APIKey != "" && (s.Username != "" || s.Password != "") {
		r.Errorf([]any{"api_key"}, "use api_key or username/password, not both")
	}
	if (s.Username == "") != (s.Password == "") {
		r.Errorf(nil, "username and password go together")
	}
	if s.Index != "" && validIndexName(s.Index) != nil {
		r.Errorf([]any{"index"}, "%q is not a valid index name (lowercase, at most 255 bytes, not starting with _ - +, no spaces or \\/*?\"<>|,#:)", s.Index)
	}
	if s.Retention != "" {
		if _, err := ParseRetention(s.Retention); err != nil {
			r.Errorf([]any{"retention"}, "%v", err)
		} else if !s.DataStream {
			r.Errorf([]any{"retention"}, "needs data_stream: true (a plain index has no lifecycle; Elasticsearch deletes documents by whole backing indices of a data stream)")
		}
	}
	if s.TSDS && !s.DataStream {
		r.Errorf([]any{"tsds"}, "needs data_stream: true (a time series data stream is a data stream)")
	}
	if s.TSDS && s.DataStream && s.MappingFile != "" {
		// The mapping must have what a time series data stream needs
		// (its dimensions as keyword); found at start rather than by a
		// set-up that would fail at every attempt.
		if b, err := s.Mapping(); err == nil {
			var tmpl map[string]any
			if json.Unmarshal(b, &tmpl) == nil {
				if err := annotateTSDS(tmpl); err != nil {
					r.Errorf([]any{"mapping_file"}, "%s does not fit tsds: true: %v", s.MappingFile, err)
				}
			}
		}
	}
	if s.DataStream && s.Index != "" && validIndexName(s.Index) == nil {
		if err := validStreamName(s.Index); err != nil {
			r.Errorf([]any{"index"}, "%q cannot name lagship's data stream: %v", s.Index, err)
		}
	}
	if time.Duration(s.FlushInterval) < 0 {
		r.Errorf([]any{"flush_interval"}, "must be positive")
	}
	if s.FlushBytes != 0 && s.FlushBytes < 4<<10 {
		r.Errorf([]any{"flush_bytes"}, "%d bytes is below the minimum of 4KiB", s.FlushBytes)
	}
	if d := time.Duration(s.Timeout); d != 0 && (d < MinTimeout || d > MaxTimeout) {
		r.Errorf([]any{"timeout"}, "%s is outside 1s to 10m", d)
	}
	if s.SpoolMaxBytes != 0 && s.SpoolMaxBytes < 1<<20 {
		r.Errorf([]any{"spool_max_bytes"}, "%d bytes is below the minimum of 1MiB", s.SpoolMaxBytes)
	}
}

// Mapping returns the mapping the index is created with: mapping_file, or
// the embedded one.
func (s *Settings) Mapping() ([]byte, error) {
	if s.MappingFile == "" {
		return mappings.JSON, nil
	}
	b, err := os.ReadFile(s.MappingFile)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch.mapping_file: %w", err)
	}
	if _, err := mappings.Parse(b); err != nil {
		return nil, fmt.Errorf("elasticsearch.mapping_file %s: %w", s.MappingFile, err)
	}
	return b, nil
}

// Config is the client configuration of the section; mapping nil means
// mapping_file when it is set and readable, else the embedded mapping, so
// that `lagship check` compares a data stream's template with the one a
// start would install.
func (s *Settings) Config(mapping []byte) Config {
	if mapping == nil && s.MappingFile != "" {
		mapping, _ = s.Mapping()
	}
	c := DefaultConfig()
	c.Addresses = s.Addresses
	c.Username = s.Username
	c.Password = s.Password.Reveal()
	c.APIKey = s.APIKey.Reveal()
	c.CAFile = s.CAFile
	c.InsecureSkipVerify = s.InsecureSkipVerify
	c.Index = s.Index
	c.DataStream, c.Retention, c.TSDS = s.DataStream, s.Retention, s.TSDS
	if mapping != nil {
		c.Mapping = mapping
	}
	if s.Timeout > 0 {
		c.Timeout = time.Duration(s.Timeout)
	}
	if s.Compress != nil {
		c.Compress = *s.Compress
	}
	return c
}

// DeliveryOptions are the delivery layer's options for the section.
func (s *Settings) DeliveryOptions() delivery.Options {
	return delivery.Options{
		Name:          "elasticsearch",
		SpoolDir:      s.SpoolDir,
		SpoolMaxBytes: int64(s.SpoolMaxBytes),
		FlushInterval: time.Duration(s.FlushInterval),
		FlushBytes:    int(s.FlushBytes),
		Timeout:       time.Duration(s.Timeout),
	}
}

// Insecure lists what weakens the connection, for a warning at start: TLS
// verification off, credentials over plain http.
func (s *Settings) Insecure() []string {
	var out []string
	if s.InsecureSkipVerify {
		out = append(out, "elasticsearch.insecure_skip_verify is set: the server's TLS certificate is not verified")
	}
	if s.Username != "" || s.APIKey != "" {
		for _, a := range s.Addresses {
			if strings.HasPrefix(a, "http://") {
				out = append(out, "credentials are sent to Elasticsearch over plain http ("+configkit.RedactURL(a)+")")
			}
		}
	}
	return out
}
