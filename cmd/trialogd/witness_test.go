package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/internal/witnesstest"
	"github.com/trialog/trialog/witness"
)

// witnessedLog is a trialogd whose checkpoints one litewitness must cosign.
type witnessedLog struct {
	cfg     daemon.Config
	vkey    string // the log's note verifier key
	lw      *witnesstest.Witness
	policy  *witness.Policy
	logKey  note.Verifier
	srv     *testserver.Server
	logs    *testserver.Buffer
	keyFile string
}

// newWitnessedLog makes a log key, starts litewitness knowing it, and
// writes a policy whose quorum is that one witness. The server is not
// started.
func newWitnessedLog(t *testing.T) *witnessedLog {
	t.Helper()
	cfg := testserver.Config(t, testdb.DSN(t))
	skey, vkey, err := note.GenerateKey(rand.Reader, cfg.Origin)
	if err != nil {
		t.Fatal(err)
	}
	keyDir := t.TempDir()
	keyFile := filepath.Join(keyDir, "log.key")
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.SigningKeyFile = keyFile
	lw := witnesstest.Start(t, "witness.test.example/w1")
	lw.AddLog(t, cfg.Origin, vkey)
	policyText := fmt.Sprintf("# one local witness\nwitness w1 %s %s\nquorum w1\n", lw.VKey, lw.URL)
	policyFile := filepath.Join(keyDir, "witnesses.policy")
	if err := os.WriteFile(policyFile, []byte(policyText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.WitnessPolicyFile = policyFile
	cfg.WitnessTimeout = 2 * time.Second
	policy, err := witness.ParsePolicy([]byte(policyText))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	return &witnessedLog{cfg: cfg, vkey: vkey, lw: lw, policy: policy, logKey: v, keyFile: keyFile}
}

func (w *witnessedLog) start(t *testing.T, wait bool) {
	t.Helper()
	w.logs = &testserver.Buffer{}
	w.srv = testserver.StartLogging(t, w.cfg, w.logs)
	if wait {
		w.srv.WaitReady(t)
	}
}

// cosigned checks that a checkpoint is signed by the log and cosigned by
// litewitness, and returns it.
func (w *witnessedLog) cosigned(t *testing.T, what string, signed []byte) *witness.Cosigned {
	t.Helper()
	cs, err := w.policy.Verify(signed, w.logKey)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, signed)
	}
	// And the log's signature independently, with x/mod's note and tlog.
	testserver.IndependentCheckpoint(t, w.vkey, signed)
	return cs
}

func TestWitnessQuorum(t *testing.T) {
	w := newWitnessedLog(t)
	w.cfg.WitnessRefresh = time.Second
	w.start(t, true)
	ctx := context.Background()
	pub := client.New(w.srv.URL, "")

	sponsor := w.srv.NewPrincipal(t, "Acme Pharma", "sponsor")
	e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("witnessed protocol")), 10*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submit with wait: %d, %v", status, err)
	}
	// The ?wait answer's checkpoint carries the witness's cosignature.
	cs := w.cosigned(t, "the ?wait answer's checkpoint", []byte(e.Checkpoint))
	if cs.Size <= uint64(e.LeafIndex) || len(cs.Witnesses) != 1 {
		t.Fatalf("checkpoint %+v does not cover leaf %d", cs, e.LeafIndex)
	}
	testserver.VerifyEntry(t, w.vkey, e)

	// Every place a checkpoint is served.
	cp, err := pub.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.cosigned(t, "/v1/checkpoint", cp)
	_, _, body := testserver.Request(t, http.MethodGet, w.srv.URL+"/tlog/checkpoint", "", "", nil)
	w.cosigned(t, "/tlog/checkpoint", body)
	status, _, body = testserver.Request(t, http.MethodGet, w.srv.URL+"/v1/entries/"+e.ID+"/receipt", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("receipt: %d %s", status, body)
	}
	w.cosigned(t, "the receipt's checkpoint", body[bytes.Index(body, []byte(w.cfg.Origin+"\n")):])
	info, err := pub.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logCS := w.cosigned(t, "/v1/log", []byte(info.Checkpoint))
	at, err := time.Parse(time.RFC3339, info.CosignedAt)
	if err != nil || !at.Equal(logCS.CosignedAt) || time.Since(at) > time.Minute {
		t.Fatalf("cosigned_at %q, want the cosignature's time %s", info.CosignedAt, logCS.CosignedAt)
	}
	// litewitness recorded the published size.
	if got := w.lw.Known(t, w.cfg.Origin); got != fmt.Sprint(info.TreeSize) {
		t.Fatalf("litewitness knows size %s, the log published %d", got, info.TreeSize)
	}
	metrics := get(t, w.srv.URL+"/metrics")
	for _, m := range []string{
		fmt.Sprintf(`trialog_witness_cosigned_tree_size{witness="w1"} %d`, info.TreeSize),
		`trialog_witness_request_seconds_count{witness="w1"}`,
		`trialog_checkpoint_cosigned_age_seconds `,
	} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// Idle, the checkpoint is cosigned again: same tree, newer timestamp.
	deadline := time.Now().Add(20 * time.Second)
	for {
		again, err := pub.Log(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if again.CosignedAt > info.CosignedAt {
			if again.TreeSize != info.TreeSize || again.RootHash != info.RootHash {
				t.Fatalf("idle refresh changed the tree: %+v", again)
			}
			w.cosigned(t, "the refreshed checkpoint", []byte(again.Checkpoint))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cosigned_at stayed %s while idle with a 1s refresh", info.CosignedAt)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Enough entries for full and partial tiles at levels 0 and 1.
	var envs []json.RawMessage
	for i := range 600 {
		b, _ := json.Marshal(sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("tile doc %d", i))))
		envs = append(envs, b)
	}
	res, err := sponsor.Client.SubmitBatch(ctx, envs, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Entry == nil || r.Entry.Status != "included" {
			t.Fatalf("batch entry %d not included: %+v", i, r)
		}
	}
	info, err = pub.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cs = w.cosigned(t, "/v1/log after the batch", []byte(info.Checkpoint))
	checkTiles(t, w.srv.URL, tlog.Tree{N: int64(cs.Size), Hash: tlog.Hash(cs.Hash)}, readLeaves(t, pub, int64(cs.Size)))
}

func TestWitnessDown(t *testing.T) {
	w := newWitnessedLog(t)
	w.start(t, true)
	ctx := context.Background()
	pub := client.New(w.srv.URL, "")
	sponsor := w.srv.NewPrincipal(t, "Acme Pharma", "sponsor")
	before, err := pub.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}

	w.lw.Stop(t)
	e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("while the witness is down")), 2*time.Second)
	if err != nil || status != http.StatusAccepted || e.Status != "pending" {
		t.Fatalf("submit while the witness is down: %d, %+v, %v; want 202 pending", status, e, err)
	}
	// Not published anywhere; /readyz says why.
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, body := testserver.Request(t, http.MethodGet, w.srv.URL+"/readyz", "", "", nil)
		if status == http.StatusServiceUnavailable && strings.Contains(string(body), "witness quorum w1 not met") && strings.Contains(string(body), "w1:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz while the witness is down: %d %s", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	now, err := pub.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now.TreeSize > uint64(e.LeafIndex) || now.Checkpoint != before.Checkpoint && now.TreeSize != before.TreeSize {
		t.Fatalf("published size %d covers leaf %d without the witness", now.TreeSize, e.LeafIndex)
	}
	if got, err := pub.Entry(ctx, e.ID); err != nil || got.Status != "pending" {
		t.Fatalf("entry while the witness is down: %+v, %v", got, err)
	}
	if status, _, _ := testserver.Request(t, http.MethodGet, w.srv.URL+"/v1/entries/"+e.ID+"/receipt", "", "", nil); status != http.StatusNotFound {
		t.Fatalf("receipt while the witness is down: %d", status)
	}

	// The witness returns: publication resumes.
	w.lw.Restart(t)
	w.srv.WaitReady(t)
	deadline = time.Now().Add(20 * time.Second)
	for {
		got, err := pub.Entry(ctx, e.ID)
		if err == nil && got.Status == "included" {
			w.cosigned(t, "the entry's checkpoint after recovery", []byte(got.Checkpoint))
			testserver.VerifyEntry(t, w.vkey, got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry not published after the witness returned: %+v, %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestWitnessRefusesFork(t *testing.T) {
	w := newWitnessedLog(t)
	w.start(t, true)
	ctx := context.Background()
	sponsor := w.srv.NewPrincipal(t, "Acme Pharma", "sponsor")
	if _, _, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("the honest history")), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	honest, err := client.New(w.srv.URL, "").Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Stop(t)
	known := w.lw.Known(t, w.cfg.Origin)

	// The same log key and origin on another database: a second history.
	fork := *w
	fork.cfg = testserver.Config(t, testdb.DSN(t))
	fork.cfg.SigningKeyFile, fork.cfg.WitnessPolicyFile, fork.cfg.WitnessTimeout = w.cfg.SigningKeyFile, w.cfg.WitnessPolicyFile, w.cfg.WitnessTimeout
	fork.start(t, false)
	waitServing(t, fork.srv.URL)
	other := fork.srv.NewPrincipal(t, "Mallory", "sponsor")
	for i := range 5 {
		if _, status, err := other.Client.Submit(ctx, other.Sign(testserver.DigestStatement(fmt.Sprintf("rewritten %d", i))), 0); err != nil || status != http.StatusAccepted {
			t.Fatalf("submit to the fork: %d, %v", status, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(fork.logs.String(), "witness evidence") || !strings.Contains(fork.logs.String(), "422") {
		if time.Now().After(deadline) {
			t.Fatalf("no evidence of the refused fork logged:\n%s", fork.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Nothing of the fork is published, and the witness did not move.
	if status, _, body := testserver.Request(t, http.MethodGet, fork.srv.URL+"/v1/checkpoint", "", "", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("the fork served a checkpoint: %d %s", status, body)
	}
	status, _, body := testserver.Request(t, http.MethodGet, fork.srv.URL+"/readyz", "", "", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "w1") {
		t.Fatalf("/readyz of the fork: %d %s", status, body)
	}
	if got := w.lw.Known(t, w.cfg.Origin); got != known || got != fmt.Sprint(honest.TreeSize) {
		t.Fatalf("the witness moved from %s (honest size %d) to %s", known, honest.TreeSize, got)
	}
	// The evidence names the fork's checkpoint, signed with the log's key.
	logs := fork.logs.String()
	if !strings.Contains(logs, w.cfg.Origin) {
		t.Fatalf("the evidence does not hold the checkpoint:\n%s", logs)
	}
}

// readLeaves reads leaves [0, n) through the JSON API.
func readLeaves(t *testing.T, c *client.Client, n int64) [][]byte {
	t.Helper()
	var out [][]byte
	for int64(len(out)) < n {
		es, err := c.Leaves(context.Background(), int64(len(out)), min(1000, n-int64(len(out))))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			b, err := base64.StdEncoding.DecodeString(e.Leaf)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// checkTiles reads the log through /tlog/ with torchwood's tile client,
// which authenticates every entry against tree, and checks every hash tile
// against golang.org/x/mod/sumdb/tlog's tile rules.
func checkTiles(t *testing.T, url string, tree tlog.Tree, leaves [][]byte) {
	t.Helper()
	ctx := context.Background()
	fetcher, err := torchwood.NewTileFetcher(url + "/tlog/")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for pass := 0; int64(len(got)) < tree.N; pass++ {
		if pass > 10 {
			t.Fatalf("the tile client stopped at %d of %d entries", len(got), tree.N)
		}
		for i, e := range tc.Entries(ctx, tree, int64(len(got))) {
			if i != int64(len(got)) {
				t.Fatalf("tile client yielded entry %d after %d", i, len(got))
			}
			got = append(got, bytes.Clone(e))
		}
		if err := tc.Err(); err != nil {
			t.Fatalf("tile client: %v", err)
		}
	}
	for i := range leaves {
		if !bytes.Equal(got[i], leaves[i]) {
			t.Fatalf("entry %d through /tlog/ differs from /v1/log/leaves", i)
		}
	}

	// x/mod's tlog computes every tile from the leaves; the served ones agree.
	var stored []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, l := range leaves {
		hs, err := tlog.StoredHashes(int64(i), l, hr)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	if root, err := tlog.TreeHash(tree.N, hr); err != nil || root != tree.Hash {
		t.Fatalf("x/mod's root of the leaves %v, %v; the checkpoint says %v", root, err, tree.Hash)
	}
	tiles := tlog.NewTiles(torchwood.TileHeight, 0, tree.N)
	levels := map[int]bool{}
	for _, tile := range tiles {
		want, err := tlog.ReadTileData(tile, hr)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(url + "/tlog/" + torchwood.TilePath(tile))
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(served, want) {
			t.Fatalf("tile %s: %d, %d bytes; x/mod's tlog says %d bytes", torchwood.TilePath(tile), resp.StatusCode, len(served), len(want))
		}
		cc := resp.Header.Get("Cache-Control")
		if (tile.W == 256) != strings.Contains(cc, "immutable") {
			t.Fatalf("tile %s: Cache-Control %q", torchwood.TilePath(tile), cc)
		}
		levels[tile.L] = true
	}
	if !levels[0] || !levels[1] {
		t.Fatalf("the tree of %d leaves exercised only tile levels %v", tree.N, levels)
	}
	// And x/mod's tile hash reader authenticates them against the root.
	thr := tlog.TileHashReader(tree, httpTiles{url})
	idx := make([]int64, tree.N)
	for i := range idx {
		idx[i] = tlog.StoredHashIndex(0, int64(i))
	}
	hs, err := thr.ReadHashes(idx)
	if err != nil {
		t.Fatalf("x/mod's TileHashReader: %v", err)
	}
	for i, h := range hs {
		if h != tlog.RecordHash(leaves[i]) {
			t.Fatalf("leaf hash %d from the tiles differs", i)
		}
	}
	// Beyond the published tree there is nothing.
	beyond := tlog.Tile{H: 8, L: 0, N: tree.N / 256, W: int(tree.N%256) + 1}
	if beyond.W <= 256 {
		if status, _, _ := testserver.Request(t, http.MethodGet, url+"/tlog/"+torchwood.TilePath(beyond), "", "", nil); status != http.StatusNotFound {
			t.Fatalf("tile beyond the published tree: %d", status)
		}
	}
	for _, bad := range []string{"/tlog/tile/0/1234", "/tlog/tile/entries/000.p/0", "/tlog/tile/9/000"} {
		if status, _, _ := testserver.Request(t, http.MethodGet, url+bad, "", "", nil); status != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", bad, status)
		}
	}
}

// httpTiles is a tlog.TileReader over /tlog/.
type httpTiles struct{ url string }

func (httpTiles) Height() int { return torchwood.TileHeight }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		resp, err := http.Get(h.url + "/tlog/" + torchwood.TilePath(t))
		if err != nil {
			return nil, err
		}
		out[i], err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("tile %s: %d %v", torchwood.TilePath(t), resp.StatusCode, err)
		}
	}
	return out, nil
}

func (httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func get(t *testing.T, url string) string {
	t.Helper()
	_, _, body := testserver.Request(t, http.MethodGet, url, "", "", nil)
	return string(body)
}

// waitServing waits until the trialogd at url serves its API: its
// /readyz no longer answers the start-up placeholder's {"status":"starting"}
// (the admin token file is written before that, so it is no sign). The
// server need not be ready: a log its witnesses refuse never is.
func waitServing(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			var body struct {
				Status string `json:"status"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && body.Status != "starting" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start serving its API within 60s", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWitnessRestart: the cosigned checkpoint is kept, so a restarted
// trialogd serves it at once, even while the witness is down.
func TestWitnessRestart(t *testing.T) {
	w := newWitnessedLog(t)
	w.start(t, true)
	ctx := context.Background()
	sponsor := w.srv.NewPrincipal(t, "Acme Pharma", "sponsor")
	e, _, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("before the restart")), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Stop(t)
	w.lw.Stop(t)

	w.start(t, false)
	pub := client.New(w.srv.URL, "")
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := pub.Entry(ctx, e.ID)
		if err == nil && got.Status == "included" {
			w.cosigned(t, "the entry's checkpoint after a restart", []byte(got.Checkpoint))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart with the witness down: %+v, %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cp, err := pub.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.cosigned(t, "/v1/checkpoint after a restart", cp)
	deadline = time.Now().Add(20 * time.Second)
	for {
		status, _, body := testserver.Request(t, http.MethodGet, w.srv.URL+"/readyz", "", "", nil)
		if status == http.StatusServiceUnavailable && strings.Contains(string(body), "w1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with the witness down after a restart: %d %s", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Unreachable at start, the witness did not block it: it is logged.
	if !strings.Contains(w.logs.String(), "could not ask a witness, at start") {
		t.Fatalf("the unreachable witness at start was not logged:\n%s", w.logs.String())
	}
	w.lw.Restart(t)
	w.srv.WaitReady(t)
}
