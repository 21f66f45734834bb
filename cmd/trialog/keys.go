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
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/envelope"
)

// runKeygen writes PREFIX.key, the private key as PKCS #8 PEM (the format
// of trialogd's own service.key) with mode 0600, and PREFIX.pub, the base64
// raw public key that POST /v1/admin/principals takes. It prints the key id
// and never the private key.
//
// With --log-key ORIGIN it makes instead the secrets a trialogd deployment
// needs before its first start (see logKeygen).
func runKeygen(ctx context.Context, env *environ, args []string) error {
	fs := flags(env, "keygen")
	out := fs.String("out", "", "path prefix of the key files: writes PREFIX.key and PREFIX.pub (required); with --log-key, a new directory")
	origin := fs.String("log-key", "", "make a log's secrets for origin ORIGIN in the directory --out: log.key, log.pub, service.key, admin.token")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageErrorf("--out PREFIX is required")
	}
	if *origin != "" {
		return logKeygen(env, *origin, *out)
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

// logKeygen writes, into the new directory dir (mode 0700), the secrets that
// several trialogd replicas must share: log.key (the note signer key that
// signs checkpoints, for --signing-key-file), service.key (the Ed25519 key of
// trialogd's own entries, for --service-key-file) and admin.token, each mode
// 0600, plus log.pub, the note verifier key that auditors compare out of
// band. It prints the kubectl command that turns them into the Secret the
// Kubernetes manifests mount, and never prints a secret.
func logKeygen(env *environ, origin, dir string) error {
	if strings.ContainsAny(origin, " +\n\t") {
		return usageErrorf("--log-key ORIGIN must have no spaces or '+', such as example.org/trialog")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists already; keygen never overwrites a key", dir)
		}
		return err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"log.key", []byte(skey + "\n"), 0o600},
		{"service.key", envelope.MarshalPrivateKey(priv), 0o600},
		{"admin.token", []byte("tlg_" + base64.RawURLEncoding.EncodeToString(tok[:]) + "\n"), 0o600},
		{"log.pub", []byte(vkey + "\n"), 0o644},
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stdout, "log key      %s (the log's identity: keep an offline copy)\n", filepath.Join(dir, "log.key"))
	fmt.Fprintf(env.stdout, "service key  %s\nadmin token  %s\n", filepath.Join(dir, "service.key"), filepath.Join(dir, "admin.token"))
	fmt.Fprintf(env.stdout, "public key   %s\n\n", vkey)
	fmt.Fprintf(env.stdout, "For Kubernetes (deploy/kubernetes):\n  kubectl create secret generic trialogd-keys --from-file=%s --from-file=%s --from-file=%s\n",
		filepath.Join(dir, "log.key"), filepath.Join(dir, "service.key"), filepath.Join(dir, "admin.token"))
	fmt.Fprintf(env.stdout, "For docker compose (deploy/compose.cluster.yaml): TRIALOG_KEYS_DIR=%s\n", dir)
	return nil
}
