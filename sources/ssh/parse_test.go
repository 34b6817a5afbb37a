package ssh

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lagship/lagship/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/describe/*.golden from the parser's output")

const describeDir = "testdata/describe"

// fixture is one captured run: <name>.stdout and, when present, <name>.stderr.
type fixture struct {
	name           string
	stdout, stderr []byte
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(describeDir, "*.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no fixtures under %s", describeDir)
	}
	var fs []fixture
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".stdout")
		out, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		errOut, err := os.ReadFile(filepath.Join(describeDir, name+".stderr"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		fs = append(fs, fixture{name: name, stdout: out, stderr: errOut})
	}
	return fs
}

// golden is the JSON form of a Result kept in <name>.golden, with the lags
// every topic yields, per group and for any group ("*").
type golden struct {
	Status  string             `json:"status"`
	Message string             `json:"message"`
	Rows    []goldenRow        `json:"rows"`
	Lags    map[string][]int64 `json:"lags"`
}

// goldenRow is a Row without its consumer id, which TestMembers covers.
type goldenRow struct {
	Group         string
	Topic         string
	Partition     int32
	CurrentOffset int64
	LogEndOffset  int64
	Lag           int64
}

func toGolden(r Result) golden {
	g := golden{Status: r.Status.String(), Message: r.Message, Lags: map[string][]int64{}}
	for _, row := range r.Rows {
		g.Rows = append(g.Rows, goldenRow{row.Group, row.Topic, row.Partition, row.CurrentOffset, row.LogEndOffset, row.Lag})
	}
	for _, row := range r.Rows {
		for _, group := range []string{"", row.Group} {
			key := group
			if key == "" {
				key = "*"
			}
			key += "/" + row.Topic
			if _, done := g.Lags[key]; done {
				continue
			}
			lags, found := r.Lags(group, row.Topic)
			if !found {
				panic("topic of a row not found: " + key)
			}
			g.Lags[key] = lags
		}
	}
	return g
}

func TestParseGolden(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			res, err := Parse(f.stdout, f.stderr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := json.MarshalIndent(toGolden(res), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join(describeDir, f.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from %s (run with -update if intended)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// TestParseFixtureStatus pins the status each fixture's name promises, so a
// careless -update cannot bless a wrong classification.
func TestParseFixtureStatus(t *testing.T) {
	byState := []struct {
		marker string
		want   Status
	}{
		{"-no-active-members", StatusNoActiveMembers},
		{"-rebalancing", StatusRebalancing},
		{"-group-missing", StatusGroupMissing},
		{"-command-error", StatusCommandError},
		{"-one-missing", StatusGroupMissing},
	}
	for _, f := range loadFixtures(t) {
		want := StatusOK
		for _, s := range byState {
			if strings.HasSuffix(f.name, s.marker) {
				want = s.want
			}
		}
		res, err := Parse(f.stdout, f.stderr)
		if err != nil {
			t.Errorf("%s: Parse: %v", f.name, err)
			continue
		}
		if res.Status != want {
			t.Errorf("%s: status %v, want %v (message %q)", f.name, res.Status, want, res.Message)
		}
		if want != StatusOK && res.Message == "" {
			t.Errorf("%s: status %v without a message", f.name, res.Status)
		}
		tableless := want == StatusGroupMissing && !strings.Contains(f.name, "one-missing") ||
			want == StatusCommandError || f.name == "edge-blank" ||
			f.name == "0.10.1-rebalancing"
		if tableless != (len(res.Rows) == 0) {
			t.Errorf("%s: %d rows, table expected: %v", f.name, len(res.Rows), !tableless)
		}
	}
}

// header builds a 2.3+ table from rows of fields.
func table(rows ...string) string {
	return "\nGROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\n" +
		strings.Join(rows, "\n") + "\n"
}

const u = pipeline.UnknownLag

func TestLags(t *testing.T) {
	tests := []struct {
		name         string
		stdout       string
		group, topic string
		want         []int64
		found        bool
	}{
		{
			name: "exact topic: orders does not match orders-v2",
			stdout: table(
				"g orders-v2 0 1 100 99 c h i",
				"g orders 0 10 15 5 c h i",
				"g orders-v2 1 1 100 99 c h i",
			),
			group: "g", topic: "orders", want: []int64{5}, found: true,
		},
		{
			name: "exact topic: orders-v2 does not match orders",
			stdout: table(
				"g orders 0 10 15 5 c h i",
				"g orders-v2 1 1 100 99 c h i",
			),
			group: "g", topic: "orders-v2", want: []int64{u, 99}, found: true,
		},
		{
			name:   "topic prefix is no match",
			stdout: table("g orders-v2 0 1 2 1 c h i"),
			group:  "g", topic: "orders", want: nil, found: false,
		},
		{
			name: "partitions out of order",
			stdout: table(
				"g t 3 0 30 30 c h i",
				"g t 0 0 0 0 c h i",
				"g t 2 0 20 20 c h i",
				"g t 1 0 10 10 c h i",
			),
			group: "g", topic: "t", want: []int64{0, 10, 20, 30}, found: true,
		},
		{
			name:   "partition without a row is unknown",
			stdout: table("g t 2 5 7 2 c h i"),
			group:  "g", topic: "t", want: []int64{u, u, 2}, found: true,
		},
		{
			name: "dash lag without offsets is unknown",
			stdout: table(
				"g t 0 - 100 - c h i",
				"g t 1 - - - - - -",
			),
			group: "g", topic: "t", want: []int64{u, u}, found: true,
		},
		{
			name:   "dash lag with both offsets is derived",
			stdout: table("g t 0 90 100 - c h i"),
			group:  "g", topic: "t", want: []int64{10}, found: true,
		},
		{
			name:   "derived lag floors at 0",
			stdout: table("g t 0 110 100 - c h i"),
			group:  "g", topic: "t", want: []int64{0}, found: true,
		},
		{
			name: "negative lag floors at 0",
			stdout: table(
				"g t 0 1300 1250 -50 c h i",
				"g t 1 5 4 -1 c h i",
			),
			group: "g", topic: "t", want: []int64{0, 0}, found: true,
		},
		{
			name:   "no leader: dash LOG-END-OFFSET and LAG",
			stdout: table("g t 0 800 - - c h i"),
			group:  "g", topic: "t", want: []int64{u}, found: true,
		},
		{
			name: "group selection among several groups",
			stdout: table(
				"a t 0 1 11 10 c h i",
				"b t 0 1 21 20 c h i",
				"b t 1 1 31 30 c h i",
			),
			group: "a", topic: "t", want: []int64{10}, found: true,
		},
		{
			name: "other group selected",
			stdout: table(
				"a t 0 1 11 10 c h i",
				"b t 0 1 21 20 c h i",
				"b t 1 1 31 30 c h i",
			),
			group: "b", topic: "t", want: []int64{20, 30}, found: true,
		},
		{
			name: "any group: largest known lag per partition",
			stdout: table(
				"a t 0 1 11 10 c h i",
				"b t 0 1 21 20 c h i",
				"a t 1 - 5 - c h i",
				"b t 1 3 5 2 c h i",
			),
			group: "", topic: "t", want: []int64{20, 2}, found: true,
		},
		{
			name:   "group not present",
			stdout: table("a t 0 1 11 10 c h i"),
			group:  "z", topic: "t", want: nil, found: false,
		},
		{
			name:   "layout without GROUP column matches any group",
			stdout: "\nTOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\nt 0 1 3 2 c h i\n",
			group:  "", topic: "t", want: []int64{2}, found: true,
		},
		{
			name:   "layout without GROUP column matches the group asked for",
			stdout: "\nTOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\nt 0 1 3 2 c h i\n",
			group:  "mm", topic: "t", want: []int64{2}, found: true,
		},
		{
			name:   "member without assignment is found but has no partition",
			stdout: table("g - - - - - c h i"),
			group:  "g", topic: "-", want: nil, found: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.stdout), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, found := res.Lags(tt.group, tt.topic)
			if found != tt.found || !slices.Equal(got, tt.want) {
				t.Errorf("Lags(%q, %q) = %v, %v; want %v, %v", tt.group, tt.topic, got, found, tt.want, tt.found)
			}
		})
	}
}

func TestParseRows(t *testing.T) {
	tests := []struct {
		name   string
		stdout string
		want   []Row
	}{
		{
			name:   "0.10.0 unknown values and OWNER",
			stdout: "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG OWNER\ng t 0 unknown 7 unknown none\ng t 1 -1 7 unknown none\n",
			want: []Row{
				{Group: "g", Topic: "t", Partition: 0, CurrentOffset: -1, LogEndOffset: 7, Lag: -1},
				{Group: "g", Topic: "t", Partition: 1, CurrentOffset: -1, LogEndOffset: 7, Lag: -1},
			},
		},
		{
			name:   "0.10.2 consumer id run into host",
			stdout: "\nTOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\nt 4 10 12 2 " + strings.Repeat("x", 60) + "/10.0.0.1 client\n",
			want:   []Row{{Topic: "t", Partition: 4, CurrentOffset: 10, LogEndOffset: 12, Lag: 2, ConsumerID: strings.Repeat("x", 60) + "/10.0.0.1"}},
		},
		{
			name:   "4.0 verbose LEADER-EPOCH between PARTITION and CURRENT-OFFSET",
			stdout: "\nGROUP TOPIC PARTITION LEADER-EPOCH CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\ng t 0 9 100 160 60 c h i",
			want:   []Row{{Group: "g", Topic: "t", Partition: 0, CurrentOffset: 100, LogEndOffset: 160, Lag: 60, ConsumerID: "c"}},
		},
		{
			name:   "CRLF and trailing spaces",
			stdout: "\r\nGROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG   \r\ng t 0 1 2 1   \r\n",
			want:   []Row{{Group: "g", Topic: "t", Partition: 0, CurrentOffset: 1, LogEndOffset: 2, Lag: 1}},
		},
		{
			name:   "group named like a message is a row",
			stdout: table("Error: t 0 1 2 1 c h i"),
			want:   []Row{{Group: "Error:", Topic: "t", Partition: 0, CurrentOffset: 1, LogEndOffset: 2, Lag: 1, ConsumerID: "c"}},
		},
		{
			name:   "columns in another order",
			stdout: "LAG TOPIC LOG-END-OFFSET PARTITION CURRENT-OFFSET\n3 t 10 2 7\n",
			want:   []Row{{Topic: "t", Partition: 2, CurrentOffset: 7, LogEndOffset: 10, Lag: 3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.stdout), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(res.Rows, tt.want) {
				t.Errorf("rows = %+v\nwant %+v", res.Rows, tt.want)
			}
			if res.Status != StatusOK {
				t.Errorf("status = %v, want ok", res.Status)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name           string
		stdout, stderr string
		want           Status
		message        string
		rows           int
	}{
		{
			name:    "no active members keeps the table",
			stdout:  table("g t 0 1 2 1 - - -"),
			stderr:  "\nConsumer group 'g' has no active members.\n",
			want:    StatusNoActiveMembers,
			message: "Consumer group 'g' has no active members.",
			rows:    1,
		},
		{
			name:    "rebalancing keeps the table",
			stdout:  table("g t 0 1 2 1 - - -"),
			stderr:  "Warning: Consumer group 'g' is rebalancing.\n",
			want:    StatusRebalancing,
			message: "Warning: Consumer group 'g' is rebalancing.",
			rows:    1,
		},
		{
			name:    "missing group",
			stdout:  "\nError: Consumer group 'g' does not exist.\n",
			want:    StatusGroupMissing,
			message: "Error: Consumer group 'g' does not exist.",
		},
		{
			name:    "4.x missing group is an exception",
			stdout:  "\nError: Executing consumer group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group g not found.\n",
			want:    StatusGroupMissing,
			message: "Error: Executing consumer group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group g not found.",
		},
		{
			name:    "command error on stdout, stack trace on stderr",
			stdout:  "\nError: Executing consumer group command failed due to boom\n",
			stderr:  "java.lang.RuntimeException: boom\n\tat x.y(Z.java:1)\n",
			want:    StatusCommandError,
			message: "Error: Executing consumer group command failed due to boom",
		},
		{
			name:    "error on stderr",
			stderr:  "Error: only on stderr\n",
			want:    StatusCommandError,
			message: "Error: only on stderr",
		},
		{
			name:    "JVM failure on stderr",
			stderr:  "Exception in thread \"main\" java.lang.NoClassDefFoundError: kafka/admin/ConsumerGroupCommand\n\tat x\n",
			want:    StatusCommandError,
			message: "Exception in thread \"main\" java.lang.NoClassDefFoundError: kafka/admin/ConsumerGroupCommand",
		},
		{
			name:   "stderr noise is ignored",
			stdout: table("g t 0 1 2 1 c h i"),
			stderr: "SLF4J: Class path contains multiple SLF4J bindings.\nNote: This will not show information about old Zookeeper-based consumers.\n\n[2024-01-01 00:00:00,000] WARN something (org.apache.kafka.clients.NetworkClient)\n",
			want:   StatusOK,
			rows:   1,
		},
		{
			name: "most severe status wins and messages are joined",
			stdout: table("a t 0 1 2 1 c h i") +
				"\nError: Consumer group 'b' does not exist.\n" + table("c t 0 1 2 1 - - -"),
			stderr:  "\nConsumer group 'c' has no active members.\n",
			want:    StatusGroupMissing,
			message: "Error: Consumer group 'b' does not exist.; Consumer group 'c' has no active members.",
			rows:    2,
		},
		{
			name:    "0.10.1 backtick messages",
			stdout:  "Consumer group `g` is rebalancing.\n",
			want:    StatusRebalancing,
			message: "Consumer group `g` is rebalancing.",
		},
		{
			name:    "0.10.x stack trace on stdout is absorbed",
			stdout:  "Error while executing consumer group command boom\njava.lang.RuntimeException: boom\n\tat kafka.admin.AdminClient.x(AdminClient.scala:1)\n",
			want:    StatusCommandError,
			message: "Error while executing consumer group command boom",
		},
		{
			name:   "blank",
			stdout: "\n \r\n\t\n",
			want:   StatusOK,
		},
		{
			name: "empty",
			want: StatusOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.stdout), []byte(tt.stderr))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if res.Status != tt.want || res.Message != tt.message || len(res.Rows) != tt.rows {
				t.Errorf("got status %v, message %q, %d rows; want %v, %q, %d rows",
					res.Status, res.Message, len(res.Rows), tt.want, tt.message, tt.rows)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, stdout, wantErr string
	}{
		{"text before any header", "hello\n", "line 1: unexpected text"},
		{"row before any header", "g t 0 1 2 1\n", "line 1: unexpected text"},
		{"non-numeric offset", table("g t 0 x 2 1 c h i"), "line 3: CURRENT-OFFSET"},
		{"non-numeric partition", table("g t p 1 2 1 c h i"), "line 3: PARTITION"},
		{"short row", table("g t 0 1"), "line 3: row"},
		{"partition out of range", table("g t 99999999 1 2 1 c h i"), "out of range"},
		{"members table is not an offsets table", "\nGROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS\ng c h i 3\n", "line 2: unexpected text"},
		{"state table is not an offsets table", "\nGROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS\n", "line 2: unexpected text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.stdout), nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{
		StatusOK:              "ok",
		StatusNoActiveMembers: "no active members",
		StatusRebalancing:     "rebalancing",
		StatusGroupMissing:    "group missing",
		StatusCommandError:    "command error",
		Status(42):            "Status(42)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}
