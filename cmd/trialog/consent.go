package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/trialog/trialog/consent"
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
