// Package testserver runs a real trialogd in the test process, on a real
// MySQL database, and checks what it serves with verifiers that share no
// code with it (golang.org/x/mod/sumdb/tlog and note).
package testserver

import (
	"bytes"
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
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/statement"
)

// Server is trialogd running in this process on its own listener.
type Server struct {
	URL    string
	Config daemon.Config
	cancel context.CancelFunc
	done   chan error
}

// Config is a trialogd configuration for tests on dsn: a fresh data dir,
// short intervals.
func Config(t *testing.T, dsn string) daemon.Config {
	return daemon.Config{
		MySQLDSN:           dsn,
		DataDir:            t.TempDir(),
		Origin:             "test.trialog.example/log",
		CheckpointInterval: 20 * time.Millisecond,
		SequencerInterval:  20 * time.Millisecond,
		SequencerBatch:     4096,
		MaxBatch:           1000,
		QueueSize:          8192,
		ShutdownTimeout:    10 * time.Second,
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Start runs trialogd with cfg and waits until /readyz answers 200. It is
// stopped when the test ends.
func Start(t *testing.T, cfg daemon.Config) *Server {
	t.Helper()
	s := StartLogging(t, cfg, nil)
	s.WaitReady(t)
	return s
}

// StartLogging runs trialogd with cfg, its log going to t.Log and to logs
// too if set, without waiting for it to be ready. It is stopped when the
// test ends.
func StartLogging(t *testing.T, cfg daemon.Config, logs io.Writer) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{URL: "http://" + ln.Addr().String(), Config: cfg, cancel: cancel, done: make(chan error, 1)}
	var out io.Writer = tWriter{t}
	if logs != nil {
		out = io.MultiWriter(out, logs)
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() { s.done <- daemon.Serve(ctx, cfg, logger, ln) }()
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// WaitReady waits until /readyz answers 200.
func (s *Server) WaitReady(t *testing.T) {
	t.Helper()
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
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("trialogd did not become ready within 60s")
}

// Stop shuts the server down as SIGTERM does and waits for it.
func (s *Server) Stop(t *testing.T) {
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

// AdminToken reads the admin token from the data dir.
func (s *Server) AdminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Config.DataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Principal is a registered principal with its signing key and a client
// holding its token.
type Principal struct {
	api.CreatedPrincipal
	Priv   ed25519.PrivateKey
	Client *client.Client
}

// NewPrincipal registers a principal with a fresh key through url, with the
// admin token found in dataDir.
func NewPrincipal(t *testing.T, url, dataDir, name, role string) *Principal {
	t.Helper()
	s := &Server{URL: url, Config: daemon.Config{DataDir: dataDir}}
	return s.NewPrincipal(t, name, role)
}

// NewPrincipal registers a principal with a fresh key.
func (s *Server) NewPrincipal(t *testing.T, name, role string) *Principal {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	admin := client.New(s.URL, s.AdminToken(t))
	cp, err := admin.CreatePrincipal(context.Background(), api.NewPrincipal{Name: name, Role: role, PublicKeys: []string{base64.StdEncoding.EncodeToString(pub)}})
	if err != nil {
		t.Fatalf("creating principal %s: %v", name, err)
	}
	return &Principal{CreatedPrincipal: *cp, Priv: priv, Client: client.New(s.URL, cp.Token)}
}

// DigestStatement is a record.digest statement for doc.
func DigestStatement(doc string) []byte {
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

// Sign signs a statement with the principal's key.
func (p *Principal) Sign(payload []byte) envelope.Envelope {
	return envelope.Sign(statement.PayloadType, payload, p.Priv)
}

// Request sends a raw request and returns status, headers and body.
func Request(t *testing.T, method, url, token, contentType string, body []byte) (int, http.Header, []byte) {
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

// IndependentCheckpoint opens a checkpoint with golang.org/x/mod/sumdb/note
// and parses the C2SP tlog-checkpoint body by hand, sharing no code with
// trialogd.
func IndependentCheckpoint(t *testing.T, vkey string, signed []byte) (origin string, size int64, root tlog.Hash) {
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

// DecodeProof decodes base64 proof hashes.
func DecodeProof(t *testing.T, hs []string) []tlog.Hash {
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

// VerifyEntry checks an included entry with x/mod's tlog and
// note: checkpoint signature, leaf hash, inclusion proof and the envelope in
// the leaf. It returns the checkpoint's size and root.
func VerifyEntry(t *testing.T, vkey string, e *api.Entry) (int64, tlog.Hash) {
	t.Helper()
	if e.Status != "included" || e.InclusionProof == nil {
		t.Fatalf("entry %s is %s without a proof", e.ID, e.Status)
	}
	_, size, root := IndependentCheckpoint(t, vkey, []byte(e.Checkpoint))
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
	if err := tlog.CheckRecord(DecodeProof(t, e.InclusionProof.Hashes), size, root, e.LeafIndex, lh); err != nil {
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

// CheckConsistency fetches and verifies a consistency proof
// between two checkpoints with tlog.CheckTree.
func CheckConsistency(t *testing.T, url string, n int64, h tlog.Hash, m int64, th tlog.Hash) {
	t.Helper()
	if n == m {
		if h != th {
			t.Fatalf("two checkpoints of size %d with different roots", n)
		}
		return
	}
	status, _, body := Request(t, http.MethodGet, fmt.Sprintf("%s/v1/proofs/consistency?from=%d&to=%d", url, m, n), "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("consistency %d→%d: %d %s", m, n, status, body)
	}
	var p api.ConsistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(DecodeProof(t, p.Hashes), n, h, m, th); err != nil {
		t.Fatalf("tree %d is not consistent with tree %d: %v", n, m, err)
	}
}

// MustHex decodes hex or fails the test.
func MustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DigestOf is the hex SHA-256 of doc.
func DigestOf(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

// JSON marshals v.
func JSON(v any) ([]byte, error) { return json.Marshal(v) }

// LogState is what a client saw of the log: its key and a checkpoint,
// verified independently.
type LogState struct {
	VKey string
	Size int64
	Root tlog.Hash
}

// ReadLog fetches /v1/log and verifies its checkpoint independently.
func ReadLog(t *testing.T, url string) LogState {
	t.Helper()
	info, err := client.New(url, "").Log(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, size, root := IndependentCheckpoint(t, info.PublicKey, []byte(info.Checkpoint))
	return LogState{VKey: info.PublicKey, Size: size, Root: root}
}

// Buffer is a bytes.Buffer safe for a process's or logger's writes while a
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
