package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/storage"
)

// TestConsistencyGuard alters a Merkle node in Trillian's Subtree table
// behind trialogd's back. Trillian then builds new roots on the altered
// node; trialogd must refuse to sign them, keep serving the last good
// checkpoint and say so on /readyz and /metrics.
func TestConsistencyGuard(t *testing.T) {
	dsn := testdb.DSN(t)
	srv := testserver.Start(t, testserver.Config(t, dsn))
	ctx := context.Background()
	sponsor := srv.NewPrincipal(t, "Guarded sponsor", "sponsor")
	for i := 0; i < 3; i++ {
		if _, _, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("guarded %d", i))), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	good := testserver.ReadLog(t, srv.URL)
	if good.Size != 4 { // the principal.key entry and three documents
		t.Fatalf("tree size %d, want 4", good.Size)
	}

	// The tree of size 4 is one perfect subtree whose hash, the root, Trillian
	// stores as a Merkle node and builds every later root on. Forge it, and
	// the tree head that Trillian checks it against, as someone rewriting
	// history in the database would.
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := alterSubtrees(t, db, good.Root[:]); n == 0 {
		t.Fatal("the root hash was not found in any Subtree row")
	}
	forged := append([]byte(nil), good.Root[:]...)
	forged[len(forged)-1] ^= 0xff
	res, err := db.Exec(`UPDATE TreeHead SET RootHash = ? WHERE TreeSize = ?`, forged, good.Size)
	if n, _ := res.RowsAffected(); err != nil || n == 0 {
		t.Fatalf("forging the tree head: %v (%d rows)", err, n)
	}

	// New entries make Trillian integrate a new root on the altered tree.
	for i := 0; i < 2; i++ {
		if _, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("after tampering %d", i))), 0); err != nil || status != http.StatusAccepted {
			t.Fatalf("submit after tampering: %d %v", status, err)
		}
	}
	var ready int
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ready, _, body = testserver.Request(t, http.MethodGet, srv.URL+"/readyz", "", "", nil)
		if ready == http.StatusServiceUnavailable {
			break
		}
	}
	if ready != http.StatusServiceUnavailable || !strings.Contains(string(body), "guard") {
		t.Fatalf("/readyz = %d %s, want 503 naming the guard", ready, body)
	}
	// Let the publisher look at the tampered tree several more times: each
	// pass counts one refusal.
	refused := guardFailures(t, srv.URL)
	for deadline := time.Now().Add(10 * time.Second); guardFailures(t, srv.URL) < refused+3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher stopped looking at the tampered tree (%d refusals)", refused)
		}
	}
	after := testserver.ReadLog(t, srv.URL)
	if after.Size != good.Size || after.Root != good.Root {
		t.Fatalf("a checkpoint of size %d was signed on a tampered tree", after.Size)
	}
	var maxSize int64
	if err := db.QueryRow(`SELECT MAX(tree_size) FROM trialog_checkpoints`).Scan(&maxSize); err != nil || maxSize != good.Size {
		t.Fatalf("stored checkpoints reach size %d, want %d (%v)", maxSize, good.Size, err)
	}
	_, _, metrics := testserver.Request(t, http.MethodGet, srv.URL+"/metrics", "", "", nil)
	if !strings.Contains(string(metrics), "trialog_checkpoint_guard_failing 1") || strings.Contains(string(metrics), "trialog_checkpoint_guard_failures_total 0") {
		t.Fatal("/metrics does not show the guard failing")
	}
	// Waiting submissions are not answered with an unproven entry.
	_, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("waiting")), 500*time.Millisecond)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("a waiting submission got %d %v, want 202 (no proof can be given)", status, err)
	}
}

// guardFailures reads trialog_checkpoint_guard_failures_total.
func guardFailures(t *testing.T, url string) int {
	t.Helper()
	_, _, body := testserver.Request(t, http.MethodGet, url+"/metrics", "", "", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "trialog_checkpoint_guard_failures_total "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("guard failures %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("/metrics has no trialog_checkpoint_guard_failures_total")
	return 0
}

// alterSubtrees flips the last byte of every occurrence of hash in the
// tree's stored Merkle nodes and returns how many rows changed.
func alterSubtrees(t *testing.T, db *sql.DB, hash []byte) int {
	t.Helper()
	rows, err := db.Query(`SELECT TreeId, SubtreeId, SubtreeRevision, Nodes FROM Subtree`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		tree int64
		id   []byte
		rev  int64
		n    []byte
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.tree, &r.id, &r.rev, &r.n); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	rows.Close()
	changed := 0
	for _, r := range rs {
		i := bytes.Index(r.n, hash)
		if i < 0 {
			continue
		}
		r.n[i+len(hash)-1] ^= 0xff
		if _, err := db.Exec(`UPDATE Subtree SET Nodes = ? WHERE TreeId = ? AND SubtreeId = ? AND SubtreeRevision = ?`, r.n, r.tree, r.id, r.rev); err != nil {
			t.Fatal(err)
		}
		changed++
	}
	t.Logf("altered %d Subtree rows holding %s", changed, hex.EncodeToString(hash))
	return changed
}
