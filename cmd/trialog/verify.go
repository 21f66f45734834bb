package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/trialog/trialog/receipt"
)

// verifyItem is one receipt to verify, with the file it should notarize.
type verifyItem struct {
	path string
	file string // "" when no file is checked

	vr      *receipt.Verified
	matched string // where the file's digest is in the statement
	err     error
}

// verifyChunk is how many receipts one worker verifies together: their
// statement signatures are checked in one batch.
const verifyChunk = 1024

func runVerify(ctx context.Context, env *environ, args []string) error {
	c := commands()["verify"]
	fs := flagsWith(env, "verify", c.summary, c.example, " RECEIPT|DIR…")
	keyFlag := logKeyFlag(fs, env, "required")
	file := fs.String("file", "", "the file the receipt notarizes: its SHA-256 must be a digest in the statement (one receipt only)")
	files := fs.String("files", "", "directory of the files that the receipts notarize: DIR/x for RECEIPTS/x.receipt, as submit writes them")
	quiet := fs.Bool("q", false, "print nothing for valid receipts")
	verbose := fs.Bool("v", false, "print each receipt's statement, signers and checkpoint")
	policy := witnessPolicyFlag(fs, env)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageErrorf("name at least one receipt file or directory")
	}
	key, err := logKey(*keyFlag)
	if err != nil {
		return err
	}
	if key == "" {
		return usageErrorf("--log-key (or TRIALOG_LOG_KEY) is required: the log's public key, as trialog log prints it")
	}
	v, err := receipt.NewVerifier(key)
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
	items, err := listReceipts(rest, *files)
	if err != nil {
		return err
	}
	if *file != "" {
		if len(items) != 1 {
			return usageErrorf("--file checks one receipt; use --files DIR for many")
		}
		items[0].file = *file
	}
	verifyItems(ctx, v, items)

	failed := 0
	for _, it := range items {
		if it.err != nil {
			failed++
			fmt.Fprintf(env.stderr, "trialog verify: %s: %s\n", it.path, oneSentence(it.err.Error()))
			continue
		}
		switch {
		case *verbose:
			printVerified(env, it)
		case !*quiet:
			line := fmt.Sprintf("ok  %s  %s  leaf %d  received %s  entry %s", it.path, orUnknown(it.vr.StatementType()), it.vr.LeafIndex, it.vr.ReceivedAt, it.vr.EntryID)
			if it.file != "" {
				line += "  file " + it.file
			}
			line += revocationNote(it.vr)
			fmt.Fprintln(env.stdout, line)
		}
	}
	if len(items) > 1 && !*quiet {
		fmt.Fprintf(env.stdout, "%d of %d receipts valid\n", len(items)-failed, len(items))
	}
	if failed > 0 {
		return errReported{failed}
	}
	return ctx.Err()
}

// revocationNote says, for a receipt whose signer's key was revoked since,
// that the entry was logged before the revocation: it stays valid.
func revocationNote(vr *receipt.Verified) string {
	var parts []string
	for _, s := range vr.Revocations() {
		parts = append(parts, fmt.Sprintf("logged before key %s was revoked at leaf %d", s.KeyID()[:16], *s.RevokedIndex))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  (valid: " + strings.Join(parts, "; ") + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown type)"
	}
	return s
}

func printVerified(env *environ, it *verifyItem) {
	vr := it.vr
	w := env.stdout
	fmt.Fprintf(w, "%s: valid\n", it.path)
	fmt.Fprintf(w, "  log        %s, checkpoint of size %d, root %s\n", vr.Origin, vr.TreeSize, base64.StdEncoding.EncodeToString(vr.RootHash))
	fmt.Fprintf(w, "  leaf       %d, received %s\n", vr.LeafIndex, vr.ReceivedAt)
	fmt.Fprintf(w, "  entry      %s\n", vr.EntryID)
	fmt.Fprintf(w, "  statement  %s\n", vr.Payload)
	for _, s := range vr.Signers {
		reg := "no key entry: the key is not a principal's (trialogd's service key is given by trialog log)"
		if s.KeyEntry != "" {
			reg = "registered by entry " + s.KeyEntry
			if s.KeyIndex != nil {
				reg += fmt.Sprintf(" at leaf %d", *s.KeyIndex)
			}
			reg += " (check it with trialog entry " + s.KeyEntry + ")"
		}
		if s.RevokedIndex != nil {
			reg += fmt.Sprintf("; revoked at leaf %d, after this entry: the signature counts", *s.RevokedIndex)
		}
		fmt.Fprintf(w, "  signed by  key %s, %s\n", s.KeyID(), reg)
	}
	if it.file != "" {
		fmt.Fprintf(w, "  file       %s matches %s\n", it.file, it.matched)
	}
}

// listReceipts expands arguments: files are receipts; directories are
// searched for *.receipt. With filesDir, each receipt is paired with the
// file it should notarize.
func listReceipts(args []string, filesDir string) ([]*verifyItem, error) {
	var items []*verifyItem
	for _, a := range args {
		fi, err := os.Stat(a)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", a)
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			it := &verifyItem{path: a}
			if filesDir != "" {
				it.file = filepath.Join(filesDir, strings.TrimSuffix(filepath.Base(a), ".receipt"))
			}
			items = append(items, it)
			continue
		}
		n := len(items)
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".receipt") {
				return nil
			}
			it := &verifyItem{path: path}
			if filesDir != "" {
				rel, err := filepath.Rel(a, path)
				if err != nil {
					return err
				}
				it.file = filepath.Join(filesDir, strings.TrimSuffix(rel, ".receipt"))
			}
			items = append(items, it)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", a, err)
		}
		if len(items) == n {
			return nil, fmt.Errorf("%s holds no .receipt files", a)
		}
	}
	return items, nil
}

// verifyItems verifies receipts in chunks, on every core.
func verifyItems(ctx context.Context, v *receipt.Verifier, items []*verifyItem) {
	chunks := make(chan []*verifyItem)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range chunks {
				verifyChunkOf(v, chunk)
			}
		}()
	}
	for start := 0; start < len(items); start += verifyChunk {
		if ctx.Err() != nil {
			for _, it := range items[start:] {
				it.err = ctx.Err()
			}
			break
		}
		chunks <- items[start:min(start+verifyChunk, len(items))]
	}
	close(chunks)
	wg.Wait()
}

func verifyChunkOf(v *receipt.Verifier, chunk []*verifyItem) {
	var rs []*receipt.Receipt
	var owners []*verifyItem
	for _, it := range chunk {
		b, err := os.ReadFile(it.path)
		if err != nil {
			it.err = err
			continue
		}
		r, err := receipt.Parse(b)
		if err != nil {
			it.err = fmt.Errorf("%s: %w", receipt.CheckFormat, err)
			continue
		}
		rs, owners = append(rs, r), append(owners, it)
	}
	out, errs := v.VerifyAll(rs)
	for i, it := range owners {
		if it.err = errs[i]; it.err != nil {
			continue
		}
		it.vr = out[i]
		if it.file == "" {
			continue
		}
		sum, err := hashFile(it.file)
		if err != nil {
			it.err = fmt.Errorf("%s: %w", receipt.CheckFile, err)
			continue
		}
		it.matched, it.err = out[i].FindDigest(sum)
	}
}
