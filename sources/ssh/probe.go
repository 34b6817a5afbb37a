package ssh

import (
	"context"
	"errors"
	"fmt"
	"github.com/lagship/lagship/internal/health"

	"github.com/rs/zerolog"
)

// Check is one line of `lagship check`.
type Check = health.Check

// Probe checks that cfg works end to end: the config is valid, the host
// accepts the connection and key, its host key is the one known_hosts lists,
// kafka-consumer-groups.sh exists and is executable, and the group can be
// described. It stops at the first failing step. It uses its own connection,
// closed before it returns.
func Probe(ctx context.Context, cfg MirrorConfig, log zerolog.Logger) []Check {
	if err := cfg.Validate(); err != nil {
		return []Check{{Name: "config", Detail: err.Error()}}
	}
	cfg.Host = cfg.Host.WithDefaults()
	pool := NewPool(log)
	defer pool.Close()
	hostName := cfg.Host.String()

	var checks []Check
	add := func(name string, ok bool, format string, args ...any) bool {
		checks = append(checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
		return ok
	}

	_, _, err := pool.client(ctx, cfg.Host)
	var hke *HostKeyError
	switch {
	case errors.As(err, &hke):
		add("connect", true, "reached %s", hke.Host)
		add("host key", false, "%v", err)
		return checks
	case err != nil:
		add("connect", false, "%v", err)
		return checks
	}
	add("connect", true, "logged in as %s", hostName)
	if cfg.Host.InsecureIgnoreHostKey {
		add("host key", true, "NOT verified: insecure_ignore_host_key is set")
	} else {
		add("host key", true, "matches known_hosts file %s", cfg.Host.KnownHosts)
	}

	script := cfg.script()
	out, err := pool.Run(ctx, cfg.Host, "test -x "+shellQuote(script))
	switch {
	case err != nil:
		add("command", false, "checking %s: %v", script, err)
		return checks
	case out.ExitStatus != 0:
		add("command", false, "%s is missing or not executable on %s (check kafka_home)", script, hostName)
		return checks
	}
	add("command", true, "%s is executable", script)

	src := &Source{pool: pool, cfg: cfg, log: log}
	res, err := src.describe(ctx, func() {})
	if err != nil {
		add("group", false, "%v", err)
		return checks
	}
	topics := map[string]bool{}
	for _, r := range res.Rows {
		topics[r.Topic] = true
	}
	detail := fmt.Sprintf("group %q: %d partitions of %d topics", cfg.Group, len(res.Rows), len(topics))
	if res.Status != StatusOK {
		detail += fmt.Sprintf(" (%s: %s)", res.Status, res.Message)
	}
	add("group", true, "%s", detail)
	return checks
}
