package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHelp checks that every command answers --help with its flags and an
// example, exiting 0, and that usage errors exit 64 in one line.
func TestHelp(t *testing.T) {
	c := &cli{t: t, env: map[string]string{}}
	top := c.run("--help").ok(t)
	for name := range commands() {
		if !strings.Contains(top.stdout, "  "+name+" ") {
			t.Errorf("trialog --help does not list %s", name)
		}
		args := []string{name, "--help"}
		if name == "trial" {
			args = []string{"trial", "show", "--help"}
			c.run("trial", "outcomes", "--help").ok(t).has(t, "Example:\n  trialog trial outcomes")
			c.run("trial", "--help").ok(t).has(t, "show", "outcomes", "undelegate")
		}
		if name == "principal" {
			args = []string{"principal", "create", "--help"}
			for _, sub := range []string{"rotate-token", "add-key", "revoke-key", "deactivate"} {
				c.run("principal", sub, "--help").ok(t).has(t, "Example:\n  trialog principal "+sub, "--admin-token-file")
			}
			c.run("principal", "--help").ok(t).has(t, "create", "rotate-token", "add-key", "revoke-key", "deactivate")
		}
		r := c.run(args...).ok(t)
		r.has(t, "Usage: trialog "+name, "Example:\n  trialog "+name, "Flags:")
	}
	top.has(t, "Exit codes: 0 success, 1 failure (unreachable server, error answer, failed verification), 2 audit found a fork or rollback, 3 consent check answered deny, 64 usage error.")
	for _, v := range []string{"--version", "version"} {
		c.run(v).ok(t).has(t, "trialog ", "(revision ", "go1.")
	}
	c.run("frobnicate").fails(t, exitUsage, `unknown command "frobnicate"`)
	r := c.run("verify", "--nope", "x.receipt").fails(t, exitUsage, "flag provided but not defined: -nope")
	if strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("a usage error takes more than one line:\n%s", r.stderr)
	}
	// Flags may follow arguments; "--" ends them.
	c.run("verify", "missing.receipt", "--log-key", "bad").fails(t, exitFailure, "not a note verifier key")
	c.run("verify", "--log-key", "bad", "--", "-v").fails(t, exitFailure, "not a note verifier key")
	r = c.run("verify", "--log-key", "@../../receipt/testdata/log.vkey", "--", "-v").fails(t, exitFailure)
	if !strings.Contains(r.stderr, "-v does not exist") {
		t.Fatalf("an argument after -- was taken as a flag: %s", r.stderr)
	}
}

// TestEnvironment checks that TRIALOG_URL, TRIALOG_LOG_KEY (a key or
// @FILE) and TRIALOG_TOKEN_FILE are the flags' defaults, and that flags
// win over them.
func TestEnvironment(t *testing.T) {
	w := newWorld(t)
	c := w.cli
	c.run("log").ok(t).has(t, w.logKey) // TRIALOG_URL
	c.env["TRIALOG_LOG_KEY"] = w.logKey // the key itself, not @FILE
	doc := filepath.Join(w.dir, "a.txt")
	writeFile(t, doc, "a")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", doc+".receipt").ok(t)
	c.run("verify", doc+".receipt").ok(t)
	c.run("verify", "--log-key", "@"+filepath.Join(w.dir, "log-key.txt"), doc+".receipt").ok(t)
	c.env["TRIALOG_URL"] = "http://127.0.0.1:1"
	c.run("log").fails(t, exitFailure, "127.0.0.1:1")
	c.run("log", "--url", w.srv.URL).ok(t)
	if r := c.run("log", "--url", w.srv.URL, "--public-key").ok(t); r.stdout != w.logKey+"\n" {
		t.Fatalf("log --public-key printed %q", r.stdout)
	}
}

// TestDemo keeps the demo command working.
func TestDemo(t *testing.T) {
	w := newWorld(t)
	w.cli.run("demo", "--admin-token-file", filepath.Join(w.srv.Config.DataDir, "admin.token")).ok(t).has(t, "verified offline")
}
