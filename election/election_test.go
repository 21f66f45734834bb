package election

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/trialog/trialog/internal/testdb"
)

// TestOneLeaderAtATime: a second elector waits while the first holds the
// lock, and wins once the first resigns.
func TestOneLeaderAtATime(t *testing.T) {
	dsn := testdb.DSN(t)
	a := New(testdb.Open(t, dsn), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	b := New(testdb.Open(t, dsn), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx := context.Background()
	ta, err := a.Campaign(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ta.Valid() || value(a.leader) != 1 {
		t.Fatal("the first elector is not leader")
	}
	waiting := make(chan struct{})
	won := make(chan *Term, 1)
	go func() {
		tb, err := b.Campaign(ctx, func() { close(waiting) })
		if err != nil {
			t.Error(err)
		}
		won <- tb
	}()
	<-waiting // b found the lock taken
	select {
	case <-won:
		t.Fatal("two leaders at once")
	case <-time.After(2 * Poll):
	}
	ta.Resign()
	if ta.Valid() {
		t.Fatal("a resigned term is still valid")
	}
	tb := <-won
	if !tb.Valid() || value(b.changes) != 1 || value(a.changes) != 2 {
		t.Fatalf("after the handover: b valid %v, changes a %v b %v", tb.Valid(), value(a.changes), value(b.changes))
	}
	tb.Resign()
}

// TestLockLostEndsTerm: when the lock's connection is killed on the
// server (as MySQL does to a holder silent beyond its wait_timeout), the
// term ends and Valid turns false, and another elector can win.
func TestLockLostEndsTerm(t *testing.T) {
	dsn := testdb.DSN(t)
	db := testdb.Open(t, dsn)
	e := New(db, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	term, err := e.Campaign(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := term.lock.Conn().QueryRowContext(context.Background(), `SELECT CONNECTION_ID()`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	admin := testdb.Open(t, dsn)
	if _, err := admin.Exec(`KILL CONNECTION ?`, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-term.Lost():
	case <-time.After(Lease + time.Second):
		t.Fatal("the term did not end after its connection was killed")
	}
	if term.Valid() || value(e.leader) != 0 {
		t.Fatal("a lost term is still valid")
	}
	other := New(testdb.Open(t, dsn), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t2, err := other.Campaign(ctx, nil)
	if err != nil {
		t.Fatalf("no one could take the lock after it was lost: %v", err)
	}
	t2.Resign()
}

func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	(<-ch).Write(&m)
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}
