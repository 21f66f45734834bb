package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/storage"
)

// replica is one trialogd process of several on one database, restartable
// on the same address and data directory.
type replica struct {
	name    string
	addr    string
	URL     string
	dataDir string
	args    []string
	cmd     *exec.Cmd
	logf    *os.File
	exited  chan struct{}
}

func newReplica(t *testing.T, name string, args ...string) *replica {
	t.Helper()
	r := &replica{name: name, addr: freeAddr(t), dataDir: t.TempDir(), args: args}
	r.URL = "http://" + r.addr
	t.Cleanup(func() {
		if r.cmd != nil {
			r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

// start runs the process without waiting for it to be ready.
func (r *replica) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(r.dataDir, "trialogd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--listen", r.addr, "--data-dir", r.dataDir}, r.args...)
	cmd := exec.Command(trialogdBinary(t), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.cmd, r.logf, r.exited = cmd, logf, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(r.exited) }()
}

func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.exited
	r.cmd = nil
}

func (r *replica) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.dataDir, "trialogd.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// readyz returns the status code and the "status" field of /readyz (0 when
// nothing answers).
func (r *replica) readyz() (int, string) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(r.URL + "/readyz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Status
}

// waitReadyz waits until /readyz answers code (and status, if not empty).
func (r *replica) waitReadyz(t *testing.T, code int, status string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, s := r.readyz(); c == code && (status == "" || s == status) {
			return
		}
	}
	c, s := r.readyz()
	t.Fatalf("%s: /readyz is %d %q, want %d %q\n%s", r.name, c, s, code, status, r.logTail())
}

// TestFailoverEmbedded runs three embedded-mode trialogd processes on one
// database: one leads, two stand by. Under load from 32 clients that move
// to another process when theirs stops answering, the leader is killed
// with SIGKILL five times (and restarted as a standby). A standby must be
// ready within 10 s each time; at the end every acknowledged entry is in
// the log exactly once and every checkpoint ever signed is consistent with
// the last (DESIGN.md R1, R6).
func TestFailoverEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("five leader kills among three trialogd processes")
	}
	dsn := testdb.DSN(t)
	keys := t.TempDir()
	common := []string{"--mysql-dsn", dsn, "--origin", "failover.test/log",
		"--signing-key-file", filepath.Join(keys, "log.key"), "--service-key-file", filepath.Join(keys, "service.key"),
		"--checkpoint-interval", "20ms", "--sequencer-interval", "20ms"}
	rs := []*replica{newReplica(t, "a", common...), newReplica(t, "b", common...), newReplica(t, "c", common...)}
	rs[0].start(t)
	rs[0].waitReadyz(t, http.StatusOK, "ready", 60*time.Second)
	for _, r := range rs[1:] {
		r.start(t)
		r.waitReadyz(t, http.StatusServiceUnavailable, "standby", 30*time.Second)
		checkStandby(t, r)
	}
	sponsor := testserver.NewPrincipal(t, rs[0].URL, rs[0].dataDir, "Failover sponsor", "sponsor")
	vkey := testserver.ReadLog(t, rs[0].URL).VKey
	ctx := context.Background()
	clients := make([]*client.Client, len(rs))
	for i, r := range rs {
		clients[i] = client.New(r.URL, sponsor.Token)
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 32; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			at := c % len(rs)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				wait := time.Duration(0)
				if c%2 == 0 {
					wait = 5 * time.Second
				}
				e, status, err := clients[at].Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("failover %d %d", c, i))), wait)
				if err != nil {
					at = (at + 1) % len(rs) // a standby, or a dead leader
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if status == http.StatusAccepted || status == http.StatusCreated {
					mu.Lock()
					acked[e.ID] = true
					mu.Unlock()
				}
			}
		}(c)
	}

	leader := rs[0]
	var takeovers []time.Duration
	for cycle := 0; cycle < 5; cycle++ {
		time.Sleep(time.Duration(700+200*cycle) * time.Millisecond)
		killedAt := time.Now()
		leader.kill(t)
		var next *replica
		for next == nil {
			if time.Since(killedAt) > 10*time.Second {
				for _, r := range rs {
					if r != leader {
						t.Logf("%s:\n%s", r.name, r.logTail())
					}
				}
				t.Fatalf("cycle %d: no standby became ready within 10 s of the leader's death", cycle)
			}
			for _, r := range rs {
				if r == leader {
					continue
				}
				if c, _ := r.readyz(); c == http.StatusOK {
					next = r
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(killedAt)
		takeovers = append(takeovers, took)
		t.Logf("cycle %d: %s killed, %s ready after %v", cycle, leader.name, next.name, took.Round(time.Millisecond))
		leader.start(t)
		leader.waitReadyz(t, http.StatusServiceUnavailable, "standby", 30*time.Second)
		for _, r := range rs {
			if c, _ := r.readyz(); c == http.StatusOK && r != next {
				t.Fatalf("two processes ready at once: %s and %s", next.name, r.name)
			}
		}
		leader = next
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	sort.Slice(takeovers, func(i, j int) bool { return takeovers[i] < takeovers[j] })
	t.Logf("%d entries acknowledged; takeover times (kill -9 to the standby's /readyz 200): %v", len(acked), takeovers)
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	verifyAcked(t, dsn, leader.URL, vkey, acked)
}

// checkStandby asserts the standby contract: /healthz 200, /v1 503 with
// Retry-After.
func checkStandby(t *testing.T, r *replica) {
	t.Helper()
	resp, err := http.Get(r.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s standby: /healthz %v %v", r.name, resp, err)
	}
	resp.Body.Close()
	for _, path := range []string{"/v1/log", "/v1/entries/x", "/v1/checkpoint"} {
		resp, err := http.Get(r.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "standby") {
			t.Fatalf("%s standby: GET %s = %d Retry-After %q %s", r.name, path, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	resp, err = http.Get(r.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "\ntrialog_leader 0\n") {
		t.Fatalf("%s standby: metrics lack trialog_leader 0", r.name)
	}
}

// verifyAcked checks through url that every acknowledged entry is included,
// that no entry is in the log twice, and that every checkpoint stored in
// the database verifies and is consistent with the latest.
func verifyAcked(t *testing.T, dsn, url, vkey string, acked map[string]bool) {
	t.Helper()
	ctx := context.Background()
	pub := client.New(url, "")
	for id := range acked {
		var err error
		var status string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			e, gerr := pub.Entry(ctx, id)
			if err = gerr; err == nil {
				if status = e.Status; status == "included" {
					break
				}
			}
		}
		if err != nil || status != "included" {
			t.Fatalf("acknowledged entry %s is not in the log: %v %s", id, err, status)
		}
	}
	final := testserver.ReadLog(t, url)
	seen := map[string]bool{}
	for start := int64(0); start < final.Size; start += 1000 {
		leaves, err := pub.Leaves(ctx, start, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leaves {
			if seen[l.ID] {
				t.Fatalf("entry %s is in the log twice", l.ID)
			}
			seen[l.ID] = true
		}
	}
	if int64(len(seen)) != final.Size {
		t.Fatalf("%d distinct entries in a tree of %d", len(seen), final.Size)
	}
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT note FROM trialog_checkpoints ORDER BY tree_size`)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		notes = append(notes, n)
	}
	rows.Close()
	for _, n := range notes {
		_, size, root := testserver.IndependentCheckpoint(t, vkey, []byte(n))
		if size == 0 {
			continue
		}
		checkConsistent(t, url, final, size, root)
	}
	t.Logf("%d signed checkpoints, all consistent with the final one of size %d", len(notes), final.Size)
}

// TestFailoverPausedLeader stops the leader with SIGSTOP (a hung process,
// or one cut off from MySQL: it holds its connection but says nothing).
// MySQL drops its connection after the election's idle timeout, freeing the
// lock; the standby must be ready within 10 s. When the old leader resumes
// it must see that its lease ran out and stand by, and the log stay
// consistent.
func TestFailoverPausedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for MySQL to drop a paused leader's connection")
	}
	dsn := testdb.DSN(t)
	keys := t.TempDir()
	common := []string{"--mysql-dsn", dsn, "--origin", "failover.test/log",
		"--signing-key-file", filepath.Join(keys, "log.key"), "--service-key-file", filepath.Join(keys, "service.key"),
		"--checkpoint-interval", "20ms", "--sequencer-interval", "20ms"}
	a, b := newReplica(t, "a", common...), newReplica(t, "b", common...)
	a.start(t)
	a.waitReadyz(t, http.StatusOK, "ready", 60*time.Second)
	b.start(t)
	b.waitReadyz(t, http.StatusServiceUnavailable, "standby", 30*time.Second)
	sponsor := testserver.NewPrincipal(t, a.URL, a.dataDir, "Pause sponsor", "sponsor")
	vkey := testserver.ReadLog(t, a.URL).VKey
	ctx := context.Background()
	acked := map[string]bool{}
	submit := func(c *client.Client, doc string) {
		e, status, err := c.Submit(ctx, sponsor.Sign(testserver.DigestStatement(doc)), 5*time.Second)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("submitting %s: %d %v", doc, status, err)
		}
		acked[e.ID] = true
	}
	for i := 0; i < 20; i++ {
		submit(sponsor.Client, fmt.Sprintf("before pause %d", i))
	}

	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	b.waitReadyz(t, http.StatusOK, "ready", 10*time.Second)
	took := time.Since(pausedAt)
	t.Logf("leader paused; standby ready after %v", took.Round(time.Millisecond))
	bc := client.New(b.URL, sponsor.Token)
	for i := 0; i < 20; i++ {
		submit(bc, fmt.Sprintf("after takeover %d", i))
	}
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// It finds its lease run out, stops, and stands by.
	a.waitReadyz(t, http.StatusServiceUnavailable, "standby", 10*time.Second)
	if !strings.Contains(a.logTail(), "no longer the leader") {
		t.Fatalf("the old leader's log does not say why it stopped:\n%s", a.logTail())
	}
	if c, _ := b.readyz(); c != http.StatusOK {
		t.Fatalf("the new leader is no longer ready after the old one resumed: %d", c)
	}
	for i := 0; i < 5; i++ {
		submit(bc, fmt.Sprintf("after resume %d", i))
	}
	verifyAcked(t, dsn, b.URL, vkey, acked)
}

// metricValue reads an unlabelled sample from url's /metrics (-1 when
// nothing answers or the sample is absent).
func metricValue(url, name string) float64 {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

// TestFailoverExternal runs three trialogd replicas in front of Trillian's
// own log server and signer. All three append; one, elected, signs
// checkpoints. Under load on all three the elected one is killed with
// SIGKILL: another must take over signing, and every acknowledged entry,
// from any replica, must be in the log once with every checkpoint
// consistent.
func TestFailoverExternal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Trillian's log server and signer and three trialogd")
	}
	dsn := testdb.DSN(t)
	bin := trillianBinaries(t)
	ctx := context.Background()
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := storage.Migrate(ctx, db, true); err != nil {
		t.Fatal(err)
	}
	tr := startTrillian(t, bin, dsn)
	keys := t.TempDir()
	common := []string{"--mysql-dsn", dsn, "--origin", "failover.test/external", "--trillian", tr.rpc,
		"--signing-key-file", filepath.Join(keys, "log.key"), "--service-key-file", filepath.Join(keys, "service.key"),
		"--checkpoint-interval", "20ms"}
	rs := []*replica{newReplica(t, "a", common...), newReplica(t, "b", common...), newReplica(t, "c", common...)}
	rs[0].start(t) // the first creates the tree
	rs[0].waitReadyz(t, http.StatusOK, "ready", 60*time.Second)
	for _, r := range rs[1:] {
		r.start(t)
		r.waitReadyz(t, http.StatusOK, "ready", 60*time.Second)
	}
	leaders := func() (n int, who *replica) {
		for _, r := range rs {
			if r.cmd != nil && metricValue(r.URL, "trialog_leader") == 1 {
				n, who = n+1, r
			}
		}
		return n, who
	}
	var leader *replica
	for deadline := time.Now().Add(10 * time.Second); leader == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica was elected")
		}
		if n, who := leaders(); n == 1 {
			leader = who
		} else if n > 1 {
			t.Fatal("two replicas elected at once")
		}
	}
	// Each replica has its own admin.token here; the last one started
	// registered its own in place of the others'.
	sponsor := testserver.NewPrincipal(t, rs[2].URL, rs[2].dataDir, "External sponsor", "sponsor")
	vkey := testserver.ReadLog(t, rs[0].URL).VKey

	var mu sync.Mutex
	acked := map[string]bool{}
	perReplica := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 24; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			at := c % len(rs)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cl := client.New(rs[at].URL, sponsor.Token)
				e, status, err := cl.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("external failover %d %d", c, i))), 5*time.Second)
				if err != nil {
					at = (at + 1) % len(rs)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if status == http.StatusAccepted || status == http.StatusCreated {
					mu.Lock()
					acked[e.ID] = true
					perReplica[rs[at].name]++
					mu.Unlock()
				}
			}
		}(c)
	}
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	leader.kill(t)
	var next *replica
	for next == nil {
		if time.Since(killedAt) > 10*time.Second {
			t.Fatal("no replica took over signing within 10 s")
		}
		n, who := leaders()
		if n > 1 {
			t.Fatal("two replicas elected at once")
		}
		next = who
		time.Sleep(10 * time.Millisecond)
	}
	elected := time.Since(killedAt)
	// A checkpoint newer than any before the kill, signed by the new one.
	before := testserver.ReadLog(t, next.URL).Size
	for deadline := time.Now().Add(10 * time.Second); testserver.ReadLog(t, next.URL).Size <= before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s was elected but signs no checkpoint:\n%s", next.name, next.logTail())
		}
	}
	t.Logf("signer %s killed; %s elected after %v", leader.name, next.name, elected.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d entries acknowledged, by replica: %v", len(acked), perReplica)
	for _, r := range rs {
		if r != leader && perReplica[r.name] == 0 {
			t.Fatalf("replica %s acknowledged nothing", r.name)
		}
	}
	verifyAcked(t, dsn, next.URL, vkey, acked)
}

// TestStandbyWithWrongKeysRefused: a process that would stand by without
// the log's keys is refused at its start, not when it should take over.
func TestStandbyWithWrongKeysRefused(t *testing.T) {
	dsn := testdb.DSN(t)
	keys := t.TempDir()
	common := []string{"--mysql-dsn", dsn, "--origin", "failover.test/log", "--signing-key-file", filepath.Join(keys, "log.key")}
	a := newReplica(t, "a", append(common, "--service-key-file", filepath.Join(keys, "service.key"))...)
	a.start(t)
	a.waitReadyz(t, http.StatusOK, "ready", 60*time.Second)
	b := newReplica(t, "b", append(common, "--service-key-file", filepath.Join(t.TempDir(), "service.key"))...)
	b.start(t)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("a standby without the service key was not refused:\n%s", b.logTail())
	}
	b.cmd = nil
	if !strings.Contains(b.logTail(), "not this log's service key") {
		t.Fatalf("the refusal does not say why:\n%s", b.logTail())
	}
	if _, err := os.Stat(filepath.Join(b.dataDir, "admin.token")); !os.IsNotExist(err) {
		t.Fatalf("the refused standby created files: %v", err)
	}
	if c, _ := a.readyz(); c != http.StatusOK {
		t.Fatalf("the leader is not ready any more: %d", c)
	}
}
