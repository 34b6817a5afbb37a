package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// IndexState is what lagship needs to know about an existing index.
type IndexState struct {
	Index  string
	Exists bool
	// TopicType is the mapped type of topic ("" when not mapped yet).
	TopicType string
	// TopicKeyword reports a topic.keyword multi-field of type keyword.
	TopicKeyword bool
	// IntegerLagFields lists pN fields mapped as integer (the old script's
	// mapping): lags above 2147483647 are rejected for them.
	IntegerLagFields []string
	// MissingFields lists the fields lagship added since the index was
	// created (AddedFields) that it does not map yet; EnsureIndex adds
	// them. WrongFields lists those mapped with another type.
	MissingFields []string
	WrongFields   []string
}

// AddedFields are the fields documents gained after the first mapping, with
// their types: an index created before them gets them with PUT _mapping
// (additive only), so they are not mapped dynamically (status as text).
var AddedFields = []struct{ Name, Type string }{
	{"status", "keyword"},
	{"max_time_lag", "double"},
}

// NeedsTopicFix reports an index whose topic is text without a keyword
// multi-field: Kibana cannot aggregate or split series by topic.
func (st IndexState) NeedsTopicFix() bool {
	return st.Exists && st.TopicType == "text" && !st.TopicKeyword
}

// FixRequests returns the two requests that make an old index usable, as
// text to paste into Kibana Dev Tools: add a keyword multi-field to topic,
// then re-index the existing documents in place so they get it too.
func (st IndexState) FixRequests() string {
	return "PUT " + st.Index + `/_mapping
{
  "properties": {
    "topic": {
      "type": "text",
      "fields": {
        "keyword": { "type": "keyword", "ignore_above": 256 }
      }
    }
  }
}

POST ` + st.Index + "/_update_by_query?conflicts=proceed\n"
}

// Summary describes the state in one line for logs and checks.
func (st IndexState) Summary() string {
	switch {
	case !st.Exists:
		return "index " + st.Index + " does not exist; lagship creates it with its mapping on start"
	case st.NeedsTopicFix():
		return "index " + st.Index + " maps topic as text (created by the old script): Kibana cannot split or aggregate by topic"
	case st.TopicType == "text":
		return "index " + st.Index + " maps topic as text with a topic.keyword multi-field"
	case st.TopicType == "":
		return "index " + st.Index + " exists; topic is not mapped yet (dynamic mapping will make it text)"
	}
	return "index " + st.Index + " exists; topic is " + st.TopicType
}

var lagField = regexp.MustCompile(`^p\d+$`)

type mappingField struct {
	Type       string                  `json:"type"`
	Fields     map[string]mappingField `json:"fields"`
	Properties map[string]mappingField `json:"properties"`
}

// InspectIndex reads the index's existence and mapping without changing
// anything.
func (s *Sink) InspectIndex(ctx context.Context) (IndexState, error) {
	st := IndexState{Index: s.cfg.Index}
	res, err := esapi.IndicesExistsRequest{Index: []string{s.cfg.Index}}.Do(ctx, s.tp)
	if err != nil {
		return st, fmt.Errorf("checking index %q: %w", s.cfg.Index, err)
	}
	closeBody(res)
	switch res.StatusCode {
	case http.StatusNotFound:
		return st, nil
	case http.StatusOK:
	default:
		return st, fmt.Errorf("checking index %q: HEAD answered %s", s.cfg.Index, res.Status())
	}
	st.Exists = true
	res, err = esapi.IndicesGetMappingRequest{Index: []string{s.cfg.Index}}.Do(ctx, s.tp)
	if err != nil {
		return st, fmt.Errorf("reading mapping of index %q: %w", s.cfg.Index, err)
	}
	defer closeBody(res)
	if res.IsError() {
		return st, fmt.Errorf("reading mapping of index %q: %w", s.cfg.Index, responseError(res))
	}
	var body map[string]struct {
		Mappings struct {
			Properties map[string]mappingField `json:"properties"`
		} `json:"mappings"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return st, fmt.Errorf("reading mapping of index %q: %w", s.cfg.Index, err)
	}
	// An alias may name several indices: report the first, sorted.
	names := make([]string, 0, len(body))
	for n := range body {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return st, nil
	}
	props := body[names[0]].Mappings.Properties
	if topic, ok := props["topic"]; ok {
		st.TopicType = topic.Type
		if st.TopicType == "" {
			st.TopicType = "object"
		}
		st.TopicKeyword = topic.Fields["keyword"].Type == "keyword"
	}
	for name, f := range props {
		if lagField.MatchString(name) && f.Type == "integer" {
			st.IntegerLagFields = append(st.IntegerLagFields, name)
		}
	}
	for _, f := range AddedFields {
		switch got, ok := props[f.Name]; {
		case !ok:
			st.MissingFields = append(st.MissingFields, f.Name)
		case got.Type != f.Type:
			st.WrongFields = append(st.WrongFields, f.Name+" is "+got.Type+", want "+f.Type)
		}
	}
	sort.Slice(st.IntegerLagFields, func(i, j int) bool {
		a, _ := strconv.Atoi(st.IntegerLagFields[i][1:])
		b, _ := strconv.Atoi(st.IntegerLagFields[j][1:])
		return a < b
	})
	return st, nil
}

// TemplateName is the name of the index template lagship installs for its
// index: the index name itself.
func (s *Sink) TemplateName() string { return s.cfg.Index }

// templatePriority puts lagship's template above Elastic's built-in ones
// (priority 100 for metrics-*-* and logs-*-*); its pattern is the exact
// index name, so it only ever matches lagship's index.
const templatePriority = 200

// TemplateBody is the composable index template for the index: its
// pattern is the exact index name and it carries the configured mapping,
// so any auto-creation of the index (after it was deleted while lagship
// runs) gets lagship's mapping, not a dynamic one.
func (s *Sink) TemplateBody() ([]byte, error) {
	var tmpl map[string]json.RawMessage
	if err := json.Unmarshal(s.cfg.Mapping, &tmpl); err != nil {
		return nil, fmt.Errorf("index template for %q: the mapping is not a JSON object: %w", s.cfg.Index, err)
	}
	return json.Marshal(map[string]any{
		"index_patterns": []string{s.cfg.Index},
		"priority":       templatePriority,
		"template":       tmpl,
		"_meta":          map[string]any{"managed_by": "lagship", "description": "mapping of lagship's consumer lag documents"},
	})
}

// EnsureTemplate installs (or updates) the index template; it is
// idempotent.
func (s *Sink) EnsureTemplate(ctx context.Context) error {
	body, err := s.TemplateBody()
	if err != nil {
		return err
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: s.TemplateName(), Body: bytes.NewReader(body)}.Do(ctx, s.tp)
	if err != nil {
		return fmt.Errorf("installing index template %q: %w", s.TemplateName(), err)
	}
	defer closeBody(res)
	if res.IsError() {
		return fmt.Errorf("installing index template %q: %w", s.TemplateName(), responseError(res))
	}
	return nil
}

// EnsureIndex creates the index with the configured mapping when it does
// not exist. An existing index is left alone; when it carries the old
// script's mapping, a warning explains the consequence and the fix.
func (s *Sink) EnsureIndex(ctx context.Context) error {
	st, err := s.InspectIndex(ctx)
	if err != nil {
		return err
	}
	if st.Exists {
		s.warnOldMapping(st)
		return s.addFields(ctx, st)
	}
	res, err := esapi.IndicesCreateRequest{Index: s.cfg.Index, Body: bytes.NewReader(s.cfg.Mapping)}.Do(ctx, s.tp)
	if err != nil {
		return fmt.Errorf("creating index %q: %w", s.cfg.Index, err)
	}
	defer closeBody(res)
	if res.IsError() {
		rerr := responseError(res)
		var ee *esError
		if errors.As(rerr, &ee) && ee.Type == "resource_already_exists_exception" {
			s.log.Info().Msg("index was created concurrently by another client; using it")
			return nil
		}
		return fmt.Errorf("creating index %q: %w", s.cfg.Index, rerr)
	}
	s.log.Info().Msg("created index with the lagship mapping")
	return nil
}

// addFields maps the AddedFields an existing index lacks, and only those:
// an existing field is never changed.
func (s *Sink) addFields(ctx context.Context, st IndexState) error {
	if len(st.WrongFields) > 0 {
		s.log.Warn().Strs("fields", st.WrongFields).Msg("index maps fields lagship writes with another type; documents still go in, but Kibana's status panels may not work; use a new index")
	}
	if len(st.MissingFields) == 0 {
		return nil
	}
	props := map[string]any{}
	for _, f := range AddedFields {
		for _, m := range st.MissingFields {
			if m == f.Name {
				props[f.Name] = map[string]string{"type": f.Type}
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"properties": props})
	res, err := esapi.IndicesPutMappingRequest{Index: []string{s.cfg.Index}, Body: bytes.NewReader(body)}.Do(ctx, s.tp)
	if err != nil {
		return fmt.Errorf("adding fields %v to index %q: %w", st.MissingFields, s.cfg.Index, err)
	}
	defer closeBody(res)
	if res.IsError() {
		return fmt.Errorf("adding fields %v to index %q: %w", st.MissingFields, s.cfg.Index, responseError(res))
	}
	s.log.Info().Strs("fields", st.MissingFields).Msg("added the new fields to the existing index mapping")
	return nil
}

func (s *Sink) warnOldMapping(st IndexState) {
	s.mu.Lock()
	warned := s.warnedOld
	s.warnedOld = true
	s.mu.Unlock()
	if warned {
		return
	}
	if st.NeedsTopicFix() {
		s.log.Warn().Str("topic_type", st.TopicType).
			Msg("index maps topic as text (created by the old script): Kibana cannot use a text field in terms aggregations, so charts cannot be split by topic; documents are still indexed. Run `lagship check` for the two requests that fix it in place")
	}
	if len(st.IntegerLagFields) > 0 {
		s.log.Warn().Strs("fields", st.IntegerLagFields).
			Msg("index maps these partition fields as integer: a lag above 2147483647 will be rejected. A field type cannot change in place: point lagship at a new index or reindex into one created with the lagship mapping")
	}
}

// esError is an Elasticsearch error response.
type esError struct {
	Status int
	Type   string
	Reason string
}

func (e *esError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("status %d: %s", e.Status, e.Reason)
	}
	return fmt.Sprintf("%s: %s (status %d)", e.Type, e.Reason, e.Status)
}

// responseError reads an error response into an *esError.
func responseError(res *esapi.Response) error {
	e := &esError{Status: res.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && len(body.Error) > 0 {
		var obj struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(body.Error, &obj) == nil {
			e.Type, e.Reason = obj.Type, obj.Reason
		} else {
			_ = json.Unmarshal(body.Error, &e.Reason)
		}
	}
	if e.Type == "" && e.Reason == "" {
		e.Reason = strings.TrimSpace(string(b))
		if len(e.Reason) > 200 {
			e.Reason = e.Reason[:200] + "..."
		}
		if e.Reason == "" {
			e.Reason = http.StatusText(res.StatusCode)
		}
	}
	return e
}

func closeBody(res *esapi.Response) {
	if res != nil && res.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		_ = res.Body.Close()
	}
}
