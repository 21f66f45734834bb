package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/trialog/trialog/election"

	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/storage"
)

// ErrLogInUse refuses a repair while a trialogd holds the log's leader lock.
var ErrLogInUse = errors.New("a trialogd is running on this database (it holds the leader lock): stop every trialogd of this log, then repair")

// RepairTree moves the log of cfg's database to a new Trillian tree fed
// from trialog's own entries (engine.RepairTree). Every trialogd of
// the log must be stopped.
func RepairTree(ctx context.Context, cfg Config, logger *slog.Logger) (*engine.RepairResult, error) {
	db, err := storage.Open(ctx, cfg.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("opening MySQL: %w", err)
	}
	defer db.Close()
	embedded := cfg.Trillian == ""
	if err := storage.Migrate(ctx, db, embedded); err != nil {
		return nil, fmt.Errorf("migrating the database: %w", err)
	}
	// Hold the leader lock for the whole repair: a trialogd still running
	// on this database (leader or standby about to take over) would feed
	// and sign against the tree being replaced.
	taken := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-taken:
			cancel()
		case <-cctx.Done():
		}
	}()
	term, err := election.New(db, logger, prometheus.NewRegistry()).Campaign(cctx, func() { close(taken) })
	cancel()
	if err != nil {
		select {
		case <-taken:
			return nil, ErrLogInUse
		default:
			return nil, fmt.Errorf("taking the leader lock: %w", err)
		}
	}
	defer term.Resign()
	var conn *grpc.ClientConn
	var emb *engine.Embedded
	if embedded {
		emb, err = engine.StartEmbedded(ctx, db, engine.EmbeddedOptions{
			BatchSize: cfg.SequencerBatch, Interval: cfg.SequencerInterval, Logger: logger,
		})
		if err != nil {
			return nil, err
		}
		defer emb.Close()
		conn = emb.Conn
	} else {
		if conn, err = engine.Dial(cfg.Trillian); err != nil {
			return nil, fmt.Errorf("connecting to Trillian at %s: %w", cfg.Trillian, err)
		}
		defer conn.Close()
	}
	return engine.RepairTree(ctx, storage.New(db), conn, emb, logger)
}
