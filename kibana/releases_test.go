package kibana

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/lagship/lagship/mappings"
)

// releaseTypeVersions is, for the releases the tests model, the newest
// migration each saved-object type has there (for dashboards and Lens, the
// newest the release registers, embeddable migrations and model versions
// included). A release has the entry of the newest release listed at or
// before it in its own line: 7.17.29 has 7.17.3's, 8.5.3 has 8.5.0's.
//
// The fake Kibana of import_test.go refuses an object whose type version
// is newer than its release's entry; the validator's schemas accept up to
// the entry of the oldest release of their format. Both read this one
// table, so the fake cannot take what the validator refuses or the other
// way round.
//
// From Kibana's source: 7.17's newest Lens migration is 7.16.0
// (x-pack/plugins/lens/server/migrations/saved_object_migrations.ts; the
// next is 8.1.0) and its newest index-pattern migration 7.11.0
// (src/plugins/data/server/saved_objects/index_pattern_migrations.ts; 8.x
// exports still say 7.11.0 or 8.0.0, the multi-namespace conversion).
// Visualizations have a 7.17.0 migration (the TSVB drop-last-bucket fix).
// The dashboard's own migrations end at 7.14.0 in 7.17.0 and at 7.17.3
// (hidden panel titles) from 7.17.3 on.
var releaseTypeVersions = map[string]map[string]string{
	"7.17.0": {"index-pattern": "7.11.0", "lens": "7.16.0", "visualization": "7.17.0", "dashboard": "7.14.0"},
	"7.17.3": {"index-pattern": "7.11.0", "lens": "7.16.0", "visualization": "7.17.0", "dashboard": "7.17.3"},
	"8.5.0":  {"index-pattern": "8.0.0", "lens": "8.5.0", "visualization": "8.5.0", "dashboard": "8.5.0"},
	"8.8.0":  {"index-pattern": "8.0.0", "lens": "8.6.0", "visualization": "8.5.0", "dashboard": "8.7.0"},
	// 8.9: Lens' metric formatter migration and the dashboard's by-value
	// Lens migration, both 8.9.0.
	"8.9.0":  {"index-pattern": "8.0.0", "lens": "8.9.0", "visualization": "8.5.0", "dashboard": "8.9.0"},
	"8.19.0": {"index-pattern": "8.0.0", "lens": "8.9.0", "visualization": "8.5.0", "dashboard": "10.2.0"},
	"9.2.0":  {"index-pattern": "8.0.0", "lens": "8.9.0", "visualization": "8.5.0", "dashboard": "10.3.0"},
}

// typeVersionsOf returns the newest migration of each type in release v
// (nil when the table has no release of v's line at or before it).
func typeVersionsOf(v Version) map[string]string {
	var best []int
	var types map[string]string
	for s, t := range releaseTypeVersions {
		r, err := ParseVersion(s)
		if err != nil {
			panic(fmt.Sprintf("releaseTypeVersions: %v", err))
		}
		at := []int{r.Major, r.Minor, r.Patch}
		if r.Major != v.Major || r.Minor != v.Minor || r.Patch > v.Patch || slices.Compare(at, best) <= 0 {
			continue
		}
		best, types = at, t
	}
	return types
}

// mustTypeVersions is typeVersionsOf for a release written in the tests.
func mustTypeVersions(release string) map[string]string {
	v, err := ParseVersion(release)
	if err != nil {
		panic(err)
	}
	t := typeVersionsOf(v)
	if t == nil {
		panic("releaseTypeVersions has no entry for " + release)
	}
	return t
}

// The validator and the fake Kibana read releaseTypeVersions alike: at the
// oldest release of each format, an object the validator refuses for its
// type version the fake refuses too, and the bundle itself imports.
func TestValidatorAndFakeAgree(t *testing.T) {
	for _, tc := range []struct {
		format  Format
		id, typ string
		version string // a type version the format's oldest release does not know
	}{
		{Format717, totalLagID, "lens", "7.17.0"},
		{Format717, IndexPatternID, "index-pattern", "7.17.0"},
		{Format717, DashboardID, "dashboard", "7.17.3"},
		{Format8, totalLagID, "lens", "8.10.0"},
		{Format8, DashboardID, "dashboard", "10.2.0"},
	} {
		t.Run(string(tc.format)+"/"+tc.typ, func(t *testing.T) {
			s := schemas[tc.format]
			if want := mustTypeVersions(s.oldest); !maps.Equal(s.accepts, want) {
				t.Fatalf("%s accepts %v, releaseTypeVersions has %v for %s", s.name, s.accepts, want, s.oldest)
			}
			for _, b := range []struct {
				bundle  []byte
				refused bool
			}{
				{Bundle(tc.format), false},
				{mutate(t, tc.format, tc.id, func(o map[string]any) {
					if s.typeMigrationVersion {
						o["typeMigrationVersion"] = tc.version
					} else {
						o["migrationVersion"] = map[string]any{tc.typ: tc.version}
					}
				}), true},
			} {
				validatorRefuses := slices.ContainsFunc(validateBundle(b.bundle, s, mappings.Default()),
					func(p string) bool { return strings.Contains(p, "refuses the object") })
				fake := newFakeKibana(t)
				fake.version = s.oldest
				_, err := Import(testContext(t), ImportOptions{URL: fake.start().URL}, b.bundle)
				if validatorRefuses != b.refused || (err != nil) != b.refused {
					t.Errorf("refused: validator %v, fake Kibana %s: %v; want %v", validatorRefuses, s.oldest, err, b.refused)
				}
			}
		})
	}
}
