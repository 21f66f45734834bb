package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/statement"
)

// maxBatch is the most envelopes one POST /v1/entries:batch takes.
const maxBatch = 1000

// target is one file to notarize (or, with no file, the statement alone).
type target struct {
	path    string // the file; "" for a statement without a file
	receipt string // where its receipt goes
	sum     []byte // the file's SHA-256

	payload []byte
	env     envelope.Envelope
	id      string // the entry id of env
	entry   *api.Entry
	fresh   bool // logged by this run (HTTP 201), not before
	err     error
}

type submitter struct {
	env     *environ
	c       *client.Client
	cv      *client.Verifier
	rv      *receipt.Verifier
	priv    ed25519.PrivateKey
	signer  receipt.Signer
	wait    time.Duration
	logNote string
	out     string // --receipt
}

func runSubmit(ctx context.Context, env *environ, args []string) error {
	fs := flags(env, "submit")
	url := urlFlag(fs, env)
	tokenFile := tokenFileFlag(fs, env)
	keyFile := fs.String("key", "", "your signing key, PREFIX.key from trialog keygen (required)")
	typ := fs.String("type", "", "statement type, such as record.digest or trial.protocol (required)")
	var files, sets stringList
	fs.Var(&files, "file", "a file or directory to notarize (repeatable); only its SHA-256 leaves this machine")
	fs.Var(&sets, "set", "a statement field, key=value for a string or key:=JSON for any value; dotted keys nest (repeatable)")
	jsonFile := fs.String("json", "", "file holding the statement as a JSON object; --type, --set and each file's digest are added")
	out := fs.String("receipt", "", "where receipts go: a file for one file or a statement alone, else a directory (required)")
	field := fs.String("digest-field", "", "statement field that holds a file's digest (default by type: digest, document, manifest or registry_snapshot)")
	keyFlag := logKeyFlag(fs, env, "checks every answer (default: the key the server announces)")
	wait := fs.Duration("wait", 30*time.Second, "how long the server may take to prove a request (at most 30s)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *typ == "":
		return usageErrorf("--type is required, such as --type record.digest")
	case *out == "":
		return usageErrorf("--receipt is required: where to write the receipt")
	case *wait <= 0:
		return usageErrorf("--wait must be positive")
	}
	tmpl, err := buildTemplate(*typ, *jsonFile, sets, time.Now())
	if err != nil {
		return err
	}
	if len(files) > 0 {
		if *field == "" {
			*field = digestFields[*typ]
		}
		if *field == "" {
			return usageErrorf("statements of type %s have no document field trialog knows; name it with --digest-field", *typ)
		}
		if err := tmpl.checkDigestField(*field); err != nil {
			return err
		}
	} else {
		*field = ""
	}
	priv, err := loadKey(*keyFile)
	if err != nil {
		return err
	}
	tok, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	targets, single, err := listTargets(files, *out)
	if err != nil {
		return err
	}
	c := client.New(*url, tok)
	cv, key, note, err := logVerifier(ctx, c, *keyFlag)
	if err != nil {
		return err
	}
	rv, err := receipt.NewVerifier(key)
	if err != nil {
		return err
	}
	s := &submitter{env: env, c: c, cv: cv, rv: rv, priv: priv, wait: min(*wait, 30*time.Second), logNote: note, out: *out,
		signer: receipt.Signer{PublicKey: priv.Public().(ed25519.PublicKey)}}
	return s.run(ctx, tmpl, *field, targets, single)
}

// listTargets expands --file arguments: one regular file gives one target
// whose receipt is out; anything else makes out a directory holding
// <path relative to the argument>.receipt for each file (a file argument
// gives <its name>.receipt). Files under out itself are left out.
func listTargets(args []string, out string) ([]*target, bool, error) {
	if len(args) == 0 {
		return []*target{{receipt: out}}, true, nil
	}
	if len(args) == 1 {
		if fi, err := os.Stat(args[0]); err == nil && fi.Mode().IsRegular() {
			return []*target{{path: args[0], receipt: out}}, true, nil
		}
	}
	outAbs, _ := filepath.Abs(out)
	var ts []*target
	seen := map[string]string{}
	add := func(path, rel string) error {
		r := filepath.Join(out, rel+".receipt")
		if prev, ok := seen[r]; ok {
			return usageErrorf("%s and %s would share the receipt %s", prev, path, r)
		}
		seen[r] = path
		ts = append(ts, &target{path: path, receipt: r})
		return nil
	}
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, false, fmt.Errorf("--file %s: %w", a, err)
		}
		if fi.Mode().IsRegular() {
			if err := add(a, filepath.Base(a)); err != nil {
				return nil, false, err
			}
			continue
		}
		if !fi.IsDir() {
			return nil, false, fmt.Errorf("--file %s is neither a regular file nor a directory", a)
		}
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if abs, _ := filepath.Abs(path); abs == outAbs {
				return filepath.SkipDir // the receipts themselves
			}
			if d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(a, path)
			if err != nil {
				return err
			}
			return add(path, rel)
		})
		if err != nil {
			return nil, false, fmt.Errorf("listing %s: %w", a, err)
		}
	}
	if len(ts) == 0 {
		return nil, false, fmt.Errorf("no files to notarize in %s", strings.Join(args, ", "))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].receipt < ts[j].receipt })
	return ts, false, nil
}

func (s *submitter) run(ctx context.Context, tmpl statementTemplate, field string, ts []*target, single bool) error {
	if err := s.hashAll(ctx, ts); err != nil {
		return err
	}
	// Resume: files whose receipt exists and verifies are done.
	var todo []*target
	skipped := 0
	for _, t := range ts {
		done, err := s.alreadyDone(t)
		switch {
		case err != nil:
			t.err = err
		case done:
			skipped++
		default:
			todo = append(todo, t)
		}
	}
	for _, t := range todo {
		payload, err := tmpl.withDigest(field, hex.EncodeToString(t.sum))
		if err != nil {
			return err
		}
		t.payload = payload
		t.env = envelope.Sign(statement.PayloadType, payload, s.priv)
		pe, err := envelope.Check(t.env)
		if err != nil {
			return err
		}
		t.id = pe.ID
	}
	if len(todo) > 0 {
		if single {
			s.submitOne(ctx, todo[0])
		} else {
			s.submitBatches(ctx, todo)
		}
		s.awaitInclusion(ctx, todo)
		s.learnKeyEntry(ctx, todo)
		s.writeReceipts(todo)
	}
	return s.report(ts, todo, skipped, single)
}

// hashAll computes each file's SHA-256, on every core.
func (s *submitter) hashAll(ctx context.Context, ts []*target) error {
	bar := newProgress(s.env.progress, "hashing", len(ts))
	defer bar.finish()
	work := make(chan *target)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if t.path == "" {
					continue
				}
				sum, err := hashFile(t.path)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("hashing %s: %w", t.path, err)
				}
				t.sum = sum
				bar.add(1)
				mu.Unlock()
			}
		}()
	}
	for _, t := range ts {
		if ctx.Err() != nil {
			break
		}
		work <- t
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func hashFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// alreadyDone reports whether t's receipt exists and proves t's file with
// this key. An existing receipt that does not is an error: it is never
// overwritten.
func (s *submitter) alreadyDone(t *target) (bool, error) {
	b, err := os.ReadFile(t.receipt)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if t.path == "" {
		return false, fmt.Errorf("%s exists already; choose another --receipt", t.receipt)
	}
	r, err := receipt.Parse(b)
	if err != nil {
		return false, fmt.Errorf("%s exists and is not a receipt (%v); move it away to notarize the file", t.receipt, err)
	}
	vr, err := s.rv.Verify(r)
	if err != nil {
		return false, fmt.Errorf("%s exists and does not verify (%v); move it away to notarize the file", t.receipt, err)
	}
	if _, err := vr.FindDigest(t.sum); err != nil {
		return false, fmt.Errorf("the file changed since %s was made; move the old receipt away to notarize the new version", t.receipt)
	}
	return true, nil
}

func (s *submitter) submitOne(ctx context.Context, t *target) {
	for attempt := 0; ; attempt++ {
		e, status, err := s.c.Submit(ctx, t.env, s.wait)
		if err == nil {
			t.entry, t.fresh = e, status != http.StatusOK
			return
		}
		if !retryable(err) || attempt == 4 || sleep(ctx, retryDelay(err)) != nil {
			t.err = err
			return
		}
	}
}

// submitBatches sends the envelopes maxBatch at a time, retrying those the
// server could not take for now (429, 503).
func (s *submitter) submitBatches(ctx context.Context, ts []*target) {
	bar := newProgress(s.env.progress, "submitting", len(ts))
	defer bar.finish()
	pending := ts
	for attempt := 0; len(pending) > 0; attempt++ {
		var again []*target
		var delay time.Duration
		for start := 0; start < len(pending); start += maxBatch {
			chunk := pending[start:min(start+maxBatch, len(pending))]
			envs := make([]json.RawMessage, len(chunk))
			for i, t := range chunk {
				envs[i], _ = json.Marshal(t.env)
			}
			res, err := s.c.SubmitBatch(ctx, envs, s.wait)
			if err != nil {
				if retryable(err) && attempt < 4 {
					again, delay = append(again, chunk...), max(delay, retryDelay(err))
					continue
				}
				for _, t := range chunk {
					t.err = err
				}
				bar.add(len(chunk))
				continue
			}
			for i, r := range res {
				t := chunk[i]
				switch {
				case r.Entry != nil:
					t.entry, t.fresh = r.Entry, r.Status != http.StatusOK
					bar.add(1)
				case r.Error != nil && (r.Status == http.StatusServiceUnavailable || r.Status == http.StatusTooManyRequests) && attempt < 4:
					again, delay = append(again, t), max(delay, time.Second)
				case r.Error != nil:
					t.err = &client.APIError{Status: r.Status, Code: r.Error.Code, Message: r.Error.Message}
					bar.add(1)
				default:
					t.err = errors.New("the server answered neither an entry nor an error")
					bar.add(1)
				}
			}
		}
		if len(again) > 0 && sleep(ctx, delay) != nil {
			for _, t := range again {
				t.err = ctx.Err()
			}
			return
		}
		pending = again
	}
}

func retryable(err error) bool {
	return client.IsStatus(err, http.StatusServiceUnavailable) || client.IsStatus(err, http.StatusTooManyRequests)
}

func retryDelay(err error) time.Duration {
	var ae *client.APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, 30*time.Second)
	}
	return time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitInclusion fetches, until they are in a published checkpoint, the
// entries the server answered before proving them (its wait ran out). It
// polls the one with the highest leaf index: once that is published, so
// are the others, and each is fetched once with its proof.
func (s *submitter) awaitInclusion(ctx context.Context, ts []*target) {
	var pending []*target
	var last *target
	for _, t := range ts {
		if t.err == nil && t.entry.Status != api.StatusIncluded {
			pending = append(pending, t)
			if last == nil || t.entry.LeafIndex > last.entry.LeafIndex {
				last = t
			}
		}
	}
	if last == nil {
		return
	}
	fail := func(err error) {
		for _, t := range pending {
			t.err = err
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		e, err := s.c.Entry(ctx, last.entry.ID)
		if err != nil && !retryable(err) {
			fail(err)
			return
		}
		if err == nil && e.Status == api.StatusIncluded {
			break
		}
		if time.Now().After(deadline) {
			for _, t := range pending {
				t.err = fmt.Errorf("entry %s is logged but still not in a published checkpoint after 2 minutes; fetch its receipt later with trialog entry --receipt %s %s", t.entry.ID, t.receipt, t.entry.ID)
			}
			return
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			fail(err)
			return
		}
	}
	for _, t := range pending {
		e, err := s.c.Entry(ctx, t.entry.ID)
		switch {
		case err != nil:
			t.err = err
		case e.Status != api.StatusIncluded:
			t.err = fmt.Errorf("entry %s is not in the checkpoint that includes a later entry", e.ID)
		default:
			t.entry = e
		}
	}
}

// learnKeyEntry asks the server for one receipt, verifies it, and takes
// from it the id and leaf index of the principal.key entry that registered
// this key, for the receipts built here.
func (s *submitter) learnKeyEntry(ctx context.Context, ts []*target) {
	for _, t := range ts {
		if t.err != nil {
			continue
		}
		b, err := s.c.Receipt(ctx, t.entry.ID)
		if err != nil {
			return // an older server without receipts: receipts name no key entry
		}
		r, err := receipt.Parse(b)
		if err == nil {
			_, err = s.rv.Verify(r)
		}
		if err != nil {
			t.err = fmt.Errorf("the server's receipt for entry %s does not verify: %w", t.entry.ID, err)
			return
		}
		if len(r.Signers) == 1 && r.Signers[0].PublicKey.Equal(s.signer.PublicKey) {
			// The registration's leaf too; a revocation, should one
			// already exist, is left to receipts fetched later.
			s.signer.KeyEntry, s.signer.KeyIndex = r.Signers[0].KeyEntry, r.Signers[0].KeyIndex
		}
		return
	}
}

// writeReceipts verifies each answer completely, builds its receipt,
// verifies that too, and writes it.
func (s *submitter) writeReceipts(ts []*target) {
	var rs []*receipt.Receipt
	var owners []*target
	for _, t := range ts {
		if t.err != nil {
			continue
		}
		env, _, err := s.cv.Entry(t.entry)
		if err == nil && env.ID != t.id {
			err = errors.New("the server logged another envelope than the one submitted")
		}
		var r *receipt.Receipt
		if err == nil {
			r, err = receipt.FromEntry(t.entry, []receipt.Signer{s.signer})
		}
		if err != nil {
			t.err = fmt.Errorf("the answer for entry %s does not verify: %w", t.entry.ID, err)
			continue
		}
		rs, owners = append(rs, r), append(owners, t)
	}
	out, errs := s.rv.VerifyAll(rs)
	for i, t := range owners {
		if errs[i] != nil {
			t.err = fmt.Errorf("the receipt of entry %s does not verify: %w", t.entry.ID, errs[i])
			continue
		}
		if t.path != "" {
			if _, err := out[i].FindDigest(t.sum); err != nil {
				t.err = fmt.Errorf("the logged statement does not hold the digest of %s: %w", t.path, err)
				continue
			}
		}
		if err := writeFileAtomic(t.receipt, rs[i].Marshal(), 0o644); err != nil {
			t.err = err
		}
	}
}

func (s *submitter) report(all, todo []*target, skipped int, single bool) error {
	failed := 0
	for _, t := range all {
		if t.err != nil {
			failed++
			name := t.path
			if name == "" {
				name = "the statement"
			}
			fmt.Fprintf(s.env.stderr, "trialog submit: %s: %s\n", name, oneSentence(t.err.Error()))
		}
	}
	w := s.env.stdout
	if single {
		t := all[0]
		if t.err != nil {
			return errReported{failed}
		}
		name := t.path
		if name == "" {
			name = "statement"
		}
		if skipped == 1 {
			fmt.Fprintf(w, "%s is notarized already: %s verifies\n", name, t.receipt)
			return nil
		}
		how := "notarized"
		if !t.fresh {
			how = "was in the log already"
		}
		fmt.Fprintf(w, "%s %s\n  entry    %s\n  leaf     %d, received %s\n  receipt  %s\n", name, how, t.entry.ID, t.entry.LeafIndex, t.entry.ReceivedAt, t.receipt)
	} else {
		done := 0
		for _, t := range todo {
			if t.err == nil {
				done++
			}
		}
		fmt.Fprintf(w, "notarized %d files, %d had verified receipts already, %d failed; receipts in %s\n", done, skipped, failed, s.out)
	}
	if s.logNote != "" {
		fmt.Fprintf(w, "(proofs %s)\n", s.logNote)
	}
	if failed > 0 {
		return errReported{failed}
	}
	return nil
}

// writeFileAtomic writes a file through a temporary file and a rename, so
// that an interrupted run never leaves half a receipt.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
