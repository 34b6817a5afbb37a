package kafka

import (
	"net"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	f := seedLagCluster(t)
	// A port nothing listens on: bind, note, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name    string
		brokers []string
		group   string
		topics  []string
		want    map[string]bool // check name -> OK
	}{
		{"all good", f.addrs[:1], "mm-a", []string{"orders"},
			map[string]bool{"broker " + f.addrs[0]: true, "topic orders": true, "group mm-a": true}},
		{"missing topic", f.addrs[:1], "mm-b", []string{"payments", "orders-v3"},
			map[string]bool{"broker " + f.addrs[0]: true, "topic payments": true, "topic orders-v3": false, "group mm-b": true}},
		{"group without offsets for the topics", f.addrs[:1], "mm-a", []string{"payments"},
			map[string]bool{"broker " + f.addrs[0]: true, "topic payments": true, "group mm-a": false}},
		{"unknown group", f.addrs[:1], "nobody", []string{"orders"},
			map[string]bool{"broker " + f.addrs[0]: true, "topic orders": true, "group nobody": false}},
		{"dead broker", []string{dead, f.addrs[1]}, "", []string{"orders"},
			map[string]bool{"broker " + dead: false, "broker " + f.addrs[1]: true, "topic orders": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, f, func(cfg *Config) { cfg.Brokers = tt.brokers })
			checks := c.Probe(testCtx(t), tt.group, tt.topics)
			if len(checks) != len(tt.want) {
				t.Fatalf("got %d checks %+v, want %d", len(checks), checks, len(tt.want))
			}
			for _, ch := range checks {
				want, ok := tt.want[ch.Name]
				if !ok {
					t.Errorf("unexpected check %+v", ch)
					continue
				}
				if ch.OK != want || strings.TrimSpace(ch.Detail) == "" {
					t.Errorf("check %q = %v (%s), want OK=%v with a detail", ch.Name, ch.OK, ch.Detail, want)
				}
			}
		})
	}
}
