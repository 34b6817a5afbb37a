package mm2

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

type record struct {
	line       int
	key, value []byte
}

// readRecords reads testdata/records.txt.
func readRecords(t testing.TB) []record {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "records.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("records.txt:%d: no tab", n)
		}
		r := record{line: n, key: []byte(k), value: []byte(v)}
		if k == "" {
			r.key = nil
		}
		if v == "<nil>" {
			r.value = nil
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(e Entry, k Kind, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	if k != KindMirror {
		return fmt.Sprintf("%s connector=%q", k, e.Connector)
	}
	if e.Tombstone {
		return fmt.Sprintf("%s connector=%q alias=%q topic=%q partition=%d tombstone", k, e.Connector, e.Alias, e.Topic, e.Partition)
	}
	return fmt.Sprintf("%s connector=%q alias=%q topic=%q partition=%d offset=%d", k, e.Connector, e.Alias, e.Topic, e.Partition, e.Offset)
}

func TestDecodeGolden(t *testing.T) {
	var b strings.Builder
	for _, r := range readRecords(t) {
		e, k, err := Decode(r.key, r.value)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("records.txt:%d: error %v does not wrap ErrMalformed", r.line, err)
		}
		fmt.Fprintf(&b, "%d: %s\n", r.line, describe(e, k, err))
	}
	golden := filepath.Join("testdata", "records.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("decoded records differ from %s (run with -update after checking):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

func TestDecode(t *testing.T) {
	const key = `["MirrorSourceConnector",{"cluster":"dc1","partition":4,"topic":"orders"}]`
	tests := []struct {
		name       string
		key, value string
		nilValue   bool
		want       Entry
		kind       Kind
		wantErr    bool
	}{
		{name: "offset", key: key, value: `{"offset":41}`,
			want: Entry{Connector: "MirrorSourceConnector", Alias: "dc1", Topic: "orders", Partition: 4, Offset: 41}, kind: KindMirror},
		{name: "tombstone", key: key, nilValue: true,
			want: Entry{Connector: "MirrorSourceConnector", Alias: "dc1", Topic: "orders", Partition: 4, Tombstone: true}, kind: KindMirror},
		{name: "renamed connector", key: `["flow-a",{"cluster":"dc1","partition":4,"topic":"orders"}]`, value: `{"offset":0}`,
			want: Entry{Connector: "flow-a", Alias: "dc1", Topic: "orders", Partition: 4}, kind: KindMirror},
		{name: "checkpoint key", key: `["MirrorCheckpointConnector",{"sourceClusterAlias":"dc1","targetClusterAlias":"dc2","group":"g","topic":"orders","partition":0}]`, value: `{"offset":0}`,
			want: Entry{Connector: "MirrorCheckpointConnector"}, kind: KindOther},
		{name: "heartbeat key with bad value is still ignored", key: `["MirrorHeartbeatConnector",{"sourceClusterAlias":"dc1","targetClusterAlias":"dc2"}]`, value: `garbage`,
			want: Entry{Connector: "MirrorHeartbeatConnector"}, kind: KindOther},
		{name: "partition overflows int32", key: `["c",{"cluster":"dc1","partition":2147483648,"topic":"orders"}]`, value: `{"offset":1}`, wantErr: true},
		{name: "offset overflows int64", key: key, value: `{"offset":9223372036854775808}`, wantErr: true},
		{name: "not json", key: `{`, value: `{"offset":1}`, wantErr: true},
		{name: "empty value", key: key, value: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value := []byte(tt.value)
			if tt.nilValue {
				value = nil
			}
			e, k, err := Decode([]byte(tt.key), value)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Decode = %+v, %v, %v; want an error wrapping ErrMalformed", e, k, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if e != tt.want || k != tt.kind {
				t.Errorf("Decode = %+v, %v; want %+v, %v", e, k, tt.want, tt.kind)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, r := range readRecords(f) {
		f.Add(r.key, r.value, r.value == nil)
	}
	f.Fuzz(func(t *testing.T, key, value []byte, nilValue bool) {
		if nilValue {
			value = nil
		}
		e, k, err := Decode(key, value)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if k != KindMirror {
			return
		}
		if e.Alias == "" || e.Topic == "" || e.Partition < 0 || e.Offset < 0 {
			t.Fatalf("invalid entry %+v", e)
		}
		// Re-encoding the entry as Connect would gives the same entry.
		k2, err := json.Marshal([]any{e.Connector, map[string]any{"cluster": e.Alias, "partition": e.Partition, "topic": e.Topic}})
		if err != nil {
			t.Fatal(err)
		}
		var v2 []byte
		if !e.Tombstone {
			v2 = fmt.Appendf(nil, `{"offset":%d}`, e.Offset)
		}
		e2, kind2, err := Decode(k2, v2)
		if err != nil || kind2 != KindMirror || e2 != e {
			t.Fatalf("re-encoded %s %s decodes to %+v, %v, %v; want %+v", k2, v2, e2, kind2, err, e)
		}
	})
}
