package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/personality/api"
	"github.com/trialog/trialog/personality/envelope"
	"github.com/trialog/trialog/statement"
)

// testServer is trialogd running in this process on its own listener.
type testServer struct {
	URL     string
	cfg     config
	cancel  context.CancelFunc
	done    chan error
	started bool
}

// testConfig is a trialogd configuration for tests: a fresh data dir, short
// intervals.
func testConfig(t *testing.T, dsn string) config {
	return config{
		mysqlDSN:           dsn,
		dataDir:            t.TempDir(),
		origin:             "test.trialog.example/log",
		checkpointInterval: 20 * time.Millisecond,
		sequencerInterval:  20 * time.Millisecond,
		sequencerBatch:     4096,
		maxBatch:           1000,
		queueSize:          8192,
		shutdownTimeout:    10 * time.Second,
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startServer runs trialogd with cfg and waits until /readyz answers 200.
func startServer(t *testing.T, cfg config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{URL: "http://" + ln.Addr().String(), cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() { s.done <- serve(ctx, cfg, logger, ln) }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			t.Fatalf("trialogd exited during start: %v", err)
		default:
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.started = true
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("trialogd did not become ready within 60s")
	return nil
}

// stop shuts the server down as SIGTERM does and waits for it.
func (s *testServer) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("trialogd stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("trialogd did not stop within 30s")
	}
}

func (s *testServer) adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.cfg.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// principal is a registered principal with its key, for tests.
type principal struct {
	api.CreatedPrincipal
	priv ed25519.PrivateKey
	c    *client.Client
}

func (s *testServer) newPrincipal(t *testing.T, name, role string) *principal {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	admin := client.New(s.URL, s.adminToken(t))
	cp, err := admin.CreatePrincipal(context.Background(), api.NewPrincipal{Name: name, Role: role, PublicKeys: []string{base64.StdEncoding.EncodeToString(pub)}})
	if err != nil {
		t.Fatalf("creating principal %s: %v", name, err)
	}
	return &principal{CreatedPrincipal: *cp, priv: priv, c: client.New(s.URL, cp.Token)}
}

// digestStatement is a record.digest statement for doc.
func digestStatement(doc string) []byte {
	sum := sha256.Sum256([]byte(doc))
	b, _ := json.Marshal(map[string]any{
		"type":       "record.digest",
		"digest":     map[string]string{"sha256": hex.EncodeToString(sum[:])},
		"media_type": "application/pdf",
		"source":     "ehr.test.example",
		"issued_at":  "2026-11-23T14:00:00Z",
	})
	return b
}

func (p *principal) sign(payload []byte) envelope.Envelope {
	return envelope.Sign(statement.PayloadType, payload, p.priv)
}

// request sends a raw request and returns status, headers and body.
func request(t *testing.T, method, url, token, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// independentCheckpoint opens a checkpoint with golang.org/x/mod/sumdb/note
// and parses the C2SP tlog-checkpoint body by hand, sharing no code with
// trialogd.
func independentCheckpoint(t *testing.T, vkey string, signed []byte) (origin string, size int64, root tlog.Hash) {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint signature does not verify: %v\n%s", err, signed)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		t.Fatalf("checkpoint body is not origin/size/hash lines: %q", n.Text)
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		t.Fatalf("checkpoint root %q is not a base64 SHA-256", lines[2])
	}
	copy(root[:], h)
	return lines[0], size, root
}

func decodeProof(t *testing.T, hs []string) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(hs))
	for i, s := range hs {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			t.Fatalf("proof hash %d %q is not a base64 SHA-256", i, s)
		}
		copy(out[i][:], b)
	}
	return out
}

// verifyEntryIndependently checks an included entry with x/mod's tlog and
// note: checkpoint signature, leaf hash, inclusion proof and the envelope in
// the leaf. It returns the checkpoint's size and root.
func verifyEntryIndependently(t *testing.T, vkey string, e *api.Entry) (int64, tlog.Hash) {
	t.Helper()
	if e.Status != "included" || e.InclusionProof == nil {
		t.Fatalf("entry %s is %s without a proof", e.ID, e.Status)
	}
	_, size, root := independentCheckpoint(t, vkey, []byte(e.Checkpoint))
	if e.InclusionProof.TreeSize != size || e.InclusionProof.LeafIndex != e.LeafIndex {
		t.Fatalf("proof is for index %d size %d, entry %d checkpoint %d", e.InclusionProof.LeafIndex, e.InclusionProof.TreeSize, e.LeafIndex, size)
	}
	leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	lh := tlog.RecordHash(leaf) // SHA-256(0x00 ‖ leaf)
	if hex.EncodeToString(lh[:]) != e.LeafHash {
		t.Fatalf("leaf_hash %s is not SHA-256(0x00‖leaf) %x", e.LeafHash, lh)
	}
	if err := tlog.CheckRecord(decodeProof(t, e.InclusionProof.Hashes), size, root, e.LeafIndex, lh); err != nil {
		t.Fatalf("inclusion proof of entry %d in tree %d does not verify: %v", e.LeafIndex, size, err)
	}
	var l struct {
		Envelope   api.Envelope `json:"envelope"`
		ReceivedAt string       `json:"received_at"`
	}
	if err := json.Unmarshal(leaf, &l); err != nil {
		t.Fatalf("leaf is not JSON: %v", err)
	}
	if l.ReceivedAt != e.ReceivedAt || l.Envelope.Payload != e.Envelope.Payload || l.Envelope.Signatures[0].Sig != e.Envelope.Signatures[0].Sig {
		t.Fatal("the leaf does not hold the entry's envelope and time")
	}
	return size, root
}

// checkConsistencyIndependently fetches and verifies a consistency proof
// between two checkpoints with tlog.CheckTree.
func checkConsistencyIndependently(t *testing.T, url string, n int64, h tlog.Hash, m int64, th tlog.Hash) {
	t.Helper()
	if n == m {
		if h != th {
			t.Fatalf("two checkpoints of size %d with different roots", n)
		}
		return
	}
	status, _, body := request(t, http.MethodGet, fmt.Sprintf("%s/v1/proofs/consistency?from=%d&to=%d", url, m, n), "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("consistency %d→%d: %d %s", m, n, status, body)
	}
	var p api.ConsistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(decodeProof(t, p.Hashes), n, h, m, th); err != nil {
		t.Fatalf("tree %d is not consistent with tree %d: %v", n, m, err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digestOf(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

func TestMain(m *testing.M) {
	// Trillian's klog lines would otherwise go to stderr, outside t.Log.
	routeKlog(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
