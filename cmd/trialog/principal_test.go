package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrincipalCreateAndDelegate registers principals from the command line
// (the token only ever in a new 0600 file) and delegates a trial to one.
func TestPrincipalCreateAndDelegate(t *testing.T) {
	w := newWorld(t)
	admin := filepath.Join(w.dir, "admin.token")
	writeFile(t, admin, w.srv.AdminToken(t)+"\n")
	site := filepath.Join(w.dir, "site")
	w.cli.run("keygen", "--out", site).ok(t)
	tokenOut := filepath.Join(w.dir, "site.token")
	r := w.cli.run("principal", "create", "--admin-token-file", admin, "--name", "St Mary's", "--role", "site", "--pub", site+".pub", "--token-out", tokenOut, "-q").ok(t)
	id := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(id, "pr_") || strings.Contains(r.stdout, "tlg_") {
		t.Fatalf("-q printed %q, want only the principal id", r.stdout)
	}
	fi, err := os.Stat(tokenOut)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", err, fi)
	}
	tok, _ := os.ReadFile(tokenOut)
	if !strings.HasPrefix(string(tok), "tlg_") {
		t.Fatalf("token file holds %q", tok)
	}
	// The token works: the site can ask for the log with it (and a
	// principal create never overwrites a token file, nor runs without the
	// admin token).
	w.cli.run("principal", "create", "--admin-token-file", admin, "--name", "x", "--role", "site", "--pub", site+".pub", "--token-out", tokenOut).fails(t, exitFailure, "exists already")
	w.cli.run("principal", "create", "--admin-token-file", tokenOut, "--name", "y", "--role", "sponsor", "--token-out", filepath.Join(w.dir, "y.token")).fails(t, exitFailure, "only an admin")
	if _, err := os.Stat(filepath.Join(w.dir, "y.token")); !os.IsNotExist(err) {
		t.Fatal("a refused principal create left a token file behind")
	}
	w.cli.run("principal", "create", "--name", "z").fails(t, exitUsage, "required")

	// The sponsor registers a trial and delegates it to the site.
	reg := filepath.Join(w.dir, "reg.json")
	writeFile(t, reg, `{"trial_id":"NCT01234567","title":"CLI trial","outcomes":[{"id":"o1","kind":"primary","measure":"HbA1c","time_frame":"26 weeks"}]}`)
	w.cli.run("submit", "--key", w.keyFile, "--type", "trial.registration", "--json", reg, "--receipt", filepath.Join(w.dir, "reg.receipt")).ok(t)
	w.cli.run("trial", "delegate", "--principal", id, "NCT01234567").ok(t).has(t, "delegated trial NCT01234567 to "+id)
	w.cli.run("trial", "delegate", "--principal", id, "NCT01234567").ok(t).has(t, "already delegated")
	w.cli.run("trial", "show", "NCT01234567").ok(t).has(t, id)
	w.cli.run("trial", "delegate", "--token-file", tokenOut, "--principal", id, "NCT01234567").fails(t, exitFailure, "delegating trial")
	w.cli.run("trial", "delegate", "NCT01234567").fails(t, exitUsage, "--principal")
}
