package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/transparency-dev/formats/log"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/trials"
)

func trialCommands() map[string]command {
	return map[string]command{
		"show": {"show a trial's timeline: every entry in log order, each proven against one checkpoint",
			"trialog trial show NCT01234567", runTrialShow},
		"outcomes": {"show a trial's outcome report: pre-specified against reported outcomes, and ordering flags",
			"trialog trial outcomes NCT01234567", runTrialOutcomes},
		"delegate": {"let another principal (a site, a CRO) submit for your trial (the owner's token)",
			"trialog trial delegate --token-file acme.token --principal pr_5f0c… NCT01234567", runTrialDelegate},
		"undelegate": {"withdraw a delegation of your trial; the principal's later trial statements are refused (the owner's token)",
			"trialog trial undelegate --token-file acme.token --principal pr_5f0c… NCT01234567", runTrialUndelegate},
	}
}

func runTrial(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.stdout, "Usage: trialog trial show|outcomes|delegate|undelegate [flags] TRIAL_ID\n\nSubcommands:")
		for _, n := range []string{"show", "outcomes", "delegate", "undelegate"} {
			fmt.Fprintf(env.stdout, "  %-10s %s\n", n, trialCommands()[n].summary)
		}
		fmt.Fprintln(env.stdout, "\nRun trialog trial show --help for the flags.")
		if len(args) == 0 {
			return usageErrorf("name a subcommand: show, outcomes, delegate or undelegate")
		}
		return nil
	}
	c, ok := trialCommands()[args[0]]
	if !ok {
		return usageErrorf("unknown subcommand %q: use show, outcomes, delegate or undelegate", args[0])
	}
	return c.run(ctx, env, args[1:])
}

// trialFlags are the flags of trial show and trial outcomes.
type trialFlags struct {
	url, key string
	asJSON   bool
	id       string
}

func parseTrialFlags(env *environ, sub string, args []string) (*trialFlags, error) {
	c := trialCommands()[sub]
	fs := flagsWith(env, "trial "+sub, c.summary, c.example, " TRIAL_ID")
	url := urlFlag(fs, env)
	key := logKeyFlag(fs, env, "checks the answer (default: the key the server announces)")
	asJSON := fs.Bool("json", false, "print the server's answer as JSON, after verifying it")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) != 1 {
		return nil, usageErrorf("name one trial id, such as NCT01234567")
	}
	return &trialFlags{url: *url, key: *key, asJSON: *asJSON, id: rest[0]}, nil
}

func runTrialShow(ctx context.Context, env *environ, args []string) error {
	f, err := parseTrialFlags(env, "show", args)
	if err != nil {
		return err
	}
	c := client.New(f.url, "")
	v, _, note, err := logVerifier(ctx, c, f.key)
	if err != nil {
		return err
	}
	t, raw, err := c.Trial(ctx, f.id)
	if err != nil {
		return fmt.Errorf("fetching trial %s: %w", f.id, err)
	}
	_, cp, err := v.Trial(t)
	if err != nil {
		return fmt.Errorf("the timeline of trial %s does not verify: %w", f.id, err)
	}
	if f.asJSON {
		return printJSON(env, raw)
	}
	w := env.stdout
	printTrialHeader(env, t.TrialID, t.Identifiers, cp, note)
	if t.Owner != "" {
		fmt.Fprintf(w, "owner       %s\n", t.Owner)
	}
	if len(t.Delegates) > 0 {
		fmt.Fprintf(w, "delegates   %s\n", strings.Join(t.Delegates, ", "))
	}
	fmt.Fprintf(w, "entries     %d, each proven against that checkpoint\n\n", len(t.Entries))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LEAF\tRECEIVED (UTC)\tTYPE\tDETAILS\tENTRY")
	for _, e := range t.Entries {
		typ, details := describe(e.Statement)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.LeafIndex, e.ReceivedAt, typ, details, e.ID)
	}
	return tw.Flush()
}

func runTrialOutcomes(ctx context.Context, env *environ, args []string) error {
	f, err := parseTrialFlags(env, "outcomes", args)
	if err != nil {
		return err
	}
	c := client.New(f.url, "")
	v, _, note, err := logVerifier(ctx, c, f.key)
	if err != nil {
		return err
	}
	// The report first, then the timeline: the timeline's checkpoint then
	// includes every entry the report names.
	o, raw, err := c.TrialOutcomes(ctx, f.id)
	if err != nil {
		return fmt.Errorf("fetching the outcome report of trial %s: %w", f.id, err)
	}
	t, _, err := c.Trial(ctx, f.id)
	if err != nil {
		return fmt.Errorf("fetching trial %s: %w", f.id, err)
	}
	_, cp, err := v.Trial(t)
	if err != nil {
		return fmt.Errorf("the timeline of trial %s does not verify: %w", f.id, err)
	}
	if err := v.Outcomes(o, t); err != nil {
		return fmt.Errorf("the outcome report of trial %s does not match its proven entries: %w", f.id, err)
	}
	if f.asJSON {
		return printJSON(env, raw)
	}
	w := env.stdout
	printTrialHeader(env, o.TrialID, o.Identifiers, cp, note)
	printOutcomeSummary(w, o)
	reason := ""
	if o.BaselineReason != "" {
		reason = " (" + strings.TrimSuffix(o.BaselineReason, ".") + ")"
	}
	fmt.Fprintf(w, "baseline    %s%s\n", o.Baseline, reason)
	if o.Compared != nil {
		fmt.Fprintf(w, "compared    %s (the latest results)\n", *o.Compared)
	} else {
		fmt.Fprintf(w, "compared    none: no results are logged yet\n")
	}
	if len(o.Outcomes) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "OUTCOME\tKIND\tSTATUS\tMEASURE\tCHANGES\tDECLARED")
		for _, oc := range o.Outcomes {
			declared := oc.Declared
			if declared == "" && oc.Status != trials.StatusUnchanged {
				declared = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oc.ID, oc.Kind, oc.Status, oc.Measure, strings.Join(oc.Changes, ", "), declared)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(o.Flags) == 0 {
		fmt.Fprintln(w, "\nflags       none")
		return nil
	}
	fmt.Fprintln(w, "\nflags")
	for _, fl := range o.Flags {
		fmt.Fprintf(w, "  %s: %s\n    evidence: %s\n", fl.Code, fl.Message, strings.Join(fl.Evidence, ", "))
	}
	return nil
}

// printOutcomeSummary says first, in words, what the report finds: the
// counts a journal editor reads before the rows, and the flags by code.
func printOutcomeSummary(w io.Writer, o *api.TrialOutcomes) {
	s := &o.Summary
	if o.Compared == nil {
		fmt.Fprintf(w, "summary     %s pre-specified; no results are logged yet\n", plural(s.Prespecified, "outcome"))
	} else {
		parts := []string{fmt.Sprintf("%d reported as pre-specified", s.CorrectlyReported)}
		if s.Switched > 0 {
			parts = append(parts, fmt.Sprintf("%d switched without saying so", s.Switched))
		}
		if s.NotReported > 0 {
			parts = append(parts, fmt.Sprintf("%d not reported without saying so", s.NotReported))
		}
		fmt.Fprintf(w, "summary     of %s pre-specified, %s\n", plural(s.Prespecified, "outcome"), strings.Join(parts, ", "))
		if p := s.Primary; p.Prespecified > 0 || p.Added > 0 {
			fmt.Fprintf(w, "            primary outcomes: %d of %d reported as pre-specified", p.CorrectlyReported, p.Prespecified)
			if p.Switched+p.NotReported+p.Added > 0 {
				fmt.Fprintf(w, "; %d switched, %d not reported, %d added without saying so", p.Switched, p.NotReported, p.Added)
			}
			fmt.Fprintln(w)
		}
		if s.Added > 0 {
			fmt.Fprintf(w, "            %s reported that %s not pre-specified, without saying so\n", plural(s.Added, "outcome"), map[bool]string{true: "was", false: "were"}[s.Added == 1])
		}
		if d := s.Declared; d.Switched+d.NotReported+d.Added > 0 {
			var ds []string
			for _, x := range []struct {
				n    int
				what string
			}{{d.Switched, "switched"}, {d.NotReported, "not reported"}, {d.Added, "added"}} {
				if x.n > 0 {
					ds = append(ds, fmt.Sprintf("%d %s", x.n, x.what))
				}
			}
			fmt.Fprintf(w, "            declared in the results (counted as correctly reported, as COMPare does): %s\n", strings.Join(ds, ", "))
		}
	}
	if len(o.Flags) == 0 {
		fmt.Fprintf(w, "            no flags\n")
	} else {
		count := map[string]int{}
		var codes []string
		for _, f := range o.Flags {
			if count[f.Code] == 0 {
				codes = append(codes, f.Code)
			}
			count[f.Code]++
		}
		var fs []string
		for _, c := range codes {
			fs = append(fs, fmt.Sprintf("%s ×%d", c, count[c]))
		}
		fmt.Fprintf(w, "            %s: %s (details below)\n", plural(len(o.Flags), "flag"), strings.Join(fs, ", "))
	}
	fmt.Fprintln(w)
}

func printTrialHeader(env *environ, id string, ids []string, cp *log.Checkpoint, note string) {
	w := env.stdout
	fmt.Fprintf(w, "trial       %s\n", id)
	var others []string
	for _, x := range ids {
		if x != id {
			others = append(others, x)
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(w, "also        %s\n", strings.Join(others, ", "))
	}
	fmt.Fprintf(w, "checkpoint  %s, size %d, root %s (signature verified)\n", cp.Origin, cp.Size, b64(cp.Hash))
	if note != "" {
		fmt.Fprintf(w, "            (%s)\n", note)
	}
}

func printJSON(env *environ, raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := env.stdout.Write(b.Bytes())
	return err
}

// describe summarizes a statement for a table row.
func describe(st json.RawMessage) (typ, details string) {
	var m map[string]any
	if json.Unmarshal(st, &m) != nil {
		return "(not JSON)", ""
	}
	typ, _ = m["type"].(string)
	str := func(k string) string { s, _ := m[k].(string); return s }
	count := func(k string) int { a, _ := m[k].([]any); return len(a) }
	var parts []string
	switch typ {
	case "trial.registration":
		parts = append(parts, fmt.Sprintf("%q", str("title")), plural(count("outcomes"), "outcome"))
	case "trial.protocol", "trial.sap", "trial.consent-form":
		parts = append(parts, "version "+str("version"))
		if p := str("previous"); p != "" {
			parts = append(parts, "replaces "+short(p))
		}
		if r := str("reason"); r != "" {
			parts = append(parts, "reason: "+r)
		}
	case "trial.milestone":
		parts = append(parts, str("event")+" at "+str("at"))
	case "trial.dataset":
		parts = append(parts, str("name")+" ("+str("lock")+" lock)")
	case "trial.results":
		parts = append(parts, plural(count("outcomes"), "outcome"))
	case "trial.publication":
		if d := str("doi"); d != "" {
			parts = append(parts, "doi "+d)
		}
	case "trial.delegation-revocation":
		parts = append(parts, "withdraws the delegation of "+str("principal"))
	case "trial.delegation":
		for _, k := range []string{"principal", "delegate"} {
			if p := str(k); p != "" {
				parts = append(parts, "delegates to "+p)
				break
			}
		}
	}
	return typ, strings.Join(parts, ", ")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
