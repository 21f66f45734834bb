package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/internal/witnesstest"
)

// TestWitnessPolicy: verify and audit accept checkpoints that carry the
// policy's quorum of cosignatures (here from litewitness) and refuse, with
// a failing exit, those that do not.
func TestWitnessPolicy(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	skey, vkey, err := note.GenerateKey(rand.Reader, cfg.Origin)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.SigningKeyFile = filepath.Join(dir, "log.key")
	writeFile(t, cfg.SigningKeyFile, skey)
	lw := witnesstest.Start(t, "witness.test.example/w1")
	lw.AddLog(t, cfg.Origin, vkey)
	one := filepath.Join(dir, "one.policy")
	writeFile(t, one, fmt.Sprintf("witness w1 %s %s\nquorum w1\n", lw.VKey, lw.URL))
	cfg.WitnessPolicyFile = one
	cfg.WitnessTimeout = 2 * time.Second
	w := newWorldOn(t, testserver.Start(t, cfg))
	c := w.cli

	// A policy that also wants a witness that never saw the log.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	absent, err := torchwood.NewCosignatureSigner("witness.test.example/w2", priv)
	if err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "both.policy")
	writeFile(t, both, fmt.Sprintf("witness w1 %s\nwitness w2 %s\ngroup both all w1 w2\nquorum both\n", lw.VKey, absent.Verifier().String()))

	doc := filepath.Join(w.dir, "doc.txt")
	writeFile(t, doc, "cosigned")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", doc+".receipt").ok(t)
	c.run("verify", "--witness-policy", one, doc+".receipt").ok(t).has(t, "ok  ")
	c.run("verify", "--witness-policy", both, doc+".receipt").fails(t, exitFailure, "witnesses", "quorum both")
	c.run("verify", "--witness-policy", filepath.Join(dir, "missing.policy"), doc+".receipt").fails(t, exitFailure, "witness policy")

	state := filepath.Join(w.dir, "audit")
	c.run("audit", "--state", state, "--witness-policy", one, "-v").ok(t)
	c.run("audit", "--state", filepath.Join(w.dir, "audit2"), "--witness-policy", both).fails(t, exitFailure, "quorum both", "nothing was saved")
}
