package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
)

func principalCommands() map[string]command {
	return map[string]command{
		"create": {"register a principal and its keys; its API token goes to a new file",
			"trialog principal create --admin-token-file .data/admin.token --name 'Acme Pharma' --role sponsor --pub acme.pub --token-out acme.token", runPrincipalCreate},
		"rotate-token": {"give a principal a new API token, written to a new file; every earlier token stops working at once",
			"trialog principal rotate-token --admin-token-file .data/admin.token --token-out site.token pr_5f0c…", runRotateToken},
		"add-key": {"register one more signing key to a principal; the registration is logged as principal.key",
			"trialog principal add-key --admin-token-file .data/admin.token --pub laptop2.pub pr_5f0c…", runAddKey},
		"revoke-key": {"revoke a principal's signing key; logged as principal.key-revocation, later statements signed with it are refused",
			"trialog principal revoke-key --admin-token-file .data/admin.token --key 2437ddb6… pr_5f0c…", runRevokeKey},
		"deactivate": {"deactivate a principal: its tokens stop working and every key it holds is revoked, each on the log",
			"trialog principal deactivate --admin-token-file .data/admin.token pr_5f0c…", runDeactivate},
	}
}

var principalOrder = []string{"create", "rotate-token", "add-key", "revoke-key", "deactivate"}

// runPrincipal dispatches trialog principal SUBCOMMAND.
func runPrincipal(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.stdout, "Usage: trialog principal create|rotate-token|add-key|revoke-key|deactivate [flags] [PRINCIPAL_ID]\n\nSubcommands (all with the admin token):")
		for _, n := range principalOrder {
			fmt.Fprintf(env.stdout, "  %-13s %s\n", n, principalCommands()[n].summary)
		}
		fmt.Fprintln(env.stdout, "\nRun trialog principal SUBCOMMAND --help for the flags.")
		if len(args) == 0 {
			return usageErrorf("name a subcommand: %s", strings.Join(principalOrder, ", "))
		}
		return nil
	}
	c, ok := principalCommands()[args[0]]
	if !ok {
		return usageErrorf("unknown subcommand %q: use %s", args[0], strings.Join(principalOrder, ", "))
	}
	return c.run(ctx, env, args[1:])
}

// adminFlags are the flags every credential subcommand shares.
type adminFlags struct {
	fs        *flag.FlagSet
	url       *string
	adminFile *string
	wait      *time.Duration
}

func newAdminFlags(env *environ, sub string) *adminFlags {
	c := principalCommands()[sub]
	fs := flagsWith(env, "principal "+sub, c.summary, c.example, " PRINCIPAL_ID")
	return &adminFlags{fs: fs, url: urlFlag(fs, env),
		adminFile: fs.String("admin-token-file", "", "file holding an admin token (trialogd writes one to <data-dir>/admin.token) (required)"),
		wait:      fs.Duration("wait", 10*time.Second, "how long to wait for the log entry to be in a published checkpoint")}
}

// parse reads the flags and the one principal id, and returns an admin
// client.
func (a *adminFlags) parse(args []string) (*client.Client, string, error) {
	rest, err := parseArgs(a.fs, args)
	if err != nil {
		return nil, "", err
	}
	if len(rest) != 1 || !strings.HasPrefix(rest[0], "pr_") {
		return nil, "", usageErrorf("name one principal id, such as pr_5088c991632a36089d4babe0")
	}
	tok, err := readToken(*a.adminFile)
	if err != nil {
		return nil, "", err
	}
	return client.New(*a.url, tok), rest[0], nil
}

func printEntry(env *environ, what string, e *api.Entry) {
	fmt.Fprintf(env.stdout, "%-10s logged as entry %s at leaf %d (%s)\n", what, e.ID, e.LeafIndex, e.Status)
}

func runRotateToken(ctx context.Context, env *environ, args []string) error {
	a := newAdminFlags(env, "rotate-token")
	tokenOut := a.fs.String("token-out", "", "a new file for the principal's new API token, written with mode 0600; the token is shown nowhere else (required)")
	c, id, err := a.parse(args)
	if err != nil {
		return err
	}
	if *tokenOut == "" {
		return usageErrorf("--token-out is required: the new file for the new token")
	}
	f, err := os.OpenFile(*tokenOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists already; rotate-token never overwrites a token file", *tokenOut)
	}
	if err != nil {
		return fmt.Errorf("creating the token file: %w", err)
	}
	tok, err := c.RotateToken(ctx, id)
	if err == nil {
		_, err = f.WriteString(tok + "\n")
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*tokenOut)
		return fmt.Errorf("rotating the token of %s: %w", id, err)
	}
	fmt.Fprintf(env.stdout, "principal  %s\ntoken      new token written to %s (mode 0600); every earlier token is dead\n", id, *tokenOut)
	return nil
}

func runAddKey(ctx context.Context, env *environ, args []string) error {
	a := newAdminFlags(env, "add-key")
	pub := a.fs.String("pub", "", "the public key file written by trialog keygen (PREFIX.pub) (required)")
	c, id, err := a.parse(args)
	if err != nil {
		return err
	}
	if *pub == "" {
		return usageErrorf("--pub is required: the public key file to register")
	}
	b, err := os.ReadFile(*pub)
	if err != nil {
		return fmt.Errorf("reading the public key: %w", err)
	}
	k, err := c.AddKey(ctx, id, strings.TrimSpace(string(b)), *a.wait)
	if err != nil {
		return fmt.Errorf("adding a key to %s: %w", id, err)
	}
	fmt.Fprintf(env.stdout, "principal  %s\nkey        %s\n", id, k.KeyID)
	printEntry(env, "registered", k.Entry)
	return nil
}

func runRevokeKey(ctx context.Context, env *environ, args []string) error {
	a := newAdminFlags(env, "revoke-key")
	key := a.fs.String("key", "", "the key id (64 hex digits, as keygen and principal create print it) (required, or --pub)")
	pub := a.fs.String("pub", "", "the public key file (PREFIX.pub) of the key to revoke, instead of --key")
	c, id, err := a.parse(args)
	if err != nil {
		return err
	}
	kid := *key
	if (kid == "") == (*pub == "") {
		return usageErrorf("give the key to revoke with --key KEY_ID or --pub FILE")
	}
	if *pub != "" {
		b, err := os.ReadFile(*pub)
		if err != nil {
			return fmt.Errorf("reading the public key: %w", err)
		}
		raw, err := envelope.DecodeB64(strings.TrimSpace(string(b)))
		if err != nil || len(raw) != 32 {
			return fmt.Errorf("%s does not hold a base64 Ed25519 public key", *pub)
		}
		kid = envelope.KeyID(raw)
	}
	e, err := c.RevokeKey(ctx, id, kid, *a.wait)
	if err != nil {
		return fmt.Errorf("revoking key %s of %s: %w", kid, id, err)
	}
	fmt.Fprintf(env.stdout, "principal  %s\nkey        %s revoked from leaf %d on: statements signed with it are refused; those logged before stay valid\n", id, kid, e.LeafIndex)
	printEntry(env, "revocation", e)
	return nil
}

func runDeactivate(ctx context.Context, env *environ, args []string) error {
	a := newAdminFlags(env, "deactivate")
	c, id, err := a.parse(args)
	if err != nil {
		return err
	}
	es, err := c.Deactivate(ctx, id, *a.wait)
	if err != nil {
		return fmt.Errorf("deactivating %s: %w", id, err)
	}
	fmt.Fprintf(env.stdout, "principal  %s deactivated: its tokens are dead, %d key(s) revoked now\n", id, len(es))
	for _, e := range es {
		printEntry(env, "revocation", e)
	}
	return nil
}

// runTrialUndelegate lets the trial's owner withdraw a delegation.
func runTrialUndelegate(ctx context.Context, env *environ, args []string) error {
	c := trialCommands()["undelegate"]
	fl := flagsWith(env, "trial undelegate", c.summary, c.example, " TRIAL_ID")
	u := urlFlag(fl, env)
	tokenFile := tokenFileFlag(fl, env)
	principal := fl.String("principal", "", "the id of the delegate whose delegation to withdraw (required)")
	wait := fl.Duration("wait", 10*time.Second, "how long to wait for the entry to be in a published checkpoint")
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
	e, err := client.New(*u, tok).Undelegate(ctx, rest[0], *principal, *wait)
	if err != nil {
		return fmt.Errorf("withdrawing the delegation of trial %s: %w", rest[0], err)
	}
	fmt.Fprintf(env.stdout, "withdrew the delegation of trial %s from %s from leaf %d on: entry %s (%s)\n", rest[0], *principal, e.LeafIndex, e.ID, e.Status)
	return nil
}

// checkKeyLife checks online what a receipt's signer line says about its
// key: the entry at the registration's leaf is the service key's
// principal.key of this key, with the id the line names, and the entry at the
// revocation's leaf its principal.key-revocation; both proven in the log. It
// returns a note to print after the key entry.
func checkKeyLife(ctx context.Context, cl *client.Client, v *client.Verifier, serviceKey string, s receipt.Signer) (string, error) {
	svc, err := envelope.DecodeB64(serviceKey)
	if err != nil || len(svc) != ed25519.PublicKeySize {
		return "", errors.New("the server announces no service key to check its key entries with")
	}
	check := func(index int64, typ, wantID string) (map[string]any, error) {
		e, err := cl.Leaf(ctx, index)
		if err != nil {
			return nil, fmt.Errorf("fetching leaf %d: %w", index, err)
		}
		env, _, err := v.Entry(e)
		if err != nil {
			return nil, fmt.Errorf("leaf %d does not verify: %w", index, err)
		}
		if err := env.VerifySignatures(map[string]ed25519.PublicKey{envelope.KeyID(svc): svc}); err != nil || len(env.Signatures) != 1 {
			return nil, fmt.Errorf("leaf %d is not signed by the service key alone", index)
		}
		var st map[string]any
		if err := json.Unmarshal(env.PayloadBytes, &st); err != nil {
			return nil, fmt.Errorf("leaf %d holds no JSON statement", index)
		}
		if st["type"] != typ || st["key_id"] != s.KeyID() || (wantID != "" && e.ID != wantID) {
			return nil, fmt.Errorf("leaf %d is not the %s of this key", index, typ)
		}
		return st, nil
	}
	var note string
	if s.KeyIndex != nil {
		st, err := check(*s.KeyIndex, "principal.key", s.KeyEntry)
		if err != nil {
			return "", err
		}
		note = fmt.Sprintf(" at leaf %d (checked: %s, %v)", *s.KeyIndex, st["principal"], st["name"])
	}
	if s.RevokedIndex != nil {
		st, err := check(*s.RevokedIndex, "principal.key-revocation", "")
		if err != nil {
			return "", err
		}
		note += fmt.Sprintf("; revoked at leaf %d (checked: %v), after this entry: the signature counts", *s.RevokedIndex, st["reason"])
	}
	return note, nil
}
