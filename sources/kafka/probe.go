package kafka

import (
	"context"
	"fmt"
	"github.com/lagship/lagship/internal/health"
	"strings"
)

// Check is one line of `lagship check`.
type Check = health.Check

// Probe checks that every bootstrap broker accepts a connection (TLS and
// SASL included), that topics exist, and that group has committed offsets
// for them. It returns one Check per broker, per topic and for the group
// (none for the group when group is empty), and does not touch the state
// shared by ticks.
func (c *Cluster) Probe(ctx context.Context, group string, topics []string) []Check {
	checks := make([]Check, 0, len(c.cfg.Brokers)+len(topics)+1)
	security := "plaintext"
	if c.dial.tls != nil {
		security = "tls"
	}
	if c.dial.mech != nil {
		security += ", sasl " + c.dial.mech.Name()
	}
	for _, addr := range c.cfg.Brokers {
		ch := Check{Name: "broker " + addr}
		if err := c.conn(addr).connect(ctx); err != nil {
			ch.Detail = err.Error()
		} else {
			ch.OK, ch.Detail = true, "connected ("+security+")"
		}
		checks = append(checks, ch)
	}

	md, _, err := c.requestMetadata(ctx, nil, topics)
	for _, t := range topics {
		ch := Check{Name: "topic " + t}
		switch {
		case err != nil:
			ch.Detail = err.Error()
		case md.missing[t]:
			ch.Detail = "not found on cluster " + c.cfg.Name
		case md.errs[t] != nil:
			ch.Detail = md.errs[t].Error()
		default:
			ch.OK, ch.Detail = true, fmt.Sprintf("%d partitions", len(md.leaders[t]))
		}
		checks = append(checks, ch)
	}
	if group == "" {
		return checks
	}

	ch := Check{Name: "group " + group}
	switch {
	case err != nil:
		ch.Detail = err.Error()
	case len(md.leaders) == 0:
		ch.Detail = "no existing topic to read committed offsets for"
	default:
		g := c.fetchGroup(ctx, md, group, topics, 0, nil)
		ch.OK, ch.Detail = groupCheck(g, topics)
	}
	return append(checks, ch)
}

func groupCheck(g *groupOffsets, topics []string) (bool, string) {
	switch {
	case g.err != nil:
		return false, g.err.Error()
	case g.noGroup:
		return false, "group not found"
	}
	var parts []string
	total := 0
	for _, t := range topics {
		offs := g.offsetsOf(t)
		if offs == nil {
			continue
		}
		n := 0
		for _, o := range offs {
			if o >= 0 {
				n++
			}
		}
		total += n
		parts = append(parts, fmt.Sprintf("%s %d/%d", t, n, len(offs)))
	}
	if total == 0 {
		return false, "no committed offsets for the topics"
	}
	return true, "committed offsets on partitions: " + strings.Join(parts, ", ")
}
