package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
	"github.com/lagship/lagship/kibana"
)

// testKibana answers GET /api/status with its version and records each
// POST .../api/saved_objects/_import: path, authorization and the
// coreMigrationVersion of the objects. It requires the credentials it was
// given (none: any).
type testKibana struct {
	version        string
	user, password string
	apiKey         string

	mu      sync.Mutex
	imports []testImport
}

type testImport struct {
	path, auth, core string
	objects          int
}

func (k *testKibana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case k.apiKey != "" && r.Header.Get("Authorization") != "ApiKey "+k.apiKey,
		k.user != "" && !k.basicOK(r):
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"statusCode":401,"error":"Unauthorized","message":"Unauthorized"}`)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/api/status" {
		fmt.Fprintf(w, `{"name":"kibana","version":{"number":%q,"build_snapshot":false},"status":{"overall":{"level":"available"}}}`, k.version)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/api/saved_objects/_import") || r.Header.Get("kbn-xsrf") == "" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	imp := testImport{path: r.URL.Path, auth: r.Header.Get("Authorization")}
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var o struct {
			Core string `json:"coreMigrationVersion"`
		}
		if json.Unmarshal(sc.Bytes(), &o) == nil {
			imp.objects++
			imp.core = o.Core
		}
	}
	k.mu.Lock()
	k.imports = append(k.imports, imp)
	k.mu.Unlock()
	fmt.Fprintf(w, `{"success":true,"successCount":%d,"errors":[]}`, imp.objects)
}

func (k *testKibana) basicOK(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && u == k.user && p == k.password
}

func (k *testKibana) lastImport(t *testing.T) testImport {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.imports) == 0 {
		t.Fatal("no import reached Kibana")
	}
	return k.imports[len(k.imports)-1]
}

func startTestKibana(t *testing.T, k *testKibana) *httptest.Server {
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	return srv
}

func basic(user, password string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

func TestKibanaHelpAndUsage(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string // in stdout, stderr; "" means empty
	}{
		{[]string{"kibana", "-h"}, 0, "lagship kibana import -config FILE", ""},
		{[]string{"kibana", "--help"}, 0, "lagship kibana export", ""},
		{[]string{"kibana", "help"}, 0, "GET /api/status", ""},
		{[]string{"kibana", "export", "-h"}, 0, "-format", ""},
		{[]string{"kibana", "export", "--help"}, 0, "Usage: lagship kibana export", ""},
		{[]string{"kibana", "import", "-h"}, 0, "each flag given overrides its key", ""},
		{[]string{"kibana", "import", "-help"}, 0, "-insecure-skip-verify", ""},
		{[]string{"kibana"}, 2, "", "lagship kibana export"},
		{[]string{"kibana", "frob"}, 2, "", `unknown subcommand "frob"`},
		{[]string{"kibana", "export", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"kibana", "import", "--nope"}, 2, "", "flag provided but not defined: -nope"},
		{[]string{"kibana", "export", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"kibana", "export", "-format", "6"}, 2, "", `unknown saved-object format "6"`},
	} {
		code, out, errs := runCLI(t, tc.args...)
		okOut := (tc.out == "" && out == "") || (tc.out != "" && strings.Contains(out, tc.out))
		okErr := (tc.err == "" && errs == "") || (tc.err != "" && strings.Contains(errs, tc.err))
		if code != tc.code || !okOut || !okErr {
			t.Errorf("%v: code %d (want %d)\nstdout %q\nstderr %q", tc.args, code, tc.code, out, errs)
		}
		if code == 2 && tc.args[len(tc.args)-1] != "kibana" && !strings.Contains(errs, "Usage") {
			t.Errorf("%v: no usage on stderr: %q", tc.args, errs)
		}
	}
}

func TestKibanaExportFormats(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want kibana.Format
	}{
		{[]string{"kibana", "export"}, kibana.Format8},
		{[]string{"kibana", "export", "-format", "8"}, kibana.Format8},
		{[]string{"kibana", "export", "-format", "7.17"}, kibana.Format717},
		{[]string{"kibana", "export", "--format=7.17"}, kibana.Format717},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != 0 || out != string(kibana.Bundle(tc.want)) {
			t.Errorf("%v: code %d, stderr %q, stdout is not the %s bundle", tc.args, code, errs, tc.want)
		}
	}
}

// kibanaConfig writes a config whose kibana: section points at url with
// basic auth and a space, plus lines.
func kibanaConfig(t *testing.T, url string, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf(`elasticsearch: {addresses: ["http://127.0.0.1:1"], spool_dir: %q}
clusters:
  - {name: dc1, brokers: ["127.0.0.1:1"]}
mirrors:
  - {name: mm, cluster: dc1, group: g, topics: [orders]}
kibana:
  url: %q
  username: lagship
  password: from-the-file
  space: ops
`, filepath.Join(dir, "spool"), url)
	for _, l := range lines {
		text += "  " + l + "\n"
	}
	p := filepath.Join(dir, "lagship.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// kibana import -config F with flags: each flag overrides its key, the
// rest of the kibana: section stays, and the success line names the URL and
// space.
func TestKibanaImportConfigFlags(t *testing.T) {
	t.Setenv("KIBANA_PASSWORD", "")
	t.Setenv("KIBANA_API_KEY", "")
	fileKibana := &testKibana{version: "8.19.0", user: "lagship", password: "from-the-file"}
	fileSrv := startTestKibana(t, fileKibana)
	cfg := kibanaConfig(t, fileSrv.URL)

	otherKibana := &testKibana{version: "8.19.0", user: "lagship", password: "from-the-file"}
	otherSrv := startTestKibana(t, otherKibana)
	flagUser := &testKibana{version: "8.19.0", user: "admin", password: "from-the-flag"}
	flagUserSrv := startTestKibana(t, flagUser)
	// The file's username with the flag's password: a -password that is
	// ignored sends the file's and is refused.
	flagPassword := &testKibana{version: "8.19.0", user: "lagship", password: "from-the-flag"}
	flagPasswordSrv := startTestKibana(t, flagPassword)
	keyKibana := &testKibana{version: "8.19.0", apiKey: "a2V5LWlkOmtleQ=="}
	keySrv := startTestKibana(t, keyKibana)

	for _, tc := range []struct {
		name     string
		flags    []string
		kib      *testKibana
		url      string
		path     string
		auth     string
		wantLine string
	}{
		{"file alone", nil, fileKibana, fileSrv.URL, "/s/ops/api/saved_objects/_import",
			basic("lagship", "from-the-file"), "space ops"},
		{"-url keeps the credentials and space", []string{"-url", otherSrv.URL}, otherKibana, otherSrv.URL,
			"/s/ops/api/saved_objects/_import", basic("lagship", "from-the-file"), "space ops"},
		{"-space replaces the space", []string{"-space", "team-b"}, fileKibana, fileSrv.URL,
			"/s/team-b/api/saved_objects/_import", basic("lagship", "from-the-file"), "space team-b"},
		{"-space default", []string{"-space", ""}, fileKibana, fileSrv.URL,
			"/api/saved_objects/_import", basic("lagship", "from-the-file"), "space default"},
		{"-username and -password", []string{"-url", flagUserSrv.URL, "-username", "admin", "-password", "from-the-flag"},
			flagUser, flagUserSrv.URL, "/s/ops/api/saved_objects/_import", basic("admin", "from-the-flag"), "space ops"},
		{"-password alone keeps the username", []string{"-url", flagPasswordSrv.URL, "-password", "from-the-flag"},
			flagPassword, flagPasswordSrv.URL, "/s/ops/api/saved_objects/_import", basic("lagship", "from-the-flag"), "space ops"},
		{"-api-key replaces basic auth", []string{"-url", keySrv.URL, "-api-key", "a2V5LWlkOmtleQ=="},
			keyKibana, keySrv.URL, "/s/ops/api/saved_objects/_import", "ApiKey a2V5LWlkOmtleQ==", "space ops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"kibana", "import", "-config", cfg}, tc.flags...)
			code, out, errs := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("code %d\nstdout %q\nstderr %q", code, out, errs)
			}
			imp := tc.kib.lastImport(t)
			if imp.path != tc.path || imp.auth != tc.auth || imp.core != "8.8.0" {
				t.Errorf("import at %s with %q, objects of %s; want %s with %q, 8.8.0", imp.path, imp.auth, imp.core, tc.path, tc.auth)
			}
			want := fmt.Sprintf("(8 format) into Kibana 8.19.0 at %s, %s\n", tc.url, tc.wantLine)
			if !strings.HasPrefix(out, "imported ") || !strings.HasSuffix(out, want) {
				t.Errorf("stdout %q, want a line ending %q", out, want)
			}
			for _, secret := range []string{"from-the-file", "from-the-flag", "a2V5LWlkOmtleQ=="} {
				if strings.Contains(out+errs, secret) {
					t.Errorf("output shows %q: %s%s", secret, out, errs)
				}
			}
		})
	}
}

// Without -url and -config, kibana import reads the file $LAGSHIP_CONFIG
// names, as the other commands do; -url or -config leaves it unread.
func TestKibanaImportLagshipConfig(t *testing.T) {
	t.Setenv("KIBANA_PASSWORD", "")
	t.Setenv("KIBANA_API_KEY", "")
	envKibana := &testKibana{version: "8.19.0", user: "lagship", password: "from-the-file"}
	envSrv := startTestKibana(t, envKibana)
	envCfg := kibanaConfig(t, envSrv.URL)
	flagKibana := &testKibana{version: "8.19.0", user: "lagship", password: "from-the-file"}
	flagSrv := startTestKibana(t, flagKibana)
	flagCfg := kibanaConfig(t, flagSrv.URL)
	urlKibana := &testKibana{version: "8.19.0"}
	urlSrv := startTestKibana(t, urlKibana)
	gone := filepath.Join(t.TempDir(), "gone.yaml")

	for _, tc := range []struct {
		name  string
		env   string
		flags []string
		code  int
		kib   *testKibana // where the import goes (code 0)
		path  string
		err   string // in stderr (code != 0)
	}{
		{"no flags", envCfg, nil, 0, envKibana, "/s/ops/api/saved_objects/_import", ""},
		{"-space overrides the file's", envCfg, []string{"-space", "team-b"}, 0, envKibana, "/s/team-b/api/saved_objects/_import", ""},
		{"-config wins", gone, []string{"-config", flagCfg}, 0, flagKibana, "/s/ops/api/saved_objects/_import", ""},
		{"-url alone reads no file", gone, []string{"-url", urlSrv.URL}, 0, urlKibana, "/api/saved_objects/_import", ""},
		{"a missing file", gone, nil, exitConfig, nil, "", "LAGSHIP_CONFIG names this file"},
		{"neither, nor the variable", "", nil, 2, nil, "", "$LAGSHIP_CONFIG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(configEnv, tc.env)
			code, out, errs := runCLI(t, append([]string{"kibana", "import"}, tc.flags...)...)
			if code != tc.code {
				t.Fatalf("code %d, want %d\nstdout %q\nstderr %q", code, tc.code, out, errs)
			}
			if tc.code != 0 {
				if !strings.Contains(errs, tc.err) {
					t.Errorf("stderr %q lacks %q", errs, tc.err)
				}
				return
			}
			if imp := tc.kib.lastImport(t); imp.path != tc.path {
				t.Errorf("import at %s, want %s", imp.path, tc.path)
			}
		})
	}
}

// -ca-file and -insecure-skip-verify override the file's TLS keys.
func TestKibanaImportTLSFlags(t *testing.T) {
	k := &testKibana{version: "9.2.0", user: "lagship", password: "from-the-file"}
	srv := httptest.NewUnstartedServer(k)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(dir, "gone.pem")
	for _, tc := range []struct {
		name  string
		lines []string
		flags []string
		err   string // "" for success
	}{
		{"file's ca_file", []string{"ca_file: " + ca}, nil, ""},
		{"-ca-file replaces a broken ca_file", []string{"ca_file: " + gone}, []string{"-ca-file", ca}, ""},
		{"-ca-file replaces a good ca_file", []string{"ca_file: " + ca}, []string{"-ca-file", gone}, "reading ca_file"},
		{"-insecure-skip-verify", nil, []string{"-insecure-skip-verify"}, ""},
		{"-insecure-skip-verify=false overrides the file", []string{"insecure_skip_verify: true"}, []string{"-insecure-skip-verify=false"}, "certificate"},
		{"file's insecure_skip_verify", []string{"insecure_skip_verify: true"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kibanaConfig(t, srv.URL, tc.lines...)
			code, out, errs := runCLI(t, append([]string{"kibana", "import", "-config", cfg}, tc.flags...)...)
			if tc.err == "" {
				if code != 0 || !strings.Contains(out, "(8 format) into Kibana 9.2.0 at "+srv.URL+", space ops") {
					t.Fatalf("code %d\nstdout %q\nstderr %q", code, out, errs)
				}
				return
			}
			if code != 1 || !strings.Contains(errs, tc.err) {
				t.Fatalf("code %d, stderr %q; want 1 and %q", code, errs, tc.err)
			}
		})
	}
}

// The importer sends each Kibana the format it takes.
func TestKibanaImportPicksFormatByVersion(t *testing.T) {
	for _, tc := range []struct {
		version, core, format string
	}{
		{"7.17.29", "7.17.0", "7.17"},
		{"8.19.0", "8.8.0", "8"},
		{"9.2.0", "8.8.0", "8"},
	} {
		k := &testKibana{version: tc.version}
		srv := startTestKibana(t, k)
		code, out, errs := runCLI(t, "kibana", "import", "-url", srv.URL)
		if code != 0 {
			t.Fatalf("%s: code %d, stderr %q", tc.version, code, errs)
		}
		if imp := k.lastImport(t); imp.core != tc.core {
			t.Errorf("Kibana %s got objects of %s, want %s", tc.version, imp.core, tc.core)
		}
		want := fmt.Sprintf("(%s format) into Kibana %s at %s, space default\n", tc.format, tc.version, srv.URL)
		if !strings.HasSuffix(out, want) {
			t.Errorf("stdout %q, want it to end %q", out, want)
		}
	}
	k := &testKibana{version: "10.0.0"}
	srv := startTestKibana(t, k)
	code, _, errs := runCLI(t, "kibana", "import", "-url", srv.URL)
	if code != 1 || !strings.Contains(errs, "Kibana 10.0.0") || len(k.imports) != 0 {
		t.Errorf("Kibana 10: code %d, stderr %q, %d imports", code, errs, len(k.imports))
	}
}

// Secrets from the environment fill in what the flags and the file leave
// out: KIBANA_PASSWORD for a username, KIBANA_API_KEY otherwise.
func TestKibanaImportEnvironmentSecrets(t *testing.T) {
	t.Setenv("KIBANA_PASSWORD", "env-password")
	t.Setenv("KIBANA_API_KEY", "ZW52LWtleQ==")
	basicK := &testKibana{version: "8.19.0", user: "elastic", password: "env-password"}
	basicSrv := startTestKibana(t, basicK)
	if code, _, errs := runCLI(t, "kibana", "import", "-url", basicSrv.URL, "-username", "elastic"); code != 0 {
		t.Errorf("username with KIBANA_PASSWORD: code %d, %s", code, errs)
	}
	keyK := &testKibana{version: "8.19.0", apiKey: "ZW52LWtleQ=="}
	keySrv := startTestKibana(t, keyK)
	if code, _, errs := runCLI(t, "kibana", "import", "-url", keySrv.URL); code != 0 {
		t.Errorf("KIBANA_API_KEY: code %d, %s", code, errs)
	}
}

func TestKibanaImportOnStart(t *testing.T) {
	k := &testKibana{version: "7.17.29", user: "lagship", password: "from-the-file"}
	srv := startTestKibana(t, k)
	cfg, err := config.Load(kibanaConfig(t, srv.URL, "import_on_start: true"))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	importOnStart(context.Background(), cfg, zerolog.New(&logs))
	if imp := k.lastImport(t); imp.core != "7.17.0" || imp.path != "/s/ops/api/saved_objects/_import" {
		t.Errorf("import at %s of %s objects", imp.path, imp.core)
	}
	for _, want := range []string{`"kibana_version":"7.17.29"`, `"format":"7.17"`, `"space":"ops"`, `"kibana":"` + srv.URL + `"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s: %s", want, logs.String())
		}
	}
	if bytes.Contains([]byte(logs.String()), []byte("from-the-file")) {
		t.Errorf("log shows the password: %s", logs.String())
	}
}
