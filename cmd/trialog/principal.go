package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
)

// runPrincipalCreate registers a principal with the admin token: trialog
// principal create. The new principal's API token goes to a new file (mode
// 0600) and is never printed.
func runPrincipalCreate(ctx context.Context, env *environ, args []string) error {
	c := principalCommands()["create"]
	fl := flagsWith(env, "principal create", c.summary, c.example, "")
	u := urlFlag(fl, env)
	adminFile := fl.String("admin-token-file", "", "file holding the admin token (trialogd writes it to <data-dir>/admin.token) (required)")
	name := fl.String("name", "", "the principal's name, e.g. the organisation (required)")
	role := fl.String("role", "", "sponsor, site, regulator, data-user or admin (required)")
	var pubs multiFlag
	fl.Var(&pubs, "pub", "a public key file written by trialog keygen (PREFIX.pub); repeat for several keys")
	quiet := fl.Bool("q", false, "print only the principal's id")
	tokenOut := fl.String("token-out", "", "a new file for the principal's API token, written with mode 0600; the token is shown nowhere else (required)")
	if err := parse(fl, args); err != nil {
		return err
	}
	if *name == "" || *role == "" || *tokenOut == "" {
		return usageErrorf("--name, --role and --token-out are required")
	}
	adminTok, err := readToken(*adminFile)
	if err != nil {
		return err
	}
	var keys []string
	for _, p := range pubs {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading the public key: %w", err)
		}
		keys = append(keys, strings.TrimSpace(string(b)))
	}
	f, err := os.OpenFile(*tokenOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists already; principal create never overwrites a token file", *tokenOut)
	}
	if err != nil {
		return fmt.Errorf("creating the token file: %w", err)
	}
	p, err := client.New(*u, adminTok).CreatePrincipal(ctx, api.NewPrincipal{Name: *name, Role: *role, PublicKeys: keys})
	if err == nil {
		_, err = f.WriteString(p.Token + "\n")
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*tokenOut)
		return fmt.Errorf("registering the principal: %w", err)
	}
	if *quiet {
		fmt.Fprintln(env.stdout, p.ID)
		return nil
	}
	fmt.Fprintf(env.stdout, "principal  %s (%s, %s)\ntoken      written to %s (mode 0600)\n", p.ID, p.Name, p.Role, *tokenOut)
	for i, k := range p.KeyIDs {
		fmt.Fprintf(env.stdout, "key        %s, registration logged as entry %s\n", k, p.KeyEntries[i])
	}
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runTrialDelegate lets the trial's owner delegate it to another principal.
func runTrialDelegate(ctx context.Context, env *environ, args []string) error {
	c := trialCommands()["delegate"]
	fl := flagsWith(env, "trial delegate", c.summary, c.example, " TRIAL_ID")
	u := urlFlag(fl, env)
	tokenFile := tokenFileFlag(fl, env)
	principal := fl.String("principal", "", "the id of the principal to delegate to, as principal create printed it (required)")
	rest, err := parseArgs(fl, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || *principal == "" {
		return usageErrorf("give --principal ID and one TRIAL_ID")
	}
	tok, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	var e api.Entry
	status, err := client.New(*u, tok).Do(ctx, http.MethodPost, "/v1/trials/"+url.PathEscape(rest[0])+"/delegates", map[string]string{"principal": *principal}, &e)
	if err != nil {
		return fmt.Errorf("delegating trial %s: %w", rest[0], err)
	}
	what := "delegated"
	if status == http.StatusOK {
		what = "already delegated"
	}
	fmt.Fprintf(env.stdout, "%s trial %s to %s: entry %s (%s)\n", what, rest[0], *principal, e.ID, e.Status)
	return nil
}
