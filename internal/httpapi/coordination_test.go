package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStatusCoordination(t *testing.T) {
	cases := []struct {
		name string
		view func() any
		want string // "" = no coordination key
	}{
		{"alone", nil, ""},
		{"in a group", func() any { return map[string]any{"generation": 7, "units": []string{"mm/orders"}} }, `{"generation":7,"units":["mm/orders"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			a := f.agent()
			a.Coordination = tc.view
			s, err := New(Settings{Listen: new(string)}, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, body, _ := get(t, s.Handler(), "/status")
			var doc map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatal(err)
			}
			got, ok := doc["coordination"]
			if tc.want == "" {
				if ok {
					t.Errorf("coordination %s in a single agent's /status", got)
				}
				return
			}
			if strings.TrimSpace(string(got)) != tc.want {
				t.Errorf("coordination %s, want %s", got, tc.want)
			}
		})
	}
}
