package engine

import (
	"context"
	"sync"
	"time"
)

// Bulk work yields to single submissions (decision 026).
//
// A batch submission (POST /v1/entries:batch, and trialogd's own batches)
// is prepared and appended in chunks, and each chunk first asks the bulk
// gate. While no single submission is being prepared or appended, a chunk
// of up to BulkIdleChunk entries goes at once. While single submissions are
// in progress, bulk work gets BulkChunk entries every BulkInterval, no more:
// the signatures, checks and commits of a sponsor's 1,000-entry batch then
// cannot crowd out a patient's consent check or a site's digest on a
// machine that has no spare core, and the batch still advances at
// BulkChunk/BulkInterval entries per second however busy the log is.
type bulkGate struct {
	chunk     int           // entries per chunk while singles are in progress
	idleChunk int           // entries per chunk while none is
	interval  time.Duration // least time between chunks while singles are in progress
	now       func() time.Time
	after     func(time.Duration) <-chan time.Time

	mu      sync.Mutex
	singles int           // single submissions being prepared or appended
	idle    chan struct{} // closed when singles falls to zero
	last    time.Time     // when the last chunk was let through while singles were in progress
}

func newBulkGate(chunk, idleChunk int, interval time.Duration, now func() time.Time) *bulkGate {
	return &bulkGate{chunk: chunk, idleChunk: idleChunk, interval: interval, now: now, after: time.After, idle: make(chan struct{})}
}

// enter records a single submission in progress; leave, its end.
func (g *bulkGate) enter() {
	g.mu.Lock()
	if g.singles == 0 {
		g.idle = make(chan struct{})
	}
	g.singles++
	g.mu.Unlock()
}

func (g *bulkGate) leave() {
	g.mu.Lock()
	g.singles--
	if g.singles == 0 {
		close(g.idle)
	}
	g.mu.Unlock()
}

// decide says how many entries the next chunk may hold now, or, when it
// must wait, for how long at most (until then a single submission ending
// all of them lets it through sooner) and the channel closed when they end.
func (g *bulkGate) decide(now time.Time) (chunk int, wait time.Duration, idle <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.singles == 0 {
		return g.idleChunk, 0, nil
	}
	if next := g.last.Add(g.interval); now.Before(next) {
		return 0, next.Sub(now), g.idle
	}
	g.last = now
	return g.chunk, 0, nil
}

// admit waits until the next chunk may go and returns how many entries it
// may hold.
func (g *bulkGate) admit(ctx context.Context) (int, error) {
	for {
		n, wait, idle := g.decide(g.now())
		if n > 0 {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-idle:
		case <-g.after(wait):
		}
	}
}
