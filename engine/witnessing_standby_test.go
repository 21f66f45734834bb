package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/witness"
)

const standbyWitnessName = "witness.standby.test.example/w1"

// newCosignatureSigner is a cosignature/v1 witness key, made with
// torchwood: an implementation the witness package shares no code with.
func newCosignatureSigner(t *testing.T, name string) *torchwood.CosignatureSigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cosigningWitness answers C2SP tlog-witness add-checkpoint by cosigning
// whatever checkpoint it is sent: the leader's witnesses are not under test.
func cosigningWitness(t *testing.T, signer *torchwood.CosignatureSigner) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/add-checkpoint" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_, cp, _ := strings.Cut(string(b), "\n\n") // after "old N" and the proof
		text, _, _ := strings.Cut(cp, "\n\n")      // before the log's signature
		signed, err := note.Sign(&note.Note{Text: text + "\n"}, signer)
		if err != nil {
			t.Error(err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, string(signed[bytes.LastIndex(signed, []byte("\n\n"))+2:]))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// recordingWitness counts the requests it gets and fails them all.
func recordingWitness(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "not this witness", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func witnessPolicy(t *testing.T, vkey, url string) *witness.Policy {
	t.Helper()
	p, err := witness.ParsePolicy([]byte(fmt.Sprintf("witness w1 %s %s\nquorum w1\n", vkey, url)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openWitnessed starts a Log on the fixture's database with a witness
// policy, in dir, as leader or standby as mayPublish says.
func (f *fixture) openWitnessed(t *testing.T, dir string, policy *witness.Policy, mayPublish func() bool) *Log {
	t.Helper()
	l, err := New(context.Background(), Config{
		Origin: testOrigin, DataDir: dir, Store: f.store, Trillian: f.emb.Conn, Embedded: f.emb,
		Registry: f.reg, CheckpointInterval: 10 * time.Millisecond, MayPublish: mayPublish,
		WitnessPolicy: policy, WitnessTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// signAndCosign has the leader sign its tree, have it cosigned by its
// witness and recorded in MySQL, as its publisher, witness loop and
// persistCosigned do, and returns the cosigned checkpoint.
func signAndCosign(t *testing.T, f *fixture, leader *Log, size uint64) *Published {
	t.Helper()
	ctx := context.Background()
	feedAll(t, leader)
	f.sequence(t, leader)
	if err := leader.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}
	signed := leader.latestSigned()
	if signed == nil || signed.Size != size {
		t.Fatalf("the leader signed %v, want size %d", signed, size)
	}
	if err := leader.witnessOnce(ctx, signed); err != nil {
		t.Fatal(err)
	}
	// persistCosigned records the latest once more on its way out.
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { leader.persistCosigned(pctx); close(done) }()
	stop()
	<-done
	c, err := f.store.LatestCosigned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := leader.Published()
	if uint64(c.TreeSize) != size || p.Size != size || !bytes.Equal(c.Note, p.Note) {
		t.Fatalf("recorded cosigned checkpoint of size %d, published %d, want %d", c.TreeSize, p.Size, size)
	}
	return p
}

// waitFor polls cond until it holds, for at most ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStandbyPublishesLeadersCosigned: with a witness policy, a process
// that may not publish sends nothing to the witnesses; it publishes the
// cosigned checkpoints the leader records in MySQL once they meet its own
// policy, refuses one that does not, and witnesses again once elected.
func TestStandbyPublishesLeadersCosigned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	signer := newCosignatureSigner(t, standbyWitnessName)
	vkey := signer.Verifier().String()
	good := cosigningWitness(t, signer)
	rec, calls := recordingWitness(t)

	// Both start before anything is signed, so that the start-up probe of
	// the witnesses (anchor.go) has nothing to ask.
	leader := f.openWitnessed(t, f.dir, witnessPolicy(t, vkey, good.URL), func() bool { return true })
	standbyDir := t.TempDir()
	for _, name := range []string{"log.key", "service.key"} {
		b, err := os.ReadFile(filepath.Join(f.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(standbyDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var elected atomic.Bool
	standby := f.openWitnessed(t, standbyDir, witnessPolicy(t, vkey, rec.URL), elected.Load)

	// The standby's publisher (adopting the leader's checkpoints), witness
	// loop and persistCosigned, as Run starts them.
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context){standby.publisher.loop, standby.witnessLoop, standby.persistCosigned} {
		wg.Add(1)
		go func() { defer wg.Done(); run(runCtx) }()
	}
	t.Cleanup(func() { stop(); wg.Wait() })

	// Signed by the leader and adopted, not yet cosigned: the standby
	// waits for the leader rather than blaming witnesses.
	appendNotes(t, leader, 0, 3)
	feedAll(t, leader)
	f.sequence(t, leader)
	if err := leader.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby adopts the signed checkpoint of size 3", func() bool {
		s := standby.latestSigned()
		return s != nil && s.Size == 3
	})
	if err := standby.Ready(ctx); err == nil || !strings.Contains(err.Error(), "waiting for the leader's cosigned checkpoint") {
		t.Fatalf("standby Ready before any cosigned checkpoint = %v", err)
	}

	// The cosigned row lands after the signed one: the standby finds it
	// on its timer, and publishes it as the leader does.
	want := signAndCosign(t, f, leader, 3)
	waitFor(t, "the standby publishes the leader's cosigned checkpoint of size 3", func() bool {
		p := standby.Published()
		return p != nil && p.Size == want.Size && bytes.Equal(p.Note, want.Note)
	})
	appendNotes(t, leader, 3, 2)
	want = signAndCosign(t, f, leader, 5)
	waitFor(t, "the standby publishes the leader's cosigned checkpoint of size 5", func() bool {
		p := standby.Published()
		return p != nil && p.Size == want.Size && bytes.Equal(p.Note, want.Note)
	})
	if n := calls.Load(); n != 0 {
		t.Fatalf("the standby sent %d requests to its witness", n)
	}
	if err := standby.Ready(ctx); err != nil {
		t.Fatalf("standby Ready with the leader's cosigned checkpoint published: %v", err)
	}

	// A recorded checkpoint cosigned under the witness's name but by
	// another key does not meet the standby's policy: not published.
	appendNotes(t, leader, 5, 2)
	feedAll(t, leader)
	f.sequence(t, leader)
	if err := leader.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby adopts the signed checkpoint of size 7", func() bool {
		return standby.latestSigned().Size == 7
	})
	n, err := note.Open(leader.latestSigned().Note, note.VerifierList(leader.verifier))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(n, newCosignatureSigner(t, standbyWitnessName))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.StoreCosigned(ctx, 7, forged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby's Ready reports the checkpoint it cannot publish", func() bool {
		err := standby.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "does not meet this process's witness policy")
	})
	if p := standby.Published(); p.Size != 5 || !bytes.Equal(p.Note, want.Note) {
		t.Fatalf("the standby published size %d after refusing the recorded checkpoint of size 7, want 5", p.Size)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the standby sent %d requests to its witness", n)
	}

	// Elected, it witnesses the latest signed checkpoint itself.
	elected.Store(true)
	waitFor(t, "the elected process submits to its witness", func() bool { return calls.Load() > 0 })
	waitFor(t, "the elected process's Ready reports its witness's failure", func() bool {
		err := standby.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "witness quorum")
	})
	if p := standby.Published(); p.Size != 5 {
		t.Fatalf("published size %d without its witness's cosignature, want 5", p.Size)
	}
}
