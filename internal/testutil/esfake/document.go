package esfake

import (
	"math"
	"math/big"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// defaultFieldLimit is index.mapping.total_fields.limit's default.
const defaultFieldLimit = 1000

// docParser checks one document against an index mapping, collecting the
// fields dynamic mapping would add; they are committed only when the whole
// document is accepted, as Elasticsearch does.
type docParser struct {
	m       *mapping
	limit   int
	id      string
	src     []byte
	pending map[string]*field
	adds    []addition
	added   int
}

type addition struct {
	into map[string]*field
	name string
	f    *field
}

func docParsing(reason string) *esError {
	return newError(http.StatusBadRequest, "document_parsing_exception", reason)
}

// parseDoc validates src for the mapping m and returns the dynamic additions.
func parseDoc(m *mapping, limit int, id string, src []byte) ([]addition, *esError) {
	root, err := parseJSON(src)
	if err != nil {
		je := err.(*jsonError)
		return nil, docParsing("[" + je.pos + "] failed to parse: " + je.msg)
	}
	if root.kind != kObject {
		return nil, docParsing("[1:1] failed to parse: Malformed content, must start with an object, but found [" + root.kind.token() + "]")
	}
	p := &docParser{m: m, limit: limit, id: id, src: src, pending: map[string]*field{}}
	if e := p.object(root, "", m.props, m.dynamic); e != nil {
		return nil, e
	}
	if p.added > 0 {
		if total := countFields(m.props) + p.added; total > limit {
			why := "Limit of total fields [" + strconv.Itoa(limit) + "] has been exceeded while adding new fields [" + strconv.Itoa(p.added) + "]"
			return nil, docParsing("[" + p.pos(root) + "] failed to parse: " + why).causedBy(illegalArgument(why))
		}
	}
	return p.adds, nil
}

// commit applies the additions of an accepted document.
func commit(adds []addition) {
	for _, a := range adds {
		a.into[a.name] = a.f
	}
}

func (p *docParser) pos(n *node) string { return position(p.src, n.end) }

func (p *docParser) object(n *node, path string, props map[string]*field, dynamic string) *esError {
	for i, key := range n.keys {
		val := n.vals[i]
		if strings.Contains(key, ".") {
			segs := strings.Split(key, ".")
			for _, s := range segs {
				if strings.TrimSpace(s) == "" {
					return docParsing("[" + p.pos(val) + "] failed to parse: field name cannot contain only whitespace: ['" + key + "']")
				}
			}
			// a.b.c: v is {"a":{"b":{"c":v}}}.
			for j := len(segs) - 1; j > 0; j-- {
				val = &node{kind: kObject, keys: []string{segs[j]}, vals: []*node{val}, end: val.end}
			}
			key = segs[0]
		}
		if strings.TrimSpace(key) == "" {
			return docParsing("[" + p.pos(val) + "] failed to parse: field name cannot contain only whitespace: ['" + key + "']")
		}
		if e := p.value(key, path, val, props, dynamic); e != nil {
			return e
		}
	}
	return nil
}

func (p *docParser) value(name, path string, val *node, props map[string]*field, dynamic string) *esError {
	full := path + name
	f := props[name]
	if f == nil {
		f = p.pending[full]
	}
	if f == nil {
		sample := firstValue(val)
		if sample == nil {
			return nil // null or empty array: no mapping
		}
		switch dynamic {
		case "strict":
			within := strings.TrimSuffix(path, ".")
			if within == "" {
				within = "_doc"
			}
			return newError(http.StatusBadRequest, "strict_dynamic_mapping_exception",
				"["+p.pos(val)+"] mapping set to strict, dynamic introduction of ["+name+"] within ["+within+"] is not allowed")
		case "false":
			return nil
		}
		var e *esError
		if f, e = p.dynamicField(name, full, sample); e != nil {
			return e
		}
		p.pending[full] = f
		p.adds = append(p.adds, addition{into: props, name: name, f: f})
		p.added += 1 + countFields(f.fields)
	}
	return p.check(f, full, name, val, dynamic)
}

func firstValue(n *node) *node {
	switch n.kind {
	case kNull:
		return nil
	case kArray:
		for _, v := range n.vals {
			if s := firstValue(v); s != nil {
				return s
			}
		}
		return nil
	}
	return n
}

func isIntegral(lit string) bool { return !strings.ContainsAny(lit, ".eE") }

func (p *docParser) dynamicField(name, full string, sample *node) (*field, *esError) {
	var mmt, dynType string
	switch sample.kind {
	case kString:
		mmt, dynType = "string", "text"
		if p.m.dateDetection && detectDate(sample.s) {
			mmt, dynType = "date", "date"
		} else if p.m.numericDetection {
			if _, err := strconv.ParseInt(sample.s, 10, 64); err == nil {
				mmt, dynType = "long", "long"
			} else if _, err := strconv.ParseFloat(sample.s, 64); err == nil {
				mmt, dynType = "double", "float"
			}
		}
	case kNumber:
		mmt, dynType = "double", "float"
		if isIntegral(sample.s) {
			mmt, dynType = "long", "long"
		}
	case kBool:
		mmt, dynType = "boolean", "boolean"
	case kObject:
		mmt, dynType = "object", "object"
	}
	for _, t := range p.m.templates {
		if !t.matches(name, full, mmt) {
			continue
		}
		f, e := t.fieldFor(name, dynType)
		if e != nil {
			return nil, docParsing("[" + p.pos(sample) + "] failed to parse: dynamic template [" + t.name + "]: " + e.reason)
		}
		return f, nil
	}
	switch dynType {
	case "text":
		return &field{typ: "text", params: map[string]any{}, fields: map[string]*field{
			"keyword": {typ: "keyword", params: map[string]any{"ignore_above": 256}},
		}}, nil
	case "object":
		return &field{typ: "object", params: map[string]any{}, props: map[string]*field{}}, nil
	}
	return &field{typ: dynType, params: map[string]any{}}, nil
}

func (p *docParser) check(f *field, full, name string, val *node, dynamic string) *esError {
	switch val.kind {
	case kNull:
		return nil
	case kArray:
		for _, v := range val.vals {
			if e := p.check(f, full, name, v, dynamic); e != nil {
				return e
			}
		}
		return nil
	}
	if f.typ == "object" {
		if f.params["enabled"] == false || f.params["enabled"] == "false" {
			return nil
		}
		if val.kind != kObject {
			return docParsing("[" + p.pos(val) + "] object mapping for [" + full + "] tried to parse field [" + name + "] as object, but found a concrete value")
		}
		d := f.dynamic
		if d == "" {
			d = dynamic
		}
		return p.object(val, full+".", f.props, d)
	}
	var cause *esError
	if val.kind == kObject {
		cause = newError(http.StatusBadRequest, "illegal_state_exception", "Can't get text on a START_OBJECT at "+p.pos(val))
	} else if cause = checkLeaf(f, val); cause != nil && isTrue(f.params["ignore_malformed"]) {
		cause = nil
	}
	if cause != nil {
		return docParsing("[" + p.pos(val) + "] failed to parse field [" + full + "] of type [" + f.typ + "] in document with id '" +
			p.id + "'. Preview of field's value: '" + val.preview() + "'").causedBy(cause)
	}
	for _, sub := range sortedKeys(f.fields) {
		if e := p.check(f.fields[sub], full+"."+sub, sub, val, dynamic); e != nil {
			return e
		}
	}
	return nil
}

func isTrue(v any) bool  { return v == true || v == "true" }
func isFalse(v any) bool { return v == false || v == "false" }

var intRanges = map[string]struct {
	min, max int64
	article  string
}{
	"long":    {math.MinInt64, math.MaxInt64, "a long"},
	"integer": {math.MinInt32, math.MaxInt32, "an integer"},
	"short":   {math.MinInt16, math.MaxInt16, "a short"},
	"byte":    {math.MinInt8, math.MaxInt8, "a byte"},
}

var floatMax = map[string]float64{"float": math.MaxFloat32, "half_float": 65504, "double": math.MaxFloat64, "scaled_float": math.MaxFloat64}

func numericChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}
	return true
}

// checkLeaf returns the cause when val cannot be indexed into f.
func checkLeaf(f *field, val *node) *esError {
	ill := illegalArgument
	if val.kind == kBool && f.typ != "boolean" && f.typ != "keyword" && f.typ != "text" {
		return ill("Current token (VALUE_" + strings.ToUpper(strconv.FormatBool(val.b)) + ") not numeric, can not use numeric value accessors")
	}
	coerce := !isFalse(f.params["coerce"])
	switch {
	case intRanges[f.typ].article != "":
		r := intRanges[f.typ]
		lit := val.s
		if val.kind == kString {
			if !coerce {
				return ill("Value [" + lit + "] is a string and [coerce] is disabled")
			}
			if !numericChars(strings.TrimSpace(lit)) {
				return newError(http.StatusBadRequest, "number_format_exception", "For input string: \""+lit+"\"")
			}
			lit = strings.TrimSpace(lit)
		}
		x, _, err := big.ParseFloat(lit, 10, 256, big.ToZero)
		if err != nil {
			return newError(http.StatusBadRequest, "number_format_exception", "For input string: \""+lit+"\"")
		}
		if !x.IsInt() && !coerce {
			return ill("Value [" + lit + "] has a decimal part")
		}
		// Truncation keeps x in range iff min-1 < x < max+1; compare as
		// floats (x.Int of 1e999999999 would build a gigantic integer).
		lo := new(big.Float).SetPrec(256).SetInt64(r.min)
		lo.Sub(lo, big.NewFloat(1))
		hi := new(big.Float).SetPrec(256).SetInt64(r.max)
		hi.Add(hi, big.NewFloat(1))
		if x.Cmp(lo) <= 0 || x.Cmp(hi) >= 0 {
			return ill("Value [" + lit + "] is out of range for " + r.article)
		}
	case floatMax[f.typ] > 0:
		lit := val.s
		if val.kind == kString {
			if !coerce {
				return ill("Value [" + lit + "] is a string and [coerce] is disabled")
			}
			t := strings.TrimSpace(lit)
			if !numericChars(t) && t != "NaN" && t != "Infinity" && t != "-Infinity" {
				return newError(http.StatusBadRequest, "number_format_exception", "For input string: \""+lit+"\"")
			}
			lit = strings.Replace(t, "Infinity", "Inf", 1)
		}
		v, err := strconv.ParseFloat(lit, 64)
		if err != nil && !strings.Contains(err.Error(), "out of range") {
			return newError(http.StatusBadRequest, "number_format_exception", "For input string: \""+val.s+"\"")
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > floatMax[f.typ] {
			return ill("[" + f.typ + "] supports only finite values, but got [" + val.s + "]")
		}
	case f.typ == "keyword" || f.typ == "text":
		// strings, numbers and booleans are indexed as their text
	case f.typ == "boolean":
		if val.kind == kBool || (val.kind == kString && (val.s == "true" || val.s == "false" || val.s == "")) {
			return nil
		}
		return ill("Failed to parse value [" + val.preview() + "] as only [true] or [false] are allowed.")
	case f.typ == "date":
		format, _ := f.params["format"].(string)
		if format == "" {
			format = defaultDateFormat
		}
		ok := false
		switch val.kind {
		case kString:
			ok = parseDate(format, val.s)
		case kNumber:
			ok = (strings.Contains(format, "epoch_millis") || strings.Contains(format, "epoch_second")) && isEpoch(val.s)
		}
		if !ok {
			return ill("failed to parse date field [" + val.preview() + "] with format [" + format + "]")
		}
	case f.typ == "ip":
		if val.kind != kString {
			return ill("'" + val.preview() + "' is not an IP string literal.")
		}
		if _, err := netip.ParseAddr(val.s); err != nil {
			return ill("'" + val.s + "' is not an IP string literal.")
		}
	}
	return nil
}
