// Command trialog is the command-line client of a trialog log: it submits
// signed statements, and verifies every checkpoint and proof it receives.
//
//	trialog demo --url http://127.0.0.1:8080 --admin-token-file .data/admin.token
//	trialog log --url http://127.0.0.1:8080
//
// Exit codes: 0 success, 1 failure (the reason on stderr in one sentence),
// 2 usage error.
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
}

var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"demo": {"register a demo principal, notarize a sample document and verify its proof",
			"trialog demo --url http://127.0.0.1:8080 --admin-token-file .data/admin.token", runDemo},
		"log": {"show the log's origin, key and size, with its checkpoint verified",
			"trialog log --url http://127.0.0.1:8080", runLog},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env := &environ{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv}
	os.Exit(runMain(ctx, env, os.Args[1:]))
}

func runMain(ctx context.Context, env *environ, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "trialog: unknown command %q; run trialog --help for the list.\n", args[0])
		return 2
	}
	err := c.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "trialog %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(env.stderr, "trialog %s: %v\n", args[0], oneSentence(err))
		return 1
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: trialog COMMAND [flags]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun trialog COMMAND --help for its flags and an example.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 usage error.")
}

// flags returns a flag set for a command that prints its example in --help.
func flags(env *environ, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	c := commands()[name]
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "trialog %s: %s\n\nExample:\n  %s\n\nFlags:\n", name, c.summary, c.example)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; errors are usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

// urlFlag adds --url, defaulting to $TRIALOG_URL.
func urlFlag(fs *flag.FlagSet, env *environ) *string {
	def := env.getenv("TRIALOG_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	return fs.String("url", def, "trialogd base URL (env TRIALOG_URL)")
}

func oneSentence(err error) string {
	s := strings.TrimSpace(err.Error())
	s = strings.ReplaceAll(s, "\n", " ")
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
