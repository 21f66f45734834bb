package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// TestMySQLOutage stops a private MariaDB under a running trialogd: while
// it is down, submissions and reads answer 503 with Retry-After and the
// process stays up; once it is back, trialogd serves again by itself and
// nothing acknowledged is lost.
func TestMySQLOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private MariaDB")
	}
	db := testdb.StartPrivate(t)
	srv := testserver.Start(t, testserver.Config(t, db.DSN("trialog")))
	ctx := context.Background()
	sponsor := srv.NewPrincipal(t, "Outage sponsor", "sponsor")
	before, _, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("before outage")), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	db.Stop(t)
	body, _ := testserver.JSON(sponsor.Sign(testserver.DigestStatement("during outage")))
	status, hdr, resp := testserver.Request(t, http.MethodPost, srv.URL+"/v1/entries?wait=2s", sponsor.Token, "application/json", body)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("submission during outage: %d %s (Retry-After %q), want 503 with Retry-After", status, resp, hdr.Get("Retry-After"))
	}
	batch, _ := testserver.JSON(map[string]any{"envelopes": []any{sponsor.Sign(testserver.DigestStatement("batch during outage"))}})
	status, hdr, resp = testserver.Request(t, http.MethodPost, srv.URL+"/v1/entries:batch", sponsor.Token, "application/json", batch)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("batch during outage: %d %s, want 503 with Retry-After", status, resp)
	}
	status, hdr, _ = testserver.Request(t, http.MethodGet, srv.URL+"/v1/entries/"+before.ID, "", "", nil)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("read during outage: %d, want 503 with Retry-After", status)
	}
	if status, _, _ := testserver.Request(t, http.MethodGet, srv.URL+"/readyz", "", "", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during outage = %d, want 503", status)
	}
	if status, _, _ := testserver.Request(t, http.MethodGet, srv.URL+"/healthz", "", "", nil); status != http.StatusOK {
		t.Fatalf("/healthz during outage = %d, want 200: the process must stay up", status)
	}

	db.Start(t)
	back := time.Now()
	var e *entryResult
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got, st, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("after outage %d", time.Now().UnixNano()))), 5*time.Second)
		if err == nil && st == http.StatusCreated {
			e = &entryResult{got.ID}
			testserver.VerifyEntry(t, testserver.ReadLog(t, srv.URL).VKey, got)
			break
		}
	}
	if e == nil {
		t.Fatal("trialogd did not recover within 30s of MySQL's return")
	}
	t.Logf("serving again %v after MySQL returned", time.Since(back).Round(time.Millisecond))
	if time.Since(back) > 5*time.Second {
		t.Errorf("recovery took %v; the target is 5s", time.Since(back))
	}
	got, err := client.New(srv.URL, "").Entry(ctx, before.ID)
	if err != nil || got.Status != "included" {
		t.Fatalf("entry acknowledged before the outage: %v", err)
	}
	testserver.VerifyEntry(t, testserver.ReadLog(t, srv.URL).VKey, got)
	if status, _, _ := testserver.Request(t, http.MethodGet, srv.URL+"/readyz", "", "", nil); status != http.StatusOK {
		t.Fatalf("/readyz after recovery = %d", status)
	}
}

type entryResult struct{ id string }
