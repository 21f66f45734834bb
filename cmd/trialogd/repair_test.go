package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/trillian"
	"google.golang.org/grpc/codes"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/storage"
)

// startUnready runs trialogd with cfg without waiting for /readyz (which a
// halted guard keeps at 503); it returns once the log is served.
func startUnready(t *testing.T, cfg daemon.Config) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Serve(ctx, cfg, slog.New(slog.DiscardHandler), ln) }()
	url = "http://" + ln.Addr().String()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("trialogd stopped with %v", err)
			}
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// /v1/log answers 200 once the log is served, even while the guard
		// holds publication back (it shows the last good checkpoint).
		if resp, err := http.Get(url + "/v1/log"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop
			}
		}
	}
	t.Fatal("trialogd did not answer within 60s")
	return "", nil
}

// TestRepairTree puts a leaf that is not trialog's into Trillian's tree
// with AddSequencedLeaves, sees checkpoint publication halt, repairs the
// log onto a new tree with repair-tree, and sees publication resume with
// checkpoints consistent with those signed before (checked with x/mod's
// tlog).
func TestRepairTree(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	srv := testserver.Start(t, cfg)
	sponsor := srv.NewPrincipal(t, "Repair sponsor", "sponsor")
	for i := 0; i < 3; i++ {
		if _, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("before %d", i))), 10*time.Second); err != nil || status != http.StatusCreated {
			t.Fatalf("submit: %d %v", status, err)
		}
	}
	before := testserver.ReadLog(t, srv.URL)
	if before.Size != 4 {
		t.Fatalf("tree size %d, want 4", before.Size)
	}
	srv.Stop(t)

	// A local process with access to Trillian adds a foreign leaf at the
	// next index.
	db := testdb.Open(t, dsn)
	store := storage.New(db)
	lc, err := store.LogConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := engine.StartEmbedded(ctx, db, engine.EmbeddedOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	foreign := []byte("a leaf that is not trialog's")
	ih := sha256.Sum256(foreign)
	resp, err := emb.Log.AddSequencedLeaves(ctx, &trillian.AddSequencedLeavesRequest{LogId: lc.TreeID, Leaves: []*trillian.LogLeaf{
		{LeafValue: foreign, LeafIdentityHash: ih[:], LeafIndex: before.Size},
	}})
	if err != nil || codes.Code(resp.GetResults()[0].GetStatus().GetCode()) != codes.OK {
		t.Fatalf("injecting a foreign leaf: %v %v", err, resp)
	}
	emb.Close()

	// Restarted, trialogd refuses to sign: publication halts.
	url, stop := startUnready(t, cfg)
	halted := sponsor.Sign(testserver.DigestStatement("during the halt"))
	if _, status, err := client.New(url, sponsor.Token).Submit(ctx, halted, 0); err != nil || status != http.StatusAccepted {
		t.Fatalf("submit during the halt: %d %v", status, err)
	}
	var body []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var status int
		status, _, body = testserver.Request(t, http.MethodGet, url+"/readyz", "", "", nil)
		if status == http.StatusServiceUnavailable && strings.Contains(string(body), "guard") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %s, want 503 naming the guard", status, body)
		}
	}
	t.Logf("halted: %s", body)
	if e, status, err := client.New(url, sponsor.Token).Submit(ctx, halted, time.Second); err != nil || status != http.StatusAccepted || e.Status == "included" {
		t.Fatalf("an entry was proven while halted: %d %v", status, err)
	}
	if s := testserver.ReadLog(t, url); s.Size != before.Size || s.Root != before.Root {
		t.Fatalf("a checkpoint of size %d was signed over the foreign leaf", s.Size)
	}
	stop()

	// repair-tree moves the log to a new tree fed from trialog's entries.
	res, err := daemon.RepairTree(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("repair-tree: %v", err)
	}
	if res.OldTreeID != lc.TreeID || res.NewTreeID == lc.TreeID || res.Size != before.Size+1 || res.CheckpointSize != before.Size {
		t.Fatalf("repair result %+v (old tree %d, checkpoint size %d)", res, lc.TreeID, before.Size)
	}
	if now, err := store.LogConfig(ctx); err != nil || now.TreeID != res.NewTreeID {
		t.Fatalf("log on tree %v (%v), want %d", now, err, res.NewTreeID)
	}

	// Publication resumes; the new checkpoints are consistent with the
	// ones signed before, and the entry from the halt is proven.
	srv = testserver.Start(t, cfg)
	sponsor.Client = client.New(srv.URL, sponsor.Token)
	e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("after repair")), 10*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submit after repair: %d %v", status, err)
	}
	size, root := testserver.VerifyEntry(t, before.VKey, e)
	testserver.CheckConsistency(t, srv.URL, size, root, before.Size, before.Root)
	h, _, err := sponsor.Client.Submit(ctx, halted, 10*time.Second)
	if err != nil || h.Status != "included" || h.LeafIndex != before.Size {
		t.Fatalf("the entry from the halt: %+v %v", h, err)
	}
	testserver.VerifyEntry(t, before.VKey, h)
	srv.Stop(t)

	// A repair whose entries do not reproduce the published checkpoints is
	// refused and changes nothing.
	if _, err := db.Exec(`UPDATE trialog_entries SET leaf = CONCAT(leaf, ' ') WHERE leaf_index = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.RepairTree(ctx, cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "leaf hash") {
		t.Fatalf("repair over a tampered entry: %v, want a refusal naming the leaf hash", err)
	}
	if now, _ := store.LogConfig(ctx); now.TreeID != res.NewTreeID {
		t.Fatalf("a refused repair switched the log to tree %d", now.TreeID)
	}
}

// TestRepairTreeCommand runs `trialogd repair-tree` as an operator would,
// on a healthy log: it moves the log to a new tree and the log goes on.
func TestRepairTreeCommand(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	srv := testserver.Start(t, cfg)
	sponsor := srv.NewPrincipal(t, "Command sponsor", "sponsor")
	if _, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("before the command")), 10*time.Second); err != nil || status != http.StatusCreated {
		t.Fatalf("submit: %d %v", status, err)
	}
	before := testserver.ReadLog(t, srv.URL)
	// While a trialogd runs on the log, the repair is refused and the tree
	// left alone.
	out, err := exec.Command(trialogdBinary(t), "repair-tree", "--mysql-dsn", dsn, "--data-dir", cfg.DataDir, "--origin", cfg.Origin, "--log-level", "error").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is running on this database") {
		t.Fatalf("repair-tree beside a running trialogd: %v\n%s", err, out)
	}
	srv.Stop(t)
	lc, err := storage.New(testdb.Open(t, dsn)).LogConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}

	out, err = exec.Command(trialogdBinary(t), "repair-tree", "--mysql-dsn", dsn, "--data-dir", cfg.DataDir, "--origin", cfg.Origin, "--log-level", "error").CombinedOutput()
	want := fmt.Sprintf("(was %d): %d entries", lc.TreeID, before.Size)
	if err != nil || !strings.Contains(string(out), "the log now uses Trillian tree") || !strings.Contains(string(out), want) {
		t.Fatalf("trialogd repair-tree: %v\n%s", err, out)
	}

	srv = testserver.Start(t, cfg)
	e, status, err := client.New(srv.URL, sponsor.Token).Submit(ctx, sponsor.Sign(testserver.DigestStatement("after the command")), 10*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submit after repair-tree: %d %v", status, err)
	}
	size, root := testserver.VerifyEntry(t, before.VKey, e)
	testserver.CheckConsistency(t, srv.URL, size, root, before.Size, before.Root)
}
