package esfake

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Data streams, as Elasticsearch 8 runs them: a composable template with a
// data_stream object lets PUT /_data_stream/<name> (or a bulk create that
// auto-creates) make a stream whose backing indices are
// .ds-<name>-<yyyy.MM.dd>-<generation>. A stream takes only "create" ops;
// its documents need @timestamp. A template in use by a stream cannot be
// deleted nor lose its data_stream object. The data stream lifecycle
// (template.lifecycle, PUT /_data_stream/<name>/_lifecycle) exists from
// 8.11; retention is recorded, not executed.
//
// Time series data streams (index.mode: time_series, 8.7 and later in the
// fake): every backing index accepts @timestamp in [start_time, end_time);
// the first one spans now - index.look_back_time (2h) to now +
// index.look_ahead_time (30m), and the write index's end moves forward
// with the clock as Elasticsearch's periodic update does. A document
// outside every backing index's range is refused with the
// illegal_argument_exception Elasticsearch gives. _id is derived from the
// dimensions (the fields mapped time_series_dimension) and @timestamp; a
// document that names another _id is refused.

// Endpoint names of the data stream and ILM APIs, as counted by Requests.
const (
	EndpointGetDataStream    = "indices.get_data_stream"
	EndpointPutDataStream    = "indices.create_data_stream"
	EndpointDeleteDataStream = "indices.delete_data_stream"
	EndpointPutLifecycle     = "indices.put_data_lifecycle"
	EndpointGetPolicy        = "ilm.get_lifecycle"
	EndpointPutPolicy        = "ilm.put_lifecycle"
	EndpointDeletePolicy     = "ilm.delete_lifecycle"
)

// TSDS defaults of index.look_back_time and index.look_ahead_time.
const (
	DefaultLookBack  = 2 * time.Hour
	DefaultLookAhead = 30 * time.Minute
)

func init() {
	endpointParams[EndpointGetDataStream] = []string{"expand_wildcards", "include_defaults", "master_timeout", "verbose"}
	endpointParams[EndpointPutDataStream] = []string{"master_timeout", "timeout"}
	endpointParams[EndpointDeleteDataStream] = []string{"expand_wildcards", "master_timeout"}
	endpointParams[EndpointPutLifecycle] = []string{"expand_wildcards", "master_timeout", "timeout"}
	endpointParams[EndpointGetPolicy] = []string{"master_timeout", "timeout"}
	endpointParams[EndpointPutPolicy] = []string{"master_timeout", "timeout"}
	endpointParams[EndpointDeletePolicy] = []string{"master_timeout", "timeout"}
}

// WithClock sets the fake's clock (time.Now by default): backing index
// dates and TSDS time bounds follow it.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

type dataStream struct {
	name       string
	template   string
	indices    []string // oldest first; the last is the write index
	generation int
	lifecycle  *dsLifecycle
	ilmPolicy  string
	tsds       bool
}

type dsLifecycle struct {
	retention string // "" keeps data forever
}

type ilmPolicy struct {
	name     string
	version  int
	modified time.Time
	policy   map[string]any // as rendered by GET
}

// versionAtLeast compares the reported version with major.minor.
func (s *Server) versionAtLeast(major, minor int) bool {
	parts := strings.SplitN(s.version, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}

func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now().UTC()
	}
	return time.Now().UTC()
}

// parseTimeValue reads an Elasticsearch time value (30d, 12h, 0ms, 1.5h is
// refused as fractional).
func parseTimeValue(v string) (time.Duration, bool) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok || num == "" {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return 0, false
		}
		return time.Duration(n) * u.d, true
	}
	return 0, v == "-1" || v == "0"
}

// parseByteSize reads an Elasticsearch byte size (50gb, 10mb, 1024b).
func parseByteSize(v string) bool {
	v = strings.ToLower(v)
	for _, suf := range []string{"pb", "tb", "gb", "mb", "kb", "b"} {
		if num, ok := strings.CutSuffix(v, suf); ok && num != "" {
			_, err := strconv.ParseFloat(num, 64)
			return err == nil
		}
	}
	return false
}

func (ix *index) setting(key string) string {
	if v, ok := ix.settings[key]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

// backingName is the name of a stream's backing index of generation gen.
func backingName(stream string, at time.Time, gen int) string {
	return fmt.Sprintf(".ds-%s-%s-%06d", stream, at.Format("2006.01.02"), gen)
}

// createDataStreamLocked creates a stream and its first backing index.
func (s *Server) createDataStreamLocked(name string) *esError {
	if e := validateIndexName(name); e != nil {
		return e
	}
	if strings.HasPrefix(name, ".ds-") {
		return illegalArgument("data_stream [" + name + "] must not start with '.ds-'")
	}
	if _, ok := s.dataStreams[name]; ok {
		return newError(http.StatusBadRequest, "resource_already_exists_exception", "data_stream ["+name+"] already exists")
	}
	if ix, ok := s.indices[name]; ok {
		return newError(http.StatusBadRequest, "resource_already_exists_exception", "index ["+name+"/"+ix.uuid+"] already exists").with("index", name)
	}
	t := s.templateForLocked(name)
	if t == nil {
		return illegalArgument("no matching index template found for data stream [" + name + "]")
	}
	if !t.dataStream {
		return illegalArgument("matching index template [" + t.name + "] for data stream [" + name + "] has no data stream template")
	}
	ds := &dataStream{name: name, template: t.name, generation: 1}
	if t.lifecycle != nil {
		ds.lifecycle = &dsLifecycle{retention: t.lifecycle.retention}
	}
	if p, ok := t.settings["index.lifecycle.name"]; ok {
		ds.ilmPolicy = fmt.Sprint(p)
	}
	now := s.clock()
	backing := backingName(name, now, 1)
	if e := s.createBackingLocked(ds, t, backing, time.Time{}); e != nil {
		return e
	}
	ds.indices = []string{backing}
	ds.tsds = s.indices[backing].tsds
	s.dataStreams[name] = ds
	return nil
}

// createBackingLocked creates a backing index of ds from template t; a
// TSDS index starts at start (zero: now - look_back_time).
func (s *Server) createBackingLocked(ds *dataStream, t *indexTemplate, backing string, start time.Time) *esError {
	if e := s.createIndexFrom(backing, nil, createBacking, t); e != nil {
		return e
	}
	ix := s.indices[backing]
	ix.dataStream = ds.name
	if ix.m.props["@timestamp"] == nil {
		ix.m.props["@timestamp"] = &field{typ: "date", params: map[string]any{}}
	}
	if ix.setting("index.mode") == "time_series" {
		ix.tsds = true
		now := s.clock()
		back, ahead := DefaultLookBack, DefaultLookAhead
		if d, ok := parseTimeValue(ix.setting("index.look_back_time")); ok && ix.setting("index.look_back_time") != "" {
			back = d
		}
		if d, ok := parseTimeValue(ix.setting("index.look_ahead_time")); ok && ix.setting("index.look_ahead_time") != "" {
			ahead = d
		}
		ix.lookAhead = ahead
		if start.IsZero() {
			start = now.Add(-back)
		}
		ix.start, ix.end = start.Truncate(time.Second), now.Add(ahead).Truncate(time.Second)
		if !ix.end.After(ix.start) {
			ix.end = ix.start.Add(ahead)
		}
		ix.settings["index.time_series.start_time"] = ix.start.Format(time.RFC3339Nano)
		ix.settings["index.time_series.end_time"] = ix.end.Format(time.RFC3339Nano)
	}
	return nil
}

// tsdsChecks validates a time series template at PUT time.
func (s *Server) checkTimeSeriesTemplate(t *indexTemplate) *esError {
	if fmt.Sprint(t.settings["index.mode"]) != "time_series" {
		if t.settings["index.mode"] != nil && fmt.Sprint(t.settings["index.mode"]) != "standard" {
			return illegalArgument("esfake: index.mode [" + fmt.Sprint(t.settings["index.mode"]) + "] is not supported by the fake")
		}
		return nil
	}
	if !s.versionAtLeast(8, 7) {
		return illegalArgument("esfake: index.mode [time_series] needs Elasticsearch 8.7 or later in the fake (reported version " + s.version + ")")
	}
	if !t.dataStream {
		return illegalArgument("esfake: index.mode [time_series] is only modelled for data stream templates")
	}
	var m *mapping
	if t.mappings != nil {
		var v any
		_ = json.Unmarshal(t.mappings, &v)
		m, _ = parseRootMapping(v)
	}
	dims := dimensions(m)
	var routing []string
	switch r := t.settings["index.routing_path"].(type) {
	case nil:
	case string:
		routing = strings.Split(r, ",")
	case []any:
		for _, e := range r {
			routing = append(routing, fmt.Sprint(e))
		}
	}
	if len(routing) == 0 && len(dims) == 0 {
		return illegalArgument("[index.mode=time_series] requires a non-empty [index.routing_path]")
	}
	for _, p := range routing {
		if !slices.Contains(dims, p) {
			return illegalArgument("All fields that match routing_path must be configured with [time_series_dimension: true] or flattened fields with a list of dimensions in [time_series_dimensions] and without the [script] parameter. [" + p + "] was not a dimension.")
		}
	}
	return nil
}

// dimensions lists the top-level fields mapped time_series_dimension.
func dimensions(m *mapping) []string {
	if m == nil {
		return nil
	}
	var out []string
	for name, f := range m.props {
		if isTrue(f.params["time_series_dimension"]) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// resolveStreamItem picks the backing index a bulk "create" into ds goes
// to and, for a TSDS, the _id Elasticsearch derives.
func (s *Server) resolveStreamItem(ds *dataStream, a *bulkAction) (*index, *esError) {
	if a.op != "create" {
		return nil, illegalArgument("only write ops with an op_type of create are allowed in data streams")
	}
	root, err := parseJSON(a.source)
	if err != nil || root.kind != kObject {
		// The document parser reports it with its position.
		return s.indices[ds.indices[len(ds.indices)-1]], nil
	}
	tsNode := root.get("@timestamp")
	if tsNode == nil {
		return nil, docParsing("data stream timestamp field [@timestamp] is missing")
	}
	if !ds.tsds {
		return s.indices[ds.indices[len(ds.indices)-1]], nil
	}
	var ts time.Time
	switch tsNode.kind {
	case kString:
		t, perr := time.Parse(time.RFC3339Nano, tsNode.s)
		switch {
		case perr != nil && parseDate("strict_date_optional_time", tsNode.s):
			return nil, illegalArgument("esfake: a TSDS @timestamp other than RFC 3339 or epoch millis is not supported by the fake")
		case perr != nil:
			return nil, docParsing("failed to parse date field [" + tsNode.s + "] with format [strict_date_optional_time||epoch_millis]")
		}
		ts = t.UTC()
	case kNumber:
		ms, perr := strconv.ParseInt(tsNode.s, 10, 64)
		if perr != nil {
			return nil, docParsing("failed to parse date field [" + tsNode.s + "] with format [strict_date_optional_time||epoch_millis]")
		}
		ts = time.UnixMilli(ms).UTC()
	default:
		return nil, docParsing("failed to parse field [@timestamp] of type [date]")
	}
	write := s.indices[ds.indices[len(ds.indices)-1]]
	if e := write.aheadOf(s.clock()); e.After(write.end) {
		write.end = e
		write.settings["index.time_series.end_time"] = e.Format(time.RFC3339Nano)
	}
	var target *index
	var ranges []string
	for _, name := range ds.indices {
		ix := s.indices[name]
		ranges = append(ranges, "["+ix.start.Format(dateMillis)+","+ix.end.Format(dateMillis)+"]")
		if !ts.Before(ix.start) && ts.Before(ix.end) {
			target = ix
		}
	}
	if target == nil {
		return nil, illegalArgument("the document timestamp [" + ts.Format(dateMillis) + "] is outside of ranges of currently writable indices [" + strings.Join(ranges, ",") + "]")
	}
	var dims []string
	for _, d := range dimensions(target.m) {
		if n := root.get(d); n != nil && n.kind != kNull {
			dims = append(dims, d+"="+n.s)
		}
	}
	if len(dims) == 0 {
		return nil, illegalArgument("Error extracting routing: source didn't contain any routing fields")
	}
	id := tsdsID(dims, ts)
	if a.hasID && a.id != id {
		return nil, illegalArgument("_id must be unset or set to [" + id + "] but was [" + a.id + "] because [" + target.name + "] is in time_series mode")
	}
	a.id, a.hasID = id, true
	return target, nil
}

const dateMillis = "2006-01-02T15:04:05.000Z"

// aheadOf is the end a TSDS write index has at t: t + look_ahead_time.
func (ix *index) aheadOf(t time.Time) time.Time { return t.Add(ix.lookAhead).Truncate(time.Second) }

// tsdsID derives a document _id from its dimensions and timestamp, as a
// TSDS does: the same series at the same instant has the same _id.
func tsdsID(dims []string, ts time.Time) string {
	sort.Strings(dims)
	h := sha256.Sum256([]byte(strings.Join(dims, "\x00")))
	b := make([]byte, 20)
	copy(b, h[:12])
	binary.BigEndian.PutUint64(b[12:], uint64(ts.UnixMilli()))
	return base64.RawURLEncoding.EncodeToString(b)
}

// renderDataStream is one entry of GET /_data_stream.
func (s *Server) renderDataStream(ds *dataStream) map[string]any {
	var idx []any
	for _, n := range ds.indices {
		ix := s.indices[n]
		e := map[string]any{"index_name": n, "index_uuid": ix.uuid, "prefer_ilm": true}
		switch {
		case ix.setting("index.lifecycle.name") != "":
			e["ilm_policy"] = ix.setting("index.lifecycle.name")
			e["managed_by"] = "Index Lifecycle Management"
		case ds.lifecycle != nil && s.versionAtLeast(8, 11):
			e["managed_by"] = "Data stream lifecycle"
		default:
			e["managed_by"] = "Unmanaged"
		}
		idx = append(idx, e)
	}
	out := map[string]any{
		"name":                 ds.name,
		"timestamp_field":      map[string]any{"name": "@timestamp"},
		"indices":              idx,
		"generation":           ds.generation,
		"status":               "YELLOW",
		"template":             ds.template,
		"hidden":               false,
		"system":               false,
		"allow_custom_routing": false,
		"replicated":           false,
		"rollover_on_write":    false,
	}
	if ds.ilmPolicy != "" {
		out["ilm_policy"] = ds.ilmPolicy
	}
	if ds.lifecycle != nil {
		lc := map[string]any{"enabled": true}
		if ds.lifecycle.retention != "" {
			lc["data_retention"] = ds.lifecycle.retention
		}
		out["lifecycle"] = lc
	}
	if ds.tsds {
		var ranges []any
		for _, n := range ds.indices {
			ix := s.indices[n]
			ranges = append(ranges, map[string]any{"start": ix.start.Format(dateMillis), "end": ix.end.Format(dateMillis)})
		}
		out["time_series"] = map[string]any{"temporal_ranges": ranges}
		out["index_mode"] = "time_series"
	}
	return out
}

func (s *Server) getDataStream(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.dataStreams {
		if name == "" || name == "*" || n == name {
			names = append(names, n)
		}
	}
	if name != "" && name != "*" && len(names) == 0 {
		writeError(w, indexNotFound(name))
		return
	}
	sort.Strings(names)
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, s.renderDataStream(s.dataStreams[n]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data_streams": out})
}

func (s *Server) putDataStream(w http.ResponseWriter, name string, body []byte) {
	if len(bytes.TrimSpace(body)) > 0 {
		writeError(w, illegalArgument("request [PUT /_data_stream/"+name+"] does not support having a body"))
		return
	}
	s.mu.Lock()
	e := s.createDataStreamLocked(name)
	s.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) deleteDataStream(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.deleteDataStreamLocked(name) {
		writeError(w, indexNotFound(name))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) deleteDataStreamLocked(name string) bool {
	ds, ok := s.dataStreams[name]
	if !ok {
		return false
	}
	for _, n := range ds.indices {
		delete(s.indices, n)
	}
	delete(s.dataStreams, name)
	return true
}

func (s *Server) putLifecycle(w http.ResponseWriter, name string, body []byte) {
	root, err := parseJSON(body)
	if len(body) == 0 {
		root, err = &node{kind: kObject}, nil
	}
	if err != nil {
		writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error()))
		return
	}
	if root.kind != kObject {
		writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", "[data_stream_lifecycle] failed to parse object"))
		return
	}
	lc := &dsLifecycle{}
	for i, k := range root.keys {
		v := root.vals[i]
		switch k {
		case "data_retention":
			if v.kind != kString {
				writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", "[data_stream_lifecycle] failed to parse field [data_retention]"))
				return
			}
			if _, ok := parseTimeValue(v.s); !ok {
				writeError(w, illegalArgument("failed to parse setting [data_retention] with value ["+v.s+"] as a time value: unit is missing or unrecognized"))
				return
			}
			lc.retention = v.s
		case "enabled":
			if v.kind != kBool || !v.b {
				writeError(w, illegalArgument("esfake: a disabled lifecycle is not modelled by the fake"))
				return
			}
		case "downsampling", "data_stream_options":
			writeError(w, illegalArgument("esfake: lifecycle ["+k+"] is not supported by the fake"))
			return
		default:
			writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", "[data_stream_lifecycle] unknown field ["+k+"]"))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.dataStreams[name]
	if ds == nil {
		writeError(w, indexNotFound(name))
		return
	}
	ds.lifecycle = lc
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

// parseLifecycleObject reads template.lifecycle.
func parseLifecycleObject(v any) (*dsLifecycle, *esError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[template] failed to parse field [lifecycle]")
	}
	lc := &dsLifecycle{}
	for k, val := range obj {
		switch k {
		case "data_retention":
			str, ok := val.(string)
			if _, valid := parseTimeValue(str); !ok || !valid {
				return nil, illegalArgument(fmt.Sprintf("failed to parse setting [data_retention] with value [%v] as a time value: unit is missing or unrecognized", val))
			}
			lc.retention = str
		case "enabled":
			if val != true {
				return nil, illegalArgument("esfake: a disabled lifecycle is not modelled by the fake")
			}
		default:
			return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[lifecycle] unknown field ["+k+"]")
		}
	}
	return lc, nil
}

// ILM policies.

var ilmPhaseActions = map[string][]string{
	"hot":    {"rollover", "set_priority", "forcemerge", "readonly", "shrink", "unfollow", "downsample", "searchable_snapshot"},
	"warm":   {"set_priority", "allocate", "migrate", "readonly", "forcemerge", "shrink", "unfollow", "downsample"},
	"cold":   {"set_priority", "allocate", "migrate", "readonly", "freeze", "unfollow", "downsample", "searchable_snapshot"},
	"frozen": {"searchable_snapshot", "unfollow"},
	"delete": {"wait_for_snapshot", "delete"},
}

var rolloverConditions = []string{"max_age", "max_docs", "max_size", "max_primary_shard_size", "max_primary_shard_docs",
	"min_age", "min_docs", "min_size", "min_primary_shard_size", "min_primary_shard_docs"}

// parsePolicy validates a PUT /_ilm/policy body and renders the policy as
// GET shows it (hot min_age 0ms, delete_searchable_snapshot added).
func parsePolicy(body []byte) (map[string]any, *esError) {
	parseErr := func(r string) *esError { return newError(http.StatusBadRequest, "x_content_parse_exception", r) }
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, parseErr("request body is required")
	}
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, parseErr(err.Error())
	}
	for k := range root {
		if k != "policy" {
			return nil, parseErr("[put_lifecycle_request] unknown field [" + k + "]")
		}
	}
	pol, ok := root["policy"].(map[string]any)
	if !ok {
		return nil, parseErr("[put_lifecycle_request] failed to parse field [policy]")
	}
	out := map[string]any{}
	for k, v := range pol {
		switch k {
		case "_meta":
			if _, ok := v.(map[string]any); !ok {
				return nil, parseErr("[lifecycle_policy] failed to parse field [_meta]")
			}
			out[k] = v
		case "phases":
		case "deprecated":
			out[k] = v
		default:
			return nil, parseErr("[lifecycle_policy] unknown field [" + k + "]")
		}
	}
	phases, ok := pol["phases"].(map[string]any)
	if !ok {
		return nil, parseErr("[lifecycle_policy] failed to parse field [phases]")
	}
	rendered := map[string]any{}
	for name, pv := range phases {
		allowed, known := ilmPhaseActions[name]
		if !known {
			return nil, illegalArgument("Lifecycle does not support phase [" + name + "]")
		}
		phase, ok := pv.(map[string]any)
		if !ok {
			return nil, parseErr("[phase] failed to parse object")
		}
		rp := map[string]any{"min_age": "0ms"}
		for pk, v := range phase {
			switch pk {
			case "min_age":
				str, _ := v.(string)
				if _, ok := parseTimeValue(str); !ok {
					return nil, illegalArgument(fmt.Sprintf("failed to parse setting [min_age] with value [%v] as a time value: unit is missing or unrecognized", v))
				}
				rp["min_age"] = str
			case "actions":
				acts, ok := v.(map[string]any)
				if !ok {
					return nil, parseErr("[phase] failed to parse field [actions]")
				}
				ra := map[string]any{}
				for an, av := range acts {
					if !slices.Contains(allowed, an) {
						return nil, illegalArgument("invalid action [" + an + "] defined in phase [" + name + "]")
					}
					opts, ok := av.(map[string]any)
					if !ok {
						return nil, parseErr("[" + an + "] failed to parse object")
					}
					switch an {
					case "rollover":
						hasMax := false
						for ck, cv := range opts {
							if !slices.Contains(rolloverConditions, ck) {
								return nil, parseErr("[rollover] unknown field [" + ck + "]")
							}
							str := fmt.Sprint(cv)
							switch {
							case strings.HasSuffix(ck, "_age"):
								if _, ok := parseTimeValue(str); !ok {
									return nil, illegalArgument("failed to parse setting [" + ck + "] with value [" + str + "] as a time value: unit is missing or unrecognized")
								}
							case strings.HasSuffix(ck, "_size"):
								if !parseByteSize(str) {
									return nil, newError(http.StatusBadRequest, "parse_exception", "failed to parse setting ["+ck+"] with value ["+str+"] as a size in bytes: unit is missing or unrecognized")
								}
							}
							hasMax = hasMax || strings.HasPrefix(ck, "max_")
						}
						if !hasMax {
							return nil, illegalArgument("At least one max_* rollover condition must be set.")
						}
						ra[an] = opts
					case "delete":
						for ck := range opts {
							if ck != "delete_searchable_snapshot" {
								return nil, parseErr("[delete] unknown field [" + ck + "]")
							}
						}
						d := map[string]any{"delete_searchable_snapshot": true}
						for ck, cv := range opts {
							d[ck] = cv
						}
						ra[an] = d
					default:
						ra[an] = opts
					}
				}
				rp["actions"] = ra
			default:
				return nil, parseErr("[phase] unknown field [" + pk + "]")
			}
		}
		if rp["actions"] == nil {
			rp["actions"] = map[string]any{}
		}
		rendered[name] = rp
	}
	out["phases"] = rendered
	return out, nil
}

func (s *Server) putPolicy(w http.ResponseWriter, name string, body []byte) {
	if name == "" || strings.ContainsAny(name, ` ,"*\/<>|?#`) || strings.HasPrefix(name, "_") {
		writeError(w, illegalArgument("invalid policy name ["+name+"]"))
		return
	}
	pol, e := parsePolicy(body)
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policies[name]
	if p == nil {
		p = &ilmPolicy{name: name}
		s.policies[name] = p
	}
	p.version++
	p.modified = s.clock()
	p.policy = pol
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) getPolicy(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.policies {
		if name == "" || n == name {
			names = append(names, n)
		}
	}
	if name != "" && len(names) == 0 {
		writeError(w, newError(http.StatusNotFound, "resource_not_found_exception", "Lifecycle policy not found: ["+name+"]"))
		return
	}
	out := map[string]any{}
	for _, n := range names {
		p := s.policies[n]
		var indices, streams, templates []string
		for _, ix := range s.indices {
			if ix.setting("index.lifecycle.name") == n {
				indices = append(indices, ix.name)
			}
		}
		for _, ds := range s.dataStreams {
			if ds.ilmPolicy == n {
				streams = append(streams, ds.name)
			}
		}
		for _, t := range s.templates {
			if fmt.Sprint(t.settings["index.lifecycle.name"]) == n {
				templates = append(templates, t.name)
			}
		}
		sort.Strings(indices)
		sort.Strings(streams)
		sort.Strings(templates)
		out[n] = map[string]any{
			"version":       p.version,
			"modified_date": p.modified.Format(dateMillis),
			"policy":        p.policy,
			"in_use_by":     map[string]any{"indices": nonNil(indices), "data_streams": nonNil(streams), "composable_templates": nonNil(templates)},
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deletePolicy(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.policies[name] == nil {
		writeError(w, newError(http.StatusNotFound, "resource_not_found_exception", "Lifecycle policy not found: ["+name+"]"))
		return
	}
	for _, ix := range s.indices {
		if ix.setting("index.lifecycle.name") == name {
			writeError(w, illegalArgument("Cannot delete policy ["+name+"]. It is in use by one or more indices: ["+ix.name+"]"))
			return
		}
	}
	delete(s.policies, name)
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Accessors for tests.

// DataStreams lists the data streams, sorted.
func (s *Server) DataStreams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.dataStreams)
}

// BackingIndices lists a stream's backing indices, oldest first (nil when
// there is no such stream).
func (s *Server) BackingIndices(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ds := s.dataStreams[name]; ds != nil {
		return slices.Clone(ds.indices)
	}
	return nil
}

// Retention is the data_retention of a stream's lifecycle; managed reports
// whether the stream has a lifecycle at all.
func (s *Server) Retention(name string) (retention string, managed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ds := s.dataStreams[name]; ds != nil && ds.lifecycle != nil {
		return ds.lifecycle.retention, true
	}
	return "", false
}

// Policy returns an ILM policy as GET shows its "policy" (nil when absent).
func (s *Server) Policy(name string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.policies[name]; p != nil {
		b, _ := json.Marshal(p.policy)
		return b
	}
	return nil
}

// Setting returns an index setting as GET /<index>/_settings shows it.
func (s *Server) Setting(index, key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[index]; ix != nil {
		return ix.setting(key)
	}
	return ""
}

// CreateDataStream creates a stream directly (not counted as a request), as
// PUT /_data_stream/<name> would.
func (s *Server) CreateDataStream(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.createDataStreamLocked(name); e != nil {
		return e
	}
	return nil
}

// DeleteDataStream deletes a stream and its backing indices directly; it
// reports whether the stream existed.
func (s *Server) DeleteDataStream(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteDataStreamLocked(name)
}

// Rollover adds a backing index to a stream, from its template as it is
// now, as POST /<stream>/_rollover does; a TSDS's new index starts where
// the write index ended.
func (s *Server) Rollover(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.dataStreams[name]
	if ds == nil {
		return indexNotFound(name)
	}
	t := s.templates[ds.template]
	if t == nil {
		return illegalArgument("no matching index template found for data stream [" + name + "]")
	}
	prev := s.indices[ds.indices[len(ds.indices)-1]]
	backing := backingName(name, s.clock(), ds.generation+1)
	start := time.Time{}
	if prev.tsds {
		start = prev.end
	}
	if e := s.createBackingLocked(ds, t, backing, start); e != nil {
		return e
	}
	ds.generation++
	ds.indices = append(ds.indices, backing)
	ds.tsds = s.indices[backing].tsds
	return nil
}
