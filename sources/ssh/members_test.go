package ssh

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/lagship/lagship/pipeline"
)

// membership builds a want value: owned is one letter per partition, 'o'
// for owned and '.' for not; "nil" leaves Owned nil.
func membership(state string, active int, owned string) *pipeline.Membership {
	m := &pipeline.Membership{State: state, Active: active}
	if owned != "nil" {
		m.Owned = make([]bool, len(owned))
		for p, c := range owned {
			m.Owned[p] = c == 'o'
		}
	}
	return m
}

type membersCase struct {
	group, topic string
	want         *pipeline.Membership
}

// membersByFixture pins Sample(group, topic).Members for every fixture
// under testdata/describe; a fixture missing here fails TestMembersFixtures.
var membersByFixture = map[string][]membersCase{
	// 0.10.0–0.10.1 print OWNER, not CONSUMER-ID: no basis.
	"0.10.0-command-error": {{"", "orders", nil}},
	"0.10.0-group-missing": {{"", "orders", nil}},
	"0.10.0-ok":            {{"", "orders", nil}, {"mm-dc1-to-dc2", "orders-v2", nil}},
	"0.10.1-command-error": {{"", "orders", nil}},
	"0.10.1-group-missing": {{"", "orders", nil}},
	"0.10.1-ok":            {{"", "orders", nil}},
	"0.10.1-rebalancing": {
		{"", "orders", membership("PreparingRebalance", 0, "nil")},
		{"mm-dc1-to-dc2", "orders", membership("PreparingRebalance", 0, "nil")},
		{"other", "orders", nil},
	},
	"0.10.2-command-error": {{"", "orders", nil}},
	"0.10.2-group-missing": {{"", "orders", nil}},
	"0.10.2-no-active-members": {
		{"", "orders", membership("Empty", 0, "..")},
		{"mm-dc1-to-dc2", "orders", membership("Empty", 0, "..")},
	},
	"0.10.2-ok-long-consumer-id": {
		// The long id runs into HOST: still one word per consumer.
		{"", "orders", membership("Stable", 2, "oo")},
		{"", "orders-v2", membership("Stable", 2, "o")},
	},
	"0.10.2-rebalancing": {
		{"", "orders", membership("PreparingRebalance", 0, "..")},
		{"mm-dc1-to-dc2", "orders", membership("PreparingRebalance", 0, "..")},
	},
	"1.0-group-missing":     {{"", "orders", nil}},
	"1.0-no-active-members": {{"", "orders", membership("Empty", 0, ".")}},
	"1.0-ok":                {{"", "orders", membership("Stable", 1, "ooo")}},
	"2.2-command-error":     {{"", "orders", nil}},
	"2.2-group-missing":     {{"", "orders", nil}},
	"2.2-no-active-members": {{"", "orders", membership("Empty", 0, "..")}},
	"2.2-ok": {
		{"", "orders", membership("Stable", 1, "oo.o")},
		{"", "orders-v2", membership("Stable", 1, "o")},
		{"", "absent", membership("Stable", 1, "")},
	},
	"2.2-rebalancing": {{"", "orders", membership("PreparingRebalance", 0, ".")}},
	"2.3-multi-group": {
		// The same consumer id in both groups is one member.
		{"", "orders", membership("Stable", 1, "oo")},
		{"mm-dc1-to-dc3", "orders", membership("Stable", 1, "oo")},
		{"other", "orders", nil},
	},
	"2.3-ok":                {{"", "orders", membership("Stable", 1, "oo")}, {"", "orders-v2", membership("Stable", 1, "o")}},
	"2.3-rebalancing":       {{"", "orders", membership("PreparingRebalance", 0, ".")}},
	"2.6-command-error":     {{"", "orders", nil}},
	"2.6-group-missing":     {{"", "orders", nil}},
	"2.6-no-active-members": {{"", "orders", membership("Empty", 0, "..")}},
	"2.6-ok":                {{"", "orders", membership("Stable", 1, "ooo..o")}},
	"3.7-command-error":     {{"", "orders", nil}},
	"3.7-group-missing":     {{"", "orders", nil}},
	"3.7-multi-group-one-missing": {
		{"", "orders", membership("Stable", 1, "o")},
		{"mm-dc1-to-dc2", "orders", membership("Stable", 1, "o")},
		{"mm-retired", "orders", nil},
	},
	"3.7-no-active-members": {{"", "orders", membership("Empty", 0, "..")}},
	"3.7-ok":                {{"", "dc1.orders", membership("Stable", 1, "ooo")}},
	"3.7-rebalancing":       {{"", "orders", membership("PreparingRebalance", 0, "..")}},
	"3.8-multi-group":       {{"", "orders", membership("Stable", 1, "oo")}},
	"3.8-multi-group-one-no-active-members": {
		// Any group: one of two is empty, so the whole is not.
		{"", "orders", membership("Stable", 1, "oo")},
		{"mm-dc1-to-dc2", "orders", membership("Stable", 1, "oo")},
		{"mm-dc1-to-dc3", "orders", membership("Empty", 0, "..")},
	},
	"3.8-no-active-members": {{"", "orders", membership("Empty", 0, ".")}},
	"3.9-command-error":     {{"", "orders", nil}},
	"3.9-group-missing":     {{"", "orders", nil}},
	"3.9-ok":                {{"", "orders", membership("Stable", 1, "ooo")}},
	"4.0-command-error":     {{"", "orders", nil}},
	"4.0-group-missing":     {{"", "orders", nil}},
	"4.0-no-active-members": {{"", "orders", membership("Empty", 0, ".")}},
	"4.0-ok":                {{"", "orders", membership("Stable", 1, "oo")}},
	"4.0-rebalancing":       {{"", "orders", membership("PreparingRebalance", 0, ".")}},
	"4.0-verbose":           {{"", "orders", membership("Stable", 1, "ooo")}},
	"4.2-no-leader":         {{"", "orders", membership("Stable", 1, "ooo")}},
	"4.2-verbose-no-leader": {{"", "orders", membership("Stable", 1, "oo")}},
	// '-' everywhere and no message: no member, and no state to tell.
	"edge-all-dash":           {{"", "orders", nil}},
	"edge-blank":              {{"", "orders", nil}},
	"edge-crlf":               {{"", "orders", membership("Stable", 1, "oo")}},
	"edge-members-no-offsets": {{"", "orders", membership("Stable", 1, "oo")}},
	"edge-negative-lag":       {{"", "orders", membership("Stable", 1, "oo")}},
	"edge-partial-owners-rebalancing": {
		{"", "orders", membership("PreparingRebalance", 1, "o.")},
	},
	"edge-stdout-no-active-members": {{"", "orders", membership("Empty", 0, "..")}},
	"edge-trailing-spaces":          {{"", "orders", nil}},
	"edge-two-members": {
		// consumer-3 owns nothing but is a member; Active spans topics.
		{"", "orders", membership("Stable", 3, "oo")},
		{"", "orders-v2", membership("Stable", 3, "o")},
		{"mm-dc1-to-dc2", "orders-v2", membership("Stable", 3, "o")},
	},
}

func TestMembersFixtures(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range loadFixtures(t) {
		seen[f.name] = true
		cases, ok := membersByFixture[f.name]
		if !ok {
			t.Errorf("%s: no expected Members in membersByFixture", f.name)
			continue
		}
		res, err := Parse(f.stdout, f.stderr)
		if err != nil {
			t.Fatalf("%s: Parse: %v", f.name, err)
		}
		for _, c := range cases {
			s, _ := res.Sample(c.group, c.topic)
			if !reflect.DeepEqual(s.Members, c.want) {
				t.Errorf("%s: Sample(%q, %q).Members = %s, want %s", f.name, c.group, c.topic, show(s.Members), show(c.want))
			}
			lags, _ := res.Lags(c.group, c.topic)
			if !slices.Equal(s.Lags, lags) {
				t.Errorf("%s: Sample(%q, %q) lags %v, Lags %v", f.name, c.group, c.topic, s.Lags, lags)
			}
		}
	}
	for name := range membersByFixture {
		if !seen[name] {
			t.Errorf("membersByFixture names %s, which is not a fixture", name)
		}
	}
}

func TestMembers(t *testing.T) {
	const h = "\nGROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\n"
	tests := []struct {
		name           string
		stdout, stderr string
		group, topic   string
		want           *pipeline.Membership
	}{
		{
			name:   "dash is no owner, others are",
			stdout: table("g t 0 1 2 1 a h i", "g t 1 1 2 1 - - -", "g t 2 1 2 1 b h i"),
			topic:  "t", want: membership("Stable", 2, "o.o"),
		},
		{
			name:   "members of other topics of the group count",
			stdout: table("g t 0 1 2 1 a h i", "g u 0 1 2 1 b h i", "g - - - - - c h i"),
			topic:  "t", want: membership("Stable", 3, "o"),
		},
		{
			name:   "members of another group do not count",
			stdout: table("g t 0 1 2 1 a h i", "x t 0 1 2 1 b h i"),
			group:  "g", topic: "t", want: membership("Stable", 1, "o"),
		},
		{
			name:   "no active members overrides the rows",
			stdout: table("g t 0 1 2 1 - - -", "g t 1 1 2 1 - - -"),
			stderr: "Consumer group 'g' has no active members.\n",
			topic:  "t", want: membership("Empty", 0, ".."),
		},
		{
			name:   "no active members on stdout",
			stdout: "Consumer group 'g' has no active members.\n" + table("g t 0 1 2 1 - - -"),
			topic:  "t", want: membership("Empty", 0, "."),
		},
		{
			name:   "no active members of another group",
			stdout: table("g t 0 1 2 1 a h i"),
			stderr: "Consumer group 'x' has no active members.\n",
			group:  "g", topic: "t", want: membership("Stable", 1, "o"),
		},
		{
			name:   "any group: empty when every group is",
			stdout: table("a t 0 1 2 1 - - -") + table("b t 1 1 2 1 - - -"),
			stderr: "Consumer group 'a' has no active members.\nConsumer group 'b' has no active members.\n",
			topic:  "t", want: membership("Empty", 0, ".."),
		},
		{
			name:   "any group: rebalancing when one group is",
			stdout: table("a t 0 1 2 1 m h i") + table("b t 1 1 2 1 - - -"),
			stderr: "Warning: Consumer group 'b' is rebalancing.\n",
			topic:  "t", want: membership("PreparingRebalance", 1, "o."),
		},
		{
			name:   "rebalancing wins over no active members",
			stdout: table("g t 0 1 2 1 - - -"),
			stderr: "Consumer group 'g' has no active members.\nWarning: Consumer group 'g' is rebalancing.\n",
			topic:  "t", want: membership("PreparingRebalance", 0, "."),
		},
		{
			name:   "rebalancing without a table",
			stderr: "Warning: Consumer group 'g' is rebalancing.\n",
			group:  "g", topic: "t", want: membership("PreparingRebalance", 0, "nil"),
		},
		{
			name:   "no active members without a table",
			stderr: "Consumer group 'g' has no active members.\n",
			topic:  "t", want: membership("Empty", 0, ""),
		},
		{
			name:   "layout without GROUP column takes the run's message",
			stdout: "\nTOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\nt 0 1 2 1 - - -\n",
			stderr: "Warning: Consumer group 'g' is rebalancing.\n",
			topic:  "t", want: membership("PreparingRebalance", 0, "."),
		},
		{
			name:   "no CONSUMER-ID column",
			stdout: "\nGROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG\ng t 0 1 2 1\n",
			topic:  "t", want: nil,
		},
		{
			name:   "no CONSUMER-ID column, rebalancing",
			stdout: "\nGROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG\ng t 0 1 2 1\n",
			stderr: "Warning: Consumer group 'g' is rebalancing.\n",
			topic:  "t", want: membership("PreparingRebalance", 0, "nil"),
		},
		{
			name:   "0.10.x OWNER is not read",
			stdout: "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG OWNER\ng t 0 1 2 1 mirror-1_/10.0.0.1\n",
			topic:  "t", want: nil,
		},
		{
			name:   "row that stops before CONSUMER-ID has no owner",
			stdout: h + "g t 0 1 2 1\ng t 1 1 2 1 a h i\n",
			topic:  "t", want: membership("Stable", 1, ".o"),
		},
		{
			name:   "first CONSUMER-ID column counts",
			stdout: "\nGROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID CONSUMER-ID\ng t 0 1 2 1 a b\n",
			topic:  "t", want: membership("Stable", 1, "o"),
		},
		{
			name:   "partition without a row is not owned",
			stdout: table("g t 2 1 2 1 a h i"),
			topic:  "t", want: membership("Stable", 1, "..o"),
		},
		{
			name:   "0.10.1 backtick rebalancing",
			stdout: "Consumer group `g` is rebalancing.\n",
			group:  "g", topic: "t", want: membership("PreparingRebalance", 0, "nil"),
		},
		{
			name:   "0.10.0 does not exist or is rebalancing is no state",
			stdout: "Consumer group `g` does not exist or is rebalancing.\n",
			group:  "g", topic: "t", want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.stdout), []byte(tt.stderr))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			s, _ := res.Sample(tt.group, tt.topic)
			if !reflect.DeepEqual(s.Members, tt.want) {
				t.Errorf("Members = %s, want %s", show(s.Members), show(tt.want))
			}
		})
	}
}

// show prints a membership as the letters of membership.
func show(m *pipeline.Membership) string {
	if m == nil {
		return "nil"
	}
	owned := "nil"
	if m.Owned != nil {
		o := make([]byte, len(m.Owned))
		for p, v := range m.Owned {
			o[p] = '.'
			if v {
				o[p] = 'o'
			}
		}
		owned = "[" + string(o) + "]"
	}
	return fmt.Sprintf("%s active=%d owned=%s", m.State, m.Active, owned)
}
