// Package tlsconfig builds the TLS client configuration every lagship
// client uses (Kafka brokers, Elasticsearch, Kibana), so they all verify
// certificates the same way: against the system roots plus an optional CA
// file, with verification off only when the operator says so.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Options are the TLS settings of one endpoint in lagship.yaml.
type Options struct {
	CAFile             string // PEM CA certificates trusted in addition to the system roots
	CertFile, KeyFile  string // client certificate, both or neither
	InsecureSkipVerify bool   // no certificate verification (explicit operator choice)
}

// Client returns a TLS 1.2+ client configuration for o. Errors name the
// file they are about.
func Client(o Options) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // explicit operator choice, off by default
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s: %w", o.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
