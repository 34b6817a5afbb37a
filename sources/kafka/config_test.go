package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func nopLogger() zerolog.Logger { return zerolog.Nop() }

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "src", Brokers: []string{"k1:9092", "10.0.0.2:9093"}}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // empty: valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers"},
		{"no port", func(c *Config) { c.Brokers = []string{"k1"} }, `broker "k1"`},
		{"bad port", func(c *Config) { c.Brokers = []string{"k1:x"} }, "invalid port"},
		{"port out of range", func(c *Config) { c.Brokers = []string{"k1:70000"} }, "invalid port"},
		{"no host", func(c *Config) { c.Brokers = []string{":9092"} }, "missing host"},
		{"sasl scram", func(c *Config) { c.SASL = &SASL{MechanismScramSHA512, "u", "p"} }, ""},
		{"sasl unknown", func(c *Config) { c.SASL = &SASL{"GSSAPI", "u", "p"} }, "sasl.mechanism"},
		{"sasl no user", func(c *Config) { c.SASL = &SASL{Mechanism: MechanismPlain} }, "sasl.username"},
		{"tls cert without key", func(c *Config) { c.TLS = &TLS{Enabled: true, CertFile: "c.pem"} }, "key_file"},
		{"tls disabled ignores files", func(c *Config) { c.TLS = &TLS{CertFile: "c.pem"} }, ""},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate accepted the config, want an error about %q", tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate: %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewClusterDefaults(t *testing.T) {
	c, err := NewCluster(Config{Name: "d", Brokers: []string{"127.0.0.1:9"}}, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.cfg.ClientID != DefaultClientID || c.cfg.Timeout != DefaultTimeout ||
		c.cfg.MetadataMaxAge != DefaultMetadataMaxAge || c.cfg.UnknownBackoff != DefaultUnknownBackoff ||
		c.cfg.MembersMaxAge != DefaultMembersMaxAge {
		t.Errorf("defaults not applied: %+v", c.cfg)
	}
}
