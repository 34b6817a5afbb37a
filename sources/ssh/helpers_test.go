package ssh

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/sshtest"
)

// env is one in-process SSH host with a client key allowed on it.
type env struct {
	srv     *sshtest.Server
	hostKey ssh.Signer
	host    HostConfig
	dir     string
}

// newEnv starts a server with an ed25519 host key that runs exec, and returns
// a HostConfig for it with a matching known_hosts file.
func newEnv(t *testing.T, exec sshtest.ExecFunc) *env {
	t.Helper()
	dir := t.TempDir()
	clientKey := sshtest.Ed25519Key(t)
	hostKey := sshtest.Signer(t, sshtest.Ed25519Key(t))
	srv := sshtest.Start(t, sshtest.Options{
		HostKeys:       []ssh.Signer{hostKey},
		AuthorizedKeys: []ssh.PublicKey{sshtest.Signer(t, clientKey).PublicKey()},
		Exec:           exec,
	})
	return &env{
		srv:     srv,
		hostKey: hostKey,
		dir:     dir,
		host: HostConfig{
			Host:       srv.Host(),
			Port:       srv.Port(),
			User:       "kafka",
			KeyFile:    sshtest.WriteOpenSSHKey(t, dir, "id_ed25519", clientKey, ""),
			KnownHosts: srv.WriteKnownHosts(dir),
			Timeout:    10 * time.Second,
		},
	}
}

func (e *env) mirror(group string) MirrorConfig {
	return MirrorConfig{
		Host:            e.host,
		Group:           group,
		KafkaHome:       "/opt/kafka",
		BootstrapServer: "kafka-1.example:9092,10.0.0.2:9092",
	}
}

func newPool(t *testing.T) *Pool {
	t.Helper()
	p := NewPool(testLogger(t))
	t.Cleanup(func() { p.Close() })
	return p
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// describeTable returns describe output (Kafka 2.3+ layout) for group with topics
// t0..t(n-1), each with parts partitions; partition p of topic i has lag
// lagOf(i, p).
func describeTable(group string, n, parts int) string {
	var b strings.Builder
	b.WriteString("\nGROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID                                     HOST            CLIENT-ID\n")
	for i := 0; i < n; i++ {
		for p := 0; p < parts; p++ {
			lag := lagOf(i, p)
			fmt.Fprintf(&b, "%s %s %d %d %d %d consumer-1-2b6c2d47-1b0b-4b4e-9d1e-0e6c3b3f2a11 /10.0.0.7 consumer-1\n",
				group, topicName(i), p, 1000, 1000+lag, lag)
		}
	}
	return b.String()
}

func topicName(i int) string { return fmt.Sprintf("topic-%02d", i) }

func lagOf(i, p int) int64 { return int64(i*100 + p) }

func wantLags(i, parts int) []int64 {
	out := make([]int64, parts)
	for p := range out {
		out[p] = lagOf(i, p)
	}
	return out
}

// describeExec answers exactly cmd with stdout text (and stderr text), and
// any other command with exit status 127.
func describeExec(cmd *string, stdout, stderr string) sshtest.ExecFunc {
	return func(_ context.Context, got string, o, e io.Writer) int {
		if got != *cmd {
			fmt.Fprintf(e, "sh: 1: unexpected command %s\n", got)
			return 127
		}
		io.WriteString(o, stdout)
		io.WriteString(e, stderr)
		return 0
	}
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	await.True(t, 20*time.Second, what, cond)
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}
