package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lagship test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, cert
}

func TestClient(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)

	cfg, err := Client(Options{})
	if err != nil || cfg.InsecureSkipVerify || cfg.RootCAs != nil || cfg.MinVersion < 0x0303 {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	cfg, err = Client(Options{CAFile: certFile, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: cfg.RootCAs}); err != nil {
		t.Errorf("CA file not trusted: %v", err)
	}
	if len(cfg.Certificates) != 1 {
		t.Error("client certificate not loaded")
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{CAFile: filepath.Join(dir, "missing.pem")}, "reading ca_file"},
		{Options{CAFile: notPEM}, "ca_file " + notPEM + ": no PEM certificate found"},
		{Options{CertFile: certFile}, "cert_file and key_file go together"},
		{Options{CertFile: notPEM, KeyFile: notPEM}, "loading client certificate " + notPEM},
	} {
		if _, err := Client(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}
