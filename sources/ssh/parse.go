package ssh

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lagship/lagship/pipeline"
)

// This file turns the text that `kafka-consumer-groups.sh --describe` prints
// into rows. The tool has printed several layouts since Kafka 0.10:
//
//	0.10.0–0.10.1  GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG OWNER ("unknown" when missing)
//	0.10.2–2.2     TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
//	2.3–4.x        GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
//	4.0+ --verbose GROUP TOPIC PARTITION LEADER-EPOCH CURRENT-OFFSET ...
//
// so columns are located by their header names, never by position, and a
// new header line starts a new table (one per group). The columns up to
// LAG are read from the left, and so is CONSUMER-ID, which follows LAG: in
// 0.10.2–1.0 a consumer id of 50 characters or more runs into HOST without a
// space, which breaks the columns after it but still leaves one word per
// consumer in the CONSUMER-ID column.

// Status is what one run of kafka-consumer-groups.sh --describe said about
// the group.
type Status int

const (
	// StatusOK means the table was parsed and nothing else was reported.
	StatusOK Status = iota
	// StatusNoActiveMembers: "Consumer group 'G' has no active members."
	// on stderr. The table, if any, is still valid.
	StatusNoActiveMembers
	// StatusRebalancing: "Warning: Consumer group 'G' is rebalancing." on
	// stderr. The table, if any, is still valid.
	StatusRebalancing
	// StatusGroupMissing: "Error: Consumer group 'G' does not exist." on
	// stdout (or its 0.10.x and 4.x equivalents).
	StatusGroupMissing
	// StatusCommandError: "Error: Executing consumer group command failed
	// due to ..." or any other error the tool printed.
	StatusCommandError
)

// String returns a lower-case name for logs.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusNoActiveMembers:
		return "no active members"
	case StatusRebalancing:
		return "rebalancing"
	case StatusGroupMissing:
		return "group missing"
	case StatusCommandError:
		return "command error"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Row is one partition row. Unknown values ('-', 'unknown', empty) are -1.
// A negative LAG printed by the tool (committed offset past the log end) is
// stored as 0, so -1 always means unknown. Group is empty for the layouts
// without a GROUP column (0.10.2–2.2).
//
// ConsumerID is the CONSUMER-ID word as printed: "-" when no member owns the
// partition, empty when the layout has no CONSUMER-ID column (0.10.0–0.10.1,
// whose OWNER column is not read) or the row stops before it. In 0.10.2–1.0
// a long id may carry the host glued to it ("id/10.0.0.1"); it still names
// one consumer.
type Row struct {
	Group         string
	Topic         string
	Partition     int32
	CurrentOffset int64
	LogEndOffset  int64
	Lag           int64
	ConsumerID    string
}

// Result is everything one run printed. When the output holds several groups
// with different states, Status is the most severe one (CommandError >
// GroupMissing > Rebalancing > NoActiveMembers > OK) and Message holds every
// message, joined by "; ".
type Result struct {
	Status  Status
	Message string // the error or warning text, for logs
	Rows    []Row

	// Groups named by "has no active members." and "is rebalancing."
	// messages, for Members.
	emptyGroups, rebalancingGroups []string
}

// MaxPartition bounds the PARTITION column: a larger number is rejected as
// garbage rather than turned into a huge slice by Lags.
const MaxPartition = 1 << 20

// unknown is the value of a missing number in a Row.
const unknown = -1

// Parse reads the stdout and stderr of one `kafka-consumer-groups.sh
// --describe` run. It does no I/O. The tool exits 0 whether the group exists
// or not, so the outcome is read from the text: see Status.
//
// It returns an error only when stdout holds something that is neither a
// table, a known message nor blank; the error names the line.
func Parse(stdout, stderr []byte) (Result, error) {
	var p parser
	if err := p.stdout(stdout); err != nil {
		return Result{}, err
	}
	p.stderr(stderr)
	return Result{
		Status:            p.status,
		Message:           strings.Join(p.messages, "; "),
		Rows:              p.rows,
		emptyGroups:       p.emptyGroups,
		rebalancingGroups: p.rebalancingGroups,
	}, nil
}

type parser struct {
	status   Status
	messages []string
	rows     []Row

	emptyGroups, rebalancingGroups []string

	cols    columns
	inTable bool // a header was seen and no message since
	inError bool // an error was printed: what follows until a header is its detail (stack trace)
}

// columns holds the index of each needed column in a whitespace-split line;
// group is -1 when the layout has no GROUP column.
type columns struct {
	group, topic, partition, current, logEnd, lag int
	need                                          int // fields a row must have
	consumer                                      int // CONSUMER-ID, -1 when absent; not needed by a row
}

func (p *parser) report(s Status, msg string) {
	if s > p.status {
		p.status = s
	}
	switch name, ok := messageGroup(msg); {
	case !ok:
	case s == StatusNoActiveMembers:
		p.emptyGroups = append(p.emptyGroups, name)
	case s == StatusRebalancing:
		p.rebalancingGroups = append(p.rebalancingGroups, name)
	}
	if msg != "" {
		p.messages = append(p.messages, msg)
	}
}

func (p *parser) stdout(b []byte) error {
	for n, line := range lines(b) {
		if line == "" {
			continue
		}
		if cols, ok := header(line); ok {
			p.cols, p.inTable, p.inError = cols, true, false
			continue
		}
		// Inside a table a row comes first: a group named "Error-x" is
		// still a row. No message of the tool parses as a row.
		var rowErr error
		if p.inTable {
			row, err := p.cols.row(line)
			if err == nil {
				p.rows = append(p.rows, row)
				continue
			}
			rowErr = err
		}
		if s, ok := stdoutMessage(line); ok {
			if s != StatusOK {
				p.report(s, line)
			}
			if s >= StatusGroupMissing {
				p.inError = true
			}
			p.inTable = false
			continue
		}
		switch {
		case p.inError:
			// detail of the error above, e.g. a 0.10.x stack trace
		case rowErr != nil:
			return fmt.Errorf("parsing describe output line %d: %w", n+1, rowErr)
		default:
			return fmt.Errorf("parsing describe output line %d: unexpected text %q", n+1, clip(line))
		}
	}
	return nil
}

func (p *parser) stderr(b []byte) {
	inError := false
	for _, line := range lines(b) {
		switch {
		case line == "":
		case isNoActiveMembers(line):
			p.report(StatusNoActiveMembers, line)
			inError = false
		case isRebalancing(line):
			p.report(StatusRebalancing, line)
			inError = false
		case strings.HasPrefix(line, "Error:"), strings.HasPrefix(line, "Exception in thread "):
			if !inError {
				p.report(errorStatus(line), line)
			}
			inError = true
		}
		// Anything else on stderr (Note: banners, stack traces of errors
		// already reported on stdout, JVM and logging chatter) is noise.
	}
}

// lines splits b into lines without their CR and trailing blanks.
func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	raw := strings.Split(string(b), "\n")
	for i, l := range raw {
		raw[i] = strings.TrimRight(l, " \t\r")
	}
	return raw
}

// header recognises a table header and maps its columns.
func header(line string) (columns, bool) {
	f := strings.Fields(line)
	c := columns{group: -1, topic: -1, partition: -1, current: -1, logEnd: -1, lag: -1, consumer: -1}
	for i, name := range f {
		var slot *int
		switch name {
		case "CONSUMER-ID":
			// Optional, and only its first occurrence counts: it never
			// decides whether a line is a header.
			if c.consumer < 0 {
				c.consumer = i
			}
			continue
		case "GROUP":
			slot = &c.group
		case "TOPIC":
			slot = &c.topic
		case "PARTITION":
			slot = &c.partition
		case "CURRENT-OFFSET":
			slot = &c.current
		case "LOG-END-OFFSET":
			slot = &c.logEnd
		case "LAG":
			slot = &c.lag
		default:
			continue
		}
		if *slot >= 0 {
			return columns{}, false // a name twice: not a header we know
		}
		*slot = i
		if i+1 > c.need {
			c.need = i + 1
		}
	}
	if c.topic < 0 || c.partition < 0 || c.current < 0 || c.logEnd < 0 || c.lag < 0 {
		return columns{}, false
	}
	return c, true
}

// row reads one table row with the header's columns. Only the first c.need
// fields and CONSUMER-ID are used; the rest (host, client id) may be run
// together or missing, and a row that stops before CONSUMER-ID has none.
func (c columns) row(line string) (Row, error) {
	f := strings.Fields(line)
	if len(f) < c.need {
		return Row{}, fmt.Errorf("row %q has %d fields, the header needs %d", clip(line), len(f), c.need)
	}
	r := Row{Topic: f[c.topic]}
	if c.group >= 0 {
		r.Group = f[c.group]
	}
	if c.consumer >= 0 && c.consumer < len(f) {
		r.ConsumerID = f[c.consumer]
	}
	part, err := number(f[c.partition], 32)
	if err != nil {
		return Row{}, fmt.Errorf("PARTITION in row %q: %w", clip(line), err)
	}
	if part > MaxPartition {
		return Row{}, fmt.Errorf("PARTITION %d in row %q is out of range", part, clip(line))
	}
	if part < 0 {
		part = unknown
	}
	r.Partition = int32(part)
	for _, v := range []struct {
		name string
		idx  int
		dst  *int64
	}{
		{"CURRENT-OFFSET", c.current, &r.CurrentOffset},
		{"LOG-END-OFFSET", c.logEnd, &r.LogEndOffset},
		{"LAG", c.lag, &r.Lag},
	} {
		n, err := number(f[v.idx], 64)
		if err != nil {
			return Row{}, fmt.Errorf("%s in row %q: %w", v.name, clip(line), err)
		}
		*v.dst = n
	}
	// Offsets are never negative; 0.10.0 prints -1 for "no committed offset".
	if r.CurrentOffset < 0 {
		r.CurrentOffset = unknown
	}
	if r.LogEndOffset < 0 {
		r.LogEndOffset = unknown
	}
	// A printed negative lag (committed past the log end, seen during
	// truncation) floors at 0; a missing one stays unknown.
	if r.Lag < 0 && f[c.lag] != "-" && f[c.lag] != "unknown" {
		r.Lag = 0
	}
	return r, nil
}

// number parses a column value; "-" and "unknown" are unknown (-1).
func number(s string, bits int) (int64, error) {
	if s == "-" || s == "unknown" {
		return unknown, nil
	}
	return strconv.ParseInt(s, 10, bits)
}

// stdoutMessage classifies a line of stdout that is not part of a table.
// ok is false when the line is not a message the tool prints.
func stdoutMessage(line string) (Status, bool) {
	switch {
	case strings.HasPrefix(line, "Error"):
		// "Error: ..." (0.10.2+) and "Error while executing consumer
		// group command ..." (0.10.0–0.10.1).
		return errorStatus(line), true
	case strings.HasPrefix(line, "Note:"), strings.HasPrefix(line, "WARN:"):
		return StatusOK, true
	case isNoActiveMembers(line):
		return StatusNoActiveMembers, true
	case isRebalancing(line):
		return StatusRebalancing, true
	}
	if strings.HasPrefix(line, "Consumer group `") {
		// 0.10.0 says "does not exist or is rebalancing" for both cases;
		// with no table either way, it counts as missing.
		if strings.HasSuffix(line, "` does not exist.") || strings.HasSuffix(line, "` does not exist or is rebalancing.") {
			return StatusGroupMissing, true
		}
		if strings.HasSuffix(line, "` is rebalancing.") {
			return StatusRebalancing, true
		}
	}
	switch {
	case line == "No topic available for consumer group provided":
		// 0.10.x ZooKeeper-based group without offsets.
		return StatusGroupMissing, true
	case strings.HasPrefix(line, "Could not fetch offset from "), strings.HasPrefix(line, "No broker for partition "):
		// 0.10.x ZooKeeper-based group: per-partition failures.
		return StatusCommandError, true
	}
	return 0, false
}

// errorStatus tells a missing group from any other error.
func errorStatus(line string) Status {
	switch {
	case strings.Contains(line, "GroupIdNotFoundException"), // 4.x
		strings.HasPrefix(line, "Error: Consumer group '") && strings.HasSuffix(line, "' does not exist."),
		strings.HasPrefix(line, "Error: The consumer group '") && strings.HasSuffix(line, "' does not exist."):
		return StatusGroupMissing
	}
	return StatusCommandError
}

func isNoActiveMembers(line string) bool {
	return quoted(line, "Consumer group ", " has no active members.")
}

func isRebalancing(line string) bool {
	return quoted(line, "Warning: Consumer group ", " is rebalancing.")
}

// messageGroup returns the group a "has no active members." or "is
// rebalancing." message names: 'G' since 0.10.2, `G` in 0.10.1.
func messageGroup(line string) (string, bool) {
	line = strings.TrimPrefix(line, "Warning: ")
	for _, suffix := range []string{" has no active members.", " is rebalancing."} {
		name, ok := strings.CutSuffix(line, suffix)
		if !ok {
			continue
		}
		name, ok = strings.CutPrefix(name, "Consumer group ")
		if ok && len(name) >= 2 && (name[0] == '\'' || name[0] == '`') && name[len(name)-1] == name[0] {
			return name[1 : len(name)-1], true
		}
	}
	return "", false
}

// quoted reports whether line is prefix + 'name' + suffix.
func quoted(line, prefix, suffix string) bool {
	// The length check keeps prefix and suffix from overlapping, as in
	// "Consumer group has no active members.".
	if len(line) < len(prefix)+len(suffix) || !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, suffix) {
		return false
	}
	name := line[len(prefix) : len(line)-len(suffix)]
	return len(name) >= 2 && name[0] == '\'' && name[len(name)-1] == '\''
}

// clip shortens a line for an error message.
func clip(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// Lags returns the partition-indexed lags of one topic (exact TOPIC match)
// for group ("" = any group). Rows of the layouts without a GROUP column
// (0.10.2–2.2, where the command ran for one --group) have an empty Group
// and match whatever group is asked for. The slice is as long as the highest partition
// seen plus one; a partition without a row, or whose lag is unknown, is
// pipeline.UnknownLag. A negative lag floors at 0. When LAG is unknown but
// CURRENT-OFFSET and LOG-END-OFFSET are both known, the lag is their
// difference (floored at 0). When several rows describe the same partition
// (several groups and group ""), the largest known lag wins. found is false
// when no row has that topic.
func (r Result) Lags(group, topic string) (lags []int64, found bool) {
	s, found := r.offsets(group, topic)
	return s.Lags, found
}

// Sample is Lags with the offsets of the same rows: Committed holds the
// CURRENT-OFFSET and LogEnd the LOG-END-OFFSET of each partition,
// pipeline.UnknownOffset where the tool printed '-' (or 'unknown', or -1)
// or printed no row. All three slices have the same length. The row whose
// lag Lags picked gives both offsets of its partition; when no row of a
// partition has a known lag, each offset comes from the first row that
// knows it. The offsets are as printed: a committed offset past the log end
// (a negative LAG, floored at 0 in Lags) is kept.
//
// Members is the group's membership as the output tells it (see Members);
// it is set even when found is false, e.g. for a rebalancing group that
// printed no table.
func (r Result) Sample(group, topic string) (s pipeline.Sample, found bool) {
	s, found = r.offsets(group, topic)
	s.Members = r.Members(group, topic, len(s.Lags))
	return s, found
}

// matches reports whether row belongs to group under the rule of Lags.
func (row Row) matches(group string) bool {
	return group == "" || row.Group == "" || row.Group == group
}

func (r Result) offsets(group, topic string) (s pipeline.Sample, found bool) {
	for _, row := range r.Rows {
		if row.Topic != topic || !row.matches(group) {
			continue
		}
		found = true
		if row.Partition < 0 || row.Partition > MaxPartition {
			continue
		}
		for int(row.Partition) >= len(s.Lags) {
			s.Lags = append(s.Lags, pipeline.UnknownLag)
			s.Committed = append(s.Committed, pipeline.UnknownOffset)
			s.LogEnd = append(s.LogEnd, pipeline.UnknownOffset)
		}
		p := row.Partition
		switch l := row.lag(); {
		case l > s.Lags[p]:
			s.Lags[p], s.Committed[p], s.LogEnd[p] = l, offset(row.CurrentOffset), offset(row.LogEndOffset)
		case l == pipeline.UnknownLag && s.Lags[p] == pipeline.UnknownLag:
			if s.Committed[p] == pipeline.UnknownOffset {
				s.Committed[p] = offset(row.CurrentOffset)
			}
			if s.LogEnd[p] == pipeline.UnknownOffset {
				s.LogEnd[p] = offset(row.LogEndOffset)
			}
		}
	}
	return s, found
}

// offset maps a Row's unknown value to pipeline.UnknownOffset.
func offset(v int64) int64 {
	if v < 0 {
		return pipeline.UnknownOffset
	}
	return v
}

// lag is the row's lag, derived from the offsets when LAG is unknown.
func (row Row) lag() int64 {
	switch {
	case row.Lag >= 0:
		return row.Lag
	case row.CurrentOffset >= 0 && row.LogEndOffset >= 0:
		return max(row.LogEndOffset-row.CurrentOffset, 0)
	}
	return pipeline.UnknownLag
}

// Members is the membership of group ("" = any group, rows matched as in
// Lags) with Owned sized for the n partitions of topic, or nil when the
// output gives no basis for it:
//
//   - "Consumer group 'G' has no active members." (stdout or stderr):
//     State "Empty", Active 0, Owned all false.
//   - "Consumer group 'G' is rebalancing.": State "PreparingRebalance",
//     Active and Owned from the rows; Owned is nil when no row has a
//     CONSUMER-ID.
//   - otherwise, when the rows name at least one consumer: State "Stable".
//
// Active counts the distinct CONSUMER-IDs other than '-' over all the
// group's rows, every topic included (a member without partitions has a row
// of its own, TOPIC '-'). Owned[p] is true when a row of topic and partition
// p names a consumer. Without a message, a table without a CONSUMER-ID column
// (0.10.0–0.10.1) or with '-' everywhere gives nil.
//
// For group "", a message applies to the rows of the group it names, and to
// the rows of the layouts without a GROUP column (one group per run): the
// group is rebalancing when any of its groups is, and empty when all are.
// With no row at all, any message applies.
func (r Result) Members(group, topic string, n int) *pipeline.Membership {
	owned := make([]bool, n)
	ids := map[string]bool{}
	basis := false // a row printed a CONSUMER-ID
	groups := map[string]bool{}
	for _, row := range r.Rows {
		if !row.matches(group) {
			continue
		}
		groups[row.Group] = true
		if row.ConsumerID == "" {
			continue
		}
		basis = true
		if row.ConsumerID == "-" {
			continue
		}
		ids[row.ConsumerID] = true
		if row.Topic == topic && row.Partition >= 0 && int(row.Partition) < n {
			owned[row.Partition] = true
		}
	}
	rebalancing, empty := r.messagesFor(group, groups)
	switch {
	case rebalancing:
		m := &pipeline.Membership{State: "PreparingRebalance", Active: len(ids)}
		if basis {
			m.Owned = owned
		}
		return m
	case empty:
		return &pipeline.Membership{State: "Empty", Owned: make([]bool, n)}
	case len(ids) > 0:
		return &pipeline.Membership{State: "Stable", Active: len(ids), Owned: owned}
	}
	return nil
}

// messagesFor tells whether a rebalancing and a no-active-members message
// apply to group, whose rows belong to groups (see Members).
func (r Result) messagesFor(group string, groups map[string]bool) (rebalancing, empty bool) {
	if group != "" {
		return slices.Contains(r.rebalancingGroups, group), slices.Contains(r.emptyGroups, group)
	}
	if len(groups) == 0 {
		return len(r.rebalancingGroups) > 0, len(r.emptyGroups) > 0
	}
	covered := func(names []string, g string) bool {
		return len(names) > 0 && (g == "" || slices.Contains(names, g))
	}
	empty = true
	for g := range groups {
		rebalancing = rebalancing || covered(r.rebalancingGroups, g)
		empty = empty && covered(r.emptyGroups, g)
	}
	return rebalancing, empty
}
