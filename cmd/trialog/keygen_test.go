package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/envelope"
)

// TestKeygenLogKey checks that keygen --log-key makes a deployment's shared
// secrets: a note signer for the origin whose verifier is log.pub, a service
// key trialogd can load, an admin token, all 0600 in a new 0700 directory,
// none printed, and that it refuses to overwrite them.
func TestKeygenLogKey(t *testing.T) {
	c := &cli{t: t, env: map[string]string{}}
	dir := filepath.Join(t.TempDir(), "keys")
	r := c.run("keygen", "--log-key", "example.org/trialog", "--out", dir).ok(t)
	r.has(t, "kubectl create secret generic trialogd-keys", "public key   example.org/trialog+")

	read := func(name string, mode os.FileMode) string {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Fatalf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v %v", fi, err)
	}
	skey := strings.TrimSpace(read("log.key", 0o600))
	vkey := strings.TrimSpace(read("log.pub", 0o644))
	signer, err := note.NewSigner(skey)
	if err != nil || signer.Name() != "example.org/trialog" {
		t.Fatalf("log.key: %v (name %q)", err, signer.Name())
	}
	msg, err := note.Sign(&note.Note{Text: "checkpoint\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
		t.Fatalf("log.pub does not verify what log.key signs: %v", err)
	}
	if _, err := envelope.ParsePrivateKey([]byte(read("service.key", 0o600))); err != nil {
		t.Fatalf("service.key: %v", err)
	}
	tok := strings.TrimSpace(read("admin.token", 0o600))
	if !strings.HasPrefix(tok, "tlg_") || len(tok) < 40 {
		t.Fatalf("admin token %q", tok)
	}
	for _, secret := range []string{skey, tok, strings.TrimPrefix(skey, "PRIVATE+KEY+")} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Fatal("keygen printed a secret")
		}
	}
	c.run("keygen", "--log-key", "example.org/trialog", "--out", dir).fails(t, exitFailure, "exists already")
	c.run("keygen", "--log-key", "bad origin", "--out", dir+"2").fails(t, exitUsage, "no spaces")
}
