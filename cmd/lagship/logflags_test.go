package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLogFormats: each -log-format writes what its readers expect.
func TestLogFormats(t *testing.T) {
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"json", func(t *testing.T, out string) {
			m := decodeLine(t, out)
			if m["level"] != "info" || m["message"] != "hello" || m["mirror"] != "mm" || m["time"] == nil {
				t.Errorf("json line: %v", m)
			}
		}},
		{"console", func(t *testing.T, out string) {
			if !strings.Contains(out, "INF hello mirror=mm") {
				t.Errorf("console line: %q", out)
			}
		}},
		{"ecs", func(t *testing.T, out string) {
			m := decodeLine(t, out)
			want := map[string]any{"log.level": "info", "message": "hello", "lagship.mirror": "mm", "ecs.version": ecsVersion,
				"service.name": "lagship", "service.version": buildVersion()}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v (line %s)", k, m[k], v, out)
				}
			}
			ts, _ := m["@timestamp"].(string)
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", ts); err != nil {
				t.Errorf("@timestamp %q: %v", ts, err)
			}
			if m["time"] != nil || m["level"] != nil {
				t.Errorf("zerolog's names remain: %s", out)
			}
			if !strings.HasPrefix(out, `{"@timestamp":`) {
				t.Errorf("@timestamp is not first: %s", out)
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b bytes.Buffer
			lf := logFlags{format: tc.format, level: "info"}
			log, err := lf.logger(&b)
			if err != nil {
				t.Fatal(err)
			}
			log.Info().Str("mirror", "mm").Msg("hello")
			log.Debug().Msg("below the level")
			tc.check(t, b.String())
			if strings.Contains(b.String(), "below the level") {
				t.Error("a debug line at level info")
			}
		})
	}
}

// TestECSFields: errors, numbers, nested objects and strings that need
// escaping survive the renaming.
func TestECSFields(t *testing.T) {
	var b bytes.Buffer
	log, err := (&logFlags{format: "ecs", level: "debug"}).logger(&b)
	if err != nil {
		t.Fatal(err)
	}
	log.Error().Err(errors.New(`dial "es:9200": refused`)).Int("documents", 42).Dict("methods", log.Info().Int("ssh", 1)).Str("topic", "a\"b").
		Str("url", "http://127.0.0.1:9839/").Str("host", "mm1.example").Str("file", "/var/lib/lagship/x").Str("group", "mm").Msg("line\nbreak")
	m := decodeLine(t, b.String())
	if m["log.level"] != "error" || m["error.message"] != `dial "es:9200": refused` || m["lagship.documents"] != 42.0 || m["lagship.topic"] != `a"b` || m["message"] != "line\nbreak" {
		t.Errorf("%v", m)
	}
	if mm, _ := m["lagship.methods"].(map[string]any); mm["ssh"] != 1.0 {
		t.Errorf("methods %v", m["lagship.methods"])
	}
	// ECS has objects of these names: an event's strings must not take them.
	for _, k := range []string{"url", "host", "file", "group", "documents", "topic"} {
		if _, ok := m[k]; ok {
			t.Errorf("top-level %q in an ECS line: %v", k, m)
		}
	}
	// Something that is not one of zerolog's events is passed on as is.
	b.Reset()
	w := newECSWriter(&b, "v1")
	if _, err := w.Write([]byte("not json\n")); err != nil || b.String() != "not json\n" {
		t.Errorf("%q %v", b.String(), err)
	}
}

func TestLogFlagErrors(t *testing.T) {
	for _, lf := range []logFlags{{format: "xml", level: "info"}, {format: "json", level: "loud"}, {format: "ecs", level: ""}} {
		if _, err := lf.logger(&bytes.Buffer{}); err == nil {
			t.Errorf("%+v: no error", lf)
		}
	}
}

func decodeLine(t *testing.T, out string) map[string]any {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want one line, got %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	return m
}

// FuzzECSWriter: whatever zerolog (or anything else) writes, the ECS
// writer passes on one line, and a JSON object stays a JSON object with
// the ECS fields.
func FuzzECSWriter(f *testing.F) {
	f.Add([]byte(`{"level":"info","time":"2026-12-07T01:02:03.456789+01:00","message":"hello","mirror":"mm"}` + "\n"))
	f.Add([]byte(`{"level":"error","error":"x","n":1,"d":{"a":[1,2]}}` + "\n"))
	f.Add([]byte(`{}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"time":5,"level":null}`))
	f.Add([]byte(`{"ecs.version":"1.0","service.name":"other","message":"m"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var b bytes.Buffer
		n, err := newECSWriter(&b, "v1").Write(in)
		if err != nil || n != len(in) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(in, &obj) != nil || !json.Valid(in) {
			return
		}
		var out map[string]any
		if err := json.Unmarshal(b.Bytes(), &out); err != nil {
			t.Fatalf("%q became %q: %v", in, b.Bytes(), err)
		}
		if out["ecs.version"] != ecsVersion || out["service.name"] != "lagship" {
			t.Fatalf("%q became %q", in, b.Bytes())
		}
	})
}
