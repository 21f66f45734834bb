package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// TestCrashUnderLoad kills trialogd with SIGKILL ten times while 64 clients
// submit, restarting it each time on the same database and data dir. Then
// every acknowledged entry must be in the log exactly once, and every
// checkpoint trialogd ever signed must be consistent with the final one
// (DESIGN.md R1).
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("ten kill -9 cycles of the trialogd binary")
	}
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	addr := freeAddr(t)
	p := startProcess(t, cfg, addr)
	sponsor := testserver.NewPrincipal(t, p.URL, cfg.DataDir, "Crash sponsor", "sponsor")
	vkey := testserver.ReadLog(t, p.URL).VKey
	ctx := context.Background()

	var mu sync.Mutex
	acked := map[string]bool{}
	for cycle := 0; cycle < 10; cycle++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := 0; c < 64; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					wait := time.Duration(0)
					if c%2 == 0 {
						wait = 5 * time.Second // half the clients wait for proofs
					}
					e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("crash %d %d %d", cycle, c, i))), wait)
					if err != nil {
						return // the server died under us
					}
					if status == http.StatusAccepted || status == http.StatusCreated {
						mu.Lock()
						acked[e.ID] = true
						mu.Unlock()
					}
				}
			}(c)
		}
		time.Sleep(time.Duration(300+50*cycle) * time.Millisecond)
		p.signal(t, syscall.SIGKILL)
		close(stop)
		wg.Wait()
		p = startProcess(t, cfg, addr)
	}
	t.Logf("%d entries acknowledged across 10 kill -9 cycles", len(acked))

	verifyAcked(t, dsn, p.URL, vkey, acked)
}

func checkConsistent(t *testing.T, url string, final testserver.LogState, size int64, root tlog.Hash) {
	t.Helper()
	testserver.CheckConsistency(t, url, final.Size, final.Root, size, root)
}
