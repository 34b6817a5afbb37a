package main

import (
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
	fs.StringVar(&l.format, "log-format", "json", "log format on stderr: json or console (for a terminal)")
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
	default:
		return zerolog.Nop(), fmt.Errorf("-log-format %q: use json or console", l.format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
