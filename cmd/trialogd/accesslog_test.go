package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// TestAccessLog runs trialogd with --access-log: a submission is logged
// with its route template, status and principal; no token appears.
func TestAccessLog(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	cfg.AccessLog = true
	var out testserver.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Serve(ctx, cfg, slog.New(slog.NewJSONHandler(&out, nil)), ln) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", out.String())
		}
	}
	sponsor := testserver.NewPrincipal(t, url, cfg.DataDir, "Logged sponsor", "sponsor")
	e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("access log")), 5*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submit: %d %v", status, err)
	}
	if resp, err := http.Get(url + "/v1/entries/" + e.ID); err == nil {
		resp.Body.Close()
	}
	admin := (&testserver.Server{URL: url, Config: cfg}).AdminToken(t)
	var submit, get bool
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, sponsor.Token) || strings.Contains(line, admin) {
			t.Fatalf("a token is in the log: %s", line)
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "request" {
			continue
		}
		if strings.Contains(line, e.ID) {
			t.Fatalf("the access log holds a raw path: %s", line)
		}
		switch {
		case m["route"] == "/v1/entries" && m["method"] == "POST" && m["status"] == float64(201) && m["principal"] == sponsor.ID:
			submit = true
		case m["route"] == "/v1/entries/{id}" && m["method"] == "GET" && m["status"] == float64(200):
			get = true
		}
	}
	if !submit || !get {
		t.Fatalf("submission logged %v, read logged %v:\n%s", submit, get, out.String())
	}
}
