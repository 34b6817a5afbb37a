package esfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// mapping is the mapping of one index.
type mapping struct {
	dynamic          string // true | false | strict
	dateDetection    bool
	numericDetection bool
	templates        []*dynTemplate
	props            map[string]*field
	meta             any // _meta, echoed
	source           any // _source, echoed
	routing          any // _routing, echoed
}

// field is the mapping of one field: a leaf, or an object with properties.
type field struct {
	typ     string
	params  map[string]any // every other parameter, echoed verbatim
	fields  map[string]*field
	props   map[string]*field
	dynamic string // objects only; "" inherits
}

type dynTemplate struct {
	name      string
	raw       any
	regex     bool
	match     []string
	unmatch   []string
	pathMatch []string
	pathUnm   []string
	mmt       []string // match_mapping_type
	mapping   map[string]any
	matchRe   []*regexp.Regexp
	unmatchRe []*regexp.Regexp
	pathRe    []*regexp.Regexp
	pathUnmRe []*regexp.Regexp
}

func newMapping() *mapping {
	return &mapping{dynamic: "true", dateDetection: true, props: map[string]*field{}}
}

var numericTypes = map[string]bool{
	"long": true, "integer": true, "short": true, "byte": true,
	"double": true, "float": true, "half_float": true, "scaled_float": true,
}

var (
	commonLeaf = []string{"index", "doc_values", "store", "meta", "copy_to", "fields", "script", "on_script_error"}
	typeParams = map[string][]string{
		"keyword": {"ignore_above", "null_value", "norms", "normalizer", "eager_global_ordinals", "similarity", "split_queries_on_whitespace", "time_series_dimension"},
		"text": {"analyzer", "search_analyzer", "search_quote_analyzer", "norms", "fielddata", "fielddata_frequency_filter", "index_options",
			"index_prefixes", "index_phrases", "position_increment_gap", "similarity", "term_vector", "eager_global_ordinals"},
		"numeric": {"coerce", "ignore_malformed", "null_value", "time_series_metric", "time_series_dimension"},
		"date":    {"format", "locale", "ignore_malformed", "null_value"},
		"boolean": {"null_value"},
		"ip":      {"null_value", "ignore_malformed"},
		"object":  {"dynamic", "enabled", "subobjects", "properties"},
	}
	// updatable parameters may change on PUT _mapping; any other one may not.
	updatable = map[string]bool{"ignore_above": true, "meta": true, "search_analyzer": true, "search_quote_analyzer": true,
		"fielddata": true, "eager_global_ordinals": true, "dynamic": true}
	// knownTypes the fake does not model: refused loudly rather than guessed.
	unmodelledTypes = map[string]bool{"nested": true, "flattened": true, "geo_point": true, "geo_shape": true, "unsigned_long": true,
		"date_nanos": true, "wildcard": true, "constant_keyword": true, "match_only_text": true, "binary": true, "alias": true,
		"dense_vector": true, "histogram": true, "integer_range": true, "long_range": true, "date_range": true, "version": true,
		"search_as_you_type": true, "completion": true, "token_count": true, "rank_feature": true, "point": true, "shape": true}
)

func paramsFor(typ string) ([]string, bool) {
	key := typ
	if numericTypes[typ] {
		key = "numeric"
	}
	p, ok := typeParams[key]
	if !ok {
		return nil, false
	}
	if typ == "object" {
		return p, true
	}
	out := slices.Concat(commonLeaf, p)
	if typ == "scaled_float" {
		out = append(out, "scaling_factor")
	}
	return out, true
}

// parseRootMapping parses the body of "mappings" (PUT /<index>) or of
// PUT /<index>/_mapping.
func parseRootMapping(v any) (*mapping, *esError) {
	m := newMapping()
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, mapperParsing("Failed to parse mapping: mapping must be an object")
	}
	var unsupported []string
	for _, k := range sortedKeys(obj) {
		val := obj[k]
		switch k {
		case "properties":
			props, err := parseProperties(val, "")
			if err != nil {
				return nil, err
			}
			m.props = props
		case "dynamic_templates":
			ts, err := parseTemplates(val)
			if err != nil {
				return nil, err
			}
			m.templates = ts
		case "dynamic":
			d, err := parseDynamic(val)
			if err != nil {
				return nil, err
			}
			m.dynamic = d
		case "date_detection", "numeric_detection":
			b, err := parseBool(k, val)
			if err != nil {
				return nil, err
			}
			if k == "date_detection" {
				m.dateDetection = b
			} else {
				m.numericDetection = b
			}
		case "_meta":
			m.meta = val
		case "_source":
			m.source = val
		case "_routing":
			m.routing = val
		case "dynamic_date_formats", "runtime", "subobjects":
			return nil, mapperParsing("esfake: root mapping parameter [" + k + "] is not supported by the fake")
		default:
			b, _ := json.Marshal(val)
			unsupported = append(unsupported, "["+k+" : "+string(b)+"]")
		}
	}
	if len(unsupported) > 0 {
		return nil, mapperParsing("Root mapping definition has unsupported parameters:  " + strings.Join(unsupported, " "))
	}
	return m, nil
}

func parseDynamic(v any) (string, *esError) {
	switch d := v.(type) {
	case bool:
		return fmt.Sprint(d), nil
	case string:
		switch d {
		case "true", "false", "strict":
			return d, nil
		case "runtime":
			return "", mapperParsing("esfake: dynamic [runtime] is not supported by the fake")
		}
	}
	return "", mapperParsing(fmt.Sprintf("Failed to parse value [%v] as only [true] or [false] are allowed.", v))
}

func parseBool(name string, v any) (bool, *esError) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if b == "true" || b == "false" {
			return b == "true", nil
		}
	}
	return false, mapperParsing(fmt.Sprintf("Failed to parse value [%v] as only [true] or [false] are allowed. (parameter [%s])", v, name))
}

func parseProperties(v any, path string) (map[string]*field, *esError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, mapperParsing("Expected map for property [properties] on field [" + strings.TrimSuffix(path, ".") + "] but got a class " + fmt.Sprintf("%T", v))
	}
	props := map[string]*field{}
	for _, name := range sortedKeys(obj) {
		if strings.TrimSpace(name) == "" {
			return nil, mapperParsing("field name cannot be an empty string")
		}
		if strings.Contains(name, ".") {
			// "a.b": {...} is the object a holding b.
			head, rest, _ := strings.Cut(name, ".")
			if head == "" || rest == "" || strings.HasSuffix(rest, ".") {
				return nil, mapperParsing("field name cannot contain only dots or be empty: [" + name + "]")
			}
			sub, err := parseProperties(map[string]any{rest: obj[name]}, path+head+".")
			if err != nil {
				return nil, err
			}
			parent := props[head]
			if parent == nil {
				parent = &field{typ: "object", props: map[string]*field{}}
				props[head] = parent
			}
			if parent.typ != "object" {
				return nil, illegalArgument("mapper [" + path + head + "] cannot be changed from type [" + parent.typ + "] to [object]")
			}
			maps.Copy(parent.props, sub)
			continue
		}
		f, err := parseField(path+name, obj[name])
		if err != nil {
			return nil, err
		}
		props[name] = f
	}
	return props, nil
}

func parseField(path string, v any) (*field, *esError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, mapperParsing("Expected map for property [fields] on field [" + path + "] but got a class " + fmt.Sprintf("%T", v))
	}
	f := &field{typ: "object", params: map[string]any{}}
	if t, ok := obj["type"]; ok {
		s, ok := t.(string)
		if !ok {
			return nil, mapperParsing("No type specified for field [" + path + "]")
		}
		f.typ = s
	}
	allowed, ok := paramsFor(f.typ)
	if !ok {
		if unmodelledTypes[f.typ] {
			return nil, mapperParsing("esfake: type [" + f.typ + "] of field [" + path + "] is not supported by the fake")
		}
		return nil, mapperParsing("No handler for type [" + f.typ + "] declared on field [" + path + "]")
	}
	for _, k := range sortedKeys(obj) {
		val := obj[k]
		if k == "type" {
			continue
		}
		if !slices.Contains(allowed, k) {
			return nil, mapperParsing("unknown parameter [" + k + "] on mapper [" + path + "] of type [" + f.typ + "]")
		}
		switch k {
		case "properties":
			props, err := parseProperties(val, path+".")
			if err != nil {
				return nil, err
			}
			f.props = props
		case "fields":
			sub, ok := val.(map[string]any)
			if !ok {
				return nil, mapperParsing("Expected map for property [fields] on field [" + path + "]")
			}
			f.fields = map[string]*field{}
			for _, name := range sortedKeys(sub) {
				mf, err := parseField(path+"."+name, sub[name])
				if err != nil {
					return nil, err
				}
				if mf.typ == "object" {
					return nil, mapperParsing("Type [object] cannot be used in multi field")
				}
				f.fields[name] = mf
			}
		case "dynamic":
			d, err := parseDynamic(val)
			if err != nil {
				return nil, err
			}
			f.dynamic = d
		case "index", "doc_values", "store", "coerce", "ignore_malformed", "enabled", "norms", "fielddata", "index_phrases":
			if _, err := parseBool(k, val); err != nil {
				return nil, err
			}
			f.params[k] = val
		case "ignore_above", "position_increment_gap":
			n, ok := val.(json.Number)
			if _, err := n.Int64(); !ok || err != nil {
				return nil, mapperParsing("Failed to parse mapping: [" + k + "] on field [" + path + "] must be an integer")
			}
			f.params[k] = val
		case "format":
			s, _ := val.(string)
			if bad, ok := checkDateFormat(s); !ok {
				return nil, mapperParsing("esfake: date format [" + bad + "] of field [" + path + "] is not supported by the fake")
			}
			f.params[k] = val
		default:
			f.params[k] = val
		}
	}
	if f.typ == "scaled_float" && f.params["scaling_factor"] == nil {
		return nil, mapperParsing("Failed to parse mapping: Field [scaling_factor] is required")
	}
	if f.typ == "object" && f.props == nil {
		f.props = map[string]*field{}
	}
	return f, nil
}

var mmtValues = []string{"object", "string", "long", "double", "boolean", "date", "binary", "*"}

func parseTemplates(v any) ([]*dynTemplate, *esError) {
	list, ok := v.([]any)
	if !ok {
		return nil, mapperParsing("Dynamic template syntax error. An array of named objects is expected.")
	}
	var out []*dynTemplate
	for _, entry := range list {
		obj, ok := entry.(map[string]any)
		if !ok || len(obj) != 1 {
			return nil, mapperParsing("Dynamic template syntax error. An array of named objects is expected.")
		}
		for name, body := range obj {
			t, err := parseTemplate(name, body)
			if err != nil {
				return nil, err
			}
			t.raw = entry
			out = append(out, t)
		}
	}
	return out, nil
}

func strList(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

func parseTemplate(name string, body any) (*dynTemplate, *esError) {
	obj, ok := body.(map[string]any)
	if !ok {
		return nil, mapperParsing("Dynamic template syntax error. An array of named objects is expected.")
	}
	t := &dynTemplate{name: name}
	bad := func(why string) *esError {
		return mapperParsing("Failed to parse mapping: dynamic template [" + name + "]: " + why)
	}
	for _, k := range sortedKeys(obj) {
		val := obj[k]
		switch k {
		case "match", "unmatch", "path_match", "path_unmatch", "match_mapping_type", "unmatch_mapping_type":
			l, ok := strList(val)
			if !ok {
				return nil, bad("[" + k + "] must be a string or a list of strings")
			}
			switch k {
			case "match":
				t.match = l
			case "unmatch":
				t.unmatch = l
			case "path_match":
				t.pathMatch = l
			case "path_unmatch":
				t.pathUnm = l
			case "match_mapping_type":
				for _, s := range l {
					if !slices.Contains(mmtValues, s) {
						return nil, mapperParsing("No field type matched on [" + s + "], possible values are [object, string, long, double, boolean, date, binary]")
					}
				}
				t.mmt = l
			default:
				return nil, bad("esfake: [unmatch_mapping_type] is not supported by the fake")
			}
		case "match_pattern":
			switch val {
			case "regex":
				t.regex = true
			case "simple":
			default:
				return nil, illegalArgument(fmt.Sprintf("No matching pattern matched on [%v]", val))
			}
		case "mapping":
			m, ok := val.(map[string]any)
			if !ok {
				return nil, bad("[mapping] must be an object")
			}
			t.mapping = m
		case "runtime":
			return nil, bad("esfake: runtime dynamic templates are not supported by the fake")
		default:
			return nil, mapperParsing("Illegal dynamic template parameter: [" + k + "]")
		}
	}
	if t.mapping == nil {
		return nil, mapperParsing("template [" + name + "] must have either mapping or runtime set")
	}
	compile := func(pats []string) ([]*regexp.Regexp, *esError) {
		var out []*regexp.Regexp
		for _, p := range pats {
			expr := p
			if !t.regex {
				expr = "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$"
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, mapperParsing("Pattern [" + p + "] of type [regex] is invalid. Cannot create dynamic template [" + name + "].")
			}
			out = append(out, re)
		}
		return out, nil
	}
	var err *esError
	if t.matchRe, err = compile(t.match); err != nil {
		return nil, err
	}
	if t.unmatchRe, err = compile(t.unmatch); err != nil {
		return nil, err
	}
	if t.pathRe, err = compile(t.pathMatch); err != nil {
		return nil, err
	}
	if t.pathUnmRe, err = compile(t.pathUnm); err != nil {
		return nil, err
	}
	// Elasticsearch validates a template's mapping when it is defined.
	for _, dt := range []string{"text", "long"} {
		if _, err := t.fieldFor("__dynamic__", dt); err != nil {
			return nil, mapperParsing("dynamic template [" + name + "] has invalid content: " + err.reason)
		}
		if t.mapping["type"] != nil {
			break
		}
	}
	return t, nil
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// matches reports whether the template applies to a new field.
func (t *dynTemplate) matches(name, path, mmt string) bool {
	if len(t.mmt) > 0 && !slices.Contains(t.mmt, "*") && !slices.Contains(t.mmt, mmt) {
		return false
	}
	if len(t.matchRe) > 0 && !anyMatch(t.matchRe, name) {
		return false
	}
	if anyMatch(t.unmatchRe, name) {
		return false
	}
	if len(t.pathRe) > 0 && !anyMatch(t.pathRe, path) {
		return false
	}
	return !anyMatch(t.pathUnmRe, path)
}

// fieldFor builds the field a template maps name to; dynType is the type
// dynamic mapping would have chosen ({dynamic_type}).
func (t *dynTemplate) fieldFor(name, dynType string) (*field, *esError) {
	m := substitute(t.mapping, name, dynType).(map[string]any)
	if _, ok := m["type"]; !ok {
		m["type"] = dynType
	}
	return parseField(name, m)
}

func substitute(v any, name, dynType string) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(strings.ReplaceAll(x, "{name}", name), "{dynamic_type}", dynType)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[substitute(k, name, dynType).(string)] = substitute(e, name, dynType)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = substitute(e, name, dynType)
		}
		return out
	}
	return v
}

// render returns the mapping as GET _mapping shows it.
func (m *mapping) render() map[string]any {
	out := map[string]any{}
	if m.dynamic != "true" {
		out["dynamic"] = m.dynamic
	}
	if !m.dateDetection {
		out["date_detection"] = false
	}
	if m.numericDetection {
		out["numeric_detection"] = true
	}
	if len(m.templates) > 0 {
		ts := make([]any, len(m.templates))
		for i, t := range m.templates {
			ts[i] = t.raw
		}
		out["dynamic_templates"] = ts
	}
	for k, v := range map[string]any{"_meta": m.meta, "_source": m.source, "_routing": m.routing} {
		if v != nil {
			out[k] = v
		}
	}
	if len(m.props) > 0 {
		out["properties"] = renderProps(m.props)
	}
	return out
}

func renderProps(props map[string]*field) map[string]any {
	out := make(map[string]any, len(props))
	for k, f := range props {
		out[k] = f.render()
	}
	return out
}

func (f *field) render() map[string]any {
	out := make(map[string]any, len(f.params)+3)
	maps.Copy(out, f.params)
	if f.typ == "object" {
		if f.dynamic != "" {
			out["dynamic"] = f.dynamic
		}
		if len(f.props) > 0 {
			out["properties"] = renderProps(f.props)
		} else {
			out["type"] = "object"
		}
		return out
	}
	out["type"] = f.typ
	if len(f.fields) > 0 {
		out["fields"] = renderProps(f.fields)
	}
	return out
}

func (f *field) clone() *field {
	c := &field{typ: f.typ, params: maps.Clone(f.params), dynamic: f.dynamic}
	if f.fields != nil {
		c.fields = cloneProps(f.fields)
	}
	if f.props != nil {
		c.props = cloneProps(f.props)
	}
	return c
}

func cloneProps(p map[string]*field) map[string]*field {
	out := make(map[string]*field, len(p))
	for k, f := range p {
		out[k] = f.clone()
	}
	return out
}

func (m *mapping) clone() *mapping {
	c := *m
	c.templates = slices.Clone(m.templates)
	c.props = cloneProps(m.props)
	return &c
}

// countFields counts mapped fields the way the total_fields limit does:
// objects and multi-fields count too.
func countFields(props map[string]*field) int {
	n := 0
	for _, f := range props {
		n++
		n += countFields(f.props)
		n += countFields(f.fields)
	}
	return n
}

// merge applies an update (PUT _mapping) to m in place; callers pass a clone.
func (m *mapping) merge(u *mapping, explicitDynamic bool) *esError {
	if explicitDynamic {
		m.dynamic = u.dynamic
	}
	m.dateDetection, m.numericDetection = u.dateDetection, u.numericDetection
	if u.meta != nil {
		m.meta = u.meta
	}
	for _, pair := range [][2]any{{m.source, u.source}, {m.routing, u.routing}} {
		if pair[1] != nil && pair[0] != nil && !reflect.DeepEqual(pair[0], pair[1]) {
			return illegalArgument("Mapper for [_source] conflicts with existing mapper")
		}
	}
	if u.source != nil {
		m.source = u.source
	}
	if u.routing != nil {
		m.routing = u.routing
	}
	for _, t := range u.templates {
		i := slices.IndexFunc(m.templates, func(o *dynTemplate) bool { return o.name == t.name })
		if i >= 0 {
			m.templates[i] = t
		} else {
			m.templates = append(m.templates, t)
		}
	}
	return mergeProps(m.props, u.props, "")
}

func mergeProps(dst, src map[string]*field, path string) *esError {
	for _, name := range sortedKeys(src) {
		nf := src[name]
		of, ok := dst[name]
		if !ok {
			dst[name] = nf
			continue
		}
		if err := mergeField(of, nf, path+name); err != nil {
			return err
		}
	}
	return nil
}

func mergeField(of, nf *field, path string) *esError {
	if of.typ != nf.typ {
		return illegalArgument("mapper [" + path + "] cannot be changed from type [" + of.typ + "] to [" + nf.typ + "]")
	}
	keys := map[string]bool{}
	for k := range of.params {
		keys[k] = true
	}
	for k := range nf.params {
		keys[k] = true
	}
	var conflicts []string
	for _, k := range sortedKeys(keys) {
		ov, oOK := of.params[k]
		nv, nOK := nf.params[k]
		if updatable[k] {
			if nOK {
				of.params[k] = nv
			}
			continue
		}
		if oOK != nOK || !reflect.DeepEqual(ov, nv) {
			conflicts = append(conflicts, fmt.Sprintf("Cannot update parameter [%s] from [%v] to [%v]", k, orDefault(ov, oOK), orDefault(nv, nOK)))
		}
	}
	if len(conflicts) > 0 {
		return illegalArgument("Mapper for [" + path + "] conflicts with existing mapper:\n\t" + strings.Join(conflicts, "\n\t"))
	}
	if nf.dynamic != "" {
		of.dynamic = nf.dynamic
	}
	if of.typ == "object" {
		return mergeProps(of.props, nf.props, path+".")
	}
	if len(nf.fields) > 0 {
		if of.fields == nil {
			of.fields = map[string]*field{}
		}
		return mergeProps(of.fields, nf.fields, path+".")
	}
	return nil
}

func orDefault(v any, ok bool) any {
	if !ok {
		return "default"
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
