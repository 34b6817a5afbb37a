package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/lagship/lagship/internal/testutil/sshtest"
)

// TestOnceExitCodes: once exits 3 when any configured topic could not be
// collected, names each on stderr, shows them as ERROR rows in the table,
// and still prints what it did collect.
func TestOnceExitCodes(t *testing.T) {
	kf, _ := kafkaWithLag(t, []string{"orders"}, 2)
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	cfgText := func(mirrors string) string {
		return fmt.Sprintf(`clusters:
  - {name: live, brokers: [%q], timeout: 2s}
  - {name: dead, brokers: [%q], timeout: 1s}
mirrors:
%s`, kf.ListenAddrs()[0], dead, mirrors)
	}
	ok := "  - {name: good, cluster: live, group: mirrormaker, topics: [orders]}\n"
	tests := []struct {
		name     string
		mirrors  string
		code     int
		stderr   []string
		stdout   []string
		noStdout []string
	}{
		{"all collected", ok, 0, nil, []string{"good", "orders"}, []string{"ERROR"}},
		{"missing topic", ok + "  - {name: typo, cluster: live, group: mirrormaker, topics: [ordres]}\n", exitPartial,
			[]string{"1 of 2 topics could not be collected", "typo/ordres: ", "topic not found"}, []string{"good", "ERROR typo ordres mirrormaker native - - - - - topic \"ordres\" on cluster \"live\": topic not found"}, nil},
		{"unreachable brokers", ok + "  - {name: far, cluster: dead, group: mirrormaker, topics: [orders]}\n", exitPartial,
			[]string{"far/orders: "}, []string{"good", "ERROR far orders mirrormaker native"}, nil},
		{"unknown group is a state, not a failure", ok + "  - {name: nogroup, cluster: live, group: nobody, topics: [orders]}\n", 0,
			nil, []string{"NO DATA nogroup orders nobody native"}, []string{"ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "lagship.yaml", cfgText(tt.mirrors))
			code, out, errOut := runCLI(t, "once", "-config", path, "-log-level", "error")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, w := range tt.stdout {
				if !strings.Contains(strings.Join(strings.Fields(out), " "), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.noStdout {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestOnceExitCodesSSH: the SSH failure kinds (unknown host key, changed
// host key, wrong key passphrase, unauthorised key) each exit 3 with the
// topic named on stderr and an ERROR row, while the healthy SSH mirror on
// the same file still prints its document.
func TestOnceExitCodesSSH(t *testing.T) {
	dir := t.TempDir()
	hostKey := sshtest.Signer(t, sshtest.Ed25519Key(t))
	otherHostKey := sshtest.Signer(t, sshtest.Ed25519Key(t))
	clientKey := sshtest.Ed25519Key(t)
	strangerKey := sshtest.Ed25519Key(t)
	srv := sshtest.Start(t, sshtest.Options{
		HostKeys:       []ssh.Signer{hostKey},
		AuthorizedKeys: []ssh.PublicKey{sshtest.Signer(t, clientKey).PublicKey()},
		Exec: func(_ context.Context, _ string, stdout, _ io.Writer) int {
			io.WriteString(stdout, "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\nmm orders 0 5 7 2 - - -\n")
			return 0
		},
	})
	known := srv.WriteKnownHosts(dir, hostKey)
	wrongKnown := filepath.Join(dir, "wrong_known_hosts")
	if err := os.WriteFile(wrongKnown, []byte(srv.KnownHostsLine(otherHostKey.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyKnown := filepath.Join(dir, "empty_known_hosts")
	if err := os.WriteFile(emptyKnown, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	key := sshtest.WriteOpenSSHKey(t, dir, "id_ed25519", clientKey, "")
	locked := sshtest.WriteOpenSSHKey(t, dir, "id_locked", clientKey, "right-passphrase")
	stranger := sshtest.WriteOpenSSHKey(t, dir, "id_stranger", strangerKey, "")
	wrongPass := filepath.Join(dir, "wrong_pass")
	if err := os.WriteFile(wrongPass, []byte("wrong-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mirror := func(name, keyFile, knownHosts, extra string) string {
		return fmt.Sprintf(`  - name: %s
    method: ssh
    group: mm
    topics: [orders]
    ssh: {host: %s, port: %d, user: ec2-user, key_file: %q, known_hosts: %q%s}
    kafka_home: /opt/kafka
    bootstrap_server: "source-kafka:9092"
`, name, srv.Host(), srv.Port(), keyFile, knownHosts, extra)
	}
	good := mirror("good", key, known, "")
	tests := []struct {
		name   string
		mirror string
		reason string
	}{
		{"unknown host key", mirror("bad", key, emptyKnown, ""), "known_hosts"},
		{"changed host key", mirror("bad", key, wrongKnown, ""), "host key"},
		{"wrong passphrase", mirror("bad", locked, known, fmt.Sprintf(", passphrase_file: %q", wrongPass)), "passphrase"},
		{"key not authorised", mirror("bad", stranger, known, ""), "unable to authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "lagship.yaml", "mirrors:\n"+good+tt.mirror)
			code, out, errOut := runCLI(t, "once", "-config", path, "-log-level", "error")
			if code != exitPartial {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitPartial, out, errOut)
			}
			if !strings.Contains(errOut, "bad/orders: ") || !strings.Contains(errOut, tt.reason) {
				t.Errorf("stderr does not name bad/orders with %q:\n%s", tt.reason, errOut)
			}
			flat := strings.Join(strings.Fields(out), " ")
			if !strings.Contains(flat, "ERROR bad orders mm ssh") || !strings.Contains(flat, "good orders mm ssh") {
				t.Errorf("stdout lacks the ERROR row or the good document:\n%s", out)
			}
		})
	}
}
