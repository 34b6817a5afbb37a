// Package esfake is an in-process Elasticsearch 8 REST server for tests. It
// follows the real API strictly: it refuses what Elasticsearch refuses (bad
// index names, malformed bulk bodies, values that do not fit the mapping,
// unknown parameters) with the same statuses and error types, so a test
// that passes against it says something about production.
//
// What it models: GET /, index exists/create/get/delete, composable index
// templates (applied at explicit and automatic index creation), get and put
// mapping (with merge rules), _bulk (index, create, delete), _count,
// _refresh and a simple _update_by_query; data streams with their backing
// indices, the data stream lifecycle, ILM policies and time series data
// streams (datastreams.go), with the behaviour of the version WithVersion
// reports; dynamic mapping with dynamic templates and date detection; gzip
// request bodies; basic and API key authentication; TLS. What it does not model is refused with an error whose
// reason starts with "esfake:" rather than silently accepted.
//
// Tests steer it with fault injection (FailNext, RejectNextItems, Hang and
// Answer, Outage and Restore) and observe it through Requests, Docs, DocIDs, Mapping and the
// other accessors.
package esfake

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Endpoint names, as counted by Requests.
const (
	EndpointInfo          = "info"
	EndpointIndexExists   = "indices.exists"
	EndpointIndexCreate   = "indices.create"
	EndpointIndexGet      = "indices.get"
	EndpointIndexDelete   = "indices.delete"
	EndpointGetMapping    = "indices.get_mapping"
	EndpointPutMapping    = "indices.put_mapping"
	EndpointRefresh       = "indices.refresh"
	EndpointBulk          = "_bulk"
	EndpointCount         = "_count"
	EndpointUpdateByQuery = "_update_by_query"
	EndpointUnknown       = "unknown"
)

// DefaultVersion is the version GET / reports unless WithVersion says
// otherwise.
const DefaultVersion = "8.19.7"

// maxContentLength is http.max_content_length's default.
const maxContentLength = 100 << 20

// Option configures a Server.
type Option func(*Server)

// WithVersion sets version.number in GET /.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// WithBasicAuth requires HTTP basic authentication with these credentials.
func WithBasicAuth(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// WithAPIKey requires "Authorization: ApiKey <encoded>", encoded being the
// base64 of id:key as Elasticsearch hands it out.
func WithAPIKey(encoded string) Option { return func(s *Server) { s.apiKey = encoded } }

// WithAutoCreateIndex sets action.auto_create_index (true by default, as in
// Elasticsearch): whether _bulk creates a missing index with dynamic mapping.
func WithAutoCreateIndex(on bool) Option { return func(s *Server) { s.autoCreate = on } }

// WithTLS serves HTTPS with a self-signed certificate for 127.0.0.1; its PEM
// is CACertPEM.
func WithTLS() Option { return func(s *Server) { s.useTLS = true } }

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	version    string
	user, pass string
	apiKey     string
	useTLS     bool

	mu         sync.Mutex
	autoCreate bool
	addr       string
	hs         *http.Server
	served     chan struct{}
	down       bool
	closed     bool
	tlsConfig  *tls.Config
	caPEM      []byte

	indices        map[string]*index
	requests       map[string]int
	headers        map[string]http.Header
	faults         []fault
	rejectItems    int
	creations      int
	autoCreated    []string
	lastCreateBody []byte
	lastPutMapping []byte
	bulkItems      int
	hook           func(endpoint string, r *http.Request)
	templates      map[string]*indexTemplate
	hang           map[string]chan struct{} // endpoint ("" any) -> closed by Answer
	held           int
	dataStreams    map[string]*dataStream
	policies       map[string]*ilmPolicy
	now            func() time.Time
}

type fault struct {
	endpoint string
	status   int
	n        int
}

type index struct {
	name     string
	uuid     string
	m        *mapping
	settings map[string]any
	limit    int
	docs     map[string]*storedDoc
	order    []string
	seqNo    int64

	dataStream string // the stream this is a backing index of, or ""
	tsds       bool   // index.mode time_series
	start, end time.Time
	lookAhead  time.Duration
}

type storedDoc struct {
	src     json.RawMessage
	version int64
}

// New starts a fake on a free port of 127.0.0.1. It panics when it cannot
// listen, like httptest.NewServer.
func New(opts ...Option) *Server {
	s := newServer(opts...)
	if s.useTLS {
		if err := s.makeCert(); err != nil {
			panic("esfake: " + err.Error())
		}
	}
	if err := s.listen("127.0.0.1:0"); err != nil {
		panic("esfake: " + err.Error())
	}
	return s
}

// newServer is a Server that does not listen, for fuzz tests of its
// handlers.
func newServer(opts ...Option) *Server {
	s := &Server{
		version:    DefaultVersion,
		autoCreate: true,
		templates:  map[string]*indexTemplate{},
		hang:       map[string]chan struct{}{},
		indices:    map[string]*index{},
		requests:   map[string]int{},
		headers:    map[string]http.Header{},

		dataStreams: map[string]*dataStream{},
		policies:    map[string]*ilmPolicy{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewTB starts a fake and closes it when the test ends.
func NewTB(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := New(opts...)
	tb.Cleanup(s.Close)
	return s
}

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	hs := &http.Server{Handler: s, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	s.addr, s.hs, s.served = ln.Addr().String(), hs, served
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	return nil
}

// URL is the base URL, http://127.0.0.1:port (https with WithTLS).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	scheme := "http"
	if s.useTLS {
		scheme = "https"
	}
	return scheme + "://" + s.addr
}

// CACertPEM is the PEM of the certificate a WithTLS server presents.
func (s *Server) CACertPEM() []byte { return slices.Clone(s.caPEM) }

// Close stops the server and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	hs, served, down := s.hs, s.served, s.down
	s.mu.Unlock()
	if !down {
		_ = hs.Close()
		<-served
	}
}

// Outage makes the server unreachable as a crashed node is: the listening
// socket is closed (new connections are refused) and open connections are
// closed. Restore brings it back on the same address.
func (s *Server) Outage() {
	s.mu.Lock()
	if s.down || s.closed {
		s.mu.Unlock()
		return
	}
	s.down = true
	hs, served := s.hs, s.served
	s.mu.Unlock()
	_ = hs.Close()
	<-served
}

// Restore ends an Outage, listening again on the same address.
func (s *Server) Restore() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down || s.closed {
		return nil
	}
	if err := s.listen(s.addr); err != nil {
		return err
	}
	s.down = false
	return nil
}

// FailNext answers the next n requests to endpoint ("" for any endpoint)
// with status and no other effect: 429 es_rejected_execution_exception, 503
// cluster_block_exception, 502 and 504 as a proxy in front of the cluster
// answers them (HTML, no X-Elastic-Product), 200 with a JSON body cut short
// (garbage from a broken middlebox), anything else as an Elasticsearch
// exception.
func (s *Server) FailNext(endpoint string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{endpoint: endpoint, status: status, n: n})
}

// RejectNextItems makes the next n bulk items fail with a per-item 429
// es_rejected_execution_exception (the write thread pool queue is full).
func (s *Server) RejectNextItems(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectItems += n
}

// SetAutoCreateIndex changes action.auto_create_index at run time.
func (s *Server) SetAutoCreateIndex(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.autoCreate = on
}

// OnRequest sets a function called for each request after it is counted and
// before it is handled (outside the server's lock, so it may call the
// server's methods, for instance CreateIndex to simulate a racing client).
func (s *Server) OnRequest(fn func(endpoint string, r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

// Requests returns how many requests reached endpoint (faulted ones too).
func (s *Server) Requests(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[endpoint]
}

// LastHeader returns the headers of the last request to endpoint.
func (s *Server) LastHeader(endpoint string) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[endpoint].Clone()
}

// BulkItems returns how many bulk items were received in total.
func (s *Server) BulkItems() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bulkItems
}

// IndexCreations counts created indices, explicit and automatic.
func (s *Server) IndexCreations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creations
}

// AutoCreated lists the indices _bulk created automatically, in order.
func (s *Server) AutoCreated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.autoCreated)
}

// LastCreateBody is the body of the last successful PUT /<index>.
func (s *Server) LastCreateBody() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lastCreateBody)
}

// LastPutMapping is the body of the last successful PUT /<index>/_mapping.
func (s *Server) LastPutMapping() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lastPutMapping)
}

// Indices lists existing indices, sorted.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.indices)
}

// Docs returns the documents of an index, or of every backing index of a
// data stream, by _id (nil when neither exists).
func (s *Server) Docs(name string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out map[string]json.RawMessage
	for _, n := range s.namesLocked(name) {
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		for id, d := range s.indices[n].docs {
			out[id] = slices.Clone(d.src)
		}
	}
	return out
}

// DocIDs returns the _ids of an index (or of a data stream's backing
// indices, oldest index first) in order of first arrival.
func (s *Server) DocIDs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.namesLocked(name) {
		out = append(out, s.indices[n].order...)
	}
	return out
}

// namesLocked are the existing indices name stands for.
func (s *Server) namesLocked(name string) []string {
	if ds := s.dataStreams[name]; ds != nil {
		return slices.Clone(ds.indices)
	}
	if s.indices[name] != nil {
		return []string{name}
	}
	return nil
}

// Mapping returns the index's mapping as GET _mapping shows it (nil when the
// index does not exist).
func (s *Server) Mapping(name string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil {
		return nil
	}
	b, _ := json.Marshal(ix.m.render())
	return b
}

// FieldType returns the mapped type of a field given by its dotted path
// ("topic", "topic.keyword"), or "" when it is not mapped.
func (s *Server) FieldType(name, path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil {
		return ""
	}
	props := ix.m.props
	var f *field
	for _, seg := range strings.Split(path, ".") {
		if props == nil {
			return ""
		}
		if f = props[seg]; f == nil {
			return ""
		}
		props = f.props
		if f.typ != "object" {
			props = f.fields
		}
	}
	return f.typ
}

// CreateIndex creates an index directly (not counted as a request), with a
// body as PUT /<index> takes. It returns the error Elasticsearch would.
func (s *Server) CreateIndex(name string, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.createIndexLocked(name, body, false); e != nil {
		return e
	}
	return nil
}

// newUUID derives an index UUID from its name and creation number, so
// responses are reproducible.
func newUUID(name string, n int) string {
	sum := sha256.Sum256([]byte(name + "/" + strconv.Itoa(n)))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:22]
}

func newDocID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// createIndexLocked creates an index from a PUT /<index> body, with the
// matching template.
func (s *Server) createIndexLocked(name string, body []byte, auto bool) *esError {
	if e := validateIndexName(name); e != nil {
		return e
	}
	if _, ok := s.dataStreams[name]; ok {
		return newError(http.StatusBadRequest, "resource_already_exists_exception", "data stream ["+name+"] already exists")
	}
	t := s.templateForLocked(name)
	if t != nil && t.dataStream {
		return illegalArgument("cannot create index with name [" + name + "], because it matches with template [" + t.name + "] that creates data streams only, use create data stream api instead")
	}
	how := createExplicit
	if auto {
		how = createAuto
	}
	return s.createIndexFrom(name, body, how, t)
}

// How an index comes to be, for the accessors that report creations.
const (
	createExplicit = iota // PUT /<index>
	createAuto            // a bulk item's auto-create
	createBacking         // a data stream's backing index
)

// createIndexFrom creates an index from a body and a template (nil: none).
func (s *Server) createIndexFrom(name string, body []byte, how int, t *indexTemplate) *esError {
	if ix, ok := s.indices[name]; ok {
		return newError(http.StatusBadRequest, "resource_already_exists_exception", "index ["+name+"/"+ix.uuid+"] already exists").
			with("index_uuid", ix.uuid).with("index", name)
	}
	ix := &index{name: name, uuid: newUUID(name, s.creations), m: newMapping(), settings: map[string]any{}, limit: defaultFieldLimit, docs: map[string]*storedDoc{}}
	orig := body
	if t != nil {
		merged, e := applyTemplate(t, body)
		if e != nil {
			return e
		}
		body = merged
	}
	if len(bytes.TrimSpace(body)) > 0 {
		root, err := parseJSON(body)
		if err != nil {
			return newError(http.StatusBadRequest, "x_content_parse_exception", err.Error())
		}
		if root.kind != kObject {
			return newError(http.StatusBadRequest, "parse_exception", "request body is required to be an object")
		}
		for i, k := range root.keys {
			v := root.vals[i].value()
			switch k {
			case "mappings":
				m, e := parseRootMapping(v)
				if e != nil {
					return e
				}
				ix.m = m
			case "settings":
				obj, ok := v.(map[string]any)
				if !ok {
					return newError(http.StatusBadRequest, "settings_exception", "Failed to load settings from "+fmt.Sprint(v))
				}
				flattenSettings("", obj, ix.settings)
			case "aliases":
				if obj, ok := v.(map[string]any); !ok || len(obj) > 0 {
					return illegalArgument("esfake: aliases are not supported by the fake")
				}
			default:
				return newError(http.StatusBadRequest, "parse_exception", "unknown key ["+k+"] for create index")
			}
		}
	}
	if l, ok := ix.settings["index.mapping.total_fields.limit"]; ok {
		var n int
		if _, err := fmt.Sscan(fmt.Sprint(l), &n); err != nil || n < 1 {
			return illegalArgument("Failed to parse value [" + fmt.Sprint(l) + "] for setting [index.mapping.total_fields.limit]")
		}
		ix.limit = n
	}
	if n := countFields(ix.m.props); n > ix.limit {
		return illegalArgument(fmt.Sprintf("Limit of total fields [%d] has been exceeded", ix.limit))
	}
	s.indices[name] = ix
	s.creations++
	switch how {
	case createAuto:
		s.autoCreated = append(s.autoCreated, name)
	case createExplicit:
		s.lastCreateBody = slices.Clone(orig)
	}
	return nil
}

func flattenSettings(prefix string, in map[string]any, out map[string]any) {
	for k, v := range in {
		key := prefix + k
		if m, ok := v.(map[string]any); ok {
			flattenSettings(key+".", m, out)
			continue
		}
		if !strings.HasPrefix(key, "index.") {
			key = "index." + key
		}
		out[key] = v
	}
}

// route classifies a request: endpoint name, index name, methods allowed.
func route(path string) (endpoint, idx string, methods []string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "":
		return EndpointInfo, "", []string{"GET", "HEAD"}
	case len(parts) == 1 && parts[0] == "_bulk":
		return EndpointBulk, "", []string{"POST", "PUT"}
	case len(parts) <= 2 && parts[0] == "_index_template":
		name := ""
		if len(parts) == 2 {
			name = parts[1]
		}
		return "template", name, []string{"GET", "PUT", "POST", "DELETE", "HEAD"}
	case parts[0] == "_data_stream" && len(parts) <= 2:
		name := ""
		if len(parts) == 2 {
			name = parts[1]
		}
		return "data_stream", name, []string{"GET", "PUT", "DELETE"}
	case parts[0] == "_data_stream" && len(parts) == 3 && parts[2] == "_lifecycle":
		return EndpointPutLifecycle, parts[1], []string{"PUT"}
	case parts[0] == "_ilm" && len(parts) >= 2 && len(parts) <= 3 && parts[1] == "policy":
		name := ""
		if len(parts) == 3 {
			name = parts[2]
		}
		return "policy", name, []string{"GET", "PUT", "DELETE"}
	case len(parts) == 1:
		return "index", parts[0], []string{"HEAD", "GET", "PUT", "DELETE"}
	case len(parts) == 2 && !strings.HasPrefix(parts[0], "_"):
		switch parts[1] {
		case "_bulk":
			return EndpointBulk, parts[0], []string{"POST", "PUT"}
		case "_mapping":
			return "mapping", parts[0], []string{"GET", "PUT", "POST"}
		case "_count":
			return EndpointCount, parts[0], []string{"GET", "POST"}
		case "_refresh":
			return EndpointRefresh, parts[0], []string{"GET", "POST"}
		case "_update_by_query":
			return EndpointUpdateByQuery, parts[0], []string{"POST"}
		}
	}
	return EndpointUnknown, "", nil
}

func endpointFor(kind, method string) string {
	switch kind {
	case "index":
		switch method {
		case "HEAD":
			return EndpointIndexExists
		case "PUT":
			return EndpointIndexCreate
		case "DELETE":
			return EndpointIndexDelete
		}
		return EndpointIndexGet
	case "mapping":
		if method == "GET" {
			return EndpointGetMapping
		}
		return EndpointPutMapping
	case "template":
		switch method {
		case "PUT", "POST":
			return EndpointPutTemplate
		case "DELETE":
			return EndpointDeleteTemplate
		}
		return EndpointGetTemplate
	case "data_stream":
		switch method {
		case "PUT":
			return EndpointPutDataStream
		case "DELETE":
			return EndpointDeleteDataStream
		}
		return EndpointGetDataStream
	case "policy":
		switch method {
		case "PUT":
			return EndpointPutPolicy
		case "DELETE":
			return EndpointDeletePolicy
		}
		return EndpointGetPolicy
	}
	return kind
}

var commonParams = []string{"pretty", "human", "error_trace", "filter_path"}

var endpointParams = map[string][]string{
	EndpointInfo:          nil,
	EndpointIndexExists:   {"allow_no_indices", "expand_wildcards", "flat_settings", "ignore_unavailable", "include_defaults", "local"},
	EndpointIndexGet:      {"allow_no_indices", "expand_wildcards", "flat_settings", "ignore_unavailable", "include_defaults", "local", "master_timeout", "features"},
	EndpointIndexCreate:   {"master_timeout", "timeout", "wait_for_active_shards"},
	EndpointIndexDelete:   {"allow_no_indices", "expand_wildcards", "ignore_unavailable", "master_timeout", "timeout"},
	EndpointGetMapping:    {"allow_no_indices", "expand_wildcards", "ignore_unavailable", "local", "master_timeout"},
	EndpointPutMapping:    {"allow_no_indices", "expand_wildcards", "ignore_unavailable", "master_timeout", "timeout", "write_index_only"},
	EndpointRefresh:       {"allow_no_indices", "expand_wildcards", "ignore_unavailable"},
	EndpointCount:         {"allow_no_indices", "expand_wildcards", "ignore_unavailable", "q", "df", "analyzer", "default_operator", "lenient", "min_score", "routing", "terminate_after", "preference"},
	EndpointUpdateByQuery: {"conflicts", "refresh", "timeout", "wait_for_completion", "wait_for_active_shards", "requests_per_second", "slices", "scroll_size", "max_docs", "routing", "q", "allow_no_indices", "expand_wildcards", "ignore_unavailable"},
	EndpointBulk:          {"refresh", "routing", "timeout", "wait_for_active_shards", "pipeline", "require_alias", "require_data_stream", "_source", "_source_includes", "_source_excludes", "list_executed_pipelines", "include_source_on_error"},
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, idx, methods := route(r.URL.Path)
	ep := endpointFor(kind, r.Method)
	if kind == EndpointInfo && r.Method == "HEAD" {
		ep = EndpointInfo
	}
	s.mu.Lock()
	s.requests[ep]++
	s.headers[ep] = r.Header.Clone()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(ep, r)
	}
	s.holdIfHung(ep, r)
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if status := s.takeFault(ep); status != 0 {
		writeFault(w, status, r)
		return
	}
	if e := s.authenticate(r); e != nil {
		w.Header().Add("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", "ApiKey")
		writeError(w, e)
		return
	}
	if kind == EndpointUnknown {
		writeError(w, illegalArgument("no handler found for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"]"))
		return
	}
	if !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ","))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{
			"error":  "Incorrect HTTP method for uri [" + r.URL.RequestURI() + "] and method [" + r.Method + "], allowed: [" + strings.Join(methods, ", ") + "]",
			"status": http.StatusMethodNotAllowed,
		})
		return
	}
	if e := checkParams(ep, r); e != nil {
		writeError(w, e)
		return
	}
	body, status, e := readBody(r)
	if e != nil {
		if status == http.StatusNotAcceptable {
			writeJSON(w, status, map[string]any{"error": e.reason, "status": status})
			return
		}
		writeError(w, e)
		return
	}
	if ep == EndpointPutLifecycle && !s.versionAtLeast(8, 11) {
		writeError(w, illegalArgument("no handler found for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"]"))
		return
	}
	if (ep == EndpointPutDataStream || ep == EndpointDeleteDataStream || ep == EndpointPutPolicy || ep == EndpointDeletePolicy) && idx == "" {
		writeError(w, illegalArgument("no handler found for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"]"))
		return
	}
	s.mu.Lock()
	ds := s.dataStreams[idx]
	s.mu.Unlock()
	if ds != nil && s.serveStream(w, ep, idx, body) {
		return
	}
	switch ep {
	case EndpointInfo:
		s.info(w, r)
	case EndpointIndexExists:
		s.mu.Lock()
		_, ok := s.indices[idx]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if ok {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusNotFound)
		}
	case EndpointIndexCreate:
		s.mu.Lock()
		e := s.createIndexLocked(idx, body, false)
		s.mu.Unlock()
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": idx})
	case EndpointIndexGet:
		s.withIndex(w, idx, func(ix *index) (int, any) {
			return 200, map[string]any{idx: ix.renderIndex()}
		})
	case EndpointIndexDelete:
		s.withIndex(w, idx, func(ix *index) (int, any) {
			if ds := s.dataStreams[ix.dataStream]; ds != nil {
				if ds.indices[len(ds.indices)-1] == idx {
					e := illegalArgument("index [" + idx + "] is the write index for data stream [" + ds.name + "] and cannot be deleted")
					return e.status, e.body()
				}
				ds.indices = slices.DeleteFunc(ds.indices, func(n string) bool { return n == idx })
			}
			delete(s.indices, idx)
			return 200, map[string]any{"acknowledged": true}
		})
	case EndpointGetMapping:
		s.withIndex(w, idx, func(ix *index) (int, any) {
			return 200, map[string]any{idx: map[string]any{"mappings": ix.m.render()}}
		})
	case EndpointPutMapping:
		s.putMapping(w, s.targets(idx), body)
	case EndpointRefresh:
		s.withIndex(w, idx, func(ix *index) (int, any) {
			return 200, map[string]any{"_shards": map[string]any{"total": 2, "successful": 1, "failed": 0}}
		})
	case EndpointCount, EndpointUpdateByQuery:
		s.countLike(w, r, ep, s.targets(idx), body)
	case EndpointBulk:
		s.bulk(w, r, idx, body)
	case EndpointPutTemplate:
		if idx == "" {
			writeError(w, illegalArgument("no handler found for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"]"))
			return
		}
		s.putTemplate(w, r, idx, body)
	case EndpointGetTemplate:
		s.getTemplate(w, idx)
	case EndpointDeleteTemplate:
		s.deleteTemplate(w, idx)
	case EndpointGetDataStream:
		s.getDataStream(w, idx)
	case EndpointPutDataStream:
		s.putDataStream(w, idx, body)
	case EndpointDeleteDataStream:
		s.deleteDataStream(w, idx)
	case EndpointPutLifecycle:
		s.putLifecycle(w, idx, body)
	case EndpointGetPolicy:
		s.getPolicy(w, idx)
	case EndpointPutPolicy:
		s.putPolicy(w, idx, body)
	case EndpointDeletePolicy:
		s.deletePolicy(w, idx)
	}
}

// serveStream answers the index-level requests that name a data stream:
// they apply to its backing indices. It reports whether it answered.
func (s *Server) serveStream(w http.ResponseWriter, ep, name string, body []byte) bool {
	s.mu.Lock()
	ds := s.dataStreams[name]
	var backing []string
	if ds != nil {
		backing = slices.Clone(ds.indices)
	}
	s.mu.Unlock()
	switch ep {
	case EndpointIndexExists:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	case EndpointIndexCreate:
		writeError(w, newError(http.StatusBadRequest, "resource_already_exists_exception", "data stream ["+name+"] already exists"))
	case EndpointIndexDelete:
		writeError(w, illegalArgument("The provided expression ["+name+"] matches a data stream, specify the corresponding concrete indices instead."))
	case EndpointIndexGet, EndpointGetMapping:
		s.mu.Lock()
		out := map[string]any{}
		for _, n := range backing {
			ix := s.indices[n]
			if ep == EndpointIndexGet {
				out[n] = ix.renderIndex()
			} else {
				out[n] = map[string]any{"mappings": ix.m.render()}
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	case EndpointRefresh:
		writeJSON(w, http.StatusOK, map[string]any{"_shards": map[string]any{"total": 2 * len(backing), "successful": len(backing), "failed": 0}})
	default:
		return false
	}
	return true
}

// targets are the indices a name stands for: a stream's backing indices,
// or the name itself.
func (s *Server) targets(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ds := s.dataStreams[name]; ds != nil {
		return slices.Clone(ds.indices)
	}
	return []string{name}
}

// withIndices runs fn on every index of names under the lock, stopping at
// the first error answer; a missing index is index_not_found.
func (s *Server) withIndices(w http.ResponseWriter, names []string, fn func(*index) (int, any)) {
	s.mu.Lock()
	var status int
	var body any
	for _, n := range names {
		ix := s.indices[n]
		if ix == nil {
			s.mu.Unlock()
			writeError(w, indexNotFound(n))
			return
		}
		status, body = fn(ix)
		if status >= 300 {
			break
		}
	}
	s.mu.Unlock()
	writeJSON(w, status, body)
}

func (ix *index) renderIndex() map[string]any {
	out := map[string]any{"aliases": map[string]any{}, "mappings": ix.m.render(), "settings": ix.renderSettings()}
	if ix.dataStream != "" {
		out["data_stream"] = ix.dataStream
	}
	return out
}

// Hang makes requests to endpoint ("" for every endpoint) hang, as behind a
// proxy that holds the connection or in front of a node in a long GC pause:
// they are read and counted, and never answered. Answer ends it: the held
// requests then have their connection closed without an answer (their
// client has usually given up long before), and later requests are
// answered again.
func (s *Server) Hang(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hang[endpoint]; !ok {
		s.hang[endpoint] = make(chan struct{})
	}
}

// Answer ends every Hang.
func (s *Server) Answer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ep, ch := range s.hang {
		close(ch)
		delete(s.hang, ep)
	}
}

// Held is the number of requests being held by Hang now.
func (s *Server) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

func (s *Server) holdIfHung(ep string, r *http.Request) {
	s.mu.Lock()
	ch, ok := s.hang[ep]
	if !ok {
		ch, ok = s.hang[""]
	}
	if ok {
		s.held++
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	// Read the body as a server does before it stalls.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-ch:
	case <-r.Context().Done():
	}
	s.mu.Lock()
	s.held--
	s.mu.Unlock()
	panic(http.ErrAbortHandler) // close the connection, answer nothing
}

func (ix *index) renderSettings() map[string]any {
	out := map[string]any{"index.number_of_shards": "1", "index.number_of_replicas": "1", "index.uuid": ix.uuid, "index.provided_name": ix.name}
	for k, v := range ix.settings {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func (s *Server) withIndex(w http.ResponseWriter, name string, fn func(*index) (int, any)) {
	s.mu.Lock()
	ix := s.indices[name]
	if ix == nil {
		s.mu.Unlock()
		writeError(w, indexNotFound(name))
		return
	}
	status, body := fn(ix)
	s.mu.Unlock()
	writeJSON(w, status, body)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	if r.Method == "HEAD" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         "esfake-node-1",
		"cluster_name": "esfake",
		"cluster_uuid": "esfake-cluster-uuid-000000",
		"version": map[string]any{
			"number":                              s.version,
			"build_flavor":                        "default",
			"build_type":                          "docker",
			"build_hash":                          "0000000000000000000000000000000000000000",
			"build_date":                          "2025-01-01T00:00:00.000Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.12.2",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

func (s *Server) takeFault(ep string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := &s.faults[i]
		if f.n > 0 && (f.endpoint == "" || f.endpoint == ep) {
			f.n--
			return f.status
		}
	}
	return 0
}

func writeFault(w http.ResponseWriter, status int, r *http.Request) {
	switch status {
	case http.StatusOK:
		// A broken middlebox: 200 with a body cut short.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"took":3,"errors":false,"items":[{"create":{"_index":`)
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		w.Header().Del("X-Elastic-Product")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
	case http.StatusTooManyRequests:
		writeError(w, newError(status, "es_rejected_execution_exception",
			"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]"))
	case http.StatusServiceUnavailable:
		writeError(w, newError(status, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];"))
	default:
		writeError(w, newError(status, "esfake_injected_exception", "injected failure for ["+r.URL.Path+"]"))
	}
}

func (s *Server) authenticate(r *http.Request) *esError {
	if s.user == "" && s.apiKey == "" {
		return nil
	}
	uri := r.URL.RequestURI()
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	fail := func(reason string) *esError {
		return newError(http.StatusUnauthorized, "security_exception", reason).
			with("header", map[string]any{"WWW-Authenticate": []string{`Basic realm="security", charset="UTF-8"`, "ApiKey"}})
	}
	switch {
	case h == "":
		return fail("missing authentication credentials for REST request [" + uri + "]")
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if ok && s.user != "" && user == s.user && pass == s.pass {
			return nil
		}
		return fail("unable to authenticate user [" + user + "] for REST request [" + uri + "]")
	case strings.EqualFold(scheme, "ApiKey"):
		if s.apiKey != "" && cred == s.apiKey {
			return nil
		}
	}
	return fail("unable to authenticate with provided credentials and anonymous access is not allowed for this request")
}

func checkParams(ep string, r *http.Request) *esError {
	allowed := slices.Concat(commonParams, endpointParams[ep])
	q := r.URL.Query()
	for _, k := range sortedKeys(q) {
		if !slices.Contains(allowed, k) {
			return illegalArgument("request [" + r.URL.Path + "] contains unrecognized parameter: [" + k + "]")
		}
	}
	if q.Has("filter_path") {
		return illegalArgument("esfake: filter_path is not supported by the fake")
	}
	if v := q.Get("refresh"); q.Has("refresh") && v != "" && v != "true" && v != "false" && v != "wait_for" {
		return illegalArgument("Unknown value for refresh: [" + v + "].")
	}
	if v := q.Get("conflicts"); q.Has("conflicts") && v != "abort" && v != "proceed" {
		return illegalArgument("conflicts may only be \"abort\" or \"proceed\" but was [" + v + "]")
	}
	return nil
}

// readBody reads, decompresses and type-checks a request body.
func readBody(r *http.Request) ([]byte, int, *esError) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxContentLength+1))
	if err != nil {
		return nil, http.StatusBadRequest, newError(http.StatusBadRequest, "parse_exception", "cannot read request body: "+err.Error())
	}
	if len(raw) > maxContentLength {
		return nil, http.StatusRequestEntityTooLarge, newError(http.StatusRequestEntityTooLarge, "content_too_long_exception", "request body is too large")
	}
	body := raw
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip", "deflate":
		var zr io.ReadCloser
		if enc == "gzip" {
			zr, err = gzip.NewReader(bytes.NewReader(raw))
		} else {
			zr = flate.NewReader(bytes.NewReader(raw))
		}
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, maxContentLength+1))
		}
		if err != nil {
			return nil, http.StatusBadRequest, newError(http.StatusBadRequest, "parse_exception", "cannot decompress request body: "+err.Error())
		}
	default:
		return nil, http.StatusBadRequest, illegalArgument("unsupported Content-Encoding [" + enc + "]")
	}
	if len(body) == 0 {
		return nil, 0, nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, http.StatusNotAcceptable, &esError{status: http.StatusNotAcceptable, reason: "Content-Type header is missing"}
	}
	mt, params, err := mime.ParseMediaType(ct)
	ok := err == nil
	switch mt {
	case "application/json", "application/x-ndjson":
	case "application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson":
		ok = ok && (params["compatible-with"] == "7" || params["compatible-with"] == "8")
	default:
		ok = false
	}
	if cs, has := params["charset"]; has && !strings.EqualFold(cs, "utf-8") {
		ok = false
	}
	if !ok {
		return nil, http.StatusNotAcceptable, &esError{status: http.StatusNotAcceptable, reason: "Content-Type header [" + ct + "] is not supported"}
	}
	return body, 0, nil
}

func (s *Server) putMapping(w http.ResponseWriter, names []string, body []byte) {
	if len(body) == 0 {
		writeError(w, newError(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: mapping source is missing;"))
		return
	}
	root, err := parseJSON(body)
	if err != nil {
		writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error()))
		return
	}
	upd, e := parseRootMapping(root.value())
	if e != nil {
		writeError(w, e)
		return
	}
	s.withIndices(w, names, func(ix *index) (int, any) {
		next := ix.m.clone()
		if e := next.merge(upd, root.get("dynamic") != nil); e != nil {
			return e.status, e.body()
		}
		if n := countFields(next.props); n > ix.limit {
			e := illegalArgument(fmt.Sprintf("Limit of total fields [%d] has been exceeded", ix.limit))
			return e.status, e.body()
		}
		ix.m = next
		s.lastPutMapping = slices.Clone(body)
		return 200, map[string]any{"acknowledged": true}
	})
}

// countLike serves _count and _update_by_query, which only support
// match_all.
func (s *Server) countLike(w http.ResponseWriter, r *http.Request, ep string, names []string, body []byte) {
	if len(body) > 0 {
		root, err := parseJSON(body)
		if err != nil {
			writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error()))
			return
		}
		for i, k := range root.keys {
			q := root.vals[i]
			if k != "query" || q.kind != kObject || len(q.keys) != 1 || q.keys[0] != "match_all" {
				writeError(w, illegalArgument("esfake: only {\"query\":{\"match_all\":{}}} is supported by the fake"))
				return
			}
		}
	}
	if r.URL.Query().Has("q") {
		writeError(w, illegalArgument("esfake: q is not supported by the fake"))
		return
	}
	start := time.Now()
	n := 0
	s.withIndices(w, names, func(ix *index) (int, any) {
		n += len(ix.docs)
		if ep == EndpointCount {
			return 200, map[string]any{"count": n, "_shards": map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0}}
		}
		for _, d := range ix.docs {
			d.version++
		}
		return 200, map[string]any{
			"took": time.Since(start).Milliseconds(), "timed_out": false, "total": n, "updated": n, "deleted": 0,
			"batches": 1, "version_conflicts": 0, "noops": 0, "retries": map[string]any{"bulk": 0, "search": 0},
			"throttled_millis": 0, "requests_per_second": -1.0, "throttled_until_millis": 0, "failures": []any{},
		}
	})
}

func (s *Server) makeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "esfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s.tlsConfig = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	return nil
}
