package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"golang.org/x/crypto/ssh"

	"github.com/lagship/lagship/internal/testutil/sshtest"
)

// describeFromCluster prints what kafka-consumer-groups.sh (Kafka 2.6)
// --describe --group prints for the group's state on the cluster: committed
// offsets and log-end offsets read over the Kafka protocol at call time.
// Rows come in reverse partition order, as the tool does not sort them.
func describeFromCluster(ctx context.Context, addrs []string, group string, topics []string, partitions int) (string, error) {
	cl := &kafkago.Client{Addr: kafkago.TCP(addrs...), Timeout: 10 * time.Second, Transport: &kafkago.Transport{}}
	defer cl.Transport.(*kafkago.Transport).CloseIdleConnections()
	req := map[string][]kafkago.OffsetRequest{}
	fetch := map[string][]int{}
	for _, t := range topics {
		for p := 0; p < partitions; p++ {
			req[t] = append(req[t], kafkago.LastOffsetOf(p))
			fetch[t] = append(fetch[t], p)
		}
	}
	ends, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: req})
	if err != nil {
		return "", err
	}
	committed, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: fetch})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-16s %-16s %-10s %-15s %-15s %-15s %-15s %-15s %s\n", "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	sort.Strings(topics)
	for _, t := range topics {
		leo := map[int]int64{}
		for _, po := range ends.Topics[t] {
			leo[po.Partition] = po.LastOffset
		}
		cur := map[int]int64{}
		for _, po := range committed.Topics[t] {
			cur[po.Partition] = po.CommittedOffset
		}
		for p := partitions - 1; p >= 0; p-- {
			c, lag := "-", "-"
			if o, ok := cur[p]; ok && o >= 0 {
				c, lag = fmt.Sprint(o), fmt.Sprint(leo[p]-o)
			}
			fmt.Fprintf(&b, "%-16s %-16s %-10d %-15s %-15d %-15s %-15s %-15s %s\n", group, t, p, c, leo[p], lag, "-", "-", "-")
		}
	}
	return b.String(), nil
}

// TestSSHMatchesNative: for the same group state, a mirror collected over
// SSH (kafka-consumer-groups.sh output) yields the same lag documents as the
// native method.
func TestSSHMatchesNative(t *testing.T) {
	topics := []string{"orders", "payments", "clicks"}
	kf, _ := kafkaWithLag(t, topics, 4) // also creates orders-v2, which ssh output lists too
	dir := t.TempDir()
	hostKey := sshtest.Signer(t, sshtest.Ed25519Key(t))
	clientKey := sshtest.Ed25519Key(t)
	srv := sshtest.Start(t, sshtest.Options{
		HostKeys:       []ssh.Signer{hostKey},
		AuthorizedKeys: []ssh.PublicKey{sshtest.Signer(t, clientKey).PublicKey()},
		Exec: func(ctx context.Context, cmd string, stdout, stderr io.Writer) int {
			out, err := describeFromCluster(ctx, kf.ListenAddrs(), "mirrormaker", append([]string{"orders-v2"}, topics...), 4)
			if err != nil {
				fmt.Fprintln(stdout, "Error: Executing consumer group command failed due to", err)
				return 0
			}
			io.WriteString(stderr, "\nConsumer group 'mirrormaker' has no active members.\n")
			io.WriteString(stdout, out)
			return 0
		},
	})
	known := srv.WriteKnownHosts(dir, hostKey)
	key := sshtest.WriteOpenSSHKey(t, dir, "id_ed25519", clientKey, "")
	path := filepath.Join(dir, "lagship.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`elasticsearch: {spool_dir: %q}
clusters:
  - {name: dc1, brokers: [%q, %q, %q]}
mirrors:
  - {name: native, cluster: dc1, group: mirrormaker, topics: [orders, payments, clicks]}
  - name: ssh
    method: ssh
    group: mirrormaker
    topics: [orders, payments, clicks]
    ssh: {host: %s, port: %d, user: ec2-user, key_file: %q, known_hosts: %q}
    kafka_home: /opt/kafka
    bootstrap_server: "source-kafka:9092"
`, filepath.Join(dir, "spool"), kf.ListenAddrs()[0], kf.ListenAddrs()[1], kf.ListenAddrs()[2], srv.Host(), srv.Port(), key, known)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "once", "-config", path, "-json")
	if code != 0 {
		t.Fatalf("code %d\n%s", code, errs)
	}
	byMirror := map[string]map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		m := d["mirror"].(string)
		if byMirror[m] == nil {
			byMirror[m] = map[string]map[string]any{}
		}
		byMirror[m][d["topic"].(string)] = d
	}
	if len(byMirror["native"]) != 3 || len(byMirror["ssh"]) != 3 {
		t.Fatalf("documents: %s\nstderr: %s", out, errs)
	}
	for _, topic := range topics {
		n, s := byMirror["native"][topic], byMirror["ssh"][topic]
		for _, d := range []map[string]any{n, s} {
			delete(d, "mirror")
			delete(d, "method")
			delete(d, "cluster")
		}
		nb, _ := json.Marshal(n)
		sb, _ := json.Marshal(s)
		if string(nb) != string(sb) {
			t.Errorf("%s:\nnative %s\nssh    %s", topic, nb, sb)
		}
	}
	if got := len(srv.Commands()); got != 1 {
		t.Errorf("%d commands on the host for 3 topics of one group, want 1", got)
	}
}
