package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/receipt"
)

// TestCredentialCommands drives the credential subcommands against a real
// trialogd: a receipt signed before a key's revocation verifies offline and
// says so, the revoked key is refused, a receipt claiming a later leaf is
// refused, tokens rotate and principals deactivate, delegations are
// withdrawn.
func TestCredentialCommands(t *testing.T) {
	w := newWorld(t)
	admin := filepath.Join(w.dir, "admin.token")
	writeFile(t, admin, w.srv.AdminToken(t)+"\n")
	id, kid := w.sponsor.ID, w.sponsor.KeyIDs[0]

	// Help lists every subcommand.
	w.cli.run("principal", "--help").ok(t).has(t, "rotate-token", "add-key", "revoke-key", "deactivate")
	w.cli.run("trial", "--help").ok(t).has(t, "undelegate")
	w.cli.run("principal", "revoke-key", "--help").ok(t).has(t, "--key", "principal.key-revocation")
	w.cli.run("principal", "revoke-key", "--admin-token-file", admin, id).fails(t, exitUsage, "--key")
	w.cli.run("principal", "frobnicate").fails(t, exitUsage, "unknown subcommand")

	// Signed before the revocation.
	doc := filepath.Join(w.dir, "doc.pdf")
	writeFile(t, doc, "a document")
	rc := filepath.Join(w.dir, "doc.receipt")
	w.cli.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", rc).ok(t)
	r, err := receipt.Parse(readFile(t, rc))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := receipt.NewVerifier(w.logKey)
	vr, err := v.Verify(r)
	if err != nil {
		t.Fatal(err)
	}

	// A second key, then the revocation of the first.
	laptop := filepath.Join(w.dir, "laptop2")
	w.cli.run("keygen", "--out", laptop).ok(t)
	w.cli.run("principal", "add-key", "--admin-token-file", admin, "--pub", laptop+".pub", id).ok(t).has(t, "registered", "logged as entry")
	out := w.cli.run("principal", "revoke-key", "--admin-token-file", admin, "--key", kid, id).ok(t).has(t, "revoked from leaf")
	revLeaf := strings.Fields(out.stdout[strings.Index(out.stdout, "revoked from leaf "):])[3]
	if _, err := strconv.Atoi(revLeaf); err != nil {
		t.Fatalf("revocation leaf %q in %s", revLeaf, out.stdout)
	}

	// The fresh receipt of the earlier entry verifies, and says when the
	// key stopped counting.
	rc2 := filepath.Join(w.dir, "doc-after.receipt")
	w.cli.run("entry", "--receipt", rc2, vr.EntryID).ok(t).has(t, "registered by entry "+w.sponsor.KeyEntries[0]+" at leaf ", "(checked: "+id+", Acme Pharma)",
		"; revoked at leaf "+revLeaf+" (checked: key-revoked), after this entry")
	if !strings.Contains(string(readFile(t, rc2)), " revoked "+revLeaf+"\n") {
		t.Fatalf("receipt fetched after the revocation:\n%s", readFile(t, rc2))
	}
	w.cli.run("verify", "--file", doc, rc2).ok(t).has(t, "ok  ", "valid: logged before key "+kid[:16]+" was revoked at leaf "+revLeaf)
	w.cli.run("verify", "-v", rc2).ok(t).has(t, "revoked at leaf "+revLeaf+", after this entry")
	// A receipt whose entry would be at or after the revocation: refused.
	forged := filepath.Join(w.dir, "forged.receipt")
	writeFile(t, forged, strings.Replace(string(readFile(t, rc2)), " revoked "+revLeaf+"\n", " revoked "+strconv.FormatUint(vr.LeafIndex, 10)+"\n", 1))
	w.cli.run("verify", forged).fails(t, exitFailure, "key revocation", "revoked at leaf "+strconv.FormatUint(vr.LeafIndex, 10))
	// The revoked key is refused at submission; the new one works.
	doc2 := filepath.Join(w.dir, "doc2.pdf")
	writeFile(t, doc2, "another document")
	w.cli.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc2, "--receipt", doc2+".receipt").fails(t, exitFailure, "revoked")
	w.cli.run("submit", "--key", laptop+".key", "--type", "record.digest", "--file", doc2, "--receipt", doc2+".receipt").ok(t)

	// Delegation withdrawn by the owner.
	_, site := w.principal(t, "site", "Site 1", "site")
	reg := filepath.Join(w.dir, "reg.json")
	writeFile(t, reg, `{"trial_id":"NCT01234568","title":"CLI trial","outcomes":[{"id":"o1","kind":"primary","measure":"HbA1c","time_frame":"26 weeks"}]}`)
	w.cli.run("submit", "--key", laptop+".key", "--type", "trial.registration", "--json", reg, "--receipt", filepath.Join(w.dir, "reg.receipt")).ok(t)
	w.cli.run("trial", "delegate", "--principal", site.ID, "NCT01234568").ok(t)
	w.cli.run("trial", "undelegate", "--token-file", filepath.Join(w.dir, "site.token"), "--principal", site.ID, "NCT01234568").fails(t, exitFailure, "only the owner")
	w.cli.run("trial", "undelegate", "--principal", site.ID, "NCT01234568").ok(t).has(t, "withdrew the delegation of trial NCT01234568 from "+site.ID)
	w.cli.run("trial", "show", "NCT01234568").ok(t).has(t, "trial.delegation-revocation", "withdraws the delegation of "+site.ID)

	// Token rotation: the old token file stops working, the new one works.
	newTok := filepath.Join(w.dir, "acme2.token")
	w.cli.run("principal", "rotate-token", "--admin-token-file", admin, "--token-out", newTok, id).ok(t).has(t, "every earlier token is dead")
	if fi, err := os.Stat(newTok); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new token file: %v %v", err, fi)
	}
	w.cli.run("principal", "rotate-token", "--admin-token-file", admin, "--token-out", newTok, id).fails(t, exitFailure, "exists already")
	w.cli.run("trial", "delegate", "--principal", site.ID, "NCT01234568").fails(t, exitFailure, "401")
	w.cli.run("trial", "delegate", "--token-file", newTok, "--principal", site.ID, "NCT01234568").ok(t)

	// Deactivation: the remaining key revoked, the token dead.
	w.cli.run("principal", "deactivate", "--admin-token-file", admin, id).ok(t).has(t, "deactivated", "1 key(s) revoked", "revocation")
	w.cli.run("trial", "undelegate", "--token-file", newTok, "--principal", site.ID, "NCT01234568").fails(t, exitFailure, "401")
	w.cli.run("principal", "deactivate", "--admin-token-file", newTok, site.ID).fails(t, exitFailure, "401")
}

// TestEntryChecksKeyLife: trialog entry checks, against the log, the
// registration and revocation leaves a receipt names; a server that points
// them at other leaves is caught.
func TestEntryChecksKeyLife(t *testing.T) {
	w := newWorld(t)
	admin := w.srv.AdminToken(t)
	doc := filepath.Join(w.dir, "doc.pdf")
	writeFile(t, doc, "a document")
	rc := filepath.Join(w.dir, "doc.receipt")
	w.cli.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", rc).ok(t)
	doc2 := filepath.Join(w.dir, "doc2.pdf")
	writeFile(t, doc2, "another document")
	w.cli.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc2, "--receipt", doc2+".receipt").ok(t)
	r, _ := receipt.Parse(readFile(t, doc2+".receipt"))
	v, _ := receipt.NewVerifier(w.logKey)
	vr, err := v.Verify(r)
	if err != nil || r.Signers[0].KeyIndex == nil {
		t.Fatalf("receipt: %v %+v", err, r.Signers[0])
	}
	reg := *r.Signers[0].KeyIndex
	if _, err := client.New(w.srv.URL, admin).RevokeKey(context.Background(), w.sponsor.ID, w.sponsor.KeyIDs[0], 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// A proxy that moves the registration to the leaf of the first
	// document, which precedes the entry but is not a principal.key.
	target, _ := url.Parse(w.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/receipt") {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		b = []byte(strings.Replace(string(b), " registered "+strconv.FormatInt(reg, 10)+" ", " registered "+strconv.FormatInt(reg+1, 10)+" ", 1))
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	w.cli.run("entry", vr.EntryID).ok(t).has(t, "(checked: "+w.sponsor.ID)
	w.cli.run("entry", "--url", ps.URL, vr.EntryID).fails(t, exitFailure, "signer key", "leaf "+strconv.FormatInt(reg+1, 10)+" is not")
}
