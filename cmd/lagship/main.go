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
//	lagship healthcheck            ask a running agent's /healthz
//	lagship version                version, commit, build date, Go version
//	lagship help [command]         this list, or a command's flags
//
// Logs go to stderr (JSON by default, console for demo); stdout carries only
// a command's output.
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
	"strings"
	"syscall"
)

// command is one subcommand of lagship.
type command struct {
	name     string
	synopsis string // flags and arguments, after the name
	summary  string // one line for the command list
	about    string // a paragraph for 'lagship help <command>'
	run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands are lagship's subcommands, in the order the usage lists them. A
// function, not a variable: the commands' own help refers back to it.
func commands() []command {
	return []command{
		{"run", "[-config FILE] [-reload-poll 5s]", "run the agent",
			"Runs the agent: collects every configured topic each tick and ships the documents to\n" +
				"Elasticsearch, spooling them on disk while it is unreachable. SIGHUP or a change of the\n" +
				"file reloads the config; SIGINT or SIGTERM stops it after a final flush.", cmdRun},
		{"check", "[-config FILE] [-timeout 30s]", "validate the config and probe every endpoint",
			"Validates the config and probes what run needs: the spool directory, the http.listen\n" +
				"port, Elasticsearch, every cluster, SSH host and MirrorMaker 2 offsets topic. One\n" +
				"line per check; exit 1 on any failure, so that a green check means run will start.", cmdCheck},
		{"once", "[-config FILE] [-json] [-wait 30s]", "collect every topic once and print the documents",
			"Collects every configured topic once and prints the documents (a table, or JSON lines\n" +
				"with -json); writes nothing to Elasticsearch. Exit 3 when a topic could not be collected.", cmdOnce},
		{"demo", "[-json] [-es URL] [-duration D]", "run on an in-process Kafka cluster, print documents",
			"Runs the real pipeline on an in-process Kafka cluster with a lagging and a stuck mirror,\n" +
				"and prints each document; -es also indexes them into an Elasticsearch.", cmdDemo},
		{"mapping", "", "print the embedded index mapping",
			"Prints the index mapping lagship creates its index with.",
			func(_ context.Context, args []string, stdout, stderr io.Writer) error {
				return cmdMapping(args, stdout, stderr)
			}},
		{"kibana", "export|import", "Kibana saved objects for the dashboards", "", cmdKibana},
		{"notify", "test [-config FILE] [-name N]", "send a test message through each notifier",
			"Sends one clearly marked test message through every notifier of the config (or the one\n" +
				"named by -name) and prints each receiver's answer; exit 1 when one failed.", cmdNotify},
		{"healthcheck", "[-url URL] [-timeout 5s]", "exit 0 when a running agent's /healthz answers 200",
			"Asks a running agent's /healthz and exits 0 when it answers 200, 1 otherwise: the\n" +
				"HEALTHCHECK of images without a shell or curl.", cmdHealthcheck},
		{"version", "[-json]", "print version, commit, build date and Go version",
			"Prints the version, commit, build date and Go version of this binary (-json: one\n" +
				"JSON object, for scripts).", cmdVersion},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage is the top-level help.
func usage() string {
	var b strings.Builder
	b.WriteString("lagship ships Kafka MirrorMaker consumer lag to Elasticsearch.\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  lagship %-12s %-36s %s\n", c.name, c.synopsis, c.summary)
	}
	b.WriteString(`
run, check, once and kibana import log JSON to stderr by default, demo logs for a
terminal (console); -log-format json|console|ecs and -log-level debug|info|warn|error
change that (check logs only errors by default). Flags work as -flag and --flag.
Without -config, run, check and once read $LAGSHIP_CONFIG, or else ` + defaultConfig + `.
Run 'lagship help <command>' or 'lagship <command> -h' for a command's flags.
`)
	return b.String()
}

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
		fmt.Fprint(stderr, usage())
		return 2
	}
	name, args := args[0], args[1:]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	var err error
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 0 {
			fmt.Fprint(stdout, usage())
			return 0
		}
		c, ok := lookupCommand(args[0])
		if !ok || len(args) > 1 {
			fmt.Fprintf(stderr, "lagship help: unknown command %q\n\n%s", strings.Join(args, " "), usage())
			return 2
		}
		// A command's help is what its -h prints.
		err = c.run(ctx, []string{"-h"}, stdout, stderr)
	case "-version", "--version":
		err = cmdVersion(ctx, args, stdout, stderr)
	default:
		c, ok := lookupCommand(name)
		if !ok {
			fmt.Fprintf(stderr, "lagship: unknown command %q\n\n%s", name, usage())
			return 2
		}
		err = c.run(ctx, args, stdout, stderr)
	}
	var help *helpError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		fmt.Fprint(stdout, help.text)
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

// newFlagSet returns a flag set that prints errors to stderr and does not exit.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lagship "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// helpError is -h or --help: run prints text to stdout and exits 0.
type helpError struct{ text string }

func (e *helpError) Error() string { return "help requested" }
func (e *helpError) Unwrap() error { return flag.ErrHelp }

// parseFlags parses args and refuses stray arguments. -h and --help return
// a *helpError with the command's usage; a usage error prints the message
// and the usage to the flag set's output (stderr) and returns errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.Usage = func() {} // the usage is printed below, to the right stream
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &helpError{text: commandUsage(fs)}
		}
		fmt.Fprint(fs.Output(), "\n"+commandUsage(fs))
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n\n%s", fs.Name(), fs.Arg(0), commandUsage(fs))
		return errUsage
	}
	return nil
}

// commandUsage is a command's help: its synopsis, what it does and its
// flags with their defaults.
func commandUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	name := strings.TrimPrefix(fs.Name(), "lagship ")
	c, known := lookupCommand(name)
	if known && c.synopsis != "" {
		fmt.Fprintf(&b, "Usage: lagship %s %s\n", name, c.synopsis)
	} else {
		fmt.Fprintf(&b, "Usage: lagship %s [flags]\n", name)
	}
	if known && c.about != "" {
		b.WriteString("\n" + c.about + "\n")
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nFlags (also as --flag):\n")
		out := fs.Output()
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
	return b.String()
}
