package kibana

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKibana mimics a Kibana release (version, "8.19.0" when empty):
// GET /api/status answers with the version (401 on bad credentials), and
// POST /api/saved_objects/_import the way Kibana answers it: 404 off the
// route, 400 without kbn-xsrf, 401 on bad credentials, 400 without a
// multipart file part named *.ndjson, 400 for an object newer than the
// release (its coreMigrationVersion, or a type version beyond the newest
// migration the release has for the type) or exported two majors back, and a
// 200 that reports each object whose references resolve neither in the
// upload nor in what was imported before as missing_references, each
// dashboard with an attribute the release does not store as an error, and
// each object that exists already as a conflict unless overwrite=true.
type fakeKibana struct {
	t        *testing.T
	version  string
	basePath string
	user     string
	password string
	apiKey   string
	// fail, when set, adds an error for an object (nil: none).
	fail func(typ, id string) map[string]any

	mu       sync.Mutex
	stored   map[string]map[string]map[string]any // space -> "type/id" -> object
	requests []fakeRequest
}

type fakeRequest struct {
	path, query, filename, auth string
	objects                     int
	core                        string // coreMigrationVersion of the first object
}

func (f *fakeKibana) release() (Version, map[string]string) {
	s := f.version
	if s == "" {
		s = "8.19.0"
	}
	v, err := ParseVersion(s)
	if err != nil {
		f.t.Fatalf("fake Kibana version: %v", err)
	}
	types := typeVersionsOf(v)
	if types == nil {
		f.t.Fatalf("fake Kibana knows no migrations of %s", v)
	}
	return v, types
}

func newer(a, b string) bool {
	va, _ := ParseVersion(a)
	vb, _ := ParseVersion(b)
	return slices.Compare([]int{va.Major, va.Minor, va.Patch}, []int{vb.Major, vb.Minor, vb.Patch}) > 0
}

// refuse returns why this release refuses the object before importing
// anything ("" when it does not).
func (f *fakeKibana) refuse(o map[string]any) string {
	v, types := f.release()
	id, typ := fmt.Sprint(o["id"]), fmt.Sprint(o["type"])
	core, _ := o["coreMigrationVersion"].(string)
	if core != "" && newer(core, v.String()) {
		return fmt.Sprintf("Document %q belongs to a more recent version of Kibana [%s] when the last known version is [%s].", id, core, v)
	}
	if c, err := ParseVersion(core); err == nil && c.Major < v.Major-1 {
		return fmt.Sprintf("Document %q was exported from Kibana %s; Kibana %s imports saved objects from %d.x and %d.x only.", id, core, v, v.Major-1, v.Major)
	}
	tv, _ := o["typeMigrationVersion"].(string)
	if mv, ok := o["migrationVersion"].(map[string]any); ok {
		if v.Major >= 8 && tv != "" {
			return fmt.Sprintf("Document %q has both migrationVersion and typeMigrationVersion.", id)
		}
		tv, _ = mv[typ].(string)
	} else if v.Major < 8 && tv != "" {
		return fmt.Sprintf("[request body.typeMigrationVersion]: definition for this key is missing (document %q)", id)
	}
	if latest, ok := types[typ]; ok && tv != "" && newer(tv, latest) {
		return fmt.Sprintf("Document %q has property %q which belongs to a more recent version of Kibana [%s]. The last known version is [%s]", id, typ, tv, latest)
	}
	return ""
}

// storesAttributes returns the first dashboard attribute this release does
// not store ("" for none): 7.17 maps them strictly, 8.x forbids unknown keys
// in its schema.
func (f *fakeKibana) storesAttributes(o map[string]any) string {
	if o["type"] != "dashboard" {
		return ""
	}
	v, _ := f.release()
	allowed := dashboardKeys717
	if v.Major >= 8 {
		allowed = dashboardKeys8
	}
	attrs, _ := o["attributes"].(map[string]any)
	for _, k := range sortedKeys(attrs) {
		if !allowed[k] {
			return k
		}
	}
	return ""
}

func newFakeKibana(t *testing.T) *fakeKibana {
	return &fakeKibana{t: t, stored: map[string]map[string]map[string]any{}}
}

func (f *fakeKibana) start() *httptest.Server {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv
}

func kibanaError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"statusCode": status, "error": http.StatusText(status), "message": msg,
	})
}

func (f *fakeKibana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, f.basePath)
	if ok && p == "/api/status" && r.Method == http.MethodGet {
		f.status(w, r)
		return
	}
	space := "default"
	if rest, found := strings.CutPrefix(p, "/s/"); ok && found {
		var s string
		s, p, _ = strings.Cut(rest, "/")
		space, p = s, "/"+p
	}
	if !ok || p != "/api/saved_objects/_import" || r.Method != http.MethodPost {
		kibanaError(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Header.Get("kbn-xsrf") == "" {
		kibanaError(w, http.StatusBadRequest, "Request must contain a kbn-xsrf header.")
		return
	}
	if !f.authorized(r) {
		kibanaError(w, http.StatusUnauthorized, "[security_exception]: unable to authenticate user for REST request [/_security/_authenticate]")
		return
	}
	q := r.URL.Query()
	if q.Get("overwrite") == "true" && q.Get("createNewCopies") == "true" {
		kibanaError(w, http.StatusBadRequest, "cannot use [overwrite] with [createNewCopies]")
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		kibanaError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil || params["boundary"] == "" {
		kibanaError(w, http.StatusBadRequest, "Invalid multipart payload format")
		return
	}
	var file []byte
	var filename string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			kibanaError(w, http.StatusBadRequest, "Invalid multipart payload format")
			return
		}
		if part.FormName() == "file" {
			filename = part.FileName()
			file, _ = io.ReadAll(part)
		}
	}
	if file == nil {
		kibanaError(w, http.StatusBadRequest, "[request body.file]: expected value of type [Stream] but got [undefined]")
		return
	}
	if ext := filepath.Ext(filename); ext != ".ndjson" {
		kibanaError(w, http.StatusBadRequest, fmt.Sprintf("Invalid file extension %s", ext))
		return
	}

	var objs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var o map[string]any
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			kibanaError(w, http.StatusBadRequest, "Unexpected token in JSON")
			return
		}
		objs = append(objs, o)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	req := fakeRequest{
		path: r.URL.Path, query: r.URL.RawQuery, filename: filename,
		auth: r.Header.Get("Authorization"), objects: len(objs),
	}
	if len(objs) > 0 {
		req.core, _ = objs[0]["coreMigrationVersion"].(string)
	}
	f.requests = append(f.requests, req)
	for _, o := range objs {
		if why := f.refuse(o); why != "" {
			kibanaError(w, http.StatusBadRequest, why)
			return
		}
	}
	store := f.stored[space]
	if store == nil {
		store = map[string]map[string]any{}
		f.stored[space] = store
	}
	inUpload := map[string]bool{}
	for _, o := range objs {
		inUpload[fmt.Sprint(o["type"], "/", o["id"])] = true
	}
	var errs, results []any
	for _, o := range objs {
		typ, id := fmt.Sprint(o["type"]), fmt.Sprint(o["id"])
		title, _ := o["attributes"].(map[string]any)["title"].(string)
		meta := map[string]any{"title": title, "icon": "visualizeApp"}
		var missing []any
		for _, ref := range o["references"].([]any) {
			rm := ref.(map[string]any)
			k := fmt.Sprint(rm["type"], "/", rm["id"])
			if _, stored := store[k]; !inUpload[k] && !stored {
				missing = append(missing, map[string]any{"type": rm["type"], "id": rm["id"]})
			}
		}
		if missing != nil {
			errs = append(errs, map[string]any{"id": id, "type": typ, "title": title, "meta": meta,
				"error": map[string]any{"type": "missing_references", "references": missing}})
			continue
		}
		if _, exists := store[typ+"/"+id]; exists && q.Get("overwrite") != "true" {
			errs = append(errs, map[string]any{"id": id, "type": typ, "title": title, "meta": meta,
				"error": map[string]any{"type": "conflict"}})
			continue
		}
		if k := f.storesAttributes(o); k != "" {
			errs = append(errs, map[string]any{"id": id, "type": typ, "title": title, "meta": meta,
				"error": map[string]any{"type": "unknown", "statusCode": 400,
					"message": fmt.Sprintf("[attributes.%s]: definition for this key is missing", k)}})
			continue
		}
		if f.fail != nil {
			if e := f.fail(typ, id); e != nil {
				errs = append(errs, map[string]any{"id": id, "type": typ, "title": title, "meta": meta, "error": e})
				continue
			}
		}
		store[typ+"/"+id] = o
		results = append(results, map[string]any{"type": typ, "id": id, "meta": meta})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"success": len(errs) == 0, "successCount": len(results),
		"successResults": results, "errors": errs,
	})
}

// status answers GET /api/status as 8.x and 9.x do (7.x has the same
// version object); without valid credentials, 401.
func (f *fakeKibana) status(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(r) {
		kibanaError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	v, _ := f.release()
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{path: r.URL.Path, auth: r.Header.Get("Authorization")})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name": "kibana", "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
		"version": map[string]any{
			"number": v.String(), "build_hash": "0c9e0b4", "build_number": 84000,
			"build_snapshot": v.Pre == "SNAPSHOT", "build_flavor": "traditional",
			"build_date": "2025-10-01T00:00:00.000Z",
		},
		"status": map[string]any{
			"overall": map[string]any{"level": "available", "summary": "All services and plugins are available"},
		},
	})
}

func (f *fakeKibana) imports() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if strings.HasSuffix(r.path, "/_import") {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeKibana) authorized(r *http.Request) bool {
	switch {
	case f.apiKey != "":
		return r.Header.Get("Authorization") == "ApiKey "+f.apiKey
	case f.user != "":
		u, p, ok := r.BasicAuth()
		return ok && u == f.user && p == f.password
	}
	return true
}

func (f *fakeKibana) lastRequest() fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		f.t.Fatal("no request reached the fake Kibana")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeKibana) storedIn(space string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored[space])
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// bundleObjects is the number of objects in the bundle.
func bundleObjects(t *testing.T) int {
	t.Helper()
	objs, err := Objects(Format717)
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
}

func TestImportDefaultSpaceBasicAuth(t *testing.T) {
	want := bundleObjects(t)
	fake := newFakeKibana(t)
	fake.user, fake.password = "elastic", "changeme-123"
	srv := fake.start()
	opts := ImportOptions{URL: srv.URL, Username: "elastic", Password: "changeme-123"}

	for range 2 { // the second import overwrites: same ids, same count
		res, err := Import(testContext(t), opts, Bundle(Format717))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Success || res.SuccessCount != want || len(res.Errors) != 0 {
			t.Fatalf("result %+v, want success with %d objects", res, want)
		}
		if n := fake.storedIn("default"); n != want {
			t.Fatalf("Kibana holds %d objects, want %d", n, want)
		}
	}
	req := fake.lastRequest()
	if req.path != "/api/saved_objects/_import" || req.query != "overwrite=true" {
		t.Errorf("request to %s?%s", req.path, req.query)
	}
	if !strings.HasSuffix(req.filename, ".ndjson") || req.objects != want {
		t.Errorf("uploaded %q with %d objects", req.filename, req.objects)
	}
	if !strings.HasPrefix(req.auth, "Basic ") {
		t.Errorf("Authorization %q, want basic auth", req.auth)
	}
}

func TestImportSpaceAPIKeyBasePath(t *testing.T) {
	fake := newFakeKibana(t)
	fake.apiKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	fake.basePath = "/kibana"
	srv := fake.start()
	res, err := Import(testContext(t), ImportOptions{URL: srv.URL + "/kibana/", Space: "ops-team", APIKey: fake.apiKey}, Bundle(Format717))
	if err != nil {
		t.Fatal(err)
	}
	want := bundleObjects(t)
	if res.SuccessCount != want {
		t.Errorf("successCount %d, want %d", res.SuccessCount, want)
	}
	req := fake.lastRequest()
	if req.path != "/kibana/s/ops-team/api/saved_objects/_import" {
		t.Errorf("path %s", req.path)
	}
	if req.auth != "ApiKey "+fake.apiKey {
		t.Errorf("Authorization %q", req.auth)
	}
	if fake.storedIn("ops-team") != want || fake.storedIn("default") != 0 {
		t.Errorf("objects landed in the wrong space")
	}
}

func TestImportPartialFailure(t *testing.T) {
	fake := newFakeKibana(t)
	fake.fail = func(typ, id string) map[string]any {
		switch id {
		case DashboardID:
			return map[string]any{"type": "conflict", "destinationId": "other-dashboard"}
		case guideID:
			return map[string]any{"type": "unknown", "message": "document parsing exception", "statusCode": 400}
		}
		return nil
	}
	srv := fake.start()

	// Without the data view, every Lens chart misses its references.
	lines := bytes.SplitAfter(Bundle(Format717), []byte("\n"))
	bundle := bytes.Join(lines[1:], nil)
	res, err := Import(testContext(t), ImportOptions{URL: srv.URL}, bundle)
	if err == nil {
		t.Fatal("no error for a partial failure")
	}
	failed := bundleObjects(t) - 1
	if res.Success || res.SuccessCount != 0 || len(res.Errors) != failed {
		t.Fatalf("result %+v, want %d errors", res, failed)
	}
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("%d of %d objects failed", failed, failed),
		`lens "lagship-total-lag-by-topic" (Total consumer lag by mirror and topic): missing_references: index-pattern "lagship-consumer-lag"`,
		`lens "lagship-latest-lag-table"`,
		`dashboard "lagship-consumer-lag-dashboard" (Kafka MirrorMaker consumer lag): conflict: an object with this id already exists (destination "other-dashboard")`,
		`visualization "lagship-dashboard-guide" (Consumer lag guide): unknown: document parsing exception (status 400)`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestImportHTTPErrors(t *testing.T) {
	fake := newFakeKibana(t)
	fake.user, fake.password = "elastic", "right-password"
	srv := fake.start()
	dropXSRF := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Del("kbn-xsrf")
		return http.DefaultTransport.RoundTrip(r)
	})}
	tests := []struct {
		name string
		opts ImportOptions
		want []string
	}{
		{"wrong password", ImportOptions{URL: srv.URL, Username: "elastic", Password: "wrong-password"},
			[]string{"HTTP 401 Unauthorized", "unable to authenticate user"}},
		{"missing kbn-xsrf", ImportOptions{URL: srv.URL, Username: "elastic", Password: "right-password", HTTPClient: dropXSRF},
			[]string{"HTTP 400 Bad Request", "Request must contain a kbn-xsrf header."}},
		{"not Kibana", ImportOptions{URL: srv.URL + "/elsewhere", Username: "elastic", Password: "right-password"},
			[]string{"HTTP 404 Not Found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(testContext(t), tc.opts, Bundle(Format717))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.opts.Password != "" && strings.Contains(err.Error(), tc.opts.Password) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestImportNeverShowsSecrets(t *testing.T) {
	const password, apiKey = "hunter2-secret", "c2VjcmV0LWFwaS1rZXk="
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A misbehaving proxy that echoes the request headers.
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html>bad gateway for %s %s %s</html>", r.Header.Get("Authorization"), password, apiKey)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		opts    ImportOptions
		secrets []string
	}{
		{ImportOptions{URL: srv.URL, Username: "u", Password: password},
			[]string{password, base64.StdEncoding.EncodeToString([]byte("u:" + password))}},
		{ImportOptions{URL: srv.URL, APIKey: apiKey}, []string{apiKey}},
	} {
		_, err := Import(testContext(t), tc.opts, Bundle(Format717))
		if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
			t.Fatalf("error %v, want HTTP 502", err)
		}
		for _, s := range tc.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error shows the secret %q: %v", s, err)
			}
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("error %v: the echoed secret was not replaced", err)
		}
	}
}

func TestImportUnexpectedAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
	}{
		{"html", "<html>login page</html>", "answer is not the import API's JSON"},
		{"no success field", `{"successCount":7}`, "answer has no success field"},
		{"failure without errors", `{"success":false,"successCount":0,"errors":[]}`, "without naming an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			_, err := Import(testContext(t), ImportOptions{URL: srv.URL}, Bundle(Format717))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestImportTLS(t *testing.T) {
	fake := newFakeKibana(t)
	srv := httptest.NewUnstartedServer(fake)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure below is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts ImportOptions
		want string // "" for success
	}{
		{"verification on by default", ImportOptions{URL: srv.URL}, "certificate"},
		{"trusted CA file", ImportOptions{URL: srv.URL, CAFile: caFile}, ""},
		{"verification off", ImportOptions{URL: srv.URL, InsecureSkipVerify: true}, ""},
		{"CA file without certificates", ImportOptions{URL: srv.URL, CAFile: notPEM}, "no PEM certificate found"},
		{"CA file missing", ImportOptions{URL: srv.URL, CAFile: notPEM + ".gone"}, "reading ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(testContext(t), tc.opts, Bundle(Format717))
			if tc.want == "" {
				if err != nil || res.SuccessCount != bundleObjects(t) {
					t.Fatalf("got %+v, %v", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestImportBadOptions(t *testing.T) {
	tests := []struct {
		name   string
		opts   ImportOptions
		bundle []byte
		want   string
	}{
		{"no url", ImportOptions{}, Bundle(Format717), "no Kibana URL"},
		{"not http", ImportOptions{URL: "ftp://kibana:5601"}, Bundle(Format717), "not an http(s) URL"},
		{"no host", ImportOptions{URL: "http://"}, Bundle(Format717), "not an http(s) URL"},
		{"credentials in url", ImportOptions{URL: "https://elastic:topsecret@kibana:5601"}, Bundle(Format717), "carries credentials"},
		{"query in url", ImportOptions{URL: "https://kibana:5601/?x=1"}, Bundle(Format717), "query or fragment"},
		{"bad space", ImportOptions{URL: "https://kibana:5601", Space: "Ops Team"}, Bundle(Format717), "not a Kibana space id"},
		{"two kinds of auth", ImportOptions{URL: "https://kibana:5601", APIKey: "k", Username: "u", Password: "p"}, Bundle(Format717), "not both"},
		{"empty bundle", ImportOptions{URL: "https://kibana:5601"}, nil, "no objects"},
		{"broken bundle", ImportOptions{URL: "https://kibana:5601"}, []byte("{\"id\":\"x\"}\n"), "no type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(testContext(t), tc.opts, tc.bundle)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestImportCanceled(t *testing.T) {
	started, done := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		close(started)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: never leave the handler waiting
	ctx, cancel := context.WithCancel(testContext(t))
	go func() {
		<-started
		cancel()
	}()
	_, err := Import(ctx, ImportOptions{URL: srv.URL}, Bundle(Format717))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// The import answers under testdata/import are shaped like Kibana's; the
// .golden files hold the errors Import derives from them.
func TestParseImportResponseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/import/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := parseImportResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			fmt.Fprintf(&got, "success=%v successCount=%d\n", res.Success, res.SuccessCount)
			for _, e := range res.Errors {
				fmt.Fprintf(&got, "%s [%s]\n", e, e.Kind)
			}
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got.String(), want)
			}
		})
	}
}

func FuzzParseImportResponse(f *testing.F) {
	files, _ := filepath.Glob("testdata/import/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"success":false,"errors":[{"error":{}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parseImportResponse(b)
		if err != nil {
			return
		}
		for _, e := range res.Errors {
			if e.Reason == "" {
				t.Fatalf("error without a reason: %+v", e)
			}
		}
	})
}
