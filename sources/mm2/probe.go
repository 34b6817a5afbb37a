package mm2

import (
	"context"
	"errors"
	"fmt"
	"github.com/lagship/lagship/internal/health"
	"strings"

	"github.com/rs/zerolog"
	kafka "github.com/segmentio/kafka-go"
)

// Check is one line of `lagship check`.
type Check = health.Check

// Probe checks a MirrorMaker 2 mirror for `lagship check`: that the offsets
// topic exists on the cluster client talks to, how many offsets it holds for
// alias, and which of topics have none yet. It reads the whole offsets
// topic, so give ctx a deadline; on timeout the checks say so.
func Probe(ctx context.Context, client *kafka.Client, offsetsTopic, alias string, topics []string, log zerolog.Logger) []Check {
	r := NewReader(client, offsetsTopic, log)
	topicCheck := Check{Name: fmt.Sprintf("offsets topic %s", offsetsTopic)}
	parts, err := r.partitions(ctx)
	if err != nil {
		topicCheck.Detail = err.Error()
		if errors.Is(err, ErrOffsetsTopicNotFound) {
			topicCheck.Detail = "does not exist: for a dedicated MirrorMaker 2 it is mm2-offsets.<source alias>.internal on the target cluster; in a Connect cluster it is offset.storage.topic"
		}
		return []Check{topicCheck}
	}
	topicCheck.OK = true
	topicCheck.Detail = fmt.Sprintf("exists, %d partitions", len(parts))
	checks := []Check{topicCheck}

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(rctx) // returns nil when rctx ends; errors are states read below
	}()
	waitErr := r.WaitReady(ctx)
	cancel()
	<-done

	aliasCheck := Check{Name: fmt.Sprintf("offsets of alias %s", alias)}
	if waitErr != nil {
		aliasCheck.Detail = fmt.Sprintf("offsets topic not read to its end: %v", waitErr)
		if err := r.Err(); err != nil {
			aliasCheck.Detail += fmt.Sprintf(" (last error: %v)", err)
		}
		return append(checks, aliasCheck)
	}
	keys := r.Keys(alias)
	found := r.Topics(alias, nil)
	aliasCheck.OK = keys > 0
	aliasCheck.Detail = fmt.Sprintf("%d partition offsets for %d topics", keys, len(found))
	if keys == 0 {
		if others := r.Aliases(); len(others) > 0 {
			aliasCheck.Detail += fmt.Sprintf("; aliases present: %s", strings.Join(others, ", "))
		} else {
			aliasCheck.Detail += "; the topic holds no MirrorSourceConnector offsets"
		}
	}
	if n := r.Malformed(); n > 0 {
		aliasCheck.Detail += fmt.Sprintf("; %d undecodable records skipped", n)
	}
	checks = append(checks, aliasCheck)

	for _, t := range topics {
		c := Check{Name: fmt.Sprintf("offsets of topic %s", t)}
		offs, name, ok, err := r.Offsets(alias, t, "")
		switch {
		case err != nil:
			c.Detail = err.Error()
		case !ok:
			c.Detail = "no offsets yet: MirrorMaker 2 has not flushed any for this topic (is it replicated?)"
		default:
			c.OK = true
			c.Detail = fmt.Sprintf("%d partitions, connector %s", len(offs), name)
		}
		checks = append(checks, c)
	}
	return checks
}
