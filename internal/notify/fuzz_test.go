package notify

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"99999999999999999999", 0, false},
		{"86400", DefaultGiveUp, true}, // capped to the retry budget
		{"Wed, 21 Oct 2015 07:28:30 GMT", 30 * time.Second, true},
		{"Wed, 21 Oct 2015 07:27:00 GMT", 0, true}, // in the past
		{"Wednesday, 21-Oct-15 07:29:00 GMT", time.Minute, true},
		{"soon", 0, false},
	}
	for _, c := range cases {
		got, ok := ParseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "Sun Nov  6 08:49:37 1994", "9223372036854775807", "1e3"} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

// FuzzParseState: any text is read or refused, never a panic; what is read
// writes back to a state that reads the same.
func FuzzParseState(f *testing.F) {
	st := State{Version: StateVersion, Notifiers: map[string]NotifierState{"hook": {
		Incidents: []Incident{{Mirror: "mm", Topic: "orders", Status: "STOP", Previous: "OK", StartedAt: t0, LastSent: t0}},
		Pending:   []Event{SampleEvent(false)},
	}}}
	b, _ := json.Marshal(st)
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"notifiers":{"a":{"incidents":[{"status":"BAD"}]}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseState(out)
		if err != nil {
			t.Fatalf("re-reading %s: %v", out, err)
		}
		if js(again) != js(st) {
			t.Fatalf("round trip changed the state:\n%s\n%s", js(st), js(again))
		}
		// Restoring any state read must not panic.
		for _, ns := range st.Notifiers {
			NewMachine(Rules{}).Restore(t0, 0, 0, ns.Incidents)
		}
	})
}

// FuzzRedactor: whatever the URL and header value, building the redactor
// never panics, and a long path segment echoed in an answer is redacted.
func FuzzRedactor(f *testing.F) {
	for _, s := range []string{"T0AAAA1111", "x%ffsecretsecret", "a/b?c=d&e=ffffffffff", "ſecretſecret", "\xff\xfe0123456789", ""} {
		f.Add(s, "Bearer "+s)
	}
	f.Fuzz(func(t *testing.T, seg, header string) {
		r := newRedactor("https://hooks.example.com/hook/"+url.PathEscape(seg)+"?k="+url.QueryEscape(seg), []string{header})
		out := r.scrub("Cannot POST /hook/" + seg + " (" + url.PathEscape(seg) + ")")
		if len(seg) >= minSecret && utf8.ValidString(seg) && !strings.Contains(strings.ToLower(seg), "redacted") && strings.Contains(out, seg) {
			t.Fatalf("%q left in %q", seg, out)
		}
	})
}
