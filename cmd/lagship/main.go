// Command lagship watches Kafka MirrorMaker consumer lag and ships it to
// Elasticsearch, one document per mirrored topic per tick.
//
// Usage:
//
//	lagship run     -config FILE   the agent
//	lagship check   -config FILE   lint the config and probe every endpoint
//	lagship once    -config FILE   collect once and print the documents
//	lagship demo                   run on an in-process Kafka cluster
//	lagship mapping                print the index mapping
//	lagship kibana  export|import  saved objects for the dashboards
//	lagship version
//
// Logs go to stderr (JSON by default); stdout carries only a command's output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `lagship ships Kafka MirrorMaker consumer lag to Elasticsearch.

Usage:
  lagship run     -config FILE [-reload-poll 5s]     run the agent
  lagship check   -config FILE [-timeout 30s]        validate the config and probe every endpoint
  lagship once    -config FILE [-json] [-wait 30s]   collect every topic once and print the documents
  lagship demo    [-json] [-es URL] [-duration D]    run on an in-process Kafka cluster, print documents
  lagship mapping                                    print the embedded index mapping
  lagship kibana  export                             print the Kibana saved objects (NDJSON)
  lagship kibana  import -url URL | -config FILE     import them into Kibana
  lagship notify  test -config FILE [-name N]       send a test message through each notifier
  lagship version

run, check, once, demo and kibana import take -log-format json|console and
-log-level debug|info|warn|error. Flags work as -flag and --flag.
Run 'lagship <command> -h' for a command's flags.
`

func main() {
	tuneRuntime()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// tuneRuntime runs the scheduler on one P unless the operator set
// GOMAXPROCS. lagship waits on the network almost all the time: a tick is a
// few milliseconds of work spread over hundreds of goroutines that wake
// together. With a P per core, idle Ps spin looking for that work and hand
// goroutines between threads; on one P the same tick costs about a quarter
// less CPU and the process keeps fewer threads and per-P caches (measured
// with bench/run.sh, see BENCHMARKS.md). The GC settings stay at their
// defaults: a higher GOGC bought no CPU there and raised the peak RSS.
func tuneRuntime() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// run is main without the exit, for tests. It returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, args, stdout, stderr)
	case "check":
		err = cmdCheck(ctx, args, stdout, stderr)
	case "once":
		err = cmdOnce(ctx, args, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args, stdout, stderr)
	case "mapping":
		err = cmdMapping(args, stdout, stderr)
	case "kibana":
		err = cmdKibana(ctx, args, stdout, stderr)
	case "notify":
		err = cmdNotify(ctx, args, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "lagship", buildVersion())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "lagship: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		var ce *exitError
		if errors.As(err, &ce) {
			if ce.msg != "" {
				fmt.Fprintln(stderr, "lagship:", ce.msg)
			}
			return ce.code
		}
		fmt.Fprintln(stderr, "lagship:", err)
		return 1
	}
}

var errUsage = errors.New("usage")

// exitError ends a command with a given code (and an optional message).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// logFlags are the flags every command has.
type logFlags struct {
	format string
	level  string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "json", "log format: json or console")
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
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

// newFlagSet returns a flag set that prints errors to stderr and does not exit.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lagship "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and refuses stray arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}
