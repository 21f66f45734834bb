package main

import (
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
	"strings"
	"time"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/statement"
)

// The consent commands a site runs: enroll a subject, and sign and log
// grants, withdrawals and FHIR Consents.

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
