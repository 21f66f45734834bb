// Command trialog is the command-line client of a trialog log, for
// sponsors, sites, regulators and patients: it makes signing keys, notarizes
// files and saves receipts, verifies receipts offline, audits the log for
// forks and reads trial timelines — and verifies every checkpoint, proof and
// signature it receives.
//
//	trialog keygen --out acme
//	trialog submit --key acme.key --token-file acme.token --type record.digest --file trial/ --receipt receipts/
//	trialog verify --log-key @log-key.txt --files trial/ receipts/
//	trialog audit --log-key @log-key.txt --state /var/lib/trialog-audit
//
// Flags --url, --token-file and --log-key default to $TRIALOG_URL,
// $TRIALOG_TOKEN_FILE and $TRIALOG_LOG_KEY. Secrets (tokens, private keys)
// are read from files, never taken as flag values, and never printed.
//
// Exit codes: 0 success; 1 failure (the reason on stderr, one sentence per
// failure: a server that cannot be reached, an error answer, a proof that
// does not verify); 2 audit found a fork or rollback; 3 consent check
// answered deny (verified); 64 usage error. docs/cli.md
// has the manual.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/buildinfo"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitFork    = 2  // audit: a fork or rollback, evidence saved
	exitDeny    = 3  // consent check: a verified answer that denies
	exitUsage   = 64 // EX_USAGE (sysexits.h): 2 is taken by exitFork
)

// command is one subcommand.
type command struct {
	summary string
	example string
	run     func(ctx context.Context, env *environ, args []string) error
}

// environ is what commands read and write, passed in for tests.
type environ struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	// progress is where a progress bar goes; nil when stderr is not a
	// terminal.
	progress io.Writer
}

var errUsage = errors.New("usage")

// usageErrorf is a usage error: exit 64 with the message.
func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// exitError carries an exit code other than 1 and the one sentence to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errReported means the command printed its failures already.
type errReported struct{ n int }

func (e errReported) Error() string { return fmt.Sprintf("%d failures", e.n) }

func commands() map[string]command {
	return map[string]command{
		"keygen": {"create an Ed25519 signing key: PREFIX.key (private, mode 0600) and PREFIX.pub",
			"trialog keygen --out acme", runKeygen},
		"submit": {"notarize files (hashed locally) or a statement, and save verified receipts",
			"trialog submit --token-file acme.token --key acme.key --type record.digest --file trial/ --receipt receipts/", runSubmit},
		"verify": {"verify receipts offline with the log's public key, and files against them",
			"trialog verify --log-key @log-key.txt --file protocol.pdf protocol.pdf.receipt", runVerify},
		"audit": {"check that the log's latest checkpoint extends the last one seen (for cron)",
			"trialog audit --log-key @log-key.txt --state /var/lib/trialog-audit", runAudit},
		"entry": {"fetch an entry and verify its proof and signatures",
			"trialog entry --log-key @log-key.txt 5f0c…e1 (an entry id)", runEntry},
		"trial": {"show a trial's timeline (show) or outcome report (outcomes), every proof verified",
			"trialog trial show NCT01234567", runTrial},
		"consent": {"the consent ledger: enroll, grant, withdraw, status (a patient, with their secret), check, erase, summary",
			"trialog consent status --trial NCT01234567 --secret-file consent-secret.txt", runConsent},
		"principal": {"manage principals with the admin token: create, rotate-token, add-key, revoke-key, deactivate",
			"trialog principal create --admin-token-file .data/admin.token --name 'Acme Pharma' --role sponsor --pub acme.pub --token-out acme.token", runPrincipal},
		"log": {"show the log's origin, keys and size, with its checkpoint verified",
			"trialog log --url http://127.0.0.1:8080", runLog},
		"demo": {"register a demo principal, notarize a sample document and verify its proof",
			"trialog demo --url http://127.0.0.1:8080 --admin-token-file .data/admin.token", runDemo},
	}
}

// subcommands are the tables of the commands that have subcommands.
var subcommands = map[string]func() map[string]command{"trial": trialCommands, "consent": consentCommands}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environ{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		env.progress = os.Stderr
	}
	os.Exit(runMain(ctx, env, os.Args[1:]))
}

func runMain(ctx context.Context, env *environ, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout, cmds)
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "version" {
		fmt.Fprintln(env.stdout, buildinfo.Read().String("trialog"))
		return exitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "trialog: unknown command %q; run trialog --help for the list.\n", args[0])
		return exitUsage
	}
	err := c.run(ctx, env, args[1:])
	// Errors of a subcommand name it: "trialog consent status: …".
	if subs, ok := subcommands[args[0]]; ok && len(args) > 1 {
		if _, ok := subs()[args[1]]; ok {
			args = append([]string{args[0] + " " + args[1]}, args[2:]...)
		}
	}
	var ee *exitError
	var rep errReported
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(env.stderr, "trialog %s: %s\n", args[0], oneSentence(strings.TrimSuffix(msg, ".")+" (see trialog "+args[0]+" --help)"))
		return exitUsage
	case errors.As(err, &rep):
		return exitFailure
	case errors.As(err, &ee):
		fmt.Fprintf(env.stderr, "trialog %s: %s\n", args[0], oneSentence(ee.err.Error()))
		return ee.code
	default:
		fmt.Fprintf(env.stderr, "trialog %s: %s\n", args[0], oneSentence(err.Error()))
		return exitFailure
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: trialog COMMAND [flags] [arguments]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-7s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun trialog COMMAND --help for its flags and an example; trialog --version for the build.")
	fmt.Fprintln(w, "--url, --token-file and --log-key default to $TRIALOG_URL, $TRIALOG_TOKEN_FILE and $TRIALOG_LOG_KEY.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure (unreachable server, error answer, failed verification), 2 audit found a fork or rollback, 3 consent check answered deny, 64 usage error.")
}

// flags returns a flag set for a command that prints its example in --help.
func flags(env *environ, name string) *flag.FlagSet {
	c := commands()[strings.Fields(name)[0]]
	return flagsWith(env, name, c.summary, c.example, "")
}

func flagsWith(env *environ, name, summary, example, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: trialog %s [flags]%s\n\n%s.\n\nExample:\n  %s\n\nFlags:\n", name, args, upperFirst(summary), example)
		fs.PrintDefaults()
	}
	return fs
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parse parses flags; errors are usage errors. No arguments may follow.
func parse(fs *flag.FlagSet, args []string) error {
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("unexpected arguments %q", rest)
	}
	return nil
}

// parseArgs parses flags placed anywhere among the arguments (until "--")
// and returns the arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package prints the whole usage on any error; errors here
	// are one sentence, and the usage is printed for --help only.
	help, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = help; fs.SetOutput(out) }()
	var rest, tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				help()
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(rest, tail...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// urlFlag adds --url, defaulting to $TRIALOG_URL.
func urlFlag(fs *flag.FlagSet, env *environ) *string {
	def := env.getenv("TRIALOG_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	return fs.String("url", def, "trialogd base URL (env TRIALOG_URL)")
}

// tokenFileFlag adds --token-file, defaulting to $TRIALOG_TOKEN_FILE.
func tokenFileFlag(fs *flag.FlagSet, env *environ) *string {
	return fs.String("token-file", env.getenv("TRIALOG_TOKEN_FILE"), "file holding your API token (env TRIALOG_TOKEN_FILE); tokens are never taken on the command line")
}

// logKeyFlag adds --log-key, defaulting to $TRIALOG_LOG_KEY.
func logKeyFlag(fs *flag.FlagSet, env *environ, what string) *string {
	return fs.String("log-key", env.getenv("TRIALOG_LOG_KEY"), "the log's public key, name+hash+base64 as trialog log prints it, or @FILE holding it (env TRIALOG_LOG_KEY); "+what)
}

// readToken reads an API token from a file.
func readToken(path string) (string, error) {
	if path == "" {
		return "", usageErrorf("--token-file (or TRIALOG_TOKEN_FILE) is required: the file holding your API token")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \n\t") {
		return "", fmt.Errorf("the token file %s does not hold one token", path)
	}
	return tok, nil
}

// logKey resolves a --log-key value: the key itself or @FILE.
func logKey(v string) (string, error) {
	if rest, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(rest)
		if err != nil {
			return "", fmt.Errorf("reading the log key: %w", err)
		}
		v = string(b)
	}
	return strings.TrimSpace(v), nil
}

// logVerifier returns a verifier for the log key given, or, when none is
// given, for the key the server announces (trusted on first use; the
// returned note says so).
func logVerifier(ctx context.Context, c *client.Client, keyFlag string) (*client.Verifier, string, string, error) {
	key, err := logKey(keyFlag)
	if err != nil {
		return nil, "", "", err
	}
	note := ""
	if key == "" {
		info, err := c.Log(ctx)
		if err != nil {
			return nil, "", "", fmt.Errorf("asking %s for the log's key: %w", c.URL, err)
		}
		key = info.PublicKey
		note = "checked against the key the server announced; pin it with --log-key"
	}
	v, err := client.NewVerifier(key)
	if err != nil {
		return nil, "", "", err
	}
	return v, key, note, nil
}

func oneSentence(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\n", " ")
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
