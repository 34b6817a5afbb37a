package ssh

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lagship/lagship/pipeline"
)

// FuzzParse checks, on any input, that Parse never panics and that Lags never
// invents a lag: every value is UnknownLag or a number ≥ 0 that appears in
// stdout, or the difference of two numbers in stdout, or 0 from a flooring.
// Sample must agree with Lags and take its offsets from the rows, and its
// Members must hold together (see checkMembers).
func FuzzParse(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.stdout, fx.stderr)
	}
	offsets, err := filepath.Glob(filepath.Join(offsetsDir, "*.stdout"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range offsets {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(nil))
	}
	f.Add([]byte(table("g t 0 1 2 - c h i", "g t 3 9 5 -4 c h i")), []byte(nil))
	f.Add([]byte(table("g t 0 1 2 1 - - -", "g t 1 1 2 1 c h i")), []byte("Warning: Consumer group 'g' is rebalancing.\n"))
	f.Add([]byte(table("g t 0 1 2 1 - - -")), []byte("Consumer group 'g' has no active members.\n"))
	f.Fuzz(func(t *testing.T, stdout, stderr []byte) {
		res, err := Parse(stdout, stderr)
		if err != nil {
			if res.Rows != nil || res.Message != "" || res.Status != StatusOK {
				t.Fatalf("error %v with a non-zero result %+v", err, res)
			}
			return
		}
		if res.Status < StatusOK || res.Status > StatusCommandError {
			t.Fatalf("status %d out of range", res.Status)
		}
		nums := numbers(stdout)
		topics := map[[2]string]bool{}
		for _, r := range res.Rows {
			topics[[2]string{"", r.Topic}] = true
			topics[[2]string{r.Group, r.Topic}] = true
			if r.Partition < -1 || r.Partition > MaxPartition {
				t.Fatalf("row %+v: partition out of range", r)
			}
			if r.CurrentOffset < -1 || r.LogEndOffset < -1 || r.Lag < -1 {
				t.Fatalf("row %+v: value below -1", r)
			}
		}
		for k := range topics {
			lags, found := res.Lags(k[0], k[1])
			if !found {
				t.Fatalf("Lags(%q, %q) not found though a row has it", k[0], k[1])
			}
			for p, l := range lags {
				if l == pipeline.UnknownLag {
					continue
				}
				if l < 0 {
					t.Fatalf("Lags(%q, %q)[%d] = %d", k[0], k[1], p, l)
				}
				if !fromInput(l, nums) {
					t.Fatalf("Lags(%q, %q)[%d] = %d comes from nowhere in %q", k[0], k[1], p, l, stdout)
				}
			}
			checkSample(t, res, k[0], k[1], lags)
			checkMembers(t, res, k[0], k[1], len(lags))
		}
		checkMembers(t, res, "", "\x00not-a-topic", 0)
		if _, found := res.Lags("", "\x00not-a-topic"); found && !topics[[2]string{"", "\x00not-a-topic"}] {
			t.Fatal("found a topic no row has")
		}
	})
}

// numbers returns the integers that appear as whitespace-separated words.
func numbers(b []byte) []int64 {
	var out []int64
	for _, w := range strings.Fields(string(b)) {
		if n, err := strconv.ParseInt(w, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// fromInput reports whether l is a number of the input, 0 floored from a
// negative number, or the floored difference of two numbers.
func fromInput(l int64, nums []int64) bool {
	for _, a := range nums {
		if a == l || (l == 0 && a < 0) {
			return true
		}
	}
	for _, a := range nums {
		for _, b := range nums {
			if a >= 0 && b >= 0 && max(a-b, 0) == l {
				return true
			}
		}
	}
	return false
}

// checkSample checks Sample(group, topic) against Lags and the rows: the
// same lags, offsets for each partition, each one UnknownOffset or the
// offset of a row of that partition, both from the row whose lag was picked
// when the lag is known, and all unknown for a partition without a row.
func checkSample(t *testing.T, res Result, group, topic string, lags []int64) {
	t.Helper()
	s, found := res.Sample(group, topic)
	if !found || !slices.Equal(s.Lags, lags) || len(s.Committed) != len(lags) || len(s.LogEnd) != len(lags) {
		t.Fatalf("Sample(%q, %q) = %+v, %t; Lags = %v", group, topic, s, found, lags)
	}
	for p := range lags {
		var rows []Row
		for _, r := range res.Rows {
			if r.Topic == topic && int(r.Partition) == p && (group == "" || r.Group == "" || r.Group == group) {
				rows = append(rows, r)
			}
		}
		c, e := s.Committed[p], s.LogEnd[p]
		if len(rows) == 0 {
			if lags[p] != pipeline.UnknownLag || c != pipeline.UnknownOffset || e != pipeline.UnknownOffset {
				t.Fatalf("Sample(%q, %q) partition %d has no row but lag %d, offsets %d %d", group, topic, p, lags[p], c, e)
			}
			continue
		}
		fromRow := func(r Row) bool {
			return offset(r.CurrentOffset) == c && offset(r.LogEndOffset) == e && r.lag() == lags[p]
		}
		if lags[p] != pipeline.UnknownLag && !slices.ContainsFunc(rows, fromRow) {
			t.Fatalf("Sample(%q, %q) partition %d: lag %d, offsets %d %d are not those of one row of %+v", group, topic, p, lags[p], c, e, rows)
		}
		if c != pipeline.UnknownOffset && !slices.ContainsFunc(rows, func(r Row) bool { return r.CurrentOffset == c }) {
			t.Fatalf("Sample(%q, %q) partition %d: committed %d from no row of %+v", group, topic, p, c, rows)
		}
		if e != pipeline.UnknownOffset && !slices.ContainsFunc(rows, func(r Row) bool { return r.LogEndOffset == e }) {
			t.Fatalf("Sample(%q, %q) partition %d: log end %d from no row of %+v", group, topic, p, e, rows)
		}
	}
}

// checkMembers checks Sample(group, topic).Members against the rows: Active
// is at least 0 and at most the number of distinct consumer ids of the rows;
// Owned is nil or has one entry per partition, and an owned partition has a
// row naming a consumer; the state is one of those the output can tell; an
// empty group has no member and owns nothing.
func checkMembers(t *testing.T, res Result, group, topic string, partitions int) {
	t.Helper()
	s, _ := res.Sample(group, topic)
	m := s.Members
	if m == nil {
		return
	}
	ids := map[string]bool{}
	for _, r := range res.Rows {
		if r.ConsumerID != "" && r.ConsumerID != "-" {
			ids[r.ConsumerID] = true
		}
	}
	if m.Active < 0 || m.Active > len(ids) {
		t.Fatalf("Sample(%q, %q).Members.Active = %d with %d consumer ids in the rows", group, topic, m.Active, len(ids))
	}
	if m.Owned != nil && len(m.Owned) != partitions {
		t.Fatalf("Sample(%q, %q).Members.Owned has %d entries for %d partitions", group, topic, len(m.Owned), partitions)
	}
	switch m.State {
	case "Stable", "Empty", "PreparingRebalance":
	default:
		t.Fatalf("Sample(%q, %q).Members.State = %q", group, topic, m.State)
	}
	if m.State == "Stable" && m.Active == 0 {
		t.Fatalf("Sample(%q, %q).Members is Stable without a member", group, topic)
	}
	for p, o := range m.Owned {
		if !o {
			continue
		}
		if m.State == "Empty" {
			t.Fatalf("Sample(%q, %q).Members is Empty but owns partition %d", group, topic, p)
		}
		if !slices.ContainsFunc(res.Rows, func(r Row) bool {
			return r.Topic == topic && int(r.Partition) == p && r.matches(group) && r.ConsumerID != "" && r.ConsumerID != "-"
		}) {
			t.Fatalf("Sample(%q, %q).Members owns partition %d, which no row gives a consumer", group, topic, p)
		}
	}
	if m.State == "Empty" && m.Active != 0 {
		t.Fatalf("Sample(%q, %q).Members is Empty with %d active", group, topic, m.Active)
	}
}
