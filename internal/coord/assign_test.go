package coord

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
)

func units(keys ...string) []Unit {
	out := make([]Unit, len(keys))
	for i, k := range keys {
		out[i] = Unit{Key: k, Weight: 1}
	}
	return out
}

func numbered(n int) []Unit {
	out := make([]Unit, n)
	for i := range out {
		out[i] = Unit{Key: fmt.Sprintf("m/t%03d", i), Weight: 1}
	}
	return out
}

func loadOf(plan map[string][]string, us []Unit) map[string]int {
	w := map[string]int{}
	for _, u := range us {
		w[u.Key] = max(u.Weight, 1)
	}
	out := map[string]int{}
	for id, ks := range plan {
		for _, k := range ks {
			out[id] += w[k]
		}
	}
	return out
}

func TestAssign(t *testing.T) {
	weighted := []Unit{{Key: "m/big", Weight: 8}, {Key: "m/a", Weight: 2}, {Key: "m/b", Weight: 2}, {Key: "m/c", Weight: 2}, {Key: "m/d", Weight: 2}}
	cases := []struct {
		name    string
		members []Candidate
		units   []Unit
		want    map[string][]string // nil: only the invariants are checked
		spread  int                 // max load - min load allowed
		moved   int                 // -1: not checked; else units whose owner changed
	}{
		{
			name:    "even",
			members: []Candidate{{ID: "a", Hash: "h"}, {ID: "b", Hash: "h"}, {ID: "c", Hash: "h"}},
			units:   numbered(9),
			spread:  0, moved: -1,
		},
		{
			name:    "uneven count differs by one at most",
			members: []Candidate{{ID: "a", Hash: "h"}, {ID: "b", Hash: "h"}, {ID: "c", Hash: "h"}},
			units:   numbered(10),
			spread:  1, moved: -1,
		},
		{
			name:    "weighted: the heavy unit alone",
			members: []Candidate{{ID: "a", Hash: "h"}, {ID: "b", Hash: "h"}},
			units:   weighted,
			want:    map[string][]string{"a": {"m/big"}, "b": {"m/a", "m/b", "m/c", "m/d"}},
			spread:  0, moved: -1,
		},
		{
			// The heaviest member cannot give its one big unit; the
			// next one gives small ones to the newcomer.
			name: "newcomer beside one big unit gets the small ones",
			members: []Candidate{
				{ID: "a", Hash: "h", Owned: []string{"big"}},
				{ID: "b", Hash: "h", Owned: []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}},
				{ID: "c", Hash: "h"},
			},
			units:  append([]Unit{{Key: "big", Weight: 10}}, units("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9")...),
			spread: 6, moved: 4,
		},
		{
			name: "sticky: a balanced plan stays",
			members: []Candidate{
				{ID: "a", Hash: "h", Owned: []string{"x1", "x2"}},
				{ID: "b", Hash: "h", Owned: []string{"x3", "x4"}},
			},
			units:  units("x1", "x2", "x3", "x4"),
			want:   map[string][]string{"a": {"x1", "x2"}, "b": {"x3", "x4"}},
			spread: 0, moved: 0,
		},
		{
			name: "sticky: off by one unit's weight stays",
			members: []Candidate{
				{ID: "a", Hash: "h", Owned: []string{"x1", "x2", "x3"}},
				{ID: "b", Hash: "h", Owned: []string{"x4", "x5"}},
			},
			units:  units("x1", "x2", "x3", "x4", "x5"),
			want:   map[string][]string{"a": {"x1", "x2", "x3"}, "b": {"x4", "x5"}},
			spread: 1, moved: 0,
		},
		{
			name: "leaving member: only its units move",
			members: []Candidate{
				{ID: "a", Hash: "h", Owned: []string{"x1", "x2"}},
				{ID: "b", Hash: "h", Owned: []string{"x3", "x4"}},
			},
			units:  units("x1", "x2", "x3", "x4", "x5", "x6"), // x5, x6 were c's
			spread: 0, moved: 2,
		},
		{
			name: "joining member gets a fair share, taken from the others",
			members: []Candidate{
				{ID: "a", Hash: "h", Owned: []string{"x1", "x2", "x3"}},
				{ID: "b", Hash: "h", Owned: []string{"x4", "x5", "x6"}},
				{ID: "c", Hash: "h"},
			},
			units:  units("x1", "x2", "x3", "x4", "x5", "x6"),
			spread: 0, moved: 2,
		},
		{
			name: "hash mismatch: nothing for the odd one, even if it owned units",
			members: []Candidate{
				{ID: "a", Hash: "h"},
				{ID: "b", Hash: "other", Owned: []string{"x1", "x2"}},
				{ID: "c", Hash: "h"},
			},
			units:  units("x1", "x2", "x3", "x4"),
			spread: 0, moved: -1,
		},
		{
			name: "a unit claimed twice goes to one member",
			members: []Candidate{
				{ID: "a", Hash: "h", Owned: []string{"x1"}},
				{ID: "b", Hash: "h", Owned: []string{"x1", "x2"}},
			},
			units:  units("x1", "x2"),
			want:   map[string][]string{"a": {"x1"}, "b": {"x2"}},
			spread: 0, moved: 1, // b's claim on x1
		},
		{
			name: "units no longer planned are dropped",
			members: []Candidate{
				{ID: "a", Hash: "h", Owned: []string{"gone", "x1"}},
				{ID: "b", Hash: "h", Owned: []string{"x2"}},
			},
			units:  units("x1", "x2"),
			want:   map[string][]string{"a": {"x1"}, "b": {"x2"}},
			spread: 0, moved: -1,
		},
		{
			name: "ssh hosts are single units however many topics",
			members: []Candidate{
				{ID: "a", Hash: "h"}, {ID: "b", Hash: "h"},
			},
			units:  []Unit{{Key: "ssh:mm1", Weight: 5}, {Key: "ssh:mm2", Weight: 5}, {Key: "m/t1", Weight: 1}},
			spread: 1, moved: -1,
		},
		{
			name:    "no eligible member",
			members: []Candidate{{ID: "a", Hash: "x"}},
			units:   units("x1"),
			want:    map[string][]string{"a": nil},
			spread:  0, moved: -1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := Assign(tc.members, tc.units, "h")
			if tc.want != nil && !reflect.DeepEqual(plan, tc.want) {
				t.Fatalf("plan %v, want %v", plan, tc.want)
			}
			// Every unit exactly once, only to eligible members.
			seen := map[string]string{}
			for id, ks := range plan {
				for _, k := range ks {
					if prev, dup := seen[k]; dup {
						t.Errorf("%s assigned to %s and %s", k, prev, id)
					}
					seen[k] = id
				}
			}
			elig := 0
			for _, m := range tc.members {
				if m.Hash != "h" {
					if len(plan[m.ID]) > 0 {
						t.Errorf("member %s with another hash got %v", m.ID, plan[m.ID])
					}
					continue
				}
				elig++
			}
			if elig > 0 && len(seen) != len(tc.units) {
				t.Errorf("%d units assigned, want %d", len(seen), len(tc.units))
			}
			loads := loadOf(plan, tc.units)
			lo, hi := 1<<30, 0
			for _, m := range tc.members {
				if m.Hash == "h" {
					lo, hi = min(lo, loads[m.ID]), max(hi, loads[m.ID])
				}
			}
			if elig > 0 && hi-lo > tc.spread {
				t.Errorf("loads %v: spread %d, want at most %d", loads, hi-lo, tc.spread)
			}
			if tc.moved >= 0 {
				moved := 0
				for _, m := range tc.members {
					for _, k := range m.Owned {
						if seen[k] != m.ID {
							moved++
						}
					}
				}
				// Units of a departed member (owned by no candidate) count as moved.
				owned := map[string]bool{}
				for _, m := range tc.members {
					for _, k := range m.Owned {
						owned[k] = true
					}
				}
				for k := range seen {
					if !owned[k] {
						moved++
					}
				}
				if moved != tc.moved {
					t.Errorf("%d units moved, want %d (plan %v)", moved, tc.moved, plan)
				}
			}
		})
	}
}

// TestAssignDeterministic: the leader's plan does not depend on the order
// members and units arrive in.
func TestAssignDeterministic(t *testing.T) {
	ms := []Candidate{{ID: "c", Hash: "h"}, {ID: "a", Hash: "h"}, {ID: "b", Hash: "h"}}
	us := numbered(50)
	want := Assign(ms, us, "h")
	rev := append([]Unit(nil), us...)
	sort.Slice(rev, func(i, j int) bool { return rev[i].Key > rev[j].Key })
	ms2 := []Candidate{ms[1], ms[2], ms[0]}
	if got := Assign(ms2, rev, "h"); !reflect.DeepEqual(got, want) {
		t.Fatalf("order changed the plan")
	}
}

// TestAssignChurn replays joins and leaves and checks stickiness: after
// each step only the units of a departed member, or those needed to
// balance a newcomer, move.
func TestAssignChurn(t *testing.T) {
	us := numbered(120)
	owned := map[string][]string{}
	step := func(ids ...string) (moved int) {
		var ms []Candidate
		for _, id := range ids {
			ms = append(ms, Candidate{ID: id, Hash: "h", Owned: owned[id]})
		}
		plan := Assign(ms, us, "h")
		before := map[string]string{}
		for id, ks := range owned {
			for _, k := range ks {
				before[k] = id
			}
		}
		for id, ks := range plan {
			for _, k := range ks {
				if before[k] != id {
					moved++
				}
			}
		}
		owned = plan
		return moved
	}
	steps := []struct {
		members []string
		moved   int
	}{
		{[]string{"a", "b", "c"}, 120},     // first plan: everything new
		{[]string{"a", "b", "c"}, 0},       // same group: nothing moves
		{[]string{"a", "b"}, 40},           // c left: its 40 units
		{[]string{"a", "b", "c"}, 40},      // c is back: 20 from each
		{[]string{"a", "b", "c", "d"}, 30}, // d joins: 10 from each
	}
	for i, s := range steps {
		if got := step(s.members...); got != s.moved {
			t.Errorf("step %d %v: %d units moved, want %d", i, s.members, got, s.moved)
		}
	}
}

// TestAssignGroups: units of one group (a MirrorMaker 2 offsets topic) stay
// on one agent when balance allows, and are spread when it does not.
func TestAssignGroups(t *testing.T) {
	grouped := func(groups, per int) []Unit {
		var out []Unit
		for g := 0; g < groups; g++ {
			for i := 0; i < per; i++ {
				out = append(out, Unit{Key: fmt.Sprintf("mm2-%d/t%d", g, i), Weight: 1, Group: fmt.Sprintf("mm2-%d", g)})
			}
		}
		return out
	}
	three := []Candidate{{ID: "a", Hash: "h"}, {ID: "b", Hash: "h"}, {ID: "c", Hash: "h"}}
	cases := []struct {
		name    string
		members []Candidate
		units   []Unit
		readers int // members holding a group, summed over groups
	}{
		{"three groups on three agents", three, grouped(3, 4), 3},
		{"one group, balance first", three, grouped(1, 6), 3},
		{"two groups of three on three agents", three, append(grouped(2, 3), units("x1", "x2", "x3")...), 2},
		{"an orphaned group unit joins its group", []Candidate{
			{ID: "a", Hash: "h", Owned: []string{"mm2-0/t0", "mm2-0/t1"}},
			{ID: "b", Hash: "h", Owned: []string{"x1", "x2"}},
		}, append(grouped(1, 3), units("x1", "x2", "x3")...), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := Assign(tc.members, tc.units, "h")
			g := map[string]string{}
			for _, u := range tc.units {
				g[u.Key] = u.Group
			}
			readers := 0
			for _, ks := range plan {
				seen := map[string]bool{}
				for _, k := range ks {
					if g[k] != "" && !seen[g[k]] {
						seen[g[k]] = true
						readers++
					}
				}
			}
			loads := loadOf(plan, tc.units)
			lo, hi := 1<<30, 0
			for _, l := range loads {
				lo, hi = min(lo, l), max(hi, l)
			}
			if readers != tc.readers || hi-lo > 1 {
				t.Errorf("plan %v: %d group holders (want %d), loads %v", plan, readers, tc.readers, loads)
			}
		})
	}
}

func TestReweigh(t *testing.T) {
	planned := []Unit{{Key: "a", Weight: 1}, {Key: "b", Weight: 1}, {Key: "c", Weight: 2}}
	cases := []struct {
		name    string
		members []Candidate
		want    []int
	}{
		{"no reports", []Candidate{{ID: "1", Hash: "h"}}, []int{1, 1, 2}},
		{"owners' measures win", []Candidate{{ID: "1", Hash: "h", Owned: []string{"a", "c"}, Weights: []int{32, 8}}}, []int{32, 1, 8}},
		{"zero means unknown", []Candidate{{ID: "1", Hash: "h", Owned: []string{"a"}, Weights: []int{0}}}, []int{1, 1, 2}},
		{"another config's reports are ignored", []Candidate{{ID: "1", Hash: "x", Owned: []string{"a"}, Weights: []int{32}}}, []int{1, 1, 2}},
		{"a malformed report is ignored", []Candidate{{ID: "1", Hash: "h", Owned: []string{"a", "b"}, Weights: []int{32}}}, []int{1, 1, 2}},
	}
	for _, tc := range cases {
		got := Reweigh(planned, tc.members, "h")
		var ws []int
		for _, u := range got {
			ws = append(ws, u.Weight)
		}
		if !reflect.DeepEqual(ws, tc.want) {
			t.Errorf("%s: weights %v, want %v", tc.name, ws, tc.want)
		}
	}
	if planned[0].Weight != 1 {
		t.Error("Reweigh changed its argument")
	}
}
