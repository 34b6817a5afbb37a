package esfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
)

// Composable index templates (PUT/GET/DELETE /_index_template/<name>), as
// Elasticsearch 8 applies them: when an index is created, explicitly or by
// a bulk auto-create, the matching template with the highest priority
// gives its settings and mappings; the request's own mappings and settings
// are merged over them. Two templates with overlapping patterns and the
// same priority are refused, as Elasticsearch refuses them. A template
// with a "data_stream" object makes data streams (datastreams.go): it can
// carry a lifecycle (8.11 and later) and index.mode time_series (8.7 and
// later in the fake).

// Endpoint names of the template API.
const (
	EndpointPutTemplate    = "indices.put_index_template"
	EndpointGetTemplate    = "indices.get_index_template"
	EndpointDeleteTemplate = "indices.delete_index_template"
)

type indexTemplate struct {
	name     string
	patterns []string
	priority int64
	settings map[string]any
	mappings json.RawMessage // the template.mappings object, or nil
	body     json.RawMessage // as put, for GET

	dataStream bool
	lifecycle  *dsLifecycle // template.lifecycle, or nil
}

func init() {
	endpointParams[EndpointPutTemplate] = []string{"create", "master_timeout", "cause"}
	endpointParams[EndpointGetTemplate] = []string{"local", "flat_settings", "master_timeout", "include_defaults"}
	endpointParams[EndpointDeleteTemplate] = []string{"master_timeout", "timeout"}
}

// parseTemplate validates a PUT /_index_template body.
func (s *Server) parseIndexTemplate(name string, body []byte) (*indexTemplate, *esError) {
	if name == "" || strings.ContainsAny(name, ` ,"*\/<>|?#`) || strings.HasPrefix(name, "_") || name != strings.ToLower(name) {
		return nil, newError(http.StatusBadRequest, "invalid_index_template_exception", "index_template ["+name+"] invalid, cause [name must be lowercase and must not contain spaces, commas, wildcards or start with '_']")
	}
	root, err := parseJSON(body)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error())
	}
	if root.kind != kObject {
		return nil, newError(http.StatusBadRequest, "parse_exception", "request body is required to be an object")
	}
	t := &indexTemplate{name: name, body: json.RawMessage(bytes.Clone(body))}
	for i, k := range root.keys {
		v := root.vals[i].value()
		switch k {
		case "index_patterns":
			switch p := v.(type) {
			case string:
				t.patterns = []string{p}
			case []any:
				for _, e := range p {
					s, ok := e.(string)
					if !ok {
						return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[index_template] failed to parse field [index_patterns]")
					}
					t.patterns = append(t.patterns, s)
				}
			default:
				return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[index_template] failed to parse field [index_patterns]")
			}
		case "priority":
			n, ok := v.(json.Number)
			f, err := n.Int64()
			if !ok || err != nil || f < 0 {
				return nil, newError(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index template priority must be >= 0;")
			}
			t.priority = f
		case "template":
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[index_template] failed to parse field [template]")
			}
			for tk, tv := range obj {
				switch tk {
				case "settings":
					so, ok := tv.(map[string]any)
					if !ok {
						return nil, newError(http.StatusBadRequest, "settings_exception", "Failed to load settings from "+fmt.Sprint(tv))
					}
					t.settings = map[string]any{}
					flattenSettings("", so, t.settings)
				case "mappings":
					b, _ := json.Marshal(tv)
					if _, e := parseRootMapping(tv); e != nil {
						return nil, e
					}
					t.mappings = b
				case "aliases":
					if ao, ok := tv.(map[string]any); !ok || len(ao) > 0 {
						return nil, illegalArgument("esfake: aliases are not supported by the fake")
					}
				case "lifecycle":
					if !s.versionAtLeast(8, 11) {
						return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[template] unknown field ["+tk+"]")
					}
					lc, e := parseLifecycleObject(tv)
					if e != nil {
						return nil, e
					}
					t.lifecycle = lc
				default:
					return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[template] unknown field ["+tk+"]")
				}
			}
		case "_meta", "version":
		case "composed_of":
			if l, ok := v.([]any); !ok || len(l) > 0 {
				return nil, illegalArgument("esfake: component templates are not supported by the fake")
			}
		case "data_stream":
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[index_template] failed to parse field [data_stream]")
			}
			for dk, dv := range obj {
				switch dk {
				case "hidden":
					if dv != false {
						return nil, illegalArgument("esfake: hidden data streams are not modelled by the fake")
					}
				case "allow_custom_routing":
					if dv != false {
						return nil, illegalArgument("esfake: custom routing is not modelled by the fake")
					}
				default:
					return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[data_stream_template] unknown field ["+dk+"]")
				}
			}
			t.dataStream = true
		default:
			return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[index_template] unknown field ["+k+"]")
		}
	}
	if len(t.patterns) == 0 {
		return nil, newError(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
	}
	for _, p := range t.patterns {
		if strings.ContainsAny(p, ` ,"\/<>|?#`) || strings.HasPrefix(p, "_") {
			return nil, newError(http.StatusBadRequest, "invalid_index_template_exception", "index_template ["+name+"] invalid, cause [index_pattern ["+p+"] must not contain a space, comma, quote, slash, <, >, |, ? or #, nor start with '_']")
		}
	}
	if t.lifecycle != nil && !t.dataStream {
		return nil, illegalArgument("index template [" + name + "] specifies lifecycle configuration that can only be used in combination with a data stream")
	}
	if e := s.checkTimeSeriesTemplate(t); e != nil {
		return nil, e
	}
	return t, nil
}

// patternsOverlap reports whether some index name could match both
// patterns (approximated: one matches the other as a literal).
func patternsOverlap(a, b string) bool {
	if a == b {
		return true
	}
	ma, _ := path.Match(a, strings.ReplaceAll(b, "*", ""))
	mb, _ := path.Match(b, strings.ReplaceAll(a, "*", ""))
	return ma || mb
}

func (s *Server) putTemplate(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	t, e := s.parseIndexTemplate(name, body)
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.templates[name]; exists && r.URL.Query().Get("create") == "true" {
		writeError(w, illegalArgument("index template ["+name+"] already exists"))
		return
	}
	for _, ds := range s.dataStreams {
		if ds.template != name {
			continue
		}
		matches := slices.ContainsFunc(t.patterns, func(p string) bool { ok, _ := path.Match(p, ds.name); return ok })
		switch {
		case !t.dataStream:
			writeError(w, illegalArgument(fmt.Sprintf("composable template [%s] with index patterns %v, priority [%d] and no data stream configuration would cause data streams [%s] to no longer match a data stream template", name, t.patterns, t.priority, ds.name)))
			return
		case !matches:
			writeError(w, illegalArgument(fmt.Sprintf("composable template [%s] with index patterns %v, priority [%d] would cause data streams [%s] to no longer match a data stream template", name, t.patterns, t.priority, ds.name)))
			return
		}
	}
	for _, o := range s.templates {
		if o.name == name || o.priority != t.priority {
			continue
		}
		for _, p := range t.patterns {
			for _, q := range o.patterns {
				if patternsOverlap(p, q) {
					writeError(w, illegalArgument(fmt.Sprintf("index template [%s] has index patterns %v matching patterns from existing templates [%s] with patterns (%s => %v) that have the same priority [%d], multiple index templates may not match during index creation, please use a different priority", name, t.patterns, o.name, o.name, o.patterns, t.priority)))
					return
				}
			}
		}
	}
	s.templates[name] = t
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) getTemplate(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.templates {
		if name == "" || n == name {
			names = append(names, n)
		}
	}
	if name != "" && len(names) == 0 {
		writeError(w, newError(http.StatusNotFound, "resource_not_found_exception", "index template matching ["+name+"] not found"))
		return
	}
	sort.Strings(names)
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		var body any
		_ = json.Unmarshal(s.templates[n].body, &body)
		out = append(out, map[string]any{"name": n, "index_template": body})
	}
	writeJSON(w, http.StatusOK, map[string]any{"index_templates": out})
}

func (s *Server) deleteTemplate(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.templates[name]; !ok {
		writeError(w, newError(http.StatusNotFound, "resource_not_found_exception", "index_template ["+name+"] missing"))
		return
	}
	var using []string
	for _, ds := range s.dataStreams {
		if ds.template == name {
			using = append(using, ds.name)
		}
	}
	if len(using) > 0 {
		sort.Strings(using)
		writeError(w, illegalArgument("unable to remove composable templates ["+name+"] as they are in use by a data streams ["+strings.Join(using, ", ")+"]"))
		return
	}
	delete(s.templates, name)
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

// templateForLocked is the matching template of highest priority for an
// index name, or nil.
func (s *Server) templateForLocked(index string) *indexTemplate {
	var best *indexTemplate
	for _, t := range s.templates {
		if !slices.ContainsFunc(t.patterns, func(p string) bool { ok, _ := path.Match(p, index); return ok }) {
			continue
		}
		if best == nil || t.priority > best.priority {
			best = t
		}
	}
	return best
}

// Templates returns the names of the installed index templates, sorted.
func (s *Server) Templates() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.templates {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Template returns the body an index template was put with (nil when there
// is none).
func (s *Server) Template(name string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.templates[name]; t != nil {
		return slices.Clone(t.body)
	}
	return nil
}

// DeleteIndex deletes an index directly (not counted as a request), as
// DELETE /<index> would; it reports whether the index existed.
func (s *Server) DeleteIndex(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.indices[name]
	delete(s.indices, name)
	return ok
}

// applyTemplate merges a create-index body over a template: settings key by
// key, mappings with the request's top-level keys and properties winning.
func applyTemplate(t *indexTemplate, body []byte) ([]byte, *esError) {
	req := map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error())
		}
	}
	out := map[string]any{}
	for k, v := range req {
		out[k] = v
	}
	if len(t.settings) > 0 {
		settings := map[string]any{}
		for k, v := range t.settings {
			settings[k] = v
		}
		if rs, ok := req["settings"].(map[string]any); ok {
			flat := map[string]any{}
			flattenSettings("", rs, flat)
			for k, v := range flat {
				settings[k] = v
			}
		}
		out["settings"] = settings
	}
	if t.mappings != nil {
		var tm map[string]any
		_ = json.Unmarshal(t.mappings, &tm)
		if rm, ok := req["mappings"].(map[string]any); ok {
			for k, v := range rm {
				if k == "properties" {
					props, _ := tm["properties"].(map[string]any)
					if props == nil {
						props = map[string]any{}
					}
					if rp, ok := v.(map[string]any); ok {
						for f, fv := range rp {
							props[f] = fv
						}
					}
					tm["properties"] = props
					continue
				}
				tm[k] = v
			}
		}
		out["mappings"] = tm
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error())
	}
	return b, nil
}
