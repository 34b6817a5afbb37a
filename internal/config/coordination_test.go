package config

import (
	"strings"
	"testing"
	"time"
)

func TestCoordinationSection(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // "" = valid
	}{
		{"absent", "", ""},
		{"valid", "coordination:\n  cluster: dc1\n  group: lagship-agents\n  session_timeout: 6s\n", ""},
		{"unknown cluster", "coordination:\n  cluster: dc9\n  group: g\n", `t.yaml:11: coordination.cluster: cluster "dc9" is not defined under clusters (defined: dc1)`},
		{"no group", "coordination:\n  cluster: dc1\n", "t.yaml:11: coordination: group is required"},
		{"bad group", "coordination:\n  cluster: dc1\n  group: 'a/b'\n", "t.yaml:12: coordination.group: group \"a/b\" may contain only"},
		{"short session", "coordination:\n  cluster: dc1\n  group: g\n  session_timeout: 100ms\n", "t.yaml:13: coordination.session_timeout: 100ms is below 1s"},
		{"unknown key", "coordination:\n  cluster: dc1\n  group: g\n  heartbeat: 1s\n", "t.yaml:13: coordination.heartbeat: unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(base+tc.yaml), env(nil))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.yaml != "" && (c.Coordination == nil || time.Duration(c.Coordination.SessionTimeout) != 6*time.Second) {
					t.Errorf("coordination %+v", c.Coordination)
				}
				if tc.yaml == "" && c.Coordination != nil {
					t.Errorf("coordination set without the section")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
