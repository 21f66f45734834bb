package web_test

import (
	"encoding/base64"
	"strings"
	"testing"
)

// pagesRun is what TestPages' subtests share: one headless Chromium, one
// scenario logged in a real trialogd, and the front that serves the pages
// and can rewrite the API's answers in transit.
type pagesRun struct {
	b *browser
	s *scenario
	f *front

	trialURL   string // the scenario's trial page
	patientURL string // the patient's page, with the secret in its fragment
}

// TestPages runs the pages in headless Chromium against a real trialogd:
// each page verifies at several window sizes, is accessible, and fails on
// each lie told in transit. The subtests share one scenario and run in
// order: "patient re-consent" logs a newer consent form, so the subtests
// before it see a patient who need not consent again. The subtests are in
// pages_trial_test.go, pages_patient_test.go and pages_log_test.go.
func TestPages(t *testing.T) {
	b := newBrowser(t)
	s := newScenario(t)
	f := newFront(t, s.srv.URL)
	p := &pagesRun{b: b, s: s, f: f,
		trialURL:   f.URL + "/trials/" + s.trial,
		patientURL: f.URL + "/patient#secret=" + s.secretURL() + "&trial=" + s.trial,
	}
	for _, sub := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"trial", p.trialPage},
		{"trial tampered proof", p.trialTamperedProof},
		{"trial tampered signature", p.trialTamperedSignature},
		{"patient", p.patientPage},
		{"receipt", p.receipt},
		{"patient form", p.patientForm},
		{"patient form rejects a short secret", p.patientFormShortSecret},
		{"patient tampered proof", p.patientTamperedProof},
		{"patient tampered re-consent", p.patientTamperedReconsent},
		{"patient re-consent", p.patientReconsent},
		{"unknown trial and secret", p.unknown},
		{"log", p.logPage},
		{"log witnessed", p.logWitnessed},
		{"log pinned key", p.logPinnedKey},
	} {
		t.Run(sub.name, sub.run)
	}
}

// unknown: a trial the log does not know and a secret nobody holds fail,
// and the pages say so plainly.
func (p *pagesRun) unknown(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	b.reset()
	f.reset()
	if got := b.open(t, f.URL+"/trials/NCT09499998", 375, 812); got != "failed" {
		t.Fatalf("an unknown trial: data-verification = %s", got)
	}
	if v := b.text(t, "main"); !strings.Contains(v, "No trial NCT09499998 is registered in this log") {
		t.Errorf("unknown trial: %q", v)
	}
	// A secret nobody holds, as after erasure: the page says so plainly.
	stranger := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if got := b.open(t, f.URL+"/patient#secret="+stranger+"&trial="+s.trial, 375, 812); got != "failed" {
		t.Fatalf("an unknown secret: data-verification = %s", got)
	}
	if v := b.text(t, "#not-found"); !strings.Contains(v, "No consent record was found") || !strings.Contains(v, "erased") {
		t.Errorf("unknown secret: %q", v)
	}
	b.screenshot(t, "patient-unknown-phone", 375)
}
