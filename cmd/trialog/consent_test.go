package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
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

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
)

// runStdin runs the CLI with stdin.
func (c *cli) runStdin(stdin string, args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := &environ{stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin), getenv: func(k string) string { return c.env[k] }}
	code := runMain(context.Background(), env, args)
	return result{args: args, stdout: out.String(), stderr: errb.String(), code: code}
}

// consentWorld is a world with a registered trial, a site delegated on it
// with its key and token, a data user, and a consent form version 1.0.
type consentWorld struct {
	*world
	trial              string
	siteKey, siteToken string
	site, du           *api.CreatedPrincipal
	duToken            string
	form               string // the consent form document's path
	formEntry          string // its trial.consent-form entry
	// runs collects every run, to check that no secret was ever printed.
	runs []result
}

func newConsentWorld(t *testing.T) *consentWorld {
	t.Helper()
	w := &consentWorld{world: newWorld(t), trial: "NCT00000419"}
	c := w.cli
	w.siteKey, w.site = w.principal(t, "site", "St Mary's research office", "site")
	w.siteToken = filepath.Join(w.dir, "site.token")
	_, w.du = w.principal(t, "cro", "Analysis CRO", "data-user")
	w.duToken = filepath.Join(w.dir, "cro.token")

	reg := filepath.Join(w.dir, "registration.json")
	writeFile(t, reg, `{"trial_id":"`+w.trial+`","title":"A trial","outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}]}`)
	c.run("submit", "--key", w.keyFile, "--type", "trial.registration", "--json", reg, "--receipt", filepath.Join(w.dir, "registration.receipt")).ok(t)
	sponsorToken := strings.TrimSpace(string(readFile(t, filepath.Join(w.dir, "acme.token"))))
	if _, err := client.New(w.srv.URL, sponsorToken).Do(context.Background(), http.MethodPost, "/v1/trials/"+w.trial+"/delegates?wait=30s",
		map[string]string{"principal": w.site.ID}, nil); err != nil {
		t.Fatalf("delegating the site: %v", err)
	}
	w.form = filepath.Join(w.dir, "consent-v1.pdf")
	writeFile(t, w.form, "%PDF consent form, version 1.0")
	r := c.run("submit", "--key", w.keyFile, "--type", "trial.consent-form", "--set", "trial_id="+w.trial, "--set", "version=1.0",
		"--file", w.form, "--receipt", w.form+".receipt").ok(t)
	w.formEntry = regexp.MustCompile(`entry    ([0-9a-f]{64})`).FindStringSubmatch(r.stdout)[1]
	return w
}

// run runs the CLI and remembers the run.
func (w *consentWorld) run(args ...string) result {
	w.cli.t.Helper()
	r := w.cli.run(args...)
	w.runs = append(w.runs, r)
	return r
}

func (w *consentWorld) runStdin(stdin string, args ...string) result {
	w.cli.t.Helper()
	r := w.cli.runStdin(stdin, args...)
	w.runs = append(w.runs, r)
	return r
}

// enroll enrols a subject as the site and returns its reference and the
// path of its secret file.
func (w *consentWorld) enroll(t *testing.T, name string) (string, string, string) {
	t.Helper()
	secretFile := filepath.Join(w.dir, name+".secret")
	r := w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial, "--secret-out", secretFile).ok(t)
	m := regexp.MustCompile(`(?m)^subject  (sub_[0-9a-f]{32})$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("enroll printed no subject:\n%s", r.stdout)
	}
	r.has(t, "trial    "+w.trial, "secret   written to "+secretFile+" (mode 0600)", "trialog consent status")
	fi, err := os.Stat(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the secret file has mode %v, want 0600", fi.Mode().Perm())
	}
	secret := strings.TrimSpace(string(readFile(t, secretFile)))
	if !validSecret(secret) {
		t.Fatalf("the secret file does not hold a secret")
	}
	return m[1], secretFile, secret
}

// noSecretPrinted fails if any run printed any of the secrets.
func (w *consentWorld) noSecretPrinted(t *testing.T, secrets ...string) {
	t.Helper()
	if len(w.runs) == 0 {
		t.Fatal("no runs recorded")
	}
	for _, r := range w.runs {
		for _, s := range secrets {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Fatalf("trialog %s printed a patient's secret:\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.stdout, r.stderr)
			}
		}
	}
}

// TestConsentFlow plays the consent story with the CLI against a real
// trialogd: a site enrols a patient and logs their consent; the patient
// checks their status with the secret (from a file and from stdin); a data
// user is permitted and refused; the site logs withdrawals; the patient
// erases the link; afterwards the secret no longer works. No command ever
// prints the secret.
func TestConsentFlow(t *testing.T) {
	w := newConsentWorld(t)
	site := []string{"--token-file", w.siteToken, "--key", w.siteKey, "--trial", w.trial}
	subject, secretFile, secret := w.enroll(t, "patient-0042")

	// Before any consent: status none.
	w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t).
		has(t, "subject      "+subject, "status       none", "Evidence: no grant or withdrawal", "Uses of your data: no data user has asked.")

	// The grant, with the form hashed here, and its receipt.
	grantReceipt := filepath.Join(w.dir, "grant.receipt")
	r := w.run(append([]string{"consent", "grant", "--subject", subject, "--form-version", "1.0", "--form-file", w.form,
		"--permit", "primary-analysis", "--deny", "future-research", "--issued-at", "2026-03-01T09:30:00Z", "--receipt", grantReceipt}, site...)...).ok(t)
	r.has(t, "consent.grant logged", "proof verified", "receipt  "+grantReceipt)
	grantID := regexp.MustCompile(`entry    ([0-9a-f]{64})`).FindStringSubmatch(r.stdout)[1]
	w.run("verify", grantReceipt).ok(t).has(t, "consent.grant")
	// The same grant again is the same entry.
	w.run(append([]string{"consent", "grant", "--subject", subject, "--form-version", "1.0", "--form-sha256", hashHex(t, w.form),
		"--permit", "primary-analysis", "--deny", "future-research", "--issued-at", "2026-03-01T09:30:00Z"}, site...)...).ok(t).
		has(t, "was in the log already", grantID)

	// The patient's status, from the file and from stdin.
	r = w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t)
	r.has(t, "status       granted", "form         version 1.0", "re-consent   not required", "signature verified",
		"future-research   deny", "primary-analysis  permit", "grant", "form 1.0; permit primary-analysis; deny future-research", grantID)
	w.runStdin(secret+"\n", "consent", "status", "--trial", w.trial, "--secret-file", "-").ok(t).has(t, "status       granted", grantID)

	// A data user asks: permitted for one purpose, refused for another
	// (exit 3, the answer still printed), and both are logged.
	du := []string{"--token-file", w.duToken, "--trial", w.trial, "--subject", subject}
	r = w.run(append([]string{"consent", "check", "--purpose", "primary-analysis"}, du...)...).ok(t)
	r.has(t, "decision      permit", "access entry  ", "recorded for data user "+w.du.ID, "evidence      "+grantID, "signature verified")
	permitAccess := regexp.MustCompile(`access entry  ([0-9a-f]{64})`).FindStringSubmatch(r.stdout)[1]
	r = w.run(append([]string{"consent", "check", "--purpose", "future-research"}, du...)...).
		fails(t, exitDeny, "trialog consent check: the subject's consent does not permit future-research: the decision is deny")
	r.has(t, "decision      deny")
	// No server to answer is not a deny: exit 1, never 0 or 3.
	w.run(append([]string{"consent", "check", "--purpose", "future-research", "--url", "http://127.0.0.1:1"}, du...)...).
		fails(t, exitFailure, "127.0.0.1:1")
	r = w.run(append([]string{"consent", "check", "--purpose", "primary-analysis", "--json"}, du...)...).ok(t)
	var ch api.ConsentCheck
	if err := json.Unmarshal([]byte(r.stdout), &ch); err != nil || ch.Decision != "permit" || ch.Access == nil {
		t.Fatalf("check --json: %v\n%s", err, r.stdout)
	}

	r = w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t)
	r.has(t, "Uses of your data: every data user's request (3)", permitAccess, w.du.ID, "future-research   deny")

	// The sponsor logs a new consent form: the patient must re-consent.
	form2 := filepath.Join(w.dir, "consent-v2.pdf")
	writeFile(t, form2, "%PDF consent form, version 2.0")
	w.run("submit", "--key", w.keyFile, "--type", "trial.consent-form", "--set", "trial_id="+w.trial, "--set", "version=2.0",
		"--set", "previous="+w.formEntry, "--file", form2, "--receipt", form2+".receipt").ok(t)
	w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t).
		has(t, "status       granted", "re-consent   required: the trial has a newer consent form than version 1.0")
	w.run("consent", "summary", "--trial", w.trial).ok(t).has(t, "latest form        2.0", "re-consent needed  1", "1.0           1")

	// The site withdraws one purpose, the only one the grant permits: the
	// data user is refused it now, and the consent reads withdrawn.
	r = w.run(append([]string{"consent", "withdraw", "--subject", subject, "--purposes", "primary-analysis", "--issued-at", "2026-04-01T10:00:00Z"}, site...)...).ok(t)
	r.has(t, "consent.withdraw logged")
	w.run(append([]string{"consent", "check", "--purpose", "primary-analysis"}, du...)...).fails(t, exitDeny, "decision is deny")
	w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t).
		has(t, "status       withdrawn", "primary-analysis  deny", "withdrawal", "of primary-analysis")

	// Then everything: withdrawn.
	w.run(append([]string{"consent", "withdraw", "--subject", subject}, site...)...).ok(t).has(t, "consent.withdraw logged")
	r = w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t)
	r.has(t, "status       withdrawn", "of every purpose", "Uses of your data: every data user's request (4)")
	r = w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile, "--json").ok(t)
	var st api.ConsentStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Status != "withdrawn" || len(st.Evidence) != 3 || len(st.Access) != 4 {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}

	// The owner's counts.
	r = w.run("consent", "summary", "--trial", w.trial).ok(t)
	r.has(t, "latest form        2.0", "subjects           1", "  withdrawn            1", "  partially withdrawn  0", "  expired              0", "re-consent needed  0")

	// The patient erases the link, with the secret from stdin; afterwards
	// the secret no longer works, and says so in one sentence.
	r = w.runStdin(secret, "consent", "erase", "--trial", w.trial, "--secret-file", "-").ok(t)
	r.has(t, "erased       subject "+subject, "consent.erasure", "proof verified")
	r = w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).
		fails(t, exitFailure, "trialog consent status: asking for the consent status in trial "+w.trial+": no subject of this trial holds this secret: it was never issued, or the subject was erased")
	if strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
		t.Fatalf("status after erasure: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	w.run(append([]string{"consent", "check", "--purpose", "primary-analysis"}, du...)...).fails(t, exitFailure, "unknown or erased")
	w.run("verify", grantReceipt).ok(t) // the log is unchanged

	// The site erases another subject by its reference.
	subject2, secretFile2, secret2 := w.enroll(t, "patient-0043")
	w.run("consent", "erase", "--trial", w.trial, "--subject", subject2, "--token-file", w.siteToken).ok(t).
		has(t, "erased       subject "+subject2)
	w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile2).fails(t, exitFailure, "no subject of this trial holds this secret")

	w.noSecretPrinted(t, secret, secret2)
}

// TestConsentRefusals checks the errors a user meets: one sentence each,
// usage errors exit 64, server refusals exit 1 with the server's reason,
// and a secret typed in the wrong place is never repeated.
func TestConsentRefusals(t *testing.T) {
	w := newConsentWorld(t)
	site := []string{"--token-file", w.siteToken, "--key", w.siteKey, "--trial", w.trial}
	subject, secretFile, secret := w.enroll(t, "patient-0042")

	// enroll never overwrites a file, nor prints the secret.
	w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial, "--secret-out", secretFile).fails(t, exitFailure, "exists already")
	if got := strings.TrimSpace(string(readFile(t, secretFile))); got != secret {
		t.Fatal("enroll overwrote a secret file")
	}
	w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial).fails(t, exitUsage, "--secret-out FILE is required")
	w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial, "--secret-out", "-").fails(t, exitUsage, "never printed")
	w.run("consent", "enroll", "--trial", w.trial, "-q", "--secret-out", filepath.Join(w.dir, "by-sponsor.secret")).
		fails(t, exitFailure, "trialog consent enroll: enrolling a subject of trial "+w.trial+": ", "only a site delegated on trial "+w.trial)
	if _, err := os.Stat(filepath.Join(w.dir, "by-sponsor.secret")); err == nil {
		t.Fatal("a refused enroll left a secret file behind")
	}
	w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", "NCT1").fails(t, exitUsage, "--trial")
	q := filepath.Join(w.dir, "quiet.secret")
	if r := w.run("consent", "enroll", "--token-file", w.siteToken, "--trial", w.trial, "-q", "--secret-out", q).ok(t); !regexp.MustCompile(`^sub_[0-9a-f]{32}\n$`).MatchString(r.stdout) {
		t.Fatalf("enroll -q printed %q", r.stdout)
	}
	secret2 := strings.TrimSpace(string(readFile(t, q)))

	// The secret in the wrong place: refused, never repeated.
	w.run("consent", "status", "--trial", w.trial).fails(t, exitUsage, "--secret-file is required")
	w.run("consent", "status", "--trial", w.trial, "--secret-file", secret).fails(t, exitUsage, "not the secret itself")
	w.run("consent", "status", "--trial", w.trial, secret).fails(t, exitUsage, "takes flags only")
	w.run("consent", "status", "--trial", w.trial, "--secret", secret).fails(t, exitUsage, "flag provided but not defined: -secret")
	w.run("consent", "status", "--trial", w.trial, "--secret="+secret).fails(t, exitUsage, "flag provided but not defined: -secret")
	w.run("consent", "status", "--trial", w.trial, "-"+secret).fails(t, exitUsage)
	w.run("consent", "status", "--trial", w.trial, "--json="+secret).fails(t, exitUsage, "invalid boolean value for -json")
	w.run("consent", secret).fails(t, exitUsage, "unknown subcommand")
	w.run("consent", "status", "--trial", w.trial, "--secret-file", filepath.Join(w.dir, "missing.secret")).
		fails(t, exitFailure, "cannot read the secret file: no such file or directory")
	bad := filepath.Join(w.dir, "bad.secret")
	writeFile(t, bad, "not a secret\n")
	w.run("consent", "status", "--trial", w.trial, "--secret-file", bad).fails(t, exitFailure, "the secret file does not hold a subject secret")
	w.runStdin("", "consent", "status", "--trial", w.trial, "--secret-file", "-").fails(t, exitFailure, "stdin holds no secret")
	// Another trial: the secret is not one of its subjects'.
	w.run("consent", "status", "--trial", "NCT00000420", "--secret-file", secretFile).fails(t, exitFailure, "NCT00000420 is not registered")

	// grant: usage errors name the flag.
	grant := append([]string{"consent", "grant", "--subject", subject, "--form-version", "1.0", "--form-file", w.form}, site...)
	w.run(grant...).fails(t, exitUsage, "name the purposes with --permit")
	w.run(append(grant, "--permit", "primary-analysis", "--deny", "primary-analysis")...).fails(t, exitUsage, "given twice")
	w.run(append(grant, "--permit", "Primary Analysis")...).fails(t, exitUsage, "--permit: a purpose is 1 to 64 lowercase")
	w.run(append(grant, "--permit", "a", "--period-end", "2026-03-01")...).fails(t, exitUsage, "--period-end must be an RFC 3339 time")
	w.run(append(grant, "--permit", "a", "--period-start", "2027-01-01T00:00:00Z", "--period-end", "2026-01-01T00:00:00Z")...).
		fails(t, exitUsage, "period.start must be before period.end")
	w.run(append(grant, "--permit", "a", "--form-sha256", strings.Repeat("ab", 32))...).fails(t, exitUsage, "one of the two")
	w.run(append([]string{"consent", "grant", "--subject", "sub_x", "--form-version", "1.0", "--form-file", w.form, "--permit", "a"}, site...)...).
		fails(t, exitUsage, "--subject must be a subject reference")
	// Refused by the server: the reason, exit 1.
	w.run(append([]string{"consent", "grant", "--subject", subject, "--form-version", "9.9", "--form-file", w.form, "--permit", "a"}, site...)...).
		fails(t, exitFailure, "trialog consent grant: logging the consent.grant: ", `form.version "9.9" is not a consent-form version`)
	w.run(append([]string{"consent", "grant", "--subject", subject, "--form-version", "1.0", "--form-sha256", strings.Repeat("ab", 32), "--permit", "a"}, site...)...).
		fails(t, exitFailure, "form.sha256 is not the digest of consent-form version")
	w.run("consent", "grant", "--key", w.keyFile, "--trial", w.trial, "--subject", subject, "--form-version", "1.0", "--form-file", w.form, "--permit", "a").
		fails(t, exitFailure, "(HTTP 403")
	// A period: the grant permits nothing outside it.
	w.run(append(grant, "--permit", "primary-analysis", "--period-start", "2020-01-01T00:00:00Z", "--period-end", "2021-01-01T00:00:00Z")...).ok(t)
	w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t).
		has(t, "status       expired: the period of your consent has ended", "primary-analysis  deny", "from 2020-01-01T00:00:00Z; until 2021-01-01T00:00:00Z")
	w.run("consent", "check", "--token-file", w.duToken, "--trial", w.trial, "--subject", subject, "--purpose", "primary-analysis").
		fails(t, exitDeny, "decision is deny")

	// withdraw, check, erase: usage errors.
	w.run(append([]string{"consent", "withdraw", "--subject", subject, "--purposes", "a,a"}, site...)...).fails(t, exitUsage, "given twice")
	w.run(append([]string{"consent", "withdraw"}, site...)...).fails(t, exitUsage, "--subject is required")
	w.run("consent", "check", "--token-file", w.duToken, "--trial", w.trial, "--subject", subject).fails(t, exitUsage, "--purpose is required")
	w.run("consent", "check", "--trial", w.trial, "--subject", subject, "--purpose", "a").fails(t, exitFailure, "(HTTP 403")
	w.run("consent", "erase", "--trial", w.trial).fails(t, exitUsage, "one of the two")
	w.run("consent", "erase", "--trial", w.trial, "--secret-file", secretFile, "--subject", subject).fails(t, exitUsage, "one of the two")
	w.run("consent", "summary", "--trial", w.trial, "--token-file", w.duToken).fails(t, exitFailure, "(HTTP 403")
	w.run("consent").fails(t, exitUsage, "name a subcommand")

	w.noSecretPrinted(t, secret, secret2)
}

// TestConsentTampered serves real answers through a proxy that changes
// them: status and check must refuse each change, naming what failed.
func TestConsentTampered(t *testing.T) {
	w := newConsentWorld(t)
	subject, secretFile, _ := w.enroll(t, "patient-0042")
	w.run("consent", "grant", "--token-file", w.siteToken, "--key", w.siteKey, "--trial", w.trial, "--subject", subject,
		"--form-version", "1.0", "--form-file", w.form, "--permit", "primary-analysis", "--deny", "future-research").ok(t)
	w.run("consent", "check", "--token-file", w.duToken, "--trial", w.trial, "--subject", subject, "--purpose", "primary-analysis").ok(t)

	target, _ := url.Parse(w.srv.URL)
	var tamper atomic.Pointer[func(path string, m map[string]any)]
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		change := tamper.Load()
		if change == nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/v1/consent/") {
			return nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		(*change)(resp.Request.URL.Path, m)
		b, _ = json.Marshal(m)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	px := httptest.NewServer(proxy)
	t.Cleanup(px.Close)
	w.cli.env["TRIALOG_URL"] = px.URL

	status := []string{"consent", "status", "--trial", w.trial, "--secret-file", secretFile}
	check := []string{"consent", "check", "--token-file", w.duToken, "--trial", w.trial, "--subject", subject, "--purpose", "primary-analysis"}
	w.run(status...).ok(t).has(t, "primary-analysis  permit") // through the proxy, unchanged

	entry := func(m map[string]any, list string, i int) map[string]any {
		return m[list].([]any)[i].(map[string]any)
	}
	cases := []struct {
		name   string
		args   []string
		change func(path string, m map[string]any)
		msg    string
	}{
		{"decision flipped", status, func(_ string, m map[string]any) {
			m["scope"].([]any)[0].(map[string]any)["decision"] = "permit"
		}, "the answer's decisions per purpose are not what its evidence makes them"},
		{"status changed", status, func(_ string, m map[string]any) { m["status"] = "withdrawn" }, "the answer's status is withdrawn, but its evidence makes it granted"},
		{"evidence dropped", status, func(_ string, m map[string]any) { m["evidence"] = []any{} }, "its evidence makes it none"},
		{"proof hash", status, func(_ string, m map[string]any) {
			p := entry(m, "evidence", 0)["inclusion_proof"].(map[string]any)
			p["hashes"].([]any)[0] = b64(randomHash())
		}, "inclusion proof"},
		{"access entry as evidence", status, func(_ string, m map[string]any) {
			m["evidence"] = []any{entry(m, "access", 0)}
		}, "not a grant or a withdrawal"},
		{"checkpoint forged", status, func(_ string, m map[string]any) {
			m["checkpoint"] = strings.Replace(m["checkpoint"].(string), "\n", "\nx", 1)
		}, "checkpoint"},
		{"check decision flipped", check, func(_ string, m map[string]any) { m["decision"] = "deny" }, "records the decision permit, but the answer says deny"},
		{"check evidence dropped", check, func(_ string, m map[string]any) { m["evidence"] = []any{} }, "is not the evidence access entry"},
		{"check other access entry", check, func(_ string, m map[string]any) { m["access_entry"] = strings.Repeat("ab", 32) }, "the answer names access entry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tamper.Store(&tc.change)
			defer tamper.Store(nil)
			w.cli.run(tc.args...).fails(t, exitFailure, "does not verify", tc.msg)
		})
	}
}

// TestConsentHelp checks that consent and each of its subcommands answer
// --help with an example, exiting 0.
func TestConsentHelp(t *testing.T) {
	c := &cli{t: t, env: map[string]string{}}
	r := c.run("consent", "--help").ok(t)
	r.has(t, "Usage: trialog consent SUBCOMMAND", "Example:\n  trialog consent status", "never from the command line")
	for _, sub := range consentOrder {
		r.has(t, "  "+sub+" ")
		h := c.run("consent", sub, "--help").ok(t)
		h.has(t, "Usage: trialog consent "+sub+" [flags]", "Example:\n  trialog consent "+sub, "Flags:", "-trial")
	}
	c.run("consent", "status", "--help").ok(t).has(t, "-secret-file", "- to read it from stdin", "-log-key")
	c.run("consent", "check", "--help").ok(t).has(t, "exit 0 means permit, 3 deny, 1 no verified answer")
	c.run("consent", "grant", "--help").ok(t).has(t, "-permit", "-deny", "-form-version", "-form-sha256", "-period-start", "-receipt")
	c.run("--help").ok(t).has(t, "  consent ")
	// A usage error names the subcommand and its --help.
	c.run("consent", "check", "--trial", "NCT00000419").fails(t, exitUsage, "trialog consent check: --subject is required", "(see trialog consent check --help)")
}

// TestConsentFHIRFile: a Consent as a HAPI FHIR server exports it is logged
// from its file unedited, its receipt verifies, and the patient's status
// reads it as the grant it is; a Consent outside the profile is refused
// before anything is signed, with the element named.
func TestConsentFHIRFile(t *testing.T) {
	w := newConsentWorld(t)
	subject, secretFile, _ := w.enroll(t, "patient-0042")
	export, err := os.ReadFile(filepath.Join("..", "..", "consent", "testdata", "fhir", "exports", "hapi-grant.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := readFile(t, w.form)
	ni := base64.RawURLEncoding.EncodeToString(sha256Of(sum))
	export = bytes.ReplaceAll(export, []byte("sub_0123456789abcdef0123456789abcdef"), []byte(subject))
	export = bytes.ReplaceAll(export, []byte("jips6C4yjrn3H2W91iqjYHmGZeVtdpNwRcvPKghA5qg"), []byte(ni))
	file := filepath.Join(w.dir, "consent-1203.json")
	writeFile(t, file, string(export))
	rcpt := filepath.Join(w.dir, "consent-1203.receipt")
	site := []string{"--token-file", w.siteToken, "--key", w.siteKey}

	w.run(append([]string{"consent", "fhir", "--file", file, "--trial", "NCT99999999"}, site...)...).fails(t, exitUsage, "names trial NCT00000419, not NCT99999999")
	bad := filepath.Join(w.dir, "bad.json")
	writeFile(t, bad, strings.Replace(string(export), `"status": "active"`, `"identifier": [{"value": "MRN-1"}], "status": "active"`, 1))
	w.run(append([]string{"consent", "fhir", "--file", bad}, site...)...).fails(t, exitUsage, "Consent.identifier is not part of trialog's Consent profile")

	w.run(append([]string{"consent", "fhir", "--file", file, "--trial", w.trial, "--receipt", rcpt}, site...)...).ok(t).
		has(t, "consent.grant (FHIR Consent) logged", "proof verified", "receipt  "+rcpt)
	w.run("verify", rcpt).ok(t)
	w.run("consent", "status", "--trial", w.trial, "--secret-file", secretFile).ok(t).
		has(t, "status       granted", "(logged as FHIR)")
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func hashHex(t *testing.T, path string) string {
	t.Helper()
	b, err := hashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
