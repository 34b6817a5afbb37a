package coord

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	kafka "github.com/segmentio/kafka-go"

	"github.com/lagship/lagship/internal/health"
)

// Probe checks, without joining, that the group's coordinator answers and
// what the group holds now: its state and members, and whether their config
// hash is hash. Joining would start a rebalance of the running agents, so
// the broker's bounds on session_timeout are checked only when an agent
// joins (it logs a refusal).
func Probe(ctx context.Context, client *kafka.Client, s Settings, hash string) []health.Check {
	fc, err := client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: s.Group, KeyType: kafka.CoordinatorKeyTypeConsumer})
	if err == nil && fc.Error != nil {
		err = fc.Error
	}
	if err != nil {
		return []health.Check{{Name: "coordinator", Detail: fmt.Sprintf("finding the coordinator of group %q on cluster %q: %v (check the brokers and the ACLs: the agents need Read on the group)", s.Group, s.Cluster, err)}}
	}
	out := []health.Check{{Name: "coordinator", OK: true, Detail: fmt.Sprintf("broker %d at %s for group %q", fc.Coordinator.NodeID, net.JoinHostPort(fc.Coordinator.Host, strconv.Itoa(fc.Coordinator.Port)), s.Group)}}
	dg, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{s.Group}})
	if err == nil && len(dg.Groups) == 1 && dg.Groups[0].Error != nil {
		err = dg.Groups[0].Error
	}
	if err != nil || len(dg.Groups) != 1 {
		return append(out, health.Check{Name: "group", Detail: fmt.Sprintf("describing group %q: %v", s.Group, err)})
	}
	g := dg.Groups[0]
	if len(g.Members) == 0 {
		return append(out, health.Check{Name: "group", OK: true, Detail: fmt.Sprintf("group %q has no member yet (state %s); agents join at start", s.Group, g.GroupState)})
	}
	same, other, foreign, joining := 0, 0, 0, 0
	var hosts []string
	var why error
	for _, m := range g.Members {
		if len(m.MemberMetadata.UserData) == 0 {
			joining++ // no metadata yet
			continue
		}
		meta, err := UnmarshalMeta(m.MemberMetadata.UserData)
		switch {
		case err != nil:
			foreign++
			why = err
			continue
		case meta.Hash == hash:
			same++
		default:
			other++
		}
		hosts = append(hosts, meta.Host)
	}
	if foreign > 0 {
		return append(out, health.Check{Name: "group", Detail: fmt.Sprintf("group %q (state %s) has %d members that are not lagship agents (%v): choose a group name of its own", s.Group, g.GroupState, foreign, why)})
	}
	c := health.Check{Name: "group", OK: other == 0, Detail: fmt.Sprintf("state %s, %d agents (%s): %d with this config's hash %s", g.GroupState, len(g.Members), strings.Join(hosts, ", "), same, short(hash))}
	if joining > 0 {
		c.Detail += fmt.Sprintf(", %d joining", joining)
	}
	if other > 0 {
		c.Detail += fmt.Sprintf(", %d with another config (they get no units while the leader's differs): make the files equal", other)
	}
	return append(out, c)
}
