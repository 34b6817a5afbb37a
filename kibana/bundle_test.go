package kibana

// No Kibana runs in these tests, so this file checks the bundle the way
// Kibana 7.17 would reject it on import or fail to render it: the NDJSON
// envelope, versions, references, the dashboard's attribute set and grid, and
// every field a Lens column reads against mappings/mapping.json.
//
// The allowed key sets come from Kibana 7.17's saved object type mappings
// (src/plugins/dashboard/server/saved_objects/dashboard.ts,
// src/plugins/visualizations/server/saved_objects/visualization.ts and
// x-pack/plugins/lens/server/saved_objects.ts): the .kibana index maps
// them strictly, so an unknown attribute fails the import.

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
	"testing"

	"github.com/lagship/lagship/mappings"
)

// maxVersion is the newest Kibana the bundle's versions may claim.
const maxVersion = "7.17.0"

// gridColumns is the width of Kibana's dashboard grid.
const gridColumns = 48

var (
	dashboardKeys = set("description", "hits", "kibanaSavedObjectMeta", "optionsJSON", "panelsJSON",
		"refreshInterval", "timeFrom", "timeRestore", "timeTo", "title", "version")
	refreshIntervalKeys = set("display", "pause", "section", "value")
	savedObjectMetaKeys = set("searchSourceJSON")
	visualizationKeys   = set("description", "kibanaSavedObjectMeta", "savedSearchRefName", "title",
		"uiStateJSON", "version", "visState")
	lensKeys         = set("title", "description", "visualizationType", "state", "expression")
	lensVisTypes     = set("lnsXY", "lnsDatatable", "lnsHeatmap", "lnsMetric", "lnsPie")
	envelopeRequired = []string{"id", "type", "attributes", "references", "migrationVersion", "coreMigrationVersion"}
	knownTypes       = set("index-pattern", "lens", "visualization", "dashboard")

	// Field types Elasticsearch can aggregate on (doc_values by default).
	aggregatable = set("keyword", "constant_keyword", "long", "integer", "short", "byte", "double",
		"float", "half_float", "scaled_float", "unsigned_long", "date", "date_nanos", "boolean", "ip")
	numeric = set("long", "integer", "short", "byte", "double", "float", "half_float",
		"scaled_float", "unsigned_long")
	dateTypes = set("date", "date_nanos")
	// Field types each Lens operation accepts (nil: any aggregatable type).
	lensOperations = map[string]map[string]bool{
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

	// Keys of a Lens 7.17 datatable column (ColumnState in
	// x-pack/plugins/lens/common/expressions/datatable/datatable_column.ts).
	datatableColumnKeys = set("columnId", "width", "hidden", "isTransposed", "transposable",
		"originalColumnId", "originalName", "bucketValues", "alignment", "palette", "colorMode",
		"summaryRow", "summaryLabel")
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
	mapping  *mappings.Mapping
	problems []string
	where    string // object being checked, for messages
}

func (v *validator) errorf(format string, args ...any) {
	v.problems = append(v.problems, v.where+": "+fmt.Sprintf(format, args...))
}

// validateBundle returns every problem found in an NDJSON bundle, checked
// against mapping m.
func validateBundle(b []byte, m *mappings.Mapping) []string {
	v := &validator{mapping: m}
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
		if _, ok := o["typeMigrationVersion"]; ok {
			v.errorf("typeMigrationVersion is the 8.x format; with a migrationVersion map Kibana 7.17 rejects it")
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
			v.checkVersion("coreMigrationVersion", c)
		} else if o["coreMigrationVersion"] != nil {
			v.errorf("coreMigrationVersion is not a string")
		}
		if mv, ok := o["migrationVersion"].(map[string]any); ok {
			if len(mv) != 1 || mv[typ] == nil {
				v.errorf("migrationVersion must have exactly the key %q, has %v", typ, sortedKeys(mv))
			}
			for t, ver := range mv {
				s, _ := ver.(string)
				v.checkVersion("migrationVersion."+t, s)
			}
		} else if o["migrationVersion"] != nil {
			v.errorf("migrationVersion is not a map")
		}
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
			v.visualization(attrs)
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

func (v *validator) checkVersion(field, s string) {
	got, ok := parseVersion(s)
	if !ok {
		v.errorf("%s %q is not a version", field, s)
		return
	}
	limit, _ := parseVersion(maxVersion)
	if slices.Compare(got[:], limit[:]) > 0 {
		v.errorf("%s %s is newer than %s: Kibana 7.17 refuses the object", field, s, maxVersion)
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
			v.errorf("%s has key %q, which Kibana 7.17 does not map", what, k)
		}
	}
}

func (v *validator) searchSource(attrs map[string]any) {
	meta, ok := attrs["kibanaSavedObjectMeta"].(map[string]any)
	if !ok {
		v.errorf("no kibanaSavedObjectMeta")
		return
	}
	v.allowedKeys("kibanaSavedObjectMeta", meta, savedObjectMetaKeys)
	var ss map[string]any
	v.jsonAttr("kibanaSavedObjectMeta.searchSourceJSON", meta["searchSourceJSON"], &ss)
}

func (v *validator) visualization(attrs map[string]any) {
	v.allowedKeys("visualization attributes", attrs, visualizationKeys)
	if t, _ := attrs["title"].(string); t == "" {
		v.errorf("visualization has no title")
	}
	var vis struct {
		Type   string         `json:"type"`
		Params map[string]any `json:"params"`
		Aggs   []struct {
			Params map[string]any `json:"params"`
		} `json:"aggs"`
	}
	if v.jsonAttr("visState", attrs["visState"], &vis) {
		if vis.Type == "" {
			v.errorf("visState has no type")
		}
		if vis.Type == "markdown" {
			if md, _ := vis.Params["markdown"].(string); md == "" {
				v.errorf("markdown visualization has no params.markdown")
			}
		}
		for i, a := range vis.Aggs {
			if f, ok := a.Params["field"].(string); ok {
				if t := v.fieldType(fmt.Sprintf("visState.aggs[%d]", i), f); t != "" && !aggregatable[t] {
					v.errorf("visState.aggs[%d] aggregates %q, a %s field", i, f, t)
				}
			}
		}
	}
	var ui map[string]any
	v.jsonAttr("uiStateJSON", attrs["uiStateJSON"], &ui)
	v.searchSource(attrs)
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
		if k != "indexpattern" {
			v.errorf("datasource %q: Kibana 7.17 knows only \"indexpattern\"", k)
		}
	}
	ds, _ := dss["indexpattern"].(map[string]any)
	layersRaw, _ := ds["layers"].(map[string]any)
	if len(layersRaw) == 0 {
		v.errorf("no indexpattern datasource layers")
		return
	}
	refByName := map[string]Reference{}
	for _, r := range refs {
		refByName[r.Name] = r
	}
	if r, ok := refByName["indexpattern-datasource-current-indexpattern"]; !ok || r.Type != "index-pattern" {
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
			v.allowedKeys(fmt.Sprintf("table column %q", cid), col, datatableColumnKeys)
			// 7.17 colours cells by value (a palette of numeric stops) only
			// in numeric metric columns; text cannot be coloured by value.
			if mode, _ := col["colorMode"].(string); (mode != "" && mode != "none") || col["palette"] != nil {
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
	accepts, known := lensOperations[op]
	if !known {
		v.errorf("%s: unknown operationType %q", where, op)
		return
	}
	if l, _ := col["label"].(string); l == "" {
		v.errorf("%s has no label", where)
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
			switch op {
			case "terms", "last_value":
				want = lensDataType(t)
			case "date_histogram":
				want = "date"
			}
			if dt, _ := col["dataType"].(string); dt != want {
				v.errorf("%s: dataType %q, but %s of a %s field is %q", where, dt, op, t, want)
			}
		}
	}
	params, _ := col["params"].(map[string]any)
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

type gridRect struct {
	index      string
	x, y, w, h int
}

func (v *validator) dashboard(attrs map[string]any, refs []Reference, lookup func(Reference) map[string]any) {
	v.allowedKeys("dashboard attributes", attrs, dashboardKeys)
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
	v.searchSource(attrs)
	var options map[string]any
	v.jsonAttr("optionsJSON", attrs["optionsJSON"], &options)

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
		if strings.HasPrefix(r.Name, "panel_") && !usedRefs[r.Name] {
			v.errorf("reference %q is not used by any panel", r.Name)
		}
	}
}

func TestBundleValid(t *testing.T) {
	for _, p := range validateBundle(Bundle(), mappings.Default()) {
		t.Error(p)
	}
}

func TestObjects(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string][]string{}
	for _, o := range objs {
		byType[o.Type] = append(byType[o.Type], o.ID)
		if o.CoreMigrationVersion != coreVersion {
			t.Errorf("%s %s: coreMigrationVersion %q", o.Type, o.ID, o.CoreMigrationVersion)
		}
		if o.Title() == "" {
			t.Errorf("%s %s: no title", o.Type, o.ID)
		}
	}
	want := map[string][]string{
		"index-pattern": {IndexPatternID},
		"lens":          {statusTableID, timeLagID, totalLagID, maxLagID, partitionLagID, latestTableID},
		"visualization": {guideID},
		"dashboard":     {DashboardID},
	}
	for typ, ids := range want {
		if !slices.Equal(byType[typ], ids) {
			t.Errorf("%s objects: got %v, want %v", typ, byType[typ], ids)
		}
	}
	if len(byType) != len(want) {
		t.Errorf("object types: got %v", sortedKeys(byType))
	}
}

func TestBundleIsACopy(t *testing.T) {
	b := Bundle()
	b[0] = 'X'
	if Bundle()[0] == 'X' {
		t.Fatal("Bundle returned the embedded slice")
	}
}

// Every Lens chart of the dashboard must read the per-partition fields that
// mapping.json declares, and only those: p18 and above exist only once a
// document carries them, so a chart on them would fail on a fresh index.
func TestPartitionChartFields(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	m := mappings.Default()
	for _, o := range objs {
		if o.ID != partitionLagID {
			continue
		}
		var got []string
		for _, f := range regexp.MustCompile(`"sourceField":"(p\d+)"`).FindAllStringSubmatch(string(o.Attributes), -1) {
			if _, explicit := m.Mappings.Properties[f[1]]; !explicit {
				t.Errorf("per-partition chart reads %s, which mapping.json does not declare", f[1])
			}
			got = append(got, f[1])
		}
		if len(got) != partitionFields {
			t.Errorf("per-partition chart reads %d partition fields, want %d", len(got), partitionFields)
		}
		return
	}
	t.Fatalf("no object %q", partitionLagID)
}

// mutate parses the bundle, lets f change one object and writes it back.
func mutate(t *testing.T, id string, f func(o map[string]any)) []byte {
	t.Helper()
	var out bytes.Buffer
	found := false
	for _, line := range bytes.Split(bytes.TrimSpace(Bundle()), []byte("\n")) {
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

func lensColumns(o map[string]any) map[string]any {
	return o["attributes"].(map[string]any)["state"].(map[string]any)["datasourceStates"].(map[string]any)["indexpattern"].(map[string]any)["layers"].(map[string]any)["lagship-layer"].(map[string]any)["columns"].(map[string]any)
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
		bundle  func(t *testing.T) []byte
		mapping *mappings.Mapping
		want    string // substring of one problem; "" means valid
	}{
		{
			name: "dynamic partition field is accepted",
			bundle: func(t *testing.T) []byte {
				return mutate(t, partitionLagID, func(o map[string]any) {
					lensColumns(o)["p17"].(map[string]any)["sourceField"] = "p42"
				})
			},
		},
		{
			name: "dashboard panel reference dropped",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) { dropReference(o, "panel_1") })
			},
			want: `panelRefName "panel_1" has no reference`,
		},
		{
			name: "lens layer reference dropped",
			bundle: func(t *testing.T) []byte {
				return mutate(t, totalLagID, func(o map[string]any) {
					dropReference(o, "indexpattern-datasource-layer-lagship-layer")
				})
			},
			want: "has no index-pattern reference indexpattern-datasource-layer-lagship-layer",
		},
		{
			name: "current index pattern reference dropped",
			bundle: func(t *testing.T) []byte {
				return mutate(t, maxLagID, func(o map[string]any) {
					dropReference(o, "indexpattern-datasource-current-indexpattern")
				})
			},
			want: "no index-pattern reference indexpattern-datasource-current-indexpattern",
		},
		{
			name: "reference to an object outside the bundle",
			bundle: func(t *testing.T) []byte {
				return mutate(t, latestTableID, func(o map[string]any) {
					o["references"].([]any)[0].(map[string]any)["id"] = "someone-elses-pattern"
				})
			},
			want: `points at index-pattern "someone-elses-pattern", which is not in the bundle`,
		},
		{
			name: "sourceField missing from the mapping",
			bundle: func(t *testing.T) []byte {
				return mutate(t, totalLagID, func(o map[string]any) {
					lensColumns(o)["lag"].(map[string]any)["sourceField"] = "totallag"
				})
			},
			want: `field "totallag" is not in mappings/mapping.json`,
		},
		{
			name:    "terms on a text field",
			bundle:  func(*testing.T) []byte { return Bundle() },
			mapping: textTopic,
			want:    `"topic" is a text field, which Elasticsearch cannot aggregate`,
		},
		{
			name: "max over a keyword field",
			bundle: func(t *testing.T) []byte {
				return mutate(t, maxLagID, func(o map[string]any) {
					lensColumns(o)["lag"].(map[string]any)["sourceField"] = "mirror"
				})
			},
			want: `max cannot use "mirror", a keyword field`,
		},
		{
			name: "last value sorted by a number",
			bundle: func(t *testing.T) []byte {
				return mutate(t, latestTableID, func(o map[string]any) {
					lensColumns(o)["max_lag"].(map[string]any)["params"].(map[string]any)["sortField"] = "total_lag"
				})
			},
			want: `sortField "total_lag" is a long field, not a date`,
		},
		{
			name: "last value of a date field",
			bundle: func(t *testing.T) []byte {
				return mutate(t, statusTableID, func(o map[string]any) {
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
				return mutate(t, statusTableID, func(o map[string]any) {
					lensColumns(o)["status"].(map[string]any)["dataType"] = "number"
				})
			},
			want: `dataType "number", but last_value of a keyword field is "string"`,
		},
		{
			name: "max column not a number",
			bundle: func(t *testing.T) []byte {
				return mutate(t, timeLagID, func(o map[string]any) {
					lensColumns(o)["time_lag"].(map[string]any)["dataType"] = "string"
				})
			},
			want: `dataType "string", but max of a double field is "number"`,
		},
		{
			name: "status column coloured by value",
			bundle: func(t *testing.T) []byte {
				return mutate(t, statusTableID, func(o map[string]any) {
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
				return mutate(t, statusTableID, func(o map[string]any) {
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
				return mutate(t, statusTableID, func(o map[string]any) {
					lensVis(o)["columns"].([]any)[2].(map[string]any)["colorMapping"] = map[string]any{}
				})
			},
			want: `table column "status" has key "colorMapping", which Kibana 7.17 does not map`,
		},
		{
			name: "accessor is not a column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, totalLagID, func(o map[string]any) {
					lensVis(o)["layers"].([]any)[0].(map[string]any)["accessors"] = []any{"lag", "ghost"}
				})
			},
			want: `accessor "ghost" is not a column of the layer`,
		},
		{
			name: "split accessor is not a column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, partitionLagID, func(o map[string]any) {
					lensVis(o)["layers"].([]any)[0].(map[string]any)["splitAccessor"] = "ghost"
				})
			},
			want: `splitAccessor "ghost" is not a column`,
		},
		{
			name: "xy layer id unknown",
			bundle: func(t *testing.T) []byte {
				return mutate(t, maxLagID, func(o map[string]any) {
					lensVis(o)["layers"].([]any)[0].(map[string]any)["layerId"] = "other"
				})
			},
			want: `layerId "other" is not a datasource layer`,
		},
		{
			name: "table column is not a column",
			bundle: func(t *testing.T) []byte {
				return mutate(t, latestTableID, func(o map[string]any) {
					lensVis(o)["columns"] = append(lensVis(o)["columns"].([]any), map[string]any{"columnId": "ghost"})
				})
			},
			want: `table column "ghost" is not a column of the layer`,
		},
		{
			name: "column not shown",
			bundle: func(t *testing.T) []byte {
				return mutate(t, latestTableID, func(o map[string]any) {
					lensVis(o)["columns"] = lensVis(o)["columns"].([]any)[:4]
				})
			},
			want: `column "partition_count" is not shown`,
		},
		{
			name: "breakdown nested inside the time axis",
			bundle: func(t *testing.T) []byte {
				return mutate(t, partitionLagID, func(o map[string]any) {
					l := o["attributes"].(map[string]any)["state"].(map[string]any)["datasourceStates"].(map[string]any)["indexpattern"].(map[string]any)["layers"].(map[string]any)["lagship-layer"].(map[string]any)
					order := l["columnOrder"].([]any)
					order[0], order[1] = order[1], order[0]
				})
			},
			want: `splitAccessor "topic" comes after xAccessor "time" in columnOrder`,
		},
		{
			name: "8.x datasource key",
			bundle: func(t *testing.T) []byte {
				return mutate(t, totalLagID, func(o map[string]any) {
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
				return mutate(t, totalLagID, func(o map[string]any) {
					lensColumns(o)["topic"].(map[string]any)["params"].(map[string]any)["orderBy"] = map[string]any{"type": "column", "columnId": "ghost"}
				})
			},
			want: `orderBy column "ghost" is not in the layer`,
		},
		{
			name: "dashboard attribute unknown to 7.17",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["controlGroupInput"] = map[string]any{}
				})
			},
			want: `key "controlGroupInput", which Kibana 7.17 does not map`,
		},
		{
			name: "refresh interval without pause",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) {
					delete(o["attributes"].(map[string]any)["refreshInterval"].(map[string]any), "pause")
				})
			},
			want: "refreshInterval needs a boolean pause and a numeric value",
		},
		{
			name: "panelsJSON is not JSON",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["panelsJSON"] = "[{"
				})
			},
			want: "panelsJSON does not parse as JSON",
		},
		{
			name: "optionsJSON is an object, not a string",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["optionsJSON"] = map[string]any{}
				})
			},
			want: "optionsJSON is not a string holding JSON",
		},
		{
			name: "searchSourceJSON broken",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) {
					o["attributes"].(map[string]any)["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"] = "{"
				})
			},
			want: "searchSourceJSON does not parse as JSON",
		},
		{
			name: "panel wider than the grid",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) {
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
				return mutate(t, DashboardID, func(o map[string]any) {
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
				return mutate(t, DashboardID, func(o map[string]any) {
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
				return mutate(t, DashboardID, func(o map[string]any) {
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
				return mutate(t, guideID, func(o map[string]any) { o["coreMigrationVersion"] = "7.16.0" })
			},
			want: "coreMigrationVersion differs between objects",
		},
		{
			name: "migrationVersion newer than 7.17",
			bundle: func(t *testing.T) []byte {
				return mutate(t, totalLagID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"lens": "8.2.0"}
				})
			},
			want: "migrationVersion.lens 8.2.0 is newer than 7.17.0",
		},
		{
			name: "migrationVersion for another type",
			bundle: func(t *testing.T) []byte {
				return mutate(t, IndexPatternID, func(o map[string]any) {
					o["migrationVersion"] = map[string]any{"lens": "7.11.0"}
				})
			},
			want: `migrationVersion must have exactly the key "index-pattern"`,
		},
		{
			name: "typeMigrationVersion mixed in",
			bundle: func(t *testing.T) []byte {
				return mutate(t, DashboardID, func(o map[string]any) { o["typeMigrationVersion"] = "7.14.0" })
			},
			want: "typeMigrationVersion is the 8.x format",
		},
		{
			name: "required key missing",
			bundle: func(t *testing.T) []byte {
				return mutate(t, guideID, func(o map[string]any) { delete(o, "references") })
			},
			want: `no "references"`,
		},
		{
			name: "time field is not a date",
			bundle: func(t *testing.T) []byte {
				return mutate(t, IndexPatternID, func(o map[string]any) {
					o["attributes"].(map[string]any)["timeFieldName"] = "total_lag"
				})
			},
			want: `timeFieldName "total_lag" is a long field, not a date`,
		},
		{
			name: "index pattern does not match the index",
			bundle: func(t *testing.T) []byte {
				return mutate(t, IndexPatternID, func(o map[string]any) {
					o["attributes"].(map[string]any)["title"] = "lag-*"
				})
			},
			want: `"lag-*" does not match the consumer_lag index`,
		},
		{
			name:   "line is not JSON",
			bundle: func(*testing.T) []byte { return append(Bundle(), "{\"id\":\n"...) },
			want:   "not a JSON object",
		},
		{
			name:   "duplicate object",
			bundle: func(*testing.T) []byte { return append(Bundle(), bytes.SplitAfter(Bundle(), []byte("\n"))[0]...) },
			want:   "duplicate object",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mapping
			if m == nil {
				m = mappings.Default()
			}
			problems := validateBundle(tc.bundle(t), m)
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
	f.Add(Bundle())
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
	objs, err := Objects()
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
