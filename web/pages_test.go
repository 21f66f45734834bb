package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/web/consentreceipt"
	"github.com/trialog/trialog/web/verify"
)

// chromium returns the path of a Chromium or Chrome binary. Outside CI the
// browser tests skip without one; in CI (CI=true) they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: the page tests need it in CI (.ci/run installs Debian's chromium)")
	}
	t.Skip("no chromium on PATH: skipping the page tests (apt-get install chromium to run them)")
	return ""
}

// browser is one headless Chromium with a recorder of what its pages send
// and log.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []*network.Request
	console  []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &browser{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request)
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				b.console = append(b.console, string(a.Value)+a.Description)
			}
		case *runtime.EventExceptionThrown:
			b.console = append(b.console, "exception: "+ev.ExceptionDetails.Text+" "+fmt.Sprint(ev.ExceptionDetails.Exception))
		case *log.EventEntryAdded:
			b.console = append(b.console, string(ev.Entry.Source)+": "+ev.Entry.Text)
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

func (b *browser) reset() {
	b.mu.Lock()
	b.requests, b.console = nil, nil
	b.mu.Unlock()
}

func (b *browser) sent() []*network.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*network.Request(nil), b.requests...)
}

func (b *browser) logs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// open loads url at a window size and waits until the page has decided:
// data-verification is ok or failed. It returns that state.
func (b *browser) open(t *testing.T, url string, width, height int64) string {
	t.Helper()
	err := chromedp.Do(b.ctx,
		chromedp.EmulateViewport(width, height),
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(url),
	)
	if err != nil {
		t.Fatalf("loading %s: %v\nconsole: %q", url, err, b.logs())
	}
	return b.decided(t)
}

// decided waits until the page's data-verification is ok or failed.
func (b *browser) decided(t *testing.T) string {
	t.Helper()
	var state string
	var err error
	for range 5 {
		// A navigation that swaps the renderer process can destroy the
		// context a poll started in; poll again in the new one.
		state, err = chromedp.Run(b.ctx, chromedp.Poll[string](decidedJS, chromedp.WithPollingTimeout(60*time.Second)))
		if err == nil || !strings.Contains(err.Error(), "Cannot find context") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("waiting for the verification: %v\nconsole: %q", err, b.logs())
	}
	return state
}

const decidedJS = `(() => { const s = document.querySelector('main').dataset.verification; return s === 'pending' ? false : s; })()`

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ''`, sel))
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// screenshot saves the whole page under testdata/screenshots (ignored by
// git) and checks that nothing is wider than the window.
func (b *browser) screenshot(t *testing.T, name string, width int64) {
	t.Helper()
	if eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		w := eval[int64](t, b, `document.documentElement.scrollWidth`)
		t.Errorf("%s: the page is %d px wide in a %d px window", name, w, width)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	// The first screen, as a phone shows it before any scrolling.
	top, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-top.png"), top, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noCSPViolation fails on any Content-Security-Policy report or script
// error in the console.
func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	for _, l := range b.logs() {
		if strings.Contains(l, "Content Security Policy") || strings.HasPrefix(l, "exception:") {
			t.Errorf("console: %s", l)
		}
	}
}

var sizes = []struct {
	name          string
	width, height int64
}{{"phone", 375, 812}, {"desktop", 1280, 900}, {"narrow", 320, 640}}

func TestPages(t *testing.T) {
	b := newBrowser(t)
	s := newScenario(t)
	f := newFront(t, s.srv.URL)
	trialURL := f.URL + "/trials/" + s.trial
	patientURL := f.URL + "/patient#secret=" + s.secretURL() + "&trial=" + s.trial

	t.Run("trial", func(t *testing.T) {
		for _, sz := range sizes {
			b.reset()
			if got := b.open(t, trialURL, sz.width, sz.height); got != "ok" {
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
	})

	t.Run("trial tampered proof", func(t *testing.T) {
		b.reset()
		f.setTamper(func(r *http.Request, body []byte) []byte {
			if r.URL.Path == "/v1/trials/"+s.trial {
				return flipProofByte(body)
			}
			return body
		})
		defer f.reset()
		if got := b.open(t, trialURL, 375, 812); got != "failed" {
			t.Fatalf("data-verification = %s after a proof byte changed", got)
		}
		if v := b.text(t, "#verification"); !strings.Contains(v, "could not confirm") || !strings.Contains(v, "inclusion proof") {
			t.Errorf("verification box: %q", v)
		}
		if n := b.text(t, "#outcomes") + b.text(t, "#timeline"); n != "" {
			t.Errorf("an unverified report or timeline is shown: %q", n)
		}
		b.screenshot(t, "trial-failed-phone", 375)
	})

	t.Run("trial tampered signature", func(t *testing.T) {
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
		if got := b.open(t, trialURL, 375, 812); got != "failed" {
			t.Fatalf("data-verification = %s after a receipt's signer changed", got)
		}
		if v := b.text(t, "#verification"); !strings.Contains(v, "receipt") {
			t.Errorf("verification box: %q", v)
		}
	})

	t.Run("patient", func(t *testing.T) {
		for _, sz := range sizes {
			b.reset()
			f.reset()
			if got := b.open(t, patientURL, sz.width, sz.height); got != "ok" {
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
	})

	t.Run("receipt", func(t *testing.T) {
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
	})

	t.Run("patient form", func(t *testing.T) {
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
	})

	t.Run("patient form rejects a short secret", func(t *testing.T) {
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
	})

	t.Run("patient tampered proof", func(t *testing.T) {
		b.reset()
		f.setTamper(func(r *http.Request, body []byte) []byte {
			if r.URL.Path == "/v1/consent/status" {
				return flipProofByte(body)
			}
			return body
		})
		defer f.reset()
		if got := b.open(t, patientURL, 375, 812); got != "failed" {
			t.Fatalf("data-verification = %s after a proof byte changed", got)
		}
		if v := b.text(t, "#verification"); !strings.Contains(v, "inclusion proof") {
			t.Errorf("verification box: %q", v)
		}
		if v := b.text(t, "#purposes"); v != "" {
			t.Errorf("unverified purposes are shown: %q", v)
		}
	})

	t.Run("patient tampered re-consent", func(t *testing.T) {
		b.reset()
		f.setTamper(func(r *http.Request, body []byte) []byte {
			if r.URL.Path == "/v1/consent/status" {
				return bytes.Replace(body, []byte(`"reconsent_required":false`), []byte(`"reconsent_required":true`), 1)
			}
			return body
		})
		defer f.reset()
		if got := b.open(t, patientURL, 375, 812); got != "failed" {
			t.Fatalf("data-verification = %s after re-consent was claimed falsely", got)
		}
		if v := b.text(t, "#verification"); !strings.Contains(v, "re-consent") {
			t.Errorf("verification box: %q", v)
		}
	})

	t.Run("patient re-consent", func(t *testing.T) {
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
		if got := b.open(t, patientURL, 375, 812); got != "ok" {
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
		if got := b.open(t, trialURL, 375, 812); got != "ok" {
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
		if got := b.open(t, trialURL, 375, 812); got != "failed" {
			t.Fatalf("a consistency proof byte changed: data-verification = %s", got)
		}
		if v := b.text(t, "#verification"); !strings.Contains(v, "consistency proof") {
			t.Errorf("verification box: %q", v)
		}
	})

	t.Run("unknown trial and secret", func(t *testing.T) {
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
	})

	t.Run("log", func(t *testing.T) {
		for _, sz := range sizes[:2] {
			b.reset()
			if got := b.open(t, f.URL+"/log", sz.width, sz.height); got != "ok" {
				t.Fatalf("data-verification = %s: %s", got, b.text(t, "#verification"))
			}
			b.screenshot(t, "log-"+sz.name, sz.width)
		}
		b.accessible(t, "log")
		if k := b.text(t, "#log-key"); k != s.info.PublicKey {
			t.Errorf("log key shown = %q", k)
		}
		if !strings.Contains(b.text(t, "main"), "sent by the server itself") {
			t.Error("an unpinned key is not said to come from the server")
		}
	})

	t.Run("log witnessed", func(t *testing.T) {
		// A witness cosigns the checkpoint /v1/log serves (added in transit,
		// as a log with a witness policy would serve it).
		wskey, wvkey, err := note.GenerateKey(rand.Reader, "witness.test.example/w1")
		if err != nil {
			t.Fatal(err)
		}
		ws, err := fnote.NewSignerForCosignatureV1(wskey)
		if err != nil {
			t.Fatal(err)
		}
		cosKey, err := fnote.VKeyToCosignatureV1(wvkey)
		if err != nil {
			t.Fatal(err)
		}
		lv, _ := note.NewVerifier(s.info.PublicKey)
		cosign := func(forge bool) func(r *http.Request, body []byte) []byte {
			return func(r *http.Request, body []byte) []byte {
				if r.URL.Path != "/v1/log" {
					return body
				}
				var info map[string]any
				json.Unmarshal(body, &info)
				n, err := note.Open([]byte(info["checkpoint"].(string)), note.VerifierList(lv))
				if err != nil {
					return body
				}
				signer := note.Signer(ws)
				if forge {
					n.Text = strings.Replace(n.Text, "\n", "\n9", 1) // cosign another text
				}
				cosigned, err := note.Sign(&note.Note{Text: n.Text}, signer)
				if err != nil {
					return body
				}
				sig := string(cosigned[strings.LastIndex(string(cosigned), "\n— ")+1:])
				info["checkpoint"] = info["checkpoint"].(string) + sig
				out, _ := json.Marshal(info)
				return out
			}
		}
		f.setTamper(cosign(false))
		defer f.reset()
		b.reset()
		if got := b.open(t, f.URL+"/log#witness="+cosKey, 1280, 900); got != "ok" {
			t.Fatalf("data-verification = %s: %s", got, b.text(t, "#verification"))
		}
		if v := b.text(t, ".witnesses"); !strings.Contains(v, "witness.test.example/w1: cosignature verified with the witness key in the link") {
			t.Errorf("witnesses: %q", v)
		}
		b.reset()
		if got := b.open(t, f.URL+"/log", 1280, 900); got != "ok" {
			t.Fatalf("without the witness key: data-verification = %s", got)
		}
		if v := b.text(t, ".witnesses"); !strings.Contains(v, "cosignature present, not checked") {
			t.Errorf("witnesses without the key: %q", v)
		}
		f.setTamper(cosign(true))
		b.reset()
		if got := b.open(t, f.URL+"/log#witness="+cosKey, 1280, 900); got != "failed" {
			t.Fatalf("a cosignature of another text: data-verification = %s", got)
		}
		if v := b.text(t, "#verification"); !strings.Contains(v, "witness cosignature") {
			t.Errorf("verification box: %q", v)
		}
	})

	t.Run("log pinned key", func(t *testing.T) {
		b.reset()
		if got := b.open(t, f.URL+"/log#key="+s.info.PublicKey, 1280, 900); got != "ok" {
			t.Fatalf("data-verification = %s with the right key pinned", got)
		}
		if !strings.Contains(b.text(t, "main"), "with this key in its link") {
			t.Error("a pinned key is not said to be pinned")
		}
		other := otherKey(t, s.srv.Config.Origin)
		b.reset()
		if got := b.open(t, f.URL+"/trials/"+s.trial+"#key="+other, 1280, 900); got != "failed" {
			t.Fatalf("data-verification = %s with another key pinned", got)
		}
		if v := b.text(t, "#verification"); !strings.Contains(v, "signed checkpoint") {
			t.Errorf("verification box: %q", v)
		}
	})
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

// otherKey is a note verifier key of the same origin as the log's, but
// another key.
func otherKey(t *testing.T, origin string) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// accessible checks what a screen reader depends on: every control, link,
// image and heading has an accessible name (from the accessibility tree
// Chromium builds), the page has one h1, heading levels do not skip, and
// the document has a language.
func (b *browser) accessible(t *testing.T, page string) {
	t.Helper()
	tree, err := chromedp.Call(b.ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("%s: accessibility tree: %v", page, err)
	}
	named := map[string]bool{"button": true, "link": true, "textbox": true, "heading": true, "image": true, "img": true, "checkbox": true, "combobox": true}
	checked := 0
	for _, n := range tree.Nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		role := strings.Trim(string(n.Role.Value), `"`)
		if !named[role] {
			continue
		}
		checked++
		if n.Name == nil || strings.Trim(string(n.Name.Value), `" `) == "" {
			t.Errorf("%s: a %s without an accessible name", page, role)
		}
	}
	if checked == 0 {
		t.Errorf("%s: the accessibility tree has no controls or headings", page)
	}
	levels := eval[[]int](t, b, `[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].filter(h => h.offsetParent !== null).map(h => +h.tagName[1])`)
	if len(levels) == 0 || levels[0] != 1 {
		t.Errorf("%s: headings %v do not start with one h1", page, levels)
	}
	for i := 1; i < len(levels); i++ {
		if levels[i] == 1 || levels[i] > levels[i-1]+1 {
			t.Errorf("%s: heading levels %v skip or repeat h1", page, levels)
			break
		}
	}
	if l := eval[string](t, b, `document.documentElement.lang`); l != "en" {
		t.Errorf("%s: lang=%q", page, l)
	}
}
