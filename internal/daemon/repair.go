package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/storage"
)

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
