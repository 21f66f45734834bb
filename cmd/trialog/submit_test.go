package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trialog/trialog/receipt"
)

func TestKeygen(t *testing.T) {
	c := &cli{t: t, env: map[string]string{}}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "site")
	r := c.run("keygen", "--out", prefix).ok(t)
	fi, err := os.Stat(prefix + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("PREFIX.key: %v, mode %v; want 0600", err, fi.Mode())
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(readFile(t, prefix+".pub"))))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("PREFIX.pub is not a base64 raw Ed25519 key: %v", err)
	}
	kid := sha256.Sum256(pub)
	r.has(t, "key id       "+hex.EncodeToString(kid[:]))
	priv, err := loadKey(prefix + ".key")
	if err != nil || !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		t.Fatalf("loadKey: %v", err)
	}
	// The private key is never printed.
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") || strings.Contains(r.stdout, base64.StdEncoding.EncodeToString(priv.Seed())) {
		t.Fatal("keygen printed the private key")
	}
	// Never overwrites.
	c.run("keygen", "--out", prefix).fails(t, exitFailure, "exists already")
	c.run("keygen").fails(t, exitUsage, "--out PREFIX is required")
	writeFile(t, filepath.Join(dir, "bad.key"), "not a key")
	if _, err := loadKey(filepath.Join(dir, "bad.key")); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("loadKey of garbage: %v (must not echo the file)", err)
	}
}

// TestSubmitOneFile is a sponsor notarizing one document and a regulator
// verifying it offline.
func TestSubmitOneFile(t *testing.T) {
	w := newWorld(t)
	c := w.cli
	doc := filepath.Join(w.dir, "protocol-v1.pdf")
	writeFile(t, doc, "%PDF protocol version 1")
	rcpt := filepath.Join(w.dir, "protocol-v1.pdf.receipt")
	r := c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--set", "media_type=application/pdf",
		"--set", "source=sponsor.example", "--file", doc, "--receipt", rcpt).ok(t)
	r.has(t, "notarized", "entry ", rcpt)

	// Offline: only the log key (from TRIALOG_LOG_KEY) and the file.
	r = c.run("verify", "--file", doc, rcpt).ok(t)
	r.has(t, "ok  "+rcpt, "record.digest", "file "+doc)
	c.run("verify", "-v", "--file", doc, rcpt).ok(t).has(t, "matches digest.sha256", "registered by entry ")

	// The receipt names the sponsor's key and its registration.
	rc, err := receipt.Parse(readFile(t, rcpt))
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Signers) != 1 || rc.Signers[0].KeyID() != w.sponsor.KeyIDs[0] || rc.Signers[0].KeyEntry != w.sponsor.KeyEntries[0] {
		t.Fatalf("receipt signers %+v, want key %s registered by %s", rc.Signers, w.sponsor.KeyIDs[0], w.sponsor.KeyEntries[0])
	}

	// Another file, a tampered receipt, another log's key: exit 1 with the
	// reason.
	other := filepath.Join(w.dir, "other.pdf")
	writeFile(t, other, "%PDF something else")
	c.run("verify", "--file", other, rcpt).fails(t, exitFailure, "file digest: the file's SHA-256", "is not the statement's digest.sha256")
	tampered := filepath.Join(w.dir, "tampered.receipt")
	b := readFile(t, rcpt)
	i := bytes.Index(b, []byte("\nindex "))
	b[i+len("\nindex ")]++ // another leaf index
	writeFile(t, tampered, string(b))
	c.run("verify", tampered).fails(t, exitFailure, "inclusion proof: ")
	c.run("verify", "--log-key", "other.example/log+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", rcpt).fails(t, exitFailure)

	// Submitting the same file again: its receipt verifies, nothing is sent.
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", rcpt).ok(t).has(t, "notarized already")

	// The file changed: the old receipt is kept and the run fails.
	writeFile(t, doc, "%PDF protocol version 1, edited")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", rcpt).
		fails(t, exitFailure, doc+": the file changed since "+rcpt, "move the old receipt away")

	// entry: fetch, verify proof and signature, print.
	c.run("entry", rc.Signers[0].KeyEntry).ok(t).has(t, "(verified)", "principal.key", "trialogd's service key (as GET /v1/log announces it)")
	vr, _ := mustVerify(t, w.logKey, rcpt)
	saved := filepath.Join(w.dir, "again.receipt")
	c.run("entry", "--receipt", saved, vr.EntryID).ok(t).has(t, "record.digest", "registered by entry "+w.sponsor.KeyEntries[0])
	c.run("verify", saved).ok(t)
	c.run("entry", strings.Repeat("ab", 32)).fails(t, exitFailure, "no entry has id", "HTTP 404")
	c.run("log").ok(t).has(t, "origin       "+w.srv.Config.Origin, "public key   "+w.logKey)
	c.run("log", "--log-key", "other.example/log+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=").fails(t, exitFailure, "announces the log key")
}

func mustVerify(t *testing.T, vkey, path string) (*receipt.Verified, *receipt.Receipt) {
	t.Helper()
	r, err := receipt.Parse(readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	v, err := receipt.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := v.Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	return vr, r
}

// TestSubmitStatement logs a statement without a file, built from --json
// and --set.
func TestSubmitStatement(t *testing.T) {
	w := newWorld(t)
	c := w.cli
	st := filepath.Join(w.dir, "digest.json")
	sum := sha256.Sum256([]byte("lab report"))
	writeFile(t, st, `{"digest": {"sha256": "`+hex.EncodeToString(sum[:])+`"}, "media_type": "text/plain"}`)
	rcpt := filepath.Join(w.dir, "statement.receipt")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--json", st, "--set", "source=lab.example", "--receipt", rcpt).ok(t)
	vr, _ := mustVerify(t, w.logKey, rcpt)
	if !strings.Contains(string(vr.Payload), `"source":"lab.example"`) || !strings.Contains(string(vr.Payload), `"issued_at":"`) {
		t.Fatalf("statement %s", vr.Payload)
	}
	// Rejected by the server: the reason, exit 1; nothing written.
	bad := filepath.Join(w.dir, "bad.receipt")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--set", "digest.sha256=abc", "--receipt", bad).
		fails(t, exitFailure, "digest.sha256")
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("a receipt was written for a rejected statement")
	}
	// Usage errors.
	c.run("submit", "--key", w.keyFile, "--receipt", bad).fails(t, exitUsage, "--type is required")
	c.run("submit", "--key", w.keyFile, "--type", "x.y", "--file", st, "--receipt", bad).fails(t, exitUsage, "--digest-field")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--set", "nokey", "--receipt", bad).fails(t, exitUsage, "key=value")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--json", st, "--file", st, "--receipt", bad).fails(t, exitUsage, "digest.sha256 is set")
	c.run("submit", "--token", "secret", "--type", "record.digest", "--receipt", bad).fails(t, exitUsage, "-token")
	delete(c.env, "TRIALOG_TOKEN_FILE")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--receipt", bad).fails(t, exitUsage, "--token-file")
}

// TestSubmitFolder notarizes a folder, resumes, and verifies it all
// offline against the files.
func TestSubmitFolder(t *testing.T) {
	w := newWorld(t)
	c := w.cli
	trial := filepath.Join(w.dir, "trial")
	for i := range 30 {
		writeFile(t, filepath.Join(trial, fmt.Sprintf("site-%d", i%3), fmt.Sprintf("crf-%02d.json", i)), fmt.Sprintf(`{"form": %d}`, i))
	}
	out := filepath.Join(w.dir, "receipts")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", trial, "--receipt", out).ok(t).
		has(t, "notarized 30 files, 0 had verified receipts already, 0 failed")
	c.run("verify", "-q", "--files", trial, out).ok(t)
	r := c.run("verify", "--files", trial, out).ok(t).has(t, "30 of 30 receipts valid")
	if n := strings.Count(r.stdout, "\nok  ") + 1; n != 30 {
		t.Fatalf("%d ok lines", n)
	}
	if _, err := os.Stat(filepath.Join(out, "site-1", "crf-01.json.receipt")); err != nil {
		t.Fatal(err)
	}

	// Resume: nothing new is sent; a new file is; a changed one fails
	// alone and keeps its receipt.
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", trial, "--receipt", out).ok(t).
		has(t, "notarized 0 files, 30 had verified receipts already")
	writeFile(t, filepath.Join(trial, "site-0", "new.json"), `{"form": "new"}`)
	changed := filepath.Join(trial, "site-2", "crf-02.json")
	old := readFile(t, filepath.Join(out, "site-2", "crf-02.json.receipt"))
	writeFile(t, changed, `{"form": "changed"}`)
	r = c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", trial, "--receipt", out).
		fails(t, exitFailure, changed+": the file changed since")
	r.has(t, "notarized 1 files, 29 had verified receipts already, 1 failed")
	if !bytes.Equal(old, readFile(t, filepath.Join(out, "site-2", "crf-02.json.receipt"))) {
		t.Fatal("the receipt of a changed file was replaced")
	}
	c.run("verify", "--files", trial, out).fails(t, exitFailure, "crf-02.json.receipt: file digest:")

	// Receipts inside the notarized folder are not notarized themselves.
	site1, inner := filepath.Join(trial, "site-1"), filepath.Join(trial, "site-1", "receipts")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", site1, "--receipt", inner).ok(t).
		has(t, "notarized 10 files, 0 had verified receipts already")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", site1, "--receipt", inner).ok(t).
		has(t, "notarized 0 files, 10 had verified receipts already")
}

// TestSubmitShortWait makes the server answer before it proves the
// entries (202): submit fetches them once they are published.
func TestSubmitShortWait(t *testing.T) {
	w := newWorld(t)
	files := filepath.Join(w.dir, "files")
	for i := range 50 {
		writeFile(t, filepath.Join(files, fmt.Sprintf("%02d.txt", i)), fmt.Sprintf("file %d", i))
	}
	out := filepath.Join(w.dir, "receipts")
	w.cli.run("submit", "--wait", "1ms", "--key", w.keyFile, "--type", "record.digest", "--file", files, "--receipt", out).ok(t).
		has(t, "notarized 50 files")
	w.cli.run("verify", "-q", "--files", files, out).ok(t)
	one := filepath.Join(w.dir, "one.txt")
	writeFile(t, one, "one")
	w.cli.run("submit", "--wait", "1ms", "--key", w.keyFile, "--type", "record.digest", "--file", one, "--receipt", one+".receipt").ok(t)
	w.cli.run("verify", "--file", one, one+".receipt").ok(t)
}

// TestSubmitBatches notarizes more files than one batch takes and checks
// that it sends one batch request per 1,000.
func TestSubmitBatches(t *testing.T) {
	w := newWorld(t)
	target, _ := url.Parse(w.srv.URL)
	var batches atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/entries:batch" {
			batches.Add(1)
		}
		proxy.ServeHTTP(rw, r)
	}))
	defer front.Close()
	c := w.cli
	c.env["TRIALOG_URL"] = front.URL
	files := filepath.Join(w.dir, "files")
	const n = 2001
	for i := range n {
		writeFile(t, filepath.Join(files, fmt.Sprintf("%04d.txt", i)), fmt.Sprintf("file %d", i))
	}
	out := filepath.Join(w.dir, "receipts")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", files, "--receipt", out).ok(t).
		has(t, fmt.Sprintf("notarized %d files", n))
	if got := batches.Load(); got != 3 {
		t.Fatalf("%d batch requests for %d files, want 3", got, n)
	}
	c.run("verify", "-q", "--files", files, out).ok(t)
}

// TestNoSecretsPrinted runs the commands a sponsor runs and checks that
// neither the token nor the private key appears in any output.
func TestNoSecretsPrinted(t *testing.T) {
	w := newWorld(t)
	c := w.cli
	doc := filepath.Join(w.dir, "doc.txt")
	writeFile(t, doc, "hello")
	priv, err := loadKey(w.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{w.sponsor.Token, base64.StdEncoding.EncodeToString(priv.Seed()), base64.StdEncoding.EncodeToString(priv), strings.TrimSpace(string(readFile(t, w.keyFile)))}
	var all []result
	all = append(all, c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", doc+".receipt"))
	writeFile(t, filepath.Join(w.dir, "wrong.token"), "tlg_wrong")
	c.env["TRIALOG_TOKEN_FILE"] = filepath.Join(w.dir, "wrong.token")
	writeFile(t, doc, "hello again")
	all = append(all, c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", doc+".2.receipt"))
	all = append(all, c.run("submit", "--key", w.keyFile+"x", "--type", "record.digest", "--file", doc, "--receipt", doc+".3.receipt"))
	all = append(all, c.run("submit", "--key", doc, "--type", "record.digest", "--file", doc, "--receipt", doc+".3.receipt"))
	for _, r := range all {
		for _, s := range secrets {
			if strings.Contains(r.stdout+r.stderr, s) {
				t.Fatalf("trialog %s printed a secret:\n%s%s", r.args, r.stdout, r.stderr)
			}
		}
	}
	if all[1].code != exitFailure || !regexp.MustCompile(`token is not known`).MatchString(all[1].stderr) {
		t.Fatalf("unknown token: %d %s", all[1].code, all[1].stderr)
	}
}
