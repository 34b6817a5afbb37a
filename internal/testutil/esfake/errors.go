package esfake

import (
	"encoding/json"
	"net/http"
)

// esError is an Elasticsearch exception as the REST layer renders it.
type esError struct {
	status int
	typ    string
	reason string
	extra  map[string]any // index, index_uuid, resource.type...
	cause  *esError
}

func newError(status int, typ, reason string) *esError {
	return &esError{status: status, typ: typ, reason: reason}
}

func (e *esError) with(k string, v any) *esError {
	if e.extra == nil {
		e.extra = map[string]any{}
	}
	e.extra[k] = v
	return e
}

func (e *esError) causedBy(c *esError) *esError {
	e.cause = c
	return e
}

func (e *esError) Error() string { return e.typ + ": " + e.reason }

// object renders the exception with its chain of causes.
func (e *esError) object() map[string]any {
	m := e.flat()
	if e.cause != nil {
		m["caused_by"] = e.cause.object()
	}
	return m
}

func (e *esError) flat() map[string]any {
	m := map[string]any{"type": e.typ, "reason": e.reason}
	for k, v := range e.extra {
		m[k] = v
	}
	return m
}

// body renders a whole-request error: {"error":{"root_cause":[...],...},"status":N}.
func (e *esError) body() map[string]any {
	root := e
	for root.cause != nil {
		root = root.cause
	}
	obj := e.object()
	obj["root_cause"] = []any{root.flat()}
	return map[string]any{"error": obj, "status": e.status}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"esfake: cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *esError) {
	writeJSON(w, e.status, e.body())
}

func indexNotFound(name string) *esError {
	return newError(http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]").
		with("resource.type", "index_or_alias").with("resource.id", name).
		with("index_uuid", "_na_").with("index", name)
}

func illegalArgument(reason string) *esError {
	return newError(http.StatusBadRequest, "illegal_argument_exception", reason)
}

func mapperParsing(reason string) *esError {
	return newError(http.StatusBadRequest, "mapper_parsing_exception", reason)
}
