package personality

import (
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters keeps one token bucket per principal: each authenticated request
// takes a token; a principal out of tokens is answered 429 rate_limited with
// Retry-After, and others are not affected.
type limiters struct {
	rate  rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(2*perSecond)))
	}
	return &limiters{rate: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}}
}

// allow takes a token for principal, or returns the error to answer.
func (l *limiters) allow(principal string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	lim, ok := l.m[principal]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[principal] = lim
	}
	l.mu.Unlock()
	r := lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		e := newError(http.StatusTooManyRequests, "rate_limited", "this principal is over its request rate (%g per second); retry after the Retry-After seconds", float64(l.rate))
		e.RetryAfter = max(time.Second, d.Round(time.Second))
		return e
	}
	return nil
}
