package elasticsearch

import (
	"compress/gzip"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/lagship/lagship/mappings"
)

// Config configures the sink. Start from DefaultConfig: Compress defaults to
// true there, which the zero value cannot say.
type Config struct {
	// Addresses are the node URLs, http(s)://host:port; requests are spread
	// over them and a failed node is skipped. Credentials do not belong
	// here: use Username/Password or APIKey.
	Addresses []string
	// Username and Password enable HTTP basic authentication.
	Username, Password string
	// APIKey is the encoded API key (base64 of id:key), sent as
	// "Authorization: ApiKey <APIKey>". It excludes Username/Password.
	APIKey string
	// CAFile is a PEM file of the CA that signed the nodes' certificates.
	CAFile string
	// InsecureSkipVerify disables TLS certificate verification.
	InsecureSkipVerify bool

	// Index receives the documents (default consumer_lag).
	Index string
	// Mapping is the body of PUT /<index> used when the index does not exist
	// (default: mappings.JSON).
	Mapping []byte

	// DataStream makes Index the name of a data stream rather than of a
	// plain index: a composable template with data_stream, documents
	// written with "create" into backing indices (datastream.go).
	DataStream bool
	// Retention is how long Elasticsearch keeps documents of the data
	// stream (an Elasticsearch time value such as 30d; "" keeps them
	// forever): the data stream lifecycle on 8.14 and later, an ILM policy
	// before. It needs DataStream.
	Retention string
	// TSDS makes the data stream a time series data stream (index.mode
	// time_series, Elasticsearch 8.7 and later). It needs DataStream.
	TSDS bool

	// Compress gzips request bodies.
	Compress bool
	// CompressLevel is the gzip level when Compress is on, from 1
	// (gzip.BestSpeed) to 9 (gzip.BestCompression); 0 means
	// DefaultCompressLevel. A tick of bulk JSON is repetitive: level 1
	// already shrinks it about twelvefold, for a fifth of the CPU of gzip's
	// default level.
	CompressLevel int
	// Timeout bounds Probe's requests (default 30s); the delivery layer
	// bounds the requests it makes with its own Timeout.
	Timeout time.Duration

	// MaxRetries bounds the client's retries of a whole request on another
	// node or after a pause (transport errors, 429, 502, 503, 504; default
	// 3). Items answered 429 or 5xx are not retried here: the delivery layer
	// spools and replays them.
	MaxRetries int
	// RetryBackoff is the first retry delay, doubled each attempt up to
	// MaxBackoff (defaults 200ms and 10s).
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
}

// Defaults.
const (
	DefaultIndex         = "consumer_lag"
	DefaultCompressLevel = gzip.BestSpeed
	DefaultMaxRetries    = 3
	DefaultTimeout       = 30 * time.Second
	DefaultRetryBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff    = 10 * time.Second
)

// DefaultConfig returns the defaults, compression on, pointed at
// http://localhost:9200.
func DefaultConfig() Config {
	return Config{
		Addresses:     []string{"http://localhost:9200"},
		Index:         DefaultIndex,
		Mapping:       mappings.JSON,
		Timeout:       DefaultTimeout,
		Compress:      true,
		CompressLevel: DefaultCompressLevel,
		MaxRetries:    DefaultMaxRetries,
		RetryBackoff:  DefaultRetryBackoff,
		MaxBackoff:    DefaultMaxBackoff,
	}
}

// withDefaults fills zero values (not Compress, whose zero value is a
// choice).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Index == "" {
		c.Index = d.Index
	}
	if c.Mapping == nil {
		c.Mapping = d.Mapping
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.CompressLevel == 0 {
		c.CompressLevel = d.CompressLevel
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = d.RetryBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	return c
}

// Validate reports the first problem, naming the field. Zero values that
// have a default are valid.
func (c Config) Validate() error {
	if len(c.Addresses) == 0 {
		return errors.New("elasticsearch: addresses: at least one node URL is required")
	}
	for i, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("elasticsearch: addresses[%d]: want http(s)://host:port", i)
		}
		if u.User != nil {
			return fmt.Errorf("elasticsearch: addresses[%d]: credentials in the URL are not allowed, use username/password or api_key", i)
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		return errors.New("elasticsearch: api_key and username/password are exclusive")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("elasticsearch: password is set but username is empty")
	}
	if c.Index != "" {
		if err := validIndexName(c.Index); err != nil {
			return fmt.Errorf("elasticsearch: index %q: %w", c.Index, err)
		}
	}
	if c.Mapping != nil {
		if _, err := mappings.Parse(c.Mapping); err != nil {
			return fmt.Errorf("elasticsearch: mapping: %w", err)
		}
	}
	if err := c.validateStream(); err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	switch {
	case c.Timeout < 0:
		return errors.New("elasticsearch: timeout must not be negative")
	case c.CompressLevel < 0 || c.CompressLevel > gzip.BestCompression:
		return fmt.Errorf("elasticsearch: compress level %d: want 1 (fastest) to 9 (smallest)", c.CompressLevel)
	case c.MaxRetries < 0:
		return errors.New("elasticsearch: max_retries must not be negative")
	case c.RetryBackoff < 0 || c.MaxBackoff < 0:
		return errors.New("elasticsearch: retry backoff must not be negative")
	}
	return nil
}

// validIndexName applies Elasticsearch's rules for index names.
func validIndexName(name string) error {
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			return errors.New("must be lowercase")
		case r == '\\' || r == '/' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|' || r == ' ' || r == ',' || r == '#' || r == ':':
			return fmt.Errorf("must not contain %q", r)
		}
	}
	if name[0] == '_' || name[0] == '-' || name[0] == '+' {
		return errors.New("must not start with '_', '-' or '+'")
	}
	if name == "." || name == ".." || len(name) > 255 {
		return errors.New("is not a valid index name")
	}
	return nil
}
