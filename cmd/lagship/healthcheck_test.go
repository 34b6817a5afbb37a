package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck: exit 0 only on a 200 from /healthz; the reason of a 503
// is shown.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte(`{"status":"ok"}`))
		case "/sick/healthz":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"reason":"no collection ended for 30s"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		out, errs string
	}{
		{"healthy", []string{"-url", srv.URL + "/healthz"}, 0, "healthy: " + srv.URL + "/healthz answered 200 OK", ""},
		{"quiet", []string{"-q", "-url", srv.URL + "/healthz"}, 0, "", ""},
		{"unhealthy", []string{"-url", srv.URL + "/sick/healthz"}, 1, "", `answered 503 Service Unavailable: {"reason":"no collection ended for 30s"}`},
		{"not found", []string{"-url", srv.URL + "/nope"}, 1, "", "answered 404 Not Found"},
		{"nobody listening", []string{"-url", closed, "-timeout", "2s"}, 1, "", "connection refused"},
		{"bad url", []string{"-url", "::"}, 1, "", "healthcheck: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, append([]string{"healthcheck"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.errs) || (tc.out == "" && out != "") {
				t.Errorf("code %d (want %d)\nstdout %q\nstderr %q", code, tc.code, out, errs)
			}
		})
	}
}

// TestHealthcheckDefault: the default URL is /healthz on http.listen's
// default, the port the Dockerfile exposes.
func TestHealthcheckDefault(t *testing.T) {
	if defaultHealthURL != "http://127.0.0.1:9839/healthz" {
		t.Errorf("default %s", defaultHealthURL)
	}
}
