package personality

import (
	"log/slog"
	"sync"
	"time"
)

// throttle logs a repeating failure once when it starts or changes, then at
// most once per period, so that a loop retrying every few milliseconds does
// not flood the log.
type throttle struct {
	mu     sync.Mutex
	last   string
	at     time.Time
	period time.Duration
	count  int
}

func (t *throttle) warn(log *slog.Logger, msg string, err error, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	text := err.Error()
	now := time.Now()
	if text == t.last && now.Sub(t.at) < t.period {
		t.count++
		return
	}
	if t.count > 0 {
		args = append(args, "repeated", t.count)
	}
	log.Warn(msg, append(args, "err", err)...)
	t.last, t.at, t.count = text, now, 0
}

// reset notes that the failure has ended.
func (t *throttle) reset() {
	t.mu.Lock()
	t.last, t.count = "", 0
	t.mu.Unlock()
}
