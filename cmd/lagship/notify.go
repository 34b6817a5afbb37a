package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/notify"
	"github.com/lagship/lagship/pipeline/status"
)

// newNotifier builds the notification service of cfg on the evaluator's
// judgement; its state file lives in the spool directory, and in an agent
// group its incidents are also kept in shared (nil: alone).
func newNotifier(cfg *config.Config, ev *status.Evaluator, log zerolog.Logger, shared notify.Shared) (*notify.Service, error) {
	opt := notifyOptions(cfg)
	opt.Shared = shared
	return notify.New(cfg.Notify, ev, notify.StatePath(cfg.Elasticsearch.SpoolDir), log.With().Str("component", "notify").Logger(), opt)
}

// notifyOptions: a restored incident waits for one whole status window
// (the longest of the file) before it may resolve on anything but OK, and
// an incident of a topic no longer judged resolves after three (when the
// evaluator forgets the topic too).
func notifyOptions(cfg *config.Config) notify.Options {
	var settle time.Duration
	for i := range cfg.Mirrors {
		settle = max(settle, cfg.StatusRules(&cfg.Mirrors[i]).Window)
	}
	return notify.Options{Settle: settle, Forget: max(3*settle, 30*time.Minute)}
}

// cmdNotify is `lagship notify test`: one clearly marked test message
// through each notifier (or the one named), with the receiver's answer.
func cmdNotify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: lagship notify test [-config FILE] [-name NOTIFIER]\n" +
		"Sends one message marked as a test through each notifier of the config (or the one\n" +
		"named) and prints each receiver's answer. 'lagship notify test -h' lists the flags.\n"
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, usage)
		return nil
	case len(args) == 0 || args[0] != "test":
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs := newFlagSet("notify test", stderr)
	path := configFlag(fs)
	name := fs.String("name", "", "only this notifier (default: every one)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(fs, *path)
	if err != nil {
		return err
	}
	if len(cfg.Notify) == 0 {
		return &exitError{code: 1, msg: *path + " has no notify section: nothing to test"}
	}
	var names []string
	failed, tried := 0, 0
	for i := range cfg.Notify {
		n := &cfg.Notify[i]
		names = append(names, n.Name)
		if *name != "" && n.Name != *name {
			continue
		}
		tried++
		rctx, cancel := context.WithTimeout(ctx, time.Duration(n.Timeout))
		code, answer, err := notify.Send(rctx, n, time.Now())
		cancel()
		where := fmt.Sprintf("%s (%s, %s)", n.Name, n.Type, notify.RedactURL(n.URL.Reveal()))
		if answer != "" {
			answer = ", answer: " + answer
		}
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %v%s\n", where, err, answer)
			continue
		}
		fmt.Fprintf(stdout, "ok   %s: test message accepted (HTTP %d%s)\n", where, code, answer)
	}
	if tried == 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("no notifier named %q (the file has %s)", *name, strings.Join(names, ", "))}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d notifiers failed the test", failed, tried)}
	}
	return nil
}
