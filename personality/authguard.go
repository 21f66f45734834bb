package personality

import (
	"crypto/sha256"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for guarding authentication against token guessing.
const (
	// DefaultAuthFailureRate is how many failed authentications per second
	// one client address may make in the long run (its bucket's refill).
	DefaultAuthFailureRate = 1.0
	// DefaultAuthFailureBurst is how many it may make at once.
	DefaultAuthFailureBurst = 20
	// badTokenTTL is how long an unknown token is answered 401 from memory.
	// Tokens are 256 random bits, so a token unknown now is only ever known
	// later if it is created later, which it practically cannot be.
	badTokenTTL = 5 * time.Minute
	// maxGuardEntries bounds each of the guard's maps.
	maxGuardEntries = 10000
)

// authGuard keeps token guessing cheap for the server: unknown tokens are
// remembered by hash, so that a repeated one costs no database query, and
// each client address has a token bucket of failed authentications; an
// address whose bucket is empty is answered 429 with Retry-After before its
// token is looked at.
type authGuard struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu   sync.Mutex
	bad  map[[sha256.Size]byte]time.Time // unknown token hash → until
	byIP map[string]*rate.Limiter
}

// newAuthGuard returns a guard allowing perSecond failures per address
// with bursts of burst; perSecond ≤ 0 turns the per-address limit off (the
// unknown-token cache stays).
func newAuthGuard(perSecond float64, burst int) *authGuard {
	if burst < 1 {
		burst = DefaultAuthFailureBurst
	}
	return &authGuard{rate: rate.Limit(perSecond), burst: burst, now: time.Now,
		bad: map[[sha256.Size]byte]time.Time{}, byIP: map[string]*rate.Limiter{}}
}

// clientAddr is the address failures are counted against: the peer's IP as
// trialogd sees it (a proxy in front counts as one client).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// admit returns the error to answer when addr has used up its failures.
func (g *authGuard) admit(addr string) error {
	if g.rate <= 0 {
		return nil
	}
	g.mu.Lock()
	lim := g.byIP[addr]
	g.mu.Unlock()
	if lim == nil {
		return nil
	}
	now := g.now()
	if lim.TokensAt(now) >= 1 {
		return nil
	}
	r := lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	e := newError(http.StatusTooManyRequests, "rate_limited", "too many failed authentications from this address; retry after the Retry-After seconds")
	e.RetryAfter = max(time.Second, wait.Round(time.Second))
	return e
}

// failed counts a failed authentication from addr, with the token if any.
func (g *authGuard) failed(addr, token string) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if token != "" {
		if len(g.bad) >= maxGuardEntries {
			for h, until := range g.bad {
				if now.After(until) {
					delete(g.bad, h)
				}
			}
			if len(g.bad) >= maxGuardEntries {
				clear(g.bad)
			}
		}
		g.bad[sha256.Sum256([]byte(token))] = now.Add(badTokenTTL)
	}
	if g.rate <= 0 {
		return
	}
	lim := g.byIP[addr]
	if lim == nil {
		if len(g.byIP) >= maxGuardEntries {
			for a, l := range g.byIP {
				if l.TokensAt(now) >= float64(g.burst) {
					delete(g.byIP, a) // full bucket: forgetting it changes nothing
				}
			}
			if len(g.byIP) >= maxGuardEntries {
				clear(g.byIP)
			}
		}
		lim = rate.NewLimiter(g.rate, g.burst)
		g.byIP[addr] = lim
	}
	lim.AllowN(now, 1)
}

// knownBad reports whether token was unknown a short while ago.
func (g *authGuard) knownBad(token string) bool {
	h := sha256.Sum256([]byte(token))
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.bad[h]
	if ok && g.now().After(until) {
		delete(g.bad, h)
		return false
	}
	return ok
}

// bearer returns the caller's token from "Authorization: Bearer <token>";
// the scheme's name is case-insensitive (RFC 9110, section 11.1).
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
