package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagship/lagship/pipeline"
)

// The cost contract: one kafka-consumer-groups.sh per group per tick, however
// many topics the group mirrors.
func TestOneCommandPerGroupPerTick(t *testing.T) {
	const topics, parts, ticks = 50, 4, 3
	var cmd string
	e := newEnv(t, describeExec(&cmd, describeTable("mm1", topics, parts), ""))
	cfg := e.mirror("mm1")
	cmd = cfg.RemoteCommand()
	p := newPool(t)
	src, err := NewSource(p, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// A second mirror entry with the same host and group shares the run.
	src2, err := NewSource(p, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for k := 0; k < ticks; k++ {
		tick = tick.Add(10 * time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 2*topics)
		for i := 0; i < topics; i++ {
			for _, s := range []*Source{src, src2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := s.Collect(ctx, tick, topicName(i))
					if err != nil {
						errs <- fmt.Errorf("%s: %w", topicName(i), err)
						return
					}
					if want := wantLags(i, parts); !slices.Equal(got.Lags, want) {
						errs <- fmt.Errorf("%s: lags %v, want %v", topicName(i), got.Lags, want)
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := len(e.srv.Commands()); n != k+1 {
			t.Fatalf("after tick %d: %d commands on the host, want %d", k+1, n, k+1)
		}
	}
	t.Logf("%d topics x 2 mirror entries, %d ticks: %d commands (JVM launches) on the host", topics, ticks, len(e.srv.Commands()))
	if st := src.Stats(); st.Commands != ticks || st.Failures != 0 {
		t.Errorf("stats = %+v, want %d commands and no failure", st, ticks)
	}
	if n := e.srv.Connections(); n != 1 {
		t.Errorf("%d SSH connections, want 1 reused", n)
	}
	for _, c := range e.srv.Commands() {
		if c != cmd {
			t.Errorf("command %q, want %q", c, cmd)
		}
	}
}

// Different groups on the same host each get their own command, over the
// same connection.
func TestGroupsAreSeparate(t *testing.T) {
	e := newEnv(t, func(_ context.Context, cmd string, stdout, _ io.Writer) int {
		for _, g := range []string{"mm-a", "mm-b"} {
			if strings.Contains(cmd, "--group '"+g+"'") {
				io.WriteString(stdout, describeTable(g, 2, 1))
				return 0
			}
		}
		return 2
	})
	p := newPool(t)
	a, err := NewSource(p, e.mirror("mm-a"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSource(p, e.mirror("mm-b"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Unix(1700000000, 0)
	for _, s := range []*Source{a, b, a, b} {
		if _, err := s.Collect(testCtx(t), tick, topicName(1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.srv.Commands()); n != 2 {
		t.Fatalf("%d commands, want one per group", n)
	}
	if n := e.srv.Connections(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
	gs := p.GroupStats()
	if len(gs) != 2 || gs[0].Group != "mm-a" || gs[0].Commands != 1 || gs[1].Group != "mm-b" || gs[1].Commands != 1 {
		t.Fatalf("group stats = %+v", gs)
	}
}

func TestCollectStates(t *testing.T) {
	ok := describeTable("mm1", 2, 2)
	noOffsets := ok + "mm1 orphan 0 - 500 - - - -\n"
	tests := []struct {
		name       string
		stdout     string
		stderr     string
		exit       int
		topic      string
		wantLags   []int64
		wantMember *pipeline.Membership
		wantState  error    // errors.Is target
		wantErr    []string // substrings of a failure (not a state)
		wantFailed bool     // counted as a failure in stats
	}{
		{name: "ok", stdout: ok, topic: topicName(1), wantLags: wantLags(1, 2),
			wantMember: membership("Stable", 1, "oo")},
		{name: "no active members", stdout: ok, stderr: "\nConsumer group 'mm1' has no active members.\n",
			topic: topicName(0), wantLags: wantLags(0, 2), wantMember: membership("Empty", 0, "..")},
		{name: "rebalancing", stdout: ok, stderr: "Warning: Consumer group 'mm1' is rebalancing.\n",
			topic: topicName(1), wantLags: wantLags(1, 2), wantMember: membership("PreparingRebalance", 1, "oo")},
		{name: "topic not in table", stdout: ok, topic: "elsewhere", wantState: pipeline.ErrNoOffsets},
		{name: "topic without committed offsets", stdout: noOffsets, topic: "orphan", wantState: pipeline.ErrNoOffsets},
		{name: "group missing", stdout: "\nError: Consumer group 'mm1' does not exist.\n", topic: topicName(0),
			wantState: pipeline.ErrGroupNotFound},
		{name: "group missing, non-zero exit", stdout: "Error: Consumer group 'mm1' does not exist.\n", exit: 1,
			topic: topicName(0), wantState: pipeline.ErrGroupNotFound},
		{name: "command error", stdout: "Error: Executing consumer group command failed due to org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment.\n",
			topic: topicName(0), wantErr: []string{"failed", "TimeoutException", "mm1"}, wantFailed: true},
		{name: "command not found", exit: 127, stderr: "bash: /opt/kafka/bin/kafka-consumer-groups.sh: No such file or directory\n",
			topic: topicName(0), wantErr: []string{"/opt/kafka/bin/kafka-consumer-groups.sh not found", "exit status 127", "No such file"}, wantFailed: true},
		{name: "non-zero exit", exit: 1, stderr: "line one\n\nline two\nline three\nline four\n", topic: topicName(0),
			wantErr: []string{"exited with status 1", "line one | line two | line three"}, wantFailed: true},
		{name: "garbage output", stdout: "something else entirely\n", topic: topicName(0),
			wantErr: []string{"output for group", "unexpected text"}, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(_ context.Context, _ string, stdout, stderr io.Writer) int {
				io.WriteString(stdout, tt.stdout)
				io.WriteString(stderr, tt.stderr)
				return tt.exit
			})
			src, err := NewSource(newPool(t), e.mirror("mm1"), testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			got, err := src.Collect(testCtx(t), time.Unix(1700000000, 0), tt.topic)
			switch {
			case tt.wantState != nil:
				if !errors.Is(err, tt.wantState) || !pipeline.IsState(err) {
					t.Fatalf("err = %v, want state %v", err, tt.wantState)
				}
			case tt.wantErr != nil:
				if err == nil || pipeline.IsState(err) {
					t.Fatalf("err = %v, want a failure", err)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Lags, tt.wantLags) {
					t.Fatalf("lags = %v, want %v", got.Lags, tt.wantLags)
				}
				if !reflect.DeepEqual(got.Members, tt.wantMember) {
					t.Errorf("members = %s, want %s", show(got.Members), show(tt.wantMember))
				}
			}
			st := src.Stats()
			if st.Commands != 1 {
				t.Errorf("commands = %d, want 1", st.Commands)
			}
			if (st.Failures == 1) != tt.wantFailed {
				t.Errorf("failures = %d, want failed=%v", st.Failures, tt.wantFailed)
			}
		})
	}
}

func TestCollectUnreachableHost(t *testing.T) {
	e := newEnv(t, echoExec)
	cfg := e.mirror("mm1")
	cfg.Host.KnownHosts = writeFile(t, e.dir, "other_hosts", "", 0o600)
	src, err := NewSource(newPool(t), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Collect(testCtx(t), time.Unix(1700000000, 0), "t")
	var hke *HostKeyError
	if !errors.As(err, &hke) || pipeline.IsState(err) {
		t.Fatalf("err = %v, want a host key failure", err)
	}
	if st := src.Stats(); st.Commands != 0 || st.Failures != 1 {
		t.Fatalf("stats = %+v, want no command and one failure", st)
	}
}

// Names full of shell syntax reach the tool as exactly one argument each.
func TestCommandQuoting(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	nasty := []string{
		"plain",
		"it's",
		`a'b'c''`,
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"g; touch " + marker,
		"g && touch " + marker,
		"with space",
		`$HOME ${IFS} \n "dq"`,
		"g|touch " + marker,
		"-starts-with-dash",
		"* ? [a]",
		"ünïcødé",
	}
	// A stand-in kafka-consumer-groups.sh under a kafka_home that itself
	// needs quoting: it writes its arguments NUL-separated.
	home := filepath.Join(dir, "kafka home's $dir")
	argsFile := filepath.Join(dir, "args")
	writeFile(t, home, "bin/kafka-consumer-groups.sh",
		"#!/bin/sh\nprintf '%s\\0' \"$@\" > '"+argsFile+"'\n", 0o755)
	e := newEnv(t, func(_ context.Context, cmd string, stdout, stderr io.Writer) int {
		c := exec.Command("/bin/sh", "-c", cmd)
		c.Stdout, c.Stderr = stdout, stderr
		if err := c.Run(); err != nil {
			return 1
		}
		return 0
	})
	p := newPool(t)
	for _, group := range nasty {
		t.Run(group, func(t *testing.T) {
			cfg := e.mirror(group)
			cfg.KafkaHome = home
			cfg.CommandConfig = filepath.Join(dir, "client $(id).properties")
			if err := cfg.Validate(); err != nil {
				t.Fatalf("valid name rejected: %v", err)
			}
			before := len(e.srv.Commands())
			out, err := p.Run(testCtx(t), cfg.Host, cfg.RemoteCommand())
			if err != nil || out.ExitStatus != 0 {
				t.Fatalf("run: %v, exit %d, stderr %q", err, out.ExitStatus, out.Stderr)
			}
			cmds := e.srv.Commands()
			if len(cmds) != before+1 || cmds[before] != cfg.RemoteCommand() {
				t.Fatalf("server received %q, want exactly %q", cmds[before:], cfg.RemoteCommand())
			}
			b, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
			want := []string{"--bootstrap-server", cfg.BootstrapServer, "--describe", "--group", group, "--command-config", cfg.CommandConfig}
			if !slices.Equal(got, want) {
				t.Fatalf("arguments = %q, want %q", got, want)
			}
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Fatalf("the group name ran a command: %s exists", marker)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":       "''",
		"abc":    "'abc'",
		"it's":   `'it'\''s'`,
		"''":     `''\'''\'''`,
		"$x `y`": "'$x `y`'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCommand(t *testing.T) {
	cfg := MirrorConfig{Group: "mm1", KafkaHome: "/opt/kafka/", BootstrapServer: "b1:9092,b2:9092"}
	if got, want := cfg.Command(), `'/opt/kafka/bin/kafka-consumer-groups.sh' --bootstrap-server 'b1:9092,b2:9092' --describe --group 'mm1'`; got != want {
		t.Errorf("Command() = %s\nwant        %s", got, want)
	}
	cfg.CommandConfig = "/etc/kafka/client.properties"
	if got, want := cfg.Command(), `'/opt/kafka/bin/kafka-consumer-groups.sh' --bootstrap-server 'b1:9092,b2:9092' --describe --group 'mm1' --command-config '/etc/kafka/client.properties'`; got != want {
		t.Errorf("Command() = %s\nwant        %s", got, want)
	}
}

func TestValidate(t *testing.T) {
	good := MirrorConfig{
		Host:            HostConfig{Host: "ec2-1-2-3-4.compute.amazonaws.com", User: "ec2-user", KeyFile: "/k.pem", KnownHosts: "/kh"},
		Group:           "mm1",
		KafkaHome:       "/opt/kafka",
		BootstrapServer: "b-1.kafka:9092,10.0.0.1:9094,[::1]:9092",
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*MirrorConfig)
		want   string
	}{
		{"no host", func(c *MirrorConfig) { c.Host.Host = "" }, "host: required"},
		{"host with space", func(c *MirrorConfig) { c.Host.Host = "a b" }, "host: "},
		{"bad port", func(c *MirrorConfig) { c.Host.Port = 70000 }, "port: 70000 is out of range"},
		{"no user", func(c *MirrorConfig) { c.Host.User = "" }, "user: required"},
		{"no key", func(c *MirrorConfig) { c.Host.KeyFile = "" }, "key_file: required"},
		{"no known_hosts", func(c *MirrorConfig) { c.Host.KnownHosts = "" }, "known_hosts: required unless insecure_ignore_host_key"},
		{"negative timeout", func(c *MirrorConfig) { c.Host.Timeout = -1 }, "timeout: must not be negative"},
		{"jump host fields", func(c *MirrorConfig) { c.Host.JumpHost = &HostConfig{Host: "bastion"} }, "jump_host.user: required"},
		{"nested jump", func(c *MirrorConfig) {
			j := c.Host
			j.JumpHost = &HostConfig{}
			c.Host.JumpHost = &j
		}, "jump_host.jump_host: only one jump host"},
		{"no group", func(c *MirrorConfig) { c.Group = "" }, "group: required"},
		{"group with newline", func(c *MirrorConfig) { c.Group = "mm1\ntouch /tmp/x" }, "group: "},
		{"group with NUL", func(c *MirrorConfig) { c.Group = "mm\x001" }, "group: "},
		{"group with CR", func(c *MirrorConfig) { c.Group = "mm\r1" }, "group: "},
		{"no kafka_home", func(c *MirrorConfig) { c.KafkaHome = "" }, "kafka_home: required"},
		{"relative kafka_home", func(c *MirrorConfig) { c.KafkaHome = "kafka" }, "kafka_home: \"kafka\" is not an absolute path"},
		{"kafka_home with newline", func(c *MirrorConfig) { c.KafkaHome = "/opt/\nkafka" }, "kafka_home: "},
		{"relative command_config", func(c *MirrorConfig) { c.CommandConfig = "client.properties" }, "command_config: "},
		{"no bootstrap", func(c *MirrorConfig) { c.BootstrapServer = "" }, "bootstrap_server: required"},
		{"bootstrap without port", func(c *MirrorConfig) { c.BootstrapServer = "kafka" }, "bootstrap_server: \"kafka\" is not host:port"},
		{"bootstrap bad port", func(c *MirrorConfig) { c.BootstrapServer = "k:0" }, "bootstrap_server: \"k:0\": port"},
		{"bootstrap injection", func(c *MirrorConfig) { c.BootstrapServer = "k:9092;reboot" }, "bootstrap_server: "},
		{"bootstrap trailing comma", func(c *MirrorConfig) { c.BootstrapServer = "k:9092," }, "bootstrap_server: "},
		{"bootstrap bad host", func(c *MirrorConfig) { c.BootstrapServer = "$(id):9092" }, "bootstrap_server: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, tt.want)
			}
			if _, err := NewSource(NewPool(testLogger(t)), c, testLogger(t)); err == nil {
				t.Fatal("NewSource accepted an invalid config")
			}
		})
	}
	insecure := good
	insecure.Host.KnownHosts = ""
	insecure.Host.InsecureIgnoreHostKey = true
	if err := insecure.Validate(); err != nil {
		t.Fatalf("insecure without known_hosts: %v", err)
	}
}

func TestProbe(t *testing.T) {
	var cmd string
	e := newEnv(t, func(ctx context.Context, got string, stdout, stderr io.Writer) int {
		switch got {
		case "test -x '/opt/kafka/bin/kafka-consumer-groups.sh'":
			return 0
		case "test -x '/missing/bin/kafka-consumer-groups.sh'":
			return 1
		case cmd:
			io.WriteString(stdout, describeTable("mm1", 3, 2))
			return 0
		}
		io.WriteString(stdout, "Error: Consumer group 'other' does not exist.\n")
		return 0
	})
	cfg := e.mirror("mm1")
	cmd = cfg.RemoteCommand()
	names := func(cs []Check) string {
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "%s=%t ", c.Name, c.OK)
		}
		return strings.TrimSpace(b.String())
	}

	t.Run("all good", func(t *testing.T) {
		cs := Probe(testCtx(t), cfg, testLogger(t))
		if got := names(cs); got != "connect=true host key=true command=true group=true" {
			t.Fatalf("checks = %s: %+v", got, cs)
		}
		if d := cs[3].Detail; !strings.Contains(d, "6 partitions of 3 topics") {
			t.Errorf("group detail = %q", d)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		bad := cfg
		bad.Group = ""
		if got := names(Probe(testCtx(t), bad, testLogger(t))); got != "config=false" {
			t.Fatalf("checks = %s", got)
		}
	})
	t.Run("unknown host key", func(t *testing.T) {
		bad := cfg
		bad.Host.KnownHosts = writeFile(t, t.TempDir(), "kh", "", 0o600)
		cs := Probe(testCtx(t), bad, testLogger(t))
		if got := names(cs); got != "connect=true host key=false" || !strings.Contains(cs[1].Detail, bad.Host.KnownHosts) {
			t.Fatalf("checks = %s: %+v", got, cs)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		bad := cfg
		bad.Host.Port = 1
		if got := names(Probe(testCtx(t), bad, testLogger(t))); got != "connect=false" {
			t.Fatalf("checks = %s", got)
		}
	})
	t.Run("script missing", func(t *testing.T) {
		bad := cfg
		bad.KafkaHome = "/missing"
		cs := Probe(testCtx(t), bad, testLogger(t))
		if got := names(cs); got != "connect=true host key=true command=false" || !strings.Contains(cs[2].Detail, "/missing/bin/kafka-consumer-groups.sh") {
			t.Fatalf("checks = %s: %+v", got, cs)
		}
	})
	t.Run("group missing", func(t *testing.T) {
		bad := cfg
		bad.Group = "other"
		cs := Probe(testCtx(t), bad, testLogger(t))
		if got := names(cs); got != "connect=true host key=true command=true group=false" || !strings.Contains(cs[3].Detail, "does not exist") {
			t.Fatalf("checks = %s: %+v", got, cs)
		}
	})
}

// The host enforces the timeout itself when it has coreutils timeout: a
// JVM that hangs silently is killed there even when sshd refuses signals.
func TestRemoteCommandTimeout(t *testing.T) {
	cfg := MirrorConfig{Host: HostConfig{Host: "h", User: "u", Timeout: 1500 * time.Millisecond}, Group: "g", KafkaHome: "/opt/kafka", BootstrapServer: "b:9092"}
	want := "if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 2 " + cfg.Command() + "; else exec " + cfg.Command() + "; fi"
	if got := cfg.RemoteCommand(); got != want {
		t.Errorf("RemoteCommand() = %s\nwant %s", got, want)
	}
	// Run it for real: a script that sleeps forever and prints nothing is
	// killed by the host after the timeout.
	dir := t.TempDir()
	writeFile(t, dir, "bin/kafka-consumer-groups.sh", "#!/bin/sh\nexec sleep 60\n", 0o755)
	cfg.KafkaHome = dir
	start := time.Now()
	c := exec.Command("/bin/sh", "-c", cfg.RemoteCommand())
	err := c.Run()
	if err == nil {
		t.Fatal("hung command exited 0")
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("hung command ran %s", time.Since(start))
	}
}

// Sources released by Close free their group run and, when no other run
// uses the host, its connection.
func TestSourceCloseForgetsHost(t *testing.T) {
	var cmd string
	e := newEnv(t, describeExec(&cmd, describeTable("mm1", 1, 1), ""))
	cfg := e.mirror("mm1")
	cmd = cfg.RemoteCommand()
	p := newPool(t)
	a, err := NewSource(p, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSource(p, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Collect(testCtx(t), time.Unix(10, 0), topicName(0)); err != nil {
		t.Fatal(err)
	}
	hosts := func() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.hosts) }
	groups := func() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.groups) }
	a.Close()
	if hosts() != 1 || groups() != 1 {
		t.Fatalf("after closing one of two sources: %d hosts, %d groups", hosts(), groups())
	}
	b.Close()
	b.Close() // idempotent
	if hosts() != 0 || groups() != 0 {
		t.Fatalf("after closing both: %d hosts, %d groups", hosts(), groups())
	}
	// A timeout change is a different connection key.
	cfg2 := cfg
	cfg2.Host.Timeout = 3 * time.Second
	if hostKey(cfg.Host.WithDefaults()) == hostKey(cfg2.Host.WithDefaults()) {
		t.Error("timeout not part of the host key")
	}
}
