// Package ssh measures MirrorMaker 1 lag on hosts where the only view of the
// mirror's consumer group is the Kafka command line: it connects over SSH
// (golang.org/x/crypto/ssh), runs
//
//	'<kafka_home>/bin/kafka-consumer-groups.sh' --bootstrap-server '<bs>' --describe --group '<group>' [--command-config '<file>']
//
// and turns the printed table into per-partition lag, offsets and the
// group's membership (parse.go).
//
// Cost on the host: every run starts a JVM, which takes a second or more of
// CPU. A Source therefore runs the command once per group per tick, whatever
// the number of topics of that group, and a tick never overlaps the previous
// one for the same group. The method's interval defaults to 10s (minimum 1s);
// lowering it multiplies JVM launches on the MirrorMaker host.
//
// Connections: a Pool keeps one SSH connection per host, runs every command as
// a session on it, sends keepalive@openssh.com requests while it is open and
// reconnects with capped exponential backoff when it drops. When the
// connection ends under running commands (the host or the network closed
// it), the loss and the reconnect are logged once, one caller reconnects for
// all, and every command cut off runs once more on the new connection while
// its context lasts; a session that ends alone, on a connection that still
// answers keepalives, is the command's failure and is not retried. Host keys are
// checked against an OpenSSH known_hosts file (hashed entries included), and
// only the key types that file holds for the host are negotiated. Every value
// put into the remote command is validated and single-quoted for the remote
// POSIX shell.
//
// Timeouts: a command that outlives the timeout is killed twice over. The
// host runs it under coreutils timeout when it has it (RemoteCommand), and
// lagship sends SIGKILL and closes the session. The first matters most:
// sshd often refuses signals from the client, and a JVM that hangs without
// printing never notices that its session is gone.
package ssh
