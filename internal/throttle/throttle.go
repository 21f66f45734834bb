// Package throttle logs a repeating failure once when it starts or changes,
// then at most once per period, so that a loop retrying every few
// milliseconds does not flood the log.
package throttle

import (
	"log/slog"
	"sync"
	"time"
)

// Throttle is one repeating failure's log line. Its zero value logs every
// failure; set Period. It is safe for concurrent use.
type Throttle struct {
	// Period is the least time between two lines of the same failure.
	Period time.Duration

	mu    sync.Mutex
	last  string
	at    time.Time
	count int
}

// New returns a Throttle with period.
func New(period time.Duration) *Throttle { return &Throttle{Period: period} }

// Warn logs msg with err, unless the same error was logged less than Period
// ago; the next line that is logged counts the ones left out.
func (t *Throttle) Warn(log *slog.Logger, msg string, err error, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	text := err.Error()
	now := time.Now()
	if text == t.last && now.Sub(t.at) < t.Period {
		t.count++
		return
	}
	if t.count > 0 {
		args = append(args, "repeated", t.count)
	}
	log.Warn(msg, append(args, "err", err)...)
	t.last, t.at, t.count = text, now, 0
}

// Reset notes that the failure has ended.
func (t *Throttle) Reset() {
	t.mu.Lock()
	t.last, t.count = "", 0
	t.mu.Unlock()
}
