// Package daemon wires trialogd together: MySQL, Trillian (in-process or
// external), the log engine, principals, the trial and consent services and
// the HTTP server. cmd/trialogd parses flags
// into a Config and calls Run; tests call Serve on their own listener.
package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/consentsvc"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/buildinfo"
	"github.com/trialog/trialog/personality"
	"github.com/trialog/trialog/principals"
	"github.com/trialog/trialog/records"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialsvc"
	"github.com/trialog/trialog/web"
)

// Config is trialogd's configuration. Every field has a flag in
// cmd/trialogd; see its --help for meanings and defaults.
type Config struct {
	Listen             string
	MySQLDSN           string
	DataDir            string
	Origin             string
	Trillian           string // HOST:PORT of an external Trillian; empty: in-process
	SigningKeyFile     string
	ServiceKeyFile     string
	CheckpointInterval time.Duration
	SequencerInterval  time.Duration
	SequencerBatch     int
	MaxBatch           int
	QueueSize          int
	NodeCacheLeaves    int // see engine.Config; zero: sized from MemoryLimit; negative: off
	// MemoryLimit is the soft memory limit the node cache is sized from when
	// NodeCacheLeaves is zero (0: none known).
	MemoryLimit     int64
	RateLimit       float64
	RateBurst       int
	ShutdownTimeout time.Duration
}

// Run starts trialogd on cfg.Listen and serves until ctx ends, then shuts
// down within cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	return Serve(ctx, cfg, logger, ln)
}

// Serve is Run on an existing listener.
func Serve(ctx context.Context, cfg Config, logger *slog.Logger, ln net.Listener) error {
	db, err := openWithRetry(ctx, cfg.MySQLDSN, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	embedded := cfg.Trillian == ""
	if err := storage.Migrate(ctx, db, embedded); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}

	var conn *grpc.ClientConn
	var emb *engine.Embedded
	if embedded {
		emb, err = engine.StartEmbedded(ctx, db, engine.EmbeddedOptions{
			BatchSize: cfg.SequencerBatch, Interval: cfg.SequencerInterval, Logger: logger,
		})
		if err != nil {
			return err
		}
		defer emb.Close()
		conn = emb.Conn
	} else {
		if conn, err = engine.Dial(cfg.Trillian); err != nil {
			return fmt.Errorf("connecting to Trillian at %s: %w", cfg.Trillian, err)
		}
		defer conn.Close()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	statements := statement.NewRegistry()
	records.Register(statements)
	trials.Register(statements)
	principals.Register(statements)
	store := storage.New(db)
	consent.Register(statements, consentsvc.Subjects(store))

	nodeLeaves := cfg.NodeCacheLeaves
	if nodeLeaves == 0 {
		nodeLeaves = engine.NodeCacheLeavesFor(cfg.MemoryLimit)
	}
	keys := &keyResolver{}
	lg, err := engine.New(ctx, engine.Config{
		Origin:             cfg.Origin,
		DataDir:            cfg.DataDir,
		SigningKeyFile:     cfg.SigningKeyFile,
		ServiceKeyFile:     cfg.ServiceKeyFile,
		Store:              store,
		Trillian:           conn,
		Embedded:           emb,
		Registry:           statements,
		Keys:               keys,
		Logger:             logger,
		Metrics:            reg,
		CheckpointInterval: cfg.CheckpointInterval,
		MaxBatch:           cfg.MaxBatch,
		QueueSize:          cfg.QueueSize,
		NodeCacheLeaves:    nodeLeaves,
	})
	if err != nil {
		return err
	}
	// Only once the keys are known to be this log's: a refused start
	// creates no admin token.
	dir, err := principals.New(ctx, principals.Config{
		Store: store, Log: lg, AdminTokenFile: filepath.Join(cfg.DataDir, "admin.token"), Logger: logger,
	})
	if err != nil {
		return err
	}
	keys.Directory = dir
	trialSvc := trialsvc.New(trialsvc.Config{Log: lg, Principals: dir})
	consentSvc := consentsvc.New(consentsvc.Config{Store: store, Log: lg, Trials: trialSvc, Logger: logger, Wait: personality.MaxWait})
	api := personality.New(personality.Config{
		Log: lg, Principals: dir, Trials: trialSvc, Consent: consentSvc,
		Logger: logger, Metrics: reg, Gatherer: reg, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
	})
	srv := &http.Server{
		// The pages (/patient, /trials/{id}, /log) beside the API.
		Handler:           web.Mount(api.Handler(), web.Options{Logger: logger}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      personality.MaxWait + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	// The pipeline outlives the HTTP server during shutdown so that
	// in-flight submissions can finish.
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	g, gctx := errgroup.WithContext(ctx)
	pipeDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { lg.Run(pipeCtx) })
		wg.Go(func() { consentSvc.Run(pipeCtx) })
		wg.Wait()
		close(pipeDone)
	}()
	g.Go(func() error {
		logger.Info("trialogd serving", "addr", ln.Addr().String(), "origin", lg.Origin(), "tree_id", lg.TreeID(),
			"public_key", lg.PublicKey(), "admin_token_file", dir.AdminTokenPath(), "trillian", trillianMode(cfg))
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		stopPipe()
		<-pipeDone
		return err
	})
	err = g.Wait()
	logger.Info("trialogd stopped")
	return err
}

// keyResolver hands the engine the directory's keys: the engine is made
// first (the directory logs through it), the directory after.
type keyResolver struct{ *principals.Directory }

func trillianMode(cfg Config) string {
	if cfg.Trillian == "" {
		return "embedded"
	}
	return cfg.Trillian
}

// openWithRetry waits up to a minute for MySQL at start-up, so that trialogd
// and its database can be started together.
func openWithRetry(ctx context.Context, dsn string, logger *slog.Logger) (*sql.DB, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		db, err := storage.Open(ctx, dsn)
		if err == nil {
			return db, nil
		}
		if time.Now().After(deadline) || !storage.IsUnavailable(err) {
			return nil, fmt.Errorf("opening MySQL: %w", err)
		}
		logger.Warn("MySQL is not reachable yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
