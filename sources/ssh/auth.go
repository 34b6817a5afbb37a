package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// loadSigner reads the private key of hc. It accepts what ssh.ParsePrivateKey
// does: OpenSSH format and PEM (PKCS#1 "RSA PRIVATE KEY" as EC2 hands out,
// PKCS#8, SEC 1 EC keys), RSA, ed25519 and ECDSA. An encrypted key needs
// PassphraseFile. Errors name the files, never their contents.
func loadSigner(hc HostConfig) (ssh.Signer, error) {
	pemBytes, err := os.ReadFile(hc.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading key_file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case !errors.As(err, &missing):
		return nil, fmt.Errorf("parsing key_file %s: %w", hc.KeyFile, err)
	case hc.PassphraseFile == "":
		return nil, fmt.Errorf("key_file %s is encrypted and no passphrase_file is set", hc.KeyFile)
	}
	pass, err := os.ReadFile(hc.PassphraseFile)
	if err != nil {
		return nil, fmt.Errorf("reading passphrase_file: %w", err)
	}
	pass = bytes.TrimSuffix(pass, []byte("\n"))
	pass = bytes.TrimSuffix(pass, []byte("\r"))
	signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, pass)
	clear(pass)
	if err != nil {
		return nil, fmt.Errorf("decrypting key_file %s with passphrase_file %s: %w", hc.KeyFile, hc.PassphraseFile, err)
	}
	return signer, nil
}
