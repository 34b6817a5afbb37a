package kibana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
)

// Version is a Kibana release number.
type Version struct {
	Major, Minor, Patch int
	// Pre is what follows the patch number, without its dash: "SNAPSHOT"
	// in 9.2.0-SNAPSHOT.
	Pre string
}

func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

var releaseRE = regexp.MustCompile(`^(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:-([0-9A-Za-z.-]{1,64}))?$`)

// ParseVersion reads a Kibana version number such as 8.19.0 or
// 9.2.0-SNAPSHOT.
func ParseVersion(s string) (Version, error) {
	m := releaseRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a Kibana version (major.minor.patch)", s)
	}
	var v Version
	for i, dst := range []*int{&v.Major, &v.Minor, &v.Patch} {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return Version{}, fmt.Errorf("%q is not a Kibana version: %w", s, err)
		}
		*dst = n
	}
	v.Pre = m[4]
	return v, nil
}

// FormatFor returns the format Kibana v imports. Kibana imports saved
// objects exported by its own major or the previous one, and no newer than
// itself: 7.17 and 8.0 to 8.8 get Format717, 8.9 and later and 9.x
// Format8. Any other version is an error.
func FormatFor(v Version) (Format, error) {
	switch {
	case v.Major == 7 && v.Minor >= 17:
		return Format717, nil
	case v.Major == 7:
		return "", fmt.Errorf("Kibana %s is older than 7.17, the oldest release lagship's saved objects import into: upgrade Kibana to 7.17 or later", v)
	case v.Major == 8 && v.Minor < 9:
		// The 8.x format needs 8.9; every 8.x migrates the 7.17 one.
		return Format717, nil
	case v.Major == 8, v.Major == 9:
		return Format8, nil
	}
	return "", fmt.Errorf("Kibana %s: lagship's saved objects import into Kibana 7.17, 8.x and 9.x only (Kibana imports objects from its own major and the previous one)", v)
}

// statusResponse is the part of GET /api/status lagship reads. 7.x and
// 8.x/9.x answer with the same version object; with anonymous access to the
// status allowed, an unauthenticated caller gets the overall level alone.
type statusResponse struct {
	Version *struct {
		Number        string `json:"number"`
		BuildSnapshot bool   `json:"build_snapshot"`
	} `json:"version"`
}

// parseStatus reads Kibana's version from the body of GET /api/status.
func parseStatus(b []byte) (Version, error) {
	var r statusResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return Version{}, fmt.Errorf("answer is not Kibana's status JSON: %w", err)
	}
	if r.Version == nil || r.Version.Number == "" {
		return Version{}, errors.New("status answer has no version number (Kibana shows it only to authenticated users: set a username and password or an API key)")
	}
	v, err := ParseVersion(r.Version.Number)
	if err != nil {
		return Version{}, fmt.Errorf("status answer: %w", err)
	}
	return v, nil
}

// ServerVersion asks Kibana for its version (GET /api/status).
func ServerVersion(ctx context.Context, opts ImportOptions) (Version, error) {
	u, err := baseURL(opts)
	if err != nil {
		return Version{}, err
	}
	u.Path += "/api/status"
	where := u.Redacted()
	client, err := clientFor(opts)
	if err != nil {
		return Version{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Version{}, fmt.Errorf("kibana status from %s: %w", where, err)
	}
	req.Header.Set("Accept", "application/json")
	authorize(req, opts)
	resp, err := client.Do(req)
	if err != nil {
		return Version{}, fmt.Errorf("kibana status from %s: %w", where, scrubError(err, opts))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return Version{}, fmt.Errorf("kibana status from %s: reading the answer: %w", where, scrubError(err, opts))
	}
	if resp.StatusCode != http.StatusOK {
		return Version{}, fmt.Errorf("kibana status from %s: HTTP %s: %s", where, resp.Status, excerpt(raw, opts))
	}
	v, err := parseStatus(raw)
	if err != nil {
		return Version{}, fmt.Errorf("kibana status from %s: %w", where, err)
	}
	return v, nil
}

// InstallResult is what Install did.
type InstallResult struct {
	ImportResult
	// Version is the Kibana version the server reported, Format the
	// bundle sent for it.
	Version Version
	Format  Format
}

// Install asks Kibana for its version, picks the format it imports
// (FormatFor) and imports that bundle. When the version cannot be read or
// placed, nothing is imported.
func Install(ctx context.Context, opts ImportOptions) (InstallResult, error) {
	v, err := ServerVersion(ctx, opts)
	if err != nil {
		return InstallResult{}, err
	}
	f, err := FormatFor(v)
	if err != nil {
		return InstallResult{Version: v}, fmt.Errorf("kibana import: %w", err)
	}
	res, err := Import(ctx, opts, Bundle(f))
	return InstallResult{ImportResult: res, Version: v, Format: f}, err
}
