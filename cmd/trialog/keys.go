package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/trialog/trialog/envelope"
)

// runKeygen writes PREFIX.key, the private key as PKCS #8 PEM (the format
// of trialogd's own service.key) with mode 0600, and PREFIX.pub, the base64
// raw public key that POST /v1/admin/principals takes. It prints the key id
// and never the private key.
func runKeygen(ctx context.Context, env *environ, args []string) error {
	fs := flags(env, "keygen")
	out := fs.String("out", "", "path prefix of the key files: writes PREFIX.key and PREFIX.pub (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageErrorf("--out PREFIX is required")
	}
	keyPath, pubPath := *out+".key", *out+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists already; keygen never overwrites a key", p)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := writeNew(keyPath, envelope.MarshalPrivateKey(priv), 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintf(env.stdout, "private key  %s (keep it secret; mode 0600)\npublic key   %s\nkey id       %s\n", keyPath, pubPath, envelope.KeyID(pub))
	fmt.Fprintf(env.stdout, "\nAsk the log's administrator to register %s to your principal.\n", pubPath)
	return nil
}

// writeNew creates a file that must not exist yet.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// loadKey reads an Ed25519 private key written by keygen (PKCS #8 PEM).
func loadKey(path string) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, usageErrorf("--key PREFIX.key is required: your signing key, made by trialog keygen")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the key file %s does not exist (make one with trialog keygen)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	priv, err := envelope.ParsePrivateKey(b)
	if err != nil {
		// Never echo the file: it is a secret.
		return nil, fmt.Errorf("%s is %v, as trialog keygen writes", path, err)
	}
	return priv, nil
}
