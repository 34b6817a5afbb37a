package ssh

import (
	"strconv"
	"strings"
	"testing"

	"github.com/lagship/lagship/pipeline"
)

// FuzzParse checks, on any input, that Parse never panics and that Lags never
// invents a lag: every value is UnknownLag or a number ≥ 0 that appears in
// stdout, or the difference of two numbers in stdout, or 0 from a flooring.
func FuzzParse(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.stdout, fx.stderr)
	}
	f.Add([]byte(table("g t 0 1 2 - c h i", "g t 3 9 5 -4 c h i")), []byte(nil))
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
		}
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
