package elasticsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Data streams. With DataStream set, Index names a data stream. At start
// (Prepare) the sink reads what exists, then sends only what differs:
//
//   - GET / for the version, then GET _data_stream/<name>; when there is no
//     such stream, HEAD /<name> tells an existing plain index (refused: a
//     stream cannot take its name) from nothing.
//   - Retention on 8.14 and later is the data stream lifecycle, in the
//     template (template.lifecycle.data_retention) and, for a stream that
//     exists, PUT _data_stream/<name>/_lifecycle when its retention
//     differs. Before 8.14 it is an ILM policy named after the stream
//     (rollover at 50gb primary shard size or 30d, or the retention when it
//     is shorter; delete at the retention), read with GET _ilm/policy and
//     put when it differs, referenced by the template.
//   - The template (GET, then PUT _index_template/<name> when it differs)
//     matches the stream's name exactly, carries data_stream, the mapping
//     and priority 200, above Elastic's built-in templates (100).
//   - A missing stream is created with PUT _data_stream/<name>.
//
// Whether the template and the policy differ is decided by a digest of
// their bodies kept in their _meta, so that Elasticsearch's normalisation
// of what it stores (settings as strings, defaults added) never reads as a
// change. A second start with the same settings therefore sends GET
// requests only.

// Version thresholds.
var (
	lifecycleSince = version{8, 14} // data stream lifecycle, generally available
	tsdsSince      = version{8, 7}  // time series data streams, generally available
)

type version struct{ major, minor int }

func (v version) atLeast(o version) bool {
	return v.major > o.major || (v.major == o.major && v.minor >= o.minor)
}

func (v version) String() string { return strconv.Itoa(v.major) + "." + strconv.Itoa(v.minor) }

// parseVersion reads major.minor of a version number such as 8.13.4.
func parseVersion(s string) (version, bool) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return version{}, false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil || ma < 0 || mi < 0 {
		return version{}, false
	}
	return version{ma, mi}, true
}

// ParseRetention reads a retention: a whole number followed by d, h, m or
// s (Elasticsearch's time units, the ones that make sense for keeping
// metrics), at least one hour.
func ParseRetention(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a retention such as 30d, 12h or 90m (a whole number followed by d, h, m or s)", s)
	if len(s) < 2 {
		return 0, bad
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}[s[len(s)-1]]
	num := s[:len(s)-1]
	if unit == 0 || num == "" || num[0] < '1' || num[0] > '9' {
		return 0, bad
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > int64(100*365*24*time.Hour/unit) {
		return 0, fmt.Errorf("%q is more than 100 years", s)
	}
	d := time.Duration(n) * unit
	if d < time.Hour {
		return 0, fmt.Errorf("%s is below the minimum of 1h (Elasticsearch checks retention every few minutes and deletes whole backing indices)", s)
	}
	return d, nil
}

// builtinPatterns are the patterns of Elastic's built-in templates (priority
// 100): a stream name they match would take mappings, pipelines and
// lifecycles lagship does not control if lagship's template ever went away.
var builtinPatterns = []string{"logs-*-*", "metrics-*-*", "traces-*-*", "synthetics-*-*", "profiling-*"}

// validStreamName applies the rules a data stream name has on top of an
// index name's.
func validStreamName(name string) error {
	// A backing index is .ds-<name>-yyyy.MM.dd-000001, at most 255 bytes.
	if len(name) > 255-len(".ds--yyyy.MM.dd-000001") {
		return fmt.Errorf("it is %d bytes long: a data stream name has at most %d (its backing indices add %d to it, and an index name has at most 255)", len(name), 255-len(".ds--yyyy.MM.dd-000001"), len(".ds--yyyy.MM.dd-000001"))
	}
	if strings.HasPrefix(name, ".ds-") {
		return errors.New("it must not start with .ds- (the prefix of backing indices)")
	}
	if strings.HasPrefix(name, ".") {
		return errors.New("a name starting with . is hidden and reserved for system streams")
	}
	for _, p := range builtinPatterns {
		if matchPattern(p, name) {
			return fmt.Errorf("it matches %s, a pattern of Elastic's built-in templates; pick a name outside logs-*-*, metrics-*-*, traces-*-*, synthetics-*-* and profiling-*, such as consumer_lag", p)
		}
	}
	return nil
}

// matchPattern matches Elasticsearch's simple wildcard patterns (only *).
func matchPattern(p, s string) bool {
	parts := strings.Split(p, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, part) && len(s) >= len(part)
		}
		j := strings.Index(s, part)
		if j < 0 {
			return false
		}
		s = s[j+len(part):]
	}
	return true
}

func (c Config) validateStream() error {
	if c.Retention != "" {
		if _, err := ParseRetention(c.Retention); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		if !c.DataStream {
			return errors.New("retention needs data_stream")
		}
	}
	if c.TSDS && !c.DataStream {
		return errors.New("tsds needs data_stream")
	}
	if c.DataStream && c.Index != "" {
		if err := validStreamName(c.Index); err != nil {
			return fmt.Errorf("index %q: %w", c.Index, err)
		}
	}
	return nil
}

// TSDS dimensions and metrics: a series is one topic of one mirror, as the
// mirror, cluster, group and method name it.
var (
	tsdsDimensions = []string{"mirror", "cluster", "group", "topic", "method"}
	tsdsMetrics    = []string{"total_lag", "max_lag", "max_time_lag"}
)

// Rollover and retention of the ILM policy (before 8.14).
const (
	policyMaxShardSize = "50gb"
	policyMaxAge       = 30 * 24 * time.Hour
)

// StreamState is what exists of the data stream set-up, read without
// changing anything.
type StreamState struct {
	Name    string
	Version string // as GET / reports it
	// Lifecycle: retention goes through the data stream lifecycle (8.14 and
	// later) rather than an ILM policy.
	Lifecycle bool

	Exists     bool // the data stream exists
	PlainIndex bool // Name is an index or alias that is not a data stream
	// Of an existing stream:
	TimeSeries     bool     // it is a time series data stream
	BackingIndices []string // oldest first
	UsesTemplate   string   // the template it was created from
	HasLifecycle   bool     // it has a data stream lifecycle
	Retention      string   // its lifecycle's data_retention
	ILMPolicy      string   // the ILM policy of its next backing indices
	// TimeRanges are a TSDS's accepted @timestamp ranges, oldest first.
	TimeRanges [][2]string

	TemplateExists  bool
	TemplateCurrent bool // its digest is what lagship installs
	PolicyWanted    bool // an ILM policy carries the retention
	PolicyExists    bool
	PolicyCurrent   bool
}

// step is one request of the set-up.
type step struct {
	what string // "PUT _index_template/consumer_lag"
	do   func(ctx context.Context) error
}

// inspectStream reads the data stream, its template and its policy.
func (s *Sink) inspectStream(ctx context.Context, info serverInfo) (StreamState, error) {
	name := s.cfg.Index
	st := StreamState{Name: name, Version: info.Version.Number}
	v, ok := parseVersion(info.Version.Number)
	if !ok {
		return st, fmt.Errorf("reading the Elasticsearch version %q", info.Version.Number)
	}
	st.Lifecycle = v.atLeast(lifecycleSince)
	st.PolicyWanted = !st.Lifecycle && s.cfg.Retention != ""

	res, err := esapi.IndicesGetDataStreamRequest{Name: []string{name}}.Do(ctx, s.tp)
	if err != nil {
		return st, fmt.Errorf("reading data stream %q: %w", name, err)
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		closeBody(res)
		res, err = esapi.IndicesExistsRequest{Index: []string{name}}.Do(ctx, s.tp)
		if err != nil {
			return st, fmt.Errorf("checking index %q: %w", name, err)
		}
		closeBody(res)
		switch res.StatusCode {
		case http.StatusOK:
			st.PlainIndex = true
			return st, nil
		case http.StatusNotFound:
		default:
			return st, fmt.Errorf("checking index %q: HEAD answered %s", name, res.Status())
		}
	case res.IsError():
		defer closeBody(res)
		return st, fmt.Errorf("reading data stream %q: %w", name, responseError(res))
	default:
		err := st.readStream(res)
		closeBody(res)
		if err != nil {
			return st, fmt.Errorf("reading data stream %q: %w", name, err)
		}
	}

	if st.PolicyWanted {
		body, err := s.PolicyBody()
		if err != nil {
			return st, err
		}
		st.PolicyExists, st.PolicyCurrent, err = s.readPolicy(ctx, digestOf(body))
		if err != nil {
			return st, err
		}
	}
	body, err := s.StreamTemplateBody(st.Lifecycle)
	if err != nil {
		return st, err
	}
	st.TemplateExists, st.TemplateCurrent, err = s.readTemplate(ctx, digestOf(body))
	return st, err
}

func (st *StreamState) readStream(res *esapi.Response) error {
	var body struct {
		DataStreams []struct {
			Name     string `json:"name"`
			Template string `json:"template"`
			Indices  []struct {
				Name string `json:"index_name"`
			} `json:"indices"`
			ILMPolicy string `json:"ilm_policy"`
			IndexMode string `json:"index_mode"`
			Lifecycle *struct {
				Retention string `json:"data_retention"`
				Enabled   *bool  `json:"enabled"`
			} `json:"lifecycle"`
			TimeSeries *struct {
				Ranges []struct {
					Start string `json:"start"`
					End   string `json:"end"`
				} `json:"temporal_ranges"`
			} `json:"time_series"`
		} `json:"data_streams"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return fmt.Errorf("the answer is not a data stream list: %w", err)
	}
	for _, ds := range body.DataStreams {
		if ds.Name != st.Name {
			continue
		}
		st.Exists = true
		st.UsesTemplate = ds.Template
		st.ILMPolicy = ds.ILMPolicy
		for _, ix := range ds.Indices {
			st.BackingIndices = append(st.BackingIndices, ix.Name)
		}
		st.TimeSeries = ds.TimeSeries != nil || ds.IndexMode == "time_series"
		if ds.TimeSeries != nil {
			for _, r := range ds.TimeSeries.Ranges {
				st.TimeRanges = append(st.TimeRanges, [2]string{r.Start, r.End})
			}
		}
		if lc := ds.Lifecycle; lc != nil && (lc.Enabled == nil || *lc.Enabled) {
			st.HasLifecycle = true
			st.Retention = lc.Retention
		}
	}
	return nil
}

// readTemplate reports whether the template exists and carries digest.
func (s *Sink) readTemplate(ctx context.Context, digest string) (exists, current bool, err error) {
	name := s.TemplateName()
	res, err := esapi.IndicesGetIndexTemplateRequest{Name: name}.Do(ctx, s.tp)
	if err != nil {
		return false, false, fmt.Errorf("reading index template %q: %w", name, err)
	}
	defer closeBody(res)
	if res.StatusCode == http.StatusNotFound {
		return false, false, nil
	}
	if res.IsError() {
		return false, false, fmt.Errorf("reading index template %q: %w", name, responseError(res))
	}
	var body struct {
		Templates []struct {
			Name     string `json:"name"`
			Template struct {
				Meta map[string]any `json:"_meta"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return false, false, fmt.Errorf("reading index template %q: %w", name, err)
	}
	for _, t := range body.Templates {
		if t.Name == name {
			return true, t.Template.Meta["digest"] == digest, nil
		}
	}
	return false, false, nil
}

// readPolicy reports whether the ILM policy exists and carries digest.
func (s *Sink) readPolicy(ctx context.Context, digest string) (exists, current bool, err error) {
	name := s.cfg.Index
	res, err := esapi.ILMGetLifecycleRequest{Policy: name}.Do(ctx, s.tp)
	if err != nil {
		return false, false, fmt.Errorf("reading ILM policy %q: %w", name, err)
	}
	defer closeBody(res)
	if res.StatusCode == http.StatusNotFound {
		return false, false, nil
	}
	if res.IsError() {
		return false, false, fmt.Errorf("reading ILM policy %q: %w", name, responseError(res))
	}
	var body map[string]struct {
		Policy struct {
			Meta map[string]any `json:"_meta"`
		} `json:"policy"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return false, false, fmt.Errorf("reading ILM policy %q: %w", name, err)
	}
	p, ok := body[name]
	return ok, ok && p.Policy.Meta["digest"] == digest, nil
}

// ErrLayout marks a refusal: what the cluster holds under the index name
// does not fit the settings (a plain index where a data stream is wanted, a
// time series data stream on a cluster before 8.7, a stream of the other
// kind), and lagship changes none of it. The agent refuses to start on it.
var ErrLayout = errors.New("the cluster's index layout does not fit the settings")

// plan turns the state into the requests that make it what the settings
// say, or into the reason lagship refuses to touch it.
func (s *Sink) plan(st StreamState) ([]step, error) {
	name := s.cfg.Index
	if st.PlainIndex {
		return nil, s.plainIndexError()
	}
	if v, _ := parseVersion(st.Version); s.cfg.TSDS && !v.atLeast(tsdsSince) {
		return nil, fmt.Errorf("tsds: Elasticsearch %s has no generally available time series data streams (8.7 and later do): set tsds: false, or upgrade the cluster; nothing was written: %w", st.Version, ErrLayout)
	}
	if st.Exists && st.TimeSeries != s.cfg.TSDS {
		have, want := "a standard data stream", "tsds: true"
		if st.TimeSeries {
			have, want = "a time series data stream", "tsds: false"
		}
		return nil, fmt.Errorf("data stream %q exists as %s, which %s does not fit (in a time series data stream Elasticsearch makes the _id, elsewhere lagship does): keep the tsds setting the stream was created with, or point index at a new stream name; nothing was written: %w", name, have, want, ErrLayout)
	}
	var steps []step
	if st.PolicyWanted && !st.PolicyCurrent {
		steps = append(steps, step{"PUT _ilm/policy/" + name, s.putPolicy})
	}
	if !st.TemplateCurrent {
		steps = append(steps, step{"PUT _index_template/" + s.TemplateName(), func(ctx context.Context) error { return s.putStreamTemplate(ctx, st.Lifecycle) }})
	}
	switch {
	case !st.Exists:
		steps = append(steps, step{"PUT _data_stream/" + name, s.createStream})
	case st.Lifecycle && s.cfg.Retention != "" && !sameRetention(st.Retention, s.cfg.Retention, st.HasLifecycle):
		steps = append(steps, step{"PUT _data_stream/" + name + "/_lifecycle", s.putLifecycle})
	}
	return steps, nil
}

// sameRetention compares a stream's retention with the configured one as
// durations, so that 720h and 30d are the same.
func sameRetention(have, want string, managed bool) bool {
	if !managed {
		return false
	}
	h, err1 := ParseRetention(have)
	w, err2 := ParseRetention(want)
	if err1 != nil || err2 != nil {
		return have == want
	}
	return h == w
}

func (s *Sink) plainIndexError() error {
	name := s.cfg.Index
	return fmt.Errorf("data_stream is true but %q is an existing plain index (or alias): a data stream cannot take its name, and lagship does not change it. "+
		"Either set index to a new name such as %s_stream (Kibana's data view consumer_lag* still matches), "+
		"or move the documents into a stream of this name: stop lagship, POST _reindex {\"source\":{\"index\":%q},\"dest\":{\"index\":\"%s_tmp\"}}, DELETE /%s, start lagship (it creates the stream), "+
		"POST _reindex {\"source\":{\"index\":\"%s_tmp\"},\"dest\":{\"index\":%q,\"op_type\":\"create\"}}, DELETE /%s_tmp; "+
		"or set data_stream: false to keep writing into the index. Nothing was written: %w", name, name, name, name, name, name, name, name, ErrLayout)
}

// prepareStream sets the data stream up (see the top of this file).
func (s *Sink) prepareStream(ctx context.Context, info serverInfo) error {
	if v, ok := parseVersion(info.Version.Number); ok && s.cfg.TSDS && !v.atLeast(tsdsSince) {
		_, err := s.plan(StreamState{Version: info.Version.Number})
		return err
	}
	st, err := s.inspectStream(ctx, info)
	if err != nil {
		return err
	}
	steps, err := s.plan(st)
	if err != nil {
		return err
	}
	for _, stp := range steps {
		if err := stp.do(ctx); err != nil {
			return err
		}
		s.log.Info().Str("request", stp.what).Msg("data stream set-up")
	}
	if st.Exists && s.cfg.Retention == "" && (st.HasLifecycle || st.ILMPolicy != "") {
		s.warnOnce("retention is empty but the data stream still has a lifecycle or ILM policy from an earlier setting; lagship leaves it. Remove it with DELETE _data_stream/" + s.cfg.Index + "/_lifecycle (or the policy) to keep documents forever")
	}
	return nil
}

// StreamTemplateBody is the composable index template of the data stream:
// the exact name as its only pattern, data_stream, the mapping (annotated
// for a TSDS), the lifecycle or the ILM policy, and a digest in _meta.
func (s *Sink) StreamTemplateBody(lifecycle bool) ([]byte, error) {
	var tmpl map[string]any
	if err := json.Unmarshal(s.cfg.Mapping, &tmpl); err != nil {
		return nil, fmt.Errorf("index template for %q: the mapping is not a JSON object: %w", s.cfg.Index, err)
	}
	settings, _ := tmpl["settings"].(map[string]any)
	if settings == nil {
		settings = map[string]any{}
	}
	if s.cfg.TSDS {
		if err := annotateTSDS(tmpl); err != nil {
			return nil, fmt.Errorf("index template for %q: %w", s.cfg.Index, err)
		}
		settings["index.mode"] = "time_series"
		settings["index.routing_path"] = tsdsDimensions
	}
	if s.cfg.Retention != "" {
		if lifecycle {
			tmpl["lifecycle"] = map[string]any{"data_retention": s.cfg.Retention}
		} else {
			settings["index.lifecycle.name"] = s.cfg.Index
		}
	}
	if len(settings) > 0 {
		tmpl["settings"] = settings
	}
	body := map[string]any{
		"index_patterns": []string{s.cfg.Index},
		"priority":       templatePriority,
		"data_stream":    map[string]any{},
		"template":       tmpl,
	}
	return withDigest(body, "lagship's consumer lag data stream: mapping, retention and index mode")
}

// annotateTSDS marks the dimensions and the metrics of a mapping.
func annotateTSDS(tmpl map[string]any) error {
	m, _ := tmpl["mappings"].(map[string]any)
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		return errors.New("the mapping has no properties")
	}
	for _, d := range tsdsDimensions {
		f, _ := props[d].(map[string]any)
		if f == nil || f["type"] != "keyword" {
			return fmt.Errorf("a time series data stream needs %s mapped as keyword (it is a dimension)", d)
		}
		f["time_series_dimension"] = true
	}
	gauge := func(f map[string]any) {
		switch f["type"] {
		case "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float":
			f["time_series_metric"] = "gauge"
		}
	}
	for name, v := range props {
		f, _ := v.(map[string]any)
		if f != nil && (lagField.MatchString(name) || slices.Contains(tsdsMetrics, name)) {
			gauge(f)
		}
	}
	dts, _ := m["dynamic_templates"].([]any)
	for _, dt := range dts {
		named, _ := dt.(map[string]any)
		for _, t := range named {
			tm, _ := t.(map[string]any)
			if mf, _ := tm["mapping"].(map[string]any); mf != nil {
				gauge(mf)
			}
		}
	}
	return nil
}

// PolicyBody is the ILM policy of the data stream (before 8.14): roll over
// at 50gb primary shard size or 30 days (the retention when shorter, so
// that a short retention is not held up by a month-long backing index),
// delete at the retention.
func (s *Sink) PolicyBody() ([]byte, error) {
	ret, err := ParseRetention(s.cfg.Retention)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: retention: %w", err)
	}
	maxAge := "30d"
	if ret < policyMaxAge {
		maxAge = s.cfg.Retention
	}
	policy := map[string]any{
		"phases": map[string]any{
			"hot":    map[string]any{"actions": map[string]any{"rollover": map[string]any{"max_primary_shard_size": policyMaxShardSize, "max_age": maxAge}}},
			"delete": map[string]any{"min_age": s.cfg.Retention, "actions": map[string]any{"delete": map[string]any{}}},
		},
	}
	b, err := withDigest(policy, "deletes lagship's consumer lag documents after "+s.cfg.Retention)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]json.RawMessage{"policy": b})
}

// withDigest adds _meta (managed_by, description, digest of the body
// without it) and encodes the body.
func withDigest(body map[string]any, description string) ([]byte, error) {
	plain, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(plain)
	body["_meta"] = map[string]any{"managed_by": "lagship", "description": description, "digest": hex.EncodeToString(sum[:12])}
	return json.Marshal(body)
}

// digestOf reads back the digest withDigest put in a body (or in its
// "policy").
func digestOf(b []byte) string {
	var v struct {
		Meta   map[string]any `json:"_meta"`
		Policy struct {
			Meta map[string]any `json:"_meta"`
		} `json:"policy"`
	}
	_ = json.Unmarshal(b, &v)
	if d, ok := v.Meta["digest"].(string); ok {
		return d
	}
	d, _ := v.Policy.Meta["digest"].(string)
	return d
}

func (s *Sink) putStreamTemplate(ctx context.Context, lifecycle bool) error {
	body, err := s.StreamTemplateBody(lifecycle)
	if err != nil {
		return err
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: s.TemplateName(), Body: bytes.NewReader(body)}.Do(ctx, s.tp)
	return s.check(res, err, "installing index template %q", s.TemplateName())
}

func (s *Sink) putPolicy(ctx context.Context) error {
	body, err := s.PolicyBody()
	if err != nil {
		return err
	}
	res, err := esapi.ILMPutLifecycleRequest{Policy: s.cfg.Index, Body: bytes.NewReader(body)}.Do(ctx, s.tp)
	return s.check(res, err, "installing ILM policy %q", s.cfg.Index)
}

func (s *Sink) createStream(ctx context.Context) error {
	res, err := esapi.IndicesCreateDataStreamRequest{Name: s.cfg.Index}.Do(ctx, s.tp)
	if err == nil && res.StatusCode == http.StatusBadRequest {
		rerr := responseError(res)
		closeBody(res)
		var ee *esError
		if errors.As(rerr, &ee) && ee.Type == "resource_already_exists_exception" {
			s.log.Info().Msg("data stream was created concurrently (another lagship, or a document's auto-create); using it")
			return nil
		}
		return fmt.Errorf("creating data stream %q: %w", s.cfg.Index, rerr)
	}
	return s.check(res, err, "creating data stream %q", s.cfg.Index)
}

func (s *Sink) putLifecycle(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"data_retention": s.cfg.Retention})
	res, err := esapi.IndicesPutDataLifecycleRequest{Name: []string{s.cfg.Index}, Body: bytes.NewReader(body)}.Do(ctx, s.tp)
	return s.check(res, err, "setting the retention of data stream %q", s.cfg.Index)
}

// check turns a request's outcome into an error naming what it did.
func (s *Sink) check(res *esapi.Response, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer closeBody(res)
	if res.IsError() {
		return fmt.Errorf("%s: %w", what, responseError(res))
	}
	return nil
}

func (s *Sink) warnOnce(msg string) {
	s.mu.Lock()
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	seen := s.warned[msg]
	s.warned[msg] = true
	s.mu.Unlock()
	if !seen {
		s.log.Warn().Msg(msg)
	}
}

// outsideBounds reports a bulk item refused because its @timestamp is
// outside every backing index of a time series data stream.
func outsideBounds(e itemError) bool {
	return e.Type == "illegal_argument_exception" && strings.Contains(e.Reason, "is outside of ranges of currently writable indices")
}

// aheadOfBounds reports whether an outside-bounds reason ("the document
// timestamp [T] is outside of ranges of currently writable indices
// [[S1,E1],…,[Sn,En]]") is about a document at or after the newest end En:
// the host's clock runs ahead of Elasticsearch's, or the write index's end
// time has not moved yet. That passes, so such a document is sent again
// later; one before the oldest start is refused for good. A reason it cannot
// read counts as before (refused), as it did before this distinction.
func aheadOfBounds(reason string) bool {
	const tsOpen = "timestamp ["
	i := strings.Index(reason, tsOpen)
	if i < 0 {
		return false
	}
	rest := reason[i+len(tsOpen):]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		return false
	}
	ts, err := time.Parse(time.RFC3339Nano, rest[:j])
	if err != nil {
		return false
	}
	k := strings.LastIndex(reason, "]]")
	c := strings.LastIndexByte(reason[:max(k, 0)], ',')
	if k < 0 || c < 0 {
		return false
	}
	end, err := time.Parse(time.RFC3339Nano, reason[c+1:k])
	if err != nil {
		return false
	}
	return !ts.Before(end)
}

// OutsideTimeBounds counts the documents a time series data stream refused
// for their @timestamp (older than its oldest backing index accepts, after
// a long outage or a late replay); they are set aside, not retried.
func (s *Sink) OutsideTimeBounds() uint64 { return s.outside.Load() }

// StreamPlan reads what exists and returns the requests Prepare would send
// to make it what the settings say (nil when nothing differs), or the
// reason it would refuse. It changes nothing.
func (s *Sink) StreamPlan(ctx context.Context) (StreamState, []string, error) {
	info, err := s.info(ctx)
	if err != nil {
		return StreamState{}, nil, err
	}
	st, err := s.inspectStream(ctx, info)
	if err != nil {
		return st, nil, err
	}
	steps, err := s.plan(st)
	var out []string
	for _, stp := range steps {
		out = append(out, stp.what)
	}
	return st, out, err
}
