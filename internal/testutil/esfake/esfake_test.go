package esfake

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/lagship/lagship/mappings"
)

var update = flag.Bool("update", false, "rewrite golden files")

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// errType returns error.type of a whole-request error.
func (r resp) errType() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		t, _ := e["type"].(string)
		return t
	}
	return ""
}

func do(t *testing.T, s *Server, method, path, body string, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	return send(t, http.DefaultClient, req)
}

func send(t *testing.T, c *http.Client, req *http.Request) resp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: response is not JSON: %v: %s", req.Method, req.URL.Path, err, raw)
		}
	}
	return r
}

func TestInfo(t *testing.T) {
	s := NewTB(t)
	r := do(t, s, "GET", "/", "")
	if r.status != 200 || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("GET / = %d, product %q", r.status, r.header.Get("X-Elastic-Product"))
	}
	v := r.body["version"].(map[string]any)["number"].(string)
	if !strings.HasPrefix(v, "8.") {
		t.Errorf("version.number = %q, want 8.x", v)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
	}
}

func TestIndexNames(t *testing.T) {
	s := NewTB(t)
	tests := []struct {
		name       string
		status     int
		errType    string
		reasonPart string
	}{
		{"consumer_lag", 200, "", ""},
		{"Consumer_lag", 400, "invalid_index_name_exception", "must be lowercase"},
		{"_lag", 400, "invalid_index_name_exception", "must not start with"},
		{"-lag", 400, "invalid_index_name_exception", "must not start with"},
		{"a%23b", 400, "invalid_index_name_exception", "must not contain '#'"},
		{"a:b", 400, "invalid_index_name_exception", "must not contain ':'"},
		{"a*b", 400, "invalid_index_name_exception", "must not contain the following characters"},
		{"a,b", 400, "invalid_index_name_exception", "must not contain the following characters"},
		{"..", 400, "invalid_index_name_exception", "must not be '.' or '..'"},
		{strings.Repeat("a", 256), 400, "invalid_index_name_exception", "too long"},
		{strings.Repeat("a", 255), 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name[:min(len(tt.name), 20)], func(t *testing.T) {
			r := do(t, s, "PUT", "/"+tt.name, "")
			if r.status != tt.status || r.errType() != tt.errType {
				t.Fatalf("PUT /%s = %d %s, want %d %s: %s", tt.name, r.status, r.errType(), tt.status, tt.errType, r.raw)
			}
			if tt.reasonPart != "" && !strings.Contains(string(r.raw), tt.reasonPart) {
				t.Errorf("reason lacks %q: %s", tt.reasonPart, r.raw)
			}
		})
	}
}

func TestCreateIndex(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		status  int
		errType string
	}{
		{"project mapping", string(mappings.JSON), 200, ""},
		{"empty body", "", 200, ""},
		{"settings", `{"settings":{"number_of_shards":1,"index":{"mapping":{"total_fields":{"limit":50}}}}}`, 200, ""},
		{"unknown top-level key", `{"mapping":{}}`, 400, "parse_exception"},
		{"typed mapping", `{"mappings":{"_doc":{"properties":{"a":{"type":"long"}}}}}`, 400, "mapper_parsing_exception"},
		{"unknown type", `{"mappings":{"properties":{"a":{"type":"lng"}}}}`, 400, "mapper_parsing_exception"},
		{"unknown parameter", `{"mappings":{"properties":{"a":{"type":"long","ignore_above":3}}}}`, 400, "mapper_parsing_exception"},
		{"bad regex template", `{"mappings":{"dynamic_templates":[{"t":{"match_pattern":"regex","match":"^p(\\d+$","mapping":{"type":"long"}}}]}}`, 400, "mapper_parsing_exception"},
		{"bad match_mapping_type", `{"mappings":{"dynamic_templates":[{"t":{"match_mapping_type":"str","mapping":{"type":"keyword"}}}]}}`, 400, "mapper_parsing_exception"},
		{"template without mapping", `{"mappings":{"dynamic_templates":[{"t":{"match":"p*"}}]}}`, 400, "mapper_parsing_exception"},
		{"duplicate key", `{"mappings":{"properties":{"a":{"type":"long"},"a":{"type":"long"}}}}`, 400, "x_content_parse_exception"},
		{"not json", `{"mappings":`, 400, "x_content_parse_exception"},
		{"too many fields", `{"settings":{"index.mapping.total_fields.limit":1},"mappings":{"properties":{"a":{"type":"long"},"b":{"type":"long"}}}}`, 400, "illegal_argument_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTB(t)
			r := do(t, s, "PUT", "/idx", tt.body)
			if r.status != tt.status || r.errType() != tt.errType {
				t.Fatalf("PUT /idx = %d %q, want %d %q: %s", r.status, r.errType(), tt.status, tt.errType, r.raw)
			}
			want := 0
			if tt.status == 200 {
				want = 1
			}
			if s.IndexCreations() != want {
				t.Errorf("IndexCreations = %d, want %d", s.IndexCreations(), want)
			}
		})
	}
}

func TestIndexLifecycle(t *testing.T) {
	s := NewTB(t)
	if r := do(t, s, "HEAD", "/consumer_lag", ""); r.status != 404 {
		t.Fatalf("HEAD missing = %d", r.status)
	}
	if r := do(t, s, "GET", "/consumer_lag/_mapping", ""); r.status != 404 || r.errType() != "index_not_found_exception" {
		t.Fatalf("GET mapping missing = %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PUT", "/consumer_lag", string(mappings.JSON)); r.status != 200 || r.body["index"] != "consumer_lag" {
		t.Fatalf("create = %d %s", r.status, r.raw)
	}
	if !bytes.Equal(s.LastCreateBody(), mappings.JSON) {
		t.Error("LastCreateBody is not the body sent")
	}
	if r := do(t, s, "HEAD", "/consumer_lag", ""); r.status != 200 {
		t.Fatalf("HEAD existing = %d", r.status)
	}
	r := do(t, s, "PUT", "/consumer_lag", string(mappings.JSON))
	if r.status != 400 || r.errType() != "resource_already_exists_exception" {
		t.Fatalf("second create = %d %s", r.status, r.raw)
	}
	if s.IndexCreations() != 1 {
		t.Errorf("IndexCreations = %d", s.IndexCreations())
	}
	r = do(t, s, "GET", "/consumer_lag/_mapping", "")
	m := r.body["consumer_lag"].(map[string]any)["mappings"].(map[string]any)
	if got := m["properties"].(map[string]any)["topic"].(map[string]any)["type"]; got != "keyword" {
		t.Errorf("topic type = %v", got)
	}
	if len(m["dynamic_templates"].([]any)) != 1 {
		t.Errorf("dynamic_templates = %v", m["dynamic_templates"])
	}
	if r := do(t, s, "POST", "/consumer_lag", ""); r.status != 405 {
		t.Errorf("POST /index = %d, want 405", r.status)
	}
	if r := do(t, s, "GET", "/consumer_lag/_search_nope", ""); r.status != 400 {
		t.Errorf("unknown endpoint = %d, want 400", r.status)
	}
	if r := do(t, s, "GET", "/consumer_lag/_mapping?foo=1", ""); r.status != 400 || !strings.Contains(string(r.raw), "unrecognized parameter: [foo]") {
		t.Errorf("unknown parameter = %d %s", r.status, r.raw)
	}
	if r := do(t, s, "DELETE", "/consumer_lag", ""); r.status != 200 {
		t.Errorf("DELETE = %d", r.status)
	}
	if r := do(t, s, "HEAD", "/consumer_lag", ""); r.status != 404 {
		t.Errorf("HEAD after delete = %d", r.status)
	}
}

// oldMapping is the mapping the replaced script created.
const oldMapping = `{"mappings":{"properties":{"@timestamp":{"type":"date"},"topic":{"type":"text"},
"p0":{"type":"integer"},"p1":{"type":"integer"}}}}`

func TestPutMapping(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		status  int
		errType string
		field   string // field whose type is checked afterwards
		want    string
	}{
		{"add keyword multi-field to text", `{"properties":{"topic":{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}}}`, 200, "", "topic.keyword", "keyword"},
		{"add new field", `{"properties":{"mirror":{"type":"keyword"}}}`, 200, "", "mirror", "keyword"},
		{"change text to keyword", `{"properties":{"topic":{"type":"keyword"}}}`, 400, "illegal_argument_exception", "topic", "text"},
		{"change integer to long", `{"properties":{"p0":{"type":"long"}}}`, 400, "illegal_argument_exception", "p0", "integer"},
		{"non-updatable parameter", `{"properties":{"p1":{"type":"integer","index":false}}}`, 400, "illegal_argument_exception", "p1", "integer"},
		{"unknown root parameter", `{"propertie":{}}`, 400, "mapper_parsing_exception", "topic", "text"},
		{"empty body", ``, 400, "action_request_validation_exception", "topic", "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTB(t)
			if err := s.CreateIndex("consumer_lag", []byte(oldMapping)); err != nil {
				t.Fatal(err)
			}
			r := do(t, s, "PUT", "/consumer_lag/_mapping", tt.body)
			if r.status != tt.status || r.errType() != tt.errType {
				t.Fatalf("PUT _mapping = %d %q, want %d %q: %s", r.status, r.errType(), tt.status, tt.errType, r.raw)
			}
			if got := s.FieldType("consumer_lag", tt.field); got != tt.want {
				t.Errorf("%s type = %q, want %q", tt.field, got, tt.want)
			}
			if tt.status == 200 && string(s.LastPutMapping()) != tt.body {
				t.Errorf("LastPutMapping = %s", s.LastPutMapping())
			}
		})
	}
	s := NewTB(t)
	if r := do(t, s, "PUT", "/missing/_mapping", `{"properties":{}}`); r.status != 404 {
		t.Errorf("PUT _mapping on missing index = %d", r.status)
	}
}

func bulkReq(t *testing.T, s *Server, path, body string, hdr ...string) resp {
	t.Helper()
	return do(t, s, "POST", path, body, append([]string{"Content-Type", "application/x-ndjson"}, hdr...)...)
}

func TestBulkRequestErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		hdr     []string
		status  int
		errType string
	}{
		{"no trailing newline", "/_bulk", `{"index":{"_index":"a"}}` + "\n" + `{"x":1}`, nil, 400, "illegal_argument_exception"},
		{"empty", "/_bulk", "", nil, 400, "action_request_validation_exception"},
		{"unknown action", "/_bulk", `{"upsert":{"_index":"a"}}` + "\n{}\n", nil, 400, "illegal_argument_exception"},
		{"unknown metadata", "/_bulk", `{"index":{"_index":"a","_type":"_doc"}}` + "\n{}\n", nil, 400, "illegal_argument_exception"},
		{"index missing", "/_bulk", `{"index":{}}` + "\n{}\n", nil, 400, "action_request_validation_exception"},
		{"empty id", "/a/_bulk", `{"create":{"_id":""}}` + "\n{}\n", nil, 400, "action_request_validation_exception"},
		{"action not json", "/a/_bulk", "{index\n{}\n", nil, 400, "x_content_parse_exception"},
		{"action without source", "/a/_bulk", `{"index":{}}` + "\n", nil, 400, "illegal_argument_exception"},
		{"blank action line", "/a/_bulk", "\n", nil, 400, "illegal_argument_exception"},
		{"text/plain", "/a/_bulk", `{"index":{}}` + "\n{}\n", []string{"Content-Type", "text/plain"}, 406, ""},
		{"no content type", "/a/_bulk", `{"index":{}}` + "\n{}\n", []string{"Content-Type", ""}, 406, ""},
		{"bad gzip", "/a/_bulk", "not gzip", []string{"Content-Encoding", "gzip"}, 400, "parse_exception"},
		{"GET", "/a/_bulk", "", nil, 405, ""},
		{"bad refresh", "/a/_bulk?refresh=yes", `{"index":{}}` + "\n{}\n", nil, 400, "illegal_argument_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTB(t)
			method := "POST"
			if tt.name == "GET" {
				method = "GET"
			}
			r := do(t, s, method, tt.path, tt.body, append([]string{"Content-Type", "application/x-ndjson"}, tt.hdr...)...)
			if r.status != tt.status || r.errType() != tt.errType {
				t.Fatalf("= %d %q, want %d %q: %s", r.status, r.errType(), tt.status, tt.errType, r.raw)
			}
			if len(s.Indices()) != 0 {
				t.Errorf("a rejected request created %v", s.Indices())
			}
		})
	}
}

type itemResult struct {
	op     string
	status int
	typ    string
	cause  string
	reason string
	id     string
	result string
}

func items(t *testing.T, r resp) []itemResult {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("bulk = %d: %s", r.status, r.raw)
	}
	var out []itemResult
	for _, it := range r.body["items"].([]any) {
		for op, v := range it.(map[string]any) {
			m := v.(map[string]any)
			ir := itemResult{op: op, status: int(m["status"].(float64)), id: m["_id"].(string)}
			ir.result, _ = m["result"].(string)
			if e, ok := m["error"].(map[string]any); ok {
				ir.typ, _ = e["type"].(string)
				ir.reason, _ = e["reason"].(string)
				if c, ok := e["caused_by"].(map[string]any); ok {
					ir.cause, _ = c["type"].(string)
				}
			}
			out = append(out, ir)
		}
	}
	return out
}

// customMapping is a mapping with every type the tests exercise.
const customMapping = `{"mappings":{
 "dynamic_templates":[{"lag":{"match_pattern":"regex","match":"^p\\d+$","mapping":{"type":"integer"}}},
                      {"labels":{"path_match":"labels.*","match_mapping_type":"string","mapping":{"type":"keyword"}}}],
 "properties":{
  "@timestamp":{"type":"date"},
  "epoch":{"type":"date","format":"epoch_millis"},
  "topic":{"type":"keyword"},
  "n":{"type":"integer"},
  "l":{"type":"long"},
  "strict_l":{"type":"long","coerce":false},
  "sh":{"type":"short"},
  "f":{"type":"float"},
  "b":{"type":"boolean"},
  "ip":{"type":"ip"},
  "messy":{"type":"integer","ignore_malformed":true},
  "obj":{"properties":{"x":{"type":"long"}}},
  "locked":{"type":"object","dynamic":"strict","properties":{"y":{"type":"keyword"}}}
 }}}`

func TestBulkItemChecks(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		status  int
		errType string
		cause   string
	}{
		{"valid", `{"@timestamp":"2024-05-01T10:00:00.000Z","topic":"t","n":5,"l":9223372036854775807}`, 201, "", ""},
		{"integer max", `{"n":2147483647}`, 201, "", ""},
		{"integer min", `{"n":-2147483648}`, 201, "", ""},
		{"integer overflow", `{"n":2147483648}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"integer underflow", `{"n":-2147483649}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"integer from numeric string", `{"n":"42"}`, 201, "", ""},
		{"integer from word", `{"n":"many"}`, 400, "document_parsing_exception", "number_format_exception"},
		{"integer from bool", `{"n":true}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"integer from object", `{"n":{"v":1}}`, 400, "document_parsing_exception", "illegal_state_exception"},
		{"integer decimal coerced", `{"n":1.9}`, 201, "", ""},
		{"integer truncates into range", `{"n":2147483647.9}`, 201, "", ""},
		{"integer just out of range", `{"n":2147483648.0}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"integer huge exponent", `{"n":1e999999999}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"nesting too deep", `{"obj":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}`, 400, "document_parsing_exception", ""},
		{"integer array with bad element", `{"n":[1,2,3000000000]}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"integer null", `{"n":null}`, 201, "", ""},
		{"long overflow", `{"l":9223372036854775808}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"long exponent overflow", `{"l":1e19}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"long without coerce from string", `{"strict_l":"5"}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"long without coerce decimal", `{"strict_l":5.5}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"short overflow", `{"sh":32768}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"float overflow", `{"f":1e39}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"float NaN string", `{"f":"NaN"}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"keyword from number", `{"topic":42}`, 201, "", ""},
		{"keyword from bool", `{"topic":true}`, 201, "", ""},
		{"keyword from object", `{"topic":{"name":"t"}}`, 400, "document_parsing_exception", "illegal_state_exception"},
		{"date bad", `{"@timestamp":"yesterday"}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"date invalid day", `{"@timestamp":"2024-02-30"}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"date without zone", `{"@timestamp":"2024-05-01T10:00:00"}`, 201, "", ""},
		{"date offset", `{"@timestamp":"2024-05-01T10:00:00.123456+02:00"}`, 201, "", ""},
		{"date epoch millis number", `{"@timestamp":1714557600000}`, 201, "", ""},
		{"date epoch millis string", `{"@timestamp":"1714557600000"}`, 201, "", ""},
		{"epoch-only field given ISO", `{"epoch":"2024-05-01"}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"boolean from string", `{"b":"false"}`, 201, "", ""},
		{"boolean from yes", `{"b":"yes"}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"ip", `{"ip":"10.0.0.1"}`, 201, "", ""},
		{"bad ip", `{"ip":"10.0.0.300"}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"ignore_malformed", `{"messy":"x"}`, 201, "", ""},
		{"object given a value", `{"obj":3}`, 400, "document_parsing_exception", ""},
		{"object child checked", `{"obj":{"x":"nope"}}`, 400, "document_parsing_exception", "number_format_exception"},
		{"dotted name into object", `{"obj.x":"nope"}`, 400, "document_parsing_exception", "number_format_exception"},
		{"strict object", `{"locked":{"z":1}}`, 400, "strict_dynamic_mapping_exception", ""},
		{"template maps pN to integer", `{"p40":3000000000}`, 400, "document_parsing_exception", "illegal_argument_exception"},
		{"path template", `{"labels":{"dc":"west"}}`, 201, "", ""},
		{"not json", `{"topic":`, 400, "document_parsing_exception", ""},
		{"trailing data", `{"topic":"a"} {"topic":"b"}`, 400, "document_parsing_exception", ""},
		{"not an object", `[1,2]`, 400, "document_parsing_exception", ""},
		{"duplicate key", `{"topic":"a","topic":"b"}`, 400, "document_parsing_exception", ""},
		{"empty field name", `{"":1}`, 400, "document_parsing_exception", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTB(t)
			if err := s.CreateIndex("idx", []byte(customMapping)); err != nil {
				t.Fatal(err)
			}
			before := s.Mapping("idx")
			r := bulkReq(t, s, "/idx/_bulk", `{"create":{"_id":"1"}}`+"\n"+tt.doc+"\n")
			got := items(t, r)[0]
			if got.status != tt.status || got.typ != tt.errType || (tt.cause != "" && got.cause != tt.cause) {
				t.Fatalf("item = %d %s (cause %s), want %d %s (cause %s): %s", got.status, got.typ, got.cause, tt.status, tt.errType, tt.cause, got.reason)
			}
			if r.body["errors"] != (tt.status >= 300) {
				t.Errorf("errors = %v", r.body["errors"])
			}
			stored := len(s.Docs("idx"))
			if tt.status == 201 && stored != 1 || tt.status != 201 && stored != 0 {
				t.Errorf("stored %d docs", stored)
			}
			if tt.status != 201 && !bytes.Equal(before, s.Mapping("idx")) {
				t.Errorf("a rejected document changed the mapping: %s", s.Mapping("idx"))
			}
		})
	}
}

func TestBulkSemantics(t *testing.T) {
	s := NewTB(t)
	if err := s.CreateIndex("consumer_lag", mappings.JSON); err != nil {
		t.Fatal(err)
	}
	doc := `{"@timestamp":"2024-05-01T10:00:00.000Z","topic":"t","p0":1}`
	body := `{"create":{"_id":"a"}}` + "\n" + doc + "\n" +
		`{"create":{"_id":"a"}}` + "\n" + doc + "\n" +
		`{"index":{"_id":"b"}}` + "\n" + doc + "\n" +
		`{"index":{"_id":"b"}}` + "\n" + doc + "\n" +
		`{"create":{}}` + "\n" + doc + "\n" +
		`{"update":{"_id":"a"}}` + "\n" + `{"doc":{}}` + "\n" +
		`{"delete":{"_id":"b"}}` + "\n" +
		`{"delete":{"_id":"zz"}}` + "\n"
	got := items(t, bulkReq(t, s, "/consumer_lag/_bulk", body))
	want := []struct {
		op     string
		status int
		result string
		typ    string
	}{
		{"create", 201, "created", ""},
		{"create", 409, "", "version_conflict_engine_exception"},
		{"index", 201, "created", ""},
		{"index", 200, "updated", ""},
		{"create", 201, "created", ""},
		{"update", 400, "", "illegal_argument_exception"},
		{"delete", 200, "deleted", ""},
		{"delete", 404, "not_found", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.op != w.op || g.status != w.status || g.result != w.result || g.typ != w.typ {
			t.Errorf("item %d = %+v, want %+v", i, g, w)
		}
	}
	if len(got[4].id) != 20 {
		t.Errorf("generated _id %q", got[4].id)
	}
	if ids := s.DocIDs("consumer_lag"); len(ids) != 2 || ids[0] != "a" {
		t.Errorf("DocIDs = %v", ids)
	}
	if s.Requests(EndpointBulk) != 1 || s.BulkItems() != 8 {
		t.Errorf("Requests = %d, BulkItems = %d", s.Requests(EndpointBulk), s.BulkItems())
	}
	if r := do(t, s, "GET", "/consumer_lag/_count", ""); r.body["count"] != 2.0 {
		t.Errorf("_count = %s", r.raw)
	}
	if r := do(t, s, "POST", "/consumer_lag/_update_by_query?conflicts=proceed", ""); r.body["updated"] != 2.0 {
		t.Errorf("_update_by_query = %s", r.raw)
	}
	if r := do(t, s, "POST", "/consumer_lag/_update_by_query?conflicts=maybe", ""); r.status != 400 {
		t.Errorf("_update_by_query bad conflicts = %d", r.status)
	}
}

func TestBulkAutoCreate(t *testing.T) {
	doc := `{"create":{"_index":"fresh","_id":"1"}}` + "\n" + `{"topic":"t","p0":5,"@timestamp":"2024-05-01T10:00:00.000Z"}` + "\n"
	t.Run("on", func(t *testing.T) {
		s := NewTB(t)
		it := items(t, bulkReq(t, s, "/_bulk", doc))[0]
		if it.status != 201 {
			t.Fatalf("item = %+v", it)
		}
		if got := s.AutoCreated(); len(got) != 1 || got[0] != "fresh" {
			t.Errorf("AutoCreated = %v", got)
		}
		for field, want := range map[string]string{"topic": "text", "topic.keyword": "keyword", "p0": "long", "@timestamp": "date"} {
			if got := s.FieldType("fresh", field); got != want {
				t.Errorf("dynamic %s = %q, want %q", field, got, want)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		s := NewTB(t, WithAutoCreateIndex(false))
		it := items(t, bulkReq(t, s, "/_bulk", doc))[0]
		if it.status != 404 || it.typ != "index_not_found_exception" {
			t.Fatalf("item = %+v", it)
		}
		if len(s.Indices()) != 0 {
			t.Errorf("indices = %v", s.Indices())
		}
	})
	t.Run("invalid name", func(t *testing.T) {
		s := NewTB(t)
		it := items(t, bulkReq(t, s, "/_bulk", strings.Replace(doc, "fresh", "Fresh", 1)))[0]
		if it.status != 400 || it.typ != "invalid_index_name_exception" {
			t.Fatalf("item = %+v", it)
		}
	})
}

// TestBulkGolden pins the full response of a mixed bulk request and the
// mapping dynamic mapping produced.
func TestBulkGolden(t *testing.T) {
	s := NewTB(t)
	if err := s.CreateIndex("consumer_lag", mappings.JSON); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("testdata/bulk_mixed.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	r := bulkReq(t, s, "/consumer_lag/_bulk", string(body))
	r.body["took"] = 0
	got, _ := json.MarshalIndent(map[string]any{"response": r.body, "mapping": json.RawMessage(s.Mapping("consumer_lag"))}, "", "  ")
	golden(t, "testdata/bulk_mixed.golden.json", got)
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after checking):\n%s", path, got)
	}
}

func TestGzipBody(t *testing.T) {
	s := NewTB(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"create":{"_id":"1"}}` + "\n" + `{"topic":"t"}` + "\n"))
	_ = zw.Close()
	r := bulkReq(t, s, "/idx/_bulk", buf.String(), "Content-Encoding", "gzip")
	if it := items(t, r)[0]; it.status != 201 {
		t.Fatalf("item = %+v", it)
	}
}

func TestFaults(t *testing.T) {
	s := NewTB(t)
	s.FailNext(EndpointBulk, 2, 429)
	s.FailNext("", 1, 502)
	if r := do(t, s, "GET", "/", ""); r.status != 502 || r.header.Get("X-Elastic-Product") != "" {
		t.Errorf("GET / = %d product %q, want a proxy's 502", r.status, r.header.Get("X-Elastic-Product"))
	}
	if r := do(t, s, "GET", "/", ""); r.status != 200 {
		t.Errorf("GET / = %d, want 200 (bulk faults do not apply)", r.status)
	}
	body := `{"create":{"_id":"1"}}` + "\n" + `{"topic":"t"}` + "\n"
	for i := 0; i < 2; i++ {
		if r := bulkReq(t, s, "/idx/_bulk", body); r.status != 429 || r.errType() != "es_rejected_execution_exception" {
			t.Fatalf("bulk %d = %d %s", i, r.status, r.raw)
		}
	}
	s.RejectNextItems(1)
	body2 := body + `{"create":{"_id":"2"}}` + "\n" + `{"topic":"t"}` + "\n"
	got := items(t, bulkReq(t, s, "/idx/_bulk", body2))
	if got[0].status != 429 || got[0].typ != "es_rejected_execution_exception" || got[1].status != 201 {
		t.Fatalf("items = %+v", got)
	}
	if s.Requests(EndpointBulk) != 3 || s.Requests(EndpointInfo) != 2 {
		t.Errorf("requests: bulk %d info %d", s.Requests(EndpointBulk), s.Requests(EndpointInfo))
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		opt    Option
		header string
		status int
	}{
		{"basic ok", WithBasicAuth("lagship", "s3cret"), "Basic bGFnc2hpcDpzM2NyZXQ=", 200},
		{"basic wrong password", WithBasicAuth("lagship", "s3cret"), "Basic bGFnc2hpcDpub3Bl", 401},
		{"basic missing", WithBasicAuth("lagship", "s3cret"), "", 401},
		{"api key ok", WithAPIKey("aWQ6a2V5"), "ApiKey aWQ6a2V5", 200},
		{"api key wrong", WithAPIKey("aWQ6a2V5"), "ApiKey d3Jvbmc=", 401},
		{"api key given basic", WithAPIKey("aWQ6a2V5"), "Basic bGFnc2hpcDpzM2NyZXQ=", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTB(t, tt.opt)
			r := do(t, s, "GET", "/", "", "Authorization", tt.header)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.status == 401 && (r.errType() != "security_exception" || r.header.Get("WWW-Authenticate") == "") {
				t.Errorf("401 body %s headers %v", r.raw, r.header)
			}
		})
	}
}

func TestOutageRestore(t *testing.T) {
	s := NewTB(t)
	url := s.URL()
	s.Outage()
	_, err := http.Get(url + "/")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("during outage: %v, want connection refused", err)
	}
	if err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Fatalf("URL changed: %s -> %s", url, s.URL())
	}
	if r := do(t, s, "GET", "/", ""); r.status != 200 {
		t.Fatalf("after restore = %d", r.status)
	}
}

func TestTLS(t *testing.T) {
	s := NewTB(t, WithTLS())
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatal("bad CA PEM")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", s.URL()+"/", nil)
	if r := send(t, c, req); r.status != 200 {
		t.Fatalf("GET / over TLS = %d", r.status)
	}
	if _, err := http.Get(s.URL() + "/"); err == nil {
		t.Fatal("a client without the CA connected")
	}
}

// TestOfficialClient drives the fake with the client production uses:
// elastic-transport-go with compression, and esapi requests.
func TestOfficialClient(t *testing.T) {
	s := NewTB(t, WithBasicAuth("u", "p"))
	u, _ := url.Parse(s.URL())
	tp, err := elastictransport.New(elastictransport.Config{URLs: []*url.URL{u}, Username: "u", Password: "p", CompressRequestBody: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := esapi.InfoRequest{}.Do(ctx, tp)
	if err != nil || res.IsError() || res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("Info: %v %v", err, res)
	}
	res.Body.Close()
	body := `{"create":{"_id":"a"}}
{"topic":"t","p0":1}
{"create":{"_id":"b"}}
{"topic":"t","p0":2}
{"create":{"_id":"c"}}
{"topic":"t","p0":3}
`
	res, err = esapi.BulkRequest{Index: "consumer_lag", Body: strings.NewReader(body)}.Do(ctx, tp)
	if err != nil || res.IsError() {
		t.Fatalf("Bulk: %v %v", err, res)
	}
	var out struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if out.Errors || len(out.Items) != 3 || out.Items[2]["create"].Status != 201 {
		t.Fatalf("bulk answer %+v", out)
	}
	if h := s.LastHeader(EndpointBulk); h.Get("Content-Encoding") != "gzip" {
		t.Errorf("bulk not compressed: %v", h)
	}
	if len(s.Docs("consumer_lag")) != 3 {
		t.Errorf("docs = %v", s.Docs("consumer_lag"))
	}
}

// TestIndexTemplates: a template gives its mapping to an index that bulk
// auto-creates, the highest priority wins, same-priority overlaps and bad
// bodies are refused.
func TestIndexTemplates(t *testing.T) {
	s := NewTB(t)
	put := func(name, body string) (int, string) {
		res := do(t, s, "PUT", "/_index_template/"+name, body)
		return res.status, string(res.raw)
	}
	if st, b := put("lag", `{"index_patterns":["lag"],"priority":200,"template":{"mappings":{"properties":{"topic":{"type":"keyword"}}}}}`); st != 200 {
		t.Fatalf("put: %d %s", st, b)
	}
	if st, b := put("lag", `{"index_patterns":["lag"],"priority":200,"template":{"mappings":{"properties":{"topic":{"type":"keyword"}}}}}`); st != 200 {
		t.Fatalf("put again (idempotent): %d %s", st, b)
	}
	if st, b := put("low", `{"index_patterns":["l*"],"priority":10,"template":{"mappings":{"properties":{"topic":{"type":"text"}}}}}`); st != 200 {
		t.Fatalf("put low: %d %s", st, b)
	}
	for name, body := range map[string]string{
		"same-priority":   `{"index_patterns":["lag"],"priority":200}`,
		"no-patterns":     `{"priority":1}`,
		"negative":        `{"index_patterns":["x"],"priority":-1}`,
		"unknown-key":     `{"index_patterns":["x"],"mapping":{}}`,
		"bad-mapping":     `{"index_patterns":["x"],"template":{"mappings":{"properties":{"a":{"type":"nope"}}}}}`,
		"ds-option":       `{"index_patterns":["x"],"data_stream":{"nope":true}}`,
		"lifecycle-no-ds": `{"index_patterns":["x"],"template":{"lifecycle":{"data_retention":"30d"}}}`,
		"Upper":           `{"index_patterns":["x"]}`,
		"pattern-w-space": `{"index_patterns":["a b"]}`,
	} {
		if st, b := put(name, body); st != 400 {
			t.Errorf("%s: %d %s, want 400", name, st, b)
		}
	}
	res := do(t, s, "POST", "/lag/_bulk", "{\"create\":{\"_id\":\"1\"}}\n{\"topic\":\"orders\",\"p0\":1}\n")
	if res.status != 200 {
		t.Fatalf("bulk: %d %s", res.status, string(res.raw))
	}
	if got := s.FieldType("lag", "topic"); got != "keyword" {
		t.Errorf("auto-created index maps topic as %q, want keyword from the template", got)
	}
	if got := s.AutoCreated(); len(got) != 1 || got[0] != "lag" {
		t.Errorf("auto-created %v", got)
	}
	if got := do(t, s, "GET", "/_index_template/lag", ""); got.status != 200 || !strings.Contains(string(got.raw), `"priority":200`) {
		t.Errorf("get: %d %s", got.status, string(got.raw))
	}
	if got := do(t, s, "DELETE", "/_index_template/lag", ""); got.status != 200 {
		t.Errorf("delete: %d %s", got.status, string(got.raw))
	}
	if got := do(t, s, "GET", "/_index_template/lag", ""); got.status != 404 {
		t.Errorf("get after delete: %d %s", got.status, string(got.raw))
	}
}

// TestHang: a hung endpoint never answers until Answer; others still do.
func TestHang(t *testing.T) {
	s := NewTB(t)
	s.Hang(EndpointBulk)
	client := &http.Client{Timeout: 300 * time.Millisecond}
	req, _ := http.NewRequest("POST", s.URL()+"/x/_bulk", strings.NewReader("{\"create\":{}}\n{}\n"))
	req.Header.Set("Content-Type", "application/x-ndjson")
	if res, err := client.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("hung bulk answered %d", res.StatusCode)
	}
	if res := do(t, s, "GET", "/", ""); res.status != 200 {
		t.Fatalf("GET / while bulk hangs: %d", res.status)
	}
	s.Answer()
	res := do(t, s, "POST", "/x/_bulk", "{\"create\":{\"_id\":\"1\"}}\n{\"a\":1}\n")
	if res.status != 200 || s.Held() != 0 {
		t.Fatalf("after Answer: %d %s, held %d", res.status, string(res.raw), s.Held())
	}
}

func TestDates(t *testing.T) {
	tests := []struct {
		in     string
		strict bool
		detect bool
	}{
		{"2024-05-01T10:00:00.000Z", true, true},
		{"2024-05-01T10:00:00Z", true, true},
		{"2024-05-01T10:00Z", true, true},
		{"2024-05-01T10", true, true},
		{"2024-05-01", true, true},
		{"2024-05", true, false},
		{"2024", true, false},
		{"2024-05-01T10:00:00.1234567891Z", false, false},
		{"2024-13-01", false, false},
		{"2024-02-29", true, true},
		{"2023-02-29", false, false},
		{"2024-05-01 10:00:00", false, false},
		{"2024-05-01T25:00:00Z", false, false},
		{"2024-05-01T10:00:00+0200", true, true},
		{"2024-05-01T10:00:00+02:00", true, true},
		{"24-05-01", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := parseDate("strict_date_optional_time", tt.in); got != tt.strict {
			t.Errorf("parse %q = %v, want %v", tt.in, got, tt.strict)
		}
		if got := detectDate(tt.in); got != tt.detect {
			t.Errorf("detect %q = %v, want %v", tt.in, got, tt.detect)
		}
	}
}

func FuzzBulk(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.ndjson")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	m, e := parseRootMapping(mustValue(f, mappings.JSON)["mappings"])
	if e != nil {
		f.Fatal(e)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		actions, e := parseBulk(body, "consumer_lag", false)
		if e != nil {
			if e.status != 400 {
				t.Fatalf("whole-request error with status %d", e.status)
			}
			return
		}
		for _, a := range actions {
			mm := m.clone()
			adds, e := parseDoc(mm, defaultFieldLimit, "id", a.source)
			if e != nil && e.status != 400 {
				t.Fatalf("item error with status %d", e.status)
			}
			if e == nil {
				commit(adds)
			}
		}
	})
}

func FuzzDate(f *testing.F) {
	for _, s := range []string{"2024-05-01T10:00:00.000Z", "2024-05-01", "1714557600000", "2024-05-01T10:00:00+02:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if detectDate(s) && !parseDate("strict_date_optional_time", s) {
			t.Fatalf("%q detected as a date but does not parse", s)
		}
		if parseDate("strict_date_optional_time", s) {
			if _, err := time.Parse("2006", s[:4]); err != nil {
				t.Fatalf("%q parsed but has no year", s)
			}
		}
	})
}

func mustValue(tb testing.TB, b []byte) map[string]any {
	n, err := parseJSON(b)
	if err != nil {
		tb.Fatal(err)
	}
	return n.value().(map[string]any)
}
