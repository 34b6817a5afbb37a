package esfake

import (
	"fmt"
	"net/http"
	"strings"
)

const maxIndexNameBytes = 255

// validateIndexName applies the rules Elasticsearch applies to a new index
// name, with its messages.
func validateIndexName(name string) *esError {
	bad := func(why string) *esError {
		return newError(http.StatusBadRequest, "invalid_index_name_exception",
			"Invalid index name ["+name+"], "+why).with("index_uuid", "_na_").with("index", name)
	}
	if strings.ContainsAny(name, "\\/*?\"<>| ,") {
		return bad(`must not contain the following characters [\, /, *, ?, ", <, >, |,  , ,]`)
	}
	if name == "" {
		return bad("must not be empty")
	}
	if strings.Contains(name, "#") {
		return bad("must not contain '#'")
	}
	if strings.Contains(name, ":") {
		return bad("must not contain ':'")
	}
	if c := name[0]; c == '_' || c == '-' || c == '+' {
		return bad("must not start with '_', '-', or '+'")
	}
	if len(name) > maxIndexNameBytes {
		return bad(fmt.Sprintf("index name is too long, (%d > %d)", len(name), maxIndexNameBytes))
	}
	if name == "." || name == ".." {
		return bad("must not be '.' or '..'")
	}
	if strings.ToLower(name) != name {
		return bad("must be lowercase")
	}
	return nil
}
