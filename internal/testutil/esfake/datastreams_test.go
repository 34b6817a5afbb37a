package esfake

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var dsNow = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

const dsTemplate = `{"index_patterns":["lag"],"priority":200,"data_stream":{},
 "template":{"mappings":{"properties":{"topic":{"type":"keyword"},"total_lag":{"type":"long"}}}}}`

func TestDataStream(t *testing.T) {
	clk := &fakeClock{t: dsNow}
	s := NewTB(t, WithClock(clk.now))
	if r := do(t, s, "PUT", "/_data_stream/lag", ""); r.status != 400 || !strings.Contains(string(r.raw), "no matching index template found for data stream [lag]") {
		t.Fatalf("stream without a template: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PUT", "/_index_template/lag", dsTemplate); r.status != 200 {
		t.Fatalf("template: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PUT", "/lag", ""); r.status != 400 || !strings.Contains(string(r.raw), "creates data streams only") {
		t.Errorf("PUT /lag under a data stream template: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", "/_data_stream/lag", ""); r.status != 404 || r.errType() != "index_not_found_exception" {
		t.Errorf("GET a missing stream: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PUT", "/_data_stream/lag", ""); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PUT", "/_data_stream/lag", ""); r.status != 400 || r.errType() != "resource_already_exists_exception" {
		t.Errorf("create again: %d %s", r.status, r.raw)
	}
	want := ".ds-lag-2024.05.01-000001"
	if got := s.BackingIndices("lag"); len(got) != 1 || got[0] != want {
		t.Fatalf("backing indices %v, want [%s]", got, want)
	}
	if got := s.FieldType(want, "@timestamp"); got != "date" {
		t.Errorf("@timestamp is %q in the backing index, want date", got)
	}
	r := do(t, s, "GET", "/_data_stream/lag", "")
	ds := r.body["data_streams"].([]any)[0].(map[string]any)
	if ds["name"] != "lag" || ds["template"] != "lag" || ds["generation"].(float64) != 1 || ds["lifecycle"] != nil || ds["time_series"] != nil {
		t.Errorf("GET _data_stream: %s", r.raw)
	}
	if r := do(t, s, "HEAD", "/lag", ""); r.status != 200 {
		t.Errorf("HEAD a stream: %d", r.status)
	}
	if r := do(t, s, "GET", "/lag/_mapping", ""); r.status != 200 || r.body[want] == nil {
		t.Errorf("GET /lag/_mapping: %d %s", r.status, r.raw)
	}
	for _, c := range []struct{ name, method, path, body, errType, reason string }{
		{"delete by stream name", "DELETE", "/lag", "", "illegal_argument_exception", "matches a data stream"},
		{"delete the write index", "DELETE", "/" + want, "", "illegal_argument_exception", "is the write index for data stream [lag]"},
		{"delete the template in use", "DELETE", "/_index_template/lag", "", "illegal_argument_exception", "in use by a data streams [lag]"},
		{"template loses data_stream", "PUT", "/_index_template/lag", `{"index_patterns":["lag"],"priority":200}`, "illegal_argument_exception", "no longer match a data stream template"},
		{"template stops matching", "PUT", "/_index_template/lag", `{"index_patterns":["lag2"],"priority":200,"data_stream":{}}`, "illegal_argument_exception", "would cause data streams [lag] to no longer match"},
		{"stream name .ds-", "PUT", "/_data_stream/.ds-x", "", "illegal_argument_exception", "must not start with '.ds-'"},
	} {
		r := do(t, s, c.method, c.path, c.body)
		if r.status != 400 || r.errType() != c.errType || !strings.Contains(string(r.raw), c.reason) {
			t.Errorf("%s: %d %s", c.name, r.status, r.raw)
		}
	}
	got := items(t, bulkReq(t, s, "/_bulk", strings.Join([]string{
		`{"create":{"_index":"lag","_id":"a"}}`, `{"@timestamp":"2024-05-01T10:00:00.000Z","topic":"t","total_lag":1}`,
		`{"create":{"_index":"lag","_id":"a"}}`, `{"@timestamp":"2024-05-01T10:00:00.000Z","topic":"t","total_lag":1}`,
		`{"index":{"_index":"lag","_id":"b"}}`, `{"@timestamp":"2024-05-01T10:00:00.000Z","topic":"t"}`,
		`{"create":{"_index":"lag","_id":"c"}}`, `{"topic":"t"}`,
		`{"index":{"_index":"` + want + `","_id":"d"}}`, `{"@timestamp":"2024-05-01T10:00:00.000Z","topic":"t"}`,
	}, "\n")+"\n"))
	for i, w := range []struct {
		status int
		typ    string
	}{{201, ""}, {409, "version_conflict_engine_exception"}, {400, "illegal_argument_exception"}, {400, "document_parsing_exception"}, {400, "illegal_argument_exception"}} {
		if got[i].status != w.status || got[i].typ != w.typ {
			t.Errorf("item %d: %+v, want %d %s", i, got[i], w.status, w.typ)
		}
	}
	if !strings.Contains(got[2].reason, "only write ops with an op_type of create are allowed in data streams") {
		t.Errorf("index op: %s", got[2].reason)
	}
	if ids := s.DocIDs("lag"); len(ids) != 1 || ids[0] != "a" {
		t.Errorf("DocIDs(lag) = %v", ids)
	}
	clk.add(24 * time.Hour)
	if err := s.Rollover("lag"); err != nil {
		t.Fatal(err)
	}
	if got := s.BackingIndices("lag"); len(got) != 2 || got[1] != ".ds-lag-2024.05.02-000002" {
		t.Errorf("after rollover: %v", got)
	}
	// Deleting the stream keeps the template: the next bulk create makes a
	// new stream.
	if r := do(t, s, "DELETE", "/_data_stream/lag", ""); r.status != 200 {
		t.Fatalf("delete stream: %d %s", r.status, r.raw)
	}
	got = items(t, bulkReq(t, s, "/lag/_bulk", `{"create":{"_id":"x"}}`+"\n"+`{"@timestamp":"2024-05-02T10:00:00.000Z","topic":"t"}`+"\n"))
	if got[0].status != 201 || len(s.DataStreams()) != 1 || len(s.Indices()) != 1 || !strings.HasPrefix(s.Indices()[0], ".ds-lag-") {
		t.Errorf("auto-created stream: %+v, streams %v, indices %v", got, s.DataStreams(), s.Indices())
	}
}

func TestDataStreamLifecycleVersions(t *testing.T) {
	tmpl := `{"index_patterns":["lag"],"priority":200,"data_stream":{},"template":{"lifecycle":{"data_retention":"30d"}}}`
	for _, c := range []struct {
		version  string
		template int // status of the template with a lifecycle
		put      int // status of PUT _data_stream/lag/_lifecycle
	}{
		{"8.10.4", 400, 400},
		{"8.13.4", 200, 200},
		{"8.14.0", 200, 200},
		{DefaultVersion, 200, 200},
	} {
		t.Run(c.version, func(t *testing.T) {
			s := NewTB(t, WithVersion(c.version))
			if r := do(t, s, "PUT", "/_index_template/lag", tmpl); r.status != c.template {
				t.Fatalf("template with lifecycle: %d %s", r.status, r.raw)
			}
			if c.template != 200 {
				if r := do(t, s, "PUT", "/_index_template/lag", `{"index_patterns":["lag"],"priority":200,"data_stream":{}}`); r.status != 200 {
					t.Fatal(string(r.raw))
				}
			}
			if err := s.CreateDataStream("lag"); err != nil {
				t.Fatal(err)
			}
			if ret, managed := s.Retention("lag"); managed != (c.template == 200) || (managed && ret != "30d") {
				t.Errorf("retention %q managed %v", ret, managed)
			}
			r := do(t, s, "PUT", "/_data_stream/lag/_lifecycle", `{"data_retention":"7d"}`)
			if r.status != c.put {
				t.Fatalf("PUT _lifecycle: %d %s", r.status, r.raw)
			}
			if c.put == 200 {
				if ret, _ := s.Retention("lag"); ret != "7d" {
					t.Errorf("retention after PUT _lifecycle = %q", ret)
				}
				r := do(t, s, "GET", "/_data_stream/lag", "")
				if !strings.Contains(string(r.raw), `"lifecycle":{"data_retention":"7d","enabled":true}`) {
					t.Errorf("GET _data_stream: %s", r.raw)
				}
				if r := do(t, s, "PUT", "/_data_stream/lag/_lifecycle", `{"data_retention":"30 days"}`); r.status != 400 {
					t.Errorf("bad retention: %d %s", r.status, r.raw)
				}
			}
		})
	}
}

func TestILMPolicy(t *testing.T) {
	s := NewTB(t, WithVersion("8.13.4"))
	good := `{"policy":{"_meta":{"managed_by":"x"},"phases":{"hot":{"actions":{"rollover":{"max_primary_shard_size":"50gb","max_age":"30d"}}},"delete":{"min_age":"30d","actions":{"delete":{}}}}}}`
	if r := do(t, s, "GET", "/_ilm/policy/lag", ""); r.status != 404 || r.errType() != "resource_not_found_exception" {
		t.Errorf("GET missing: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PUT", "/_ilm/policy/lag", good); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	r := do(t, s, "GET", "/_ilm/policy/lag", "")
	var got map[string]struct {
		Version int             `json:"version"`
		Policy  json.RawMessage `json:"policy"`
	}
	if err := json.Unmarshal(r.raw, &got); err != nil || got["lag"].Version != 1 {
		t.Fatalf("GET: %s", r.raw)
	}
	want := `{"_meta":{"managed_by":"x"},"phases":{"delete":{"actions":{"delete":{"delete_searchable_snapshot":true}},"min_age":"30d"},"hot":{"actions":{"rollover":{"max_age":"30d","max_primary_shard_size":"50gb"}},"min_age":"0ms"}}}`
	if string(got["lag"].Policy) != want {
		t.Errorf("policy\n got %s\nwant %s", got["lag"].Policy, want)
	}
	for name, body := range map[string]string{
		"no policy":     `{"phases":{}}`,
		"unknown phase": `{"policy":{"phases":{"lukewarm":{"actions":{}}}}}`,
		"bad action":    `{"policy":{"phases":{"delete":{"actions":{"rollover":{"max_age":"1d"}}}}}}`,
		"no max":        `{"policy":{"phases":{"hot":{"actions":{"rollover":{"min_docs":1}}}}}}`,
		"bad age":       `{"policy":{"phases":{"delete":{"min_age":"30 days","actions":{"delete":{}}}}}}`,
		"bad size":      `{"policy":{"phases":{"hot":{"actions":{"rollover":{"max_primary_shard_size":"50 gigs"}}}}}}`,
	} {
		if r := do(t, s, "PUT", "/_ilm/policy/lag", body); r.status != 400 {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	// A template refers to it; its stream's indices are in use by it.
	if r := do(t, s, "PUT", "/_index_template/lag", `{"index_patterns":["lag"],"priority":200,"data_stream":{},"template":{"settings":{"index.lifecycle.name":"lag"}}}`); r.status != 200 {
		t.Fatal(string(r.raw))
	}
	if err := s.CreateDataStream("lag"); err != nil {
		t.Fatal(err)
	}
	r = do(t, s, "GET", "/_data_stream/lag", "")
	if !strings.Contains(string(r.raw), `"ilm_policy":"lag"`) || !strings.Contains(string(r.raw), `"managed_by":"Index Lifecycle Management"`) {
		t.Errorf("GET _data_stream: %s", r.raw)
	}
	if r := do(t, s, "DELETE", "/_ilm/policy/lag", ""); r.status != 400 {
		t.Errorf("delete a policy in use: %d %s", r.status, r.raw)
	}
}

// tsdsTemplate is a time series template with two dimensions.
const tsdsTemplate = `{"index_patterns":["lag"],"priority":200,"data_stream":{},"template":{
 "settings":{"index.mode":"time_series","index.routing_path":["mirror","topic"]},
 "mappings":{"properties":{"@timestamp":{"type":"date"},"mirror":{"type":"keyword","time_series_dimension":true},
  "topic":{"type":"keyword","time_series_dimension":true},"total_lag":{"type":"long","time_series_metric":"gauge"}}}}}`

func TestTimeSeriesDataStream(t *testing.T) {
	if r := do(t, NewTB(t, WithVersion("8.6.2")), "PUT", "/_index_template/lag", tsdsTemplate); r.status != 400 {
		t.Errorf("TSDS template on 8.6: %d %s", r.status, r.raw)
	}
	clk := &fakeClock{t: dsNow}
	s := NewTB(t, WithClock(clk.now))
	bad := strings.Replace(tsdsTemplate, `["mirror","topic"]`, `["mirror","total_lag"]`, 1)
	if r := do(t, s, "PUT", "/_index_template/lag", bad); r.status != 400 || !strings.Contains(string(r.raw), "[total_lag] was not a dimension") {
		t.Errorf("routing_path on a metric: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PUT", "/_index_template/lag", tsdsTemplate); r.status != 200 {
		t.Fatalf("template: %d %s", r.status, r.raw)
	}
	if err := s.CreateDataStream("lag"); err != nil {
		t.Fatal(err)
	}
	first := s.BackingIndices("lag")[0]
	if st, en := s.Setting(first, "index.time_series.start_time"), s.Setting(first, "index.time_series.end_time"); st != "2024-05-01T08:00:00Z" || en != "2024-05-01T10:30:00Z" {
		t.Errorf("time bounds [%s, %s), want now-2h, now+30m", st, en)
	}
	doc := func(ts, mirror, topic string) string {
		return `{"@timestamp":"` + ts + `","mirror":"` + mirror + `","topic":"` + topic + `","total_lag":3}`
	}
	body := strings.Join([]string{
		`{"create":{"_index":"lag"}}`, doc("2024-05-01T10:00:00.000Z", "m", "a"),
		`{"create":{"_index":"lag"}}`, doc("2024-05-01T10:00:00.000Z", "m", "a"), // the same series and instant
		`{"create":{"_index":"lag"}}`, doc("2024-05-01T10:00:00.000Z", "m", "b"),
		`{"create":{"_index":"lag","_id":"custom"}}`, doc("2024-05-01T10:00:10.000Z", "m", "a"),
		`{"create":{"_index":"lag"}}`, doc("2024-05-01T07:59:59.999Z", "m", "a"), // before start_time
		`{"create":{"_index":"lag"}}`, `{"@timestamp":"2024-05-01T10:00:00.000Z","total_lag":1}`,
	}, "\n") + "\n"
	got := items(t, bulkReq(t, s, "/_bulk", body))
	for i, w := range []struct {
		status int
		typ    string
		reason string
	}{
		{201, "", ""},
		{409, "version_conflict_engine_exception", "document already exists"},
		{201, "", ""},
		{400, "illegal_argument_exception", "because [" + first + "] is in time_series mode"},
		{400, "illegal_argument_exception", "the document timestamp [2024-05-01T07:59:59.999Z] is outside of ranges of currently writable indices [[2024-05-01T08:00:00.000Z,2024-05-01T10:30:00.000Z]]"},
		{400, "illegal_argument_exception", "source didn't contain any routing fields"},
	} {
		if got[i].status != w.status || got[i].typ != w.typ || !strings.Contains(got[i].reason, w.reason) {
			t.Errorf("item %d: %+v, want %d %s %q", i, got[i], w.status, w.typ, w.reason)
		}
	}
	if got[0].id != got[1].id || got[0].id == got[2].id {
		t.Errorf("ids %q %q %q: the same series and instant must share the _id, another series must not", got[0].id, got[1].id, got[2].id)
	}
	if !strings.Contains(got[3].reason, "_id must be unset or set to [") {
		t.Errorf("custom _id: %s", got[3].reason)
	}
	// The clock moves on: the write index's end follows it, and after a
	// rollover a document of the first index's range still goes there.
	clk.add(3 * time.Hour)
	got = items(t, bulkReq(t, s, "/lag/_bulk", `{"create":{}}`+"\n"+doc("2024-05-01T13:10:00.000Z", "m", "a")+"\n"))
	if got[0].status != 201 {
		t.Fatalf("a document three hours later: %+v", got[0])
	}
	if err := s.Rollover("lag"); err != nil {
		t.Fatal(err)
	}
	second := s.BackingIndices("lag")[1]
	if s.Setting(second, "index.time_series.start_time") != s.Setting(first, "index.time_series.end_time") {
		t.Errorf("second index starts at %s, the first ends at %s", s.Setting(second, "index.time_series.start_time"), s.Setting(first, "index.time_series.end_time"))
	}
	got = items(t, bulkReq(t, s, "/lag/_bulk", `{"create":{}}`+"\n"+doc("2024-05-01T09:00:00.000Z", "m", "c")+"\n"))
	if got[0].status != 201 {
		t.Fatalf("an old document after the rollover: %+v", got[0])
	}
	if n := len(s.Docs(first)); n != 4 {
		t.Errorf("%d documents in %s, want 4", n, first)
	}
	if n := len(s.Docs("lag")); n != 4 {
		t.Errorf("%d documents in the stream, want 4", n)
	}
}

// FuzzStreamBulk sends bulk bodies into a time series data stream: every
// item gets an answer, a stored document has the _id its dimensions and
// @timestamp give, and nothing outside the time bounds is stored.
func FuzzStreamBulk(f *testing.F) {
	seed, err := os.ReadFile("testdata/tsds_bulk.ndjson")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("{\"create\":{}}\n{\"@timestamp\":\"2024-05-01T09:59:59.999Z\",\"mirror\":\"m\"}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := newServer(WithClock(func() time.Time { return dsNow }))
		s.mu.Lock()
		tmpl, e := s.parseIndexTemplate("lag", []byte(tsdsTemplate))
		if e == nil {
			s.templates["lag"] = tmpl
			e = s.createDataStreamLocked("lag")
		}
		s.mu.Unlock()
		if e != nil {
			t.Fatal(e)
		}
		actions, e := parseBulk(body, "lag", false)
		if e != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := range actions {
			res := s.bulkItem(&actions[i])
			if res.Status == 0 || (res.Status >= 300) != (res.Error != nil) {
				t.Fatalf("item %d: status %d, error %v", i, res.Status, res.Error)
			}
		}
		for _, n := range s.dataStreams["lag"].indices {
			ix := s.indices[n]
			for id, d := range ix.docs {
				root, err := parseJSON(d.src)
				if err != nil {
					t.Fatalf("stored %s: %v", d.src, err)
				}
				ts := root.get("@timestamp")
				var at time.Time
				if ts.kind == kString {
					at, _ = time.Parse(time.RFC3339Nano, ts.s)
				} else {
					ms, _ := strconv.ParseInt(ts.s, 10, 64)
					at = time.UnixMilli(ms)
				}
				if at.Before(ix.start) || !at.Before(ix.end) {
					t.Fatalf("stored %s outside [%s, %s)", d.src, ix.start, ix.end)
				}
				var dims []string
				for _, dm := range dimensions(ix.m) {
					if n := root.get(dm); n != nil && n.kind != kNull {
						dims = append(dims, dm+"="+n.s)
					}
				}
				if want := tsdsID(dims, at.UTC()); id != want {
					t.Fatalf("stored %s as %s, want %s", d.src, id, want)
				}
			}
		}
	})
}

// FuzzPolicy: a policy the fake accepts renders as JSON GET can return and
// parses again to the same rendering.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(`{"policy":{"_meta":{"a":1},"phases":{"hot":{"actions":{"rollover":{"max_primary_shard_size":"50gb","max_age":"30d"}}},"delete":{"min_age":"30d","actions":{"delete":{}}}}}}`))
	f.Add([]byte(`{"policy":{"phases":{"warm":{"min_age":"1d","actions":{"readonly":{}}}}}}`))
	f.Add([]byte(`{"policy":{"phases":{"hot":{"actions":{"rollover":{"min_docs":1}}}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, e := parsePolicy(body)
		if e != nil {
			if e.status != 400 {
				t.Fatalf("status %d", e.status)
			}
			return
		}
		b, err := json.Marshal(map[string]any{"policy": p})
		if err != nil {
			t.Fatalf("rendering %v: %v", p, err)
		}
		again, e := parsePolicy(b)
		if e != nil {
			t.Fatalf("rendered policy %s refused: %v", b, e)
		}
		if b2, _ := json.Marshal(map[string]any{"policy": again}); string(b2) != string(b) {
			t.Fatalf("rendering is not stable:\n%s\n%s", b, b2)
		}
	})
}
