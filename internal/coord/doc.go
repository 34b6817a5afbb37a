// Package coord lets several lagship agents share the mirrors through
// Kafka's own group membership: agents with the same config join one group
// on the coordination cluster, the group's leader assigns the work units
// (mirror × topic; one SSH host's topics as one unit), and when an agent
// dies the broker drops it after the session timeout and its units move to
// the others at the next rebalance.
//
// Membership speaks the group APIs directly through kafka-go's Client
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) rather than through
// kafka.ConsumerGroup with a custom GroupBalancer: a ConsumerGroup leader
// reads the partitions of Config.Topics from the cluster and hands out
// topic → partitions maps, so units would have to pose as topics (which a
// broker with auto.create.topics.enable could create) and every generation
// would fetch committed offsets lagship does not have. Here the group only
// holds membership: its protocol type is "lagship", it commits nothing,
// and the member metadata and assignments are lagship's own (meta.go), in
// the UserData of the consumer-protocol envelope kafka-go encodes.
// kafka-go routes JoinGroup, SyncGroup and LeaveGroup to the group's
// coordinator but not Heartbeat, so heartbeats go to the coordinator's
// address found once per generation, and looked up again after a heartbeat
// that got no answer (the broker died or the coordinator moved); and it decodes Heartbeat v1+ answers
// with two fields swapped, which heartbeatError reads around. Heartbeats go
// every third of the session timeout, or more often when Config.Heartbeat
// says so (lagship: once per tick of its fastest mirror): the others notice
// a member gone or come at their next heartbeat.
//
// The assignment (Assign) is a pure function of the members, their
// previous units and the leader's units: sticky, balanced by weight, and
// empty for a member whose config hash differs from the leader's. Weights
// are what each unit's owner measured (Config.Measure, reported at every
// join; Reweigh), or the leader's own plan for units nobody collected.
//
// State (state.go) is the group's compacted <group>.state topic, for what
// must follow a unit to its next owner.
//
// Concurrency: Run is the only goroutine talking to Kafka; SetPlan, View,
// Owns and Collect may be called from any goroutine. A member keeps its
// last units while the cluster cannot be reached (overlap with the others
// costs nothing: documents have deterministic ids) and leaves the group
// when Run's context ends, so a stopped agent's units move at once.
package coord

// stateSuffix names the compacted topic of the group's shared state
// (<group>.state).
const stateSuffix = ".state"
