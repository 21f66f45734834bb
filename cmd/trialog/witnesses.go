package main

import (
	"flag"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/witness"
)

// witnessPolicyFlag adds --witness-policy (env TRIALOG_WITNESS_POLICY).
func witnessPolicyFlag(fs *flag.FlagSet, env *environ) *string {
	return fs.String("witness-policy", env.getenv("TRIALOG_WITNESS_POLICY"),
		"witness policy file (Sigsum/Tessera format): refuse checkpoints without its quorum of valid cosignatures (env TRIALOG_WITNESS_POLICY)")
}

// cosignatureCheck reads a witness policy and returns the check that a
// checkpoint carries its quorum, or nil when no policy is given.
func cosignatureCheck(path string) (func([]byte, note.Verifier) error, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the witness policy: %w", err)
	}
	p, err := witness.ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func(signed []byte, log note.Verifier) error {
		_, err := p.Verify(signed, log)
		return err
	}, nil
}
