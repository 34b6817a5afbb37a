package coord

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/configkit"
)

// collect is a Reporter that records paths and messages.
type collect struct {
	base []any
	errs *[]string
}

func (c collect) Errorf(path []any, format string, args ...any) {
	*c.errs = append(*c.errs, fmt.Sprint(append(append([]any{}, c.base...), path...))+": "+fmt.Sprintf(format, args...))
}
func (c collect) Sub(path ...any) configkit.Reporter {
	return collect{base: append(append([]any{}, c.base...), path...), errs: c.errs}
}
func (c collect) Names(section string) []string { return []string{"dc1", "dc2"} }

func TestSettingsValidate(t *testing.T) {
	cases := []struct {
		name string
		s    Settings
		want string // "" = valid
	}{
		{"valid", Settings{Cluster: "dc1", Group: "lagship-agents"}, ""},
		{"no cluster", Settings{Group: "g"}, "cluster is required"},
		{"unknown cluster", Settings{Cluster: "dc9", Group: "g"}, `[cluster]: cluster "dc9" is not defined under clusters (defined: dc1, dc2)`},
		{"no group", Settings{Cluster: "dc1"}, "group is required"},
		{"bad group", Settings{Cluster: "dc1", Group: "a b"}, "[group]: group \"a b\" may contain only"},
		{"long group", Settings{Cluster: "dc1", Group: strings.Repeat("g", 244)}, "leave room for the topic"},
		{"short session", Settings{Cluster: "dc1", Group: "g", SessionTimeout: configkit.Duration(500 * time.Millisecond)}, "[session_timeout]: 500ms is below 1s"},
		{"long session", Settings{Cluster: "dc1", Group: "g", SessionTimeout: configkit.Duration(time.Hour)}, "[session_timeout]: 1h0m0s is above"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.SetDefaults()
			var errs []string
			tc.s.Validate(collect{errs: &errs})
			got := strings.Join(errs, "\n")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("errors %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSettingsDefault(t *testing.T) {
	var s Settings
	s.SetDefaults()
	if time.Duration(s.SessionTimeout) != DefaultSessionTimeout {
		t.Errorf("session_timeout default %s", time.Duration(s.SessionTimeout))
	}
}
