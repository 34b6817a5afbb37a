package elasticsearch

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAllCreated(t *testing.T) {
	created := `{"create":{"_index":"consumer_lag","_id":"a","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}`
	conflict := `{"create":{"_index":"consumer_lag","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict"}}}`
	tricky := `{"create":{"_index":"consumer_lag","_id":"x\"status\":1","result":"created","status":201}}`
	tests := []struct {
		name string
		body string
		n    int
		want bool
	}{
		{"Elasticsearch 8 order", `{"errors":false,"took":3,"items":[` + created + `,` + created + `]}`, 2, true},
		{"took first", `{"took":3,"errors":false,"items":[` + created + `]}`, 1, true},
		{"sorted keys", `{"errors":false,"items":[` + created + `],"took":0}`, 1, true},
		{"an _id holding the pattern", `{"errors":false,"items":[` + tricky + `]}`, 1, true},
		{"errors true", `{"errors":true,"took":3,"items":[` + created + `,` + conflict + `]}`, 2, false},
		{"fewer items than documents", `{"errors":false,"took":3,"items":[` + created + `]}`, 2, false},
		{"more items than documents", `{"errors":false,"items":[` + created + `,` + created + `]}`, 1, false},
		{"errors false but an item failed", `{"errors":false,"items":[` + created + `,{"create":{"_id":"c","status":503}}]}`, 2, false},
		{"items before errors", `{"items":[` + created + `],"errors":false}`, 1, false},
		{"no errors field", `{"took":3,"items":[` + created + `]}`, 1, false},
		{"errors not a bool", `{"errors":"false","items":[` + created + `]}`, 1, false},
		{"not an object", `[` + created + `]`, 1, false},
		{"empty", ``, 0, false},
		{"truncated head", `{"errors":fal`, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := allCreated([]byte(tt.body), tt.n); got != tt.want {
				t.Errorf("allCreated = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzAllCreated: whenever the fast path says every item was created, a
// full decode of the same answer agrees (errors false, n items, every
// status 2xx) for any answer in Elasticsearch's format: well-formed JSON,
// each item with one status, "errors" once.
func FuzzAllCreated(f *testing.F) {
	f.Add([]byte(`{"errors":false,"took":3,"items":[{"create":{"_id":"a","status":201}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"create":{"_id":"a","status":409,"error":{"type":"x"}}}]}`), 1)
	f.Add([]byte(`{"took":1,"errors":false,"items":[]}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if !allCreated(body, n) {
			return
		}
		var out struct {
			Errors *bool       `json:"errors"`
			Items  []bulkEntry `json:"items"`
		}
		if json.Unmarshal(body, &out) != nil {
			return // the fast path reads the head only; a broken tail is the transport's to report
		}
		if bytes.Count(body, []byte(`"status":`)) != len(out.Items) || bytes.Count(body, []byte(`"errors":`)) != 1 {
			return // duplicate or nested keys: not an answer Elasticsearch writes
		}
		if out.Errors == nil || *out.Errors {
			t.Fatalf("fast path on an answer whose errors is %v", out.Errors)
		}
		if len(out.Items) != n {
			t.Fatalf("fast path with %d items decoded, want %d", len(out.Items), n)
		}
		for i, it := range out.Items {
			if st := it.result().Status; st < 200 || st > 299 {
				t.Fatalf("fast path, item %d has status %d", i, st)
			}
		}
	})
}
