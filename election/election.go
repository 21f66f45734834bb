// Package election chooses one trialogd among several on one database to
// do what only one may do: run the embedded sequencer and sign checkpoints.
// The choice is a MySQL named lock held on a dedicated connection (see
// storage.LeaderLock); the holder checks it every Interval and considers
// itself leader only until Lease after its last successful check, which is
// shorter than the time after which MySQL drops a silent holder's
// connection and frees the lock for another.
package election

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trialog/trialog/storage"
)

// Timing of the election. MySQL frees the lock of a holder silent for
// IdleTimeout; the holder stops acting as leader Lease after its last good
// check, well before. A standby tries for the lock every Poll.
const (
	Interval    = 500 * time.Millisecond
	Lease       = 3 * time.Second
	IdleTimeout = 6 * time.Second
	Poll        = 500 * time.Millisecond
)

// Elector campaigns for the leadership of one database.
type Elector struct {
	db      *sql.DB
	log     *slog.Logger
	leader  prometheus.Gauge
	changes prometheus.Counter
}

// New returns an Elector for db whose metrics are registered on reg.
func New(db *sql.DB, logger *slog.Logger, reg prometheus.Registerer) *Elector {
	e := &Elector{
		db:  db,
		log: logger,
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trialog_leader", Help: "1 while this process is the elected leader (sequences and signs checkpoints), else 0.",
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trialog_leadership_changes_total", Help: "Times this process became leader or stopped being leader.",
		}),
	}
	reg.MustRegister(e.leader, e.changes)
	return e
}

// Term is one period of leadership.
type Term struct {
	e      *Elector
	lock   *storage.LeaderLock
	mu     sync.Mutex
	lastOK time.Time // monotonic
	ended  bool      // set once by end or Resign; lastOK is never renewed after
	lost   chan struct{}
	once   sync.Once
	done   chan struct{}
}

// Campaign blocks until this process holds the leadership or ctx ends.
// waiting is called once if another process holds it at first.
func (e *Elector) Campaign(ctx context.Context, waiting func()) (*Term, error) {
	name, err := storage.LeaderLockName(ctx, e.db)
	for err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e.log.Warn("leader election: reading the database name failed; retrying", "err", err)
		time.Sleep(Poll)
		name, err = storage.LeaderLockName(ctx, e.db)
	}
	warned := false
	for {
		lock, err := storage.TryLeaderLock(ctx, e.db, name, 0, IdleTimeout)
		if err == nil && lock != nil {
			t := &Term{e: e, lock: lock, lastOK: time.Now(), lost: make(chan struct{}), done: make(chan struct{})}
			e.leader.Set(1)
			e.changes.Inc()
			e.log.Info("leader election: this process is the leader")
			go t.keep()
			return t, nil
		}
		if err != nil && ctx.Err() == nil && !warned {
			e.log.Warn("leader election: trying for the lock failed; retrying", "err", err)
			warned = true
		}
		if err == nil && waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(Poll):
		}
	}
}

// keep checks the lock every Interval until it is lost or resigned.
func (t *Term) keep() {
	tick := time.NewTicker(Interval / 2)
	defer tick.Stop()
	var lastCheck time.Time
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		if !t.Valid() {
			t.end("no successful check of the lock within the lease", nil)
			return
		}
		if time.Since(lastCheck) < Interval {
			continue
		}
		lastCheck = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), Interval)
		err := t.lock.Check(ctx)
		cancel()
		if err == nil {
			t.mu.Lock()
			// A check that was under way when the term ended must not
			// revive it.
			if !t.ended {
				t.lastOK = lastCheck
			}
			t.mu.Unlock()
			continue
		}
		// Any failure ends the term: a query that fails or times out on
		// the lock's connection has ended that connection, and with it
		// the lock (at once, or when MySQL notices).
		t.end("the lock was lost", err)
		return
	}
}

func (t *Term) end(reason string, err error) {
	t.once.Do(func() {
		t.mu.Lock()
		t.lastOK = time.Time{}
		t.ended = true
		t.mu.Unlock()
		t.e.leader.Set(0)
		t.e.changes.Inc()
		t.e.log.Error("leader election: this process is no longer the leader", "reason", reason, "err", err)
		close(t.lost)
		go t.lock.Release()
	})
}

// Valid reports whether this process may still act as leader: the term has
// not ended and the lock was confirmed less than Lease ago. Check it right
// before each act that only the leader may do.
func (t *Term) Valid() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.ended && !t.lastOK.IsZero() && time.Since(t.lastOK) < Lease
}

// Lost is closed when the term ends.
func (t *Term) Lost() <-chan struct{} { return t.lost }

// Resign ends the term and releases the lock.
func (t *Term) Resign() {
	t.once.Do(func() {
		t.mu.Lock()
		t.lastOK = time.Time{}
		t.ended = true
		t.mu.Unlock()
		t.e.leader.Set(0)
		t.e.changes.Inc()
		close(t.lost)
		t.lock.Release()
	})
	select {
	case <-t.done:
	default:
		close(t.done)
	}
}
