package personality

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestAuthGuard(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	g := newAuthGuard(0.5, 3)
	g.now = func() time.Time { return now }

	// An unknown token is remembered by hash, for badTokenTTL.
	if g.knownBad("guess") {
		t.Fatal("a token never seen is known bad")
	}
	g.failed("192.0.2.1", "guess")
	if !g.knownBad("guess") || g.knownBad("other") {
		t.Fatal("the unknown-token cache does not hold exactly the failed token")
	}
	now = now.Add(badTokenTTL + time.Second)
	if g.knownBad("guess") {
		t.Fatal("an unknown token is remembered past its TTL")
	}

	// Three failures at once (the bucket refilled during the TTL), then
	// 429 with a Retry-After of the refill time; another address is not
	// affected; the bucket refills.
	for i := 0; i < 3; i++ {
		if err := g.admit("192.0.2.1"); err != nil {
			t.Fatalf("failure %d refused: %v", i+1, err)
		}
		g.failed("192.0.2.1", "")
	}
	err := g.admit("192.0.2.1")
	var e *apiError
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Code != "rate_limited" || e.RetryAfter != 2*time.Second {
		t.Fatalf("after 3 failures: %v, want 429 rate_limited with Retry-After 2s", err)
	}
	if err := g.admit("192.0.2.2"); err != nil {
		t.Fatalf("another address refused: %v", err)
	}
	now = now.Add(2 * time.Second)
	if err := g.admit("192.0.2.1"); err != nil {
		t.Fatalf("refused after the bucket refilled: %v", err)
	}

	// Memory stays bounded whatever the number of addresses and tokens.
	for i := 0; i < 3*maxGuardEntries; i++ {
		g.failed(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), fmt.Sprint("t", i))
	}
	if len(g.byIP) > maxGuardEntries || len(g.bad) > maxGuardEntries {
		t.Fatalf("guard holds %d addresses and %d tokens, more than %d", len(g.byIP), len(g.bad), maxGuardEntries)
	}

	// Off: no per-address limit.
	off := newAuthGuard(0, 0)
	for i := 0; i < 100; i++ {
		off.failed("192.0.2.1", "")
	}
	if err := off.admit("192.0.2.1"); err != nil {
		t.Fatalf("limit off still refused: %v", err)
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":    "abc",
		"bearer abc":    "abc",
		"BEARER  abc  ": "abc",
		"Basic abc":     "",
		"Bearerabc":     "",
		"":              "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		if got := bearer(r); got != want {
			t.Errorf("bearer(%q) = %q, want %q", h, got, want)
		}
	}
}
