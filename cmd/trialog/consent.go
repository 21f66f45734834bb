package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transparency-dev/formats/log"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// consentOrder is the order consent --help lists the subcommands in: the
// order of a patient's story.
var consentOrder = []string{"enroll", "grant", "withdraw", "fhir", "status", "check", "erase", "summary"}

func consentCommands() map[string]command {
	return map[string]command{
		"enroll": {"enrol a patient as a new pseudonymous subject of a trial (a site), writing the patient's secret to a new file",
			"trialog consent enroll --trial NCT01234567 --secret-out patient-0042.secret", runConsentEnroll},
		"grant": {"log a subject's consent on a consent-form version, purpose by purpose, signed by your site's key",
			"trialog consent grant --key site.key --trial NCT01234567 --subject sub_5f0c… --form-version 2.0 --form-file consent-v2.pdf --permit primary-analysis --deny future-research", runConsentGrant},
		"withdraw": {"log a subject's withdrawal, of every purpose or of some, signed by your site's key",
			"trialog consent withdraw --key site.key --trial NCT01234567 --subject sub_5f0c… --purposes future-research", runConsentWithdraw},
		"fhir": {"log a FHIR R4 Consent (a grant or withdrawal) as exported from your FHIR server, its bytes unchanged, signed by your site's key",
			"trialog consent fhir --key site.key --file consent-1203.json --receipt consent-1203.receipt", runConsentFHIR},
		"status": {"show a patient's consent and every use of their data, each entry proven, from the secret on their consent receipt",
			"trialog consent status --trial NCT01234567 --secret-file consent-secret.txt", runConsentStatus},
		"check": {"ask whether a subject's data may be used for a purpose (a data user); the check is logged; exit 0 means permit, 3 deny, 1 no verified answer (server unreachable, error, failed proof)",
			"trialog consent check --trial NCT01234567 --subject sub_5f0c… --purpose primary-analysis && run-analysis", runConsentCheck},
		"erase": {"destroy the link between a patient and their subject, by the patient's secret or by the site; it cannot be undone",
			"trialog consent erase --trial NCT01234567 --secret-file consent-secret.txt", runConsentErase},
		"summary": {"count a trial's subjects by consent state and form version (its owner, delegates and regulators)",
			"trialog consent summary --trial NCT01234567", runConsentSummary},
	}
}

func runConsent(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		consentUsage(env.stdout)
		if len(args) == 0 {
			return usageErrorf("name a subcommand: %s", strings.Join(consentOrder, ", "))
		}
		return nil
	}
	c, ok := consentCommands()[args[0]]
	if !ok {
		// Not echoed: it might be a secret typed in the wrong place.
		return usageErrorf("unknown subcommand: use one of %s", strings.Join(consentOrder, ", "))
	}
	return c.run(ctx, env, args[1:])
}

func consentUsage(w io.Writer) {
	cmds := consentCommands()
	fmt.Fprintln(w, "Usage: trialog consent SUBCOMMAND [flags]")
	fmt.Fprintln(w, "\nA trial's pseudonymous consent ledger. Sites enrol patients as random subject references and log")
	fmt.Fprintln(w, "their consent and withdrawals; data users ask before using a subject's data, and every answer is")
	fmt.Fprintln(w, "logged; a patient, with nothing but the secret on their consent receipt, sees their consent and")
	fmt.Fprintln(w, "every use of their data, each entry proven in the log.")
	fmt.Fprintln(w, "\nSubcommands:")
	for _, n := range consentOrder {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nExample:\n  trialog consent status --trial NCT01234567 --secret-file consent-secret.txt")
	fmt.Fprintln(w, "\nFlags:\n  each subcommand has its own: run trialog consent SUBCOMMAND --help for them and an example.")
	fmt.Fprintln(w, "  The patient's secret is read from a file or stdin, never from the command line, and never printed.")
}

func consentFlags(env *environ, sub string) *flag.FlagSet {
	c := consentCommands()[sub]
	return flagsWith(env, "consent "+sub, c.summary, c.example, "")
}

var (
	// flagValue is a quoted value in the flag package's errors.
	flagValue = regexp.MustCompile(` "(?:[^"\\]|\\.)*"`)
	flagName  = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// consentParse parses a consent subcommand's flags. No arguments may follow,
// and no error repeats a value from the command line: a patient may have
// typed their secret in the wrong place.
func consentParse(fl *flag.FlagSet, args []string) error {
	rest, err := parseArgs(fl, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) || !errors.Is(err, errUsage) {
			return err
		}
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		msg = flagValue.ReplaceAllString(msg, "")
		if strings.HasPrefix(msg, "bad flag syntax") {
			msg = "bad flag syntax"
		}
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok && !flagName.MatchString(name) {
			msg = "an argument starting with - is not a flag of this command"
		}
		return usageErrorf("%s", msg)
	}
	if len(rest) > 0 {
		return usageErrorf("this command takes flags only, not arguments (%d given); a patient's secret is read with --secret-file, never from the command line", len(rest))
	}
	return nil
}

func trialFlag(fl *flag.FlagSet) *string {
	return fl.String("trial", "", "the trial's identifier, such as NCT01234567 (required)")
}

func subjectFlag(fl *flag.FlagSet, what string) *string {
	return fl.String("subject", "", "the subject reference, sub_ and 32 hex digits, as consent enroll printed it"+what)
}

// trialID checks --trial and returns it normalised.
func trialID(v string) (string, error) {
	if v == "" {
		return "", usageErrorf("--trial is required: the trial's identifier, such as NCT01234567")
	}
	id, _, err := trials.ParseID(v)
	if err != nil {
		return "", usageErrorf("--trial: %v", err)
	}
	return id, nil
}

func checkSubject(v string) error {
	if v == "" {
		return usageErrorf("--subject is required: the subject reference that consent enroll printed")
	}
	if !consent.ValidSubject(v) {
		return usageErrorf("--subject must be a subject reference, sub_ and 32 lowercase hex digits, as consent enroll printed it")
	}
	return nil
}

// purposeList is a repeatable flag of comma-separated purposes.
type purposeList []string

func (l *purposeList) String() string { return strings.Join(*l, ",") }
func (l *purposeList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// checkPurposes checks purposes against consent's rules; seen collects
// them across flags, so that no purpose is given twice.
func checkPurposes(flagName string, ps []string, seen map[string]string) error {
	for _, p := range ps {
		if !consent.ValidPurpose(p) {
			return usageErrorf("--%s: a purpose is 1 to 64 lowercase letters, digits, '.', '_' or '-', such as primary-analysis; %q is not", flagName, p)
		}
		if prev, ok := seen[p]; ok {
			return usageErrorf("the purpose %s is given twice (--%s and --%s)", p, prev, flagName)
		}
		seen[p] = flagName
	}
	return nil
}

// timeFlag checks an RFC 3339 UTC time given to --name.
func timeFlag(name, v string) error {
	if _, err := statement.ParseTime("--"+name, v); err != nil {
		return usageErrorf("--%s must be an RFC 3339 time in UTC, such as 2026-03-01T09:30:00Z", name)
	}
	return nil
}

// ---- enroll ----

func runConsentEnroll(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "enroll")
	url := urlFlag(fl, env)
	tokenFile := tokenFileFlag(fl, env)
	trial := trialFlag(fl)
	out := fl.String("secret-out", "", "a new file for the patient's secret, for their consent receipt; written with mode 0600, never overwritten, and the secret is never printed (required)")
	quiet := fl.Bool("q", false, "print only the subject reference")
	rf := receiptFlags(fl, env)
	if err := consentParse(fl, args); err != nil {
		return err
	}
	id, err := trialID(*trial)
	if err != nil {
		return err
	}
	switch *out {
	case "":
		return usageErrorf("--secret-out FILE is required: the patient's secret is written to a new file, never printed")
	case "-":
		return usageErrorf("--secret-out takes a file name: the secret is never printed")
	}
	tok, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	var receipt *pendingReceipt
	if *rf.path != "" {
		// Before minting: a receipt that cannot be written is a secret lost.
		if receipt, err = rf.open(ctx, *url); err != nil {
			return err
		}
		defer receipt.abandon()
	}
	// The file first: a secret that cannot be saved is lost.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists already; enroll never overwrites a file, which could hold another patient's secret", *out)
	}
	if err != nil {
		return fmt.Errorf("creating the secret file: %w", err)
	}
	saved := false
	defer func() {
		if !saved {
			f.Close()
			os.Remove(*out)
		}
	}()
	s, err := client.New(*url, tok).MintSubject(ctx, id)
	if err != nil {
		return fmt.Errorf("enrolling a subject of trial %s: %w", id, err)
	}
	if raw, err := base64.StdEncoding.Strict().DecodeString(s.SubjectSecret); err != nil || len(raw) != 32 || !consent.ValidSubject(s.Subject) {
		return errors.New("the server's answer is not a subject reference and a secret of 32 bytes")
	}
	_, err = f.WriteString(s.SubjectSecret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("subject %s was enrolled, but its secret could not be saved in %s (%v); enrol another subject for the patient", s.Subject, *out, err)
	}
	saved = true
	if receipt != nil {
		if err := receipt.write(s.TrialID, s.SubjectSecret, time.Now()); err != nil {
			return fmt.Errorf("subject %s was enrolled and its secret saved in %s, but the receipt could not be written: %w", s.Subject, *out, err)
		}
	}
	w := env.stdout
	if *quiet {
		fmt.Fprintln(w, s.Subject)
		return nil
	}
	fmt.Fprintf(w, "subject  %s\ntrial    %s\nsecret   written to %s (mode 0600)\n", s.Subject, s.TrialID, *out)
	fmt.Fprintf(w, "\nPrint the secret in %s on the patient's consent receipt, then delete the file:\n", *out)
	fmt.Fprintf(w, "it is shown this once, and trialog keeps only a hash of it. With it the patient sees\n")
	fmt.Fprintf(w, "their consent and every use of their data:\n")
	fmt.Fprintf(w, "  trialog consent status --url %s --trial %s --secret-file FILE\n", *url, s.TrialID)
	if receipt != nil {
		fmt.Fprintf(w, "Or print the consent receipt %s (mode 0600; it holds the secret and the QR code of\n", *rf.path)
		fmt.Fprintf(w, "the patient's page) and hand it over; then delete both files.\n")
	}
	fmt.Fprintf(w, "Log their consent with trialog consent grant --subject %s.\n", s.Subject)
	return nil
}

// ---- grant and withdraw ----

// signFlags are the flags of commands that sign and log a statement.
type signFlags struct {
	url, tokenFile, key, receipt, logKey, issuedAt *string
	wait                                           *time.Duration
}

func addSignFlags(fl *flag.FlagSet, env *environ) *signFlags {
	return &signFlags{
		url:       urlFlag(fl, env),
		tokenFile: tokenFileFlag(fl, env),
		key:       fl.String("key", "", "your site's signing key, PREFIX.key from trialog keygen (required)"),
		receipt:   fl.String("receipt", "", "also save the entry's receipt in this new file, for offline verification"),
		logKey:    logKeyFlag(fl, env, "checks the answer (default: the key the server announces)"),
		issuedAt:  fl.String("issued-at", "", "when it happened, RFC 3339 UTC (default: now); a second identical event needs another time"),
		wait:      fl.Duration("wait", 30*time.Second, "how long the server may take to prove the entry (at most 30s)"),
	}
}

func (f *signFlags) check(now time.Time) (string, error) {
	if *f.wait <= 0 {
		return "", usageErrorf("--wait must be positive")
	}
	if *f.issuedAt == "" {
		return now.UTC().Format(time.RFC3339), nil
	}
	if err := timeFlag("issued-at", *f.issuedAt); err != nil {
		return "", err
	}
	return *f.issuedAt, nil
}

func runConsentGrant(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "grant")
	sf := addSignFlags(fl, env)
	trial := trialFlag(fl)
	subject := subjectFlag(fl, " (required)")
	version := fl.String("form-version", "", "the consent-form version the patient agreed to, as the trial's trial.consent-form entry names it (required)")
	formSHA := fl.String("form-sha256", "", "the SHA-256 of that consent-form document, 64 hex digits; or --form-file")
	formFile := fl.String("form-file", "", "the consent-form document itself, hashed here (it never leaves this machine); instead of --form-sha256")
	var permit, deny purposeList
	fl.Var(&permit, "permit", "purposes the patient consents to, comma-separated (repeatable), such as primary-analysis")
	fl.Var(&deny, "deny", "purposes the patient refuses, comma-separated (repeatable); purposes not listed are refused as well")
	start := fl.String("period-start", "", "when the consent starts, RFC 3339 UTC (default: no start)")
	end := fl.String("period-end", "", "when the consent ends, RFC 3339 UTC (default: no end)")
	if err := consentParse(fl, args); err != nil {
		return err
	}
	h, err := consentHeader(consent.TypeGrant, *trial, *subject, sf)
	if err != nil {
		return err
	}
	if *version == "" {
		return usageErrorf("--form-version is required: the consent-form version the patient agreed to")
	}
	sum := strings.ToLower(*formSHA)
	switch {
	case (*formSHA == "") == (*formFile == ""):
		return usageErrorf("give the consent form's digest with --form-sha256 HEX or the document with --form-file FILE (one of the two)")
	case *formFile != "":
		b, err := hashFile(*formFile)
		if err != nil {
			return fmt.Errorf("hashing the consent form: %w", err)
		}
		sum = hex.EncodeToString(b)
	case !statement.IsHexDigest(sum):
		return usageErrorf("--form-sha256 must be 64 hex digits, the SHA-256 of the consent-form document")
	}
	if len(permit)+len(deny) == 0 {
		return usageErrorf("name the purposes with --permit (and --deny), such as --permit primary-analysis")
	}
	seen := map[string]string{}
	if err := checkPurposes("permit", permit, seen); err != nil {
		return err
	}
	if err := checkPurposes("deny", deny, seen); err != nil {
		return err
	}
	g := consent.Grant{Header: h, Form: consent.Form{Version: *version, SHA256: sum}}
	for _, p := range permit {
		g.Scope = append(g.Scope, consent.Scope{Purpose: p, Decision: consent.Permit})
	}
	for _, p := range deny {
		g.Scope = append(g.Scope, consent.Scope{Purpose: p, Decision: consent.Deny})
	}
	if *start != "" || *end != "" {
		for name, v := range map[string]string{"period-start": *start, "period-end": *end} {
			if v != "" {
				if err := timeFlag(name, v); err != nil {
					return err
				}
			}
		}
		g.Period = &consent.Period{Start: *start, End: *end}
	}
	payload, err := json.Marshal(&g)
	if err != nil {
		return err
	}
	// The statement as trialogd will read it: any rule broken here would
	// be a 400 there.
	if _, err := consent.ParseGrant(payload); err != nil {
		return usageErrorf("%v", err)
	}
	return signAndLog(ctx, env, sf, statement.PayloadType, payload)
}

func runConsentWithdraw(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "withdraw")
	sf := addSignFlags(fl, env)
	trial := trialFlag(fl)
	subject := subjectFlag(fl, " (required)")
	var purposes purposeList
	fl.Var(&purposes, "purposes", "withdraw only these purposes, comma-separated (repeatable); default: every purpose")
	if err := consentParse(fl, args); err != nil {
		return err
	}
	h, err := consentHeader(consent.TypeWithdraw, *trial, *subject, sf)
	if err != nil {
		return err
	}
	if err := checkPurposes("purposes", purposes, map[string]string{}); err != nil {
		return err
	}
	wd := consent.Withdraw{Header: h, Purposes: purposes}
	payload, err := json.Marshal(&wd)
	if err != nil {
		return err
	}
	if _, err := consent.ParseWithdraw(payload); err != nil {
		return usageErrorf("%v", err)
	}
	return signAndLog(ctx, env, sf, statement.PayloadType, payload)
}

// maxFHIRFile is the largest Consent file taken; an envelope is at most
// 1 MiB, and base64 makes the payload a third larger.
const maxFHIRFile = 700 << 10

// runConsentFHIR logs a FHIR R4 Consent file as it is: the exact bytes are
// signed (payloadType application/fhir+json) and logged, and trialogd reads
// them as the grant or withdrawal they stand for (docs/fhir.md).
func runConsentFHIR(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "fhir")
	sf := addSignFlags(fl, env)
	file := fl.String("file", "", "the Consent resource, FHIR R4 JSON, as your FHIR server exports it (required)")
	trial := fl.String("trial", "", "if given, the trial the Consent must name, such as NCT01234567 (a check before signing)")
	if err := consentParse(fl, args); err != nil {
		return err
	}
	if *file == "" {
		return usageErrorf("--file is required: the FHIR Consent to log")
	}
	if *sf.issuedAt != "" {
		return usageErrorf("--issued-at does not apply: the Consent's dateTime is the time of the event")
	}
	if _, err := sf.check(time.Now()); err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	payload, err := io.ReadAll(io.LimitReader(f, maxFHIRFile+1))
	f.Close()
	if err != nil {
		return err
	}
	if len(payload) > maxFHIRFile {
		return usageErrorf("--file %s is over %d KiB: too large for one envelope", *file, maxFHIRFile>>10)
	}
	// Checked here as trialogd will: an element outside the profile is
	// named now, before anything is signed.
	st, err := consent.ParseFHIR(payload)
	if err != nil {
		return usageErrorf("--file %s: %v", *file, strings.TrimPrefix(err.Error(), statement.ErrInvalid.Error()+": "))
	}
	if *trial != "" {
		id, err := trialID(*trial)
		if err != nil {
			return err
		}
		if got := st.(consent.Statement).Trial(); got != id {
			return usageErrorf("--file %s names trial %s, not %s", *file, got, id)
		}
	}
	return signAndLog(ctx, env, sf, consent.FHIRPayloadType, payload)
}

// consentHeader checks the flags every consent statement shares and returns
// its header.
func consentHeader(kind, trial, subject string, sf *signFlags) (consent.Header, error) {
	id, err := trialID(trial)
	if err != nil {
		return consent.Header{}, err
	}
	if err := checkSubject(subject); err != nil {
		return consent.Header{}, err
	}
	issued, err := sf.check(time.Now())
	if err != nil {
		return consent.Header{}, err
	}
	return consent.Header{Kind: kind, TrialID: id, Subject: subject, IssuedAt: issued}, nil
}

// signAndLog signs a statement with --key, submits it and waits for its
// proof, verifies the answer (the checkpoint, the inclusion proof, and that
// the logged envelope is the one signed here) and, with --receipt, builds,
// verifies and saves the receipt, as submit does.
func signAndLog(ctx context.Context, env *environ, sf *signFlags, payloadType string, payload []byte) error {
	priv, err := loadKey(*sf.key)
	if err != nil {
		return err
	}
	tok, err := readToken(*sf.tokenFile)
	if err != nil {
		return err
	}
	c := client.New(*sf.url, tok)
	cv, key, note, err := logVerifier(ctx, c, *sf.logKey)
	if err != nil {
		return err
	}
	rv, err := receipt.NewVerifier(key)
	if err != nil {
		return err
	}
	s := &submitter{env: env, c: c, cv: cv, rv: rv, priv: priv, wait: min(*sf.wait, 30*time.Second), logNote: note, out: *sf.receipt,
		signer: receipt.Signer{PublicKey: priv.Public().(ed25519.PublicKey)}}
	t := &target{receipt: *sf.receipt, payload: payload}
	if t.receipt != "" {
		if _, err := s.alreadyDone(t); err != nil {
			return err
		}
	}
	t.env = envelope.Sign(payloadType, payload, priv)
	pe, err := envelope.Check(t.env)
	if err != nil {
		return err
	}
	t.id = pe.ID
	ts := []*target{t}
	s.submitOne(ctx, t)
	s.awaitInclusion(ctx, ts)
	if t.err == nil {
		if t.receipt != "" {
			s.learnKeyEntry(ctx, ts)
			s.writeReceipts(ts)
		} else if logged, _, err := cv.Entry(t.entry); err != nil {
			t.err = fmt.Errorf("the answer for entry %s does not verify: %w", t.entry.ID, err)
		} else if logged.ID != t.id {
			t.err = errors.New("the server logged another envelope than the one submitted")
		}
	}
	var typ struct {
		Type string `json:"type"`
	}
	json.Unmarshal(payload, &typ)
	if payloadType == consent.FHIRPayloadType {
		typ.Type, _ = consent.FHIRType(payload)
		typ.Type += " (FHIR Consent)"
	}
	if t.err != nil {
		return fmt.Errorf("logging the %s: %w", typ.Type, t.err)
	}
	how := "logged"
	if !t.fresh {
		how = "was in the log already (the same statement, signed by the same key; give another --issued-at for a new event)"
	}
	w := env.stdout
	fmt.Fprintf(w, "%s %s\n  entry    %s\n  leaf     %d, received %s (proof verified)\n", typ.Type, how, t.entry.ID, t.entry.LeafIndex, t.entry.ReceivedAt)
	if t.receipt != "" {
		fmt.Fprintf(w, "  receipt  %s\n", t.receipt)
	}
	if note != "" {
		fmt.Fprintf(w, "(proofs %s)\n", note)
	}
	return nil
}

// ---- status ----

func runConsentStatus(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "status")
	url := urlFlag(fl, env)
	trial := trialFlag(fl)
	secretFile := fl.String("secret-file", "", "the file holding the secret from the consent receipt, or - to read it from stdin (required; never the secret itself)")
	keyFlag := logKeyFlag(fl, env, "checks every proof (default: the key the server announces)")
	asJSON := fl.Bool("json", false, "print the server's answer as JSON, after verifying it")
	if err := consentParse(fl, args); err != nil {
		return err
	}
	id, err := trialID(*trial)
	if err != nil {
		return err
	}
	secret, err := readSecret(ctx, env, *secretFile)
	if err != nil {
		return err
	}
	c := client.New(*url, "") // no token: the secret is the credential
	v, _, note, err := logVerifier(ctx, c, *keyFlag)
	if err != nil {
		return err
	}
	st, raw, err := c.ConsentStatus(ctx, id, secret)
	if err != nil {
		return fmt.Errorf("asking for the consent status in trial %s: %w", id, err)
	}
	p, err := v.ConsentStatus(st, time.Now())
	if err != nil {
		return fmt.Errorf("the consent status does not verify: %w", err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	w := env.stdout
	fmt.Fprintf(w, "trial        %s\nsubject      %s\nstatus       %s\n", st.TrialID, st.Subject, statusText(st.Status))
	if st.FormVersion != "" {
		fmt.Fprintf(w, "form         version %s\n", st.FormVersion)
	}
	if st.ReconsentRequired {
		fmt.Fprintf(w, "re-consent   required: the trial has a newer consent form than version %s; ask your site\n", st.FormVersion)
	} else {
		fmt.Fprintf(w, "re-consent   not required\n")
	}
	printCheckpoint(w, "checkpoint  ", p.Checkpoint, note)

	fmt.Fprintln(w)
	if len(st.Scope) == 0 {
		fmt.Fprintln(w, "Decisions: none logged; without a grant, no use of your data is permitted.")
	} else {
		fmt.Fprintln(w, "Decisions now, per purpose:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PURPOSE\tDECISION")
		for _, s := range st.Scope {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Purpose, s.Decision)
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	if len(p.Evidence) == 0 {
		fmt.Fprintln(w, "Evidence: no grant or withdrawal is logged for you.")
	} else {
		fmt.Fprintln(w, "Evidence: the entries your consent rests on, each proven in the log:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LEAF\tLOGGED (UTC)\tEVENT\tDETAILS\tENTRY")
		for _, e := range p.Evidence {
			ev, details := describeConsent(e)
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", e.Entry.LeafIndex, e.Entry.ReceivedAt, ev, details, e.Entry.ID)
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	if len(p.Access) == 0 {
		fmt.Fprintln(w, "Uses of your data: no data user has asked.")
	} else {
		fmt.Fprintf(w, "Uses of your data: every data user's request (%d), each proven in the log:\n", len(p.Access))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LEAF\tASKED AT (UTC)\tDATA USER\tPURPOSE\tDECISION\tENTRY")
		for _, e := range p.Access {
			a := e.Statement.(*consent.Access)
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", e.Entry.LeafIndex, a.IssuedAt, a.Accessor, a.Purpose, a.Decision, e.Entry.ID)
		}
		tw.Flush()
	}
	return nil
}

func statusText(s string) string {
	switch s {
	case consent.StatusGranted:
		return "granted"
	case consent.StatusPartiallyWithdrawn:
		return "partially withdrawn: some of the purposes you permitted are withdrawn (see below)"
	case consent.StatusWithdrawn:
		return "withdrawn: no use of your data is permitted until a new consent"
	case consent.StatusExpired:
		return "expired: the period of your consent has ended; no use of your data is permitted until a new consent"
	case consent.StatusNone:
		return "none: no consent is logged"
	}
	return s
}

// describeConsent summarizes a grant or withdrawal for a table row.
func describeConsent(e client.ConsentEntry) (string, string) {
	var parts []string
	ev := e.Statement.Type()
	switch s := e.Statement.(type) {
	case *consent.Grant:
		ev = "grant"
		parts = append(parts, "form "+s.Form.Version)
		var permit, deny []string
		for _, sc := range s.Scope {
			if sc.Decision == consent.Permit {
				permit = append(permit, sc.Purpose)
			} else {
				deny = append(deny, sc.Purpose)
			}
		}
		if len(permit) > 0 {
			parts = append(parts, "permit "+strings.Join(permit, ", "))
		}
		if len(deny) > 0 {
			parts = append(parts, "deny "+strings.Join(deny, ", "))
		}
		if p := s.Period; p != nil {
			if p.Start != "" {
				parts = append(parts, "from "+p.Start)
			}
			if p.End != "" {
				parts = append(parts, "until "+p.End)
			}
		}
	case *consent.Withdraw:
		ev = "withdrawal"
		if s.All() {
			parts = append(parts, "of every purpose")
		} else {
			parts = append(parts, "of "+strings.Join(s.Purposes, ", "))
		}
	}
	if e.PayloadType == consent.FHIRPayloadType {
		parts = append(parts, "(logged as FHIR)")
	}
	return ev, strings.Join(parts, "; ")
}

func printCheckpoint(w io.Writer, label string, cp *log.Checkpoint, note string) {
	fmt.Fprintf(w, "%s %s, size %d, root %s (signature verified)\n", label, cp.Origin, cp.Size, b64(cp.Hash))
	if note != "" {
		fmt.Fprintf(w, "%s (%s)\n", strings.Repeat(" ", len(label)), note)
	}
}

// maxSecretFile bounds what is read looking for a secret.
const maxSecretFile = 4096

// readSecret reads the patient's secret from a file, or from stdin for "-".
// No error repeats what was read, or the value of --secret-file: a patient
// may have given the secret itself there.
func readSecret(ctx context.Context, env *environ, path string) (string, error) {
	var b []byte
	var err error
	where := "the secret file"
	switch path {
	case "":
		return "", usageErrorf("--secret-file is required: a file holding the secret from the consent receipt, or - for stdin; the secret itself is never taken on the command line")
	case "-":
		where = "stdin"
		b, err = readSecretStdin(ctx, env)
		if err != nil {
			return "", err
		}
	default:
		if validSecret(path) {
			return "", usageErrorf("--secret-file takes the name of a file holding the secret, not the secret itself (which is now in your shell's history: delete it there)")
		}
		f, err := os.Open(path)
		if err == nil {
			b, err = io.ReadAll(io.LimitReader(f, maxSecretFile))
			f.Close()
		}
		if err != nil {
			// The reason without the path, which is the value of --secret-file.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("cannot read the secret file: %v", err)
		}
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s holds no secret", where)
	}
	if !validSecret(s) {
		return "", fmt.Errorf("%s does not hold a subject secret: the base64 of 32 bytes, 44 characters, as printed on the consent receipt", where)
	}
	return s, nil
}

func validSecret(s string) bool {
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && len(raw) == 32
}

// readSecretStdin reads one line from stdin. On a terminal it prompts on
// stderr and turns echo off while the secret is typed, so that it is not
// shown.
func readSecretStdin(ctx context.Context, env *environ) ([]byte, error) {
	if f, ok := env.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(env.stderr, "Secret from the consent receipt (not shown as you type): ")
			if restore := noEcho(f); restore != nil {
				defer restore()
			}
			defer fmt.Fprintln(env.stderr)
		}
	}
	type line struct {
		b   []byte
		err error
	}
	ch := make(chan line, 1)
	go func() {
		b, err := bufio.NewReader(io.LimitReader(env.stdin, maxSecretFile)).ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			err = nil
		}
		ch <- line{b, err}
	}()
	select {
	case l := <-ch:
		if l.err != nil {
			return nil, fmt.Errorf("reading the secret from stdin: %v", l.err)
		}
		return l.b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// noEcho turns a terminal's echo off, returning the function that turns it
// back on, or nil if it could not.
func noEcho(tty *os.File) func() {
	off := exec.Command("stty", "-echo")
	off.Stdin = tty
	if off.Run() != nil {
		return nil
	}
	return func() {
		on := exec.Command("stty", "echo")
		on.Stdin = tty
		on.Run()
	}
}

// ---- check ----

func runConsentCheck(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "check")
	url := urlFlag(fl, env)
	tokenFile := tokenFileFlag(fl, env)
	trial := trialFlag(fl)
	subject := subjectFlag(fl, " (required)")
	purpose := fl.String("purpose", "", "what the data would be used for, such as primary-analysis (required)")
	keyFlag := logKeyFlag(fl, env, "checks the answer (default: the key the server announces)")
	asJSON := fl.Bool("json", false, "print the server's answer as JSON, after verifying it")
	if err := consentParse(fl, args); err != nil {
		return err
	}
	id, err := trialID(*trial)
	if err != nil {
		return err
	}
	if err := checkSubject(*subject); err != nil {
		return err
	}
	if *purpose == "" {
		return usageErrorf("--purpose is required, such as --purpose primary-analysis")
	}
	if !consent.ValidPurpose(*purpose) {
		return usageErrorf("--purpose must be 1 to 64 lowercase letters, digits, '.', '_' or '-', such as primary-analysis")
	}
	tok, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	c := client.New(*url, tok)
	v, _, note, err := logVerifier(ctx, c, *keyFlag)
	if err != nil {
		return err
	}
	ans, raw, err := c.ConsentCheck(ctx, id, *subject, *purpose)
	if err != nil {
		return fmt.Errorf("checking consent of subject %s for %s: %w", *subject, *purpose, err)
	}
	p, err := v.ConsentCheck(ans, *subject, *purpose)
	if err != nil {
		return fmt.Errorf("the consent check does not verify: %w", err)
	}
	if *asJSON {
		if err := printJSON(env, raw); err != nil {
			return err
		}
	} else {
		w := env.stdout
		fmt.Fprintf(w, "decision      %s\ntrial         %s\nsubject       %s\npurpose       %s\n", ans.Decision, id, *subject, *purpose)
		fmt.Fprintf(w, "access entry  %s (leaf %d, asked at %s, recorded for data user %s; proof verified)\n",
			ans.AccessEntry, ans.Access.LeafIndex, p.Statement.IssuedAt, p.Statement.Accessor)
		if len(p.Evidence) == 0 {
			fmt.Fprintf(w, "evidence      none: no consent is logged for this subject\n")
		}
		for i, e := range p.Evidence {
			label := "evidence     "
			if i > 0 {
				label = "             "
			}
			ev, details := describeConsent(e)
			fmt.Fprintf(w, "%s %s (leaf %d, %s: %s)\n", label, e.Entry.ID, e.Entry.LeafIndex, ev, details)
		}
		printCheckpoint(w, "checkpoint   ", p.Checkpoint, note)
	}
	if ans.Decision != consent.Permit {
		return &exitError{code: exitDeny, err: fmt.Errorf("the subject's consent does not permit %s: the decision is deny, recorded as access entry %s", *purpose, ans.AccessEntry)}
	}
	return nil
}

// ---- erase ----

func runConsentErase(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "erase")
	url := urlFlag(fl, env)
	trial := trialFlag(fl)
	secretFile := fl.String("secret-file", "", "the patient: the file holding the secret from the consent receipt, or - for stdin")
	subject := subjectFlag(fl, "; the site, with --token-file")
	tokenFile := tokenFileFlag(fl, env)
	keyFlag := logKeyFlag(fl, env, "checks the erasure entry (default: the key the server announces)")
	if err := consentParse(fl, args); err != nil {
		return err
	}
	id, err := trialID(*trial)
	if err != nil {
		return err
	}
	if (*secretFile == "") == (*subject == "") {
		return usageErrorf("give --secret-file (the patient, with the secret from the consent receipt) or --subject (the site, with --token-file), one of the two")
	}
	var secret, tok string
	if *secretFile != "" {
		if secret, err = readSecret(ctx, env, *secretFile); err != nil {
			return err
		}
	} else {
		if err := checkSubject(*subject); err != nil {
			return err
		}
		if tok, err = readToken(*tokenFile); err != nil {
			return err
		}
	}
	// The token goes only with a site's request: the patient's secret is
	// the credential of theirs.
	c := client.New(*url, tok)
	v, _, note, err := logVerifier(ctx, c, *keyFlag)
	if err != nil {
		return err
	}
	var er *api.ConsentErased
	if secret != "" {
		er, err = c.EraseBySecret(ctx, id, secret)
	} else {
		er, err = c.EraseSubject(ctx, id, *subject)
	}
	if err != nil {
		return fmt.Errorf("erasing in trial %s: %w", id, err)
	}
	if !er.Erased || er.Entry == nil {
		return errors.New("the server did not confirm the erasure")
	}
	w := env.stdout
	e := er.Entry
	if e.Status != api.StatusIncluded {
		fmt.Fprintf(w, "erased       the link between the patient and their subject in trial %s is destroyed\n", id)
		fmt.Fprintf(w, "entry        %s (consent.erasure, leaf %d): not yet in a published checkpoint; verify it later with trialog entry %s\n", e.ID, e.LeafIndex, e.ID)
		return nil
	}
	ce, cp, err := v.ConsentEntry(e)
	if err != nil {
		return fmt.Errorf("the erasure entry %s does not verify: %w", e.ID, err)
	}
	if _, ok := ce.Statement.(*consent.Erasure); !ok {
		return fmt.Errorf("the server answered a %s entry, not a consent.erasure", ce.Statement.Type())
	}
	if *subject != "" && ce.Statement.SubjectID() != *subject {
		return fmt.Errorf("the erasure entry %s is about another subject", e.ID)
	}
	fmt.Fprintf(w, "erased       subject %s of trial %s: trialog no longer links it to the patient\n", ce.Statement.SubjectID(), id)
	fmt.Fprintf(w, "entry        %s (consent.erasure, leaf %d, proof verified)\n", e.ID, e.LeafIndex)
	printCheckpoint(w, "checkpoint  ", cp, note)
	fmt.Fprintln(w, "\nThe log is unchanged: the subject's entries stay, naming only its random reference. The secret no")
	fmt.Fprintln(w, "longer works. Data users may hold data under the reference: ask the site to tell them.")
	return nil
}

// ---- summary ----

func runConsentSummary(ctx context.Context, env *environ, args []string) error {
	fl := consentFlags(env, "summary")
	url := urlFlag(fl, env)
	tokenFile := tokenFileFlag(fl, env)
	trial := trialFlag(fl)
	keyFlag := logKeyFlag(fl, env, "checks the answer's checkpoint (default: the key the server announces)")
	asJSON := fl.Bool("json", false, "print the server's answer as JSON, after verifying its checkpoint")
	if err := consentParse(fl, args); err != nil {
		return err
	}
	id, err := trialID(*trial)
	if err != nil {
		return err
	}
	tok, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	c := client.New(*url, tok)
	v, _, note, err := logVerifier(ctx, c, *keyFlag)
	if err != nil {
		return err
	}
	tc, raw, err := c.TrialConsent(ctx, id)
	if err != nil {
		return fmt.Errorf("counting the consent of trial %s: %w", id, err)
	}
	cp, err := v.TrialConsent(tc)
	if err != nil {
		return fmt.Errorf("the consent counts do not verify: %w", err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	w := env.stdout
	fmt.Fprintf(w, "trial              %s\n", tc.TrialID)
	printCheckpoint(w, "as of             ", cp, note)
	latest := tc.LatestFormVersion
	if latest == "" {
		latest = "none logged"
	}
	fmt.Fprintf(w, "latest form        %s\n", latest)
	fmt.Fprintf(w, "subjects           %d with a consent event\n", tc.Subjects)
	for _, c := range []struct {
		label string
		n     int
	}{{"granted", tc.Granted}, {"partially withdrawn", tc.PartiallyWithdrawn}, {"withdrawn", tc.Withdrawn}, {"expired", tc.Expired}, {"none", tc.None}, {"erased", tc.Erased}} {
		fmt.Fprintf(w, "  %-20s %d\n", c.label, c.n)
	}
	fmt.Fprintf(w, "re-consent needed  %d (active consent on an older form version)\n", tc.ReconsentRequired)
	if len(tc.ByFormVersion) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FORM VERSION\tACTIVE CONSENT")
		for _, f := range tc.ByFormVersion {
			fmt.Fprintf(tw, "%s\t%d\n", f.Version, f.Granted)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nThe counts are trialogd's; the entries behind them are not in this answer.")
	return nil
}
