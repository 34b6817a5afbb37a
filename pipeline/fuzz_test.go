package pipeline

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// FuzzAppendJSON: the hand-written encoder produces what encoding/json
// reads back as the same document, whatever the names and lags.
func FuzzAppendJSON(f *testing.F) {
	f.Add("orders", "mm", "mirrormaker", "dc1", "native", int64(1700000000123), int64(5), int64(-1), int64(0), "", -1.0)
	f.Add("a\"b\\c\n\t\x01é", "m\u2028", "g\x7f", "", "ssh", int64(0), int64(1<<62), int64(3), int64(-1), "STALL", 12.345)
	f.Fuzz(func(t *testing.T, topic, mirror, group, cluster, method string, ms, l0, l1, l2 int64, status string, timeLag float64) {
		d := Doc{
			Timestamp: time.UnixMilli(ms % (1 << 44)).UTC(),
			Target:    Target{Mirror: mirror, Topic: topic, Group: group, Cluster: cluster, Method: method},
			Lags:      []int64{l0, l1, l2},
			Status:    status,
		}
		// Time lags are seconds to the millisecond, from 0 to a year.
		if timeLag >= 0 && timeLag < 365*24*3600 {
			d.MaxTimeLag, d.HasTimeLag = math.Round(timeLag*1000)/1000, true
		}
		b := d.AppendJSON(nil)
		var got map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		want := func(k, v string) {
			// encoding/json replaces invalid UTF-8 with U+FFFD, as any
			// reader of the document does.
			w, _ := json.Marshal(v)
			var norm string
			_ = json.Unmarshal(w, &norm)
			if got[k] != norm {
				t.Errorf("%s = %q, want %q (json %s)", k, got[k], norm, b)
			}
		}
		want("topic", topic)
		want("mirror", mirror)
		want("group", group)
		want("cluster", cluster)
		want("method", method)
		want("@timestamp", d.Timestamp.Format(TimestampLayout))
		total, max, _ := d.Summary()
		for p, l := range d.Lags {
			key := "p" + string(rune('0'+p))
			v, ok := got[key]
			if l < 0 {
				if ok {
					t.Errorf("%s present for unknown lag: %s", key, b)
				}
				continue
			}
			if n, _ := v.(json.Number).Int64(); !ok || n != l {
				t.Errorf("%s = %v, want %d", key, v, l)
			}
		}
		if n, _ := got["total_lag"].(json.Number).Int64(); n != total {
			t.Errorf("total_lag %v, want %d", got["total_lag"], total)
		}
		if n, _ := got["max_lag"].(json.Number).Int64(); n != max {
			t.Errorf("max_lag %v, want %d", got["max_lag"], max)
		}
		if status != "" {
			want("status", status)
		} else if _, ok := got["status"]; ok {
			t.Errorf("status present while unknown: %s", b)
		}
		tl, ok := got["max_time_lag"]
		switch {
		case d.HasTimeLag:
			wantJSON, _ := json.Marshal(d.MaxTimeLag)
			if !ok || string(tl.(json.Number)) != string(wantJSON) {
				t.Errorf("max_time_lag %v, want %s (as encoding/json writes it)", tl, wantJSON)
			}
		case ok:
			t.Errorf("max_time_lag present while unknown: %s", b)
		}
	})
}
