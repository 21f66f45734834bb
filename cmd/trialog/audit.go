package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
)

// The files an audit state directory holds.
const (
	stateCheckpoint = "checkpoint" // the last checkpoint verified consistent
	evidencePrefix  = "evidence-"  // one directory per fork or rollback seen
)

// runAudit fetches the log's latest checkpoint and checks that it extends
// the last one saved in the state directory: same tree, or a consistency
// proof from it. A smaller tree (rollback), another root for the same size,
// or a proof that does not verify (fork) exits 2 and keeps both signed
// checkpoints as evidence; the saved one is not replaced, so every later
// run exits 2 too until someone looks.
func runAudit(ctx context.Context, env *environ, args []string) error {
	fl := flags(env, "audit")
	url := urlFlag(fl, env)
	keyFlag := logKeyFlag(fl, env, "required")
	state := fl.String("state", "", "directory that keeps the last checkpoint seen and the evidence of any fork (required)")
	verbose := fl.Bool("v", false, "say what was checked even when all is well (audit is quiet on success, for cron)")
	policy := witnessPolicyFlag(fl, env)
	if err := parse(fl, args); err != nil {
		return err
	}
	key, err := logKey(*keyFlag)
	if err != nil {
		return err
	}
	if key == "" {
		return usageErrorf("--log-key (or TRIALOG_LOG_KEY) is required: the log's public key, as trialog log prints it")
	}
	if *state == "" {
		return usageErrorf("--state DIR is required: where the last checkpoint seen is kept")
	}
	v, err := client.NewVerifier(key)
	if err != nil {
		return err
	}
	check, err := cosignatureCheck(*policy)
	if err != nil {
		return err
	}
	if check != nil {
		v.RequireCosignatures(check)
	}
	if err := os.MkdirAll(*state, 0o755); err != nil {
		return err
	}
	c := client.New(*url, "")
	served, err := c.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("fetching the checkpoint from %s: %w", *url, err)
	}
	latest, err := v.Checkpoint(served)
	if err != nil {
		return fmt.Errorf("the checkpoint %s serves does not verify with the log key and witness policy (%v); nothing was saved", *url, err)
	}
	savedPath := filepath.Join(*state, stateCheckpoint)
	saved, err := os.ReadFile(savedPath)
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(savedPath, served, 0o644); err != nil {
			return err
		}
		if *verbose {
			fmt.Fprintf(env.stdout, "first checkpoint of %s: size %d, root %s; saved in %s\n", latest.Origin, latest.Size, b64(latest.Hash), savedPath)
		}
		return nil
	}
	if err != nil {
		return err
	}
	prev, err := v.Checkpoint(saved)
	if err != nil {
		return fmt.Errorf("the saved checkpoint %s does not verify with this log key (%v); is it another log's state directory", savedPath, err)
	}

	var p *api.ConsistencyProof
	var why string
	switch {
	case latest.Size < prev.Size:
		why = fmt.Sprintf("the log rolled back: it serves a checkpoint of size %d after one of size %d", latest.Size, prev.Size)
	case latest.Size == prev.Size:
		if !bytes.Equal(latest.Hash, prev.Hash) {
			why = fmt.Sprintf("the log forked: it signed two different roots for size %d", latest.Size)
		}
	case prev.Size == 0:
		// SPEC: RFC 6962 §2.1: the empty tree's hash is SHA-256 of nothing;
		// it is a prefix of every tree.
		if empty := sha256.Sum256(nil); !bytes.Equal(prev.Hash, empty[:]) {
			why = "the log forked: the saved checkpoint of size 0 has a root other than the empty tree's"
		}
	default:
		p, err = c.ConsistencyProof(ctx, int64(prev.Size), int64(latest.Size))
		if err != nil {
			return fmt.Errorf("fetching the consistency proof from size %d to %d: %w", prev.Size, latest.Size, err)
		}
		if err := client.VerifyConsistency(p, prev, latest); err != nil {
			why = fmt.Sprintf("the log forked: its checkpoint of size %d is not consistent with the saved one of size %d (%v)", latest.Size, prev.Size, err)
		}
	}
	if why != "" {
		dir, err := keepEvidence(*state, saved, served, p, why)
		if err != nil {
			return fmt.Errorf("%s, and saving the evidence failed: %w", why, err)
		}
		w := env.stdout
		fmt.Fprintf(w, "%s.\n\nsaved checkpoint (%s):\n%s\nserved checkpoint (%s/v1/checkpoint):\n%s\nevidence kept in %s\n", why, savedPath, saved, *url, served, dir)
		return &exitError{code: exitFork, err: fmt.Errorf("%s; evidence kept in %s", why, dir)}
	}
	if err := writeFileAtomic(savedPath, served, 0o644); err != nil {
		return err
	}
	if *verbose {
		if latest.Size == prev.Size {
			fmt.Fprintf(env.stdout, "%s unchanged: size %d, root %s\n", latest.Origin, latest.Size, b64(latest.Hash))
		} else {
			fmt.Fprintf(env.stdout, "%s grew from size %d to %d, consistently; root %s; saved\n", latest.Origin, prev.Size, latest.Size, b64(latest.Hash))
		}
	}
	return nil
}

// keepEvidence writes both signed checkpoints, the proof if any and a note
// into a new directory of the state directory.
func keepEvidence(state string, saved, served []byte, p *api.ConsistencyProof, why string) (string, error) {
	base := filepath.Join(state, evidencePrefix+time.Now().UTC().Format("20060102T150405Z"))
	dir := base
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	files := map[string][]byte{
		"saved.checkpoint":  saved,
		"served.checkpoint": served,
		"README":            []byte(why + ".\nBoth checkpoints are signed with the log's key: together they prove it.\n"),
	}
	if p != nil {
		b, _ := json.MarshalIndent(p, "", "  ")
		files["consistency-proof.json"] = append(b, '\n')
	}
	for name, b := range files {
		if err := writeFileAtomic(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
