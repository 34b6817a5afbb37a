package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lagship/lagship/internal/config"
)

// instruction is one line of a Dockerfile: its keyword and the rest,
// continuation lines joined.
type instruction struct {
	cmd  string // FROM, RUN, ... (upper case)
	args string
	line int
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start, n := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonArgs decodes an exec-form argument list: ["a", "b"].
func jsonArgs(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Fatalf("Dockerfile:%d: %s is not in exec form (a JSON list): %v", in.line, in.cmd, err)
	}
	return v
}

// dockerfile is what the tests need of the root Dockerfile.
type dockerfile struct {
	stages      []string // FROM images
	args        map[string]string
	build       string // the RUN command holding go build
	user        string
	chown       string // of the COPY that creates the state directory
	stateSrc    string // its source in the build stage
	stateDst    string // and its destination
	mkdirs      []string
	env         map[string]string
	volumes     []string
	expose      []string
	healthcheck []string
	entrypoint  []string
	cmd         []string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	d := dockerfile{args: map[string]string{}, env: map[string]string{}}
	for _, in := range parseDockerfile(t, "../../Dockerfile") {
		switch in.cmd {
		case "FROM":
			d.stages = append(d.stages, strings.Fields(in.args)[0])
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			d.args[k] = v
		case "RUN":
			if strings.Contains(in.args, "go build") {
				d.build = in.args
			}
			if m := regexp.MustCompile(`mkdir -p (\S+)`).FindStringSubmatch(in.args); m != nil {
				d.mkdirs = append(d.mkdirs, m[1])
			}
		case "COPY":
			if m := regexp.MustCompile(`--chown=(\S+) (\S+) (/var/lib/lagship\S*)$`).FindStringSubmatch(in.args); m != nil {
				d.chown, d.stateSrc, d.stateDst = m[1], m[2], m[3]
			}
		case "USER":
			d.user = in.args
		case "ENV":
			k, v, _ := strings.Cut(in.args, "=")
			d.env[k] = v
		case "VOLUME":
			d.volumes = append(d.volumes, jsonArgs(t, in)...)
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(in.args)...)
		case "HEALTHCHECK":
			i := strings.Index(in.args, "CMD ")
			if i < 0 {
				t.Fatalf("Dockerfile:%d: HEALTHCHECK without CMD", in.line)
			}
			d.healthcheck = jsonArgs(t, instruction{cmd: "HEALTHCHECK CMD", args: in.args[i+4:], line: in.line})
		case "ENTRYPOINT":
			d.entrypoint = jsonArgs(t, in)
		case "CMD":
			d.cmd = jsonArgs(t, in)
		}
	}
	return d
}

// TestDockerfileAndCompose: the image and the compose example agree on
// where the config and the spool are, who runs lagship, and which port
// serves /healthz; the image runs no root process and needs no shell.
func TestDockerfileAndCompose(t *testing.T) {
	d := readDockerfile(t)
	if len(d.stages) != 2 || !strings.HasPrefix(d.stages[0], "golang:") || !strings.HasPrefix(d.stages[1], "gcr.io/distroless/static") {
		t.Errorf("stages %v: want a golang build stage and a distroless static one", d.stages)
	}
	// The build image's Go is the one go.mod asks for.
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goLine == nil || d.stages[0] != "golang:"+string(goLine[1]) {
		t.Errorf("build stage %s, go.mod asks for go %s", d.stages[0], goLine[1])
	}
	uid, _, _ := strings.Cut(d.user, ":")
	if d.user == "" || uid == "0" || uid == "root" || d.chown != d.user {
		t.Errorf("USER %q, state directory owned by %q: want one non-root user for both", d.user, d.chown)
	}
	bin := "/usr/local/bin/lagship"
	if strings.Join(d.entrypoint, " ") != bin || strings.Join(d.cmd, " ") != "run" {
		t.Errorf("ENTRYPOINT %v CMD %v", d.entrypoint, d.cmd)
	}
	if len(d.healthcheck) < 2 || d.healthcheck[0] != bin || d.healthcheck[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK %v: want the binary's own healthcheck (no curl in distroless)", d.healthcheck)
	}
	healthURL := defaultHealthURL
	for i, a := range d.healthcheck {
		if a == "-url" && i+1 < len(d.healthcheck) {
			healthURL = d.healthcheck[i+1]
		}
	}
	_, healthPort, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(healthURL, "http://"), "/healthz"))
	if len(d.expose) != 1 || d.expose[0] != healthPort {
		t.Errorf("EXPOSE %v, HEALTHCHECK asks port %s", d.expose, healthPort)
	}
	// A -ldflags -X for each variable version.go documents.
	for _, v := range []string{"version", "commit", "date"} {
		if !strings.Contains(d.build, "-X main."+v+"=${"+strings.ToUpper(v)+"}") {
			t.Errorf("the build does not inject main.%s: %s", v, d.build)
		}
	}
	if !strings.HasPrefix(d.build, "CGO_ENABLED=0 go build ") {
		t.Errorf("the build is not a cgo-free go build: %s", d.build)
	}

	// The compose example builds this Dockerfile and mounts what it expects.
	b, err := os.ReadFile("../../examples/docker-compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			User    string   `yaml:"user"`
			Volumes []string `yaml:"volumes"`
			Ports   []string `yaml:"ports"`
			Command []string `yaml:"command"`
			Grace   string   `yaml:"stop_grace_period"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	svc, ok := compose.Services["lagship"]
	if !ok {
		t.Fatal("no lagship service")
	}
	if grace, err := time.ParseDuration(svc.Grace); err != nil || grace < defaultGrace+10*time.Second {
		t.Errorf("compose stop_grace_period %q (%v) leaves less than 10s over the %v shutdown deadline", svc.Grace, err, defaultGrace)
	}
	ctx := filepath.Join("../../examples/docker-compose", svc.Build.Context)
	if df, err := filepath.Abs(filepath.Join(ctx, svc.Build.Dockerfile)); err != nil || df != mustAbs(t, "../../Dockerfile") {
		t.Errorf("compose builds %s in %s, not the root Dockerfile", svc.Build.Dockerfile, svc.Build.Context)
	}
	if svc.User != "" && svc.User != d.user {
		t.Errorf("compose runs as %q, the image as %q", svc.User, d.user)
	}
	mounts := map[string]string{} // container path -> source
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Fatalf("volume %q", v)
		}
		mounts[parts[1]] = parts[0]
	}
	cfgPath := d.env[configEnv]
	if cfgPath != defaultConfig || mounts[cfgPath] == "" || len(svc.Command) != 0 {
		t.Errorf("image reads %s=%q; compose mounts %v and runs %v", configEnv, cfgPath, mounts, svc.Command)
	}
	if len(d.volumes) != 1 {
		t.Fatalf("VOLUME %v: want the spool", d.volumes)
	}
	spoolVol := mounts[d.volumes[0]]
	if _, named := compose.Volumes[spoolVol]; !named {
		t.Errorf("compose mounts %q on the image's VOLUME %s; want a named volume", spoolVol, d.volumes[0])
	}
	cfg, err := config.LoadWith(filepath.Join("../../examples/docker-compose", mounts[cfgPath]), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Elasticsearch.SpoolDir != d.volumes[0] || config.DefaultSpoolDir != d.volumes[0] {
		t.Errorf("spool_dir %s, image VOLUME %s, default %s", cfg.Elasticsearch.SpoolDir, d.volumes[0], config.DefaultSpoolDir)
	}
	_, listenPort, _ := net.SplitHostPort(cfg.HTTP.Address())
	if listenPort != healthPort {
		t.Errorf("compose config listens on %s, HEALTHCHECK asks %s", cfg.HTTP.Address(), healthPort)
	}
	published := false
	for _, p := range svc.Ports {
		published = published || strings.HasSuffix(p, ":"+healthPort)
	}
	if !published {
		t.Errorf("compose publishes %v, not the container's port %s", svc.Ports, healthPort)
	}
	// The image creates the volume's directory, owned by its user, so that
	// Docker gives a new volume that owner.
	created := ""
	for _, dir := range d.mkdirs {
		if rel, ok := strings.CutPrefix(dir, d.stateSrc); ok && d.stateSrc != "" {
			created = d.stateDst + rel
		}
	}
	if created != d.volumes[0] {
		t.Errorf("the image creates %q (from %v copied %s -> %s), its VOLUME is %s", created, d.mkdirs, d.stateSrc, d.stateDst, d.volumes[0])
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDockerBuildStage runs the Dockerfile's build command, as written
// there (no Docker here), and checks its result: a static binary that
// reports the injected version and can be its own HEALTHCHECK.
func TestDockerBuildStage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lagship")
	}
	d := readDockerfile(t)
	if !strings.Contains(d.build, "-o /out/lagship ") {
		t.Fatalf("build command %q does not write /out/lagship", d.build)
	}
	bin := filepath.Join(t.TempDir(), "lagship")
	script := strings.Replace(d.build, "-o /out/lagship ", "-o "+bin+" ", 1)
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "VERSION=v9.8.7-test", "COMMIT=0123abcd", "DATE=2026-12-07T01:02:03Z")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the binary asks for a dynamic loader; distroless static has none")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary links %v", libs)
		}
		f.Close()
	}
	out, err := exec.Command(bin, "version", "-json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if v.Version != "v9.8.7-test" || v.Commit != "0123abcd" || v.Date != "2026-12-07T01:02:03Z" || v.GoVersion != runtime.Version() {
		t.Errorf("version -json of the image's build: %+v", v)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	args := append([]string{}, d.healthcheck[1:]...)
	for i := range args {
		if args[i] == "-url" && i+1 < len(args) {
			args[i+1] = srv.URL + "/healthz"
		}
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Errorf("HEALTHCHECK %v: %v\n%s", args, err, out)
	}
	srv.Close()
	if err := exec.Command(bin, args...).Run(); err == nil {
		t.Error("HEALTHCHECK passes with nothing listening")
	}
}

// unitFile is a systemd unit: section -> key -> values, in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not key=value in a section", path, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// one is the single value of key in section.
func (u unitFile) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Errorf("[%s] %s: %v, want one value", section, key, v)
		return ""
	}
	return v[0]
}

// TestSystemdUnit: the unit gives the shutdown deadline a margin, does not
// restart on a config error, and fails clearly without its environment
// file.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, "../../examples/systemd/lagship.service")
	stop, err := time.ParseDuration(u.one(t, "Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if stop < defaultGrace+10*time.Second {
		t.Errorf("TimeoutStopSec %v leaves less than 10s over the %v shutdown deadline", stop, defaultGrace)
	}
	if ks := u["Service"]["KillSignal"]; len(ks) > 0 && ks[0] != "SIGTERM" {
		t.Errorf("KillSignal %v: lagship drains on SIGTERM", ks)
	}
	if got := strings.Fields(u.one(t, "Service", "RestartPreventExitStatus")); !slices.Contains(got, strconv.Itoa(exitConfig)) {
		t.Errorf("RestartPreventExitStatus %v lacks the config error's exit code %d", got, exitConfig)
	}
	if r := u.one(t, "Service", "Restart"); r != "on-failure" {
		t.Errorf("Restart=%s", r)
	}
	env := u.one(t, "Service", "EnvironmentFile")
	if strings.HasPrefix(env, "-") {
		t.Errorf("EnvironmentFile=%s: a missing file would be ignored silently", env)
	}
	if a := u["Unit"]["AssertPathExists"]; !slices.Contains(a, env) {
		t.Errorf("[Unit] AssertPathExists=%v: want %s, so that systemctl status names the missing file", a, env)
	}
	exec := strings.Fields(u.one(t, "Service", "ExecStart"))
	if len(exec) < 4 || exec[1] != "run" || exec[2] != "-config" || exec[3] != defaultConfig {
		t.Errorf("ExecStart=%v", exec)
	}
	if sd := u.one(t, "Service", "StateDirectory"); !strings.HasPrefix(config.DefaultSpoolDir, "/var/lib/"+sd+"/") {
		t.Errorf("StateDirectory=%s does not hold the default spool %s", sd, config.DefaultSpoolDir)
	}
}
