package coord

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	kafka "github.com/segmentio/kafka-go"
)

// estateUnits are n unit keys named as estates name topics: a few
// mirrors, dotted topic names of a domain, a team, a dataset and a
// version, the dataset drawn from a mix so neighbours are not all alike.
func estateUnits(n int) []Unit {
	domains := []string{"orders", "payments", "clicks", "inventory", "shipping", "accounts", "search", "fraud"}
	teams := []string{"eu-west", "us-east", "apac", "core", "growth", "risk"}
	us := make([]Unit, n)
	for i := range us {
		x := uint32(i)*2654435761 + 12345
		us[i] = Unit{Key: fmt.Sprintf("mirror-%s/%s.%s.ds%05x.v%d", teams[i%3], domains[x%8], teams[(x>>3)%6], (x>>6)&0xfffff, 1+(x>>26)%3), Weight: 8}
	}
	return us
}

// groupRecord is the size of what the coordinator stores for the group
// (every member's metadata and assignment), as the leader of this
// package's Member builds them.
func groupRecord(t testing.TB, agents int, us []Unit) (total, plain int) {
	ms := make([]Candidate, agents)
	for i := range ms {
		ms[i] = Candidate{ID: fmt.Sprintf("lagship-%03d-0123456789abcdef", i), Hash: "h"}
	}
	plan := Assign(ms, us, "h")
	all := 0
	for _, ks := range plan {
		all += len(ks)
	}
	views := make([]MemberView, len(ms))
	for i, c := range ms {
		views[i] = MemberView{ID: c.ID, Host: fmt.Sprintf("mm%03d.example.net", i), Version: "v1.4.0", Hash: "0123456789abcdef0123456789abcdef", Units: len(plan[c.ID])}
		if all <= viewOwnersUpTo {
			views[i].Owned = plan[c.ID]
		}
	}
	for i, c := range ms {
		meta := Meta{Host: views[i].Host, Version: "v1.4.0", Hash: views[i].Hash, Owned: plan[c.ID], Weights: make([]int, len(plan[c.ID]))}
		a := Assignment{LeaderHash: views[i].Hash, Units: plan[c.ID], Members: views}
		mb, ab := MarshalMeta(meta), MarshalAssignment(a)
		total += len(mb) + len(ab)
		plain += len(plainMeta(meta)) + len(plainAssignment(a))
		if i == 0 {
			if got, err := UnmarshalMeta(mb); err != nil || !reflect.DeepEqual(got, meta) {
				t.Fatalf("metadata of %d units does not round-trip: %v", len(meta.Owned), err)
			}
			if got, err := UnmarshalAssignment(ab); err != nil || !reflect.DeepEqual(got, a) {
				t.Fatalf("assignment of %d units does not round-trip: %v", len(a.Units), err)
			}
		}
	}
	return total, plain
}

func plainMeta(m Meta) []byte {
	b, _ := inflate(MarshalMeta(m))
	return b
}

func plainAssignment(a Assignment) []byte {
	b, _ := inflate(MarshalAssignment(a))
	return b
}

// TestGroupRecordFitsTheBroker: what the coordinator stores for the group
// stays under the broker's default record limit for __consumer_offsets
// (message.max.bytes, 1 MiB) for the estates this agent is sized for, and
// the largest group the assignment benchmark simulates.
func TestGroupRecordFitsTheBroker(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct {
		agents, units int
		fits          bool
	}{
		{3, 10_000, true},  // the 80,000-partition estate on three agents
		{10, 5_000, true},  // the largest group whose views list every owner
		{3, 30_000, true},  // a very large estate
		{10, 60_000, true}, // and more
		// The assignment benchmark's group needs a larger limit: its size
		// is logged here, and the leader warns of it.
		{100, 100_000, false},
	} {
		total, plain := groupRecord(t, tc.agents, estateUnits(tc.units))
		t.Logf("%d agents, %d units: group record %d bytes (%d without compression)", tc.agents, tc.units, total, plain)
		if tc.fits && total >= groupRecordWarn {
			t.Errorf("%d agents, %d units: %d bytes, over the leader's warning at %d (the broker's default limit is %d)", tc.agents, tc.units, total, groupRecordWarn, limit)
		}
	}
}

// TestLeaderWarnsOfGroupRecordSize: the leader of a group whose metadata
// nears the broker's record limit says so, with the size; a group well
// under it hears nothing.
func TestLeaderWarnsOfGroupRecordSize(t *testing.T) {
	join := func(agents, units int) *kafka.JoinGroupResponse {
		us := estateUnits(units)
		ms := make([]Candidate, agents)
		for i := range ms {
			ms[i] = Candidate{ID: fmt.Sprintf("lagship-%03d", i), Hash: "h"}
		}
		plan := Assign(ms, us, "h")
		j := &kafka.JoinGroupResponse{}
		for _, c := range ms {
			meta := MarshalMeta(Meta{Host: c.ID, Hash: "h", Owned: plan[c.ID], Weights: make([]int, len(plan[c.ID]))})
			j.Members = append(j.Members, kafka.JoinGroupResponseMember{ID: c.ID, Metadata: kafka.GroupProtocolSubscription{UserData: meta}})
		}
		return j
	}
	for _, tc := range []struct {
		agents, units int
		warn          bool
	}{{3, 10_000, false}, {100, 100_000, true}} {
		var logs bytes.Buffer
		m := &Member{}
		out := m.lead(join(tc.agents, tc.units), "h", estateUnits(tc.units), zerolog.New(&logs))
		if len(out) != tc.agents {
			t.Fatalf("%d assignments for %d agents", len(out), tc.agents)
		}
		warned := strings.Contains(logs.String(), "nears the broker's default 1 MiB record limit")
		if warned != tc.warn {
			t.Errorf("%d agents, %d units: warned %v, want %v; log:\n%s", tc.agents, tc.units, warned, tc.warn, logs.String())
		}
		if warned && !strings.Contains(logs.String(), `"bytes":`) {
			t.Errorf("the warning does not give the size: %s", logs.String())
		}
	}
}
