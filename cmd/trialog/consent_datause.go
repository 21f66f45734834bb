package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/consent"
)

// The consent commands of data users and sponsors: check a use, and
// summarize a trial's consent.

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
