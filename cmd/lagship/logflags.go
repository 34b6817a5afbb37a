package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// logFlags are the flags every command has.
type logFlags struct {
	format string
	level  string
}

// register adds -log-format and -log-level with lagship's defaults (json,
// info); a command with other defaults sets them with setDefault.
func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "json", "log format on stderr: json, console (for a terminal) or ecs (Elastic Common Schema JSON)")
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
}

// setDefault changes a registered flag's default, so that its value and
// the default -h prints agree.
func setDefault(fs *flag.FlagSet, name, value string) {
	f := fs.Lookup(name)
	if err := f.Value.Set(value); err != nil {
		panic("lagship: default of -" + name + ": " + err.Error())
	}
	f.DefValue = value
}

// parse parses the command line and builds the logger.
func (l *logFlags) parse(fs *flag.FlagSet, args []string, stderr io.Writer) (zerolog.Logger, error) {
	if err := parseFlags(fs, args); err != nil {
		return zerolog.Nop(), err
	}
	return l.logger(stderr)
}

// logger builds the zerolog logger writing to stderr.
func (l *logFlags) logger(stderr io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(l.level))
	if err != nil || l.level == "" {
		return zerolog.Nop(), fmt.Errorf("-log-level %q: use debug, info, warn or error", l.level)
	}
	var w io.Writer
	color := isTerminal(stderr)
	stderr = zerolog.SyncWriter(stderr) // goroutines log concurrently
	switch l.format {
	case "json":
		w = stderr
	case "console":
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.RFC3339, NoColor: !color}
	case "ecs":
		w = newECSWriter(stderr, buildVersion())
	default:
		return zerolog.Nop(), fmt.Errorf("-log-format %q: use json, console or ecs", l.format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// ecsVersion is the version of the Elastic Common Schema the ecs format
// follows (ecs-logging: @timestamp, log.level, message and ecs.version are
// required).
const ecsVersion = "8.11.0"

// ecsWriter turns zerolog's JSON events into ECS log lines, for operators
// who ship lagship's own logs into Elasticsearch: time becomes @timestamp
// (UTC, milliseconds), level log.level, error error.message; service.name,
// service.version and ecs.version are added; every other field stays, in
// order. zerolog hands it one whole event per Write; it keeps no state, so
// it is as safe for concurrent use as the writer under it.
type ecsWriter struct {
	out    io.Writer
	static []byte // ,"ecs.version":...,"service.name":...
}

func newECSWriter(out io.Writer, version string) *ecsWriter {
	var b bytes.Buffer
	for _, kv := range [][2]string{{"ecs.version", ecsVersion}, {"service.name", "lagship"}, {"service.version", version}} {
		k, _ := json.Marshal(kv[0])
		v, _ := json.Marshal(kv[1])
		b.WriteByte(',')
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	return &ecsWriter{out: out, static: b.Bytes()}
}

// ecsNames renames zerolog's fields.
var ecsNames = map[string]string{
	zerolog.TimestampFieldName: "@timestamp",
	zerolog.LevelFieldName:     "log.level",
	zerolog.MessageFieldName:   "message",
	zerolog.ErrorFieldName:     "error.message",
	zerolog.CallerFieldName:    "log.origin.function",
}

func (w *ecsWriter) Write(p []byte) (int, error) {
	line, err := w.convert(p)
	if err != nil {
		// Not an event zerolog wrote: pass it on rather than lose it.
		line = p
	}
	if _, err := w.out.Write(line); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *ecsWriter) convert(p []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	type field struct {
		key string
		val json.RawMessage
	}
	var head [3]json.RawMessage // @timestamp, log.level, message first, as ECS readers expect
	var rest []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("not a JSON object")
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		orig := key
		if n, ok := ecsNames[key]; ok {
			key = n
		}
		switch key {
		case "@timestamp":
			head[0] = ecsTime(val)
		case "log.level":
			head[1] = val
		case "message":
			head[2] = val
		case "ecs.version", "service.name", "service.version":
			// the writer's own, never an event's
		default:
			// The event's own fields go under lagship.: ECS has
			// objects named url, file, host, group…, and an index
			// with ECS mappings refuses a string where one of them
			// is expected.
			if _, renamed := ecsNames[orig]; !renamed {
				key = "lagship." + key
			}
			rest = append(rest, field{key, val})
		}
	}
	out := make([]byte, 0, len(p)+len(w.static)+32)
	out = append(out, '{')
	first := true
	add := func(key string, val json.RawMessage) {
		if !first {
			out = append(out, ',')
		}
		first = false
		k, _ := json.Marshal(key)
		out = append(out, k...)
		out = append(out, ':')
		out = append(out, val...)
	}
	for i, k := range []string{"@timestamp", "log.level", "message"} {
		if head[i] != nil {
			add(k, head[i])
		}
	}
	if first {
		out = append(out, w.static[1:]...)
		first = false
	} else {
		out = append(out, w.static...)
	}
	for _, f := range rest {
		add(f.key, f.val)
	}
	return append(out, '}', '\n'), nil
}

// ecsTime rewrites zerolog's RFC 3339 time in UTC with milliseconds, the
// form Elasticsearch's date detection and ECS examples use.
func ecsTime(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return raw
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return raw
	}
	b, _ := json.Marshal(t.UTC().Format("2006-01-02T15:04:05.000Z"))
	return b
}
