package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transparency-dev/formats/log"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/consent"
)

// The consent commands a patient runs with their secret: status and erase.

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
