package coord

import (
	"container/heap"
	"sort"
)

// Unit is one piece of work the leader hands out: a mirror's topic, or a
// coarser group of topics that must stay on one agent (an SSH host's).
// Weight is what it costs to collect (its partition count, or its number of
// topics when partitions are not known); a weight below 1 counts as 1.
type Unit struct {
	Key    string
	Weight int
	// Group, when set, names units that are cheaper on one agent (the
	// topics of one MirrorMaker 2 offsets topic: one reader). New and
	// orphaned units of a group go to an agent that holds the group
	// while that keeps it within its fair share.
	Group string
}

// Candidate is a member as the leader sees it: its id, the hash of its
// config and the units it owned before this rebalance, with their weights
// as it measured them (nil: not known).
type Candidate struct {
	ID      string
	Hash    string
	Owned   []string
	Weights []int
}

// Reweigh returns units with the weights their owners measured: an
// eligible member's report for a unit it owns replaces the planned weight
// (the leader plans from its config and knows the partitions only of the
// topics it collects itself).
func Reweigh(units []Unit, members []Candidate, hash string) []Unit {
	measured := map[string]int{}
	for _, m := range members {
		if m.Hash != hash || len(m.Weights) != len(m.Owned) {
			continue
		}
		for i, k := range m.Owned {
			if w := m.Weights[i]; w > 0 {
				measured[k] = w
			}
		}
	}
	if len(measured) == 0 {
		return units
	}
	out := append([]Unit(nil), units...)
	for i := range out {
		if w, ok := measured[out[i].Key]; ok {
			out[i].Weight = w
		}
	}
	return out
}

// Assign hands units out to the members whose config hash is hash (the
// leader's); the others get nothing. It is sticky: a unit stays with the
// member that owned it while that member is eligible, and moves only when
// the loads of the heaviest and the lightest member differ by more than
// the unit's weight (each such move makes the spread strictly smaller).
// New and orphaned units go, heaviest first, to the lightest member, or,
// for a unit of a Group, to the lightest member holding that group while
// its load stays within the fair share (total weight / members, rounded
// up). The
// result maps every eligible member to its unit keys, sorted; it is a pure
// function of its arguments.
func Assign(members []Candidate, units []Unit, hash string) map[string][]string {
	out := make(map[string][]string, len(members))
	var elig []string
	seen := map[string]bool{}
	for _, m := range members {
		if m.Hash == hash && !seen[m.ID] {
			elig = append(elig, m.ID)
			seen[m.ID] = true
		}
		out[m.ID] = nil
	}
	if len(elig) == 0 || len(units) == 0 {
		return out
	}
	sort.Strings(elig)
	idx := make(map[string]int, len(elig))
	for i, id := range elig {
		idx[id] = i
	}
	weight := make(map[string]int, len(units))
	group := map[string]string{}
	keys := make([]string, 0, len(units))
	total := 0
	for _, u := range units {
		if _, dup := weight[u.Key]; dup {
			continue
		}
		weight[u.Key] = max(u.Weight, 1)
		total += weight[u.Key]
		if u.Group != "" {
			group[u.Key] = u.Group
		}
		keys = append(keys, u.Key)
	}
	share := (total + len(elig) - 1) / len(elig)
	sort.Strings(keys)

	// Keep what eligible members owned (the first claimant by id wins
	// a unit claimed twice).
	owner := make(map[string]int, len(keys))
	byID := append([]Candidate(nil), members...)
	sort.SliceStable(byID, func(i, j int) bool { return byID[i].ID < byID[j].ID })
	for _, m := range byID {
		i, ok := idx[m.ID]
		if !ok || m.Hash != hash {
			continue
		}
		for _, k := range m.Owned {
			if _, exists := weight[k]; !exists {
				continue
			}
			if _, taken := owner[k]; !taken {
				owner[k] = i
			}
		}
	}
	loads := make([]int, len(elig))
	held := make([][]string, len(elig))
	var free []string
	for _, k := range keys {
		if i, ok := owner[k]; ok {
			loads[i] += weight[k]
			held[i] = append(held[i], k)
		} else {
			free = append(free, k)
		}
	}

	// New and orphaned units: grouped ones by group, then heaviest
	// first, to the lightest member (of those holding the group, while
	// within the share).
	sort.SliceStable(free, func(a, b int) bool {
		ga, gb := group[free[a]], group[free[b]]
		if (ga == "") != (gb == "") {
			return ga != ""
		}
		if ga != gb {
			return ga < gb
		}
		return weight[free[a]] > weight[free[b]]
	})
	holders := map[string]map[int]bool{} // group -> members holding it
	for i, ks := range held {
		for _, k := range ks {
			if g := group[k]; g != "" {
				if holders[g] == nil {
					holders[g] = map[int]bool{}
				}
				holders[g][i] = true
			}
		}
	}
	h := &loadHeap{loads: loads}
	for i := range elig {
		h.order = append(h.order, i)
	}
	heap.Init(h)
	pos := make([]int, len(elig)) // member -> its place in the heap
	h.pos = pos
	for j, i := range h.order {
		pos[i] = j
	}
	for _, k := range free {
		i := h.order[0]
		if g := group[k]; g != "" {
			best := -1
			for c := range holders[g] {
				if loads[c]+weight[k] <= share && (best < 0 || loads[c] < loads[best] || (loads[c] == loads[best] && c < best)) {
					best = c
				}
			}
			if best >= 0 {
				i = best
			}
			if holders[g] == nil {
				holders[g] = map[int]bool{}
			}
			holders[g][i] = true
		}
		loads[i] += weight[k]
		held[i] = append(held[i], k)
		heap.Fix(h, pos[i])
	}

	// Rebalance: move to the lightest member the largest unit of the
	// heaviest member that has one lighter than the difference of their
	// loads (trying members from the heaviest down), until no member
	// has such a unit. Each move lowers the sum of squared loads, so this
	// ends.
	for i := range held {
		sortByWeight(held[i], weight)
	}
	order := make([]int, len(loads))
	for {
		lo := 0
		for i := range loads {
			order[i] = i
			if loads[i] < loads[lo] {
				lo = i
			}
		}
		sort.Slice(order, func(a, b int) bool {
			if loads[order[a]] != loads[order[b]] {
				return loads[order[a]] > loads[order[b]]
			}
			return order[a] < order[b]
		})
		moved := false
		for _, hi := range order {
			diff := loads[hi] - loads[lo]
			if hi == lo || diff <= 0 {
				break
			}
			ks := held[hi]
			// The largest unit on hi whose weight is below diff.
			p := sort.Search(len(ks), func(j int) bool { return weight[ks[j]] >= diff }) - 1
			if p < 0 {
				continue
			}
			k := ks[p]
			held[hi] = append(ks[:p], ks[p+1:]...)
			loads[hi] -= weight[k]
			loads[lo] += weight[k]
			insertByWeight(&held[lo], k, weight)
			moved = true
			break
		}
		if !moved {
			break
		}
	}
	for i, id := range elig {
		sort.Strings(held[i])
		out[id] = held[i]
	}
	return out
}

// sortByWeight orders keys by weight, then key.
func sortByWeight(keys []string, weight map[string]int) {
	sort.Slice(keys, func(a, b int) bool {
		wa, wb := weight[keys[a]], weight[keys[b]]
		if wa != wb {
			return wa < wb
		}
		return keys[a] < keys[b]
	})
}

func insertByWeight(keys *[]string, k string, weight map[string]int) {
	ks := *keys
	w := weight[k]
	p := sort.Search(len(ks), func(j int) bool {
		wj := weight[ks[j]]
		return wj > w || (wj == w && ks[j] >= k)
	})
	ks = append(ks, "")
	copy(ks[p+1:], ks[p:])
	ks[p] = k
	*keys = ks
}

// loadHeap orders member indexes by load, then index.
type loadHeap struct {
	loads []int
	order []int
	pos   []int // member -> index in order
}

func (h *loadHeap) Len() int { return len(h.order) }
func (h *loadHeap) Less(a, b int) bool {
	la, lb := h.loads[h.order[a]], h.loads[h.order[b]]
	if la != lb {
		return la < lb
	}
	return h.order[a] < h.order[b]
}
func (h *loadHeap) Swap(a, b int) {
	h.order[a], h.order[b] = h.order[b], h.order[a]
	if h.pos != nil {
		h.pos[h.order[a]], h.pos[h.order[b]] = a, b
	}
}
func (h *loadHeap) Push(x any) { h.order = append(h.order, x.(int)) }
func (h *loadHeap) Pop() any {
	n := len(h.order) - 1
	x := h.order[n]
	h.order = h.order[:n]
	return x
}
