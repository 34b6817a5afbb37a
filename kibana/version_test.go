package kibana

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		err  bool
	}{
		{"8.19.0", Version{8, 19, 0, ""}, false},
		{"7.17.29", Version{7, 17, 29, ""}, false},
		{"9.2.0-SNAPSHOT", Version{9, 2, 0, "SNAPSHOT"}, false},
		{"10.0.0-alpha1", Version{10, 0, 0, "alpha1"}, false},
		{"8.19", Version{}, true},
		{"v8.19.0", Version{}, true},
		{"8.19.0 ", Version{}, true},
		{"", Version{}, true},
		{"99999.0.0", Version{}, true},
	} {
		got, err := ParseVersion(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseVersion(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestFormatFor(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    Format
		err     string
	}{
		{"7.17.0", Format717, ""},
		{"7.17.29", Format717, ""},
		{"8.0.0", Format717, ""},
		{"8.8.2", Format717, ""},
		{"8.9.0", Format8, ""},
		{"8.19.0", Format8, ""},
		{"9.0.0", Format8, ""},
		{"9.2.0-SNAPSHOT", Format8, ""},
		{"7.16.3", "", "older than 7.17"},
		{"6.8.23", "", "import into Kibana 7.17, 8.x and 9.x only"},
		{"10.0.0", "", "import into Kibana 7.17, 8.x and 9.x only"},
	} {
		v, err := ParseVersion(tc.version)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FormatFor(v)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.version)):
			t.Errorf("FormatFor(%s): %q, %v; want an error naming the version and %q", tc.version, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("FormatFor(%s) = %q, %v; want %s", tc.version, got, err, tc.want)
		}
	}
}

// Each format imports into the releases its name promises and is refused
// where Kibana would refuse it; FormatFor's choice always imports.
func TestFormatsAgainstReleases(t *testing.T) {
	for _, tc := range []struct {
		release string
		refuses map[Format]string // format -> why; absent: imports
	}{
		{"7.17.29", map[Format]string{Format8: "belongs to a more recent version of Kibana [8.8.0]"}},
		{"8.5.3", map[Format]string{Format8: "belongs to a more recent version of Kibana [8.8.0] when the last known version is [8.5.3]"}},
		{"8.8.2", map[Format]string{Format8: `has property "lens" which belongs to a more recent version of Kibana [8.9.0]`}},
		{"8.19.0", nil},
		{"9.2.0", map[Format]string{Format717: "imports saved objects from 8.x and 9.x only"}},
	} {
		v, _ := ParseVersion(tc.release)
		chosen, err := FormatFor(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, refused := tc.refuses[chosen]; refused {
			t.Errorf("FormatFor(%s) = %s, which that release refuses", tc.release, chosen)
		}
		for _, f := range Formats {
			t.Run(tc.release+"/"+string(f), func(t *testing.T) {
				fake := newFakeKibana(t)
				fake.version = tc.release
				srv := fake.start()
				res, err := Import(testContext(t), ImportOptions{URL: srv.URL}, Bundle(f))
				want, refused := tc.refuses[f]
				switch {
				case refused && (err == nil || !strings.Contains(err.Error(), want)):
					t.Fatalf("error %v, want %q", err, want)
				case refused:
					if n := fake.storedIn("default"); n != 0 {
						t.Errorf("a refused upload stored %d objects", n)
					}
				case err != nil:
					t.Fatal(err)
				case res.SuccessCount != bundleObjectsOf(t, f) || fake.storedIn("default") != res.SuccessCount:
					t.Errorf("imported %d, stored %d, want %d", res.SuccessCount, fake.storedIn("default"), bundleObjectsOf(t, f))
				}
			})
		}
	}
}

func TestInstallPicksTheFormat(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    Format
	}{
		{"7.17.29", Format717},
		{"8.5.3", Format717},
		{"8.19.0", Format8},
		{"9.2.0", Format8},
		{"9.2.0-SNAPSHOT", Format8},
	} {
		t.Run(tc.release, func(t *testing.T) {
			fake := newFakeKibana(t)
			fake.version = tc.release
			fake.user, fake.password = "elastic", "changeme-123"
			srv := fake.start()
			res, err := Install(testContext(t), ImportOptions{URL: srv.URL, Space: "ops", Username: "elastic", Password: "changeme-123"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tc.want || res.Version.String() != tc.release {
				t.Errorf("Install chose %s for %s, want %s for %s", res.Format, res.Version, tc.want, tc.release)
			}
			imports := fake.imports()
			if len(imports) != 1 {
				t.Fatalf("%d import requests, want 1", len(imports))
			}
			wantCore := map[Format]string{Format717: "7.17.0", Format8: "8.8.0"}[tc.want]
			if imports[0].core != wantCore || imports[0].path != "/s/ops/api/saved_objects/_import" {
				t.Errorf("Kibana got objects of %s at %s, want %s", imports[0].core, imports[0].path, wantCore)
			}
			if n := bundleObjectsOf(t, tc.want); res.SuccessCount != n || fake.storedIn("ops") != n {
				t.Errorf("imported %d, stored %d, want %d", res.SuccessCount, fake.storedIn("ops"), n)
			}
		})
	}
}

func TestInstallRefusesUnplacedVersions(t *testing.T) {
	for _, tc := range []struct {
		name string
		kib  http.HandlerFunc
		want string
	}{
		{"6.8", statusFile("kibana-6.8.json"), "Kibana 6.8.23: lagship's saved objects import into Kibana 7.17, 8.x and 9.x only"},
		{"10.0", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"version":{"number":"10.0.0"}}`)
		}, "Kibana 10.0.0"},
		{"anonymous status", statusFile("anonymous.json"), "no version number"},
		{"not Kibana", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html>proxy login</html>")
		}, "not Kibana's status JSON"},
		{"unauthorized", func(w http.ResponseWriter, r *http.Request) {
			kibanaError(w, http.StatusUnauthorized, "Unauthorized")
		}, "HTTP 401 Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imported := false
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/status" {
					imported = true
					kibanaError(w, http.StatusNotFound, "Not Found")
					return
				}
				tc.kib(w, r)
			}))
			t.Cleanup(srv.Close)
			_, err := Install(testContext(t), ImportOptions{URL: srv.URL})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if imported {
				t.Error("Install sent a request other than the status")
			}
		})
	}
}

func statusFile(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join("testdata", "status", name))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	}
}

// The status answers under testdata/status are shaped like those of the
// releases they are named after; the .golden files hold what lagship reads
// from them and the format it picks.
func TestParseStatusGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/status/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if v, err := parseStatus(b); err != nil {
				got = fmt.Sprintf("error: %v\n", err)
			} else if f, err := FormatFor(v); err != nil {
				got = fmt.Sprintf("version %s\nerror: %v\n", v, err)
			} else {
				got = fmt.Sprintf("version %s\nformat %s (%s)\n", v, f, f.Covers())
			}
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	files, _ := filepath.Glob("testdata/status/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":{"number":"8.19.0-"}}`))
	f.Add([]byte(`{"version":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseStatus(b)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("version %+v prints as %q, which parses as %+v, %v", v, v.String(), again, err)
		}
		if fm, err := FormatFor(v); err == nil && Bundle(fm) == nil {
			t.Fatalf("FormatFor(%s) = %q, which has no bundle", v, fm)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"8.19.0", "7.17.29", "9.2.0-SNAPSHOT", "1.2", "8.19.0-", "0.0.0-a.b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, v, v.String(), again, err)
		}
	})
}

func bundleObjectsOf(t *testing.T, f Format) int {
	t.Helper()
	objs, err := Objects(f)
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
}

// The test Kibana refuses dashboard attributes its release does not store,
// as 7.17's strict mapping and 8.x's schema do.
func TestFakeKibanaRefusesUnstoredAttributes(t *testing.T) {
	fake := newFakeKibana(t)
	fake.version = "7.17.29"
	srv := fake.start()
	bundle := mutate(t, Format717, DashboardID, func(o map[string]any) {
		o["attributes"].(map[string]any)["controlGroupInput"] = map[string]any{}
	})
	_, err := Import(testContext(t), ImportOptions{URL: srv.URL}, bundle)
	if err == nil || !strings.Contains(err.Error(), "[attributes.controlGroupInput]: definition for this key is missing") {
		t.Fatalf("error %v", err)
	}
}
