package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testserver"
)

// fakeLog mimics trialogd's /v1/checkpoint and /v1/proofs/consistency with
// whatever the test sets.
type fakeLog struct {
	checkpoint []byte
	proof      *api.ConsistencyProof
}

func (f *fakeLog) serve(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/checkpoint":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(f.checkpoint)
		case "/v1/proofs/consistency":
			if f.proof == nil {
				http.Error(w, `{"error":{"code":"invalid_argument","message":"no proof"}}`, http.StatusBadRequest)
				return
			}
			json.NewEncoder(w).Encode(f.proof)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// logSigner is the log's own note signer, read from <data-dir>/log.key.
func logSigner(t *testing.T, srv *testserver.Server) note.Signer {
	t.Helper()
	skey := readFile(t, filepath.Join(srv.Config.DataDir, "log.key"))
	s, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signCheckpoint(t *testing.T, s note.Signer, cp log.Checkpoint) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHash() []byte {
	h := make([]byte, 32)
	rand.Read(h)
	return h
}

// evidence returns the evidence directories in state.
func evidence(t *testing.T, state string) []string {
	t.Helper()
	ds, _ := filepath.Glob(filepath.Join(state, evidencePrefix+"*"))
	return ds
}

// TestAudit runs audit against the real log as it grows, then against
// servers that present checkpoints signed with the log's own key (read
// from log.key) for a forked or rolled-back tree: audit exits 2, prints
// both checkpoints and keeps them.
func TestAudit(t *testing.T) {
	w := newWorld(t)
	c := w.cli
	state := filepath.Join(w.dir, "audit")
	ctx := context.Background()

	// First run: quiet, saves the checkpoint.
	r := c.run("audit", "--state", state).ok(t)
	if r.stdout != "" || r.stderr != "" {
		t.Fatalf("audit is not quiet on success: %q %q", r.stdout, r.stderr)
	}
	first := readFile(t, filepath.Join(state, stateCheckpoint))

	// The log grows: consistent.
	doc := filepath.Join(w.dir, "doc.txt")
	writeFile(t, doc, "grow")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", doc+".receipt").ok(t)
	c.run("audit", "--state", state, "-v").ok(t).has(t, "consistently")
	c.run("audit", "--state", state, "-v").ok(t).has(t, "unchanged")
	saved := readFile(t, filepath.Join(state, stateCheckpoint))
	info, err := client.New(w.srv.URL, "").Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(saved) != info.Checkpoint {
		t.Fatal("audit did not save the latest checkpoint")
	}
	size := info.TreeSize

	signer := logSigner(t, w.srv)
	fake := &fakeLog{}
	fs := fake.serve(t)
	for _, tc := range []struct {
		name  string
		cp    []byte
		proof *api.ConsistencyProof
		msg   string
	}{
		{"same size, another root", signCheckpoint(t, signer, log.Checkpoint{Origin: w.srv.Config.Origin, Size: size, Hash: randomHash()}), nil,
			fmt.Sprintf("the log forked: it signed two different roots for size %d", size)},
		{"rollback to an earlier checkpoint", first, nil, "the log rolled back"},
		{"rollback to a new smaller tree", signCheckpoint(t, signer, log.Checkpoint{Origin: w.srv.Config.Origin, Size: size - 1, Hash: randomHash()}), nil, "the log rolled back"},
		{"larger, inconsistent", signCheckpoint(t, signer, log.Checkpoint{Origin: w.srv.Config.Origin, Size: size + 3, Hash: randomHash()}),
			&api.ConsistencyProof{From: int64(size), To: int64(size + 3), Hashes: b64s(randomHash(), randomHash(), randomHash())},
			"is not consistent with the saved one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.checkpoint, fake.proof = tc.cp, tc.proof
			before := evidence(t, state)
			r := c.run("audit", "--url", fs.URL, "--state", state).fails(t, exitFork, tc.msg, "evidence kept in")
			r.has(t, string(saved), string(tc.cp))
			after := evidence(t, state)
			if len(after) != len(before)+1 {
				t.Fatalf("evidence directories: %v, then %v", before, after)
			}
			dir := after[len(after)-1]
			for _, f := range []string{"saved.checkpoint", "served.checkpoint", "README"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(readFile(t, filepath.Join(dir, "saved.checkpoint")), saved) || !bytes.Equal(readFile(t, filepath.Join(dir, "served.checkpoint")), tc.cp) {
				t.Fatal("the evidence is not the two checkpoints")
			}
			if tc.proof != nil {
				if _, err := os.Stat(filepath.Join(dir, "consistency-proof.json")); err != nil {
					t.Fatal(err)
				}
			}
			// The saved state is not replaced by the bad checkpoint.
			if !bytes.Equal(readFile(t, filepath.Join(state, stateCheckpoint)), saved) {
				t.Fatal("audit replaced the saved checkpoint with a bad one")
			}
			// Evidence of both checkpoints verifies with the log key:
			// both are the log's own signed statements.
			for _, f := range []string{"saved.checkpoint", "served.checkpoint"} {
				testserver.IndependentCheckpoint(t, w.logKey, readFile(t, filepath.Join(dir, f)))
			}
		})
	}

	// Not a fork: a checkpoint that the log's key did not sign (exit 1,
	// nothing saved); a log that cannot prove consistency (exit 1).
	other, _, _ := note.GenerateKey(rand.Reader, w.srv.Config.Origin)
	otherSigner, _ := note.NewSigner(other)
	fake.checkpoint = signCheckpoint(t, otherSigner, log.Checkpoint{Origin: w.srv.Config.Origin, Size: size + 1, Hash: randomHash()})
	n := len(evidence(t, state))
	c.run("audit", "--url", fs.URL, "--state", state).fails(t, exitFailure, "does not verify with the log key")
	fake.checkpoint, fake.proof = signCheckpoint(t, signer, log.Checkpoint{Origin: w.srv.Config.Origin, Size: size + 1, Hash: randomHash()}), nil
	c.run("audit", "--url", fs.URL, "--state", state).fails(t, exitFailure, "fetching the consistency proof")
	if len(evidence(t, state)) != n {
		t.Fatal("evidence kept for something that is not a fork")
	}

	// The real log is still consistent with the saved checkpoint.
	writeFile(t, doc, "grow again")
	c.run("submit", "--key", w.keyFile, "--type", "record.digest", "--file", doc, "--receipt", doc+".2.receipt").ok(t)
	if grown, err := client.New(w.srv.URL, "").Log(ctx); err != nil || grown.TreeSize <= size {
		t.Fatalf("the submission's receipt came before a checkpoint of size > %d: %v", size, err)
	}
	c.run("audit", "--state", state, "-v").ok(t).has(t, "consistently")

	// Usage.
	c.run("audit").fails(t, exitUsage, "--state DIR is required")
	delete(c.env, "TRIALOG_LOG_KEY")
	c.run("audit", "--state", state).fails(t, exitUsage, "--log-key")
}

func b64s(hs ...[]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h)
	}
	return out
}
