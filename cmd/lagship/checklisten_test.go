package main

import (
	"net"
	"strings"
	"testing"
)

// TestProbeListen: a taken port fails unless the agent that holds the
// spool is running; a free one passes and stays free.
func TestProbeListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		name    string
		addr    string
		running bool
		lines   int
		ok      bool
		detail  string
	}{
		{"off", "", false, 0, false, ""},
		{"free", free, false, 1, true, "free"},
		{"taken", taken.Addr().String(), false, 1, false, "address already in use: run would not start"},
		{"taken by the running agent", taken.Addr().String(), true, 1, true, "presumably by the running lagship"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := probeListen(tc.addr, tc.running)
			if len(got) != tc.lines {
				t.Fatalf("%+v", got)
			}
			if tc.lines == 1 && (got[0].ok != tc.ok || !strings.Contains(got[0].detail, tc.detail) || got[0].name != "listen "+tc.addr) {
				t.Errorf("%+v", got[0])
			}
		})
	}
	// The probe let the free port go.
	if l, err := net.Listen("tcp", free); err != nil {
		t.Errorf("the probe kept %s: %v", free, err)
	} else {
		l.Close()
	}
}
