package main

import (
	"context"
	"encoding/base64"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/client"
)

// TestConsentEnrollReceipt: enroll --receipt writes the patient's
// printable receipt, mode 0600, whose link opens the patient page with the
// secret, the trial and the log's key in the fragment only; a bad
// --page-url or an existing receipt file stops enroll before a subject is
// minted; the secret is never printed.
func TestConsentEnrollReceipt(t *testing.T) {
	w := newConsentWorld(t)
	info, err := client.New(w.srv.URL, "").Log(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	receipt := filepath.Join(w.dir, "patient-0042.html")
	secretFile := filepath.Join(w.dir, "patient-0042.secret")
	r := w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial, "--secret-out", secretFile,
		"--receipt", receipt, "--site", "St Mary's Hospital", "--page-url", "https://log.example.org/").ok(t)
	r.has(t, "print the consent receipt "+receipt)
	fi, err := os.Stat(receipt)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the receipt has mode %v, want 0600", fi.Mode().Perm())
	}
	secret := strings.TrimSpace(string(readFile(t, secretFile)))
	raw, _ := base64.StdEncoding.DecodeString(secret)
	page := html.UnescapeString(string(readFile(t, receipt)))
	link := "https://log.example.org/patient#secret=" + base64.RawURLEncoding.EncodeToString(raw) + "&trial=" + w.trial + "&key=" + info.PublicKey
	for _, want := range []string{`href="` + link + `"`, "<svg", "St Mary's Hospital", w.trial, "Keep this receipt private", "Withdrawing", "Erasing"} {
		if !strings.Contains(page, want) {
			t.Errorf("the receipt lacks %q", want)
		}
	}
	if strings.Contains(page, "?secret") || strings.Count(page, "http://") != strings.Count(page, "http://www.w3.org/2000/svg") {
		t.Error("the receipt puts the secret in a query or links elsewhere")
	}
	w.noSecretPrinted(t, secret, base64.RawURLEncoding.EncodeToString(raw))

	// Never overwritten; nothing minted when the receipt cannot be made.
	other := filepath.Join(w.dir, "patient-0043.secret")
	w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial, "--secret-out", other, "--receipt", receipt).fails(t, exitFailure, "exists already")
	w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial, "--secret-out", other,
		"--receipt", filepath.Join(w.dir, "p43.html"), "--page-url", "ftp://x").fails(t, exitUsage, "--page-url")
	for _, p := range []string{other, filepath.Join(w.dir, "p43.html")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed enroll", p)
		}
	}
	if string(readFile(t, secretFile)) == "" || !strings.Contains(html.UnescapeString(string(readFile(t, receipt))), link) {
		t.Error("a failed enroll changed the first patient's files")
	}
}
