package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestOnceExitCodes: once exits 3 when any configured topic could not be
// collected, names each on stderr, shows them as ERROR rows in the table,
// and still prints what it did collect.
func TestOnceExitCodes(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders"}, 2)
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	cfgText := func(mirrors string) string {
		return fmt.Sprintf(`clusters:
  - {name: live, brokers: [%q], timeout: 2s}
  - {name: dead, brokers: [%q], timeout: 1s}
mirrors:
%s`, kf.ListenAddrs()[0], dead, mirrors)
	}
	ok := "  - {name: good, cluster: live, group: mirrormaker, topics: [orders]}\n"
	tests := []struct {
		name     string
		mirrors  string
		code     int
		stderr   []string
		stdout   []string
		noStdout []string
	}{
		{"all collected", ok, 0, nil, []string{"good", "orders"}, []string{"ERROR"}},
		{"missing topic", ok + "  - {name: typo, cluster: live, group: mirrormaker, topics: [ordres]}\n", exitPartial,
			[]string{"1 of 2 topics could not be collected", "typo/ordres: ", "topic not found"}, []string{"good", "ERROR typo ordres mirrormaker native - - - topic \"ordres\" on cluster \"live\": topic not found"}, nil},
		{"unreachable brokers", ok + "  - {name: far, cluster: dead, group: mirrormaker, topics: [orders]}\n", exitPartial,
			[]string{"far/orders: "}, []string{"good", "ERROR far orders mirrormaker native"}, nil},
		{"unknown group is a state, not a failure", ok + "  - {name: nogroup, cluster: live, group: nobody, topics: [orders]}\n", 0,
			nil, []string{"NO DATA nogroup orders nobody native"}, []string{"ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "lagship.yaml", cfgText(tt.mirrors))
			code, out, errOut := runCLI(t, "once", "-config", path, "-log-level", "error")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, w := range tt.stdout {
				if !strings.Contains(strings.Join(strings.Fields(out), " "), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.noStdout {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
		})
	}
}
