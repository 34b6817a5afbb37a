// Package configkit holds what every component needs to own its part of
// lagship.yaml: the error type that names file, line and field, the value
// types operators write (durations, sizes, secrets), the Reporter a
// component validates through, and the name rules shared by several
// components. It imports nothing of lagship, so sources and sinks can use
// it while internal/config composes them.
package configkit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Error is one problem in the file, at a line, about a field.
type Error struct {
	File  string
	Line  int
	Field string // dotted path such as mirrors[0].topics[2]
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Field + ": " + e.Msg
}

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Reporter is how a component reports problems in its part of the file.
// Paths are keys and indexes relative to the reporter ("ssh", "host");
// the reporter turns them into file:line and the full field path.
type Reporter interface {
	// Errorf reports a problem with the field at path. A path that is
	// not in the file points at its nearest parent that is.
	Errorf(path []any, format string, args ...any)
	// Sub returns a reporter whose paths start at path.
	Sub(path ...any) Reporter
	// Names lists the names defined in a top-level section of the file
	// ("clusters"), for components that refer to them.
	Names(section string) []string
}

// Secret is a string that never prints: fmt, zerolog and JSON see
// "[redacted]". Use Reveal to get the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText keeps secrets out of JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Duration is a time.Duration written as "10s", "1m30s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a duration such as 10s", n.Line)}}
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot parse %q as a duration (examples: 500ms, 10s, 1m)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalText prints the duration as Go does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ByteSize is a size written as a number of bytes or with a unit: 512MiB, 1GiB, 100MB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseByteSize parses "1GiB", "512MiB", "100MB" or a plain number of bytes.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("not a size")
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML parses a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot parse %q as a size (examples: 1GiB, 512MiB, 1073741824)", n.Line, n.Value)}}
	}
	*b = v
	return nil
}

// NameRE is Kafka's rule for topic names, also used for mirror and cluster
// names, which end up in document ids and log fields.
var NameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// MaxTopicLen is Kafka's limit on topic names.
const MaxTopicLen = 249

// ValidTopic reports why name is not a valid Kafka topic name ("" if it is).
func ValidTopic(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > MaxTopicLen:
		return fmt.Sprintf("is %d characters long; Kafka allows at most %d", len(name), MaxTopicLen)
	case name == "." || name == "..":
		return "cannot be . or .."
	case !NameRE.MatchString(name):
		return "may contain only letters, digits, '.', '_' and '-'"
	}
	return ""
}

// ValidGroup reports why a consumer group name cannot be used ("" if it can).
// Kafka allows almost anything; lagship refuses control characters (they would
// corrupt logs and the remote shell command line).
func ValidGroup(g string) string {
	if g == "" {
		return "is empty"
	}
	for _, r := range g {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

// HostPort reports why s is not host:port ("" if it is).
func HostPort(s string) string {
	h, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil || h == "" {
		return "is not host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "has an invalid port"
	}
	return ""
}

// RemotePath reports why s cannot be a path on a remote host ("" if it can).
func RemotePath(s string) string {
	if !path.IsAbs(s) {
		return "must be an absolute path on the remote host"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

// userinfoRE matches the credentials part of a URL, even one url.Parse
// refuses (a password with '#', '/', '@' or a bad escape): everything from
// "//" to the last '@'. An '@' later in the URL (a path or query) hides
// more than the credentials, never less.
var userinfoRE = regexp.MustCompile(`//.*@`)

// RedactURL hides the credentials of a URL for an error message, also in
// an address written without a scheme ("elastic:pw@es:9200", which is not
// a valid address but must not print its password either).
func RedactURL(s string) string {
	if strings.Contains(s, "//") {
		return userinfoRE.ReplaceAllString(s, "//REDACTED@")
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return "REDACTED" + s[i:]
	}
	return s
}

// Fingerprint hashes values (as JSON) into a key that changes when any of
// them changes. Pass values with secrets in clear (a changed password must
// change the key); the key is compared, never printed.
func Fingerprint(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		b, err := json.Marshal(p)
		if err != nil {
			panic("lagship: fingerprinting config: " + err.Error())
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
