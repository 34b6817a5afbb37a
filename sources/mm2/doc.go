// Package mm2 measures the replication lag of MirrorMaker 2 natively, from
// the Kafka Connect offsets topic where MirrorMaker 2 records its progress.
//
// # Why not a consumer group
//
// MirrorMaker 2 runs as Kafka Connect connectors. Its MirrorSourceConnector
// reads the source cluster with a consumer that never commits a consumer
// group there, so consumer-group lag tools (kafka-consumer-groups.sh, the
// native and ssh methods of lagship) see nothing. Connect instead stores the
// connector's position, like every source connector's, in its offsets topic.
//
// # Where the numbers come from
//
// The offsets topic lives on the cluster the Connect workers use, which for
// MirrorMaker 2 is the target cluster:
//
//   - dedicated MirrorMaker 2 (connect-mirror-maker.sh): the topic
//     mm2-offsets.<source alias>.internal on the target cluster;
//   - MirrorMaker 2 connectors in an ordinary Connect cluster: that
//     cluster's offset.storage.topic (often connect-offsets).
//
// Each record is JSON written by Connect with schemas off. The key names the
// connector and the source partition:
//
//	["MirrorSourceConnector",{"cluster":"dc1","partition":0,"topic":"orders"}]
//
// and the value holds the source offset of the last record the connector
// copied from that partition:
//
//	{"offset":41}
//
// The topic is compacted: the latest record of a key is the current position,
// and a record with a null value (a tombstone) means the position was reset.
// Keys of MirrorMaker 2's other connectors (checkpoints, heartbeats) share the
// topic with other partition shapes and are ignored; so are records of other
// aliases. The connector name is the first element of the key; it is
// MirrorSourceConnector unless the connector was renamed, and lagship puts it
// in the document's group field ("<alias>->target" if no name is known).
//
// A Reader reads the offsets topic from the beginning, without a consumer
// group, keeps the latest offset of every key in memory and then follows new
// records. It is ready once it has read up to the end offsets the topic had
// when it started; until then the source reports "not ready" and no document
// is written, so a document never comes from a half-read table.
//
// For partition N of a mirrored topic:
//
//	lag(N) = log-end offset of N on the source cluster - (stored offset + 1)
//
// floored at zero. A partition with no stored offset has unknown lag and is
// left out of the document (it still counts in partition_count). The log-end
// offsets are read from the source cluster once per tick, shared by every
// topic of that cluster.
//
// # Granularity
//
// Connect writes offsets to the topic only when it flushes them, every
// offset.flush.interval.ms (60 seconds by default; dedicated MirrorMaker 2
// uses the same default). Between flushes the stored offset stands still
// while the source keeps growing, so the measured lag rises for up to a
// minute and drops at each flush: it is a sawtooth whose teeth are one flush
// interval wide, and a steady lag below what one flush interval of traffic
// produces is indistinguishable from zero. Read it as "how far behind was
// the last flushed position", not as a per-second figure; charts over
// minutes or more are accurate. A MirrorMaker 2 that stops altogether shows
// as a lag that only grows.
//
// # Limits
//
// Records of transactions that Connect aborted (exactly-once source support)
// are read like committed ones; the next flushed offset replaces them.
package mm2
