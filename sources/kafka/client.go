package kafka

import (
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// NewClient returns a kafka-go client for the cluster, with the same TLS and
// SASL settings as the Cluster, for components that read records (the
// MirrorMaker 2 offsets reader). Close its transport's idle connections when
// done with it.
func NewClient(cfg Config) (*kafkago.Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", cfg.Name, err)
	}
	mech, err := cfg.mechanism()
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", cfg.Name, err)
	}
	tr := &kafkago.Transport{
		TLS:         tlsCfg,
		SASL:        mech,
		ClientID:    cfg.ClientID,
		DialTimeout: cfg.Timeout,
		IdleTimeout: 5 * time.Minute,
		MetadataTTL: time.Minute,
	}
	return &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: cfg.Timeout, Transport: tr}, nil
}
