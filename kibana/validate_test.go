package kibana

// No Kibana runs in these tests, so this file checks a bundle the way the
// Kibana releases its format covers would reject it on import or fail to
// render it: the NDJSON envelope, versions, references, the dashboard's
// attribute set, controls and grid, and every field a Lens column or an
// aggregation reads against mappings/mapping.json and the data view's
// runtime fields.
//
// The allowed key sets come from the saved object types: for 7.17 their
// mappings (src/plugins/dashboard/server/saved_objects/dashboard.ts,
// src/plugins/visualizations/server/saved_objects/visualization.ts and
// x-pack/plugins/lens/server/saved_objects.ts), which the .kibana index
// maps strictly, so an unknown attribute fails the import; for 8.x the
// dashboard's attribute schema (unknown keys forbidden) and mappings.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lagship/lagship/mappings"
)

// gridColumns is the width of Kibana's dashboard grid.
const gridColumns = 48

var (
	dashboardKeys717 = set("description", "hits", "kibanaSavedObjectMeta", "optionsJSON", "panelsJSON",
		"refreshInterval", "timeFrom", "timeRestore", "timeTo", "title", "version")
	// 8.9 to 8.19: the same plus the control group (dashboard model
	// version 1; showApplySelections came with model version 2).
	dashboardKeys8      = union(dashboardKeys717, set("controlGroupInput"))
	controlGroupKeys    = set("panelsJSON", "controlStyle", "chainingSystem", "ignoreParentSettingsJSON")
	controlTypes        = set("optionsListControl", "rangeSliderControl", "timeSlider")
	controlKeys         = set("order", "width", "grow", "type", "explicitInput")
	optionsKeys717      = set("useMargins", "syncColors", "hidePanelTitles")
	optionsKeys8        = union(optionsKeys717, set("syncCursor", "syncTooltips"))
	panelKeys           = set("version", "type", "panelIndex", "gridData", "embeddableConfig", "panelRefName", "title")
	refreshIntervalKeys = set("display", "pause", "section", "value")
	savedObjectMetaKeys = set("searchSourceJSON")
	visualizationKeys   = set("description", "kibanaSavedObjectMeta", "savedSearchRefName", "title",
		"uiStateJSON", "version", "visState")
	lensKeys         = set("title", "description", "visualizationType", "state", "expression")
	lensVisTypes     = set("lnsXY", "lnsDatatable", "lnsHeatmap", "lnsMetric", "lnsPie")
	envelopeRequired = []string{"id", "type", "attributes", "references", "coreMigrationVersion"}
	knownTypes       = set("index-pattern", "lens", "visualization", "dashboard")

	// Field types Elasticsearch can aggregate on (doc_values by default).
	aggregatable = set("keyword", "constant_keyword", "long", "integer", "short", "byte", "double",
		"float", "half_float", "scaled_float", "unsigned_long", "date", "date_nanos", "boolean", "ip")
	numeric = set("long", "integer", "short", "byte", "double", "float", "half_float",
		"scaled_float", "unsigned_long")
	dateTypes = set("date", "date_nanos")
	// Field types each Lens 7.17 operation accepts (nil: any aggregatable
	// type).
	lensOperations717 = map[string]map[string]bool{
		"date_histogram":     dateTypes,
		"terms":              union(set("keyword", "constant_keyword", "ip", "boolean"), numeric),
		"max":                numeric,
		"min":                numeric,
		"average":            numeric,
		"sum":                numeric,
		"median":             numeric,
		"percentile":         numeric,
		"standard_deviation": numeric,
		"range":              numeric,
		"unique_count":       nil,
		// Kibana 7.17 offers Last value on string, boolean, number and ip
		// fields; dates (and ranges) came with 8.2.
		"last_value": union(set("keyword", "constant_keyword", "ip", "boolean"), numeric),
		"count":      nil,
	}
	// Lens 8.x also takes dates in Minimum, Maximum and Last value.
	lensOperations8 = func() map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for k, v := range lensOperations717 {
			m[k] = v
		}
		for _, op := range []string{"min", "max", "last_value"} {
			m[op] = union(m[op], dateTypes)
		}
		return m
	}()
	// Reference-based Lens operations (7.13 and later): they read other
	// columns of the layer, not a field, and need a date histogram.
	referenceOperations = set("differences", "moving_average", "cumulative_sum", "counter_rate")

	// Aggregation-based visualizations: the field types of each
	// aggregation (nil: any aggregatable type).
	visTypes      = set("markdown", "table")
	aggFieldTypes = map[string]map[string]bool{
		"max": union(numeric, dateTypes), "min": union(numeric, dateTypes),
		"avg": numeric, "sum": numeric,
		"terms":       union(set("keyword", "constant_keyword", "ip", "boolean"), numeric),
		"cardinality": nil,
		"count":       nil,
	}

	// Keys of a Lens 7.17 datatable column (ColumnState in
	// x-pack/plugins/lens/common/expressions/datatable/datatable_column.ts).
	datatableColumnKeys717 = set("columnId", "width", "hidden", "isTransposed", "transposable",
		"originalColumnId", "originalName", "bucketValues", "alignment", "palette", "colorMode",
		"summaryRow", "summaryLabel")
	datatableColumnKeys8 = union(datatableColumnKeys717, set("isMetric", "colorMapping", "collapseFn", "oneClickFilter"))
)

// schema is what a format's Kibana releases accept.
type schema struct {
	name string // for messages: "Kibana 7.17"
	// typeMigrationVersion: the 8.x envelope; otherwise a migrationVersion
	// map.
	typeMigrationVersion bool
	// core is the coreMigrationVersion every object must carry.
	core string
	// oldest is the oldest release the format covers: dashboard panels
	// written by a newer release are not for it.
	oldest string
	// accepts is, per type, the newest migration version that the oldest
	// Kibana of the format knows (its releaseTypeVersions entry): a newer
	// one is refused there.
	accepts          map[string]string
	dashboardKeys    map[string]bool
	optionsKeys      map[string]bool
	datasource       string
	datatableColumns map[string]bool
	operations       map[string]map[string]bool
	// currentIndexPatternRef: Lens objects name the editor's data view
	// (7.x).
	currentIndexPatternRef bool
	// colourText: tables colour cells of text columns by value (8.x).
	colourText bool
	// columnParams are, per Lens operation, boolean params its columns
	// must carry (requireParams) or must not carry (7.17: params its Lens
	// does not know).
	columnParams  map[string][]string
	requireParams bool
}

// lensParams8 are the params Lens' 8.2.0 migration sets on older objects
// (x-pack/plugins/lens/server/migrations/common_migrations.ts:
// commonSetIncludeEmptyRowsDateHistogram, commonSetLastValueShowArrayValues)
// and dropPartials, which Lens 8.x writes on every date histogram it
// creates. Objects typed 8.9.0 skip that migration, so they carry them; 7.17
// knows none of them.
var lensParams8 = map[string][]string{
	"date_histogram": {"includeEmptyRows", "dropPartials"},
	"last_value":     {"showArrayValues"},
}

var (
	kibana717 = schema{
		name:                   "Kibana 7.17",
		core:                   "7.17.0",
		oldest:                 "7.17.0",
		accepts:                mustTypeVersions("7.17.0"),
		dashboardKeys:          dashboardKeys717,
		optionsKeys:            optionsKeys717,
		datasource:             "indexpattern",
		datatableColumns:       datatableColumnKeys717,
		operations:             lensOperations717,
		currentIndexPatternRef: true,
		columnParams:           lensParams8,
	}
	// kibana8 is the 8.x format as 8.19 stores it, limited to what 8.9,
	// the oldest release the format covers, knows: typeMigrationVersion
	// came with 8.8, Lens' 8.9.0 migration with 8.9.
	kibana8 = schema{
		name:                 "Kibana 8.9 to 8.19",
		typeMigrationVersion: true,
		core:                 "8.8.0",
		oldest:               "8.9.0",
		accepts:              mustTypeVersions("8.9.0"),
		dashboardKeys:        dashboardKeys8,
		optionsKeys:          optionsKeys8,
		datasource:           "formBased",
		datatableColumns:     datatableColumnKeys8,
		operations:           lensOperations8,
		colourText:           true,
		columnParams:         lensParams8,
		requireParams:        true,
	}
	schemas = map[Format]schema{Format717: kibana717, Format8: kibana8}
)

// lensDataType is the Lens data type of a field of Elasticsearch type t.
func lensDataType(t string) string {
	switch {
	case numeric[t]:
		return "number"
	case dateTypes[t]:
		return "date"
	case t == "keyword" || t == "constant_keyword":
		return "string"
	}
	return t // boolean, ip
}

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func union(a, b map[string]bool) map[string]bool {
	m := make(map[string]bool, len(a)+len(b))
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// validator collects every problem of one bundle.
type validator struct {
	schema   schema
	mapping  *mappings.Mapping
	runtime  map[string]string // runtime field -> type, from the data views
	problems []string
	where    string // object being checked, for messages
}

func (v *validator) errorf(format string, args ...any) {
	v.problems = append(v.problems, v.where+": "+fmt.Sprintf(format, args...))
}

// validateBundle returns every problem found in an NDJSON bundle, checked
// against schema s and mapping m.
func validateBundle(b []byte, s schema, m *mappings.Mapping) []string {
	v := &validator{schema: s, mapping: m, runtime: map[string]string{}}
	type key struct{ typ, id string }
	objects := map[key]map[string]any{}
	var order []key
	coreVersions := map[string]bool{}

	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	line := 0
	for sc.Scan() {
		line++
		v.where = fmt.Sprintf("line %d", line)
		text := sc.Bytes()
		if len(bytes.TrimSpace(text)) == 0 {
			v.errorf("empty line")
			continue
		}
		o, err := decodeObject(text)
		if err != nil {
			v.errorf("not a JSON object: %v", err)
			continue
		}
		for _, k := range envelopeRequired {
			if _, ok := o[k]; !ok {
				v.errorf("no %q", k)
			}
		}
		id, _ := o["id"].(string)
		typ, _ := o["type"].(string)
		if id == "" || typ == "" {
			v.errorf("id and type must be non-empty strings")
			continue
		}
		v.where = fmt.Sprintf("line %d (%s %s)", line, typ, id)
		k := key{typ, id}
		if _, dup := objects[k]; dup {
			v.errorf("duplicate object")
			continue
		}
		objects[k] = o
		order = append(order, k)
		if !knownTypes[typ] {
			v.errorf("unexpected type %q", typ)
		}
		if _, ok := o["attributes"].(map[string]any); !ok {
			v.errorf("attributes is not an object")
		}
		if c, ok := o["coreMigrationVersion"].(string); ok {
			coreVersions[c] = true
			if c != s.core {
				v.errorf("coreMigrationVersion %q: the %s format has %q", c, s.name, s.core)
			}
		} else if o["coreMigrationVersion"] != nil {
			v.errorf("coreMigrationVersion is not a string")
		}
		v.migrationVersions(o, typ)
	}
	v.where = "bundle"
	if err := sc.Err(); err != nil {
		v.errorf("reading: %v", err)
	}
	if len(objects) == 0 {
		v.errorf("no objects")
	}
	if len(coreVersions) > 1 {
		v.errorf("coreMigrationVersion differs between objects: %v", sortedKeys(coreVersions))
	}

	// Runtime fields of the data views first: charts read them.
	for _, k := range order {
		if attrs, _ := objects[k]["attributes"].(map[string]any); k.typ == "index-pattern" && attrs != nil {
			v.where = fmt.Sprintf("%s %s", k.typ, k.id)
			v.runtimeFields(attrs)
		}
	}
	for _, k := range order {
		o := objects[k]
		v.where = fmt.Sprintf("%s %s", k.typ, k.id)
		refs := v.references(o)
		for _, r := range refs {
			if _, ok := objects[key{r.Type, r.ID}]; !ok {
				v.errorf("reference %q points at %s %q, which is not in the bundle", r.Name, r.Type, r.ID)
			}
		}
		attrs, _ := o["attributes"].(map[string]any)
		if attrs == nil {
			continue
		}
		switch k.typ {
		case "index-pattern":
			v.indexPattern(attrs)
		case "lens":
			v.lens(attrs, refs)
		case "visualization":
			v.visualization(attrs, refs)
		case "dashboard":
			v.dashboard(attrs, refs, func(r Reference) map[string]any { return objects[key{r.Type, r.ID}] })
		}
	}
	return v.problems
}

func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var o map[string]any
	if err := dec.Decode(&o); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	if o == nil {
		return nil, fmt.Errorf("null")
	}
	return o, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)

func parseVersion(s string) ([3]int, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return [3]int{}, false
	}
	var out [3]int
	for i := range out {
		out[i], _ = strconv.Atoi(m[i+1])
	}
	return out, true
}

// migrationVersions checks the envelope's type version: a migrationVersion
// map with the object's type alone (7.x), or a typeMigrationVersion (8.x),
// never both, and no newer than the format's oldest Kibana knows.
func (v *validator) migrationVersions(o map[string]any, typ string) {
	_, hasMap := o["migrationVersion"]
	_, hasType := o["typeMigrationVersion"]
	var version string
	switch {
	case v.schema.typeMigrationVersion && hasMap:
		v.errorf("migrationVersion is the 7.x envelope; the %s format has typeMigrationVersion", v.schema.name)
		return
	case v.schema.typeMigrationVersion:
		s, ok := o["typeMigrationVersion"].(string)
		if !ok {
			v.errorf("no typeMigrationVersion string (the %s format)", v.schema.name)
			return
		}
		version = s
	case hasType:
		v.errorf("typeMigrationVersion is the 8.x format; with a migrationVersion map Kibana 7.17 rejects it")
		return
	default:
		mv, ok := o["migrationVersion"].(map[string]any)
		if !ok {
			v.errorf("no migrationVersion map (the %s format)", v.schema.name)
			return
		}
		if len(mv) != 1 || mv[typ] == nil {
			v.errorf("migrationVersion must have exactly the key %q, has %v", typ, sortedKeys(mv))
		}
		version, _ = mv[typ].(string)
	}
	got, ok := parseVersion(version)
	if !ok {
		v.errorf("migration version %q is not a version", version)
		return
	}
	limit, ok := parseVersion(v.schema.accepts[typ])
	if !ok {
		v.errorf("type %q has no migration version in the %s format", typ, v.schema.name)
		return
	}
	if slices.Compare(got[:], limit[:]) > 0 {
		v.errorf("%s migration version %s is newer than %s: %s refuses the object", typ, version, v.schema.accepts[typ], v.schema.name)
	}
}

func (v *validator) references(o map[string]any) []Reference {
	raw, ok := o["references"].([]any)
	if !ok {
		if o["references"] != nil {
			v.errorf("references is not an array")
		}
		return nil
	}
	var refs []Reference
	names := map[string]bool{}
	for i, r := range raw {
		m, _ := r.(map[string]any)
		ref := Reference{}
		ref.ID, _ = m["id"].(string)
		ref.Name, _ = m["name"].(string)
		ref.Type, _ = m["type"].(string)
		if ref.ID == "" || ref.Name == "" || ref.Type == "" {
			v.errorf("references[%d] needs id, name and type", i)
			continue
		}
		if names[ref.Name] {
			v.errorf("reference name %q used twice", ref.Name)
		}
		names[ref.Name] = true
		refs = append(refs, ref)
	}
	return refs
}

// fieldType returns the mapping type of an index field, reporting a field
// the mapping does not know.
func (v *validator) fieldType(context, field string) string {
	if t, ok := v.runtime[field]; ok {
		return t
	}
	t := v.mapping.TypeOf(field)
	if t == "" {
		v.errorf("%s: field %q is not in mappings/mapping.json (nor matched by a dynamic template)", context, field)
	}
	return t
}

func (v *validator) indexPattern(attrs map[string]any) {
	title, _ := attrs["title"].(string)
	if title == "" {
		v.errorf("index pattern has no title")
	} else if ok, _ := path.Match(title, "consumer_lag"); !ok {
		v.errorf("index pattern %q does not match the consumer_lag index", title)
	}
	tf, _ := attrs["timeFieldName"].(string)
	if tf == "" {
		v.errorf("index pattern has no timeFieldName")
	} else if t := v.fieldType("timeFieldName", tf); t != "" && !dateTypes[t] {
		v.errorf("timeFieldName %q is a %s field, not a date", tf, t)
	}
	if f, ok := attrs["fields"].(string); ok {
		var fields []any
		if err := json.Unmarshal([]byte(f), &fields); err != nil {
			v.errorf("fields is not a JSON array: %v", err)
		}
	}
}

// jsonAttr parses a string attribute holding JSON into dst.
var docFieldRE = regexp.MustCompile(`doc\['([^']+)'\]`)

// runtimeFields checks the data view's runtime fields: keyword fields whose
// script emits and reads only aggregatable fields of the mapping.
func (v *validator) runtimeFields(attrs map[string]any) {
	raw, ok := attrs["runtimeFieldMap"]
	if !ok {
		return
	}
	var fields map[string]struct {
		Type   string `json:"type"`
		Script struct {
			Source string `json:"source"`
		} `json:"script"`
	}
	if !v.jsonAttr("runtimeFieldMap", raw, &fields) {
		return
	}
	for _, name := range sortedKeys(fields) {
		f := fields[name]
		if v.mapping.TypeOf(name) != "" {
			v.errorf("runtime field %q shadows a mapped field", name)
		}
		if !set("keyword", "long", "double", "date", "boolean", "ip")[f.Type] {
			v.errorf("runtime field %q has type %q, not a runtime field type", name, f.Type)
		}
		if !strings.Contains(f.Script.Source, "emit(") {
			v.errorf("runtime field %q: its script never emits", name)
		}
		reads := docFieldRE.FindAllStringSubmatch(f.Script.Source, -1)
		if len(reads) == 0 {
			v.errorf("runtime field %q reads no field", name)
		}
		for _, r := range reads {
			t := v.mapping.TypeOf(r[1])
			switch {
			case t == "":
				v.errorf("runtime field %q reads %q, which is not in mappings/mapping.json", name, r[1])
			case !aggregatable[t]:
				v.errorf("runtime field %q reads %q, a %s field without doc values", name, r[1], t)
			}
		}
		v.runtime[name] = f.Type
	}
}

func (v *validator) jsonAttr(name string, s any, dst any) bool {
	str, ok := s.(string)
	if !ok {
		v.errorf("%s is not a string holding JSON", name)
		return false
	}
	if err := json.Unmarshal([]byte(str), dst); err != nil {
		v.errorf("%s does not parse as JSON: %v", name, err)
		return false
	}
	return true
}

func (v *validator) allowedKeys(what string, m map[string]any, allowed map[string]bool) {
	for _, k := range sortedKeys(m) {
		if !allowed[k] {
			v.errorf("%s has key %q, which %s does not map", what, k, v.schema.name)
		}
	}
}

func (v *validator) searchSource(attrs map[string]any, ss *map[string]any) {
	meta, ok := attrs["kibanaSavedObjectMeta"].(map[string]any)
	if !ok {
		v.errorf("no kibanaSavedObjectMeta")
		return
	}
	v.allowedKeys("kibanaSavedObjectMeta", meta, savedObjectMetaKeys)
	v.jsonAttr("kibanaSavedObjectMeta.searchSourceJSON", meta["searchSourceJSON"], ss)
}

func (v *validator) visualization(attrs map[string]any, refs []Reference) {
	v.allowedKeys("visualization attributes", attrs, visualizationKeys)
	if t, _ := attrs["title"].(string); t == "" {
		v.errorf("visualization has no title")
	}
	var vis struct {
		Type   string         `json:"type"`
		Params map[string]any `json:"params"`
		Aggs   []struct {
			ID     string         `json:"id"`
			Type   string         `json:"type"`
			Schema string         `json:"schema"`
			Params map[string]any `json:"params"`
		} `json:"aggs"`
	}
	var ss map[string]any
	v.searchSource(attrs, &ss)
	if !v.jsonAttr("visState", attrs["visState"], &vis) {
		return
	}
	if !visTypes[vis.Type] {
		v.errorf("visState type %q is not one of %v", vis.Type, sortedKeys(visTypes))
	}
	if vis.Type == "markdown" {
		if md, _ := vis.Params["markdown"].(string); md == "" {
			v.errorf("markdown visualization has no params.markdown")
		}
	}
	if len(vis.Aggs) > 0 {
		// The aggregations run on the data view the search source names.
		name, _ := ss["indexRefName"].(string)
		found := false
		for _, r := range refs {
			found = found || (r.Name == name && r.Type == "index-pattern")
		}
		if name == "" || !found {
			v.errorf("aggregations without an index-pattern reference in searchSourceJSON.indexRefName")
		}
	}
	metrics := map[string]bool{}
	for _, a := range vis.Aggs {
		if a.Schema == "metric" {
			metrics[a.ID] = true
		}
	}
	ids := map[string]bool{}
	for i, a := range vis.Aggs {
		where := fmt.Sprintf("visState.aggs[%d] (%s)", i, a.Type)
		if a.ID == "" || ids[a.ID] {
			v.errorf("%s: id %q empty or used twice", where, a.ID)
		}
		ids[a.ID] = true
		accepts, known := aggFieldTypes[a.Type]
		if !known {
			v.errorf("%s: unknown aggregation", where)
			continue
		}
		if !set("metric", "bucket", "split")[a.Schema] {
			v.errorf("%s: schema %q is not metric, bucket or split", where, a.Schema)
		}
		f, _ := a.Params["field"].(string)
		if f == "" {
			if a.Type != "count" {
				v.errorf("%s: no params.field", where)
			}
			continue
		}
		t := v.fieldType(where, f)
		switch {
		case t == "":
		case !aggregatable[t]:
			v.errorf("%s aggregates %q, a %s field", where, f, t)
		case accepts != nil && !accepts[t]:
			v.errorf("%s cannot use %q, a %s field", where, f, t)
		}
		if a.Type == "terms" {
			if ob, _ := a.Params["orderBy"].(string); ob != "_key" && !metrics[ob] {
				v.errorf("%s: orderBy %q is neither _key nor a metric aggregation", where, ob)
			}
			if size, _ := a.Params["size"].(float64); size < 1 {
				v.errorf("%s: terms needs params.size >= 1", where)
			}
		}
	}
	var ui map[string]any
	v.jsonAttr("uiStateJSON", attrs["uiStateJSON"], &ui)
}

func (v *validator) lens(attrs map[string]any, refs []Reference) {
	v.allowedKeys("lens attributes", attrs, lensKeys)
	if t, _ := attrs["title"].(string); t == "" {
		v.errorf("lens has no title")
	}
	visType, _ := attrs["visualizationType"].(string)
	if !lensVisTypes[visType] {
		v.errorf("unknown visualizationType %q", visType)
	}
	state, _ := attrs["state"].(map[string]any)
	if state == nil {
		v.errorf("lens has no state")
		return
	}
	if q, ok := state["query"].(map[string]any); !ok || (q["language"] != "kuery" && q["language"] != "lucene") {
		v.errorf("state.query needs a query and a language (kuery or lucene)")
	}
	if _, ok := state["filters"].([]any); !ok {
		v.errorf("state.filters is not an array")
	}
	dss, _ := state["datasourceStates"].(map[string]any)
	for k := range dss {
		if k != v.schema.datasource {
			v.errorf("datasource %q: the %s format stores Lens layers under %q", k, v.schema.name, v.schema.datasource)
		}
	}
	ds, _ := dss[v.schema.datasource].(map[string]any)
	layersRaw, _ := ds["layers"].(map[string]any)
	if len(layersRaw) == 0 {
		v.errorf("no %s datasource layers", v.schema.datasource)
		return
	}
	refByName := map[string]Reference{}
	for _, r := range refs {
		refByName[r.Name] = r
	}
	if r, ok := refByName["indexpattern-datasource-current-indexpattern"]; v.schema.currentIndexPatternRef && (!ok || r.Type != "index-pattern") {
		v.errorf("no index-pattern reference indexpattern-datasource-current-indexpattern")
	}

	layers := map[string]map[string]map[string]any{} // layer -> column -> definition
	orders := map[string][]string{}                  // layer -> columnOrder
	for layerID, l := range layersRaw {
		if r, ok := refByName["indexpattern-datasource-layer-"+layerID]; !ok || r.Type != "index-pattern" {
			v.errorf("layer %q has no index-pattern reference indexpattern-datasource-layer-%s", layerID, layerID)
		}
		layer, _ := l.(map[string]any)
		colsRaw, _ := layer["columns"].(map[string]any)
		cols := map[string]map[string]any{}
		for id, c := range colsRaw {
			col, _ := c.(map[string]any)
			cols[id] = col
		}
		layers[layerID] = cols
		var order []string
		for _, id := range asSlice(layer["columnOrder"]) {
			s, _ := id.(string)
			order = append(order, s)
		}
		orders[layerID] = slices.Clone(order)
		sort.Strings(order)
		if !slices.Equal(order, sortedKeys(cols)) {
			v.errorf("layer %q: columnOrder %v does not list exactly its columns %v", layerID, order, sortedKeys(cols))
		}
		for _, id := range sortedKeys(cols) {
			v.lensColumn(layerID, id, cols[id], cols)
		}
	}

	used := map[string]map[string]bool{}
	// A column a reference-based operation reads is shown through it.
	for layerID, cols := range layers {
		for _, c := range cols {
			for _, r := range asSlice(c["references"]) {
				if s, ok := r.(string); ok {
					if used[layerID] == nil {
						used[layerID] = map[string]bool{}
					}
					used[layerID][s] = true
				}
			}
		}
	}
	useColumn := func(layerID, role string, id any) {
		s, ok := id.(string)
		if !ok || s == "" {
			v.errorf("layer %q: %s is not a column id", layerID, role)
			return
		}
		cols, ok := layers[layerID]
		if !ok {
			v.errorf("%s refers to layer %q, which the datasource does not have", role, layerID)
			return
		}
		if _, ok := cols[s]; !ok {
			v.errorf("layer %q: %s %q is not a column of the layer", layerID, role, s)
			return
		}
		if used[layerID] == nil {
			used[layerID] = map[string]bool{}
		}
		used[layerID][s] = true
	}
	vis, _ := state["visualization"].(map[string]any)
	if vis == nil {
		v.errorf("lens has no state.visualization")
		return
	}
	switch visType {
	case "lnsXY":
		for i, l := range asSlice(vis["layers"]) {
			layer, _ := l.(map[string]any)
			id, _ := layer["layerId"].(string)
			if _, ok := layers[id]; !ok {
				v.errorf("visualization.layers[%d].layerId %q is not a datasource layer", i, id)
				continue
			}
			if x, ok := layer["xAccessor"]; ok {
				useColumn(id, "xAccessor", x)
			}
			if s, ok := layer["splitAccessor"]; ok {
				useColumn(id, "splitAccessor", s)
			}
			// Lens nests bucket aggregations in columnOrder: a breakdown
			// listed after the time axis ranks its terms per time bucket,
			// so the series would change from one bucket to the next.
			x, _ := layer["xAccessor"].(string)
			split, _ := layer["splitAccessor"].(string)
			if x != "" && split != "" {
				order := orders[id]
				if xi, si := slices.Index(order, x), slices.Index(order, split); xi >= 0 && si > xi {
					v.errorf("layer %q: splitAccessor %q comes after xAccessor %q in columnOrder", id, split, x)
				}
			}
			acc := asSlice(layer["accessors"])
			if len(acc) == 0 {
				v.errorf("visualization.layers[%d] has no accessors", i)
			}
			for _, a := range acc {
				useColumn(id, "accessor", a)
			}
		}
	case "lnsDatatable":
		id, _ := vis["layerId"].(string)
		if _, ok := layers[id]; !ok {
			v.errorf("visualization.layerId %q is not a datasource layer", id)
			break
		}
		for _, c := range asSlice(vis["columns"]) {
			col, _ := c.(map[string]any)
			useColumn(id, "table column", col["columnId"])
			cid, _ := col["columnId"].(string)
			v.allowedKeys(fmt.Sprintf("table column %q", cid), col, v.schema.datatableColumns)
			// 7.17 colours cells by value (a palette of numeric stops) only
			// in numeric metric columns; text cannot be coloured by value.
			if mode, _ := col["colorMode"].(string); !v.schema.colourText && ((mode != "" && mode != "none") || col["palette"] != nil) {
				if def := layers[id][cid]; def != nil && (def["dataType"] != "number" || def["isBucketed"] == true) {
					v.errorf("table column %q: Kibana 7.17 colours by value only numeric metric columns, not a %v column", cid, def["dataType"])
				}
			}
		}
		if s, ok := vis["sorting"].(map[string]any); ok {
			if c, ok := s["columnId"]; ok {
				useColumn(id, "sorting.columnId", c)
			}
		}
	case "lnsHeatmap":
		id, _ := vis["layerId"].(string)
		for _, role := range []string{"xAccessor", "yAccessor", "valueAccessor"} {
			if a, ok := vis[role]; ok {
				useColumn(id, role, a)
			}
		}
	}
	for layerID, cols := range layers {
		for _, id := range sortedKeys(cols) {
			if !used[layerID][id] {
				v.errorf("layer %q: column %q is not shown by the visualization", layerID, id)
			}
		}
	}
}

func asSlice(x any) []any {
	s, _ := x.([]any)
	return s
}

func (v *validator) lensColumn(layerID, id string, col map[string]any, cols map[string]map[string]any) {
	where := fmt.Sprintf("layer %q column %q", layerID, id)
	if col == nil {
		v.errorf("%s is not an object", where)
		return
	}
	op, _ := col["operationType"].(string)
	if l, _ := col["label"].(string); l == "" {
		v.errorf("%s has no label", where)
	}
	if referenceOperations[op] {
		v.referenceColumn(where, op, col, cols)
		return
	}
	accepts, known := v.schema.operations[op]
	if !known {
		v.errorf("%s: unknown operationType %q", where, op)
		return
	}
	field, _ := col["sourceField"].(string)
	switch {
	case op == "count":
		// count reads no field
	case field == "":
		v.errorf("%s: %s needs a sourceField", where, op)
	default:
		t := v.fieldType(where, field)
		switch {
		case t == "":
		case !aggregatable[t]:
			v.errorf("%s: %q is a %s field, which Elasticsearch cannot aggregate", where, field, t)
		case accepts != nil && !accepts[t]:
			v.errorf("%s: %s cannot use %q, a %s field", where, op, field, t)
		default:
			// terms and last_value keep the field's type; the other
			// field operations produce numbers, date_histogram dates.
			want := "number"
			switch {
			case op == "terms", op == "last_value":
				want = lensDataType(t)
			case op == "date_histogram":
				want = "date"
			case (op == "min" || op == "max") && dateTypes[t]:
				want = "date"
			}
			if dt, _ := col["dataType"].(string); dt != want {
				v.errorf("%s: dataType %q, but %s of a %s field is %q", where, dt, op, t, want)
			}
		}
	}
	params, _ := col["params"].(map[string]any)
	for _, p := range v.schema.columnParams[op] {
		val, has := params[p]
		_, isBool := val.(bool)
		switch {
		case v.schema.requireParams && !isBool:
			v.errorf("%s: %s needs a boolean params.%s, as Lens 8.x writes it (objects typed for %s skip Lens' 8.2.0 migration)", where, op, p, v.schema.oldest)
		case !v.schema.requireParams && has:
			v.errorf("%s: params.%s is unknown to %s's Lens", where, p, v.schema.name)
		}
	}
	switch op {
	case "last_value":
		sf, _ := params["sortField"].(string)
		if sf == "" {
			v.errorf("%s: last_value needs params.sortField", where)
		} else if t := v.fieldType(where+" sortField", sf); t != "" && !dateTypes[t] {
			v.errorf("%s: sortField %q is a %s field, not a date", where, sf, t)
		}
	case "terms":
		ob, _ := params["orderBy"].(map[string]any)
		switch ob["type"] {
		case "alphabetical":
		case "column":
			ref, _ := ob["columnId"].(string)
			if c, ok := cols[ref]; !ok {
				v.errorf("%s: orderBy column %q is not in the layer", where, ref)
			} else if c["isBucketed"] == true {
				v.errorf("%s: orderBy column %q is a bucket, not a metric", where, ref)
			}
		default:
			v.errorf("%s: terms needs params.orderBy of type alphabetical or column", where)
		}
		if size, _ := params["size"].(float64); size < 1 {
			v.errorf("%s: terms needs params.size >= 1", where)
		}
	}
}

// referenceColumn checks a column computed from other columns of its layer
// (Differences, Moving average, ...): it reads existing metric columns and
// its layer has a date histogram to compute along.
func (v *validator) referenceColumn(where, op string, col map[string]any, cols map[string]map[string]any) {
	if _, ok := col["sourceField"]; ok {
		v.errorf("%s: %s reads columns, not a sourceField", where, op)
	}
	if col["dataType"] != "number" || col["isBucketed"] != false {
		v.errorf("%s: %s is a number metric (dataType number, isBucketed false)", where, op)
	}
	refs := asSlice(col["references"])
	if len(refs) != 1 {
		v.errorf("%s: %s needs exactly one referenced column, has %d", where, op, len(refs))
	}
	for _, r := range refs {
		id, _ := r.(string)
		c, ok := cols[id]
		switch {
		case !ok:
			v.errorf("%s: references column %q, which is not in the layer", where, id)
		case c["isBucketed"] == true:
			v.errorf("%s: references bucket column %q, not a metric", where, id)
		case referenceOperations[fmt.Sprint(c["operationType"])]:
			v.errorf("%s: references %q, itself computed from columns", where, id)
		}
	}
	hasHistogram := false
	for _, c := range cols {
		hasHistogram = hasHistogram || c["operationType"] == "date_histogram"
	}
	if !hasHistogram {
		v.errorf("%s: %s needs a date histogram in its layer", where, op)
	}
}

type gridRect struct {
	index      string
	x, y, w, h int
}

func (v *validator) dashboard(attrs map[string]any, refs []Reference, lookup func(Reference) map[string]any) {
	v.allowedKeys("dashboard attributes", attrs, v.schema.dashboardKeys)
	if t, _ := attrs["title"].(string); t == "" {
		v.errorf("dashboard has no title")
	}
	if ri, ok := attrs["refreshInterval"].(map[string]any); ok {
		v.allowedKeys("refreshInterval", ri, refreshIntervalKeys)
		// Kibana 8.9 and later require both when refreshInterval is set.
		_, pause := ri["pause"].(bool)
		_, value := ri["value"].(float64)
		if !pause || !value {
			v.errorf("refreshInterval needs a boolean pause and a numeric value")
		}
	}
	var ss map[string]any
	v.searchSource(attrs, &ss)
	var options map[string]any
	if v.jsonAttr("optionsJSON", attrs["optionsJSON"], &options) {
		v.allowedKeys("optionsJSON", options, v.schema.optionsKeys)
	}
	controlRefs := v.controlGroup(attrs, refs, lookup)

	var panels []map[string]any
	if !v.jsonAttr("panelsJSON", attrs["panelsJSON"], &panels) {
		return
	}
	if len(panels) == 0 {
		v.errorf("dashboard has no panels")
	}
	refByName := map[string]Reference{}
	for _, r := range refs {
		refByName[r.Name] = r
	}
	usedRefs := map[string]bool{}
	indexes := map[string]bool{}
	var rects []gridRect
	for n, p := range panels {
		index, _ := p["panelIndex"].(string)
		where := fmt.Sprintf("panel %d (panelIndex %q)", n, index)
		v.allowedKeys(where, p, panelKeys)
		if pv, ok := p["version"].(string); ok {
			got, okv := parseVersion(pv)
			limit, _ := parseVersion(v.schema.oldest)
			if !okv || slices.Compare(got[:], limit[:]) > 0 {
				v.errorf("%s: version %q is not a version up to %s", where, pv, v.schema.oldest)
			}
		}
		if index == "" {
			v.errorf("%s: no panelIndex", where)
		} else if indexes[index] {
			v.errorf("%s: panelIndex used twice", where)
		}
		indexes[index] = true

		refName, _ := p["panelRefName"].(string)
		if refName == "" {
			v.errorf("%s: no panelRefName (by-value panels are not part of this bundle)", where)
		} else if r, ok := refByName[refName]; !ok {
			v.errorf("%s: panelRefName %q has no reference", where, refName)
		} else {
			usedRefs[refName] = true
			if t, _ := p["type"].(string); t != r.Type {
				v.errorf("%s: type %q differs from its reference's type %q", where, t, r.Type)
			}
			if lookup(r) == nil {
				v.errorf("%s: refers to %s %q, which is not in the bundle", where, r.Type, r.ID)
			}
		}

		g, ok := p["gridData"].(map[string]any)
		if !ok {
			v.errorf("%s: no gridData", where)
			continue
		}
		var r gridRect
		r.index = index
		for _, f := range []struct {
			name string
			dst  *int
		}{{"x", &r.x}, {"y", &r.y}, {"w", &r.w}, {"h", &r.h}} {
			n, ok := g[f.name].(float64)
			if !ok || n != float64(int(n)) {
				v.errorf("%s: gridData.%s is not an integer", where, f.name)
			}
			*f.dst = int(n)
		}
		if i, _ := g["i"].(string); i != index {
			v.errorf("%s: gridData.i %q differs from panelIndex", where, i)
		}
		if r.x < 0 || r.y < 0 || r.w < 1 || r.h < 1 {
			v.errorf("%s: gridData has negative position or empty size", where)
		}
		if r.x+r.w > gridColumns {
			v.errorf("%s: x+w = %d is wider than the %d-column grid", where, r.x+r.w, gridColumns)
		}
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				v.errorf("%s overlaps panel %q", where, o.index)
			}
		}
		rects = append(rects, r)
	}
	for _, r := range refs {
		if !usedRefs[r.Name] && !controlRefs[r.Name] {
			v.errorf("reference %q is used by no panel and no control", r.Name)
		}
	}
}

// controlGroup checks the dashboard's controls: each an options list (or
// another known control) on an aggregatable field of a data view of the
// bundle, named by a controlGroup_<id>:<type>DataView reference. It returns
// the reference names the controls use.
func (v *validator) controlGroup(attrs map[string]any, refs []Reference, lookup func(Reference) map[string]any) map[string]bool {
	used := map[string]bool{}
	raw, ok := attrs["controlGroupInput"]
	if !ok {
		return used
	}
	cg, ok := raw.(map[string]any)
	if !ok {
		v.errorf("controlGroupInput is not an object")
		return used
	}
	v.allowedKeys("controlGroupInput", cg, controlGroupKeys)
	if s, _ := cg["chainingSystem"].(string); s != "" && s != "HIERARCHICAL" && s != "NONE" {
		v.errorf("controlGroupInput.chainingSystem %q is not HIERARCHICAL or NONE", s)
	}
	if s, _ := cg["controlStyle"].(string); s != "" && s != "oneLine" && s != "twoLine" {
		v.errorf("controlGroupInput.controlStyle %q is not oneLine or twoLine", s)
	}
	if _, ok := cg["ignoreParentSettingsJSON"]; ok {
		var ignore map[string]any
		if v.jsonAttr("controlGroupInput.ignoreParentSettingsJSON", cg["ignoreParentSettingsJSON"], &ignore) {
			v.allowedKeys("ignoreParentSettingsJSON", ignore, set("ignoreFilters", "ignoreQuery", "ignoreTimerange", "ignoreValidations"))
		}
	}
	var controls map[string]map[string]any
	if !v.jsonAttr("controlGroupInput.panelsJSON", cg["panelsJSON"], &controls) {
		return used
	}
	if len(controls) == 0 {
		v.errorf("controlGroupInput has no controls")
	}
	refByName := map[string]Reference{}
	for _, r := range refs {
		refByName[r.Name] = r
	}
	orders := map[float64]bool{}
	for _, id := range sortedKeys(controls) {
		c := controls[id]
		where := fmt.Sprintf("control %q", id)
		v.allowedKeys(where, c, controlKeys)
		typ, _ := c["type"].(string)
		if !controlTypes[typ] {
			v.errorf("%s: type %q is not one of %v", where, typ, sortedKeys(controlTypes))
			continue
		}
		order, ok := c["order"].(float64)
		if !ok || orders[order] {
			v.errorf("%s: order missing or used twice", where)
		}
		orders[order] = true
		in, _ := c["explicitInput"].(map[string]any)
		if in == nil {
			v.errorf("%s: no explicitInput", where)
			continue
		}
		if in["id"] != id {
			v.errorf("%s: explicitInput.id %v differs from the control's key", where, in["id"])
		}
		if _, inline := in["dataViewId"]; inline {
			v.errorf("%s: explicitInput.dataViewId is extracted into a reference on export", where)
		}
		refName := "controlGroup_" + id + ":" + strings.TrimSuffix(typ, "Control") + "DataView"
		r, ok := refByName[refName]
		switch {
		case !ok:
			v.errorf("%s: no reference %q", where, refName)
			continue
		case r.Type != "index-pattern":
			v.errorf("%s: reference %q is a %s, not an index-pattern", where, refName, r.Type)
		case lookup(r) == nil:
			v.errorf("%s: data view %q is not in the bundle", where, r.ID)
		}
		used[refName] = true
		if typ == "timeSlider" {
			continue
		}
		field, _ := in["fieldName"].(string)
		if field == "" {
			v.errorf("%s: no explicitInput.fieldName", where)
			continue
		}
		t := v.fieldType(where, field)
		switch {
		case t == "":
		case !aggregatable[t]:
			v.errorf("%s: %q is a %s field, which an options list cannot list", where, field, t)
		case typ == "optionsListControl" && !set("keyword", "constant_keyword", "ip", "boolean")[t] && !numeric[t] && !dateTypes[t]:
			v.errorf("%s: an options list cannot list %q, a %s field", where, field, t)
		case typ == "rangeSliderControl" && !numeric[t]:
			v.errorf("%s: a range slider needs a number field, %q is a %s field", where, field, t)
		}
		if sel, ok := in["selectedOptions"]; ok && sel != nil {
			if _, ok := sel.([]any); !ok {
				v.errorf("%s: selectedOptions is not an array", where)
			}
		}
	}
	return used
}
