package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestSASL(t *testing.T) {
	for _, mech := range []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			f := newFakeKafka(t, nil, kfake.EnableSASL(), kfake.Superuser(mech, "lagship", "s3cr=t,pw"),
				kfake.SeedTopics(2, "orders"))
			ctx := testCtx(t)

			c := newTestCluster(t, f, func(cfg *Config) {
				cfg.SASL = &SASL{Mechanism: mech, Username: "lagship", Password: "s3cr=t,pw"}
			})
			ends, err := c.LogEndOffsets(ctx, tickAt(0), "orders")
			if err != nil {
				t.Fatalf("LogEndOffsets with SASL %s: %v", mech, err)
			}
			if !slices.Equal(ends, []int64{0, 0}) {
				t.Errorf("log ends = %v, want [0 0]", ends)
			}
			st := c.Stats()
			if st.Requests["SaslHandshake"] == 0 || st.Requests["SaslAuthenticate"] == 0 {
				t.Errorf("requests %v: no SASL exchange", st.Requests)
			}

			bad := newTestCluster(t, f, func(cfg *Config) {
				cfg.SASL = &SASL{Mechanism: mech, Username: "lagship", Password: "wrong"}
			})
			checks := bad.Probe(ctx, "", []string{"orders"})
			for _, ch := range checks {
				if ch.OK {
					t.Errorf("check %q passed with a wrong password: %s", ch.Name, ch.Detail)
				}
				if strings.Contains(ch.Detail, "wrong") {
					t.Errorf("check %q leaks the password: %s", ch.Name, ch.Detail)
				}
			}
		})
	}
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1, and
// returns the CA file and the server's TLS configuration.
func writeTestPKI(t *testing.T) (caFile string, server *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lagship test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
	}
}

func TestTLS(t *testing.T) {
	caFile, server := writeTestPKI(t)
	f := newFakeKafka(t, nil, kfake.TLS(server), kfake.SeedTopics(3, "orders"))
	tests := []struct {
		name string
		tls  TLS
		ok   bool
	}{
		{"ca file", TLS{Enabled: true, CAFile: caFile}, true},
		{"unknown CA is refused", TLS{Enabled: true}, false},
		{"insecure skip verify", TLS{Enabled: true, InsecureSkipVerify: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, f, func(cfg *Config) { cfg.TLS = &tt.tls })
			ends, err := c.LogEndOffsets(testCtx(t), tickAt(0), "orders")
			if !tt.ok {
				if err == nil {
					t.Fatal("LogEndOffsets succeeded against an unverified certificate")
				}
				return
			}
			if err != nil {
				t.Fatalf("LogEndOffsets over TLS: %v", err)
			}
			if len(ends) != 3 {
				t.Errorf("log ends = %v, want 3 partitions", ends)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tl := range map[string]*TLS{
		"missing ca":  {Enabled: true, CAFile: filepath.Join(dir, "nope.pem")},
		"ca not pem":  {Enabled: true, CAFile: notPEM},
		"missing key": {Enabled: true, CertFile: notPEM, KeyFile: filepath.Join(dir, "nope.key")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewCluster(Config{Name: "x", Brokers: []string{"127.0.0.1:1"}, TLS: tl}, nopLogger())
			if err == nil {
				t.Fatal("NewCluster accepted a broken TLS configuration")
			}
		})
	}
}

// TestNewClientSASL: the kafka-go client for record readers authenticates
// like the Cluster does.
func TestNewClientSASL(t *testing.T) {
	for _, mech := range []string{MechanismPlain, MechanismScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "admin", "s3cret"), kfake.SeedTopics(2, "orders"))
			if err != nil {
				t.Fatal(err)
			}
			defer kf.Close()
			for _, pass := range []string{"s3cret", "wrong"} {
				c, err := NewClient(Config{Name: "dc1", Brokers: kf.ListenAddrs(), Timeout: 5 * time.Second, SASL: &SASL{mech, "admin", pass}})
				if err != nil {
					t.Fatal(err)
				}
				md, err := c.Metadata(testCtx(t), &kafkago.MetadataRequest{Topics: []string{"orders"}})
				if pass == "s3cret" && (err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 2) {
					t.Errorf("good password: %v %+v", err, md)
				}
				if pass == "wrong" && err == nil {
					t.Error("wrong password accepted")
				}
				c.Transport.(*kafkago.Transport).CloseIdleConnections()
			}
		})
	}
}
