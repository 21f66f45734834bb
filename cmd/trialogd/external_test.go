//go:build linux

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/storage"
)

// TestExternalTrillian runs trialogd against Trillian's own
// trillian_log_server and trillian_log_signer, built from the version go.mod
// pins and started as child processes on a fresh database. It is built on
// Linux only, for the parent-death signal that keeps a killed test run from
// leaving Trillian's programs running.
func TestExternalTrillian(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Trillian's log server and signer; skipped with -short")
	}
	dsn := testdb.DSN(t) // first, so that a machine without MySQL skips before building
	bin := trillianBinaries(t)
	ctx := context.Background()

	// trialogd does not create Trillian's tables in external mode: Trillian's
	// operator does, here with trialog's copy of Trillian's schema.
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := storage.Migrate(ctx, db, true); err != nil {
		t.Fatalf("applying Trillian's schema: %v", err)
	}
	tr := startTrillian(t, bin, dsn)

	cfg := testserver.Config(t, dsn)
	cfg.Trillian = tr.rpc
	srv := testserver.Start(t, cfg)
	pub := client.New(srv.URL, "")
	info, err := pub.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sponsor := srv.NewPrincipal(t, "Acme Pharma", "sponsor")
	keyEntry, err := pub.Entry(ctx, sponsor.KeyEntries[0])
	if err != nil {
		t.Fatal(err)
	}

	// Submissions with wait: 201, included, proven, each checkpoint
	// consistent with the one before.
	type proven struct {
		entry *api.Entry
		size  int64
		root  tlog.Hash
	}
	var entries []proven
	var size, prevSize int64
	var root, prevRoot tlog.Hash
	for i := range 5 {
		e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("external trillian doc %d", i))), 10*time.Second)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("submission %d: status %d, %v", i, status, err)
		}
		size, root = testserver.VerifyEntry(t, info.PublicKey, e)
		if i > 0 {
			testserver.CheckConsistency(t, srv.URL, size, root, prevSize, prevRoot)
		}
		prevSize, prevRoot = size, root
		entries = append(entries, proven{e, size, root})
	}
	// The principal.key entry logged at registration, proven in the latest tree.
	if keyEntry, err = pub.Entry(ctx, keyEntry.ID); err != nil {
		t.Fatal(err)
	}
	testserver.VerifyEntry(t, info.PublicKey, keyEntry)

	// The same envelope again: 200, the same entry, no new leaf.
	first := entries[0].entry
	dup, status, err := sponsor.Client.Submit(ctx, first.Envelope, 10*time.Second)
	if err != nil || status != http.StatusOK || dup.ID != first.ID || dup.LeafIndex != first.LeafIndex {
		t.Fatalf("resubmission: status %d, %+v (first %s at %d), %v", status, dup, first.ID, first.LeafIndex, err)
	}

	// The tree lives in the external Trillian: its leaves are in Trillian's
	// tables, its tree is a PREORDERED_LOG, and the log server itself
	// serves the root trialogd signed and the leaves it stored.
	var treeID int64
	if err := db.QueryRowContext(ctx, "SELECT tree_id FROM trialog_log WHERE id = 1").Scan(&treeID); err != nil {
		t.Fatalf("reading trialog_log: %v", err)
	}
	var treeType string
	if err := db.QueryRowContext(ctx, "SELECT TreeType FROM Trees WHERE TreeId = ?", treeID).Scan(&treeType); err != nil {
		t.Fatalf("tree %d in Trillian's Trees: %v", treeID, err)
	}
	if treeType != "PREORDERED_LOG" {
		t.Fatalf("tree %d is a %s, want PREORDERED_LOG", treeID, treeType)
	}
	cpSize, cpRoot := settledCheckpoint(t, ctx, db, pub, info.PublicKey, treeID)
	if cpSize != size || cpRoot != root {
		t.Fatalf("after the duplicate the checkpoint is size %d, want the last submission's %d", cpSize, size)
	}
	conn, err := engine.Dial(tr.rpc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := trillian.NewTrillianLogClient(conn)
	slr, err := tc.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: treeID})
	if err != nil {
		t.Fatalf("asking the external log server for tree %d: %v", treeID, err)
	}
	var lr types.LogRootV1
	if err := lr.UnmarshalBinary(slr.GetSignedLogRoot().GetLogRoot()); err != nil {
		t.Fatal(err)
	}
	if int64(lr.TreeSize) != cpSize || !bytes.Equal(lr.RootHash, cpRoot[:]) {
		t.Fatalf("the external log server's root is size %d %x, the checkpoint's %d %x", lr.TreeSize, lr.RootHash, cpSize, cpRoot[:])
	}
	leaves, err := tc.GetLeavesByRange(ctx, &trillian.GetLeavesByRangeRequest{LogId: treeID, StartIndex: first.LeafIndex, Count: 1})
	if err != nil || len(leaves.GetLeaves()) != 1 {
		t.Fatalf("leaf %d from the external log server: %v", first.LeafIndex, err)
	}
	if want, _ := base64.StdEncoding.DecodeString(first.Leaf); !bytes.Equal(leaves.Leaves[0].LeafValue, want) {
		t.Fatalf("the external log server holds other bytes at leaf %d", first.LeafIndex)
	}

	// Restart: the same log, key and tree; old entries still served and
	// proven; new checkpoints consistent with the old ones.
	srv.Stop(t)
	srv = testserver.Start(t, cfg)
	pub = client.New(srv.URL, "")
	sponsor.Client = client.New(srv.URL, sponsor.Token)
	info2, err := pub.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info2.PublicKey != info.PublicKey || info2.Origin != info.Origin {
		t.Fatalf("after the restart the log is %s %s, before %s %s", info2.Origin, info2.PublicKey, info.Origin, info.PublicKey)
	}
	var treeID2 int64
	var trees int
	if err := db.QueryRowContext(ctx, "SELECT tree_id FROM trialog_log WHERE id = 1").Scan(&treeID2); err != nil || treeID2 != treeID {
		t.Fatalf("after the restart trialog_log names tree %d, before %d (%v)", treeID2, treeID, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM Trees").Scan(&trees); err != nil || trees != 1 {
		t.Fatalf("%d trees in Trillian after the restart, want 1 (%v)", trees, err)
	}
	for _, p := range entries {
		e, err := pub.Entry(ctx, p.entry.ID)
		if err != nil {
			t.Fatalf("entry %s after the restart: %v", p.entry.ID, err)
		}
		if e.LeafIndex != p.entry.LeafIndex || e.Leaf != p.entry.Leaf {
			t.Fatalf("entry %s changed in the restart", e.ID)
		}
		n, h := testserver.VerifyEntry(t, info.PublicKey, e)
		testserver.CheckConsistency(t, srv.URL, n, h, p.size, p.root)
	}
	e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("after the restart")), 10*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submission after the restart: status %d, %v", status, err)
	}
	if e.LeafIndex < cpSize {
		t.Fatalf("the first entry after the restart has index %d, in the tree of size %d before it", e.LeafIndex, cpSize)
	}
	newSize, newRoot := testserver.VerifyEntry(t, info.PublicKey, e)
	testserver.CheckConsistency(t, srv.URL, newSize, newRoot, cpSize, cpRoot)
	testserver.CheckConsistency(t, srv.URL, newSize, newRoot, entries[0].size, entries[0].root)
	if s, _ := settledCheckpoint(t, ctx, db, pub, info.PublicKey, treeID); s != newSize {
		t.Fatalf("after the restart the checkpoint settled at %d, want %d", s, newSize)
	}

	// trialogd did all this through the external Trillian: it created the
	// one tree and added the leaves through that log server, and that
	// signer integrated every leaf (no Trillian ran inside trialogd).
	if n := trillianMetric(t, tr.serverHTTP, `log_rpc_success{method="/trillian.TrillianAdmin/CreateTree"}`); n != 1 {
		t.Fatalf("the external log server created %v trees, want 1", n)
	}
	if n := trillianMetric(t, tr.serverHTTP, `log_rpc_success{method="/trillian.TrillianLog/AddSequencedLeaves"}`); n < 1 {
		t.Fatalf("the external log server answered %v AddSequencedLeaves calls", n)
	}
	sequenced := fmt.Sprintf(`sequencer_sequenced{logid="%d"}`, treeID)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n := trillianMetric(t, tr.signerHTTP, sequenced)
		if n == float64(newSize) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the external signer integrated %v leaves of tree %d, want all %d", n, treeID, newSize)
		}
	}
}

// settledCheckpoint waits until the latest checkpoint covers every leaf in
// trialog's entries table and in Trillian's SequencedLeafData for treeID,
// and returns its size and root.
func settledCheckpoint(t *testing.T, ctx context.Context, db *sql.DB, pub *client.Client, vkey string, treeID int64) (int64, tlog.Hash) {
	t.Helper()
	var size, entries, sequenced int64
	var root tlog.Hash
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		li, err := pub.Log(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, size, root = testserver.IndependentCheckpoint(t, vkey, []byte(li.Checkpoint))
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM trialog_entries").Scan(&entries); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM SequencedLeafData WHERE TreeId = ?", treeID).Scan(&sequenced); err != nil {
			t.Fatal(err)
		}
		if size == entries && size == sequenced {
			return size, root
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint size %d, %d rows in trialog_entries, %d in Trillian's SequencedLeafData for tree %d", size, entries, sequenced, treeID)
		}
	}
}

// trillianCommands are the Trillian programs the test runs.
var trillianCommands = []string{"trillian_log_server", "trillian_log_signer"}

const trillianModule = "github.com/google/trillian"

// trillianBinaries returns the directory holding trillian_log_server and
// trillian_log_signer of the Trillian version go.mod pins: $TRIALOG_TRILLIAN_BIN,
// or bin/trillian at the top of the module, where `make trillian` builds
// them (outside the test: a cold build takes minutes). Without them the
// test is skipped, or fails in CI (CI=true).
func trillianBinaries(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TRIALOG_TRILLIAN_BIN")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin", "trillian")
	}
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; build them with `make trillian` (or set TRIALOG_TRILLIAN_BIN to a directory holding them)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if !haveTrillianBinaries(dir) {
		missing("no %s in %s", strings.Join(trillianCommands, " and "), dir)
	}
	want := goCommandOutput(t, "list", "-m", "-f", "{{.Version}}", trillianModule)
	got, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil || strings.TrimSpace(string(got)) != want {
		missing("the Trillian binaries in %s are not of version %s, which go.mod pins (VERSION: %q)", dir, want, strings.TrimSpace(string(got)))
	}
	return dir
}

func haveTrillianBinaries(dir string) bool {
	for _, c := range trillianCommands {
		if fi, err := os.Stat(filepath.Join(dir, c)); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// goCommandOutput runs the go command in the package directory and returns
// its trimmed output.
func goCommandOutput(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(b))
}

// startTrillian starts trillian_log_server and trillian_log_signer on the
// database dsn (whose schema must include Trillian's tables) and returns the
// log server's addresses once it accepts connections. Both are stopped when
// the test ends.
func startTrillian(t *testing.T, bin, dsn string) trillianAddrs {
	t.Helper()
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Trillian sets STRICT_ALL_TABLES on one connection only; the DSN sets it
	// on every pooled one. FormatDSN escapes the quotes: sql_mode=%27...%27.
	mc.Params = map[string]string{"sql_mode": "'STRICT_ALL_TABLES'"}
	uri := mc.FormatDSN()
	addrs := trillianFreeAddrs(t, 4)
	serverRPC, serverHTTP, signerRPC, signerHTTP := addrs[0], addrs[1], addrs[2], addrs[3]
	common := []string{"--storage_system=mysql", "--mysql_uri=" + uri, "--quota_system=noop"}
	logDir := t.TempDir()
	var children []*trillianChild
	t.Cleanup(func() { stopTrillianChildren(t, children) })
	server := startTrillianChild(t, bin, logDir, "trillian_log_server", append(common,
		"--rpc_endpoint="+serverRPC, "--http_endpoint="+serverHTTP)...)
	children = append(children, server)
	signer := startTrillianChild(t, bin, logDir, "trillian_log_signer", append(common,
		"--rpc_endpoint="+signerRPC, "--http_endpoint="+signerHTTP,
		"--force_master", "--pre_election_pause=10ms", "--sequencer_interval=50ms", "--batch_size=1000")...)
	children = append(children, signer)
	server.waitListening(t, serverRPC)
	signer.waitListening(t, signerHTTP)
	return trillianAddrs{rpc: serverRPC, serverHTTP: serverHTTP, signerHTTP: signerHTTP}
}

// trillianAddrs are the addresses of the Trillian programs: the log server's
// gRPC endpoint and both programs' HTTP (metrics) endpoints.
type trillianAddrs struct{ rpc, serverHTTP, signerHTTP string }

// trillianMetric reads the value of the Prometheus sample named series
// (with its labels, as exposed) from the /metrics page at httpAddr, or 0 if
// it is absent.
func trillianMetric(t *testing.T, httpAddr, series string) float64 {
	t.Helper()
	status, _, body := testserver.Request(t, http.MethodGet, "http://"+httpAddr+"/metrics", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET http://%s/metrics: %d", httpAddr, status)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			return f
		}
	}
	return 0
}

// trillianFreeAddrs returns n distinct free loopback addresses.
func trillianFreeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so they differ
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// trillianChild is a Trillian program running as a child process in its own
// process group, logging to a file.
type trillianChild struct {
	name   string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startTrillianChild(t *testing.T, bin, logDir, name string, args ...string) *trillianChild {
	t.Helper()
	c := &trillianChild{name: name, log: filepath.Join(logDir, name+".log"), exited: make(chan struct{})}
	f, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	c.cmd = exec.Command(filepath.Join(bin, name), args...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	// Its own process group, to be signalled as one; killed by the kernel
	// if the test process dies without cleaning up.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the thread that forked: keep it
		// alive as long as the child.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	return c
}

// stopTrillianChildren kills the children's process groups and waits for
// them, logging their logs if the test failed. They get no SIGTERM: on one
// Trillian's servers stop serving and then sleep five seconds "to tidy up",
// and there is nothing of theirs to keep; the kernel closes their MySQL
// connections.
func stopTrillianChildren(t *testing.T, children []*trillianChild) {
	for _, c := range children {
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	}
	for _, c := range children {
		<-c.exited
		if t.Failed() {
			c.logTail(t)
		}
	}
}

// waitListening waits until addr accepts TCP connections, failing the test
// if the child exits first or 30s pass.
func (c *trillianChild) waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-c.exited:
			c.logTail(t)
			t.Fatalf("%s exited during start: %v", c.name, c.err)
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
	}
	c.logTail(t)
	t.Fatalf("%s does not accept connections on %s after 30s", c.name, addr)
}

// logTail logs the end of the child's log.
func (c *trillianChild) logTail(t *testing.T) {
	t.Helper()
	const max = 16 << 10
	f, err := os.Open(c.log)
	if err != nil {
		t.Logf("%s log: %v", c.name, err)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Logf("%s log: %v", c.name, err)
	}
	t.Logf("%s log (%s, last %d bytes):\n%s", c.name, c.log, len(b), b)
}
