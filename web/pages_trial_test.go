package web_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// trialPage: the trial's page verifies at every size and shows the
// recomputed verdict, the summary table, each outcome's planned and
// reported versions, the timeline with its signers named, and the log key.
func (p *pagesRun) trialPage(t *testing.T) {
	b, s := p.b, p.s
	for _, sz := range sizes {
		b.reset()
		if got := b.open(t, p.trialURL, sz.width, sz.height); got != "ok" {
			t.Fatalf("%s: data-verification = %s: %s", sz.name, got, b.text(t, "#verification"))
		}
		t.Logf("%s: trial page verified %.0f ms after navigation", sz.name, eval[float64](t, b, `performance.now()`))
		b.screenshot(t, "trial-"+sz.name, sz.width)
	}
	b.accessible(t, "trial")
	b.noErrors(t)
	if v := b.text(t, "#switch-verdict"); !strings.HasPrefix(v, "Yes. Of the 2 outcomes planned before the trial started, 2 were reported changed and 0 were not reported") {
		t.Errorf("verdict: %q", v)
	}
	eval[bool](t, b, `(document.querySelector('#summary').scrollIntoView(), true)`)
	b.screenshot(t, "trial-summary-narrow", 320)
	summary := eval[[]string](t, b, `[...document.querySelectorAll('#summary tr')].map(tr => tr.innerText.replace(/\s+/g, ' ').trim())`)
	if want := "All Primary Secondary|Outcomes planned 2 1 1|Reported as planned 0 0 0|Planned but not reported 0 0 0|Reported changed 2 1 1|Reported but not planned 1 1 0"; strings.Join(summary, "|") != want {
		t.Errorf("summary = %q, want %q", summary, want)
	}
	statuses := eval[[]string](t, b, `[...document.querySelectorAll('#outcomes > li')].map(li => li.dataset.status + ':' + li.querySelector('.badge').innerText)`)
	want := []string{"demoted:Demoted to secondary", "promoted:Promoted to primary", "added:Added"}
	if strings.Join(statuses, ",") != strings.Join(want, ",") {
		t.Errorf("outcome statuses = %q, want %q", statuses, want)
	}
	if v := b.text(t, "#outcomes"); !strings.Contains(v, "Planned: HbA1c, Week 26, primary outcome") || !strings.Contains(v, "Reported: HbA1c, Week 26, secondary outcome") {
		t.Errorf("outcomes lack planned and reported versions:\n%s", v)
	}
	types := eval[[]string](t, b, `[...document.querySelectorAll('#timeline > li')].map(li => li.dataset.type)`)
	if want := "trial.registration,trial.protocol,trial.consent-form,trial.delegation,trial.milestone,trial.results"; strings.Join(types, ",") != want {
		t.Errorf("timeline = %q, want %s", types, want)
	}
	tl := b.text(t, "#timeline")
	for _, want := range []string{"Protocol, version 1.0", "Milestone: first participant in", "Logged by the log at", "Dated by its author",
		"Receipt (proof file)", "Signed by the log service itself", "Sponsor Ltd · sponsor", s.srv.Config.Origin} {
		if want == s.srv.Config.Origin {
			continue
		}
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	if k := b.text(t, "#log-key"); k != s.info.PublicKey {
		t.Errorf("log key shown = %q, want %q", k, s.info.PublicKey)
	}
}

// trialTamperedProof: one proof byte changed in the timeline's answer
// fails the page, which then shows neither report nor timeline.
func (p *pagesRun) trialTamperedProof(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	b.reset()
	f.setTamper(func(r *http.Request, body []byte) []byte {
		if r.URL.Path == "/v1/trials/"+s.trial {
			return flipProofByte(body)
		}
		return body
	})
	defer f.reset()
	if got := b.open(t, p.trialURL, 375, 812); got != "failed" {
		t.Fatalf("data-verification = %s after a proof byte changed", got)
	}
	if v := b.text(t, "#verification"); !strings.Contains(v, "could not confirm") || !strings.Contains(v, "inclusion proof") {
		t.Errorf("verification box: %q", v)
	}
	if n := b.text(t, "#outcomes") + b.text(t, "#timeline"); n != "" {
		t.Errorf("an unverified report or timeline is shown: %q", n)
	}
	b.screenshot(t, "trial-failed-phone", 375)
}

// trialTamperedSignature: a receipt whose signer key was changed fails
// the page.
func (p *pagesRun) trialTamperedSignature(t *testing.T) {
	b, f := p.b, p.f
	b.reset()
	f.setTamper(func(r *http.Request, body []byte) []byte {
		if strings.HasSuffix(r.URL.Path, "/receipt") {
			// The first signer key of the receipt, changed: the
			// statement's signature no longer verifies with it.
			return []byte(tamperSigner(string(body)))
		}
		return body
	})
	defer f.reset()
	if got := b.open(t, p.trialURL, 375, 812); got != "failed" {
		t.Fatalf("data-verification = %s after a receipt's signer changed", got)
	}
	if v := b.text(t, "#verification"); !strings.Contains(v, "receipt") {
		t.Errorf("verification box: %q", v)
	}
}

// tamperSigner replaces the key of a receipt's first signer line with
// another Ed25519 key.
func tamperSigner(receipt string) string {
	i := strings.Index(receipt, "\nsigner ")
	if i < 0 {
		return receipt
	}
	start := i + len("\nsigner ")
	end := start + 44 // a base64 32-byte key
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	return receipt[:start] + base64.StdEncoding.EncodeToString(pub) + receipt[end:]
}
