package kibana

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lagship/lagship/mappings"
)

func TestBundleValid(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			for _, p := range validateBundle(Bundle(f), schemas[f], mappings.Default()) {
				t.Error(p)
			}
		})
	}
}

// Each bundle fails the other format's checks: the checks tell the formats
// apart.
func TestBundleFailsTheOtherFormat(t *testing.T) {
	for _, tc := range []struct {
		bundle, schema Format
		want           string
	}{
		{Format8, Format717, "typeMigrationVersion is the 8.x format"},
		{Format8, Format717, `datasource "formBased"`},
		{Format8, Format717, `key "controlGroupInput", which Kibana 7.17 does not map`},
		{Format717, Format8, "migrationVersion is the 7.x envelope"},
		{Format717, Format8, `datasource "indexpattern"`},
	} {
		problems := validateBundle(Bundle(tc.bundle), schemas[tc.schema], mappings.Default())
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
			t.Errorf("%s bundle against the %s checks: no problem mentions %q; got:\n%s",
				tc.bundle, tc.schema, tc.want, strings.Join(problems, "\n"))
		}
	}
}

func TestObjects(t *testing.T) {
	want := map[Format]map[string][]string{
		Format717: {
			"index-pattern": {IndexPatternID},
			"lens":          {statusTableID, timeLagID, totalLagID, maxLagID, partitionLagID, latestTableID, trendID},
			"visualization": {lastSeenID, guideID},
			"dashboard":     {DashboardID},
		},
		Format8: {
			"index-pattern": {IndexPatternID},
			"lens":          {statusTableID, timeLagID, totalLagID, maxLagID, partitionLagID, latestTableID, trendID},
			"visualization": {guideID},
			"dashboard":     {DashboardID},
		},
	}
	for _, f := range formats {
		objs, err := Objects(f.name)
		if err != nil {
			t.Fatal(err)
		}
		byType := map[string][]string{}
		for _, o := range objs {
			byType[o.Type] = append(byType[o.Type], o.ID)
			if o.CoreMigrationVersion != f.core {
				t.Errorf("%s: %s %s: coreMigrationVersion %q", f.name, o.Type, o.ID, o.CoreMigrationVersion)
			}
			if f.typeMigrationVersion != (o.TypeMigrationVersion != "") || f.typeMigrationVersion == (o.MigrationVersion != nil) {
				t.Errorf("%s: %s %s: migrationVersion %v, typeMigrationVersion %q", f.name, o.Type, o.ID, o.MigrationVersion, o.TypeMigrationVersion)
			}
			if o.Title() == "" {
				t.Errorf("%s: %s %s: no title", f.name, o.Type, o.ID)
			}
		}
		for typ, ids := range want[f.name] {
			if !slices.Equal(byType[typ], ids) {
				t.Errorf("%s: %s objects: got %v, want %v", f.name, typ, byType[typ], ids)
			}
		}
		if len(byType) != len(want[f.name]) {
			t.Errorf("%s: object types: got %v", f.name, sortedKeys(byType))
		}
	}
	if _, err := Objects("6"); err == nil {
		t.Error("Objects accepted an unknown format")
	}
}

func TestBundleIsACopy(t *testing.T) {
	for _, f := range Formats {
		b := Bundle(f)
		b[0] = 'X'
		if Bundle(f)[0] == 'X' {
			t.Fatalf("Bundle(%s) returned the embedded slice", f)
		}
	}
	if Bundle("9") != nil {
		t.Error("Bundle of an unknown format is not nil")
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		err  bool
	}{
		{"7.17", Format717, false}, {"7", Format717, false}, {"8", Format8, false},
		{"8.x", Format8, false}, {" 8.19 ", Format8, false}, {"9", "", true}, {"", "", true}, {"7.10", "", true},
	} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseFormat(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// The per-partition chart reads the per-partition fields that mapping.json
// declares, and only those: p18 and above exist only once a document
// carries them, so a chart on them would fail on a fresh index.
func TestPartitionChartFields(t *testing.T) {
	m := mappings.Default()
	for _, f := range Formats {
		objs, err := Objects(f)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(objs, func(o Object) bool { return o.ID == partitionLagID })
		if i < 0 {
			t.Fatalf("%s: no object %q", f, partitionLagID)
		}
		var got []string
		for _, fl := range regexp.MustCompile(`"sourceField":"(p\d+)"`).FindAllStringSubmatch(string(objs[i].Attributes), -1) {
			if _, explicit := m.Mappings.Properties[fl[1]]; !explicit {
				t.Errorf("%s: per-partition chart reads %s, which mapping.json does not declare", f, fl[1])
			}
			got = append(got, fl[1])
		}
		if len(got) != partitionFields {
			t.Errorf("%s: per-partition chart reads %d partition fields, want %d", f, len(got), partitionFields)
		}
	}
}

// Every chart with a breakdown splits by mirror and topic together, never
// by topic alone: the same topic in two mirrors must stay two series.
func TestSeriesSplitByMirrorAndTopic(t *testing.T) {
	for _, f := range Formats {
		objs, err := Objects(f)
		if err != nil {
			t.Fatal(err)
		}
		charts := 0
		for _, o := range objs {
			if o.Type != "lens" {
				continue
			}
			var a struct {
				VisualizationType string `json:"visualizationType"`
				State             struct {
					DatasourceStates map[string]struct {
						Layers map[string]struct {
							Columns map[string]map[string]any `json:"columns"`
						} `json:"layers"`
					} `json:"datasourceStates"`
					Visualization struct {
						Layers []struct {
							SplitAccessor string `json:"splitAccessor"`
						} `json:"layers"`
					} `json:"visualization"`
				} `json:"state"`
			}
			if err := json.Unmarshal(o.Attributes, &a); err != nil {
				t.Fatal(err)
			}
			if a.VisualizationType != "lnsXY" {
				continue
			}
			charts++
			for _, l := range a.State.Visualization.Layers {
				for _, ds := range a.State.DatasourceStates {
					for _, dl := range ds.Layers {
						col := dl.Columns[l.SplitAccessor]
						if col["sourceField"] != seriesField || col["label"] != seriesLabel {
							t.Errorf("%s: %s splits by %v (%v), want %s", f, o.ID, col["sourceField"], col["label"], seriesField)
						}
					}
				}
			}
		}
		if charts != 5 {
			t.Errorf("%s: %d line charts, want 5", f, charts)
		}
	}
}

// The runtime field behind the breakdown joins mirror and topic with the
// separator the labels promise and emits nothing for a document lacking
// either.
func TestSeriesRuntimeField(t *testing.T) {
	for _, f := range Formats {
		objs, _ := Objects(f)
		var a struct {
			RuntimeFieldMap string `json:"runtimeFieldMap"`
		}
		if err := json.Unmarshal(objs[0].Attributes, &a); err != nil || objs[0].ID != IndexPatternID {
			t.Fatalf("%s: first object %s: %v", f, objs[0].ID, err)
		}
		var fields map[string]struct {
			Type   string
			Script struct{ Source string }
		}
		if err := json.Unmarshal([]byte(a.RuntimeFieldMap), &fields); err != nil {
			t.Fatal(err)
		}
		rf := fields[seriesField]
		for _, want := range []string{"doc['mirror'].size() > 0", "doc['topic'].size() > 0", "' › '", "emit("} {
			if !strings.Contains(rf.Script.Source, want) {
				t.Errorf("%s: %s script %q lacks %q", f, seriesField, rf.Script.Source, want)
			}
		}
		if rf.Type != "keyword" {
			t.Errorf("%s: %s is a %q field", f, seriesField, rf.Type)
		}
	}
}

// mutate parses the bundle, lets f change one object and writes it back.
func mutate(t *testing.T, format Format, id string, f func(o map[string]any)) []byte {
	t.Helper()
	var out bytes.Buffer
	found := false
	for _, line := range bytes.Split(bytes.TrimSpace(Bundle(format)), []byte("\n")) {
		o, err := decodeObject(line)
		if err != nil {
			t.Fatal(err)
		}
		if o["id"] == id {
			f(o)
			found = true
		}
		out.WriteString(jsonString(o))
		out.WriteByte('\n')
	}
	if !found {
		t.Fatalf("no object %q", id)
	}
	return out.Bytes()
}

// mutateJSONAttr edits a JSON document held in a string attribute.
func mutateJSONAttr(o map[string]any, keyPath []string, f func(doc any) any) {
	m := o["attributes"].(map[string]any)
	for _, k := range keyPath[:len(keyPath)-1] {
		m = m[k].(map[string]any)
	}
	last := keyPath[len(keyPath)-1]
	var doc any
	if err := json.Unmarshal([]byte(m[last].(string)), &doc); err != nil {
		panic(err)
	}
	m[last] = jsonString(f(doc))
}

func lensLayer(o map[string]any) map[string]any {
	for _, ds := range o["attributes"].(map[string]any)["state"].(map[string]any)["datasourceStates"].(map[string]any) {
		return ds.(map[string]any)["layers"].(map[string]any)["lagship-layer"].(map[string]any)
	}
	panic("no datasource")
}

func lensColumns(o map[string]any) map[string]any {
	return lensLayer(o)["columns"].(map[string]any)
}

func lensVis(o map[string]any) map[string]any {
	return o["attributes"].(map[string]any)["state"].(map[string]any)["visualization"].(map[string]any)
}

func dropReference(o map[string]any, name string) {
	var keep []any
	for _, r := range o["references"].([]any) {
		if r.(map[string]any)["name"] != name {
			keep = append(keep, r)
		}
	}
	o["references"] = keep
}

func firstPanel(f func(p map[string]any)) func(any) any {
	return func(doc any) any {
		f(doc.([]any)[0].(map[string]any))
		return doc
	}
}

func TestValidatorRejectsBrokenBundles(t *testing.T) {
	textTopic := mappings.Default()
	f := textTopic.Mappings.Properties["topic"]
	f.Type = "text"
	textTopic.Mappings.Properties["topic"] = f

	tests := []struct {
		name    string
		format  Format // Format717 when empty
		bundle  func(t *testing.T) []byte
		mapping *mappings.Mapping
		want    string // substring of one problem; "" means valid
	}{
		{
			name: "dynamic partition field is accepted",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, partitionLagID, func(o map[string]any) {
					lensColumns(o)["p17"].(map[string]any)["sourceField"] = "p42"
				})
			},
		},
		{
			name: "dashboard panel reference dropped",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) { dropReference(o, "panel_1") })
			},
			want: `panelRefName "panel_1" has no reference`,
		},
		{
			name: "lens layer reference dropped",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, totalLagID, func(o map[string]any) {
					dropReference(o, "indexpattern-datasource-layer-lagship-layer")
				})
			},
			want: "has no index-pattern reference indexpattern-datasource-layer-lagship-layer",
		},
		{
			name: "current index pattern reference dropped",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, maxLagID, func(o map[string]any) {
					dropReference(o, "indexpattern-datasource-current-indexpattern")
				})
			},
			want: "no index-pattern reference indexpattern-datasource-current-indexpattern",
		},
		{
			name: "reference to an object outside the bundle",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, latestTableID, func(o map[string]any) {
					o["references"].([]any)[0].(map[string]any)["id"] = "someone-elses-pattern"
				})
			},
			want: `points at index-pattern "someone-elses-pattern", which is not in the bundle`,
		},
		{
			// Objects typed 8.9.0 skip Lens' 8.2.0 migration: without
			// includeEmptyRows a date histogram leaves out empty buckets.
			name:   "8.x date histogram without includeEmptyRows",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, trendID, func(o map[string]any) {
					delete(lensColumns(o)["time"].(map[string]any)["params"].(map[string]any), "includeEmptyRows")
				})
			},
			want: `column "time": date_histogram needs a boolean params.includeEmptyRows`,
		},
		{
			name:   "8.x date histogram without dropPartials",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, totalLagID, func(o map[string]any) {
					delete(lensColumns(o)["time"].(map[string]any)["params"].(map[string]any), "dropPartials")
				})
			},
			want: `column "time": date_histogram needs a boolean params.dropPartials`,
		},
		{
			name:   "8.x last value with a string showArrayValues",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, statusTableID, func(o map[string]any) {
					lensColumns(o)["status"].(map[string]any)["params"].(map[string]any)["showArrayValues"] = "false"
				})
			},
			want: `column "status": last_value needs a boolean params.showArrayValues`,
		},
		{
			name: "7.17 date histogram with includeEmptyRows",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, trendID, func(o map[string]any) {
					lensColumns(o)["time"].(map[string]any)["params"].(map[string]any)["includeEmptyRows"] = true
				})
			},
			want: `column "time": params.includeEmptyRows is unknown to Kibana 7.17's Lens`,
		},
		{
			name: "7.17 last value with showArrayValues",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, latestTableID, func(o map[string]any) {
					lensColumns(o)["total_lag"].(map[string]any)["params"].(map[string]any)["showArrayValues"] = false
				})
			},
			want: `column "total_lag": params.showArrayValues is unknown to Kibana 7.17's Lens`,
		},
		{
			name: "sourceField missing from the mapping",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, totalLagID, func(o map[string]any) {
					lensColumns(o)["lag"].(map[string]any)["sourceField"] = "totallag"
				})
			},
			want: `field "totallag" is not in mappings/mapping.json`,
		},
		{
			name:    "terms on a text field",
			bundle:  func(*testing.T) []byte { return Bundle(Format717) },
			mapping: textTopic,
			want:    `"topic" is a text field, which Elasticsearch cannot aggregate`,
		},
		{
			name: "max over a keyword field",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, maxLagID, func(o map[string]any) {
					lensColumns(o)["lag"].(map[string]any)["sourceField"] = "mirror"
				})
			},
			want: `max cannot use "mirror", a keyword field`,
		},
		{
			name: "last value sorted by a number",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, latestTableID, func(o map[string]any) {
					lensColumns(o)["max_lag"].(map[string]any)["params"].(map[string]any)["sortField"] = "total_lag"
				})
			},
			want: `sortField "total_lag" is a long field, not a date`,
		},
		{
			name: "last value of a date field",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, statusTableID, func(o map[string]any) {
					c := lensColumns(o)["status"].(map[string]any)
					c["sourceField"] = "@timestamp"
					c["dataType"] = "date"
				})
			},
			want: `last_value cannot use "@timestamp", a date field`,
		},
		{
			name: "dataType differs from the field's",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, statusTableID, func(o map[string]any) {
					lensColumns(o)["status"].(map[string]any)["dataType"] = "number"
				})
			},
			want: `dataType "number", but last_value of a keyword field is "string"`,
		},
		{
			name: "max column not a number",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, timeLagID, func(o map[string]any) {
					lensColumns(o)["time_lag"].(map[string]any)["dataType"] = "string"
				})
			},
			want: `dataType "string", but max of a double field is "number"`,
		},
		{
			name: "status column coloured by value",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, statusTableID, func(o map[string]any) {
					for _, c := range lensVis(o)["columns"].([]any) {
						if c := c.(map[string]any); c["columnId"] == "status" {
							c["colorMode"] = "cell"
						}
					}
				})
			},
			want: `table column "status": Kibana 7.17 colours by value only numeric metric columns`,
		},
		{
			name: "time lag column coloured by value is accepted",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, statusTableID, func(o map[string]any) {
					for _, c := range lensVis(o)["columns"].([]any) {
						if c := c.(map[string]any); c["columnId"] == "max_time_lag" {
							c["colorMode"] = "text"
							c["palette"] = map[string]any{"type": "palette", "name": "status"}
						}
					}
				})
			},
		},
		{
			name: "table column key unknown to 7.17",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, statusTableID, func(o map[string]any) {
					lensVis(o)["columns"].([]any)[2].(map[string]any)["colorMapping"] = map[string]any{}
				})
			},
			want: `table column "status" has key "colorMapping", which Kibana 7.17 does not map`,
		},
		{
			name: "accessor is not a column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, totalLagID, func(o map[string]any) {
					lensVis(o)["layers"].([]any)[0].(map[string]any)["accessors"] = []any{"lag", "ghost"}
				})
			},
			want: `accessor "ghost" is not a column of the layer`,
		},
		{
			name: "split accessor is not a column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, partitionLagID, func(o map[string]any) {
					lensVis(o)["layers"].([]any)[0].(map[string]any)["splitAccessor"] = "ghost"
				})
			},
			want: `splitAccessor "ghost" is not a column`,
		},
		{
			name: "xy layer id unknown",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, maxLagID, func(o map[string]any) {
					lensVis(o)["layers"].([]any)[0].(map[string]any)["layerId"] = "other"
				})
			},
			want: `layerId "other" is not a datasource layer`,
		},
		{
			name: "table column is not a column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, latestTableID, func(o map[string]any) {
					lensVis(o)["columns"] = append(lensVis(o)["columns"].([]any), map[string]any{"columnId": "ghost"})
				})
			},
			want: `table column "ghost" is not a column of the layer`,
		},
		{
			name: "column not shown",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, latestTableID, func(o map[string]any) {
					lensVis(o)["columns"] = lensVis(o)["columns"].([]any)[:4]
				})
			},
			want: `column "partition_count" is not shown`,
		},
		{
			name: "breakdown nested inside the time axis",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, partitionLagID, func(o map[string]any) {
					order := lensLayer(o)["columnOrder"].([]any)
					order[0], order[1] = order[1], order[0]
				})
			},
			want: `splitAccessor "series" comes after xAccessor "time" in columnOrder`,
		},
		{
			name: "8.x datasource key",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, totalLagID, func(o map[string]any) {
					ds := o["attributes"].(map[string]any)["state"].(map[string]any)["datasourceStates"].(map[string]any)
					ds["formBased"] = ds["indexpattern"]
					delete(ds, "indexpattern")
				})
			},
			want: `datasource "formBased"`,
		},
		{
			name: "terms ordered by a missing column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, totalLagID, func(o map[string]any) {
					lensColumns(o)["series"].(map[string]any)["params"].(map[string]any)["orderBy"] = map[string]any{"type": "column", "columnId": "ghost"}
				})
			},
			want: `orderBy column "ghost" is not in the layer`,
		},
		{
			name: "dashboard attribute unknown to 7.17",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["controlGroupInput"] = map[string]any{}
				})
			},
			want: `key "controlGroupInput", which Kibana 7.17 does not map`,
		},
		{
			name: "refresh interval without pause",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					delete(o["attributes"].(map[string]any)["refreshInterval"].(map[string]any), "pause")
				})
			},
			want: "refreshInterval needs a boolean pause and a numeric value",
		},
		{
			name: "panelsJSON is not JSON",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["panelsJSON"] = "[{"
				})
			},
			want: "panelsJSON does not parse as JSON",
		},
		{
			name: "optionsJSON is an object, not a string",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["optionsJSON"] = map[string]any{}
				})
			},
			want: "optionsJSON is not a string holding JSON",
		},
		{
			name: "searchSourceJSON broken",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"] = "{"
				})
			},
			want: "searchSourceJSON does not parse as JSON",
		},
		{
			name: "panel wider than the grid",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"panelsJSON"}, firstPanel(func(p map[string]any) {
						p["gridData"].(map[string]any)["x"] = 25
					}))
				})
			},
			want: "x+w = 49 is wider than the 48-column grid",
		},
		{
			name: "panels overlap",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"panelsJSON"}, firstPanel(func(p map[string]any) {
						p["gridData"].(map[string]any)["h"] = 16
					}))
				})
			},
			want: `overlaps panel "1"`,
		},
		{
			name: "gridData.i differs from panelIndex",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"panelsJSON"}, firstPanel(func(p map[string]any) {
						p["gridData"].(map[string]any)["i"] = "9"
					}))
				})
			},
			want: `gridData.i "9" differs from panelIndex`,
		},
		{
			name: "panel type differs from its reference",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"panelsJSON"}, firstPanel(func(p map[string]any) {
						p["type"] = "visualization"
					}))
				})
			},
			want: `type "visualization" differs from its reference's type "lens"`,
		},
		{
			name: "coreMigrationVersion differs",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, guideID, func(o map[string]any) { o["coreMigrationVersion"] = "7.16.0" })
			},
			want: "coreMigrationVersion differs between objects",
		},
		{
			name: "migrationVersion newer than 7.17",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, totalLagID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"lens": "8.2.0"}
				})
			},
			want: "lens migration version 8.2.0 is newer than 7.16.0",
		},
		{
			// 7.17 has no Lens migration after 7.16.0.
			name: "lens migrationVersion 7.17.0",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, totalLagID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"lens": "7.17.0"}
				})
			},
			want: "lens migration version 7.17.0 is newer than 7.16.0: Kibana 7.17 refuses the object",
		},
		{
			name: "index-pattern migrationVersion 7.17.0",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, IndexPatternID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"index-pattern": "7.17.0"}
				})
			},
			want: "index-pattern migration version 7.17.0 is newer than 7.11.0",
		},
		{
			// 7.17.0 to 7.17.2 know no dashboard migration after 7.14.0.
			name: "dashboard migrationVersion of 7.17.3",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"dashboard": "7.17.3"}
				})
			},
			want: "dashboard migration version 7.17.3 is newer than 7.14.0",
		},
		{
			name: "migrationVersion for another type",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, IndexPatternID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"lens": "7.11.0"}
				})
			},
			want: `migrationVersion must have exactly the key "index-pattern"`,
		},
		{
			name: "typeMigrationVersion mixed in",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) { o["typeMigrationVersion"] = "7.14.0" })
			},
			want: "typeMigrationVersion is the 8.x format",
		},
		{
			name: "required key missing",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, guideID, func(o map[string]any) { delete(o, "references") })
			},
			want: `no "references"`,
		},
		{
			name: "time field is not a date",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, IndexPatternID, func(o map[string]any) {
					o["attributes"].(map[string]any)["timeFieldName"] = "total_lag"
				})
			},
			want: `timeFieldName "total_lag" is a long field, not a date`,
		},
		{
			name: "index pattern does not match the index",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, IndexPatternID, func(o map[string]any) {
					o["attributes"].(map[string]any)["title"] = "lag-*"
				})
			},
			want: `"lag-*" does not match the consumer_lag index`,
		},
		{
			name: "max of a date field in 7.17",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, latestTableID, func(o map[string]any) {
					c := lensColumns(o)["max_lag"].(map[string]any)
					c["operationType"], c["sourceField"], c["dataType"] = "max", "@timestamp", "date"
				})
			},
			want: `max cannot use "@timestamp", a date field`,
		},
		{
			name:   "max of a date field in 8.x is accepted",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, latestTableID, func(o map[string]any) {
					c := lensColumns(o)["max_lag"].(map[string]any)
					c["operationType"], c["sourceField"], c["dataType"] = "max", "@timestamp", "date"
					delete(c, "params")
				})
			},
		},
		{
			name:   "last seen typed as a number",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, latestTableID, func(o map[string]any) {
					lensColumns(o)["last_seen"].(map[string]any)["dataType"] = "number"
				})
			},
			want: `dataType "number", but max of a date field is "date"`,
		},
		{
			name: "sync cursor in 7.17",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["optionsJSON"] = `{"useMargins":true,"syncCursor":true}`
				})
			},
			want: `optionsJSON has key "syncCursor", which Kibana 7.17 does not map`,
		},
		{
			name:   "typeMigrationVersion newer than 8.9 knows",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, totalLagID, func(o map[string]any) { o["typeMigrationVersion"] = "10.1.0" })
			},
			want: "lens migration version 10.1.0 is newer than 8.9.0",
		},
		{
			name:   "7.x envelope in the 8.x format",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, guideID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"visualization": "8.0.0"}
				})
			},
			want: "migrationVersion is the 7.x envelope",
		},
		{
			name:   "no typeMigrationVersion in the 8.x format",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, guideID, func(o map[string]any) { delete(o, "typeMigrationVersion") })
			},
			want: "no typeMigrationVersion string",
		},
		{
			name:   "8.x core version",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, IndexPatternID, func(o map[string]any) { o["coreMigrationVersion"] = "8.19.0" })
			},
			want: `coreMigrationVersion "8.19.0": the Kibana 8.9 to 8.19 format has "8.8.0"`,
		},
		{
			name:   "control reference dropped",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, DashboardID, func(o map[string]any) {
					dropReference(o, "controlGroup_"+topicControlID+":optionsListDataView")
				})
			},
			want: `control "lagship-control-topic": no reference "controlGroup_lagship-control-topic:optionsListDataView"`,
		},
		{
			name:   "control on a field the mapping lacks",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"controlGroupInput", "panelsJSON"}, func(doc any) any {
						doc.(map[string]any)[mirrorControlID].(map[string]any)["explicitInput"].(map[string]any)["fieldName"] = "mirrors"
						return doc
					})
				})
			},
			want: `field "mirrors" is not in mappings/mapping.json`,
		},
		{
			name:    "control on a text field",
			format:  Format8,
			bundle:  func(*testing.T) []byte { return Bundle(Format8) },
			mapping: textTopic,
			want:    `control "lagship-control-topic": "topic" is a text field`,
		},
		{
			name:   "control with its data view inline",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"controlGroupInput", "panelsJSON"}, func(doc any) any {
						doc.(map[string]any)[mirrorControlID].(map[string]any)["explicitInput"].(map[string]any)["dataViewId"] = IndexPatternID
						return doc
					})
				})
			},
			want: "explicitInput.dataViewId is extracted into a reference",
		},
		{
			name:   "control group key newer than 8.9",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["controlGroupInput"].(map[string]any)["showApplySelections"] = false
				})
			},
			want: `controlGroupInput has key "showApplySelections"`,
		},
		{
			name:   "control of an unknown type",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"controlGroupInput", "panelsJSON"}, func(doc any) any {
						doc.(map[string]any)[topicControlID].(map[string]any)["type"] = "dropdown"
						return doc
					})
				})
			},
			want: `control "lagship-control-topic": type "dropdown"`,
		},
		{
			name: "differences of a missing column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, trendID, func(o map[string]any) {
					lensColumns(o)["trend"].(map[string]any)["references"] = []any{"ghost"}
				})
			},
			want: `references column "ghost", which is not in the layer`,
		},
		{
			name: "differences without a date histogram",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, trendID, func(o map[string]any) {
					c := lensColumns(o)["time"].(map[string]any)
					c["operationType"], c["sourceField"], c["dataType"], c["isBucketed"] = "terms", "topic", "string", true
					c["params"] = map[string]any{"size": 5, "orderBy": map[string]any{"type": "alphabetical"}}
				})
			},
			want: "differences needs a date histogram in its layer",
		},
		{
			name: "runtime field reading an unknown field",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, IndexPatternID, func(o map[string]any) {
					o["attributes"].(map[string]any)["runtimeFieldMap"] = `{"mirror_topic":{"type":"keyword","script":{"source":"emit(doc['mirrors'].value)"}}}`
				})
			},
			want: `runtime field "mirror_topic" reads "mirrors", which is not in mappings/mapping.json`,
		},
		{
			name: "runtime field that never emits",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, IndexPatternID, func(o map[string]any) {
					o["attributes"].(map[string]any)["runtimeFieldMap"] = `{"mirror_topic":{"type":"keyword","script":{"source":"doc['mirror'].value"}}}`
				})
			},
			want: `runtime field "mirror_topic": its script never emits`,
		},
		{
			name: "runtime field dropped",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, IndexPatternID, func(o map[string]any) {
					delete(o["attributes"].(map[string]any), "runtimeFieldMap")
				})
			},
			want: `field "mirror_topic" is not in mappings/mapping.json`,
		},
		{
			name:    "runtime field over a text field",
			bundle:  func(*testing.T) []byte { return Bundle(Format717) },
			mapping: textTopic,
			want:    `runtime field "mirror_topic" reads "topic", a text field without doc values`,
		},
		{
			name: "last seen aggregation over a keyword",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, lastSeenID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"visState"}, func(doc any) any {
						doc.(map[string]any)["aggs"].([]any)[0].(map[string]any)["params"].(map[string]any)["field"] = "mirror"
						return doc
					})
				})
			},
			want: `visState.aggs[0] (max) cannot use "mirror", a keyword field`,
		},
		{
			name: "last seen rows ordered by a missing aggregation",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, lastSeenID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"visState"}, func(doc any) any {
						doc.(map[string]any)["aggs"].([]any)[1].(map[string]any)["params"].(map[string]any)["orderBy"] = "9"
						return doc
					})
				})
			},
			want: `orderBy "9" is neither _key nor a metric aggregation`,
		},
		{
			name: "last seen table without its data view",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, lastSeenID, func(o map[string]any) {
					dropReference(o, "kibanaSavedObjectMeta.searchSourceJSON.index")
				})
			},
			want: "aggregations without an index-pattern reference",
		},
		{
			name:   "panel written by a newer release",
			format: Format8,
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format8, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"panelsJSON"}, firstPanel(func(p map[string]any) { p["version"] = "8.19.0" }))
				})
			},
			want: `version "8.19.0" is not a version up to 8.9.0`,
		},
		{
			name: "panel key unknown",
			bundle: func(t *testing.T) []byte {
				return mutate(t, Format717, DashboardID, func(o map[string]any) {
					mutateJSONAttr(o, []string{"panelsJSON"}, firstPanel(func(p map[string]any) { p["embeddableId"] = "x" }))
				})
			},
			want: `has key "embeddableId"`,
		},
		{
			name:   "line is not JSON",
			bundle: func(*testing.T) []byte { return append(Bundle(Format717), "{\"id\":\n"...) },
			want:   "not a JSON object",
		},
		{
			name: "duplicate object",
			bundle: func(*testing.T) []byte {
				return append(Bundle(Format717), bytes.SplitAfter(Bundle(Format717), []byte("\n"))[0]...)
			},
			want: "duplicate object",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mapping
			if m == nil {
				m = mappings.Default()
			}
			f := tc.format
			if f == "" {
				f = Format717
			}
			problems := validateBundle(tc.bundle(t), schemas[f], m)
			if tc.want == "" {
				for _, p := range problems {
					t.Errorf("unexpected problem: %s", p)
				}
				return
			}
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %d:\n%s", tc.want, len(problems), strings.Join(problems, "\n"))
		})
	}
}

func FuzzParseObjects(f *testing.F) {
	f.Add(Bundle(Format717))
	f.Add(Bundle(Format8))
	f.Add([]byte(`{"id":"a","type":"lens","attributes":{}}`))
	f.Add([]byte("{}\n\n{\"id\":1}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := parseObjects(b)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.ID == "" || o.Type == "" || len(o.Attributes) == 0 {
				t.Fatalf("parseObjects accepted %+v", o)
			}
		}
	})
}

// The status table and the time lag chart open the dashboard: they sit side
// by side in the first row and every other panel comes below them.
func TestDashboardStatusPanelsFirst(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) { statusPanelsFirst(t, f) })
	}
}

func statusPanelsFirst(t *testing.T, f Format) {
	objs, err := Objects(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.ID != DashboardID {
			continue
		}
		var attrs struct {
			PanelsJSON string `json:"panelsJSON"`
		}
		if err := json.Unmarshal(o.Attributes, &attrs); err != nil {
			t.Fatal(err)
		}
		var panels []struct {
			PanelRefName string `json:"panelRefName"`
			GridData     struct{ X, Y, W, H int }
		}
		if err := json.Unmarshal([]byte(attrs.PanelsJSON), &panels); err != nil {
			t.Fatal(err)
		}
		target := map[string]string{}
		for _, r := range o.References {
			target[r.Name] = r.ID
		}
		top := map[string]bool{statusTableID: true, timeLagID: true}
		bottom := 0
		for _, p := range panels {
			if id := target[p.PanelRefName]; top[id] {
				if p.GridData.Y != 0 {
					t.Errorf("%s is at y=%d, want 0", id, p.GridData.Y)
				}
				bottom = max(bottom, p.GridData.Y+p.GridData.H)
				delete(top, id)
			}
		}
		if len(top) != 0 {
			t.Fatalf("dashboard lacks %v", sortedKeys(top))
		}
		for _, p := range panels {
			if id := target[p.PanelRefName]; id != statusTableID && id != timeLagID && p.GridData.Y < bottom {
				t.Errorf("%s is at y=%d, above the bottom of the status row (%d)", id, p.GridData.Y, bottom)
			}
		}
		return
	}
	t.Fatalf("no dashboard %q", DashboardID)
}

// A topic whose group has no committed offset yet has a document with
// mirror, topic and partition_count but no totals and no pN. The latest
// table must still give it a row (buckets on mirror and topic only, no
// filter that needs a lag) with its partition count, and its last-seen time
// must come from @timestamp alone.
func TestTablesShowTopicsWithoutOffsets(t *testing.T) {
	for _, f := range Formats {
		objs, err := Objects(f)
		if err != nil {
			t.Fatal(err)
		}
		lastSeen := false
		for _, o := range objs {
			text := string(o.Attributes)
			switch o.ID {
			case latestTableID:
				var a struct {
					State struct {
						Query   struct{ Query string }
						Filters []any
					}
				}
				if err := json.Unmarshal(o.Attributes, &a); err != nil {
					t.Fatal(err)
				}
				if a.State.Query.Query != "" || len(a.State.Filters) != 0 || strings.Contains(text, `"filter":`) {
					t.Errorf("%s: the latest table filters its documents", f)
				}
				for _, want := range []string{`"sourceField":"mirror"`, `"sourceField":"topic"`, `"sourceField":"partition_count"`} {
					if !strings.Contains(text, want) {
						t.Errorf("%s: the latest table lacks %s", f, want)
					}
				}
				if strings.Contains(text, `"operationType":"max","scale":"ratio","sourceField":"@timestamp"`) {
					lastSeen = true
				}
			case lastSeenID:
				if strings.Contains(text, `\"type\":\"max\"`) && strings.Contains(text, `\"field\":\"@timestamp\"`) {
					lastSeen = true
				}
			}
		}
		if !lastSeen {
			t.Errorf("%s: no last-seen column or table (Maximum of @timestamp per mirror and topic)", f)
		}
	}
}
