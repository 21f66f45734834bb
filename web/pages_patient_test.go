package web_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/web/consentreceipt"
	"github.com/trialog/trialog/web/verify"
)

// patientPage: the patient's page verifies at every size, the secret
// leaving it only in the body of the status request, and shows the
// consent, its purposes, each use newest first, the grant's signer and the
// patient's rights.
func (p *pagesRun) patientPage(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	for _, sz := range sizes {
		b.reset()
		f.reset()
		if got := b.open(t, p.patientURL, sz.width, sz.height); got != "ok" {
			t.Fatalf("%s: data-verification = %s: %s", sz.name, got, b.text(t, "#verification"))
		}
		b.screenshot(t, "patient-"+sz.name, sz.width)
		checkSecretOnlyInStatusBody(t, s, b, f)
	}
	b.accessible(t, "patient")
	b.noErrors(t)
	if v := b.text(t, "#consent-status"); !strings.HasPrefix(v, "You agreed to take part") {
		t.Errorf("status: %q", v)
	}
	if v := b.text(t, "#form-version"); v != "You agreed on version 1.0 of the consent form." {
		t.Errorf("form version: %q", v)
	}
	recon := eval[string](t, b, `document.querySelector('#reconsent').dataset.reconsent`)
	if recon != "false" {
		t.Errorf("reconsent = %s", recon)
	}
	purposes := eval[[]string](t, b, `[...document.querySelectorAll('#purposes > li')].map(li => li.innerText)`)
	if want := "✗ Not allowed Future research beyond this trial|✓ Allowed Analysing the results of this trial"; strings.Join(purposes, "|") != want {
		t.Errorf("purposes = %q, want %q", purposes, want)
	}
	uses := b.text(t, "#uses")
	for _, want := range []string{
		"Data user " + s.accessor + " asked to use your data for: Future research beyond this trial. This was refused",
		"Data user " + s.accessor + " asked to use your data for: Analysing the results of this trial. This was allowed",
	} {
		if !strings.Contains(uses, want) {
			t.Errorf("uses lack %q:\n%s", want, uses)
		}
	}
	if strings.Index(uses, "Future research") > strings.Index(uses, "Analysing") {
		t.Errorf("uses are not newest first:\n%s", uses)
	}
	if v := eval[string](t, b, `document.querySelector('#history').textContent`); !strings.Contains(v, "St Mary's research office · trial site") {
		t.Errorf("the grant's signer is not named: %q", v)
	}
	if v := b.text(t, "main"); !strings.Contains(v, "Withdrawing your consent") || !strings.Contains(v, "Erasing the link to you") {
		t.Error("the page does not explain withdrawal and erasure")
	}
}

// receipt: the link a printed receipt carries (and its QR code holds,
// scanned when zbarimg is installed) opens the patient's page with the log
// key pinned.
func (p *pagesRun) receipt(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	// The receipt a site prints; its link is what the QR code holds.
	path := filepath.Join(t.TempDir(), "receipt.html")
	var buf bytes.Buffer
	err := consentreceipt.Write(&buf, consentreceipt.Receipt{PageURL: f.URL, TrialID: s.trial, Site: "St Mary's Hospital",
		Secret: s.secret, LogKey: s.info.PublicKey, Fingerprint: verify.KeyFingerprint(s.info.PublicKey), Enrolled: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sz := range sizes[:2] {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(sz.width, sz.height), chromedp.Navigate("file://"+path)); err != nil {
			t.Fatal(err)
		}
		b.screenshot(t, "receipt-"+sz.name, sz.width)
	}
	link := eval[string](t, b, `document.querySelector('#link').href`)
	if !strings.HasPrefix(link, f.URL+"/patient#secret="+s.secretURL()+"&trial="+s.trial+"&key=") {
		t.Fatalf("receipt link %q", link)
	}
	// Scan the printed code as a phone would, from the screenshot.
	if zbar, err := exec.LookPath("zbarimg"); err == nil {
		out, err := exec.Command(zbar, "-q", "--raw", filepath.Join("testdata", "screenshots", "receipt-phone.png")).Output()
		if scanned := strings.TrimSpace(string(out)); err != nil || scanned != link {
			t.Fatalf("the QR code scans as %q (%v), want the link %q", scanned, err, link)
		}
	} else {
		t.Log("zbarimg is not installed (zbar-tools): the QR code is not scanned")
	}
	b.reset()
	f.reset()
	if got := b.open(t, link, 375, 812); got != "ok" {
		t.Fatalf("the receipt's link: data-verification = %s: %s", got, b.text(t, "#verification"))
	}
	if !strings.Contains(b.text(t, "main"), "with this key in its link") {
		t.Error("the receipt's link does not pin the log key")
	}
	checkSecretOnlyInStatusBody(t, s, b, f)
}

// patientForm: without a secret in the fragment the page asks for it;
// every field is labelled and the keyboard alone fills and submits the
// form.
func (p *pagesRun) patientForm(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	b.reset()
	f.reset()
	err := chromedp.Do(b.ctx,
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(f.URL+"/patient"),
		chromedp.WaitVisible(`#secret`),
	)
	if err != nil {
		t.Fatal(err)
	}
	b.accessible(t, "patient form")
	// Every field has a label; the keyboard alone fills and submits.
	if n := eval[int](t, b, `[...document.querySelectorAll('input')].filter(i => !document.querySelector('label[for="' + i.id + '"]')).length`); n != 0 {
		t.Errorf("%d inputs without a label", n)
	}
	err = chromedp.Do(b.ctx,
		chromedp.Focus(`#secret`),
		chromedp.SendKeys(`#secret`, s.secret),
		chromedp.SendKeys(`#trial`, s.trial+"\r"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if state := b.decided(t); state != "ok" {
		t.Fatalf("data-verification = %s: %s", state, b.text(t, "#verification"))
	}
	checkSecretOnlyInStatusBody(t, s, b, f)
}

// patientFormShortSecret: a secret too short to be one is marked invalid,
// and nothing is sent.
func (p *pagesRun) patientFormShortSecret(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	b.reset()
	f.reset()
	err := chromedp.Do(b.ctx,
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(f.URL+"/patient#trial="+s.trial),
		chromedp.WaitVisible(`#secret`),
		chromedp.SendKeys(`#secret`, "abc"),
		chromedp.Click(`#secret-form button`),
	)
	if err != nil {
		t.Fatal(err)
	}
	invalid := eval[string](t, b, `document.querySelector('#secret').getAttribute('aria-invalid')`)
	if invalid != "true" || !strings.Contains(b.text(t, "#secret-err"), "not a complete secret") {
		t.Errorf("aria-invalid=%s, error %q", invalid, b.text(t, "#secret-err"))
	}
	b.screenshot(t, "patient-form-phone", 375)
	for _, r := range f.requests() {
		if strings.HasPrefix(r.URL, "/v1/consent") {
			t.Errorf("an invalid form sent %s %s", r.Method, r.URL)
		}
	}
}

// patientTamperedProof: one proof byte changed in the consent status
// fails the page, which then shows no purposes.
func (p *pagesRun) patientTamperedProof(t *testing.T) {
	b, f := p.b, p.f
	b.reset()
	f.setTamper(func(r *http.Request, body []byte) []byte {
		if r.URL.Path == "/v1/consent/status" {
			return flipProofByte(body)
		}
		return body
	})
	defer f.reset()
	if got := b.open(t, p.patientURL, 375, 812); got != "failed" {
		t.Fatalf("data-verification = %s after a proof byte changed", got)
	}
	if v := b.text(t, "#verification"); !strings.Contains(v, "inclusion proof") {
		t.Errorf("verification box: %q", v)
	}
	if v := b.text(t, "#purposes"); v != "" {
		t.Errorf("unverified purposes are shown: %q", v)
	}
}

// patientTamperedReconsent: a need to consent again that the log does not
// prove, claimed in transit, fails the page.
func (p *pagesRun) patientTamperedReconsent(t *testing.T) {
	b, f := p.b, p.f
	b.reset()
	f.setTamper(func(r *http.Request, body []byte) []byte {
		if r.URL.Path == "/v1/consent/status" {
			return bytes.Replace(body, []byte(`"reconsent_required":false`), []byte(`"reconsent_required":true`), 1)
		}
		return body
	})
	defer f.reset()
	if got := b.open(t, p.patientURL, 375, 812); got != "failed" {
		t.Fatalf("data-verification = %s after re-consent was claimed falsely", got)
	}
	if v := b.text(t, "#verification"); !strings.Contains(v, "re-consent") {
		t.Errorf("verification box: %q", v)
	}
}

// patientReconsent: after the trial logs a newer consent form the patient
// is told to consent again; and a report of an older checkpoint is proven
// consistent with today's timeline, and fails when that proof is changed.
func (p *pagesRun) patientReconsent(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	// The outcome report as of now, to serve later as a stale answer.
	status, _, oldReport := testserver.Request(t, http.MethodGet, s.srv.URL+"/v1/trials/"+s.trial+"/outcomes", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("outcomes: %d", status)
	}
	// The trial logs consent form 2.0: the patient is asked again.
	e, status, err := s.owner.Client.Submit(context.Background(), s.owner.Sign([]byte(`{"type":"trial.consent-form","trial_id":"`+s.trial+
		`","issued_at":"2026-05-01T10:00:00Z","version":"2.0","previous":"`+s.formV1+`","reason":"new safety information",`+
		`"document":{"sha256":"`+strings.Repeat("12", 32)+`"}}`)), 10*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("consent form 2.0: %d %v %+v", status, err, e)
	}
	b.reset()
	f.reset()
	if got := b.open(t, p.patientURL, 375, 812); got != "ok" {
		t.Fatalf("data-verification = %s: %s", got, b.text(t, "#verification"))
	}
	if v := b.text(t, "#reconsent"); !strings.HasPrefix(v, "The trial now has a newer consent form (version 2.0)") {
		t.Errorf("re-consent: %q", v)
	}
	b.screenshot(t, "patient-reconsent-phone", 375)

	// A report of the checkpoint before form 2.0 with today's timeline:
	// the page proves the two checkpoints consistent and recomputes
	// the report from the entries the older one includes.
	b.reset()
	f.setTamper(func(r *http.Request, body []byte) []byte {
		if r.URL.Path == "/v1/trials/"+s.trial+"/outcomes" {
			return oldReport
		}
		return body
	})
	if got := b.open(t, p.trialURL, 375, 812); got != "ok" {
		t.Fatalf("an older report: data-verification = %s: %s", got, b.text(t, "#verification"))
	}
	asked := false
	for _, r := range f.requests() {
		asked = asked || strings.HasPrefix(r.URL, "/v1/proofs/consistency?")
	}
	if !asked {
		t.Error("the page did not ask for a consistency proof between the report's and the timeline's checkpoints")
	}
	b.reset()
	f.setTamper(func(r *http.Request, body []byte) []byte {
		switch r.URL.Path {
		case "/v1/trials/" + s.trial + "/outcomes":
			return oldReport
		case "/v1/proofs/consistency":
			return flipProofByte(body)
		}
		return body
	})
	defer f.reset()
	if got := b.open(t, p.trialURL, 375, 812); got != "failed" {
		t.Fatalf("a consistency proof byte changed: data-verification = %s", got)
	}
	if v := b.text(t, "#verification"); !strings.Contains(v, "consistency proof") {
		t.Errorf("verification box: %q", v)
	}
}

// checkSecretOnlyInStatusBody checks, from the browser's own network
// events and from what reached the server, that the secret left the page
// only in the body of POST /v1/consent/status, and that the page stored
// nothing.
func checkSecretOnlyInStatusBody(t *testing.T, s *scenario, b *browser, f *front) {
	t.Helper()
	forms := s.secretForms()
	contains := func(x string) bool {
		for _, f := range forms {
			if strings.Contains(x, f) {
				return true
			}
		}
		return false
	}
	inBody := 0
	for _, r := range b.sent() {
		u := r.URL
		if i := strings.Index(u, "#"); i >= 0 {
			u = u[:i] // DevTools reports the fragment, which is never sent
		}
		if contains(u) {
			t.Errorf("the secret is in the URL of %s %s", r.Method, u)
		}
		for k, v := range r.Headers {
			if contains(fmt.Sprint(v)) {
				t.Errorf("the secret is in header %s of %s %s", k, r.Method, u)
			}
		}
		body := ""
		for _, e := range r.PostDataEntries {
			body += string(e.Bytes)
		}
		if contains(body) {
			if r.Method != http.MethodPost || !strings.HasSuffix(u, "/v1/consent/status") {
				t.Errorf("the secret is in the body of %s %s", r.Method, u)
			}
			inBody++
		}
	}
	if inBody != 1 {
		t.Errorf("the secret was sent in %d request bodies (DevTools), want 1", inBody)
	}
	inBody = 0
	for _, r := range f.requests() {
		if contains(r.URL) || contains(fmt.Sprint(r.Header)) {
			t.Errorf("the secret reached the server in the URL or headers of %s %s", r.Method, r.URL)
		}
		if contains(string(r.Body)) {
			if r.Method != http.MethodPost || r.URL != "/v1/consent/status" {
				t.Errorf("the secret reached the server in the body of %s %s", r.Method, r.URL)
			}
			inBody++
		}
	}
	if inBody != 1 {
		t.Errorf("the secret reached the server in %d request bodies, want 1", inBody)
	}
	if stored := eval[int](t, b, `localStorage.length + sessionStorage.length`); stored != 0 {
		t.Errorf("the page stored %d items", stored)
	}
	for _, l := range b.logs() {
		if contains(l) {
			t.Errorf("the secret is in the console: %q", l)
		}
	}
}
