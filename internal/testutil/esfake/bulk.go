package esfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bulkAction is one parsed action of a _bulk body.
type bulkAction struct {
	op           string // index | create | delete | update
	index        string
	id           string
	hasID        bool
	source       []byte
	requireAlias bool
	unsupported  string // a known parameter the fake does not model
}

var bulkOps = []string{"create", "delete", "index", "update"}

var bulkMetaKnown = []string{"_index", "_id", "routing", "version", "version_type", "if_seq_no", "if_primary_term",
	"pipeline", "require_alias", "require_data_stream", "dynamic_templates", "list_executed_pipelines", "retry_on_conflict", "_source"}

var bulkMetaUnsupported = []string{"version", "version_type", "if_seq_no", "if_primary_term", "pipeline", "dynamic_templates", "retry_on_conflict", "_source"}

const maxIDBytes = 512

// parseBulk parses an NDJSON bulk body. Errors are whole-request errors, as
// Elasticsearch reports them (status 400).
func parseBulk(body []byte, urlIndex string, requireAlias bool) ([]bulkAction, *esError) {
	if len(body) == 0 {
		return nil, newError(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
	}
	if body[len(body)-1] != '\n' {
		return nil, illegalArgument(`The bulk request must be terminated by a newline [\n]`)
	}
	lines := bytes.Split(body[:len(body)-1], []byte{'\n'})
	var (
		actions  []bulkAction
		failures []string
	)
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		root, err := parseJSON(lines[i])
		if err != nil {
			if len(bytes.TrimSpace(lines[i])) == 0 {
				return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT but found [null]", lineNo))
			}
			return nil, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error())
		}
		if root.kind != kObject {
			return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", lineNo, root.kind.token()))
		}
		if len(root.keys) != 1 {
			return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], expected a single action but found [%d] fields", lineNo, len(root.keys)))
		}
		a := bulkAction{op: root.keys[0], index: urlIndex, requireAlias: requireAlias}
		if !slices.Contains(bulkOps, a.op) {
			return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", lineNo, a.op))
		}
		meta := root.vals[0]
		if meta.kind != kObject {
			return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", lineNo, meta.kind.token()))
		}
		for j, k := range meta.keys {
			v := meta.vals[j]
			if !slices.Contains(bulkMetaKnown, k) {
				return nil, illegalArgument(fmt.Sprintf("Action/metadata line [%d] contains an unknown parameter [%s]", lineNo, k))
			}
			switch k {
			case "_index":
				if v.kind != kString {
					return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], [_index] must be a string", lineNo))
				}
				a.index = v.s
			case "_id":
				if v.kind != kString && v.kind != kNumber {
					return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], [_id] must be a string", lineNo))
				}
				a.id, a.hasID = v.s, true
			case "require_alias":
				a.requireAlias = v.kind == kBool && v.b
			case "routing", "require_data_stream", "list_executed_pipelines":
			default:
				if slices.Contains(bulkMetaUnsupported, k) && a.unsupported == "" {
					a.unsupported = k
				}
			}
		}
		n := len(actions) + 1
		if a.index == "" {
			failures = append(failures, strconv.Itoa(n)+": index is missing;")
		}
		if a.hasID && a.id == "" {
			failures = append(failures, strconv.Itoa(n)+": if _id is specified it must not be empty;")
		}
		if len(a.id) > maxIDBytes {
			failures = append(failures, fmt.Sprintf("%d: id [%s] is too long, must be no longer than 512 bytes but was: %d;", n, a.id, len(a.id)))
		}
		if a.op == "delete" && !a.hasID {
			failures = append(failures, strconv.Itoa(n)+": id is missing;")
		}
		if a.op != "delete" {
			i++
			if i >= len(lines) {
				return nil, illegalArgument(fmt.Sprintf("Malformed action/metadata line [%d], expected a source line after it", lineNo))
			}
			a.source = lines[i]
		}
		actions = append(actions, a)
	}
	if len(failures) > 0 {
		return nil, newError(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: "+strings.Join(failures, ""))
	}
	return actions, nil
}

type bulkItemResult struct {
	Index       string         `json:"_index"`
	ID          string         `json:"_id"`
	Version     int64          `json:"_version,omitempty"`
	Result      string         `json:"result,omitempty"`
	Shards      *shardsInfo    `json:"_shards,omitempty"`
	SeqNo       *int64         `json:"_seq_no,omitempty"`
	PrimaryTerm int64          `json:"_primary_term,omitempty"`
	Status      int            `json:"status"`
	Error       map[string]any `json:"error,omitempty"`
}

type shardsInfo struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, urlIndex string, body []byte) {
	start := time.Now()
	requireAlias := r.URL.Query().Get("require_alias") == "true"
	actions, e := parseBulk(body, urlIndex, requireAlias)
	if e != nil {
		writeError(w, e)
		return
	}
	items := make([]map[string]*bulkItemResult, len(actions))
	errs := false
	s.mu.Lock()
	s.bulkItems += len(actions)
	for i := range actions {
		res := s.bulkItem(&actions[i])
		if res.Error != nil {
			errs = true
		}
		items[i] = map[string]*bulkItemResult{actions[i].op: res}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"errors": errs, "took": time.Since(start).Milliseconds(), "items": items})
}

// bulkItem executes one action; s.mu is held.
func (s *Server) bulkItem(a *bulkAction) *bulkItemResult {
	res := &bulkItemResult{Index: a.index, ID: a.id}
	fail := func(e *esError) *bulkItemResult {
		res.Status, res.Error = e.status, e.object()
		return res
	}
	if s.rejectItems > 0 {
		s.rejectItems--
		return fail(newError(http.StatusTooManyRequests, "es_rejected_execution_exception",
			"rejected execution of org.elasticsearch.action.support.replication.TransportWriteAction$1/WrappedActionListener on EsThreadPoolExecutor[name = esfake-node-1/write, queue capacity = 10000]"))
	}
	if a.unsupported != "" {
		return fail(illegalArgument("esfake: bulk parameter [" + a.unsupported + "] is not supported by the fake"))
	}
	if a.op == "update" {
		return fail(illegalArgument("esfake: the update action is not supported by the fake"))
	}
	ix := s.indices[a.index]
	ds := s.dataStreams[a.index]
	if ix == nil && ds == nil {
		switch {
		case a.requireAlias:
			return fail(indexNotFound(a.index).withReason("no such index [" + a.index + "] and [require_alias] request flag is [true] and [" + a.index + "] is not an alias"))
		case a.op == "delete":
			return fail(indexNotFound(a.index))
		case !s.autoCreate:
			return fail(indexNotFound(a.index).withReason("no such index [" + a.index + "] and [action.auto_create_index] is [false]"))
		}
		if t := s.templateForLocked(a.index); t != nil && t.dataStream {
			if e := s.createDataStreamLocked(a.index); e != nil {
				return fail(e)
			}
			s.autoCreated = append(s.autoCreated, a.index)
			ds = s.dataStreams[a.index]
		} else {
			if e := s.createIndexLocked(a.index, nil, true); e != nil {
				return fail(e)
			}
			ix = s.indices[a.index]
		}
	}
	if ds != nil {
		if a.requireAlias {
			return fail(indexNotFound(a.index).withReason("no such index [" + a.index + "] and [require_alias] request flag is [true] and [" + a.index + "] is not an alias"))
		}
		target, e := s.resolveStreamItem(ds, a)
		if e != nil {
			return fail(e)
		}
		ix = target
		res.Index, res.ID = ix.name, a.id
	}
	if ix.dataStream != "" && ds == nil && a.op == "index" {
		return fail(illegalArgument("index request with op_type=index and no if_primary_term and if_seq_no set targeting backing indices is disallowed, target corresponding data stream [" + ix.dataStream + "] instead"))
	}
	if a.requireAlias {
		return fail(indexNotFound(a.index).withReason("no such index [" + a.index + "] and [require_alias] request flag is [true] and [" + a.index + "] is not an alias"))
	}
	if !a.hasID && a.op != "delete" {
		a.id = newDocID()
		res.ID = a.id
	}
	existing := ix.docs[a.id]
	ok := func(status int, result string, version int64) *bulkItemResult {
		seq := ix.seqNo
		ix.seqNo++
		res.Status, res.Result, res.Version = status, result, version
		res.Shards = &shardsInfo{Total: 2, Successful: 1}
		res.SeqNo, res.PrimaryTerm = &seq, 1
		return res
	}
	switch a.op {
	case "delete":
		if existing == nil {
			return ok(http.StatusNotFound, "not_found", 1)
		}
		delete(ix.docs, a.id)
		ix.order = slices.DeleteFunc(ix.order, func(id string) bool { return id == a.id })
		return ok(http.StatusOK, "deleted", existing.version+1)
	case "create":
		if existing != nil {
			return fail(newError(http.StatusConflict, "version_conflict_engine_exception",
				"["+a.id+"]: version conflict, document already exists (current version ["+strconv.FormatInt(existing.version, 10)+"])").
				with("index_uuid", ix.uuid).with("shard", "0").with("index", ix.name))
		}
	}
	adds, e := parseDoc(ix.m, ix.limit, a.id, a.source)
	if e != nil {
		return fail(e)
	}
	commit(adds)
	src := json.RawMessage(bytes.Clone(bytes.TrimSpace(a.source)))
	if existing != nil {
		existing.src = src
		existing.version++
		return ok(http.StatusOK, "updated", existing.version)
	}
	ix.docs[a.id] = &storedDoc{src: src, version: 1}
	ix.order = append(ix.order, a.id)
	return ok(http.StatusCreated, "created", 1)
}

func (e *esError) withReason(r string) *esError {
	e.reason = r
	return e
}
