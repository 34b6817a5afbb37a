package kafka

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Brokers of Kafka 0.10.0 answer ListOffsets v0 only: every connection
// fails with an error naming the API and both ranges, from collection and
// from the probe, and the broker is not dialled again on the next tick.
func TestVersionTooOld(t *testing.T) {
	f := newFakeKafka(t, nil, kfake.MaxVersions(kversion.V0_10_0()), kfake.SeedTopics(2, "events"))
	f.closeHelper()
	const why = " offers ListOffsets v0-v0; lagship speaks v1-v5 (Kafka 0.10.1 or later)"

	c := newTestCluster(t, f, nil)
	defer c.WatchGroup("g", "events")()
	ctx := testCtx(t)
	f.count.take()
	_, err := c.Source("g").Collect(ctx, tickAt(0), "events")
	if !errors.Is(err, ErrUnsupportedBroker) {
		t.Fatalf("Collect: %v, want ErrUnsupportedBroker", err)
	}
	for _, addr := range f.addrs {
		if !strings.Contains(err.Error(), "broker "+addr+why) {
			t.Errorf("Collect error %q does not say %q", err, "broker "+addr+why)
		}
	}
	if n := f.count.take()[kmsg.ApiVersions]; n != len(f.addrs) {
		t.Errorf("ApiVersions requests on tick 0 = %d, want one per broker (%d)", n, len(f.addrs))
	}
	if _, err := c.Source("g").Collect(ctx, tickAt(1), "events"); !errors.Is(err, ErrUnsupportedBroker) {
		t.Fatalf("Collect tick 1: %v, want ErrUnsupportedBroker", err)
	}
	if n := f.count.take(); len(n) != 0 {
		t.Errorf("requests on tick 1 = %v, want none: the brokers answered for good", n)
	}

	p := newTestCluster(t, f, func(cfg *Config) { cfg.Brokers = f.addrs[:1] })
	checks := p.Probe(ctx, "g", []string{"events"})
	if len(checks) != 3 {
		t.Fatalf("checks = %+v, want broker, topic and group", checks)
	}
	if ch := checks[0]; ch.OK || ch.Detail != "broker "+f.addrs[0]+why {
		t.Errorf("broker check = %+v, want failed with %q", ch, "broker "+f.addrs[0]+why)
	}
	for _, ch := range checks[1:] {
		if ch.OK || !strings.Contains(ch.Detail, why) {
			t.Errorf("check %+v, want failed with %q", ch, why)
		}
	}
}
