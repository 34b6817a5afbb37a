package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time, as the Dockerfile does:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.date=2026-12-07T00:00:00Z"
//
// What is left unset comes from the module and VCS information Go embeds
// (runtime/debug.ReadBuildInfo): the module version of `go install
// ...@v1.2.3`, vcs.revision and vcs.time of a build in a git checkout.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// versionInfo is what `lagship version` prints; the status page and
// lagship_build_info show its Version.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// buildInfo combines the -ldflags values with the embedded build
// information; -ldflags wins.
func buildInfo() versionInfo {
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	return resolveVersion(version, commit, date, bi)
}

func resolveVersion(version, commit, date string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return fill(v)
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	if (v.Version == "" || v.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if v.Commit == "" && settings["vcs.revision"] != "" {
		v.Commit = settings["vcs.revision"]
		if settings["vcs.modified"] == "true" {
			v.Commit += "-dirty"
		}
	}
	if v.Date == "" {
		v.Date = settings["vcs.time"]
	}
	return fill(v)
}

func fill(v versionInfo) versionInfo {
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.Date == "" {
		v.Date = "unknown"
	}
	return v
}

// buildVersion is the version alone, for logs, the status page and
// lagship_build_info.
func buildVersion() string { return buildInfo().Version }

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object: version, commit, date, go_version, platform")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v := buildInfo()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(v)
	}
	_, err := fmt.Fprintf(stdout, "lagship %s\n  commit:  %s\n  built:   %s\n  go:      %s %s\n", v.Version, v.Commit, v.Date, v.GoVersion, v.Platform)
	return err
}
